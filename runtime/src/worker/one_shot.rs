//! The worker's view of one-shot ops (connects, file ops): each lives in
//! the table of the layer that started it (`net`, `fs`), which completes
//! and reaps it; the worker routes requests from other threads to the
//! right layer (and `publish` reports both tables as one pool of op slots
//! and one graveyard).

use std::sync::Arc;

use super::Worker;
use crate::executor::foreign::ForeignWait;
use crate::op::OpOwner;
use crate::slab::Key;

impl Worker {
    /// Another thread dropped or polled the future of op `op` of `owner`'s
    /// table (see `executor::foreign`).
    pub(super) fn orphan_op_notify(
        &self,
        owner: OpOwner,
        op: Key,
        notify: Option<Arc<ForeignWait>>,
    ) {
        match owner {
            OpOwner::Net => self.net().orphan_connect(op, notify),
            OpOwner::Fs => self.fs().orphan_op(op, notify),
        }
    }
}
