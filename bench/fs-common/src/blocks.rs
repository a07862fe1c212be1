//! The wire protocol and file layout of `ringline-bench blocks`: a client
//! asks for one 4 KiB block of a file by its index, the server reads that
//! block and sends it back.
//!
//! ```text
//! request  (client → server):  u64 block index, little-endian   8 bytes
//! response (server → client):  the block, as stored in the file  4096 bytes
//!
//! a block in the file:  [ u64 index, little-endian | 4088 bytes of noise ]
//! ```
//!
//! Every block starts with its own index, so the client checks each
//! response's first 8 bytes against what it asked for: a server that reads
//! the wrong offset, or answers out of order, fails the run instead of
//! being timed. The noise after the header is derived from the index, so
//! the file is the same every time it is made and never compresses to
//! nothing. One request at a time per connection (closed loop); a server
//! still handles several queued requests in order, and closes a
//! connection that asks for a block past the end of its file.
//!
//! The published-ringline server (`bench/ringline-0.1.2-blocks`) builds
//! outside the workspace and repeats the two lines of parsing it needs.

use crate::xorshift;

/// Bytes per block, and per response.
pub const BLOCK_SIZE: usize = 4096;

/// Bytes per request.
pub const REQUEST_LEN: usize = 8;

/// The request for block `index`.
pub fn request(index: u64) -> [u8; REQUEST_LEN] {
    index.to_le_bytes()
}

/// The block index asked for by the request at the start of `buf`;
/// `None` while fewer than [`REQUEST_LEN`] bytes have arrived.
pub fn parse_request(buf: &[u8]) -> Option<u64> {
    let bytes: [u8; REQUEST_LEN] = buf.get(..REQUEST_LEN)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Where block `index` starts in a file of `file_len` bytes; `None` when
/// the block does not lie wholly inside the file.
pub fn block_offset(index: u64, file_len: u64) -> Option<u64> {
    let start = index.checked_mul(BLOCK_SIZE as u64)?;
    (start.checked_add(BLOCK_SIZE as u64)? <= file_len).then_some(start)
}

/// The index a block (or a response) says it is: its first 8 bytes.
pub fn block_header(block: &[u8]) -> Option<u64> {
    parse_request(block)
}

/// Writes block `index` as the file holds it into `block`.
pub fn fill_block(index: u64, block: &mut [u8; BLOCK_SIZE]) {
    let (header, noise) = block.split_at_mut(8);
    header.copy_from_slice(&index.to_le_bytes());
    // Any non-zero seed will do; the odd multiplier spreads neighbouring
    // indices apart.
    let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for word in noise.chunks_exact_mut(8) {
        word.copy_from_slice(&xorshift(&mut state).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_need_all_eight_bytes() {
        for index in [0, 1, 262_143, u64::MAX] {
            assert_eq!(parse_request(&request(index)), Some(index));
        }
        let mut two = request(7).to_vec();
        two.extend_from_slice(&request(9));
        assert_eq!(parse_request(&two), Some(7), "the first of two queued");
        assert_eq!(parse_request(&two[8..]), Some(9));
        assert_eq!(parse_request(&request(5)[..7]), None);
        assert_eq!(parse_request(&[]), None);
    }

    #[test]
    fn offsets_stay_inside_the_file() {
        let gib = 1u64 << 30;
        assert_eq!(block_offset(0, gib), Some(0));
        assert_eq!(block_offset(3, gib), Some(3 * 4096));
        let last = gib / 4096 - 1;
        assert_eq!(block_offset(last, gib), Some(gib - 4096));
        assert_eq!(block_offset(last + 1, gib), None);
        assert_eq!(block_offset(0, 4095), None, "a partial block is no block");
        assert_eq!(block_offset(u64::MAX, u64::MAX), None, "no overflow");
    }

    #[test]
    fn blocks_carry_their_index_and_differ() {
        let mut a = [0u8; BLOCK_SIZE];
        let mut b = [0u8; BLOCK_SIZE];
        fill_block(41, &mut a);
        fill_block(42, &mut b);
        assert_eq!(block_header(&a), Some(41));
        assert_eq!(block_header(&b), Some(42));
        assert_ne!(a[8..], b[8..]);
        let mut again = [0u8; BLOCK_SIZE];
        fill_block(41, &mut again);
        assert_eq!(a, again, "the same file every time");
    }
}
