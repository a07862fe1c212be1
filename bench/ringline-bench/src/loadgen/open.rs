//! The open-loop client thread: requests due on a fixed schedule, spread
//! round-robin over the thread's connections, written without waiting for
//! earlier echoes (non-blocking sockets and `ppoll` with a nanosecond
//! timeout until the next due time).

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::schedule::{InFlight, Schedule};
use super::{Flags, Load, Outcome, connect};

/// Longest sleep in `ppoll`, so that a stop or a window edge is noticed
/// within a millisecond even at very low rates.
const MAX_WAIT: Duration = Duration::from_millis(1);

/// Offers `rate` requests per second over `n` connections until told to
/// stop.
pub(super) fn client(load: &Load, n: usize, rate: f64, flags: &Flags) -> io::Result<Outcome> {
    let mut conns = connect(load.addr, n)?;
    for c in &conns {
        c.set_nonblocking(true)?;
    }
    tighten_timer_slack();
    let size = load.message_size.max(1);
    // Writes come from one constant pattern, so a backlog of any depth is
    // just a byte count.
    let pattern = vec![0xa5u8; size.max(64 * 1024)];
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut flights: Vec<InFlight> = (0..n).map(|_| InFlight::new(size)).collect();
    let mut unsent = vec![0usize; n];
    let mut pollfds: Vec<libc::pollfd> = conns
        .iter()
        .map(|c| libc::pollfd {
            fd: c.as_raw_fd(),
            events: 0,
            revents: 0,
        })
        .collect();
    let schedule = Schedule::new(rate);
    let start = Instant::now();
    let now_ns = || start.elapsed().as_nanos() as u64;
    let mut out = Outcome::default();
    let mut next = 0u64;
    let mut was_counting = false;

    loop {
        let stop = flags.stop.load(Ordering::Relaxed);
        let counting = flags.counting.load(Ordering::Relaxed) && !stop;
        let now = now_ns();
        if was_counting && !counting {
            close_window(&mut flights, now, &mut out);
        }
        if stop {
            break;
        }
        was_counting = counting;

        // Issue everything due by now.
        while schedule.due_ns(next) <= now {
            let due = schedule.due_ns(next);
            let c = (next % n as u64) as usize;
            flights[c].issue(due, counting);
            unsent[c] += size;
            if counting {
                out.offered += 1;
                out.send_lag.record_n(now - due, 1);
            }
            next += 1;
        }

        for (c, conn) in conns.iter_mut().enumerate() {
            while unsent[c] > 0 {
                let chunk = unsent[c].min(pattern.len());
                match conn.write(&pattern[..chunk]) {
                    Ok(0) => return Err(io::Error::other("server stopped reading")),
                    Ok(m) => unsent[c] -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }

        for (p, (f, u)) in pollfds.iter_mut().zip(flights.iter().zip(&unsent)) {
            p.events = if f.is_empty() { 0 } else { libc::POLLIN }
                | if *u > 0 { libc::POLLOUT } else { 0 };
            p.revents = 0;
        }
        let wait_ns = schedule
            .due_ns(next)
            .saturating_sub(now_ns())
            .min(MAX_WAIT.as_nanos() as u64);
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: wait_ns as libc::c_long,
        };
        // SAFETY: `pollfds` is a live array of `n` initialised pollfds and
        // `timeout` a live timespec; no signal mask is passed.
        let ready = unsafe {
            libc::ppoll(
                pollfds.as_mut_ptr(),
                n as libc::nfds_t,
                &timeout,
                std::ptr::null(),
            )
        };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if ready == 0 {
            continue;
        }
        let now = now_ns();
        for (c, conn) in conns.iter_mut().enumerate() {
            if pollfds[c].revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) == 0 {
                continue;
            }
            loop {
                match conn.read(&mut rbuf) {
                    Ok(0) => return Err(io::Error::other("server closed a connection")),
                    Ok(m) => flights[c].received(m, now, |ns| out.record(ns)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(out)
}

/// The measured window closed at `now`: every counted request still in
/// flight is charged its latency so far and counted as incomplete.
fn close_window(flights: &mut [InFlight], now: u64, out: &mut Outcome) {
    let mut stuck = Vec::new();
    for f in flights {
        out.incomplete += f.close_window(now, |ns| stuck.push(ns));
    }
    for ns in stuck {
        out.record_latency(ns);
    }
}

/// Asks for 1 µs timer slack (the default 50 µs would make every `ppoll`
/// wake late and send in bursts). Best effort.
fn tighten_timer_slack() {
    // SAFETY: plain prctl on the calling thread with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000, 0, 0, 0) };
}
