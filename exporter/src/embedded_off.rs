//! Without the `embedded` feature: the same two types as `embedded.rs`,
//! holding nothing, so the endpoint code has no `cfg` of its own. What
//! builds this way (the sidecar) serves through `Builder::serve_with`.

use std::fmt;

use crate::Error;

/// No embedded options.
#[derive(Debug, Default)]
pub(crate) struct Options {}

impl Options {
    /// Nothing to refuse.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// Nothing besides the listener.
#[derive(Default)]
pub(crate) struct Running {}

impl Running {
    /// Nothing to show.
    #[inline]
    pub(crate) fn describe(&self, _d: &mut fmt::DebugStruct<'_, '_>) {}
}
