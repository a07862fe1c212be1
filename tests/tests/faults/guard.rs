//! Guard buffers: a late kernel write into memory the runtime freed shows.
//!
//! The fs tests read into buffers of exactly [`GUARD_SIZE`] bytes (a size
//! nothing else here allocates), filled with [`CANARY`] first. This
//! binary's global allocator does not free a block of that size: it fills
//! it with the canary and keeps it in a quarantine ring. A block leaving
//! the ring (the oldest, once the ring is full) or drained by [`drain`]
//! after the runtime has exited must still be canary from end to end; any
//! other byte is a write into memory the runtime had already given back —
//! a read completing into a buffer freed before its CQE. The ring holds
//! [`QUARANTINE`] blocks, far more than the ops the runtime can have in
//! flight, so a freed-early buffer is still quarantined when the kernel
//! finishes the op.
//!
//! Buffers that come back through a completed future are checked too:
//! past the reported length, the canary must be intact ([`spare_intact`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;

/// Size of every guarded buffer: a prime no other allocation of these
/// tests has.
pub const GUARD_SIZE: usize = 1021;
/// What a guarded buffer holds wherever nothing was meant to write.
pub const CANARY: u8 = 0xA5;
/// Freed guard blocks kept before the oldest is really freed (16 MiB).
const QUARANTINE: usize = 1 << 14;

struct Ring {
    blocks: [usize; QUARANTINE],
    head: usize,
    len: usize,
}

static RING: Mutex<Ring> = Mutex::new(Ring {
    blocks: [0; QUARANTINE],
    head: 0,
    len: 0,
});
static CHECKED: AtomicU64 = AtomicU64::new(0);
static LATE_WRITES: AtomicU64 = AtomicU64::new(0);

fn guard_layout() -> Layout {
    Layout::from_size_align(GUARD_SIZE, 1).expect("a valid layout")
}

/// Checks a quarantined block, then frees it for real.
///
/// # Safety
///
/// `addr` is a block of [`GUARD_SIZE`] bytes from `System.alloc` with
/// [`guard_layout`], quarantined (nothing but a late writer touches it).
unsafe fn release(addr: usize) {
    let ptr = addr as *mut u8;
    // SAFETY: the block is GUARD_SIZE bytes, allocated and not yet freed
    // (the caller's contract); it was fully written with the canary when
    // it entered the quarantine, so every byte is initialized.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, GUARD_SIZE) };
    CHECKED.fetch_add(1, Ordering::Relaxed);
    if bytes.iter().any(|&b| b != CANARY) {
        LATE_WRITES.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: allocated by System with this layout (caller's contract).
    unsafe { System.dealloc(ptr, guard_layout()) };
}

/// The system allocator, with a quarantine for freed guard blocks.
pub struct Quarantine;

// SAFETY: every call is forwarded to `System`, except that freeing a
// guard block may be deferred; a deferred block is still freed exactly
// once, with its layout, and never handed out while quarantined.
unsafe impl GlobalAlloc for Quarantine {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees (a guard block
        // that is grown is simply not quarantined).
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout != guard_layout() {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.dealloc(ptr, layout) };
        }
        // SAFETY: the caller gives back a live block of GUARD_SIZE bytes;
        // it is ours to overwrite now.
        unsafe { std::ptr::write_bytes(ptr, CANARY, GUARD_SIZE) };
        // No allocation happens under this lock (a futex), so the
        // allocator cannot re-enter itself; nothing in it panics.
        let mut ring = RING.lock().unwrap_or_else(|e| e.into_inner());
        let evicted = if ring.len == QUARANTINE {
            let oldest = ring.blocks[ring.head];
            let head = ring.head;
            ring.blocks[head] = ptr as usize;
            ring.head = (head + 1) % QUARANTINE;
            Some(oldest)
        } else {
            let at = (ring.head + ring.len) % QUARANTINE;
            ring.blocks[at] = ptr as usize;
            ring.len += 1;
            None
        };
        drop(ring);
        if let Some(oldest) = evicted {
            // SAFETY: a quarantined guard block, out of the ring now.
            unsafe { release(oldest) };
        }
    }
}

/// What the quarantine found so far (in the whole process).
#[derive(Debug, Clone, Copy)]
pub struct GuardFigures {
    /// Freed guard blocks checked.
    pub checked: u64,
    /// Of which written after they were freed.
    pub late_writes: u64,
}

/// Checks and frees every quarantined block now (call once the runtime
/// whose buffers they were has exited), and returns the totals.
pub fn drain() -> GuardFigures {
    let blocks: Vec<usize> = {
        let mut ring = RING.lock().unwrap_or_else(|e| e.into_inner());
        let taken = (0..ring.len)
            .map(|i| ring.blocks[(ring.head + i) % QUARANTINE])
            .collect();
        ring.len = 0;
        ring.head = 0;
        taken
    };
    for addr in blocks {
        // SAFETY: taken out of the ring above: a quarantined guard block.
        unsafe { release(addr) };
    }
    GuardFigures {
        checked: CHECKED.load(Ordering::Relaxed),
        late_writes: LATE_WRITES.load(Ordering::Relaxed),
    }
}

/// An empty buffer of [`GUARD_SIZE`] bytes of capacity, all canary.
pub fn guarded() -> BytesMut {
    let mut buf = BytesMut::with_capacity(GUARD_SIZE);
    assert_eq!(buf.capacity(), GUARD_SIZE, "BytesMut allocates exactly");
    buf.resize(GUARD_SIZE, CANARY);
    buf.clear();
    buf
}

/// True when every byte past `buf.len()` (up to [`GUARD_SIZE`]) still
/// holds the canary: the kernel wrote only what it reported.
pub fn spare_intact(buf: &mut BytesMut) -> bool {
    let len = buf.len();
    let spare = buf.spare_capacity_mut();
    // SAFETY: `guarded` initialized all GUARD_SIZE bytes; bytes past the
    // length stay initialized memory whatever the length became.
    let spare = unsafe { std::slice::from_raw_parts(spare.as_ptr().cast::<u8>(), spare.len()) };
    len + spare.len() == GUARD_SIZE && spare.iter().all(|&b| b == CANARY)
}
