//! Transport `CipherState`: one direction of a Noise session (key `k`, counter `n`).
//!
//! Design notes:
//! - Follows Noise section 5.1 with empty associated data for transport messages.
//! - `n = 2^64 - 1` is reserved (it is the rekey nonce), so the last usable nonce is
//!   `2^64 - 2`; asking for another one returns [`Error::NonceExhausted`].
//! - Every error is terminal: after any failed call the state is poisoned and further calls
//!   return [`Error::Poisoned`] (or keep returning `NonceExhausted` when that was the cause).
//!   On an in-order, reliable transport an authentication failure means tampering or a
//!   desynchronised peer; either way the session must be torn down, not retried.
//! - The key is wiped on drop. `Debug` never prints the key.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{aead_decrypt, aead_encrypt};
use crate::{Error, KEY_LEN, MAX_MESSAGE_LEN, TAG_LEN, TRANSPORT_OVERHEAD};

/// The reserved nonce value; never used for a message.
const RESERVED_NONCE: u64 = u64::MAX;

/// One direction of an established Noise transport session.
///
/// Obtained from [`crate::TransportState::into_ciphers`]. Encrypts or decrypts whole transport
/// messages (ciphertext = plaintext + 16-byte tag, at most 65535 bytes) with empty associated
/// data, incrementing the nonce after every successful call.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct CipherState {
    k: [u8; KEY_LEN],
    n: u64,
    poisoned: bool,
    exhausted: bool,
}

impl CipherState {
    /// Builds a state from a split key with nonce 0 (copies the key; the caller wipes its own).
    pub(crate) fn new(k: &[u8; KEY_LEN]) -> Self {
        Self {
            k: *k,
            n: 0,
            poisoned: false,
            exhausted: false,
        }
    }

    /// The nonce the next message will use (also the number of messages processed so far).
    pub fn nonce(&self) -> u64 {
        self.n
    }

    /// True once an error has made this state unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned || self.exhausted
    }

    fn check_usable(&self) -> Result<(), Error> {
        if self.exhausted {
            Err(Error::NonceExhausted)
        } else if self.poisoned {
            Err(Error::Poisoned)
        } else if self.n == RESERVED_NONCE {
            Err(Error::NonceExhausted)
        } else {
            Ok(())
        }
    }

    /// Records a failure: nonce exhaustion stays reported as such, anything else poisons.
    fn fail(&mut self, err: Error) -> Error {
        if err == Error::NonceExhausted {
            self.exhausted = true;
        } else {
            self.poisoned = true;
        }
        err
    }

    /// Encrypts `plaintext` into `out`, returning the ciphertext length
    /// (`plaintext.len() + 16`).
    ///
    /// Errors: [`Error::MessageTooLarge`] if the ciphertext would exceed 65535 bytes,
    /// [`Error::BufferTooSmall`] if `out` cannot hold it, [`Error::NonceExhausted`] when the
    /// nonce space is used up, [`Error::Poisoned`] after any earlier error.
    pub fn encrypt(&mut self, plaintext: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.encrypt_inner(plaintext, out)
            .map_err(|err| self.fail(err))
    }

    fn encrypt_inner(&mut self, plaintext: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.check_usable()?;
        let len = plaintext.len();
        let total = len
            .checked_add(TRANSPORT_OVERHEAD)
            .filter(|total| *total <= MAX_MESSAGE_LEN)
            .ok_or(Error::MessageTooLarge)?;
        if out.len() < total {
            return Err(Error::BufferTooSmall);
        }
        let (body, rest) = out.split_at_mut(len);
        body.copy_from_slice(plaintext);
        let tag = aead_encrypt(&self.k, self.n, &[], body)?;
        rest[..TAG_LEN].copy_from_slice(&tag);
        self.n += 1;
        Ok(total)
    }

    /// Encrypts the first `len` bytes of `buf` in place and writes the tag right after
    /// them, returning the message length (`len + 16`). The same message as
    /// [`encrypt`](Self::encrypt) of `buf[..len]`, without copying the plaintext.
    ///
    /// Errors as [`encrypt`](Self::encrypt) (`BufferTooSmall` if `buf` is shorter than
    /// `len + 16`).
    pub fn encrypt_in_place(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        self.encrypt_in_place_inner(buf, len)
            .map_err(|err| self.fail(err))
    }

    fn encrypt_in_place_inner(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        self.check_usable()?;
        let total = len
            .checked_add(TRANSPORT_OVERHEAD)
            .filter(|total| *total <= MAX_MESSAGE_LEN)
            .ok_or(Error::MessageTooLarge)?;
        let buf = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        let (body, rest) = buf.split_at_mut(len);
        let tag = aead_encrypt(&self.k, self.n, &[], body)?;
        rest.copy_from_slice(&tag);
        self.n += 1;
        Ok(total)
    }

    /// Authenticates and decrypts the message `buf` in place, returning the plaintext
    /// length (`buf.len() - 16`); the plaintext is `buf[..len]`. The same checks as
    /// [`decrypt`](Self::decrypt), without copying the ciphertext. On failure the
    /// plaintext part of `buf` is wiped.
    pub fn decrypt_in_place(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.decrypt_in_place_inner(buf)
            .map_err(|err| self.fail(err))
    }

    fn decrypt_in_place_inner(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.check_usable()?;
        if buf.len() > MAX_MESSAGE_LEN {
            return Err(Error::MessageTooLarge);
        }
        let len = buf
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::MessageTooShort)?;
        let (body, tag) = buf.split_at_mut(len);
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        aead_decrypt(&self.k, self.n, &[], body, &tag_bytes)?;
        self.n += 1;
        Ok(len)
    }

    /// Authenticates and decrypts `ciphertext` into `out`, returning the plaintext length
    /// (`ciphertext.len() - 16`).
    ///
    /// Errors: [`Error::MessageTooLarge`] / [`Error::MessageTooShort`] for a ciphertext longer
    /// than 65535 or shorter than 16 bytes, [`Error::BufferTooSmall`] if `out` cannot hold the
    /// plaintext, [`Error::DecryptFailed`] on a bad tag, [`Error::NonceExhausted`],
    /// [`Error::Poisoned`]. On failure nothing is written to `out` except zeroes.
    pub fn decrypt(&mut self, ciphertext: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.decrypt_inner(ciphertext, out)
            .map_err(|err| self.fail(err))
    }

    fn decrypt_inner(&mut self, ciphertext: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.check_usable()?;
        if ciphertext.len() > MAX_MESSAGE_LEN {
            return Err(Error::MessageTooLarge);
        }
        let len = ciphertext
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(Error::MessageTooShort)?;
        if out.len() < len {
            return Err(Error::BufferTooSmall);
        }
        let (body, tag) = ciphertext.split_at(len);
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        let plain = &mut out[..len];
        plain.copy_from_slice(body);
        aead_decrypt(&self.k, self.n, &[], plain, &tag_bytes)?;
        self.n += 1;
        Ok(len)
    }

    /// Noise `Rekey()`: replaces the key with `ENCRYPT(k, 2^64-1, "", zeros(32))[..32]`.
    ///
    /// The nonce is unchanged. Both peers must rekey at the same point in the message stream.
    pub fn rekey(&mut self) -> Result<(), Error> {
        if self.exhausted {
            return Err(Error::NonceExhausted);
        }
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        let mut buf = [0u8; KEY_LEN];
        match aead_encrypt(&self.k, RESERVED_NONCE, &[], &mut buf) {
            Ok(_tag) => {
                self.k.copy_from_slice(&buf);
                buf.zeroize();
                Ok(())
            }
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Test hook: moves the nonce forward to `n` (never backwards, so it cannot cause nonce
    /// reuse). Used to exercise nonce exhaustion without 2^64 messages.
    ///
    /// Returns [`Error::Poisoned`] if the state is unusable and leaves it unchanged (without
    /// poisoning) if `n` is smaller than the current nonce, returning [`Error::WrongState`].
    #[doc(hidden)]
    pub fn advance_nonce_to(&mut self, n: u64) -> Result<(), Error> {
        if self.poisoned || self.exhausted {
            return Err(Error::Poisoned);
        }
        if n < self.n {
            return Err(Error::WrongState);
        }
        self.n = n;
        Ok(())
    }
}

impl fmt::Debug for CipherState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CipherState")
            .field("n", &self.n)
            .field("poisoned", &self.poisoned)
            .field("exhausted", &self.exhausted)
            .finish_non_exhaustive()
    }
}
