//! View tests: fixture models rendered into a `TestBackend`, compared line
//! by line.

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::{Theme, bar, draw};
use crate::fixtures::{self, snapshot};
use crate::input::KEYS;
use crate::model::{Action, Event, Model, View};

const WIDTH: u16 = 120;
const HEIGHT: u16 = 30;

fn model(snaps: impl IntoIterator<Item = ringline_schema::stats::Snapshot>) -> Model {
    let mut m = Model::new("pid 4242", Duration::from_secs(1), Duration::from_secs(1));
    m.apply(Event::Attached(Box::new(fixtures::hello())));
    for s in snaps {
        m.apply(Event::Snapshot(Box::new(s)));
    }
    m
}

fn render(m: &Model, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, m, Theme::plain())).unwrap();
    let buf = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            let line: String = (0..width).map(|x| buf[(x, y)].symbol()).collect();
            line.trim_end().to_owned()
        })
        .collect()
}

fn screen(m: &Model) -> Vec<String> {
    render(m, WIDTH, HEIGHT)
}

/// Prints a screen with line numbers (for a failing assertion's context).
fn dump(lines: &[String]) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i:2}|{l}\n"))
        .collect()
}

#[test]
fn overview_shows_one_row_per_worker() {
    let m = model([snapshot(1), snapshot(2)]);
    let s = screen(&m);
    assert_eq!(
        s[0],
        "ringline-top  api (pid 4242)  io_uring  2 workers  v0.2.0  up 2.00s"
    );
    assert_eq!(
        s[1],
        "✗ 1 op in flight ≥ 1.00s; oldest: fs_read on worker 0 (fd 23) for 37.0s"
    );
    assert_eq!(
        s[2],
        " 1 Overview   2 Ops   3 Slabs   4 Stuck (1)   5 Worker   6 Tasks   7 Conns   8 Kernel"
    );
    assert_eq!(
        &s[3..6],
        [
            " WORKER LOOPS/s BUSY HEARTBEAT TASKS IN-FLIGHT CONNS GRAVEYARD P99     FULLEST SLAB",
            ">0      1.0k    25%  parked    12    1         4     0         81.9µs  █▏····  19% tasks",
            " 1      1.0k    25%  parked    12    0         4     0         81.9µs  █▏····  19% tasks",
        ],
        "{}",
        dump(&s)
    );
    assert_eq!(
        s[29],
        "? help  q quit  sort: worker  threshold: 1.00s  refresh: 1.00s"
    );
}

#[test]
fn a_stalled_worker_shows_its_heartbeat_and_an_alert() {
    let s1 = snapshot(1);
    let mut s2 = snapshot(2);
    let e = &mut fixtures::w(&mut s2, 1).executor;
    e.parked = false;
    e.heartbeat_age_ns = 4 * fixtures::SEC;
    e.current_task = Some(17);
    e.current_poll_age_ns = Some(4 * fixtures::SEC);
    let s = screen(&model([s1, s2]));
    assert_eq!(
        s[1],
        "✗ worker 1 stalled: no loop iteration for 4.00s (task 17 polled for 4.00s)",
        "{}",
        dump(&s)
    );
    let row = s
        .iter()
        .find(|l| l.starts_with(" 1      "))
        .expect("worker 1's row");
    assert!(row.contains(" 4.00s "), "{row}");
}

#[test]
fn stuck_view_lists_the_read_with_target_and_age_oldest_first() {
    let mut m = model([snapshot(1)]);
    m.update(Action::Show(View::Stuck));
    let s = screen(&m);
    assert_eq!(
        &s[3..7],
        [
            "1 op in flight for ≥ 1.00s, oldest first (+/- changes the threshold)",
            "",
            " WORKER OP         TARGET               AGE     TASK            FLAGS      AWAIT            VERDICT",
            ">0      fs_read    fd 23                37.0s   5                          -                -",
        ],
        "{}",
        dump(&s)
    );
    for _ in 0..3 {
        m.update(Action::ThresholdDown);
    }
    let s = screen(&m);
    assert_eq!(
        s[2],
        " 1 Overview   2 Ops   3 Slabs   4 Stuck (2)   5 Worker   6 Tasks   7 Conns   8 Kernel"
    );
    assert_eq!(
        &s[6..8],
        [
            ">0      fs_read    fd 23                37.0s   5                          -                -",
            " 1      send       conn #7 127.0.0.1:9  200ms   9               graveyard, -                -",
        ],
        "{}",
        dump(&s)
    );
    assert!(s[29].contains("  threshold: 100ms  "), "{}", s[29]);
    for _ in 0..8 {
        m.update(Action::ThresholdUp);
    }
    let s = screen(&m);
    assert_eq!(
        s[3],
        "no op in flight for ≥ 60.0s (+/- changes the threshold)"
    );
}

#[test]
fn ops_view_has_quantiles_and_a_distribution_of_the_selected_op() {
    let mut m = model([snapshot(1), snapshot(2)]);
    m.update(Action::Show(View::Ops));
    m.update(Action::Down);
    m.update(Action::Down);
    let s = screen(&m);
    assert_eq!(
        s[6],
        ">fs_read        20      1         81.9µs  81.9µs  81.9µs  81.9µs  0     0",
        "{}",
        dump(&s)
    );
    let chart = s
        .iter()
        .position(|l| l.starts_with("latency of fs_read"))
        .expect("chart");
    assert_eq!(
        s[chart],
        "latency of fs_read over the last 1.00s: 20 samples"
    );
    assert!(
        s[chart + 1].starts_with(" 65.5µs – 131µs   ████"),
        "{}",
        dump(&s)
    );
    assert!(s[chart + 1].ends_with(" 20"));
}

#[test]
fn slabs_view_lists_configured_pools_fullest_first() {
    let mut s2 = snapshot(2);
    fixtures::w(&mut s2, 1).slabs[1].used = 60;
    let mut m = model([s2]);
    m.update(Action::Show(View::Slabs));
    let s = screen(&m);
    assert_eq!(
        s[5],
        ">1      tasks            60      64       12      0         ███████████▎ 94%",
        "{}",
        dump(&s)
    );
    assert!(
        s.iter()
            .any(|l| l.starts_with("! slab tasks of worker 1 at 94% (60/64)"))
    );
    assert!(
        !s.iter().any(|l| l.contains("udp_send")),
        "capacity 0: not configured"
    );
}

#[test]
fn worker_view_details_the_focused_worker() {
    let mut m = model([snapshot(1), snapshot(2)]);
    m.update(Action::Show(View::Worker));
    let s = screen(&m);
    assert_eq!(
        s[3],
        "worker 0  runtime 1  io_uring  parked (waiting for events)"
    );
    assert!(
        s[4].starts_with("loop      1.0k/s  busy 25%  polls 2.0k/s  tasks 12"),
        "{}",
        s[4]
    );
    assert!(
        s.iter().any(|l| l.starts_with(" 0      fs_read    fd 23")),
        "{}",
        dump(&s)
    );
    assert!(
        s.iter()
            .any(|l| l
                .starts_with("pressure  paused 1  unconsumed 3.0MiB  pauses 4  linger resets 0")),
        "{}",
        dump(&s)
    );
    m.update(Action::Down);
    let s = screen(&m);
    assert_eq!(
        s[3],
        "worker 1  runtime 1  io_uring  parked (waiting for events)"
    );
    assert!(
        !s.iter().any(|l| l.starts_with(" 0      fs_read")),
        "{}",
        dump(&s)
    );
}

#[test]
fn help_lists_every_key_of_the_table() {
    let mut m = model([snapshot(1)]);
    m.update(Action::ToggleHelp);
    let s = screen(&m);
    for b in KEYS {
        assert!(
            s.iter().any(|l| l.starts_with(&format!("  {}  ", b.label))
                && l.ends_with(&format!("  {}", b.help))),
            "{} missing:\n{}",
            b.label,
            dump(&s)
        );
    }
}

#[test]
fn disconnected_is_a_rendered_state_with_the_last_data() {
    let mut m = model([snapshot(1)]);
    m.apply(Event::Disconnected(
        "the inspect server closed the connection".into(),
    ));
    let s = screen(&m);
    assert_eq!(
        s[1],
        "✗ disconnected — re-attaching to pid 4242 (the inspect server closed the connection)"
    );
    assert!(
        s.iter().any(|l| l.starts_with(">0 ")),
        "last rows stay: {}",
        dump(&s)
    );
}

#[test]
fn before_the_first_snapshot() {
    let m = Model::new("pid 4242", Duration::from_secs(1), Duration::from_secs(1));
    let s = screen(&m);
    assert_eq!(s[0], "ringline-top  attaching to pid 4242…");
    assert_eq!(s[3], "waiting for the first snapshot…");
}

#[test]
fn footer_shows_filter_typing_pause_and_sort() {
    let mut m = model([snapshot(1), snapshot(2)]);
    m.update(Action::StartFilter);
    m.update(Action::FilterChar('1'));
    let s = screen(&m);
    assert_eq!(s[29], "filter: 1▏  (Enter keeps, Esc clears)");
    assert!(s[4].starts_with(">1 "), "only worker 1 left: {}", dump(&s));
    assert!(!s.iter().any(|l| l.starts_with(" 0 ")));
    m.update(Action::FilterDone);
    m.update(Action::TogglePause);
    m.update(Action::CycleSort);
    let s = screen(&m);
    assert!(s[0].ends_with("up 2.00s  PAUSED"), "{}", s[0]);
    assert_eq!(
        s[29],
        "? help  q quit  sort: busy  threshold: 1.00s  refresh: 1.00s  filter: 1"
    );
}

#[test]
fn every_view_survives_tiny_and_odd_sizes() {
    let mut m = model([snapshot(1), snapshot(2)]);
    for v in View::ALL {
        m.update(Action::Show(v));
        for (w, h) in [(1, 1), (20, 5), (40, 12), (80, 24), (250, 70)] {
            let s = render(&m, w, h);
            assert_eq!(s.len(), usize::from(h));
        }
    }
    m.update(Action::Show(View::Overview));
    let s = render(&m, 80, 24);
    assert!(s[4].starts_with(">0      1.0k"), "{}", dump(&s));
}

#[test]
fn no_color_draws_without_colours() {
    let m = model([snapshot(1), snapshot(2)]);
    let colours = |theme: Theme| -> usize {
        let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
        terminal.draw(|f| draw(f, &m, theme)).unwrap();
        let buf = terminal.backend().buffer();
        buf.content()
            .iter()
            .filter(|c| {
                c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset
            })
            .count()
    };
    assert_eq!(colours(Theme::plain()), 0);
    assert!(colours(Theme::colored()) > 0);
}

#[test]
fn bars_fill_in_eighths() {
    assert_eq!(bar(0.0, 4), "····");
    assert_eq!(bar(0.5, 4), "██··");
    assert_eq!(bar(1.0 / 32.0, 4), "▏···");
    assert_eq!(bar(2.0, 4), "████");
}

fn with_answers(mut m: Model) -> Model {
    use crate::model::tasks::Fetched;
    m.apply(Event::Tasks(Fetched::Ready(fixtures::tasks())));
    m.apply(Event::Connections(Fetched::Ready(fixtures::connections())));
    m.apply(Event::Ops(Fetched::Ready(fixtures::explained_ops())));
    m
}

#[test]
fn stuck_view_explains_ops_and_lists_stuck_tasks_with_a_detail() {
    let mut m = with_answers(model([snapshot(1)]));
    m.update(Action::Show(View::Stuck));
    let s = screen(&m);
    assert_eq!(
        &s[5..7],
        [
            " WORKER OP         TARGET               AGE     TASK            FLAGS      AWAIT            VERDICT",
            ">0      fs_read    fd 23                37.0s   5                          demo.rs:92       in the kernel for 37.0s with",
        ],
        "{}",
        dump(&s)
    );
    assert_eq!(s[8], "3 tasks stuck for ≥ 1.00s, the most alarming first");
    assert!(
        s[10].starts_with(" 1      11              -            idle 5.00s  deadlock            demo.rs:51       demo.rs:211      waits on task 12"),
        "{}",
        dump(&s)
    );
    assert!(s[12].starts_with(" 0      5               stuck_read   idle 37.0s  in_kernel "));
    assert_eq!(
        &s[24..28],
        [
            "fs_read for 37.0s  task 5",
            "waited on at runtime/examples/demo.rs:92:20",
            "in_kernel: in the kernel for 37.0s with no completion yet; task 5 \"stuck_read\" waits on it",
            "Enter: task 5",
        ],
        "{}",
        dump(&s)
    );
    m.update(Action::Down);
    let s = screen(&m);
    assert!(s[10].starts_with(">1      11 "), "{}", dump(&s));
    assert_eq!(
        &s[25..28],
        [
            "spawned at runtime/examples/demo.rs:51:25",
            "waits at   runtime/examples/demo.rs:211:13  on channel 11 (senders 12)",
            "deadlock: waits on task 12, which waits on task 11: a cycle",
        ],
        "{}",
        dump(&s)
    );
}

#[test]
fn tasks_view_rows_and_the_selected_task_in_full() {
    let mut m = with_answers(model([snapshot(1)]));
    m.update(Action::Show(View::Tasks));
    let s = screen(&m);
    assert_eq!(s[3], "7 tasks, sorted by idle");
    assert!(
        s[4].starts_with(" WORKER TASK            NAME         KIND     STATE       POLLS  BUSY    WAKE/SELF VERDICT               AWAIT"),
        "{}",
        dump(&s)
    );
    assert!(
        s[5].starts_with(">0      5               stuck_read   spawned  idle 37.0s  50     95.0µs  10/2      in_kernel             demo.rs"),
        "{}",
        dump(&s)
    );
    assert!(s[7].starts_with(" 0      20              -            conn 3   idle 10.0s "));
    assert!(s[11].starts_with(" 0      22              -            on_start run 2.00ms "));
    assert_eq!(
        &s[24..29],
        [
            "task 5 \"stuck_read\"  spawned  worker 0  idle 37.0s  polls 50  busy 95.0µs  wakes 10 (self 2)",
            "spawned at runtime/examples/demo.rs:45:25",
            "waits at   runtime/examples/demo.rs:92:20  on op fs_read",
            "in_kernel: its fs_read has been in the kernel for 37.0s with no completion yet",
            "Enter: its fs_read op",
        ],
        "{}",
        dump(&s)
    );
    m.update(Action::Open);
    let s = screen(&m);
    assert!(s[29].ends_with("  Esc: back"), "{}", s[29]);
}

#[test]
fn connections_view_lists_peers_bytes_flags_and_tasks() {
    let mut m = with_answers(model([snapshot(1)]));
    m.update(Action::Show(View::Connections));
    let s = screen(&m);
    assert_eq!(
        &s[3..8],
        [
            "3 connections, sorted by age",
            " WORKER CONN  DIR AGE     IN      OUT     BUFFERED QUEUED  OPS FLAGS          TASK            STATE     PEER",
            ">0      3     in  60.0s   1.0MiB  2.0MiB  0B       0B      1                  20              idle      10.0.0.7:4242",
            " 0      4     in  20.0s   3.0MiB  0B      256KiB   0B      2   paused,closing -               -         10.0.0.8:5000",
            " 1      7     out 5.00s   10B     4.0MiB  0B       64KiB   1                  9               idle      127.0.0.1:9",
        ],
        "{}",
        dump(&s)
    );
}

#[test]
fn an_older_process_says_it_needs_a_newer_ringline() {
    use crate::model::tasks::Fetched;
    let mut m = model([snapshot(1)]);
    m.apply(Event::Tasks(Fetched::Unsupported));
    m.apply(Event::Connections(Fetched::Unsupported));
    m.apply(Event::Ops(Fetched::Unsupported));
    for (view, line) in [(View::Tasks, 3), (View::Connections, 3), (View::Stuck, 8)] {
        m.update(Action::Show(view));
        let s = screen(&m);
        assert!(s[line].contains("needs a newer ringline"), "{}", dump(&s));
    }
    let s = screen(&m);
    assert!(
        s[6].starts_with(">0      fs_read    fd 23 "),
        "the stuck op stays: {}",
        dump(&s)
    );
    m.apply(Event::Tasks(Fetched::Pending));
    m.update(Action::Show(View::Tasks));
    assert_eq!(screen(&m)[3], "asking the process for its tasks…");
}

#[test]
fn a_replay_names_its_trigger_shows_the_timeline_and_the_diff_panel() {
    use crate::model::timeline::{DiffPanel, Timeline};
    use ringline_schema::record::TriggerKind;
    let mut m = model([snapshot(1), snapshot(2)]);
    let timeline = Timeline {
        file: "d.jsonl".into(),
        trigger: TriggerKind::Stall,
        message: "worker 0 stalled for 2.00s".into(),
        index: 4,
        frames: 10,
        res_ms: 100,
        at_ns: -500_000_000,
        first_ns: -1_000_000_000,
        last_ns: 0,
        base_ns: None,
    };
    m.apply(Event::Seeked(Box::new(timeline)));
    m.apply(Event::Snapshot(Box::new(snapshot(2))));
    let lines = render(&m, 120, 30);
    assert!(
        lines[0].contains("REPLAY stall: worker 0 stalled for 2.00s"),
        "{}",
        dump(&lines)
    );
    let bar = &lines[28];
    assert!(
        bar.starts_with("replay  -500ms frame 5/10 (100 ms)"),
        "{}",
        dump(&lines)
    );
    assert!(bar.trim_end().ends_with("T|") && bar.contains('^'), "{bar}");
    assert!(lines[29].contains("←/→ frame"), "{}", dump(&lines));
    assert!(!lines[29].contains("refresh"), "{}", dump(&lines));

    m.apply(Event::Diff(Some(Box::new(DiffPanel {
        title: "diff: -1.00s → -500ms (Esc closes)".into(),
        lines: vec!["from a to b (500ms):".into(), "  grew".into()],
    }))));
    let lines = render(&m, 120, 30);
    let at = lines
        .iter()
        .position(|l| l.contains("diff: -1.00s → -500ms (Esc closes)"))
        .unwrap_or_else(|| panic!("{}", dump(&lines)));
    assert_eq!(lines[at + 1].trim_end(), "from a to b (500ms):");
    assert!(at + 3 < 28, "above the timeline");
}
