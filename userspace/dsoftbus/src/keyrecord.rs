//! The persisted identity record: one format for every place a device's static key is
//! kept (dsoftbusd's `kv` record, the Linux peer's state file, `nexus-provision`'s key
//! files and disk images).
//!
//! Design notes:
//! - `"NXID"` | version u8 = 1 | static secret (32 bytes) | static public key (32 bytes),
//!   [`RECORD_LEN`] = 69 bytes. The public key is redundant on purpose: a record whose
//!   public key is not the one its secret gives is damaged and refused, never "repaired"
//!   into another identity (the device id derives from the key, so a silently new key
//!   would be a new device).
//! - The decoder is total: any bytes give a keypair or a reason; it allocates nothing.
//!   Callers overwrite buffers that held a record before dropping them.

use crate::{StaticKeypair, KEY_LEN};

/// First bytes of the record.
pub const RECORD_MAGIC: [u8; 4] = *b"NXID";
/// The only record version.
pub const RECORD_VERSION: u8 = 1;
/// Length of the record.
pub const RECORD_LEN: usize = 4 + 1 + 2 * KEY_LEN;

/// Encodes `keys` (the result holds the secret: overwrite it after use).
pub fn encode(keys: &StaticKeypair) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[..4].copy_from_slice(&RECORD_MAGIC);
    r[4] = RECORD_VERSION;
    r[5..5 + KEY_LEN].copy_from_slice(keys.secret_bytes());
    r[5 + KEY_LEN..].copy_from_slice(&keys.public_key());
    r
}

/// Decodes a record; the error says why it is not one.
pub fn decode(bytes: &[u8]) -> Result<StaticKeypair, &'static str> {
    if bytes.len() != RECORD_LEN {
        return Err("wrong length");
    }
    if bytes[..4] != RECORD_MAGIC {
        return Err("wrong magic");
    }
    if bytes[4] != RECORD_VERSION {
        return Err("unknown version");
    }
    let mut secret = [0u8; KEY_LEN];
    secret.copy_from_slice(&bytes[5..5 + KEY_LEN]);
    let keys = StaticKeypair::from_secret(secret);
    secret.fill(0);
    if keys.public_key()[..] != bytes[5 + KEY_LEN..] {
        return Err("public key does not match the secret");
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_damage_refused() {
        let keys = StaticKeypair::from_secret([0x42; KEY_LEN]);
        let r = encode(&keys);
        assert_eq!(decode(&r).unwrap().public_key(), keys.public_key());
        assert_eq!(decode(&r[..RECORD_LEN - 1]).err(), Some("wrong length"));
        assert_eq!(decode(&[]).err(), Some("wrong length"));
        for (i, why) in [
            (0, "wrong magic"),
            (4, "unknown version"),
            (5 + KEY_LEN, "public key does not match the secret"),
        ] {
            let mut bad = r;
            bad[i] ^= 0x10;
            assert_eq!(decode(&bad).err(), Some(why), "byte {i}");
        }
    }
}
