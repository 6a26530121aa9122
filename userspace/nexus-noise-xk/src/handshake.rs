//! The XK handshake state machine for both roles (`<- s`; `-> e, es`; `<- e, ee`; `-> s, se`).
//!
//! Design notes:
//! - One `HandshakeState` type serves both roles; the role and the next message number decide
//!   whether `write_message` or `read_message` is legal. This mirrors Noise section 5.3.
//! - Randomness is injected: the caller passes the 32-byte ephemeral secret at construction,
//!   either as bytes or as an [`EphemeralKeypair`] whose public half it derived beforehand
//!   (e.g. while idle, so the fixed-base scalar multiplication is off the handshake's
//!   critical path). It MUST be fresh output of a CSPRNG for every handshake; reusing it
//!   breaks the protocol.
//! - Fail closed: any error from `write_message`/`read_message` (bad tag, wrong length, invalid
//!   key, call out of turn, short buffer) wipes the key material and poisons the state. Every
//!   later call returns [`Error::Poisoned`], `split` refuses, and `remote_static` is `None`.
//! - Length checks happen before any cryptography, against the fixed XK layout:
//!   message 1 = `e`(32) + payload + tag(16), message 2 = `e`(32) + payload + tag(16),
//!   message 3 = `enc(s)`(32 + 16) + payload + tag(16); nothing exceeds 65535 bytes.
//! - No allocation: messages and payloads live in caller-provided slices.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{dh, public_key};
use crate::symmetric::SymmetricState;
use crate::transport::TransportState;
use crate::{
    Error, DH_LEN, HASH_LEN, MAX_MESSAGE_LEN, MSG1_OVERHEAD, MSG2_OVERHEAD, MSG3_OVERHEAD, TAG_LEN,
};

/// Which side of the handshake a state plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Knows the responder's static key in advance and sends messages 1 and 3.
    Initiator,
    /// Owns the static key the initiator expects and sends message 2.
    Responder,
}

/// A long-term X25519 key pair. The secret half is wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StaticKeypair {
    secret: [u8; DH_LEN],
    public: [u8; DH_LEN],
}

impl StaticKeypair {
    /// Derives the key pair from 32 secret bytes (clamped by X25519 when used).
    ///
    /// The crate cannot wipe copies of `secret` that the caller keeps; wipe them yourself.
    pub fn from_secret(secret: [u8; DH_LEN]) -> Self {
        let public = public_key(&secret);
        Self { secret, public }
    }

    /// The public half, to be published / pinned by initiators.
    pub fn public_key(&self) -> [u8; DH_LEN] {
        self.public
    }

    /// The secret half, for persisting the key pair (a device's key store). Whoever reads
    /// it can impersonate the device: store it only where the device alone can read it.
    pub fn secret_bytes(&self) -> &[u8; DH_LEN] {
        &self.secret
    }
}

impl fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A handshake's ephemeral X25519 key pair, derived ahead of the handshake. The secret
/// half is wiped on drop; a handshake takes it by value and wipes its own copy when it
/// completes or fails. `From<[u8; 32]>` derives the public half at once.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct EphemeralKeypair {
    secret: [u8; DH_LEN],
    public: [u8; DH_LEN],
}

impl EphemeralKeypair {
    /// Derives the key pair from 32 fresh secret bytes (one fixed-base scalar
    /// multiplication). The crate cannot wipe copies of `secret` the caller keeps.
    pub fn from_secret(secret: [u8; DH_LEN]) -> Self {
        let public = public_key(&secret);
        Self { secret, public }
    }

    /// The public half (sent in message 1 or 2).
    pub fn public_key(&self) -> [u8; DH_LEN] {
        self.public
    }
}

impl From<[u8; DH_LEN]> for EphemeralKeypair {
    fn from(secret: [u8; DH_LEN]) -> Self {
        Self::from_secret(secret)
    }
}

impl fmt::Debug for EphemeralKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralKeypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Position in the three-message pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Msg1,
    Msg2,
    Msg3,
    Done,
    Poisoned,
}

/// Handshake state for `Noise_XK_25519_ChaChaPoly_BLAKE2s`, either role.
///
/// Drive it with [`write_message`](Self::write_message) and
/// [`read_message`](Self::read_message) in pattern order, then call [`split`](Self::split).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct HandshakeState {
    #[zeroize(skip)]
    role: Role,
    #[zeroize(skip)]
    step: Step,
    symmetric: SymmetricState,
    s: [u8; DH_LEN],
    s_pub: [u8; DH_LEN],
    e: [u8; DH_LEN],
    e_pub: [u8; DH_LEN],
    rs: [u8; DH_LEN],
    re: [u8; DH_LEN],
}

impl HandshakeState {
    /// Initiator: `local_static` is our identity, `remote_static` the responder's public key
    /// that we already trust, `ephemeral` 32 fresh random bytes or a key pair derived from
    /// them ([`EphemeralKeypair`]).
    pub fn new_initiator(
        local_static: &StaticKeypair,
        remote_static: &[u8; DH_LEN],
        prologue: &[u8],
        ephemeral: impl Into<EphemeralKeypair>,
    ) -> Self {
        let mut state = Self::new(Role::Initiator, local_static, prologue, ephemeral.into());
        state.rs = *remote_static;
        // Pre-message `<- s`.
        state.symmetric.mix_hash(remote_static);
        state
    }

    /// Responder: `local_static` is the key initiators pin, `ephemeral` 32 fresh random
    /// bytes or a key pair derived from them. The initiator's static key is learned (and
    /// authenticated) from message 3.
    pub fn new_responder(
        local_static: &StaticKeypair,
        prologue: &[u8],
        ephemeral: impl Into<EphemeralKeypair>,
    ) -> Self {
        let mut state = Self::new(Role::Responder, local_static, prologue, ephemeral.into());
        // Pre-message `<- s` (our own static public key).
        let s_pub = state.s_pub;
        state.symmetric.mix_hash(&s_pub);
        state
    }

    fn new(
        role: Role,
        local_static: &StaticKeypair,
        prologue: &[u8],
        ephemeral: EphemeralKeypair,
    ) -> Self {
        let mut symmetric = SymmetricState::new();
        symmetric.mix_hash(prologue);
        Self {
            role,
            step: Step::Msg1,
            symmetric,
            s: local_static.secret,
            s_pub: local_static.public,
            // `ephemeral` is wiped when it drops at the end of this function.
            e: ephemeral.secret,
            e_pub: ephemeral.public,
            rs: [0u8; DH_LEN],
            re: [0u8; DH_LEN],
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True when the next legal call is `write_message` (false when finished or poisoned).
    pub fn is_my_turn(&self) -> bool {
        matches!(
            (self.role, self.step),
            (Role::Initiator, Step::Msg1 | Step::Msg3) | (Role::Responder, Step::Msg2)
        )
    }

    /// True after all three messages were processed successfully.
    pub fn is_finished(&self) -> bool {
        self.step == Step::Done
    }

    /// True once an error has made this state unusable.
    pub fn is_poisoned(&self) -> bool {
        self.step == Step::Poisoned
    }

    /// Bytes the next handshake message adds to its payload (48, 48 or 64), or `None` when the
    /// handshake is finished or poisoned.
    pub fn next_message_overhead(&self) -> Option<usize> {
        match self.step {
            Step::Msg1 => Some(MSG1_OVERHEAD),
            Step::Msg2 => Some(MSG2_OVERHEAD),
            Step::Msg3 => Some(MSG3_OVERHEAD),
            Step::Done | Step::Poisoned => None,
        }
    }

    /// The authenticated remote static public key, once the handshake has finished.
    ///
    /// For the initiator this is the key it was configured with (now proven by the
    /// responder); for the responder it is the initiator's key from message 3. Compare it
    /// against the identity you expect before trusting the session.
    pub fn remote_static(&self) -> Option<[u8; DH_LEN]> {
        self.is_finished().then_some(self.rs)
    }

    /// The handshake hash `h`, once the handshake has finished (for channel binding).
    pub fn handshake_hash(&self) -> Option<[u8; HASH_LEN]> {
        self.is_finished().then(|| self.symmetric.handshake_hash())
    }

    /// Writes the next handshake message carrying `payload` into `out`; returns its length.
    ///
    /// Errors: [`Error::WrongState`] if it is not our turn, [`Error::MessageTooLarge`] if the
    /// message would exceed 65535 bytes, [`Error::BufferTooSmall`], [`Error::InvalidPublicKey`]
    /// (the configured remote static key is a low-order point), [`Error::Poisoned`]. Any error
    /// poisons the state.
    pub fn write_message(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.guard(|state| state.write_inner(payload, out))
    }

    /// Reads the next handshake message from `message`, writing its payload into `payload_out`;
    /// returns the payload length.
    ///
    /// Errors: [`Error::WrongState`] if we should be writing, [`Error::MessageTooShort`] /
    /// [`Error::MessageTooLarge`] for a wrong-sized message, [`Error::BufferTooSmall`],
    /// [`Error::DecryptFailed`] (tampering, wrong prologue, wrong static key),
    /// [`Error::InvalidPublicKey`], [`Error::Poisoned`]. Any error poisons the state.
    pub fn read_message(&mut self, message: &[u8], payload_out: &mut [u8]) -> Result<usize, Error> {
        self.guard(|state| state.read_inner(message, payload_out))
    }

    /// Consumes the finished handshake and returns the transport session.
    ///
    /// Errors: [`Error::WrongState`] before the handshake finished, [`Error::Poisoned`] after
    /// a failure. The handshake secrets are wiped when `self` is dropped here.
    pub fn split(self) -> Result<TransportState, Error> {
        match self.step {
            Step::Done => {}
            Step::Poisoned => return Err(Error::Poisoned),
            Step::Msg1 | Step::Msg2 | Step::Msg3 => return Err(Error::WrongState),
        }
        let (mut initiator_to_responder, mut responder_to_initiator) = self.symmetric.split();
        let (send, recv) = match self.role {
            Role::Initiator => (&initiator_to_responder, &responder_to_initiator),
            Role::Responder => (&responder_to_initiator, &initiator_to_responder),
        };
        let transport = TransportState::new(
            self.role,
            send,
            recv,
            self.rs,
            self.symmetric.handshake_hash(),
        );
        initiator_to_responder.zeroize();
        responder_to_initiator.zeroize();
        Ok(transport)
    }

    /// Runs one step; on error wipes all secrets and marks the state poisoned.
    fn guard<F>(&mut self, step: F) -> Result<usize, Error>
    where
        F: FnOnce(&mut Self) -> Result<usize, Error>,
    {
        if self.step == Step::Poisoned {
            return Err(Error::Poisoned);
        }
        match step(self) {
            Ok(len) => Ok(len),
            Err(err) => {
                self.zeroize();
                self.step = Step::Poisoned;
                Err(err)
            }
        }
    }

    fn write_inner(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        if !self.is_my_turn() {
            return Err(Error::WrongState);
        }
        let overhead = self.next_message_overhead().ok_or(Error::WrongState)?;
        let total = payload
            .len()
            .checked_add(overhead)
            .filter(|total| *total <= MAX_MESSAGE_LEN)
            .ok_or(Error::MessageTooLarge)?;
        if out.len() < total {
            return Err(Error::BufferTooSmall);
        }
        let out = &mut out[..total];
        match self.step {
            Step::Msg1 => {
                // -> e, es
                out[..DH_LEN].copy_from_slice(&self.e_pub);
                self.symmetric.mix_hash(&self.e_pub);
                let es = dh(&self.e, &self.rs)?;
                self.symmetric.mix_key(es.as_bytes());
                self.symmetric
                    .encrypt_and_hash(payload, &mut out[DH_LEN..])?;
                self.step = Step::Msg2;
            }
            Step::Msg2 => {
                // <- e, ee
                out[..DH_LEN].copy_from_slice(&self.e_pub);
                self.symmetric.mix_hash(&self.e_pub);
                let ee = dh(&self.e, &self.re)?;
                self.symmetric.mix_key(ee.as_bytes());
                self.symmetric
                    .encrypt_and_hash(payload, &mut out[DH_LEN..])?;
                self.step = Step::Msg3;
            }
            Step::Msg3 => {
                // -> s, se
                let (enc_s, rest) = out.split_at_mut(DH_LEN + TAG_LEN);
                let s_pub = self.s_pub;
                self.symmetric.encrypt_and_hash(&s_pub, enc_s)?;
                let se = dh(&self.s, &self.re)?;
                self.symmetric.mix_key(se.as_bytes());
                self.symmetric.encrypt_and_hash(payload, rest)?;
                self.finish();
            }
            Step::Done | Step::Poisoned => return Err(Error::WrongState),
        }
        Ok(total)
    }

    fn read_inner(&mut self, message: &[u8], payload_out: &mut [u8]) -> Result<usize, Error> {
        if self.is_my_turn() || matches!(self.step, Step::Done | Step::Poisoned) {
            return Err(Error::WrongState);
        }
        let overhead = self.next_message_overhead().ok_or(Error::WrongState)?;
        if message.len() > MAX_MESSAGE_LEN {
            return Err(Error::MessageTooLarge);
        }
        let payload_len = message
            .len()
            .checked_sub(overhead)
            .ok_or(Error::MessageTooShort)?;
        if payload_out.len() < payload_len {
            return Err(Error::BufferTooSmall);
        }
        let payload_out = &mut payload_out[..payload_len];
        match self.step {
            Step::Msg1 => {
                // -> e, es (responder side)
                self.re.copy_from_slice(&message[..DH_LEN]);
                let re = self.re;
                self.symmetric.mix_hash(&re);
                let es = dh(&self.s, &self.re)?;
                self.symmetric.mix_key(es.as_bytes());
                self.symmetric
                    .decrypt_and_hash(&message[DH_LEN..], payload_out)?;
                self.step = Step::Msg2;
            }
            Step::Msg2 => {
                // <- e, ee (initiator side)
                self.re.copy_from_slice(&message[..DH_LEN]);
                let re = self.re;
                self.symmetric.mix_hash(&re);
                let ee = dh(&self.e, &self.re)?;
                self.symmetric.mix_key(ee.as_bytes());
                self.symmetric
                    .decrypt_and_hash(&message[DH_LEN..], payload_out)?;
                self.step = Step::Msg3;
            }
            Step::Msg3 => {
                // -> s, se (responder side)
                let (enc_s, rest) = message.split_at(DH_LEN + TAG_LEN);
                let mut rs = [0u8; DH_LEN];
                self.symmetric.decrypt_and_hash(enc_s, &mut rs)?;
                self.rs = rs;
                let se = dh(&self.e, &self.rs)?;
                self.symmetric.mix_key(se.as_bytes());
                self.symmetric.decrypt_and_hash(rest, payload_out)?;
                self.finish();
            }
            Step::Done | Step::Poisoned => return Err(Error::WrongState),
        }
        Ok(payload_len)
    }

    /// Marks completion and wipes the ephemeral secret, which is no longer needed.
    fn finish(&mut self) {
        self.e.zeroize();
        self.step = Step::Done;
    }
}

impl fmt::Debug for HandshakeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeState")
            .field("role", &self.role)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    //! White-box checks that failure and completion wipe what they promise to wipe.
    use super::*;

    fn pair() -> (HandshakeState, HandshakeState) {
        let client = StaticKeypair::from_secret([1; 32]);
        let server = StaticKeypair::from_secret([2; 32]);
        (
            HandshakeState::new_initiator(&client, &server.public_key(), b"p", [3; 32]),
            HandshakeState::new_responder(&server, b"p", [4; 32]),
        )
    }

    #[test]
    fn poisoning_wipes_all_secrets() {
        let (_, mut responder) = pair();
        let mut out = [0u8; 64];
        assert!(responder.read_message(&[9u8; 48], &mut out).is_err());
        assert_eq!(responder.s, [0u8; DH_LEN]);
        assert_eq!(responder.e, [0u8; DH_LEN]);
        assert_eq!(responder.re, [0u8; DH_LEN]);
        assert!(responder.symmetric.is_wiped());
        assert_eq!(responder.step, Step::Poisoned);
    }

    #[test]
    fn completion_wipes_the_ephemeral_secret() {
        let (mut initiator, mut responder) = pair();
        let (mut wire, mut out) = ([0u8; 64], [0u8; 64]);
        let n = initiator.write_message(b"", &mut wire).unwrap();
        responder.read_message(&wire[..n], &mut out).unwrap();
        assert_ne!(initiator.e, [0u8; DH_LEN]);
        let n = responder.write_message(b"", &mut wire).unwrap();
        initiator.read_message(&wire[..n], &mut out).unwrap();
        let n = initiator.write_message(b"", &mut wire).unwrap();
        responder.read_message(&wire[..n], &mut out).unwrap();
        assert_eq!(initiator.e, [0u8; DH_LEN]);
        assert_eq!(responder.e, [0u8; DH_LEN]);
    }

    #[test]
    fn a_derived_ephemeral_key_pair_gives_the_same_handshake_as_its_secret() {
        let client = StaticKeypair::from_secret([1; 32]);
        let server = StaticKeypair::from_secret([2; 32]);
        let run = |i: HandshakeState, r: HandshakeState| {
            let (mut i, mut r) = (i, r);
            let (mut wire, mut out) = ([0u8; 96], [0u8; 64]);
            let mut msgs: Vec<Vec<u8>> = Vec::new();
            let n = i.write_message(b"a", &mut wire).unwrap();
            msgs.push(wire[..n].to_vec());
            r.read_message(&wire[..n], &mut out).unwrap();
            let n = r.write_message(b"b", &mut wire).unwrap();
            msgs.push(wire[..n].to_vec());
            i.read_message(&wire[..n], &mut out).unwrap();
            let n = i.write_message(b"c", &mut wire).unwrap();
            msgs.push(wire[..n].to_vec());
            r.read_message(&wire[..n], &mut out).unwrap();
            (msgs, i.handshake_hash().unwrap())
        };
        let bytes = run(
            HandshakeState::new_initiator(&client, &server.public_key(), b"p", [3; 32]),
            HandshakeState::new_responder(&server, b"p", [4; 32]),
        );
        let e_i = EphemeralKeypair::from_secret([3; 32]);
        let e_r = EphemeralKeypair::from_secret([4; 32]);
        assert_eq!(e_i.public_key(), public_key(&[3; 32]));
        let pairs = run(
            HandshakeState::new_initiator(&client, &server.public_key(), b"p", e_i),
            HandshakeState::new_responder(&server, b"p", e_r),
        );
        assert_eq!(bytes, pairs);
    }

    #[test]
    fn secret_holding_types_zeroize_on_drop() {
        fn assert_zeroize_on_drop<T: ZeroizeOnDrop>() {}
        assert_zeroize_on_drop::<StaticKeypair>();
        assert_zeroize_on_drop::<EphemeralKeypair>();
        assert_zeroize_on_drop::<HandshakeState>();
        assert_zeroize_on_drop::<SymmetricState>();
        assert_zeroize_on_drop::<crate::CipherState>();
        assert_zeroize_on_drop::<TransportState>();
    }
}
