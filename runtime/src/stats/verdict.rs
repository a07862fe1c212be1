//! Wait verdicts: why a task (or a kernel op) has not moved, judged by the
//! reader from one worker's task registry, op registry and executor state
//! — never by the worker, which may be the one that is stuck.
//!
//! A task's verdict follows from its state and the wait its last poll
//! ended on: running; woken and not polled (naming the task the worker is
//! busy polling instead); idle on a connection, a timer, a pool job, a
//! channel or another task's end (naming the other side); its op in the
//! kernel, or completed without a wake; or idle on nothing ringline knows.
//! Tasks that wait on each other through channels and join handles are
//! found as cycles of that "waits on" relation (each idle task waits on at
//! most one other, so a walk along it either ends or loops) and judged a
//! deadlock.

use std::collections::HashMap;

use super::task_registry::{RawTask, Wait, site};
use super::ticks::Scale;
use super::{
    InFlightOp, OpTarget, TaskInfo, TaskKind, TaskState, Verdict, VerdictKind, WaitTarget,
};

/// What one worker's registries said at one reading, indexed so that
/// judging every task costs one lookup per name, not a scan (a worker may
/// hold tens of thousands of tasks and ops).
pub(crate) struct WorkerView<'a> {
    pub(crate) runtime: u64,
    pub(crate) worker: usize,
    pub(crate) tasks: &'a [RawTask],
    /// The task being polled and when its poll started (ticks).
    pub(crate) running: Option<(u64, u64)>,
    /// The peer of a connection slot.
    pub(crate) peer: &'a dyn Fn(u32) -> Option<String>,
    pub(crate) scale: Scale,
    /// Tasks by id.
    by_id: HashMap<u64, &'a RawTask>,
    /// The op in flight each task submitted, by task id.
    op_of_task: HashMap<u64, &'a InFlightOp>,
    /// The send in flight on each connection slot.
    send_on: HashMap<u32, &'a InFlightOp>,
}

impl<'a> WorkerView<'a> {
    /// A view of `tasks` and `ops`, indexed.
    pub(crate) fn new(
        runtime: u64,
        worker: usize,
        tasks: &'a [RawTask],
        running: Option<(u64, u64)>,
        ops: &'a [InFlightOp],
        peer: &'a dyn Fn(u32) -> Option<String>,
        scale: Scale,
    ) -> WorkerView<'a> {
        let send_on = ops
            .iter()
            .filter(|op| op.op == "send")
            .filter_map(|op| match op.target {
                OpTarget::Connection { index, .. } => Some((index, op)),
                _ => None,
            })
            .collect();
        WorkerView {
            runtime,
            worker,
            tasks,
            running,
            peer,
            scale,
            by_id: tasks.iter().map(|t| (t.id, t)).collect(),
            op_of_task: ops.iter().filter_map(|op| Some((op.task?, op))).collect(),
            send_on,
        }
    }
}

/// A duration for a human: `850 µs`, `12 ms`, `3.4 s`.
fn human(ns: u64) -> String {
    if ns < 1_000_000 {
        format!("{} µs", ns / 1_000)
    } else if ns < 1_000_000_000 {
        format!("{} ms", ns / 1_000_000)
    } else {
        format!("{:.1} s", ns as f64 / 1e9)
    }
}

/// The task a verdict names, for a human: `task 7 (spawned at a.rs:3:9)`.
fn named(view: &WorkerView<'_>, id: u64) -> String {
    match view.by_id.get(&id) {
        Some(t) => {
            let name = t.name.map(|n| format!(" \"{n}\"")).unwrap_or_default();
            match t.spawn_site {
                Some(at) => format!("task {id}{name} (spawned at {})", site(at)),
                None => format!("task {id}{name}"),
            }
        }
        None => format!("task {id}"),
    }
}

/// The other task an idle task's wait depends on, if it is one.
fn waits_on_task(wait: Wait) -> Option<u64> {
    match wait {
        Wait::ChannelRecv { holder, .. } | Wait::ChannelSend { holder, .. } => holder.checked_sub(1),
        Wait::Join(task) => Some(task),
        _ => None,
    }
}

/// Every task of the view, judged.
pub(crate) fn tasks(view: &WorkerView<'_>, out: &mut Vec<TaskInfo>) {
    let now_ns = view.scale.now_ns();
    let running = view.running.map(|(id, start)| (id, view.scale.ns_since(start)));
    let busy_elsewhere = |me: u64| -> Option<(u64, u64)> { running.filter(|&(id, _)| id != me) };
    let cycles = deadlocks(view);
    for t in view.tasks {
        let (state, state_for_ns) = match running {
            Some((id, for_ns)) if id == t.id => (TaskState::Running, for_ns),
            _ => (t.state(), view.scale.ns_since(t.since_ticks)),
        };
        let verdict = if let Some(cycle) = cycles.get(&t.id) {
            let path: Vec<String> = cycle.iter().map(|&id| named(view, id)).collect();
            Verdict {
                kind: VerdictKind::Deadlock,
                message: format!(
                    "deadlock: {} waits on {}",
                    path.join(", which waits on "),
                    named(view, cycle[0])
                ),
                tasks: cycle.clone(),
            }
        } else {
            judge(view, t, state, state_for_ns, busy_elsewhere(t.id))
        };
        out.push(TaskInfo {
            runtime: view.runtime,
            worker: view.worker,
            id: t.id,
            kind: t.kind.clone(),
            name: t.name.map(str::to_owned),
            spawn_site: t.spawn_site.map(site),
            state,
            state_for_ns,
            polls: t.polls,
            busy_ns: view.scale.ns(t.busy_ticks),
            wakes: t.wakes,
            self_wakes: t.self_wakes,
            await_site: t.parked.map(|p| site(p.site)),
            waiting_on: t
                .parked
                .map_or(WaitTarget::Nothing, |p| p.wait.target(now_ns)),
            verdict,
        });
    }
}

/// The verdict of a task that is in no cycle.
fn judge(
    view: &WorkerView<'_>,
    t: &RawTask,
    state: TaskState,
    for_ns: u64,
    busy_elsewhere: Option<(u64, u64)>,
) -> Verdict {
    let verdict = |kind, message: String, tasks: Vec<u64>| Verdict {
        kind,
        message,
        tasks,
    };
    let busy = |(id, ns): (u64, u64)| {
        format!(
            "the worker has been busy polling {} for {}",
            named(view, id),
            human(ns)
        )
    };
    match state {
        TaskState::Running => {
            return verdict(
                VerdictKind::Running,
                format!("being polled for {}", human(for_ns)),
                Vec::new(),
            );
        }
        TaskState::Scheduled => {
            let (message, tasks) = match busy_elsewhere {
                Some(b) => (
                    format!("woken {} ago, not polled yet: {}", human(for_ns), busy(b)),
                    vec![b.0],
                ),
                None => (
                    format!("woken {} ago, queued for its poll", human(for_ns)),
                    Vec::new(),
                ),
            };
            return verdict(VerdictKind::WokenNotPolled, message, tasks);
        }
        TaskState::Idle => {}
    }
    let Some(parked) = t.parked else {
        return verdict(
            VerdictKind::IdleOnUnknown,
            format!(
                "idle for {}, on nothing ringline knows: its last poll registered no ringline \
                 wait, so it waits on a future woken from outside the runtime (or lost a wake-up)",
                human(for_ns)
            ),
            Vec::new(),
        );
    };
    let peer = |c: u32| (view.peer)(c).map(|p| format!(" ({p})")).unwrap_or_default();
    let late = busy_elsewhere.map(|b| format!("; {}", busy(b))).unwrap_or_default();
    match parked.wait {
        Wait::Recv(c) => verdict(
            VerdictKind::WaitingOnConnection,
            format!(
                "waiting {} for bytes from the peer of connection {c}{}",
                human(for_ns),
                peer(c)
            ),
            Vec::new(),
        ),
        Wait::Send(c) => {
            let send = view.send_on.get(&c);
            let op = match send {
                Some(op) => format!("; its send has been in the kernel for {}", human(op.age_ns)),
                None => String::new(),
            };
            verdict(
                VerdictKind::WaitingOnConnection,
                format!(
                    "waiting {} for its bytes to be sent on connection {c}{}: the peer is not \
                     reading{op}",
                    human(for_ns),
                    peer(c)
                ),
                Vec::new(),
            )
        }
        Wait::UdpRecv(s) => verdict(
            VerdictKind::WaitingOnConnection,
            format!("waiting {} for a datagram on UDP socket {s}", human(for_ns)),
            Vec::new(),
        ),
        Wait::Op(kind) => match view.op_of_task.get(&t.id) {
            Some(op) => verdict(
                VerdictKind::InKernel,
                format!(
                    "its {} has been in the kernel for {} with no completion yet{late}",
                    op.op,
                    human(op.age_ns)
                ),
                busy_elsewhere.map(|b| b.0).into_iter().collect(),
            ),
            None => verdict(
                VerdictKind::CompletedNotWoken,
                format!(
                    "its {} is no longer in flight, but the task has not been woken for {}",
                    kind.as_str(),
                    human(for_ns)
                ),
                Vec::new(),
            ),
        },
        Wait::Timer(at) => {
            let now = view.scale.now_ns();
            let message = if at > now {
                format!("sleeping: its timer fires in {}", human(at - now))
            } else {
                format!("its timer fired {} ago, not handled yet{late}", human(now - at))
            };
            verdict(VerdictKind::WaitingOnTimer, message, Vec::new())
        }
        Wait::ChannelRecv { channel, holder } => {
            let (other, tasks) = match holder.checked_sub(1) {
                Some(id) => (
                    format!(", whose sending side {} used last", named(view, id)),
                    vec![id],
                ),
                None => (String::new(), Vec::new()),
            };
            verdict(
                VerdictKind::WaitingOnChannel,
                format!(
                    "waiting {} for a message on channel {channel}{other}",
                    human(for_ns)
                ),
                tasks,
            )
        }
        Wait::ChannelSend { channel, holder } => {
            let (other, tasks) = match holder.checked_sub(1) {
                Some(id) => (
                    format!(", whose receiver {} used last", named(view, id)),
                    vec![id],
                ),
                None => (String::new(), Vec::new()),
            };
            verdict(
                VerdictKind::WaitingOnChannel,
                format!(
                    "waiting {} for room on full channel {channel}{other}",
                    human(for_ns)
                ),
                tasks,
            )
        }
        Wait::Join(id) => verdict(
            VerdictKind::WaitingOnJoin,
            format!("waiting {} for {} to end", human(for_ns), named(view, id)),
            vec![id],
        ),
        Wait::Pool => verdict(
            VerdictKind::WaitingOnPool,
            format!(
                "waiting {} for a blocking-pool job or a name lookup",
                human(for_ns)
            ),
            Vec::new(),
        ),
    }
}

/// The idle tasks that wait on each other in a cycle, each mapped to the
/// cycle in order starting from itself.
fn deadlocks(view: &WorkerView<'_>) -> HashMap<u64, Vec<u64>> {
    let running = view.running.map(|(id, _)| id);
    let next: HashMap<u64, u64> = view
        .tasks
        .iter()
        .filter(|t| !t.scheduled && Some(t.id) != running)
        .filter_map(|t| Some((t.id, waits_on_task(t.parked?.wait)?)))
        .collect();
    let mut out = HashMap::new();
    for &start in next.keys() {
        if out.contains_key(&start) {
            continue;
        }
        // A cycle through `start` returns to it; anything else ends, or
        // reaches a task already on the path (a loop elsewhere).
        let mut path = vec![start];
        let mut on_path = std::collections::HashSet::from([start]);
        let mut at = start;
        while let Some(&to) = next.get(&at) {
            if to == start {
                for (i, &member) in path.iter().enumerate() {
                    let mut cycle = path[i..].to_vec();
                    cycle.extend_from_slice(&path[..i]);
                    out.insert(member, cycle);
                }
                break;
            }
            if !on_path.insert(to) {
                break;
            }
            path.push(to);
            at = to;
        }
    }
    out
}

/// Fills in, for every op of the view, the await site and verdict of the
/// task waiting on it.
pub(crate) fn explain_ops(view: &WorkerView<'_>, tasks: &[TaskInfo], ops: &mut [InFlightOp]) {
    // The waiters of this worker: on an op of their own, by task id; on a
    // send, by connection.
    let mine = || {
        tasks
            .iter()
            .filter(|t| t.runtime == view.runtime && t.worker == view.worker)
    };
    let on_op: HashMap<u64, &TaskInfo> = mine()
        .filter(|t| matches!(t.waiting_on, WaitTarget::Op { .. }))
        .map(|t| (t.id, t))
        .collect();
    let on_send: HashMap<u32, &TaskInfo> = mine()
        .filter_map(|t| match t.waiting_on {
            WaitTarget::Send { connection } => Some((connection, t)),
            _ => None,
        })
        .collect();
    for op in ops.iter_mut() {
        let waiter = match (&op.target, op.op.as_str()) {
            (OpTarget::Connection { index, .. }, "send") => on_send.get(index).copied(),
            _ => op.task.and_then(|id| on_op.get(&id).copied()),
        };
        let busy = view
            .running
            .map(|(id, start)| (id, view.scale.ns_since(start)))
            .filter(|&(id, _)| Some(id) != op.task);
        let late = match busy {
            Some((id, ns)) => format!(
                "; the worker has been busy polling {} for {}, so a completion may be waiting \
                 unreaped",
                named(view, id),
                human(ns)
            ),
            None => String::new(),
        };
        let kind = if busy.is_some_and(|(_, ns)| ns >= op.age_ns) {
            VerdictKind::CompletedNotWoken
        } else {
            VerdictKind::InKernel
        };
        let (message, tasks) = match waiter {
            Some(t) => {
                let from = match &t.kind {
                    TaskKind::Connection { connection } => {
                        format!(" (the task of connection {connection})")
                    }
                    _ => String::new(),
                };
                let at = t
                    .await_site
                    .as_ref()
                    .map(|s| format!(" at {s}"))
                    .unwrap_or_default();
                (
                    format!(
                        "in the kernel for {} with no completion yet; {}{from} waits on it{at}{late}",
                        human(op.age_ns),
                        named(view, t.id)
                    ),
                    vec![t.id],
                )
            }
            None => (
                format!(
                    "in the kernel for {} with no completion yet; no task waits on it{late}",
                    human(op.age_ns)
                ),
                Vec::new(),
            ),
        };
        op.await_site = waiter.and_then(|t| t.await_site.clone());
        op.verdict = Some(Verdict {
            kind,
            message,
            tasks,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::OpKind;
    use crate::stats::task_registry::Parked;
    use std::panic::Location;

    fn task(id: u64, wait: Option<Wait>) -> RawTask {
        RawTask {
            id,
            kind: TaskKind::Spawned,
            name: None,
            spawn_site: Some(Location::caller()),
            scheduled: false,
            since_ticks: 0,
            polls: 1,
            busy_ticks: 0,
            wakes: 0,
            self_wakes: 0,
            parked: wait.map(|wait| Parked {
                wait,
                site: Location::caller(),
            }),
        }
    }

    fn judge_all(tasks: &[RawTask], running: Option<(u64, u64)>) -> Vec<TaskInfo> {
        let peer = |_| None;
        let view = WorkerView::new(1, 0, tasks, running, &[], &peer, Scale::now());
        let mut out = Vec::new();
        super::tasks(&view, &mut out);
        out
    }

    fn recv_from(holder_id: u64) -> Option<Wait> {
        Some(Wait::ChannelRecv {
            channel: 1,
            holder: holder_id + 1,
        })
    }

    #[test]
    fn two_tasks_waiting_on_each_other_are_a_deadlock_and_a_third_is_not() {
        let tasks = [
            task(1, recv_from(2)),
            task(2, Some(Wait::Join(1))),
            task(3, recv_from(1)),
        ];
        let out = judge_all(&tasks, None);
        let v = |id: u64| out.iter().find(|t| t.id == id).unwrap().verdict.clone();
        assert_eq!(v(1).kind, VerdictKind::Deadlock);
        assert_eq!(v(1).tasks, [1, 2]);
        assert_eq!(v(2).tasks, [2, 1]);
        assert_eq!(v(3).kind, VerdictKind::WaitingOnChannel, "{:?}", v(3));
        assert_eq!(v(3).tasks, [1]);
    }

    #[test]
    fn a_woken_task_names_the_one_the_worker_is_busy_with() {
        let mut woken = task(1, None);
        woken.scheduled = true;
        let tasks = [woken, task(2, None)];
        let out = judge_all(&tasks, Some((2, 0)));
        let v = &out[0].verdict;
        assert_eq!(v.kind, VerdictKind::WokenNotPolled);
        assert_eq!(v.tasks, [2]);
        assert!(v.message.contains("busy polling task 2"), "{}", v.message);
        assert_eq!(out[1].state, TaskState::Running);
        assert_eq!(out[1].verdict.kind, VerdictKind::Running);
    }

    #[test]
    fn an_idle_task_with_no_ringline_wait_is_idle_on_unknown() {
        let out = judge_all(&[task(4, None)], None);
        assert_eq!(out[0].verdict.kind, VerdictKind::IdleOnUnknown);
        assert_eq!(out[0].waiting_on, WaitTarget::Nothing);
        let out = judge_all(&[task(4, Some(Wait::Pool))], None);
        assert_eq!(out[0].verdict.kind, VerdictKind::WaitingOnPool);
    }

    #[test]
    fn ops_are_explained_by_the_tasks_waiting_on_them() {
        let op = |name: &str, task: Option<u64>, target: OpTarget| InFlightOp {
            runtime: 1,
            worker: 0,
            op: name.into(),
            age_ns: 2_000_000_000,
            task,
            target,
            in_graveyard: false,
            cancel_submitted: false,
            await_site: None,
            verdict: None,
        };
        let conn = |index| OpTarget::Connection { index, peer: None };
        let ops = [
            op("send", None, conn(3)),
            op("fs_read", Some(5), OpTarget::None),
            op("send", None, conn(4)),
        ];
        let tasks = [
            task(5, Some(Wait::Op(OpKind::FsRead))),
            task(6, Some(Wait::Send(3))),
            task(7, Some(Wait::Recv(4))),
        ];
        let peer = |_| None;
        let view = WorkerView::new(1, 0, &tasks, None, &ops, &peer, Scale::now());
        let mut infos = Vec::new();
        super::tasks(&view, &mut infos);
        assert_eq!(infos[0].verdict.kind, VerdictKind::InKernel, "{:?}", infos[0]);
        assert!(infos[1].verdict.message.contains("in the kernel for 2.0 s"), "{:?}", infos[1]);
        let mut explained = ops.to_vec();
        explain_ops(&view, &infos, &mut explained);
        let waiter = |op: &InFlightOp| op.verdict.as_ref().map(|v| v.tasks.clone());
        assert_eq!(waiter(&explained[0]), Some(vec![6]), "the send's waiter");
        assert_eq!(waiter(&explained[1]), Some(vec![5]), "the read's waiter");
        assert_eq!(waiter(&explained[2]), Some(vec![]), "a send nobody waits on");
        assert!(explained[0].await_site.is_some() && explained[2].await_site.is_none());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(850_000), "850 µs");
        assert_eq!(human(12_000_000), "12 ms");
        assert_eq!(human(3_400_000_000), "3.4 s");
    }
}
