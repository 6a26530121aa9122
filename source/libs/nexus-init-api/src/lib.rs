//! Init's control protocol: ask init what became of a service.
//!
//! Request: `[op = 1][name: 1..=NAME_MAX bytes UTF-8]`.
//! Reply (24 bytes): `[state u8][0; 7][code u64 LE][addr u64 LE]`, where
//! `code`/`addr` are the exit code, or `scause`/`stval` of a fault.
//! Decoding is total: malformed input is an error, never a panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use nexus_abi::NAME_MAX;

/// Request opcode: status of a named service.
pub const OP_STATUS: u8 = 1;
/// Encoded reply size.
pub const REPLY_SIZE: usize = 24;

/// What init knows of a service.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// No service of that name in the profile.
    Unknown,
    /// Started and not ended.
    Running,
    /// Called exit with this code.
    Exited(u64),
    /// Faulted with (`scause`, `stval`).
    Faulted(u64, u64),
}

/// Protocol errors.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// Wrong length, opcode or state, or a name that is not 1..=24 UTF-8 bytes.
    Malformed,
}

/// Encodes a status request into `out`; returns its length.
pub fn encode_request(name: &str, out: &mut [u8; 1 + NAME_MAX]) -> Result<usize, ProtoError> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(ProtoError::Malformed);
    }
    out[0] = OP_STATUS;
    out[1..1 + name.len()].copy_from_slice(name.as_bytes());
    Ok(1 + name.len())
}

/// Decodes a request: the service name.
pub fn decode_request(b: &[u8]) -> Result<&str, ProtoError> {
    match b {
        [OP_STATUS, name @ ..] if !name.is_empty() && name.len() <= NAME_MAX => {
            core::str::from_utf8(name).map_err(|_| ProtoError::Malformed)
        }
        _ => Err(ProtoError::Malformed),
    }
}

/// Encodes a reply.
pub fn encode_reply(s: Status) -> [u8; REPLY_SIZE] {
    let (state, code, addr) = match s {
        Status::Unknown => (0, 0, 0),
        Status::Running => (1, 0, 0),
        Status::Exited(c) => (2, c, 0),
        Status::Faulted(c, a) => (3, c, a),
    };
    let mut b = [0u8; REPLY_SIZE];
    b[0] = state;
    b[8..16].copy_from_slice(&code.to_le_bytes());
    b[16..24].copy_from_slice(&addr.to_le_bytes());
    b
}

/// Decodes a reply.
pub fn decode_reply(b: &[u8]) -> Result<Status, ProtoError> {
    if b.len() != REPLY_SIZE || b[1..8].iter().any(|&x| x != 0) {
        return Err(ProtoError::Malformed);
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    Ok(match b[0] {
        0 => Status::Unknown,
        1 => Status::Running,
        2 => Status::Exited(word(8)),
        3 => Status::Faulted(word(8), word(16)),
        _ => return Err(ProtoError::Malformed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_roundtrip_and_garbage() {
        let mut buf = [0u8; 1 + NAME_MAX];
        let n = encode_request("fault-store", &mut buf).unwrap();
        assert_eq!(decode_request(&buf[..n]), Ok("fault-store"));
        assert!(encode_request("", &mut buf).is_err());
        assert!(encode_request(&"x".repeat(NAME_MAX + 1), &mut buf).is_err());
        assert!(decode_request(&[]).is_err());
        assert!(decode_request(&[OP_STATUS]).is_err());
        assert!(decode_request(&[9, b'a']).is_err());
        assert!(decode_request(&[OP_STATUS, 0xff, 0xfe]).is_err());
        assert!(decode_request(&[OP_STATUS; 40]).is_err());
    }

    #[test]
    fn reply_roundtrip_and_garbage() {
        for s in [
            Status::Unknown,
            Status::Running,
            Status::Exited(7),
            Status::Faulted(15, 0xdead),
        ] {
            assert_eq!(decode_reply(&encode_reply(s)), Ok(s));
        }
        let mut b = encode_reply(Status::Running);
        b[0] = 4;
        assert!(decode_reply(&b).is_err());
        assert!(decode_reply(&b[..23]).is_err());
        let mut b = encode_reply(Status::Running);
        b[3] = 1;
        assert!(decode_reply(&b).is_err());
    }
}
