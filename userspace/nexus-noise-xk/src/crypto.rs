//! Primitive layer: BLAKE2s, HMAC/HKDF-BLAKE2s, X25519 and ChaCha20-Poly1305 as Noise uses them.
//!
//! Design notes:
//! - HMAC is written out here (RFC 2104 with BLAKE2s, block length 64) rather than taken from a
//!   generic crate so that every key-derived buffer (padded key, inner digest) is wiped before
//!   it goes out of scope. Noise only ever feeds 32-byte keys, which are shorter than the block,
//!   so the "hash the key first" branch of RFC 2104 is never needed and is not implemented.
//! - HKDF is the two-output form from Noise section 4.3; Noise never asks for a third output
//!   in XK without PSK.
//! - The AEAD nonce is the Noise ChaChaPoly encoding: 32 zero bits then the 64-bit counter in
//!   little-endian order.
//! - DH refuses a non-contributory (all-zero) result, as Noise section 4.1 permits ("it is also
//!   acceptable for the DH() function to signal an error"); this rejects low-order points.

use blake2::{Blake2s256, Digest};
use chacha20poly1305::{
    aead::{AeadInOut, KeyInit},
    ChaCha20Poly1305, Nonce, Tag,
};
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};
use zeroize::Zeroize;

use crate::{Error, DH_LEN, HASH_LEN, KEY_LEN, TAG_LEN};

/// BLAKE2s block length in bytes (HMAC pads keys to this).
const BLOCK_LEN: usize = 64;

/// `HASH(a || b || ...)` with BLAKE2s-256. Used only for public transcript data.
pub(crate) fn hash(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut hasher = Blake2s256::new();
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0u8; HASH_LEN];
    hasher.finalize_into((&mut out).into());
    out
}

/// `HMAC-HASH(key, data_1 || data_2 || ...)` per RFC 2104 with BLAKE2s-256.
fn hmac(key: &[u8; HASH_LEN], data: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut pad = [0u8; BLOCK_LEN];
    pad[..HASH_LEN].copy_from_slice(key);
    pad.iter_mut().for_each(|b| *b ^= 0x36);

    let mut inner = Blake2s256::new();
    inner.update(pad);
    for part in data {
        inner.update(part);
    }
    let mut inner_out = [0u8; HASH_LEN];
    inner.finalize_into((&mut inner_out).into());

    // Turn the ipad-masked key into the opad-masked key in place.
    pad.iter_mut().for_each(|b| *b ^= 0x36 ^ 0x5c);
    let mut outer = Blake2s256::new();
    outer.update(pad);
    outer.update(inner_out);
    let mut out = [0u8; HASH_LEN];
    outer.finalize_into((&mut out).into());

    pad.zeroize();
    inner_out.zeroize();
    out
}

/// Two-output `HKDF(chaining_key, input_key_material)` from Noise section 4.3.
pub(crate) fn hkdf2(chaining_key: &[u8; HASH_LEN], ikm: &[u8]) -> ([u8; HASH_LEN], [u8; HASH_LEN]) {
    let mut temp_key = hmac(chaining_key, &[ikm]);
    let out1 = hmac(&temp_key, &[&[0x01]]);
    let out2 = hmac(&temp_key, &[&out1, &[0x02]]);
    temp_key.zeroize();
    (out1, out2)
}

/// X25519 public key for a 32-byte secret (the secret is clamped by X25519 itself).
pub(crate) fn public_key(secret: &[u8; DH_LEN]) -> [u8; DH_LEN] {
    // `StaticSecret` wipes its copy of the scalar on drop.
    let secret = StaticSecret::from(*secret);
    PublicKey::from(&secret).to_bytes()
}

/// `DH(secret, public)`; the returned value wipes itself on drop.
pub(crate) fn dh(secret: &[u8; DH_LEN], public: &[u8; DH_LEN]) -> Result<SharedSecret, Error> {
    let secret = StaticSecret::from(*secret);
    let shared = secret.diffie_hellman(&PublicKey::from(*public));
    if shared.was_contributory() {
        Ok(shared)
    } else {
        Err(Error::InvalidPublicKey)
    }
}

/// The 96-bit ChaChaPoly nonce for counter `n`.
fn nonce(n: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::from(bytes)
}

/// `ENCRYPT(k, n, ad, plaintext)`: encrypts `buf` in place and returns the detached tag.
pub(crate) fn aead_encrypt(
    key: &[u8; KEY_LEN],
    n: u64,
    ad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], Error> {
    let cipher = ChaCha20Poly1305::new(key.into());
    let tag = cipher
        .encrypt_inout_detached(&nonce(n), ad, buf.into())
        .map_err(|_| Error::MessageTooLarge)?;
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&tag);
    Ok(out)
}

/// `DECRYPT(k, n, ad, ciphertext)`: checks `tag` and decrypts `buf` in place.
///
/// On failure `buf` is wiped so that no unauthenticated plaintext is left behind.
pub(crate) fn aead_decrypt(
    key: &[u8; KEY_LEN],
    n: u64,
    ad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), Error> {
    let cipher = ChaCha20Poly1305::new(key.into());
    let tag = Tag::from(*tag);
    match cipher.decrypt_inout_detached(&nonce(n), ad, (&mut *buf).into(), &tag) {
        Ok(()) => Ok(()),
        Err(_) => {
            buf.zeroize();
            Err(Error::DecryptFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    //! Unit checks of the primitive layer against published RFC test vectors.
    use super::*;

    fn unhex(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn blake2s_empty_matches_rfc7693_reference() {
        // BLAKE2s-256("") from the BLAKE2 reference test vectors.
        assert_eq!(
            hash(&[]),
            unhex("69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9")
        );
    }

    #[test]
    fn hmac_equals_manual_construction() {
        // HMAC computed by the textbook formula with one-shot hashes.
        let key = [0x0bu8; 32];
        let msg = b"Hi There";
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for i in 0..32 {
            ipad[i] ^= key[i];
            opad[i] ^= key[i];
        }
        let inner = hash(&[&ipad, msg]);
        let expected = hash(&[&opad, &inner]);
        assert_eq!(hmac(&key, &[msg]), expected);
        // Split input gives the same MAC as contiguous input.
        assert_eq!(hmac(&key, &[b"Hi ", b"There"]), expected);
    }

    #[test]
    fn x25519_matches_rfc7748_section_6_1() {
        let alice = unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let bob_pub = unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        assert_eq!(
            public_key(&alice),
            unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            dh(&alice, &bob_pub).unwrap().as_bytes(),
            &unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        );
    }

    #[test]
    fn dh_rejects_low_order_point() {
        let secret = [7u8; 32];
        assert_eq!(dh(&secret, &[0u8; 32]).err(), Some(Error::InvalidPublicKey));
    }

    #[test]
    fn aead_roundtrip_and_tamper() {
        let key = [9u8; 32];
        let mut buf = *b"attack at dawn";
        let tag = aead_encrypt(&key, 5, b"ad", &mut buf).unwrap();
        let mut copy = buf;
        aead_decrypt(&key, 5, b"ad", &mut copy, &tag).unwrap();
        assert_eq!(&copy, b"attack at dawn");
        let mut copy = buf;
        assert_eq!(
            aead_decrypt(&key, 6, b"ad", &mut copy, &tag),
            Err(Error::DecryptFailed)
        );
        assert_eq!(copy, [0u8; 14], "failed decryption must wipe the buffer");
    }
}
