//! The TUI's loop: takes events from the feed thread and the keyboard,
//! updates the [`Model`], performs the effects (quit) and redraws on
//! change, on resize, and at least once a second (cheap, and it repairs a
//! screen something else wrote on). Exits on `q`, Ctrl-C, a termination
//! signal or a hung-up terminal.
//!
//! The model's events come from a [`Source`]: the live feed threads, or a
//! [`Replay`] of a recording, which the replay's effects (seek, diff base)
//! move and which is fed again after every key.

use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event as TermEvent};

use crate::model::{Effect, Event, Model};
use crate::replay::Replay;
use crate::target::Target;
use crate::terminal::{TerminalGuard, signals};
use crate::ui::{self, Theme};
use crate::{feed, input};

/// Longest wait for a key before looking at the feed again.
const TICK: Duration = Duration::from_millis(100);
/// Redraw at least this often.
const REDRAW: Duration = Duration::from_secs(1);

/// Where the model's events come from.
enum Source {
    /// The feed threads (`feed.rs`).
    Live {
        events: mpsc::Receiver<Event>,
        /// None when the socket was refused (the kernel view stands in).
        queries: Option<feed::Queries>,
        /// The kernel view's thread, when the target is a local pid.
        kernel: Option<crate::kernel::feed::KernelFeed>,
    },
    /// A recording.
    Replay(Box<Replay>),
}

/// Runs the TUI against `target` until the user quits.
pub fn run(target: &Target, interval: Duration, stuck_after: Duration) -> Result<(), String> {
    let model = Model::new(target.label.clone(), interval, stuck_after);
    let (tx, rx) = mpsc::channel::<Event>();
    // A refused socket is never connected to: the kernel view stands in.
    let queries = match &target.refused {
        Some(reason) => {
            let _ = tx.send(Event::Disconnected(reason.clone()));
            None
        }
        None => Some(
            feed::spawn(target.socket.clone(), interval, tx.clone())
                .map_err(|e| format!("cannot start the feed thread: {e}"))?,
        ),
    };
    let kernel = crate::kernel::feed::spawn_for(target.pid, interval, tx)?;
    run_with(
        model,
        Source::Live {
            events: rx,
            queries,
            kernel,
        },
    )
}

/// Runs the TUI over a recording until the user quits.
pub fn replay(replay: Replay, stuck_after: Duration) -> Result<(), String> {
    let timeline = replay.timeline();
    // The refresh the footer shows: the finest series'.
    let step = replay
        .recording()
        .frames
        .iter()
        .map(|f| f.res_ms)
        .min()
        .unwrap_or(1000);
    let mut model = Model::new(
        timeline.file.clone(),
        Duration::from_millis(u64::from(step)),
        stuck_after,
    );
    for event in replay.events(true, stuck_after) {
        model.apply(event);
    }
    run_with(model, Source::Replay(Box::new(replay)))
}

fn run_with(mut model: Model, mut source: Source) -> Result<(), String> {
    let theme = Theme::from_env();
    let mut guard = TerminalGuard::enter().map_err(|e| e.to_string())?;
    crate::terminal::spawn_watchdog();
    let mut dirty = true;
    let mut drawn_at = Instant::now();
    loop {
        if signals::requested() {
            return Ok(());
        }
        if let Source::Live {
            events,
            queries,
            kernel,
        } = &source
        {
            loop {
                match events.try_recv() {
                    Ok(ev) => {
                        model.apply(ev);
                        dirty = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        return Err("the feed thread stopped".into());
                    }
                }
            }
            if let Some(q) = queries {
                q.want(model.needs());
            }
            if let Some(k) = kernel {
                k.want(model.wants_kernel());
            }
        }
        if dirty || drawn_at.elapsed() >= REDRAW {
            guard
                .terminal
                .draw(|frame| ui::draw(frame, &model, theme))
                .map_err(|e| format!("cannot draw: {e}"))?;
            dirty = false;
            drawn_at = Instant::now();
        }
        // EINTR from a signal surfaces as an error here: treat it as a tick.
        match event::poll(TICK) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read the terminal: {e}")),
        }
        match event::read() {
            Ok(TermEvent::Key(key)) => {
                if let Some(action) = input::action(&model, key) {
                    let effect = model.update(action);
                    if effect == Effect::Quit {
                        return Ok(());
                    }
                    if let Source::Replay(replay) = &mut source {
                        match effect {
                            Effect::Seek(seek) => replay.seek(seek),
                            Effect::DiffBase(on) => replay.mark_base(on),
                            Effect::Continue | Effect::Quit => {}
                        }
                        // Fed again after any key: a threshold change
                        // reaches the diff too.
                        for event in replay.events(false, model.thresholds.stuck_after) {
                            model.apply(event);
                        }
                    }
                    dirty = true;
                }
            }
            Ok(TermEvent::Resize(..)) => dirty = true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the terminal: {e}")),
        }
    }
}
