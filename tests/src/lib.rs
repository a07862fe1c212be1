//! End-to-end tests of ringline: real sockets on loopback, real processes.
//! The tests live in `tests/`; this library holds their shared helpers.
