//! A blocking client of the inspect socket, used by `ringline-top`, the
//! sidecar exporter and tests.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::socket_dir::socket_path;
use super::wire::{Hello, PROTOCOL_VERSION, Request, Response};
use crate::stats::{ConnectionInfo, TaskInfo};

/// The version of the commands protocol 1 already had: sent with them so
/// that this client also works with servers that speak only version 1.
const V1: u32 = 1;
use crate::stats::{InFlightOp, Snapshot};

/// How long a call waits for the server by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to one process's inspect socket.
///
/// ```no_run
/// let mut client = ringline_schema::inspect::Client::connect(4242)?;
/// let hello = client.hello()?;
/// println!("{} ({}): {} workers", hello.process, hello.pid, hello.workers);
/// for op in client.ops(std::time::Duration::from_secs(1), 10)? {
///     println!("{} stuck for {} ms", op.op, op.age_ns / 1_000_000);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    line: String,
}

impl Client {
    /// Connects to the socket of process `pid` (see
    /// [`socket_path`](super::socket_path)).
    pub fn connect(pid: u32) -> io::Result<Client> {
        Client::connect_path(socket_path(pid))
    }

    /// Connects to the socket at `path`.
    pub fn connect_path(path: impl AsRef<Path>) -> io::Result<Client> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot connect to {}: {e}", path.display()),
            )
        })?;
        Client::from_stream(stream)
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: UnixStream) -> io::Result<Client> {
        stream.set_read_timeout(Some(DEFAULT_TIMEOUT))?;
        stream.set_write_timeout(Some(DEFAULT_TIMEOUT))?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            line: String::new(),
        })
    }

    /// Changes how long calls wait for the server.
    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.writer.set_read_timeout(Some(timeout))?;
        self.writer.set_write_timeout(Some(timeout))
    }

    /// Who is there: pid, process name, version, runtimes, histogram layout.
    pub fn hello(&mut self) -> io::Result<Hello> {
        match self.call(&Request::Hello { v: Some(V1) })? {
            Response::Hello(h) => Ok(h),
            other => Err(unexpected(&other)),
        }
    }

    /// One snapshot of every runtime of the process.
    pub fn snapshot(&mut self) -> io::Result<Snapshot> {
        match self.call(&Request::Snapshot { v: Some(V1) })? {
            Response::Snapshot { snapshot } => Ok(snapshot),
            other => Err(unexpected(&other)),
        }
    }

    /// Ops in flight for at least `min_age`, oldest first, at most `limit`.
    pub fn ops(&mut self, min_age: Duration, limit: usize) -> io::Result<Vec<InFlightOp>> {
        match self.call(&Request::Ops {
            v: Some(V1),
            min_age_ms: min_age.as_millis().min(u64::MAX as u128) as u64,
            limit: Some(limit),
        })? {
            Response::Ops { ops, .. } => Ok(ops),
            other => Err(unexpected(&other)),
        }
    }

    /// Tasks not polled for at least `min_idle` (and every running task),
    /// longest idle first, at most `limit`, each with its wait and verdict.
    /// Needs a server of protocol version 2.
    pub fn tasks(&mut self, min_idle: Duration, limit: usize) -> io::Result<Vec<TaskInfo>> {
        match self.call(&Request::Tasks {
            v: Some(PROTOCOL_VERSION),
            min_idle_ms: min_idle.as_millis().min(u64::MAX as u128) as u64,
            limit: Some(limit),
        })? {
            Response::Tasks { tasks, .. } => Ok(tasks),
            other => Err(unexpected(&other)),
        }
    }

    /// Connections, oldest first, at most `limit`. Needs a server of
    /// protocol version 2.
    pub fn connections(&mut self, limit: usize) -> io::Result<Vec<ConnectionInfo>> {
        match self.call(&Request::Connections {
            v: Some(PROTOCOL_VERSION),
            limit: Some(limit),
        })? {
            Response::Connections { connections } => Ok(connections),
            other => Err(unexpected(&other)),
        }
    }

    /// Has the process write a flight-recorder dump now; the file's path.
    /// Needs a server of protocol version 2 with its recorder on.
    pub fn dump(&mut self) -> io::Result<std::path::PathBuf> {
        match self.call(&Request::Dump {
            v: Some(PROTOCOL_VERSION),
        })? {
            Response::Dumped { path } => Ok(path.into()),
            other => Err(unexpected(&other)),
        }
    }

    /// Turns the connection into a stream of snapshots, one now and one
    /// every `interval` (the server's floor is 50 ms).
    pub fn subscribe(mut self, interval: Duration) -> io::Result<Subscription> {
        self.send(&Request::Subscribe {
            v: Some(V1),
            interval_ms: interval.as_millis().min(u64::MAX as u128) as u64,
        })?;
        // Leave room for the interval itself in the read timeout.
        self.set_timeout(interval + DEFAULT_TIMEOUT)?;
        Ok(Subscription { client: self })
    }

    /// Sends `request` and reads one response; an error response becomes
    /// an `io::Error` carrying its message.
    pub fn call(&mut self, request: &Request) -> io::Result<Response> {
        self.send(request)?;
        match self.receive()? {
            Response::Error { error, message } => Err(io::Error::other(format!(
                "inspect server refused the request ({error}): {message}"
            ))),
            r => Ok(r),
        }
    }

    fn send(&mut self, request: &Request) -> io::Result<()> {
        let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
        line.push(b'\n');
        self.writer.write_all(&line)
    }

    /// Reads the next response line.
    pub fn receive(&mut self) -> io::Result<Response> {
        self.line.clear();
        if self.reader.read_line(&mut self.line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the inspect server closed the connection",
            ));
        }
        serde_json::from_str(&self.line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad line from the inspect server: {e}"),
            )
        })
    }
}

/// Snapshots pushed by a subscription; see [`Client::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    client: Client,
}

impl Subscription {
    /// Blocks for the next snapshot.
    pub fn next_snapshot(&mut self) -> io::Result<Snapshot> {
        match self.client.receive()? {
            Response::Snapshot { snapshot } => Ok(snapshot),
            Response::Error { error, message } => Err(io::Error::other(format!(
                "inspect server error ({error}): {message}"
            ))),
            other => Err(unexpected(&other)),
        }
    }
}

impl Iterator for Subscription {
    type Item = io::Result<Snapshot>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_snapshot())
    }
}

fn unexpected(r: &Response) -> io::Error {
    let kind = match r {
        Response::Hello(_) => "hello",
        Response::Snapshot { .. } => "snapshot",
        Response::Ops { .. } => "ops",
        Response::Tasks { .. } => "tasks",
        Response::Connections { .. } => "connections",
        Response::Dumped { .. } => "dumped",
        Response::Error { .. } => "error",
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected {kind} message from the inspect server"),
    )
}
