//! What the runtime's pools and connection tables hand the stats layer:
//! occupancy and backpressure counts, reported under the pool names of
//! [`SlabKind`] (defined in the schema crate with the op kinds, because
//! its names are the `slab` label and JSON field readers see).

pub(crate) use ringline_schema::stats::kinds::SlabKind;

/// A pool's occupancy, as every pool reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SlabUsage {
    pub(crate) used: u64,
    pub(crate) capacity: u64,
    pub(crate) high_water: u64,
    pub(crate) exhausted_total: u64,
}

/// A worker's receive backpressure and close linger, as its connection
/// table counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NetPressure {
    pub(crate) recv_paused: u64,
    pub(crate) recv_buffered_bytes: u64,
    pub(crate) recv_pauses_total: u64,
    pub(crate) linger_resets_total: u64,
}
