//! Established XK session: a send and a receive `CipherState` plus the peer's identity.
//!
//! Design notes:
//! - Produced only by [`crate::HandshakeState::split`], so a `TransportState` always belongs to
//!   a handshake that completed successfully; there is no other public constructor.
//! - The initiator sends with the first `Split()` key and receives with the second; the
//!   responder the other way round (Noise section 5.2).
//! - Fail closed: an error in either direction poisons the whole session, so after a tampered
//!   message neither reading nor writing works any more. (Use [`TransportState::into_ciphers`]
//!   if the two directions must be driven independently.)
//! - The remote static key and handshake hash are kept so callers can bind identity and
//!   channel after the handshake object is gone.

use core::fmt;

use zeroize::ZeroizeOnDrop;

use crate::cipher::CipherState;
use crate::handshake::Role;
use crate::{Error, DH_LEN, HASH_LEN, KEY_LEN};

/// A completed Noise XK session.
pub struct TransportState {
    role: Role,
    send: CipherState,
    recv: CipherState,
    remote_static: [u8; DH_LEN],
    handshake_hash: [u8; HASH_LEN],
    poisoned: bool,
}

impl TransportState {
    pub(crate) fn new(
        role: Role,
        send_key: &[u8; KEY_LEN],
        recv_key: &[u8; KEY_LEN],
        remote_static: [u8; DH_LEN],
        handshake_hash: [u8; HASH_LEN],
    ) -> Self {
        Self {
            role,
            send: CipherState::new(send_key),
            recv: CipherState::new(recv_key),
            remote_static,
            handshake_hash,
            poisoned: false,
        }
    }

    /// Our role in the handshake that produced this session.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's authenticated static public key.
    pub fn remote_static(&self) -> &[u8; DH_LEN] {
        &self.remote_static
    }

    /// The final handshake hash `h` (identical on both sides; usable for channel binding).
    pub fn handshake_hash(&self) -> &[u8; HASH_LEN] {
        &self.handshake_hash
    }

    /// True once an error has made this session unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Nonce of the next outgoing message.
    pub fn sending_nonce(&self) -> u64 {
        self.send.nonce()
    }

    /// Nonce expected on the next incoming message.
    pub fn receiving_nonce(&self) -> u64 {
        self.recv.nonce()
    }

    fn run<F>(&mut self, op: F) -> Result<usize, Error>
    where
        F: FnOnce(&mut Self) -> Result<usize, Error>,
    {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        let result = op(self);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Encrypts `payload` (at most 65519 bytes) into `out`; returns the message length
    /// (`payload.len() + 16`). Errors as [`CipherState::encrypt`]; any error poisons.
    pub fn write_message(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.run(|s| s.send.encrypt(payload, out))
    }

    /// Decrypts `message` into `payload_out`; returns the payload length. Errors as
    /// [`CipherState::decrypt`]; any error (e.g. a tampered message) poisons the session.
    pub fn read_message(&mut self, message: &[u8], payload_out: &mut [u8]) -> Result<usize, Error> {
        self.run(|s| s.recv.decrypt(message, payload_out))
    }

    /// [`write_message`](Self::write_message) of `buf[..len]` in place: encrypts it and
    /// writes the tag after it; returns the message length (`len + 16`). See
    /// [`CipherState::encrypt_in_place`]; any error poisons.
    pub fn write_message_in_place(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        self.run(|s| s.send.encrypt_in_place(buf, len))
    }

    /// [`read_message`](Self::read_message) in place: authenticates and decrypts the
    /// message `buf`; the plaintext is `buf[..returned]`. See
    /// [`CipherState::decrypt_in_place`]; any error poisons.
    pub fn read_message_in_place(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.run(|s| s.recv.decrypt_in_place(buf))
    }

    /// Noise `Rekey()` of the sending key.
    pub fn rekey_outgoing(&mut self) -> Result<(), Error> {
        self.run(|s| s.send.rekey().map(|()| 0)).map(|_| ())
    }

    /// Noise `Rekey()` of the receiving key.
    pub fn rekey_incoming(&mut self) -> Result<(), Error> {
        self.run(|s| s.recv.rekey().map(|()| 0)).map(|_| ())
    }

    /// Splits the session into its `(send, receive)` cipher states.
    ///
    /// Errors: [`Error::Poisoned`] if the session already failed.
    pub fn into_ciphers(self) -> Result<(CipherState, CipherState), Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        Ok((self.send, self.recv))
    }

    /// Test hook: see [`CipherState::advance_nonce_to`] (sending direction).
    #[doc(hidden)]
    pub fn advance_sending_nonce_to(&mut self, n: u64) -> Result<(), Error> {
        self.send.advance_nonce_to(n)
    }

    /// Test hook: see [`CipherState::advance_nonce_to`] (receiving direction).
    #[doc(hidden)]
    pub fn advance_receiving_nonce_to(&mut self, n: u64) -> Result<(), Error> {
        self.recv.advance_nonce_to(n)
    }
}

// Both secret-bearing fields are `CipherState`s, which wipe their keys when dropped.
impl ZeroizeOnDrop for TransportState {}

impl fmt::Debug for TransportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportState")
            .field("role", &self.role)
            .field("send", &self.send)
            .field("recv", &self.recv)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}
