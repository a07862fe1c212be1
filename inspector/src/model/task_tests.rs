//! Model tests of the Tasks, Connections and Stuck views on fixture
//! answers: rows, sorting, filters, the stuck-task rule, what each view
//! asks the process for, and Enter/Esc between tasks, ops and connections.

use std::time::Duration;

use super::table::SortBy;
use super::tasks::{self, ConnKey, Fetched, Needs, TaskKey};
use super::*;
use crate::fixtures::{self, SEC, snapshot};

fn model() -> Model {
    let mut m = Model::new("pid 4242", Duration::from_secs(1), Duration::from_secs(1));
    m.apply(Event::Attached(Box::new(fixtures::hello())));
    m.apply(Event::Snapshot(Box::new(snapshot(1))));
    m.apply(Event::Tasks(Fetched::Ready(fixtures::tasks())));
    m.apply(Event::Connections(Fetched::Ready(fixtures::connections())));
    m.apply(Event::Ops(Fetched::Ready(fixtures::explained_ops())));
    m
}

fn task_ids(m: &Model) -> Vec<u64> {
    m.task_rows().iter().map(|t| t.id).collect()
}

fn filter(m: &mut Model, text: &str) {
    m.update(Action::FilterCancel);
    m.update(Action::StartFilter);
    for c in text.chars() {
        m.update(Action::FilterChar(c));
    }
    m.update(Action::FilterDone);
}

/// The selected task of the Tasks view.
fn selected_task(m: &Model) -> Option<u64> {
    m.task_rows().get(m.selected(View::Tasks)).map(|t| t.id)
}

fn select_task(m: &mut Model, id: u64) {
    m.update(Action::Show(View::Tasks));
    let i = m.task_rows().iter().position(|t| t.id == id).unwrap();
    for _ in 0..m.task_rows().len() {
        m.update(Action::Up);
    }
    for _ in 0..i {
        m.update(Action::Down);
    }
    assert_eq!(selected_task(m), Some(id));
}

#[test]
fn tasks_sort_by_time_in_state_busy_polls_wakes_worker_and_name() {
    let mut m = model();
    m.update(Action::Show(View::Tasks));
    assert_eq!(m.sort_by(View::Tasks), SortBy::Idle);
    assert_eq!(task_ids(&m), [5, 21, 20, 11, 12, 9, 22], "longest first");
    m.update(Action::CycleSort);
    assert_eq!(m.sort_by(View::Tasks), SortBy::Busy);
    assert_eq!(task_ids(&m), [21, 5, 9, 11, 12, 20, 22]);
    m.update(Action::CycleSort);
    assert_eq!(m.sort_by(View::Tasks), SortBy::Polls);
    assert_eq!(task_ids(&m), [22, 21, 20, 12, 11, 9, 5]);
    m.update(Action::CycleSort);
    assert_eq!(m.sort_by(View::Tasks), SortBy::Wakes);
    assert_eq!(task_ids(&m), [22, 21, 20, 12, 11, 9, 5]);
    m.update(Action::CycleSort);
    assert_eq!(task_ids(&m), [5, 20, 21, 22, 9, 11, 12], "worker, then id");
    m.update(Action::CycleSort);
    assert_eq!(m.sort_by(View::Tasks), SortBy::Name);
    assert_eq!(
        task_ids(&m),
        [5, 21, 9, 11, 12, 20, 22],
        "named first, then by spawn site"
    );
}

#[test]
fn tasks_filter_by_state_verdict_site_and_name() {
    let mut m = model();
    m.update(Action::Show(View::Tasks));
    filter(&mut m, "verdict:deadlock");
    assert_eq!(task_ids(&m), [11, 12]);
    filter(&mut m, "state:running");
    assert_eq!(task_ids(&m), [22]);
    filter(&mut m, "state:idle");
    assert_eq!(task_ids(&m).len(), 6);
    filter(&mut m, "demo.rs:92");
    assert_eq!(task_ids(&m), [5], "await sites are searched");
    filter(&mut m, "demo.rs:61");
    assert_eq!(task_ids(&m), [21], "spawn sites too");
    filter(&mut m, "TICKER");
    assert_eq!(task_ids(&m), [21], "names, ignoring case");
    filter(&mut m, "conn 7");
    assert_eq!(task_ids(&m), [9], "kinds and waits");
}

#[test]
fn connections_sort_and_filter() {
    let mut m = model();
    m.update(Action::Show(View::Connections));
    let ids = |m: &Model| -> Vec<u32> { m.conn_rows().iter().map(|c| c.index).collect() };
    assert_eq!(m.sort_by(View::Connections), SortBy::Age);
    assert_eq!(ids(&m), [3, 4, 7], "oldest first");
    m.update(Action::CycleSort);
    assert_eq!(m.sort_by(View::Connections), SortBy::BytesIn);
    assert_eq!(ids(&m), [4, 3, 7]);
    m.update(Action::CycleSort);
    assert_eq!(ids(&m), [7, 3, 4], "bytes out");
    m.update(Action::CycleSort);
    assert_eq!(ids(&m), [4, 3, 7], "buffered");
    m.update(Action::CycleSort);
    assert_eq!(ids(&m), [7, 3, 4], "queued");
    filter(&mut m, "paused");
    assert_eq!(ids(&m), [4]);
    filter(&mut m, "127.0.0.1");
    assert_eq!(ids(&m), [7], "peers are searched");
    filter(&mut m, "state:idle");
    assert_eq!(ids(&m), [7, 3], "the task's state (still by queued)");
}

#[test]
fn stuck_tasks_leave_out_sleeps_quiet_peers_and_the_young() {
    let all = fixtures::tasks();
    let ids = |threshold: Duration| -> Vec<u64> {
        tasks::stuck_tasks(&all, threshold)
            .iter()
            .map(|t| t.id)
            .collect()
    };
    // The deadlock first (worse than a long wait in the kernel); task 20
    // waits for a quiet peer and task 21 sleeps; 22 runs; 9 is young.
    assert_eq!(ids(Duration::from_secs(1)), [11, 12, 5]);
    // A send that does not drain counts, a receive does not.
    assert_eq!(ids(Duration::from_millis(100)), [11, 12, 5, 9]);
    assert_eq!(ids(Duration::from_secs(6)), [5]);
    assert!(ids(Duration::from_secs(60)).is_empty());

    let mut m = model();
    m.update(Action::Show(View::Stuck));
    let rows = m.stuck_view_rows();
    let keys: Vec<String> = rows
        .iter()
        .map(|r| match r {
            StuckRow::Op(op) => format!("op {}", op.op),
            StuckRow::Task(t) => format!("task {}", t.id),
        })
        .collect();
    assert_eq!(keys, ["op fs_read", "task 11", "task 12", "task 5"]);
    let StuckRow::Op(read) = &rows[0] else {
        unreachable!()
    };
    assert_eq!(read.await_site, Some(fixtures::site(92, 20)), "explained");
    assert_eq!(
        read.verdict.as_ref().map(|v| v.tasks.clone()),
        Some(vec![5])
    );
    filter(&mut m, "deadlock");
    assert_eq!(m.stuck_view_rows().len(), 2, "the filter applies to tasks");
}

#[test]
fn each_view_asks_only_for_what_it_shows() {
    let mut m = model();
    assert!(!m.needs().any(), "the Overview needs the snapshots only");
    m.update(Action::Show(View::Tasks));
    assert_eq!(
        m.needs(),
        Needs {
            tasks: Some(Duration::ZERO),
            ..Needs::default()
        }
    );
    m.update(Action::Show(View::Connections));
    assert_eq!(
        m.needs(),
        Needs {
            connections: true,
            ..Needs::default()
        }
    );
    m.update(Action::Show(View::Stuck));
    assert_eq!(
        m.needs(),
        Needs {
            tasks: Some(Duration::from_secs(1)),
            ops: Some(Duration::from_secs(1)),
            connections: false,
        }
    );
    m.update(Action::TogglePause);
    assert!(!m.needs().any(), "paused: nothing asked");
    m.update(Action::TogglePause);
    m.update(Action::ToggleHelp);
    assert!(!m.needs().any(), "help: nothing asked");
}

#[test]
fn enter_follows_a_task_to_its_op_connection_or_peer_and_esc_comes_back() {
    let mut m = model();
    // Task 5 waits on its fs_read, stuck: the Stuck view, the read selected.
    select_task(&mut m, 5);
    m.update(Action::Open);
    assert_eq!(m.view, View::Stuck);
    let sel = m.selected(View::Stuck);
    assert!(
        matches!(&m.stuck_view_rows()[sel], StuckRow::Op(op) if op.op == "fs_read"),
        "{sel}"
    );
    // From the stuck op, back to the task waiting on it.
    m.update(Action::Open);
    assert_eq!((m.view, selected_task(&m)), (View::Tasks, Some(5)));
    m.update(Action::Back);
    assert_eq!(m.view, View::Stuck);
    m.update(Action::Back);
    assert_eq!((m.view, selected_task(&m)), (View::Tasks, Some(5)));

    // Task 11 of the deadlock: Enter walks the cycle.
    select_task(&mut m, 11);
    m.update(Action::Open);
    assert_eq!(selected_task(&m), Some(12));
    m.update(Action::Open);
    assert_eq!(selected_task(&m), Some(11));
    assert_eq!(m.back_depth(), 2);

    // Task 9 waits to send on connection 7 of worker 1; the connection
    // leads back to it.
    select_task(&mut m, 9);
    assert_eq!(m.back_depth(), 0, "switching views forgets the way back");
    m.update(Action::Open);
    assert_eq!(m.view, View::Connections);
    let conn = &m.conn_rows()[m.selected(View::Connections)];
    assert_eq!(
        ConnKey::of(conn),
        ConnKey {
            runtime: 1,
            worker: 1,
            index: 7
        }
    );
    m.update(Action::Open);
    assert_eq!((m.view, selected_task(&m)), (View::Tasks, Some(9)));

    // Task 20 serves connection 3 (its wait); task 21 sleeps: nowhere to go.
    select_task(&mut m, 20);
    m.update(Action::Open);
    assert_eq!(m.conn_rows()[m.selected(View::Connections)].index, 3);
    select_task(&mut m, 21);
    m.update(Action::Open);
    assert_eq!((m.view, m.back_depth()), (View::Tasks, 0));
}

#[test]
fn an_op_that_is_not_stuck_is_shown_as_its_kind_in_the_ops_view() {
    let mut m = model();
    for _ in 0..9 {
        m.update(Action::ThresholdUp);
    }
    assert!(m.stuck_rows().is_empty(), "37 s is under the threshold now");
    select_task(&mut m, 5);
    m.update(Action::Open);
    assert_eq!(m.view, View::Ops);
    assert_eq!(m.op_rows()[m.selected(View::Ops)].op, "fs_read");
}

#[test]
fn following_puts_the_filter_aside_and_esc_brings_it_back() {
    let mut m = model();
    m.update(Action::Show(View::Tasks));
    filter(&mut m, "verdict:in_kernel");
    assert_eq!(task_ids(&m), [5]);
    m.update(Action::Open);
    assert_eq!(m.view, View::Stuck);
    assert!(m.filter.is_empty(), "the read would not match the filter");
    m.update(Action::Back);
    assert_eq!(m.view, View::Tasks);
    assert_eq!(m.filter, "verdict:in_kernel");
    m.update(Action::Back);
    assert!(m.filter.is_empty(), "then Esc clears it as before");
}

#[test]
fn the_selection_stays_on_its_task_when_rows_move() {
    let mut m = model();
    select_task(&mut m, 20);
    let mut later = fixtures::tasks();
    for t in &mut later {
        if t.id == 20 {
            t.state_for_ns = 100 * SEC;
        }
    }
    m.apply(Event::Tasks(Fetched::Ready(later.clone())));
    assert_eq!(m.task_rows()[0].id, 20, "now the longest idle");
    assert_eq!(selected_task(&m), Some(20));
    later.retain(|t| t.id != 20);
    m.apply(Event::Tasks(Fetched::Ready(later)));
    assert_eq!(
        m.missing(View::Tasks),
        Some(&RowKey::Task(TaskKey { runtime: 1, id: 20 })),
        "finished: named as missing"
    );
    assert_eq!(
        selected_task(&m),
        Some(11),
        "the position it was selected at instead"
    );
}

#[test]
fn an_older_process_keeps_the_stuck_ops_and_opens_their_worker() {
    let mut m = model();
    m.apply(Event::Tasks(Fetched::Unsupported));
    m.apply(Event::Ops(Fetched::Unsupported));
    m.update(Action::Show(View::Stuck));
    assert_eq!(m.stuck_view_rows().len(), 1, "the op, no tasks");
    assert_eq!(m.stuck_rows()[0].verdict, None);
    m.update(Action::Open);
    assert_eq!(m.view, View::Worker);
    m.update(Action::Back);
    assert_eq!(m.view, View::Stuck);
    m.update(Action::Show(View::Tasks));
    assert!(m.task_rows().is_empty());
    m.update(Action::Open);
    assert_eq!(m.view, View::Tasks, "nothing to follow");
}

#[test]
fn paused_ignores_answers_and_a_new_process_forgets_them() {
    let mut m = model();
    m.update(Action::TogglePause);
    m.apply(Event::Tasks(Fetched::Ready(Vec::new())));
    assert_eq!(m.tasks.ready().map(Vec::len), Some(7), "paused");
    m.update(Action::TogglePause);
    let mut other = fixtures::hello();
    other.pid = 4343;
    m.apply(Event::Attached(Box::new(other)));
    assert_eq!(m.tasks, Fetched::Pending);
    assert_eq!(m.connections, Fetched::Pending);
}

#[test]
fn task_links_follow_the_wait_before_the_verdict() {
    use ringline_schema::stats::WaitTarget;
    let mut t = fixtures::tasks()[0].clone();
    t.verdict.tasks = vec![99];
    let to = |id: u64| Some(tasks::Link::Task(TaskKey { runtime: 1, id }));
    t.waiting_on = WaitTarget::ChannelRecv {
        channel: 1,
        senders: vec![5, 7],
    };
    assert_eq!(tasks::task_link(&t), to(7), "itself skipped");
    t.waiting_on = WaitTarget::ChannelSend {
        channel: 1,
        receiver: Some(8),
    };
    assert_eq!(tasks::task_link(&t), to(8));
    t.waiting_on = WaitTarget::Join { task: 6 };
    assert_eq!(tasks::task_link(&t), to(6));
    t.waiting_on = WaitTarget::Pool;
    assert_eq!(tasks::task_link(&t), to(99), "else what the verdict names");
    t.verdict.tasks.clear();
    assert_eq!(tasks::task_link(&t), None);
}
