//! CPU time of a process, from the scheduler's own accounting.

use std::io;
use std::time::Duration;

/// Total on-CPU time of every thread of process `pid` so far, in
/// nanoseconds precision (`/proc/<pid>/task/*/schedstat`, first field).
/// Threads that already exited are not counted, so sample a server while
/// its workers live.
pub fn process_cpu(pid: u32) -> io::Result<Duration> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = entry?.path().join("schedstat");
        // A thread may exit between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += parse_schedstat(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected {path:?}: {text:?}"),
            )
        })?;
    }
    Ok(Duration::from_nanos(total))
}

/// User and system CPU time of process `pid` so far (`/proc/<pid>/stat`,
/// clock-tick resolution): where a server's time goes.
pub fn user_system(pid: u32) -> io::Result<(Duration, Duration)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_user_system(&text, clock_ticks_per_sec()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat"),
        )
    })
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: plain libc call without pointers.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// Fields 14 and 15 (utime, stime), counted after the parenthesised
/// command name, which may itself contain spaces.
fn parse_user_system(text: &str, ticks: u64) -> Option<(Duration, Duration)> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let to = |t: u64| Duration::from_nanos(t * 1_000_000_000 / ticks);
    Some((to(utime), to(stime)))
}

/// Machine-wide `(steal, total)` clock ticks so far (`/proc/stat`, first
/// line): the share of time the hypervisor gave our vCPUs to someone else.
pub fn steal_ticks() -> io::Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat")?;
    parse_steal(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/stat"))
}

/// `cpu  user nice system idle iowait irq softirq steal …`.
fn parse_steal(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // guest and guest_nice (9th, 10th) are already inside user and nice.
    let ticks: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    Some((*ticks.get(7)?, ticks.iter().sum()))
}

/// The on-CPU nanoseconds of one `schedstat` line.
fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Pins the calling thread to `cpu` (best effort: returns false when the
/// CPU does not exist or the call is refused).
pub fn pin_current_thread(cpu: usize) -> bool {
    pin(0, &[cpu])
}

/// Pins the calling thread to the set `cpus`.
pub fn pin_current_thread_to(cpus: &[usize]) -> bool {
    pin(0, cpus)
}

/// Pins every thread of process `pid` to `cpu` (threads created later by
/// those threads inherit it).
pub fn pin_process(pid: u32, cpu: usize) -> bool {
    pin_process_to(pid, &[cpu])
}

/// Pins every thread of process `pid` to the set `cpus`.
pub fn pin_process_to(pid: u32, cpus: &[usize]) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut all = true;
    for t in tasks.flatten() {
        if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
            all &= pin(tid, cpus);
        }
    }
    all
}

/// Sets the nice value of every thread of process `pid` (threads created
/// later inherit their creator's). Best effort: lowering it needs root or
/// `CAP_SYS_NICE`, and false says it was refused.
pub fn renice_process(pid: u32, nice: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut all = true;
    for t in tasks.flatten() {
        if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
            all &= renice(tid, nice);
        }
    }
    all
}

/// Sets the calling thread's nice value (best effort, as
/// [`renice_process`]).
pub fn renice_current_thread(nice: i32) -> bool {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    renice(tid as u32, nice)
}

fn renice(tid: u32, nice: i32) -> bool {
    // SAFETY: plain syscall; on Linux PRIO_PROCESS with a thread id sets
    // that one thread's nice value.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) == 0 }
}

fn pin(tid: i32, cpus: &[usize]) -> bool {
    if cpus.is_empty() || cpus.iter().any(|&c| c >= libc::CPU_SETSIZE as usize) {
        return false;
    }
    // SAFETY: a zeroed cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET writes one bit inside `set` (cpu is below
        // CPU_SETSIZE, checked above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: plain syscall on a valid, initialised set of the right size.
    unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// CPUs this process may run on.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_parses_and_our_own_cpu_time_grows() {
        assert_eq!(parse_schedstat("123456 789 10\n"), Some(123_456));
        assert_eq!(
            parse_steal("cpu  100 0 50 800 10 0 5 35 7 0\ncpu0 1 2 3\n"),
            Some((35, 1000))
        );
        assert_eq!(parse_steal("cpu0 1 2 3 4 5 6 7 8\n"), None);
        let (steal, total) = steal_ticks().expect("own /proc/stat");
        assert!(steal <= total && total > 0);
        assert_eq!(parse_schedstat(""), None);
        let stat = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0";
        assert_eq!(
            parse_user_system(stat, 100),
            Some((Duration::from_millis(2500), Duration::from_millis(300)))
        );
        // Burn CPU until our own CPU time has grown by 20 ms: on a loaded
        // machine that takes longer than 20 ms of wall time, so the wall
        // clock only bounds the wait.
        let before = process_cpu(std::process::id()).expect("own schedstat");
        let t = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = before;
        while after < before + Duration::from_millis(20) && t.elapsed() < Duration::from_secs(10) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(31).wrapping_add(1);
            }
            after = process_cpu(std::process::id()).expect("own schedstat");
        }
        std::hint::black_box(x);
        assert!(
            after >= before + Duration::from_millis(20),
            "{before:?} → {after:?} after {:?} of burning CPU",
            t.elapsed()
        );
    }
}
