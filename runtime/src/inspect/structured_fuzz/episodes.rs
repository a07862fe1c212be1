//! One client's life against the live server: scripted streams with an
//! ending, a client that never reads, a pipeliner, a crowd past the cap.

use super::*;

/// How a client's episode ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ending {
    /// Shuts its writing side and reads everything until EOF.
    HalfClose,
    /// Closes without reading.
    Vanish,
    /// Leaves a line unfinished and goes silent: dropped after `STALL`.
    StallMidLine,
}

/// Reads lines until EOF; an error (the deadline) fails the episode.
pub(super) fn read_all(r: UnixStream) -> JoinHandle<Result<Vec<Vec<u8>>, String>> {
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(r);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return Ok(lines),
                Ok(_) if line.ends_with(b"\n") => lines.push(line),
                Ok(_) => return Err(format!("a response cut short: {}", preview(&line))),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(lines),
                Err(e) => return Err(format!("reading responses: {e}")),
            }
        }
    })
}

/// One client: a random stream, sent in random chunks, ended one way.
pub(super) fn scripted_episode(
    rng: &mut Rng,
    server: &Running,
    figures: &Figures,
) -> Result<(), String> {
    let mut stream = Vec::new();
    let (mut lines, mut bad) = (0u64, 0u64);
    for _ in 0..1 + rng.below(40) {
        let (line, is_bad) = any_line(rng);
        stream.extend_from_slice(&line);
        lines += 1;
        bad += u64::from(is_bad);
    }
    let ending = *rng.pick(&[
        Ending::HalfClose,
        Ending::HalfClose,
        Ending::HalfClose,
        Ending::Vanish,
        Ending::StallMidLine,
    ]);
    if let Ending::StallMidLine = ending {
        let partial = valid_request(rng);
        stream.extend_from_slice(&partial[..rng.upto(partial.len() - 1).max(1)]);
    }
    Figures::add(&figures.lines, lines);
    Figures::add(&figures.bad_lines, bad);
    Figures::add(&figures.bytes, stream.len() as u64);
    let mut ours = server.connect();
    if let Ending::Vanish = ending {
        let _ = write_chunked(rng, &mut ours, &stream);
        return Ok(());
    }
    let want = expected(&stream);
    // After an oversize line the server must close by itself: the client
    // then never half-closes, and waits for EOF.
    let server_closes = want.last() == Some(&Expect::Error("oversize"));
    let reader = read_all(ours.try_clone().map_err(|e| e.to_string())?);
    let started = Instant::now();
    // The server may close first (oversize, busy): a failed write is fine,
    // what was read decides.
    if write_chunked(rng, &mut ours, &stream).is_ok()
        && let Ending::HalfClose = ending
        && !server_closes
    {
        let _ = ours.shutdown(Shutdown::Write);
    }
    let got = reader.join().map_err(|_| "reader panicked".to_string())??;
    let got = check_responses(&got, &want)
        .map_err(|e| format!("{e}\n  ending {ending:?}, stream {}", preview(&stream)))?;
    let Got::Served(n) = got else {
        Figures::add(&figures.busy, 1);
        return Ok(());
    };
    Figures::add(&figures.responses, n);
    if let Ending::StallMidLine = ending
        && !server_closes
    {
        let took = started.elapsed();
        if took < STALL {
            return Err(format!("a stalled client was dropped after {took:?}"));
        }
        Figures::add(&figures.dropped_stalled, 1);
    }
    Ok(())
}

/// A client that asks and never reads: dropped once its output stalls.
pub(super) fn non_reader_episode(server: &Running, figures: &Figures) -> Result<(), String> {
    let mut ours = server.connect();
    let deadline = Instant::now() + STALL + Duration::from_secs(8);
    let ask = b"{\"cmd\":\"hello\"}\n{\"cmd\":\"snapshot\"}\n";
    let mut sent = 0u64;
    while Instant::now() < deadline {
        match ours.write_all(ask) {
            Ok(()) => sent += 2,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                Figures::add(&figures.lines, sent);
                Figures::add(&figures.bytes, sent / 2 * ask.len() as u64);
                Figures::add(&figures.dropped_non_readers, 1);
                return Ok(());
            }
            Err(e) => return Err(format!("non-reader write: {e}")),
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(format!(
        "a client that never reads was not dropped within {:?} ({sent} requests)",
        STALL + Duration::from_secs(8)
    ))
}

/// Hundreds of requests in one write (as many as one turn reads), then a
/// half-close: every one is answered, in order, however little output the
/// server may hold at once.
pub(super) fn pipeline_episode(
    rng: &mut Rng,
    server: &Running,
    figures: &Figures,
) -> Result<(), String> {
    let asks: [&[u8]; 4] = [
        b"{\"cmd\":\"hello\"}\n",
        b"{\"cmd\":\"snapshot\"}\n",
        b"{\"cmd\":\"ops\",\"min_age_ms\":0}\n",
        b"nope\n",
    ];
    let mut stream = Vec::new();
    let count = 200 + rng.below(500);
    for _ in 0..count {
        // Mostly `hello`: the largest answer that does not depend on what
        // else runs in this process.
        let ask = if rng.chance(70) {
            asks[0]
        } else {
            *rng.pick(&asks)
        };
        stream.extend_from_slice(ask);
    }
    let mut ours = server.connect();
    let reader = read_all(ours.try_clone().map_err(|e| e.to_string())?);
    ours.write_all(&stream)
        .map_err(|e| format!("pipeline write: {e}"))?;
    let _ = ours.shutdown(Shutdown::Write);
    let got = reader.join().map_err(|_| "reader panicked".to_string())??;
    match check_responses(&got, &expected(&stream))
        .map_err(|e| format!("pipeline of {count}: {e}"))?
    {
        Got::Served(n) => Figures::add(&figures.responses, n),
        Got::Busy => Figures::add(&figures.busy, 1),
    }
    Figures::add(&figures.lines, count);
    Figures::add(&figures.bytes, stream.len() as u64);
    Ok(())
}

/// More clients than the cap at once: the ones past it get `busy` and EOF.
pub(super) fn crowd_episode(server: &Running, figures: &Figures) -> Result<(), String> {
    let crowd: Vec<UnixStream> = (0..MAX_CLIENTS + 4).map(|_| server.connect()).collect();
    let (mut admitted, mut busy) = (0, 0);
    for mut c in crowd.iter() {
        c.write_all(b"{\"cmd\":\"hello\"}\n")
            .or_else(|e| match e.kind() {
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| format!("crowd write: {e}"))?;
    }
    for c in crowd {
        let mut line = String::new();
        let mut r = BufReader::new(c);
        r.read_line(&mut line)
            .map_err(|e| format!("crowd read: {e}"))?;
        match serde_json::from_str::<Response>(&line) {
            Ok(Response::Hello(_)) => admitted += 1,
            Ok(Response::Error { error, .. }) if error == "busy" => {
                // The server closes with our request unread: EOF or a reset.
                let mut rest = Vec::new();
                match r.read_to_end(&mut rest) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                    Err(e) => return Err(format!("after busy: {e}")),
                }
                if !rest.is_empty() {
                    return Err(format!("bytes after busy: {rest:?}"));
                }
                busy += 1;
            }
            other => return Err(format!("crowd got {other:?} from {line:?}")),
        }
    }
    // The sentinel holds one slot, so at most MAX_CLIENTS - 1 get in.
    if admitted >= MAX_CLIENTS || busy < 5 {
        return Err(format!("{admitted} admitted, {busy} busy"));
    }
    Figures::add(&figures.busy, busy);
    Figures::add(&figures.lines, (MAX_CLIENTS + 4) as u64);
    Ok(())
}
