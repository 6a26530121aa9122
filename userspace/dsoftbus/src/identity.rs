//! Device ids bound to keys, and escaping of network-originated strings for logs.
//!
//! Design notes:
//! - A device id is not chosen, it is *derived* from the device's Noise static public key:
//!   `hex(BLAKE2s-256("NXSB/device-id/v1" || key)[..16])`, 32 lowercase hex digits
//!   ([`DEVICE_ID_LEN`]). Claiming another device's id therefore needs a key that hashes to
//!   it, i.e. a second preimage of 128 bits, or that device's private key (which the Noise
//!   handshake demands). See `docs/dsoftbus.md` §1.1 for the test vector.
//! - The cache drops announces whose id does not derive from their key, and both sides of
//!   the handshake refuse a peer whose authenticated static key does not derive the id it
//!   claims ([`crate::IdentityError::UnboundId`]).
//! - A display name is something else: local configuration, never an identity.
//! - [`Escaped`] prints any string that came from the network (ids, names, services) with
//!   every byte outside printable ASCII written as `\xNN` (and `\\` for a backslash), so a
//!   peer cannot put control characters, line breaks or lookalike text into a console line.

use core::fmt;

use blake2::{Blake2s256, Digest};

use crate::KEY_LEN;

/// Length of a device id in characters (16 hash bytes as lowercase hex).
pub const DEVICE_ID_LEN: usize = 32;

/// Domain separation prefix of the device id hash.
pub const DEVICE_ID_DOMAIN: &[u8] = b"NXSB/device-id/v1";

/// A device id derived from a static key: always [`DEVICE_ID_LEN`] lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; DEVICE_ID_LEN]);

impl DeviceId {
    /// The id of the device holding the private key of `public_key`.
    pub fn of(public_key: &[u8; KEY_LEN]) -> Self {
        let mut h = Blake2s256::new();
        h.update(DEVICE_ID_DOMAIN);
        h.update(public_key);
        let digest = h.finalize();
        let mut out = [0u8; DEVICE_ID_LEN];
        for (i, b) in digest.iter().take(DEVICE_ID_LEN / 2).enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        DeviceId(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// True if `claimed` is exactly the id derived from `public_key`.
    pub fn binds(claimed: &str, public_key: &[u8; KEY_LEN]) -> bool {
        claimed.as_bytes() == DeviceId::of(public_key).0
    }
}

const HEX: [u8; 16] = *b"0123456789abcdef";

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.as_str())
    }
}

/// Displays a network-originated string safely: printable ASCII other than `\` as is,
/// `\` as `\\`, every other byte (controls, DEL, non-ASCII UTF-8) as `\xNN`.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let plain = (0x20..0x7f).contains(&b) && b != b'\\';
            if plain {
                continue;
            }
            f.write_str(self.0.get(start..i).unwrap_or(""))?;
            if b == b'\\' {
                f.write_str("\\\\")?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
            start = i + 1;
        }
        f.write_str(self.0.get(start..).unwrap_or(""))
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn escaping_keeps_printable_ascii_and_hides_the_rest() {
        assert_eq!(format!("{}", Escaped("node-b")), "node-b");
        assert_eq!(
            format!("{}", Escaped("x\nSELFTEST: ok\r\x1b[2J\\é")),
            "x\\x0aSELFTEST: ok\\x0d\\x1b[2J\\\\\\xc3\\xa9"
        );
    }
}
