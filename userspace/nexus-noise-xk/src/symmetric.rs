//! Noise `SymmetricState` (section 5.2): chaining key, handshake hash and the handshake cipher.
//!
//! Design notes:
//! - The handshake-phase `CipherState` is embedded here as `(k, n, has_key)` instead of reusing
//!   the public transport type, because during the handshake the associated data is the
//!   running hash `h` and "no key yet" means pass-through (Noise section 5.1).
//! - `InitializeSymmetric` hashes the 33-byte protocol name (it is longer than `HASHLEN`).
//! - Everything secret (`ck`, `k`) is wiped on drop; `h` is public transcript data but is wiped
//!   too since it costs nothing.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{aead_decrypt, aead_encrypt, hash, hkdf2};
use crate::{Error, HASH_LEN, KEY_LEN, PROTOCOL_NAME, TAG_LEN};

#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SymmetricState {
    ck: [u8; HASH_LEN],
    h: [u8; HASH_LEN],
    k: [u8; KEY_LEN],
    n: u64,
    has_key: bool,
}

impl SymmetricState {
    /// `InitializeSymmetric(protocol_name)`.
    pub(crate) fn new() -> Self {
        let name = PROTOCOL_NAME.as_bytes();
        let h = if name.len() <= HASH_LEN {
            let mut padded = [0u8; HASH_LEN];
            padded[..name.len()].copy_from_slice(name);
            padded
        } else {
            hash(&[name])
        };
        Self {
            ck: h,
            h,
            k: [0u8; KEY_LEN],
            n: 0,
            has_key: false,
        }
    }

    /// `MixHash(data)`: `h = HASH(h || data)`.
    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.h = hash(&[&self.h, data]);
    }

    /// `MixKey(input_key_material)`: new `ck` and a fresh handshake key with `n = 0`.
    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let (mut ck, mut temp_k) = hkdf2(&self.ck, ikm);
        self.ck.copy_from_slice(&ck);
        self.k.copy_from_slice(&temp_k);
        ck.zeroize();
        temp_k.zeroize();
        self.n = 0;
        self.has_key = true;
    }

    /// Bytes `EncryptAndHash` adds to a plaintext of any length.
    pub(crate) fn overhead(&self) -> usize {
        if self.has_key {
            TAG_LEN
        } else {
            0
        }
    }

    /// `EncryptAndHash(plaintext)` writing into `out`; returns the bytes written.
    ///
    /// The caller has already checked that `out` holds `plaintext.len() + overhead()`.
    pub(crate) fn encrypt_and_hash(
        &mut self,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let len = plaintext.len();
        let total = len + self.overhead();
        if out.len() < total {
            return Err(Error::BufferTooSmall);
        }
        out[..len].copy_from_slice(plaintext);
        if self.has_key {
            if self.n == u64::MAX {
                return Err(Error::NonceExhausted);
            }
            let tag = aead_encrypt(&self.k, self.n, &self.h, &mut out[..len])?;
            out[len..total].copy_from_slice(&tag);
            self.n += 1;
        }
        self.mix_hash(&out[..total]);
        Ok(total)
    }

    /// `DecryptAndHash(ciphertext)` writing the plaintext into `out`; returns its length.
    ///
    /// `h` is only updated after the tag has been verified.
    pub(crate) fn decrypt_and_hash(
        &mut self,
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let len = ciphertext
            .len()
            .checked_sub(self.overhead())
            .ok_or(Error::MessageTooShort)?;
        if out.len() < len {
            return Err(Error::BufferTooSmall);
        }
        let (body, tag) = ciphertext.split_at(len);
        out[..len].copy_from_slice(body);
        if self.has_key {
            if self.n == u64::MAX {
                return Err(Error::NonceExhausted);
            }
            let mut tag_bytes = [0u8; TAG_LEN];
            tag_bytes.copy_from_slice(tag);
            aead_decrypt(&self.k, self.n, &self.h, &mut out[..len], &tag_bytes)?;
            self.n += 1;
        }
        self.mix_hash(ciphertext);
        Ok(len)
    }

    /// The handshake hash `h`.
    pub(crate) fn handshake_hash(&self) -> [u8; HASH_LEN] {
        self.h
    }

    /// True if the chaining key and cipher key are all zero (test observation of wiping).
    #[cfg(test)]
    pub(crate) fn is_wiped(&self) -> bool {
        self.ck == [0u8; HASH_LEN] && self.k == [0u8; KEY_LEN] && !self.has_key
    }

    /// `Split()`: the two transport keys `(initiator->responder, responder->initiator)`.
    pub(crate) fn split(&self) -> ([u8; KEY_LEN], [u8; KEY_LEN]) {
        hkdf2(&self.ck, &[])
    }
}
