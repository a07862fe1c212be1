//! Plain, copyable names of a worker's connections and UDP sockets, for
//! code that keeps them outside a task (`DriverCtx`, per-connection maps).

/// A connection's identity: its slot index and the generation of that slot,
/// so a token outliving its connection never reaches the slot's next user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnToken {
    pub(crate) index: u32,
    pub(crate) generation: u32,
    /// The serial of the worker that owns the connection.
    pub(crate) worker: u32,
}

impl ConnToken {
    /// The connection slot index (stable for the connection's life; reused
    /// after it closes). Useful to index per-connection arrays.
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

/// A UDP socket of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpToken(pub(crate) u32);

impl UdpToken {
    /// The socket's index within its worker.
    pub fn index(&self) -> usize {
        self.0 as usize
    }
}
