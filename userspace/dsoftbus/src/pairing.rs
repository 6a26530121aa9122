//! PIN pairing: SPAKE2 bound to both devices' static keys, with key confirmation and
//! rate limits (sans-IO; the daemon carries the messages on a `pairing` stream).
//!
//! Design notes:
//! - The PAKE is SPAKE2 over Ed25519 from the `spake2` crate (RustCrypto's, `no_std` +
//!   `alloc`). The password is the 6-digit PIN as six ASCII digits; SPAKE2's identities
//!   are the initiator's and the responder's Noise static public keys (in that order), so
//!   the shared key exists only between the two devices that hold those keys and both
//!   know the PIN. An eavesdropper learns nothing it can test PINs against offline; an
//!   active attacker tests at most one PIN per exchange.
//! - Key confirmation: both sides MAC the transcript (both keys, the Noise handshake hash
//!   of the session the exchange runs over, both PAKE messages) with keyed BLAKE2s under
//!   the SPAKE2 key, the responder first. A wrong PIN or a relay between two sessions
//!   (other keys, other handshake hash) fails confirmation on both sides.
//! - Randomness comes from the caller: [`SeededRng`] expands 32 bytes of entropy (rngd)
//!   with keyed BLAKE2s into the `RngCore + CryptoRng` the crate asks for.
//! - Rate limits live with the responder ([`PinDesk`]): a shown PIN allows at most
//!   [`MAX_ATTEMPTS`] exchanges, one at a time, and dies after its validity or one
//!   success; every exchange counts as a failure from the moment the responder answers
//!   (an attacker learns whether its one guess was right from that answer, so an
//!   abandoned exchange is a failed one) until the initiator's confirmation proves the
//!   PIN. Each failure also backs the peer off exponentially ([`BACKOFF_BASE_NS`] doubling
//!   to [`BACKOFF_MAX_NS`]), answered `RateLimited`.
//! - Wire format and sequence: `docs/dsoftbus.md` §15.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use blake2::digest::{KeyInit, Mac};
use blake2::{Blake2s256, Blake2sMac256, Digest};
use rand_core::{CryptoRng, RngCore};
use spake2::{Ed25519Group, Identity, Password, Spake2};

use crate::KEY_LEN;

/// The reserved stream service name pairing runs on.
pub const PAIRING: &str = "pairing";
/// Exchanges a shown PIN allows before it is withdrawn.
pub const MAX_ATTEMPTS: u8 = 3;
/// Longest validity of a shown PIN.
pub const MAX_PIN_VALID_NS: u64 = 300_000_000_000;
/// First per-peer back-off after a failed exchange.
pub const BACKOFF_BASE_NS: u64 = 1_000_000_000;
/// Longest per-peer back-off.
pub const BACKOFF_MAX_NS: u64 = 64_000_000_000;
/// Peers whose failures are remembered (the oldest back-off is forgotten first).
pub const MAX_BACKOFF_PEERS: usize = 16;
/// The initiator must confirm within this time after the responder answered.
pub const EXCHANGE_NS: u64 = 10_000_000_000;
/// Largest PIN (6 digits).
pub const MAX_PIN: u32 = 999_999;
/// Pairing protocol version (second byte of PAKE_A).
pub const PAIRING_VERSION: u8 = 1;

/// Bytes of a SPAKE2 message (side byte + Ed25519 point).
pub const PAKE_MSG_LEN: usize = 33;
/// Bytes of a confirmation MAC.
pub const CONFIRM_LEN: usize = 32;

/// Message types on the pairing stream.
pub mod kind {
    /// Initiator's PAKE message.
    pub const PAKE_A: u8 = 0x01;
    /// Responder's PAKE message and confirmation.
    pub const PAKE_B: u8 = 0x02;
    /// Initiator's confirmation.
    pub const CONFIRM_A: u8 = 0x03;
    /// Outcome (either side).
    pub const VERDICT: u8 = 0x04;
}

const DOMAIN: &[u8] = b"NXSB/pair/v1";
const LABEL_A: &[u8] = b"NXSB/pair/confirm-A";
const LABEL_B: &[u8] = b"NXSB/pair/confirm-B";
const LABEL_RNG: &[u8] = b"NXSB/pair/rng";

/// Outcome codes of a VERDICT message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Paired: the sender added the other device to its trust store.
    Ok,
    /// Confirmation failed (wrong PIN or someone in between).
    WrongPin,
    /// The responder shows no PIN (never, expired, used or withdrawn).
    NotPairing,
    /// Too many failures with this device, or another exchange is running.
    RateLimited,
    /// A message that does not fit the protocol.
    Protocol,
}

impl Verdict {
    /// Wire code.
    pub fn code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::WrongPin => 1,
            Verdict::NotPairing => 2,
            Verdict::RateLimited => 3,
            Verdict::Protocol => 4,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Verdict::Ok,
            1 => Verdict::WrongPin,
            2 => Verdict::NotPairing,
            3 => Verdict::RateLimited,
            4 => Verdict::Protocol,
            _ => return None,
        })
    }

    /// The VERDICT message.
    pub fn message(self) -> [u8; 2] {
        [kind::VERDICT, self.code()]
    }
}

/// Why pairing failed (either side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairError {
    /// Confirmation failed: the PIN did not match or the messages were changed.
    WrongPin,
    /// The responder shows no PIN.
    NotPairing,
    /// Rate limited by the responder.
    RateLimited,
    /// A malformed or unexpected message.
    Protocol,
    /// PIN out of range.
    BadPin,
    /// The stream or session ended, or the exchange ran past its deadline.
    Gone,
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PairError::WrongPin => "wrong PIN",
            PairError::NotPairing => "not showing a PIN",
            PairError::RateLimited => "rate limited",
            PairError::Protocol => "pairing protocol error",
            PairError::BadPin => "PIN out of range",
            PairError::Gone => "pairing stream ended",
        })
    }
}

impl core::error::Error for PairError {}

impl From<Verdict> for PairError {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::WrongPin => PairError::WrongPin,
            Verdict::NotPairing => PairError::NotPairing,
            Verdict::RateLimited => PairError::RateLimited,
            Verdict::Ok | Verdict::Protocol => PairError::Protocol,
        }
    }
}

/// A decoded pairing message (borrowing the stream message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairMsg<'a> {
    /// `01 | version | spake2 A (33)`.
    PakeA(&'a [u8; PAKE_MSG_LEN]),
    /// `02 | spake2 B (33) | confirm_B (32)`.
    PakeB(&'a [u8; PAKE_MSG_LEN], &'a [u8; CONFIRM_LEN]),
    /// `03 | confirm_A (32)`.
    ConfirmA(&'a [u8; CONFIRM_LEN]),
    /// `04 | code`.
    Verdict(Verdict),
}

impl<'a> PairMsg<'a> {
    /// Decodes one stream message. Total: exact lengths, known codes, else `Protocol`.
    pub fn decode(m: &'a [u8]) -> Result<Self, PairError> {
        let (&t, rest) = m.split_first().ok_or(PairError::Protocol)?;
        match t {
            kind::PAKE_A => {
                let (&v, pake) = rest.split_first().ok_or(PairError::Protocol)?;
                if v != PAIRING_VERSION {
                    return Err(PairError::Protocol);
                }
                Ok(PairMsg::PakeA(
                    pake.try_into().map_err(|_| PairError::Protocol)?,
                ))
            }
            kind::PAKE_B if rest.len() == PAKE_MSG_LEN + CONFIRM_LEN => {
                let (p, c) = rest.split_at(PAKE_MSG_LEN);
                Ok(PairMsg::PakeB(
                    p.try_into().map_err(|_| PairError::Protocol)?,
                    c.try_into().map_err(|_| PairError::Protocol)?,
                ))
            }
            kind::CONFIRM_A => Ok(PairMsg::ConfirmA(
                rest.try_into().map_err(|_| PairError::Protocol)?,
            )),
            kind::VERDICT if rest.len() == 1 => Verdict::from_code(rest[0])
                .map(PairMsg::Verdict)
                .ok_or(PairError::Protocol),
            _ => Err(PairError::Protocol),
        }
    }
}

/// What the exchange is bound to: both static keys in fixed roles and the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// Static public key of the device that entered the PIN (opened the stream).
    pub initiator_key: [u8; KEY_LEN],
    /// Static public key of the device that shows the PIN.
    pub responder_key: [u8; KEY_LEN],
    /// Noise handshake hash of the session the stream runs on.
    pub session_hash: [u8; 32],
}

/// A `RngCore + CryptoRng` over 32 bytes of caller entropy: block `i` is
/// `BLAKE2s-MAC(key = seed, "NXSB/pair/rng" || i as u64 big-endian)`.
pub struct SeededRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededRng {
    /// An expander of `seed` (must come from a CSPRNG, e.g. rngd).
    pub fn new(seed: [u8; 32]) -> Self {
        SeededRng {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut mac = <Blake2sMac256 as KeyInit>::new_from_slice(&self.seed)
            .unwrap_or_else(|_| <Blake2sMac256 as KeyInit>::new(&Default::default()));
        Mac::update(&mut mac, LABEL_RNG);
        Mac::update(&mut mac, &self.counter.to_be_bytes());
        self.block.copy_from_slice(&mac.finalize().into_bytes());
        self.counter = self.counter.wrapping_add(1);
        self.used = 0;
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            if self.used == self.block.len() {
                self.refill();
            }
            *d = self.block[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for SeededRng {}

/// A PIN drawn uniformly from 0..=999999 by rejection sampling of u32 values
/// (values ≥ 4 294 000 000 are drawn again); `None` if `next` runs dry or 64 draws in
/// a row were rejected (practically impossible with real entropy).
pub fn draw_pin(mut next: impl FnMut() -> Option<u32>) -> Option<u32> {
    const LIMIT: u32 = (u32::MAX / (MAX_PIN + 1)) * (MAX_PIN + 1);
    for _ in 0..64 {
        let x = next()?;
        if x < LIMIT {
            return Some(x % (MAX_PIN + 1));
        }
    }
    None
}

/// The PIN as SPAKE2's password: six ASCII digits.
fn password(pin: u32) -> Password {
    let mut d = [b'0'; 6];
    let mut n = pin;
    for i in (0..6).rev() {
        d[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    Password::new(d)
}

fn start(pin: u32, b: &Binding, seed: [u8; 32], a_side: bool) -> (Spake2<Ed25519Group>, Vec<u8>) {
    let pw = password(pin);
    let ia = Identity::new(&b.initiator_key);
    let ib = Identity::new(&b.responder_key);
    let rng = SeededRng::new(seed);
    if a_side {
        Spake2::<Ed25519Group>::start_a_with_rng(&pw, &ia, &ib, rng)
    } else {
        Spake2::<Ed25519Group>::start_b_with_rng(&pw, &ia, &ib, rng)
    }
}

/// The two confirmation MACs (initiator's, responder's) of an exchange.
fn confirmations(
    key: &[u8],
    b: &Binding,
    msg_a: &[u8],
    msg_b: &[u8],
) -> ([u8; CONFIRM_LEN], [u8; CONFIRM_LEN]) {
    let mut h = Blake2s256::new();
    Digest::update(&mut h, DOMAIN);
    Digest::update(&mut h, b.initiator_key);
    Digest::update(&mut h, b.responder_key);
    Digest::update(&mut h, b.session_hash);
    Digest::update(&mut h, msg_a);
    Digest::update(&mut h, msg_b);
    let th = h.finalize();
    let mac = |label: &[u8]| {
        let mut m = <Blake2sMac256 as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <Blake2sMac256 as KeyInit>::new(&Default::default()));
        Mac::update(&mut m, label);
        Mac::update(&mut m, &th);
        let mut out = [0u8; CONFIRM_LEN];
        out.copy_from_slice(&m.finalize().into_bytes());
        out
    };
    (mac(LABEL_A), mac(LABEL_B))
}

/// Constant-time equality of two MACs.
fn mac_eq(a: &[u8; CONFIRM_LEN], b: &[u8; CONFIRM_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum InitState {
    AwaitB {
        spake: alloc::boxed::Box<Spake2<Ed25519Group>>,
        msg_a: [u8; PAKE_MSG_LEN],
    },
    AwaitVerdict,
    Done,
}

/// The device that entered the PIN: sends PAKE_A, checks the responder's confirmation,
/// sends its own, and waits for the verdict.
pub struct PairInitiator {
    binding: Binding,
    state: InitState,
}

/// What the initiator does after a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitStep {
    /// Send this message (CONFIRM_A) and wait for the verdict.
    Send(Vec<u8>),
    /// Paired: the responder trusts us now; trust it too.
    Paired,
}

impl PairInitiator {
    /// Starts an exchange with `pin`; returns the PAKE_A message to send first.
    pub fn start(pin: u32, binding: Binding, seed: [u8; 32]) -> Result<(Self, Vec<u8>), PairError> {
        if pin > MAX_PIN {
            return Err(PairError::BadPin);
        }
        let (spake, m) = start(pin, &binding, seed, true);
        let msg_a: [u8; PAKE_MSG_LEN] = m.as_slice().try_into().map_err(|_| PairError::Protocol)?;
        let mut out = Vec::with_capacity(2 + PAKE_MSG_LEN);
        out.push(kind::PAKE_A);
        out.push(PAIRING_VERSION);
        out.extend_from_slice(&msg_a);
        Ok((
            PairInitiator {
                binding,
                state: InitState::AwaitB {
                    spake: alloc::boxed::Box::new(spake),
                    msg_a,
                },
            },
            out,
        ))
    }

    /// Feeds one message from the responder. Every error is final; on `WrongPin`
    /// and `Protocol` the caller sends [`Verdict::message`] of the matching verdict.
    pub fn on_message(&mut self, m: &[u8]) -> Result<InitStep, PairError> {
        let state = core::mem::replace(&mut self.state, InitState::Done);
        match (state, PairMsg::decode(m)?) {
            (InitState::AwaitB { spake, msg_a }, PairMsg::PakeB(msg_b, confirm_b)) => {
                let key = spake.finish(msg_b).map_err(|_| PairError::Protocol)?;
                let (ca, cb) = confirmations(&key, &self.binding, &msg_a, msg_b);
                if !mac_eq(&cb, confirm_b) {
                    return Err(PairError::WrongPin);
                }
                self.state = InitState::AwaitVerdict;
                let mut out = Vec::with_capacity(1 + CONFIRM_LEN);
                out.push(kind::CONFIRM_A);
                out.extend_from_slice(&ca);
                Ok(InitStep::Send(out))
            }
            (InitState::AwaitVerdict, PairMsg::Verdict(Verdict::Ok)) => Ok(InitStep::Paired),
            (InitState::AwaitB { .. } | InitState::AwaitVerdict, PairMsg::Verdict(v)) => {
                Err(PairError::from(v))
            }
            _ => Err(PairError::Protocol),
        }
    }
}

/// The responder's half of one exchange: what it expects as the initiator's MAC.
pub struct PairResponder {
    peer: String,
    expect: [u8; CONFIRM_LEN],
    deadline_ns: u64,
}

impl PairResponder {
    /// The device on the other end.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The initiator must confirm before this time.
    pub fn deadline_ns(&self) -> u64 {
        self.deadline_ns
    }
}

struct Shown {
    pin: u32,
    until_ns: u64,
    attempts: u8,
}

/// The responder's policy: the shown PIN, the running exchange, per-peer back-off.
#[derive(Default)]
pub struct PinDesk {
    shown: Option<Shown>,
    active: Option<(String, u64)>,
    /// (peer, failures, not before).
    backoff: Vec<(String, u32, u64)>,
}

impl PinDesk {
    /// Nothing shown, nobody backed off.
    pub fn new() -> Self {
        PinDesk::default()
    }

    /// Shows `pin` for `valid_ns` (clamped to 1 ns..=[`MAX_PIN_VALID_NS`]); replaces
    /// any PIN shown before (and its attempt count).
    pub fn show(&mut self, pin: u32, now_ns: u64, valid_ns: u64) -> Result<(), PairError> {
        if pin > MAX_PIN {
            return Err(PairError::BadPin);
        }
        self.shown = Some(Shown {
            pin,
            until_ns: now_ns.saturating_add(valid_ns.clamp(1, MAX_PIN_VALID_NS)),
            attempts: 0,
        });
        Ok(())
    }

    /// Withdraws the shown PIN.
    pub fn withdraw(&mut self) {
        self.shown = None;
    }

    /// True while a PIN is shown, valid and has attempts left.
    pub fn showing(&self, now_ns: u64) -> bool {
        self.shown
            .as_ref()
            .is_some_and(|s| now_ns < s.until_ns && s.attempts < MAX_ATTEMPTS)
    }

    /// When `peer` may start its next exchange (`None` = now).
    pub fn backed_off_until(&self, peer: &str, now_ns: u64) -> Option<u64> {
        self.backoff
            .iter()
            .find(|(p, _, t)| p == peer && *t > now_ns)
            .map(|(_, _, t)| *t)
    }

    /// True while an exchange runs (not past its deadline).
    pub fn busy(&self, now_ns: u64) -> bool {
        self.active.as_ref().is_some_and(|(_, t)| now_ns < *t)
    }

    /// Answers PAKE_A `m` from `peer`: the responder half and the PAKE_B message to
    /// send, or the verdict to send instead. From here on the exchange counts as a
    /// failure until [`finish`](Self::finish) sees a valid confirmation.
    pub fn begin(
        &mut self,
        peer: &str,
        m: &[u8],
        binding: Binding,
        seed: [u8; 32],
        now_ns: u64,
    ) -> Result<(PairResponder, Vec<u8>), Verdict> {
        let msg_a = match PairMsg::decode(m) {
            Ok(PairMsg::PakeA(a)) => a,
            _ => return Err(Verdict::Protocol),
        };
        if !self.showing(now_ns) {
            self.shown = None;
            return Err(Verdict::NotPairing);
        }
        if self.backed_off_until(peer, now_ns).is_some() || self.busy(now_ns) {
            return Err(Verdict::RateLimited);
        }
        let Some(shown) = self.shown.as_mut() else {
            return Err(Verdict::NotPairing);
        };
        let (spake, msg_b) = start(shown.pin, &binding, seed, false);
        let Ok(msg_b) = <[u8; PAKE_MSG_LEN]>::try_from(msg_b.as_slice()) else {
            return Err(Verdict::Protocol);
        };
        // Counted now: PAKE_B's confirmation tells the initiator whether its PIN was right.
        shown.attempts += 1;
        self.fail(peer, now_ns);
        let Ok(key) = spake.finish(msg_a) else {
            // A malformed point still costs an attempt.
            return Err(Verdict::Protocol);
        };
        let (ca, cb) = confirmations(&key, &binding, msg_a, &msg_b);
        let deadline_ns = now_ns.saturating_add(EXCHANGE_NS);
        self.active = Some((String::from(peer), deadline_ns));
        let mut out = Vec::with_capacity(1 + PAKE_MSG_LEN + CONFIRM_LEN);
        out.push(kind::PAKE_B);
        out.extend_from_slice(&msg_b);
        out.extend_from_slice(&cb);
        Ok((
            PairResponder {
                peer: String::from(peer),
                expect: ca,
                deadline_ns,
            },
            out,
        ))
    }

    /// Checks the initiator's message after PAKE_B: a valid CONFIRM_A before the
    /// deadline is [`Verdict::Ok`] (the PIN is used up, the peer's failures forgotten:
    /// trust it); anything else a failure (already counted).
    pub fn finish(&mut self, ex: PairResponder, m: &[u8], now_ns: u64) -> Verdict {
        self.end(&ex.peer);
        if now_ns >= ex.deadline_ns {
            return Verdict::WrongPin;
        }
        match PairMsg::decode(m) {
            Ok(PairMsg::ConfirmA(c)) if mac_eq(c, &ex.expect) => {
                self.shown = None;
                self.backoff.retain(|(p, _, _)| *p != ex.peer);
                Verdict::Ok
            }
            Ok(PairMsg::ConfirmA(_)) | Ok(PairMsg::Verdict(_)) => Verdict::WrongPin,
            _ => Verdict::Protocol,
        }
    }

    /// The exchange with `peer` ended without a confirmation (stream reset, session
    /// gone, deadline): it stays counted as a failure.
    pub fn abandon(&mut self, ex: PairResponder) {
        self.end(&ex.peer);
    }

    fn end(&mut self, peer: &str) {
        if self.active.as_ref().is_some_and(|(p, _)| p == peer) {
            self.active = None;
        }
        if self
            .shown
            .as_ref()
            .is_some_and(|s| s.attempts >= MAX_ATTEMPTS)
        {
            self.shown = None;
        }
    }

    fn fail(&mut self, peer: &str, now_ns: u64) {
        let fails = match self.backoff.iter().position(|(p, _, _)| p == peer) {
            Some(i) => self.backoff.swap_remove(i).1,
            None => 0,
        }
        .saturating_add(1);
        if self.backoff.len() >= MAX_BACKOFF_PEERS {
            // Forget the back-off that ends first (the PIN's attempt limit still holds).
            if let Some(i) = (0..self.backoff.len()).min_by_key(|&i| self.backoff[i].2) {
                self.backoff.swap_remove(i);
            }
        }
        let delay = BACKOFF_BASE_NS
            .saturating_mul(1u64 << (fails - 1).min(16))
            .min(BACKOFF_MAX_NS);
        self.backoff
            .push((String::from(peer), fails, now_ns.saturating_add(delay)));
    }
}
