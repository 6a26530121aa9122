//! rngd's request protocol (shared with its clients).
//!
//! Request: one byte `n` in `1..=MAX_REQUEST`. Reply: exactly `n` bytes from
//! virtio-rng, or an empty reply when the request is malformed or the
//! device failed. Clients must treat a short reply as "no entropy" and never
//! fall back to anything predictable.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Most bytes one request may ask for.
pub const MAX_REQUEST: usize = 64;

/// The number of bytes a request asks for, if well formed.
pub fn decode_request(b: &[u8]) -> Option<usize> {
    match b {
        [n] if (1..=MAX_REQUEST).contains(&(*n as usize)) => Some(*n as usize),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_byte_in_range() {
        assert_eq!(decode_request(&[32]), Some(32));
        assert_eq!(decode_request(&[64]), Some(64));
        assert_eq!(decode_request(&[0]), None);
        assert_eq!(decode_request(&[65]), None);
        assert_eq!(decode_request(&[]), None);
        assert_eq!(decode_request(&[1, 2]), None);
    }
}
