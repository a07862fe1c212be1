//! The inspect protocol's request decoder, fed arbitrary bytes in chunks
//! the input chooses itself (see `ringline::inspect::fuzzing`): the line
//! splitter the server uses, one read at a time, then request parsing and
//! answering. A panic is a finding: an invariant of the decoder broke.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringline::inspect::fuzzing::decode_fuzz_input(data);
});
