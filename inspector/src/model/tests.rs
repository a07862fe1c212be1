//! Model tests on fixture snapshots: rates, sorting, filters, every alert
//! rule firing and not firing, the stuck list, and the view state machine.
//! No ratatui: the model must stand alone.

use std::time::Duration;

use super::alerts::{self, Rule, Thresholds};
use super::rows::{self, OpScope, Window, WorkerId};
use super::state::HISTORY;
use super::table::SortBy;
use super::tasks;
use super::*;
use crate::fixtures::{self, SEC, snapshot, w};
use ringline_schema::stats::Snapshot;

fn model_with(snaps: impl IntoIterator<Item = Snapshot>) -> Model {
    let mut m = Model::new("pid 4242", Duration::from_secs(1), Duration::from_secs(1));
    m.apply(Event::Attached(Box::new(fixtures::hello())));
    for s in snaps {
        m.apply(Event::Snapshot(Box::new(s)));
    }
    m
}

fn fired(history: &[&Snapshot], t: &Thresholds) -> Vec<Rule> {
    alerts::evaluate(history, t)
        .iter()
        .map(|a| a.rule)
        .collect()
}

const W0: WorkerId = WorkerId {
    runtime: 1,
    worker: 0,
};

#[test]
fn rates_come_from_the_two_latest_snapshots() {
    let (s1, s2) = (snapshot(1), snapshot(2));
    let win = Window {
        latest: &s2,
        prev: Some(&s1),
        first: Some(&s1),
    };
    let workers = rows::worker_rows(win);
    assert_eq!(workers.len(), 2);
    assert_eq!(workers[0].loop_rate, Some(1000.0));
    assert_eq!(workers[0].busy, Some(0.25));
    assert_eq!(
        workers[0].in_flight, 1,
        "the stuck fs_read; recv is multishot"
    );
    // 500 sends of 20 µs and 10 reads of 80 µs in the window: the p99 rank
    // (505 of 510) lands in the reads' bucket [73.7 µs, 81.9 µs).
    assert_eq!(workers[0].p99_ns, Some(81_920));
    assert_eq!(workers[0].fullest_slab, Some(("tasks".into(), 12.0 / 64.0)));

    let ops = rows::op_rows(win, OpScope::Runtimes);
    let send = ops.iter().find(|o| o.op == "send").unwrap();
    assert_eq!(send.rate, Some(1000.0), "500/s on each of two workers");
    assert_eq!(send.p50_ns, Some(20_480));
    assert_eq!(send.latency.count, 1000, "windowed, not lifetime (2000)");
    let recv = ops.iter().find(|o| o.op == "recv").unwrap();
    assert_eq!(recv.rate, Some(600.0), "multishot: completions per second");
    assert_eq!(recv.p99_ns, None, "multishot ops have no latency");
    let fs = rows::op_rows(win, OpScope::Worker(W0));
    let read = fs.iter().find(|o| o.op == "fs_read").unwrap();
    assert_eq!((read.rate, read.in_flight), (Some(10.0), 1));
}

#[test]
fn a_single_snapshot_has_no_rates_and_lifetime_figures() {
    let s = snapshot(4);
    let win = Window::single(&s);
    let row = &rows::worker_rows(win)[0];
    assert_eq!(row.loop_rate, None);
    assert_eq!(row.busy, Some(0.25), "busy share since start");
    let ops = rows::op_rows(win, OpScope::Runtimes);
    let send = ops.iter().find(|o| o.op == "send").unwrap();
    assert_eq!(send.rate, None);
    assert_eq!(send.latency.count, 4000, "lifetime histogram");
    assert!(ops.iter().find(|o| o.op == "fs_fsync").unwrap().is_idle());
}

#[test]
fn a_wedged_worker_reads_as_fully_busy() {
    let s1 = snapshot(1);
    let mut s2 = snapshot(1);
    s2.monotonic_ns = 3 * SEC;
    w(&mut s2, 1).executor.parked = false;
    w(&mut s2, 1).executor.heartbeat_age_ns = 2 * SEC;
    let rows = rows::worker_rows(Window {
        latest: &s2,
        prev: Some(&s1),
        first: Some(&s1),
    });
    assert_eq!(rows[1].busy, Some(1.0));
    assert_eq!(rows[1].loop_rate, Some(0.0));
    assert_eq!(rows[0].busy, None, "parked and idle: no figure, not 100 %");
}

#[test]
fn the_model_windows_latency_over_its_history() {
    let m = model_with((1..=HISTORY as u64 + 3).map(snapshot));
    assert_eq!(m.history().count(), HISTORY, "bounded");
    let send = m.op_rows().into_iter().find(|o| o.op == "send").unwrap();
    // HISTORY snapshots one second apart: HISTORY - 1 seconds of growth.
    assert_eq!(send.latency.count, 1000 * (HISTORY as u64 - 1));
}

#[test]
fn sorting_each_view() {
    let mut s1 = snapshot(1);
    let mut s2 = snapshot(2);
    // Worker 1 three times as busy, with more tasks.
    w(&mut s1, 1).executor.busy_ns_total = 0;
    w(&mut s2, 1).executor.busy_ns_total = 3 * SEC / 4;
    w(&mut s2, 1).executor.parked_ns_total = w(&mut s1, 1).executor.parked_ns_total + SEC / 4;
    w(&mut s2, 1).executor.tasks = 40;
    let mut m = model_with([s1, s2]);

    let labels =
        |m: &Model| -> Vec<String> { m.worker_rows().into_iter().map(|r| r.label).collect() };
    assert_eq!(m.sort_by(View::Overview), SortBy::Worker);
    assert_eq!(labels(&m), ["0", "1"]);
    m.update(Action::CycleSort);
    assert_eq!(m.sort_by(View::Overview), SortBy::Busy);
    assert_eq!(labels(&m), ["1", "0"]);

    m.update(Action::Show(View::Ops));
    let names = |m: &Model| -> Vec<String> { m.op_rows().into_iter().map(|r| r.op).collect() };
    assert_eq!(m.sort_by(View::Ops), SortBy::Rate);
    assert_eq!(
        names(&m),
        ["send", "recv", "fs_read"],
        "busiest first; idle hidden"
    );
    m.update(Action::CycleSort);
    assert_eq!(names(&m), ["fs_read", "recv", "send"]);

    m.update(Action::Show(View::Slabs));
    let top = &m.slab_rows()[0];
    assert_eq!((top.slab.as_str(), top.owner.as_str()), ("tasks", "0"));
    assert!(
        m.slab_rows().iter().all(|r| r.capacity > 0),
        "unconfigured pools hidden"
    );
    m.update(Action::CycleSort);
    assert_eq!(m.slab_rows()[0].slab, "blocking_queue");
    assert_eq!(m.slab_rows()[0].owner, "rt");

    for _ in 0..View::Overview.sorts().len() {
        m.update(Action::Show(View::Overview));
        m.update(Action::CycleSort);
    }
    assert_eq!(m.sort_by(View::Overview), SortBy::Busy, "cycling wraps");
}

#[test]
fn the_filter_applies_to_the_current_rows_ignoring_case() {
    let mut m = model_with([snapshot(1), snapshot(2)]);
    m.update(Action::StartFilter);
    assert!(m.editing_filter);
    for c in "FS".chars() {
        m.update(Action::FilterChar(c));
    }
    m.update(Action::FilterDone);
    assert!(!m.editing_filter);
    let ops: Vec<String> = m.op_rows().into_iter().map(|r| r.op).collect();
    assert_eq!(ops, ["fs_read"]);
    m.thresholds.stuck_after = Duration::from_millis(100);
    assert_eq!(m.stuck_rows().len(), 1, "the send does not match 'fs'");

    m.update(Action::FilterBackspace);
    m.update(Action::FilterBackspace);
    for c in "127.0".chars() {
        m.update(Action::FilterChar(c));
    }
    let stuck = m.stuck_rows();
    assert_eq!(stuck.len(), 1, "targets are searched too");
    assert_eq!(stuck[0].op, "send");
    assert!(m.worker_rows().is_empty());

    m.update(Action::Back);
    assert!(m.filter.is_empty(), "Esc clears the filter");
    m.update(Action::StartFilter);
    m.update(Action::FilterChar('x'));
    m.update(Action::FilterCancel);
    assert!(m.filter.is_empty() && !m.editing_filter);
}

#[test]
fn stuck_list_honours_the_threshold_oldest_first() {
    let mut m = model_with([snapshot(1)]);
    let ops = |m: &Model| -> Vec<String> { m.stuck_rows().into_iter().map(|o| o.op).collect() };
    assert_eq!(ops(&m), ["fs_read"], "1 s: only the 37 s read");
    m.update(Action::ThresholdDown);
    assert_eq!(m.thresholds.stuck_after, Duration::from_millis(500));
    assert_eq!(ops(&m), ["fs_read"]);
    m.update(Action::ThresholdDown);
    m.update(Action::ThresholdDown);
    assert_eq!(m.thresholds.stuck_after, Duration::from_millis(100));
    assert_eq!(ops(&m), ["fs_read", "send"], "oldest first");
    m.update(Action::ThresholdDown);
    assert_eq!(
        m.thresholds.stuck_after,
        Duration::from_millis(100),
        "floor"
    );
    m.update(Action::Show(View::Stuck));
    m.update(Action::CycleSort);
    m.update(Action::CycleSort);
    assert_eq!(m.sort_by(View::Stuck), SortBy::Name);
    assert_eq!(ops(&m), ["fs_read", "send"]);
    m.update(Action::CycleSort);
    for _ in 0..7 {
        m.update(Action::ThresholdUp);
    }
    assert_eq!(m.thresholds.stuck_after, Duration::from_secs(30));
    assert_eq!(ops(&m), ["fs_read"]);
    m.update(Action::ThresholdUp);
    assert_eq!(m.thresholds.stuck_after, Duration::from_secs(60));
    assert!(ops(&m).is_empty(), "37 s is below a minute");
}

#[test]
fn alert_worker_stalled() {
    let t = Thresholds::default();
    let mut s = snapshot(1);
    assert!(!fired(&[&s], &t).contains(&Rule::WorkerStalled));
    let e = &mut w(&mut s, 1).executor;
    e.parked = false;
    e.heartbeat_age_ns = SEC / 2;
    assert!(
        !fired(&[&s], &t).contains(&Rule::WorkerStalled),
        "0.5 s: busy, not stalled"
    );
    let e = &mut w(&mut s, 1).executor;
    e.heartbeat_age_ns = 3 * SEC / 2;
    e.current_task = Some(17);
    e.current_poll_age_ns = Some(3 * SEC / 2);
    let a = alerts::evaluate(&[&s], &t);
    let stalled = a.iter().find(|a| a.rule == Rule::WorkerStalled).unwrap();
    assert_eq!(
        stalled.message,
        "worker 1 stalled: no loop iteration for 1.50s (task 17 polled for 1.50s)"
    );
    // A parked worker is idle, however old its last iteration.
    w(&mut s, 1).executor.parked = true;
    assert!(!fired(&[&s], &t).contains(&Rule::WorkerStalled));
}

#[test]
fn alert_op_stuck() {
    let s = snapshot(1);
    let a = alerts::evaluate(&[&s], &Thresholds::default());
    let stuck = a.iter().find(|a| a.rule == Rule::OpStuck).unwrap();
    assert_eq!(
        stuck.message,
        "1 op in flight ≥ 1.00s; oldest: fs_read on worker 0 (fd 23) for 37.0s"
    );
    let t = Thresholds {
        stuck_after: Duration::from_secs(60),
        ..Thresholds::default()
    };
    assert!(!fired(&[&s], &t).contains(&Rule::OpStuck));
    let t = Thresholds {
        stuck_after: Duration::from_millis(100),
        ..Thresholds::default()
    };
    let a = alerts::evaluate(&[&s], &t);
    assert!(a.iter().any(|a| a.message.starts_with("2 ops in flight")));
}

#[test]
fn alert_graveyard_growing_by_depth_or_age() {
    let t = Thresholds::default();
    let series = |depths: &[u64]| -> Vec<Snapshot> {
        depths
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                let mut s = snapshot(i as u64 + 1);
                w(&mut s, 0).graveyard.depth = d;
                s
            })
            .collect()
    };
    let check = |depths: &[u64]| -> bool {
        let snaps = series(depths);
        let refs: Vec<&Snapshot> = snaps.iter().collect();
        fired(&refs, &t).contains(&Rule::GraveyardGrowing)
    };
    assert!(check(&[0, 1, 2, 3, 4, 5]), "rising over 5 refreshes");
    assert!(check(&[9, 0, 0, 1, 1, 2, 2]), "only the last 5 count");
    assert!(!check(&[0, 1, 2, 1, 2, 3]), "a dip means it drains");
    assert!(!check(&[2, 2, 2, 2, 2, 2]), "flat");
    assert!(!check(&[0, 1, 2, 3, 4]), "not enough history yet");

    let mut s = snapshot(1);
    w(&mut s, 1).graveyard.depth = 1;
    w(&mut s, 1).graveyard.oldest_age_ns = Some(SEC / 2);
    assert!(!fired(&[&s], &t).contains(&Rule::GraveyardGrowing));
    w(&mut s, 1).graveyard.oldest_age_ns = Some(2 * SEC);
    let a = alerts::evaluate(&[&s], &t);
    let g = a.iter().find(|a| a.rule == Rule::GraveyardGrowing).unwrap();
    assert_eq!(
        g.message,
        "worker 1: graveyard holds 1 op for 2.00s (kernel not finishing them)"
    );
}

#[test]
fn alert_slab_near_full_at_ninety_percent() {
    let t = Thresholds::default();
    let mut s = snapshot(1);
    w(&mut s, 0).slabs[1].used = 57; // 89 %
    assert!(!fired(&[&s], &t).contains(&Rule::SlabNearFull));
    w(&mut s, 0).slabs[1].used = 58; // 90.6 %
    let a = alerts::evaluate(&[&s], &t);
    let full: Vec<_> = a.iter().filter(|a| a.rule == Rule::SlabNearFull).collect();
    assert_eq!(full.len(), 1);
    assert_eq!(full[0].message, "slab tasks of worker 0 at 91% (58/64)");
    s.runtimes[0].slabs[0].used = 4096;
    let a = alerts::evaluate(&[&s], &t);
    assert!(
        a.iter()
            .any(|a| a.message == "slab blocking_queue of the runtime at 100% (4096/4096)")
    );
}

#[test]
fn alert_cq_overflow_on_a_rising_counter_only() {
    let t = Thresholds::default();
    let mut s1 = snapshot(1);
    let mut s2 = snapshot(2);
    w(&mut s1, 0).ring.cq_overflow_total = 3;
    w(&mut s2, 0).ring.cq_overflow_total = 3;
    assert!(
        !fired(&[&s2], &t).contains(&Rule::CqOverflow),
        "one snapshot: no rate"
    );
    assert!(!fired(&[&s1, &s2], &t).contains(&Rule::CqOverflow), "flat");
    w(&mut s2, 0).ring.cq_overflow_total = 5;
    let a = alerts::evaluate(&[&s1, &s2], &t);
    let o = a.iter().find(|a| a.rule == Rule::CqOverflow).unwrap();
    assert!(
        o.message
            .starts_with("worker 0: completion queue overflowed 2×"),
        "{}",
        o.message
    );
}

#[test]
fn critical_alerts_come_first_and_a_healthy_process_has_none() {
    let mut s = snapshot(1);
    for i in 0..2 {
        w(&mut s, i).in_flight.clear();
    }
    assert!(alerts::evaluate(&[&s], &Thresholds::default()).is_empty());
    let mut s = snapshot(1);
    w(&mut s, 0).slabs[1].used = 64;
    let rules = fired(&[&s], &Thresholds::default());
    assert_eq!(rules, [Rule::OpStuck, Rule::SlabNearFull]);
}

#[test]
fn views_switch_by_tab_number_and_wrap() {
    let mut m = model_with([snapshot(1)]);
    assert_eq!(m.view, View::Overview);
    for expected in [
        View::Ops,
        View::Slabs,
        View::Stuck,
        View::Worker,
        View::Tasks,
        View::Connections,
        View::Kernel,
        View::Overview,
    ] {
        m.update(Action::NextView);
        assert_eq!(m.view, expected);
    }
    m.update(Action::PrevView);
    assert_eq!(m.view, View::Kernel);
    m.update(Action::Show(View::Stuck));
    assert_eq!(m.view, View::Stuck);
    assert_eq!(m.update(Action::Quit), Effect::Quit);
}

#[test]
fn selection_clamps_and_open_focuses_a_worker() {
    let mut m = model_with([snapshot(1)]);
    assert_eq!(m.focused_worker(), Some(W0), "the first worker by default");
    for _ in 0..5 {
        m.update(Action::Down);
    }
    assert_eq!(m.selected(View::Overview), 1, "two workers");
    m.update(Action::Open);
    assert_eq!(m.view, View::Worker);
    assert_eq!(m.focused_worker().map(|id| id.worker), Some(1));
    m.update(Action::Up);
    assert_eq!(
        m.focused_worker(),
        Some(W0),
        "arrows step workers in the Worker view"
    );
    m.update(Action::Up);
    assert_eq!(m.focused_worker(), Some(W0));
    m.update(Action::Back);
    assert_eq!(m.view, View::Overview);

    m.update(Action::Show(View::Slabs));
    m.update(Action::Open);
    assert_eq!(m.view, View::Worker, "a pool opens its worker");
    assert_eq!(m.focused_worker(), Some(W0));
    m.update(Action::Back);
    assert_eq!(m.view, View::Slabs, "Esc goes back where Enter came from");

    m.update(Action::Show(View::Stuck));
    m.update(Action::Open);
    assert_eq!(m.view, View::Tasks, "a stuck op leads to its task");
    assert_eq!(
        m.missing(View::Tasks),
        Some(&RowKey::Task(tasks::TaskKey { runtime: 1, id: 5 })),
        "not fetched yet"
    );
}

#[test]
fn pause_freezes_snapshots_and_help_toggles() {
    let mut m = model_with([snapshot(1)]);
    m.update(Action::TogglePause);
    m.apply(Event::Snapshot(Box::new(snapshot(2))));
    assert_eq!(m.latest().unwrap().monotonic_ns, SEC, "paused: not taken");
    m.update(Action::TogglePause);
    m.apply(Event::Snapshot(Box::new(snapshot(3))));
    assert_eq!(m.latest().unwrap().monotonic_ns, 3 * SEC);
    m.update(Action::ToggleHelp);
    assert!(m.help);
    m.update(Action::Back);
    assert!(!m.help);
}

#[test]
fn disconnects_keep_the_last_data_and_a_new_pid_starts_afresh() {
    let mut m = model_with([snapshot(1), snapshot(2)]);
    m.apply(Event::Disconnected(
        "the inspect server closed the connection".into(),
    ));
    assert!(matches!(m.connection, Connection::Disconnected { .. }));
    assert_eq!(m.history().count(), 2, "last data stays on screen");
    m.apply(Event::Attached(Box::new(fixtures::hello())));
    assert_eq!(m.connection, Connection::Connected);
    assert_eq!(m.history().count(), 2, "same pid: history kept");
    let mut other = fixtures::hello();
    other.pid = 4343;
    m.apply(Event::Attached(Box::new(other)));
    assert_eq!(
        m.history().count(),
        0,
        "another process: no stale base for rates"
    );
}

#[test]
fn an_fd_target_shows_its_path_when_known() {
    use ringline_schema::stats::OpTarget;
    let named = OpTarget::Fd {
        fd: 23,
        path: Some("/var/lib/app/data.db".into()),
    };
    assert_eq!(rows::target_text(&named), "fd 23 /var/lib/app/data.db");
    let unnamed = OpTarget::Fd { fd: 23, path: None };
    assert_eq!(rows::target_text(&unnamed), "fd 23");
}
