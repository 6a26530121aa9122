//! The crate's single error type: small, `Copy`, and free of secret-dependent detail.
//!
//! Design notes:
//! - Variants say what class of thing went wrong, never which byte or key; authentication
//!   failures of every kind collapse into `DecryptFailed` so errors leak nothing useful.
//! - Every variant is terminal for the object that returned it (see the crate docs).

use core::fmt;

/// Everything that can go wrong in a handshake or transport call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// A message (or the one a payload would produce) is longer than 65535 bytes.
    MessageTooLarge,
    /// An incoming message is shorter than the fixed overhead of its position.
    MessageTooShort,
    /// The caller's output buffer is too small for the message or payload.
    BufferTooSmall,
    /// Authentication failed: tampered data, a different prologue, or the wrong static key.
    DecryptFailed,
    /// A DH public key is a low-order point (the shared secret would be all zeros).
    InvalidPublicKey,
    /// Called out of turn: read when a write is due, after completion, or split too early.
    WrongState,
    /// The nonce reached 2^64 - 1 (reserved); this direction can send or receive no more.
    NonceExhausted,
    /// An earlier error made this object unusable.
    Poisoned,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::MessageTooLarge => "noise message exceeds 65535 bytes",
            Error::MessageTooShort => "noise message shorter than its fixed overhead",
            Error::BufferTooSmall => "output buffer too small",
            Error::DecryptFailed => "noise message failed authentication",
            Error::InvalidPublicKey => "invalid (low-order) X25519 public key",
            Error::WrongState => "noise call out of order",
            Error::NonceExhausted => "noise nonce space exhausted",
            Error::Poisoned => "noise state unusable after an earlier error",
        };
        f.write_str(text)
    }
}

impl core::error::Error for Error {}
