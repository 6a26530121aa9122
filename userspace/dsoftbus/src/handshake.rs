//! Sans-IO session establishment: Noise XK over frames, identity binding, key confirmation.
//!
//! Design notes:
//! - Standard `Noise_XK_25519_ChaChaPoly_BLAKE2s` from `nexus-noise-xk`, prologue
//!   [`PROLOGUE`]. The connecting side is the initiator and pins the responder's static key
//!   taken from the responder's cached announce.
//! - Each handshake message travels in one frame (see [`crate::frame`]); frames larger than
//!   [`MAX_HANDSHAKE_FRAME_LEN`] are rejected while the handshake runs. Payloads:
//!   message 1 is empty; message 2 carries the responder's *claim*, message 3 the
//!   initiator's claim. A claim is `0x01 | id length u8 (1..=64) | device id (UTF-8)`,
//!   nothing else. Both claims are encrypted; the one in message 3 is also
//!   authenticated by the initiator's static key (it follows `s, se`).
//! - Identity binding (both sides, before any [`Session`] exists). Device ids are derived
//!   from static keys ([`DeviceId`]): either side refuses a claim that the authenticated
//!   key does not derive ([`IdentityError::UnboundId`]). Besides:
//!   - initiator: the responder's static key is pinned (XK), and the claim in message 2
//!     must equal the device id we dialled, else [`IdentityError::DeviceIdMismatch`];
//!   - responder: the claim in message 3 names a device id; the [`PeerDirectory`] (the
//!     live peer cache) must know it ([`IdentityError::UnknownDevice`] otherwise) with
//!     exactly the static key the initiator authenticated with
//!     ([`IdentityError::KeyMismatch`] otherwise).
//! - Key confirmation: after message 3 the responder answers with one encrypted record,
//!   CONFIRM (`0x01`, empty) if binding succeeded or REJECT (`0x02`, empty) if it did not,
//!   then closes. The initiator only yields its session after decrypting CONFIRM, so both
//!   sides agree that the session exists, and a rejected initiator learns it
//!   ([`AuthError::Rejected`]) instead of seeing a silent close.
//! - Deadline: every handshake has an absolute `deadline_ns`. [`Handshake::check_deadline`]
//!   fails it with [`AuthError::Timeout`] once `now_ns >= deadline_ns`; the blocking driver
//!   gets the same effect from the sockets facade's deadline-bounded waits.
//! - Fail closed: any error is terminal. The Noise state (wiped on drop), buffers and any
//!   half-built session are dropped at once; only the error and, for a responder that
//!   rejects an identity, the sealed REJECT record remain.
//! - Randomness is injected: each constructor takes the 32-byte ephemeral secret.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use nexus_net::NetError;
use nexus_noise_xk::{EphemeralKeypair, HandshakeState, Role, StaticKeypair};

use crate::announce::{valid_device_id, valid_display_name, Announce, Invalid};
use crate::cache::PeerEntry;
use crate::frame::{write_frame, FrameError, RxBuf};
use crate::identity::DeviceId;
use crate::session::{sealed_len, Session, SessionError, TYPE_CONFIRM, TYPE_REJECT};
use crate::{FRAME_HEADER_LEN, KEY_LEN, MAX_DEVICE_ID_LEN, MAX_HANDSHAKE_FRAME_LEN, PROLOGUE};

/// Version byte at the start of a claim payload.
pub const CLAIM_VERSION: u8 = 1;

/// Largest claim payload (version + length + 64-byte id).
pub const MAX_CLAIM_LEN: usize = 2 + MAX_DEVICE_ID_LEN;

/// Which identity check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityError {
    /// The authenticated static key differs from the key discovered for the device.
    KeyMismatch,
    /// The initiator claims a device id with no live discovery entry.
    UnknownDevice,
    /// The responder claims a different device id than the one we dialled.
    DeviceIdMismatch,
    /// The claimed device id is not the one derived from the authenticated static key.
    UnboundId,
}

/// Why a session could not be established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// The deadline passed before the handshake completed.
    Timeout,
    /// Identity binding failed; no session was built.
    Identity(IdentityError),
    /// The responder rejected our identity (it sent REJECT).
    Rejected,
    /// Noise failure: tampered or forged message, wrong key, invalid public key.
    Noise(nexus_noise_xk::Error),
    /// Framing violation (empty or oversized handshake frame).
    Frame(FrameError),
    /// A message decrypted but its payload or record is not what the protocol expects.
    Malformed,
    /// The peer closed the stream before the handshake completed.
    Closed,
    /// The sockets facade reported an error (driver only).
    Net(NetError),
    /// Called after the handshake finished (session already taken).
    WrongState,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentityError::KeyMismatch => "static key differs from the discovered key",
            IdentityError::UnknownDevice => "claimed device id is not in the peer cache",
            IdentityError::DeviceIdMismatch => "peer claims a different device id",
            IdentityError::UnboundId => "claimed device id does not derive from the peer's key",
        })
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Timeout => f.write_str("handshake timed out"),
            AuthError::Identity(e) => write!(f, "identity mismatch: {e}"),
            AuthError::Rejected => f.write_str("peer rejected our identity"),
            AuthError::Noise(e) => write!(f, "handshake crypto: {e}"),
            AuthError::Frame(e) => write!(f, "handshake framing: {e}"),
            AuthError::Malformed => f.write_str("malformed handshake payload"),
            AuthError::Closed => f.write_str("peer closed the stream during the handshake"),
            AuthError::Net(e) => write!(f, "sockets facade: {e}"),
            AuthError::WrongState => f.write_str("handshake already finished"),
        }
    }
}

impl core::error::Error for IdentityError {}
impl core::error::Error for AuthError {}

impl From<nexus_noise_xk::Error> for AuthError {
    fn from(e: nexus_noise_xk::Error) -> Self {
        AuthError::Noise(e)
    }
}

impl From<FrameError> for AuthError {
    fn from(e: FrameError) -> Self {
        AuthError::Frame(e)
    }
}

impl From<SessionError> for AuthError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Noise(e) => AuthError::Noise(e),
            SessionError::Frame(e) => AuthError::Frame(e),
            SessionError::Closed => AuthError::Closed,
            SessionError::Net(e) => AuthError::Net(e),
            SessionError::Malformed
            | SessionError::TooLarge
            | SessionError::BufferTooSmall
            | SessionError::Poisoned => AuthError::Malformed,
        }
    }
}

/// Maps device ids to the static keys they were discovered with (responder side).
pub trait PeerDirectory {
    /// The static key currently bound to `device_id`, if the device is known and live.
    fn static_key(&self, device_id: &str) -> Option<[u8; KEY_LEN]>;
}

/// A directory that knows nobody (for initiators, which never consult one).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

impl PeerDirectory for NoDirectory {
    fn static_key(&self, _device_id: &str) -> Option<[u8; KEY_LEN]> {
        None
    }
}

/// Our own identity: Noise static key pair, the device id derived from it
/// ([`DeviceId::of`]) and a display name (local configuration, announced as a claim but never
/// treated as an identity).
#[derive(Debug, Clone)]
pub struct LocalIdentity {
    device_id: String,
    name: String,
    keys: StaticKeypair,
}

impl LocalIdentity {
    /// The identity of the holder of `keys`: its device id is derived from the public key.
    pub fn new(keys: StaticKeypair) -> Self {
        let id = DeviceId::of(&keys.public_key());
        LocalIdentity {
            device_id: String::from(id.as_str()),
            name: String::new(),
            keys,
        }
    }

    /// Sets the display name (1..=64 bytes, no control characters; announced and shown in
    /// logs, never an identity).
    pub fn with_name(mut self, name: &str) -> Result<Self, Invalid> {
        if name.is_empty() || !valid_display_name(name) {
            return Err(Invalid::DisplayName);
        }
        self.name = String::from(name);
        Ok(self)
    }

    /// **Attack tests only**: an identity that claims `device_id` while holding `keys`.
    /// Honest peers refuse it ([`IdentityError::UnboundId`]); nothing else uses it.
    #[doc(hidden)]
    pub fn claiming(device_id: &str, keys: StaticKeypair) -> Result<Self, Invalid> {
        if !valid_device_id(device_id) {
            return Err(Invalid::DeviceIdLength);
        }
        Ok(LocalIdentity {
            device_id: String::from(device_id),
            name: String::new(),
            keys,
        })
    }

    /// The display name (empty if none was configured).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Our device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Our static public key (what we announce).
    pub fn public_key(&self) -> [u8; KEY_LEN] {
        self.keys.public_key()
    }

    /// Our static key pair.
    pub fn keys(&self) -> &StaticKeypair {
        &self.keys
    }

    /// The announce describing us.
    pub fn announce<'a>(
        &'a self,
        seq: u32,
        port: u16,
        services: &[&'a str],
    ) -> Result<Announce<'a>, Invalid> {
        Announce::new(&self.device_id, seq, port, self.keys.public_key(), services)?
            .with_display_name(&self.name)
    }
}

/// Encodes a claim payload for `device_id` (already validated) into `out`.
fn write_claim(device_id: &str, out: &mut [u8; MAX_CLAIM_LEN]) -> usize {
    let id = device_id.as_bytes();
    let len = id.len().min(MAX_DEVICE_ID_LEN);
    out[0] = CLAIM_VERSION;
    out[1] = len as u8;
    out[2..2 + len].copy_from_slice(&id[..len]);
    2 + len
}

/// Parses a claim payload strictly: version 1, 1..=64-byte UTF-8 id, no trailing bytes.
fn parse_claim(payload: &[u8]) -> Option<&str> {
    match payload {
        [CLAIM_VERSION, len, id @ ..] if usize::from(*len) == id.len() => core::str::from_utf8(id)
            .ok()
            .filter(|id| valid_device_id(id)),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    AwaitMsg1,
    AwaitMsg2,
    AwaitMsg3,
    AwaitConfirm,
}

/// Everything a running handshake holds; dropped as a whole on completion or failure.
struct Active {
    step: Step,
    noise: Option<HandshakeState>,
    rx: RxBuf,
    local_device_id: String,
    /// Initiator only: the device id and key we dialled.
    expected: Option<(String, [u8; KEY_LEN])>,
    /// Initiator only: the session waiting for CONFIRM.
    session: Option<Session>,
}

enum State {
    Active(Box<Active>),
    Ready(Box<Session>),
    Taken,
    Failed(AuthError),
}

/// What one processed frame led to.
enum Progress {
    Continue,
    NeedMore,
    Established(Box<Session>),
}

/// One side of a session handshake, driven by bytes in and bytes out.
pub struct Handshake {
    role: Role,
    deadline_ns: u64,
    state: State,
    tx: Vec<u8>,
    tx_pos: usize,
}

impl Handshake {
    /// Starts an initiator towards `peer` (message 1 is queued at once).
    ///
    /// Fails only if the peer's announced key is unusable (a low-order X25519 point).
    pub fn initiator(
        local: &LocalIdentity,
        peer: &PeerEntry,
        ephemeral: impl Into<EphemeralKeypair>,
        deadline_ns: u64,
    ) -> Result<Self, AuthError> {
        let mut noise =
            HandshakeState::new_initiator(&local.keys, peer.static_key(), PROLOGUE, ephemeral);
        let mut hs = Handshake::new(Role::Initiator, deadline_ns);
        let mut msg = [0u8; MAX_HANDSHAKE_FRAME_LEN];
        let n = noise.write_message(&[], &mut msg)?;
        push_frame(&mut hs.tx, &msg[..n])?;
        hs.state = State::Active(Box::new(Active {
            step: Step::AwaitMsg2,
            noise: Some(noise),
            rx: RxBuf::new(),
            local_device_id: local.device_id.clone(),
            expected: Some((String::from(peer.device_id()), *peer.static_key())),
            session: None,
        }));
        Ok(hs)
    }

    /// Starts a responder on a freshly accepted stream.
    pub fn responder(
        local: &LocalIdentity,
        ephemeral: impl Into<EphemeralKeypair>,
        deadline_ns: u64,
    ) -> Self {
        let noise = HandshakeState::new_responder(&local.keys, PROLOGUE, ephemeral);
        let mut hs = Handshake::new(Role::Responder, deadline_ns);
        hs.state = State::Active(Box::new(Active {
            step: Step::AwaitMsg1,
            noise: Some(noise),
            rx: RxBuf::new(),
            local_device_id: local.device_id.clone(),
            expected: None,
            session: None,
        }));
        hs
    }

    fn new(role: Role, deadline_ns: u64) -> Self {
        Handshake {
            role,
            deadline_ns,
            state: State::Taken,
            tx: Vec::new(),
            tx_pos: 0,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The absolute deadline given at construction.
    pub fn deadline_ns(&self) -> u64 {
        self.deadline_ns
    }

    /// Bytes to send to the peer now (may be empty).
    pub fn pending_output(&self) -> &[u8] {
        self.tx.get(self.tx_pos..).unwrap_or(&[])
    }

    /// Marks `n` bytes of [`pending_output`](Self::pending_output) as sent.
    pub fn consume_output(&mut self, n: usize) {
        self.tx_pos = (self.tx_pos + n).min(self.tx.len());
        if self.tx_pos == self.tx.len() {
            self.tx.clear();
            self.tx_pos = 0;
        }
    }

    /// True while the handshake still runs (not established, not failed).
    pub fn is_active(&self) -> bool {
        matches!(self.state, State::Active(_))
    }

    /// True once the session is ready (take it with [`take_session`](Self::take_session)).
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    /// True once no handshake state is held any more (failed, or the session was taken).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Failed(_) | State::Taken)
    }

    /// The error that ended the handshake, if it failed.
    pub fn error(&self) -> Option<AuthError> {
        match self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Fails the handshake with `err` once `now_ns >= deadline_ns` (no-op otherwise or when
    /// it is no longer running); returns the current error, if any.
    pub fn check_deadline(&mut self, now_ns: u64) -> Result<(), AuthError> {
        if self.is_active() && now_ns >= self.deadline_ns {
            return Err(self.abort(AuthError::Timeout));
        }
        self.error().map_or(Ok(()), Err)
    }

    /// Ends the handshake with `err`: drops all state and pending output; returns `err`.
    /// A handshake that already failed keeps (and returns) its first error.
    pub fn abort(&mut self, err: AuthError) -> AuthError {
        if let Some(first) = self.error() {
            return first;
        }
        self.fail(err, false)
    }

    fn fail(&mut self, err: AuthError, keep_output: bool) -> AuthError {
        self.state = State::Failed(err);
        if !keep_output {
            self.tx = Vec::new();
            self.tx_pos = 0;
        }
        err
    }

    /// Free receive space to read stream bytes into; empty unless the handshake runs.
    pub fn rx_space(&mut self) -> &mut [u8] {
        match &mut self.state {
            State::Active(a) => a.rx.space(),
            _ => &mut [],
        }
    }

    /// Processes `n` bytes read into [`rx_space`](Self::rx_space). `peers` is consulted by
    /// a responder when message 3 arrives.
    pub fn rx_commit(&mut self, n: usize, peers: &dyn PeerDirectory) -> Result<(), AuthError> {
        match &mut self.state {
            State::Active(a) => a.rx.commit(n),
            State::Failed(e) => return Err(*e),
            _ => return Err(AuthError::WrongState),
        }
        self.process(peers)
    }

    /// Copies and processes received bytes; returns how many were taken. Bytes after the
    /// last handshake frame go to the session. Fewer than `bytes.len()` are taken only
    /// when the session's buffer is full (open its records, then feed the rest).
    pub fn feed(&mut self, bytes: &[u8], peers: &dyn PeerDirectory) -> Result<usize, AuthError> {
        let mut taken = 0;
        loop {
            let rest = &bytes[taken..];
            match &mut self.state {
                State::Active(a) if !rest.is_empty() => match a.rx.feed(rest) {
                    // Unreachable for valid input (a full buffer holds a whole frame,
                    // which `process` consumes); guards against looping forever.
                    0 if a.rx.buffered() > 0 && !a.rx.frame_ready(MAX_HANDSHAKE_FRAME_LEN) => {
                        return Ok(taken)
                    }
                    n => taken += n,
                },
                State::Active(_) => return Ok(taken),
                State::Ready(s) => return Ok(taken + s.feed(rest)),
                State::Failed(e) => return Err(*e),
                State::Taken => return Err(AuthError::WrongState),
            }
            self.process(peers)?;
        }
    }

    /// The established session, once it is ready and all pending output was sent.
    pub fn take_session(&mut self) -> Option<Session> {
        if !self.is_established() || !self.pending_output().is_empty() {
            return None;
        }
        match core::mem::replace(&mut self.state, State::Taken) {
            State::Ready(session) => Some(*session),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Runs every complete frame in the receive buffer through the state machine.
    fn process(&mut self, peers: &dyn PeerDirectory) -> Result<(), AuthError> {
        loop {
            let State::Active(active) = &mut self.state else {
                return self.error().map_or(Ok(()), Err);
            };
            match step(active, &mut self.tx, peers) {
                Ok(Progress::Continue) => {}
                Ok(Progress::NeedMore) => return Ok(()),
                Ok(Progress::Established(session)) => {
                    self.state = State::Ready(session);
                    return Ok(());
                }
                Err(e) => {
                    // A responder keeps its sealed REJECT so the driver can deliver it.
                    let keep = matches!(e, AuthError::Identity(_)) && self.role == Role::Responder;
                    return Err(self.fail(e, keep));
                }
            }
        }
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Active(a) => match a.step {
                Step::AwaitMsg1 => "await msg1",
                Step::AwaitMsg2 => "await msg2",
                Step::AwaitMsg3 => "await msg3",
                Step::AwaitConfirm => "await confirm",
            },
            State::Ready(_) => "established",
            State::Taken => "taken",
            State::Failed(_) => "failed",
        };
        f.debug_struct("Handshake")
            .field("role", &self.role)
            .field("state", &state)
            .field("error", &self.error())
            .field("pending_output", &self.pending_output().len())
            .finish_non_exhaustive()
    }
}

/// Appends `body` as one frame to `tx`.
fn push_frame(tx: &mut Vec<u8>, body: &[u8]) -> Result<(), AuthError> {
    let start = tx.len();
    tx.resize(start + FRAME_HEADER_LEN + body.len(), 0);
    write_frame(body, &mut tx[start..]).ok_or(AuthError::Malformed)?;
    Ok(())
}

/// Seals an empty control record (CONFIRM / REJECT) and appends its frame to `tx`.
fn push_control(session: &mut Session, ty: u8, tx: &mut Vec<u8>) -> Result<(), AuthError> {
    let mut out = [0u8; sealed_len(0)];
    let n = session.seal_raw(ty, &[], &mut out)?;
    tx.extend_from_slice(&out[..n]);
    Ok(())
}

/// Processes at most one frame.
fn step(
    a: &mut Active,
    tx: &mut Vec<u8>,
    peers: &dyn PeerDirectory,
) -> Result<Progress, AuthError> {
    if a.step == Step::AwaitConfirm {
        let session = a.session.as_mut().ok_or(AuthError::WrongState)?;
        // The session decrypts from its own receive buffer: lend it ours. On success it
        // keeps the buffer, including any bytes the peer sent after CONFIRM.
        core::mem::swap(&mut session.rx, &mut a.rx);
        let len = match session.open_raw(MAX_HANDSHAKE_FRAME_LEN)? {
            Some(len) => len,
            None => {
                core::mem::swap(&mut session.rx, &mut a.rx);
                return Ok(Progress::NeedMore);
            }
        };
        return match session.plain(len) {
            (TYPE_CONFIRM, []) => {
                let session = a.session.take().ok_or(AuthError::WrongState)?;
                Ok(Progress::Established(Box::new(session)))
            }
            (TYPE_REJECT, []) => Err(AuthError::Rejected),
            _ => Err(AuthError::Malformed),
        };
    }

    let body = match a.rx.next_frame(MAX_HANDSHAKE_FRAME_LEN)? {
        Some(body) => body,
        None => return Ok(Progress::NeedMore),
    };
    let noise = a.noise.as_mut().ok_or(AuthError::WrongState)?;
    let mut payload = [0u8; MAX_HANDSHAKE_FRAME_LEN];
    let n = noise.read_message(body, &mut payload)?;
    let payload = &payload[..n];
    let mut msg = [0u8; MAX_HANDSHAKE_FRAME_LEN];
    let mut claim = [0u8; MAX_CLAIM_LEN];

    match a.step {
        Step::AwaitMsg1 => {
            // Responder: message 1 carries nothing; answer with our claim in message 2.
            if !payload.is_empty() {
                return Err(AuthError::Malformed);
            }
            let c = write_claim(&a.local_device_id, &mut claim);
            let m = noise.write_message(&claim[..c], &mut msg)?;
            push_frame(tx, &msg[..m])?;
            a.step = Step::AwaitMsg3;
            Ok(Progress::Continue)
        }
        Step::AwaitMsg2 => {
            // Initiator: the responder must claim the device id we dialled.
            let (expected_id, expected_key) = a.expected.as_ref().ok_or(AuthError::WrongState)?;
            let claimed = parse_claim(payload).ok_or(AuthError::Malformed)?;
            if claimed != expected_id.as_str() {
                return Err(AuthError::Identity(IdentityError::DeviceIdMismatch));
            }
            let c = write_claim(&a.local_device_id, &mut claim);
            let m = noise.write_message(&claim[..c], &mut msg)?;
            // XK pins the key, so this holds by construction; checked anyway.
            if noise.remote_static().as_ref() != Some(expected_key) {
                return Err(AuthError::Identity(IdentityError::KeyMismatch));
            }
            // The id must be the one the pinned key derives (a statically configured entry
            // could pair any id with any key).
            if !DeviceId::binds(claimed, expected_key) {
                return Err(AuthError::Identity(IdentityError::UnboundId));
            }
            push_frame(tx, &msg[..m])?;
            let noise = a.noise.take().ok_or(AuthError::WrongState)?;
            a.session = Some(Session::new(noise.split()?, expected_id.clone()));
            a.step = Step::AwaitConfirm;
            Ok(Progress::Continue)
        }
        Step::AwaitMsg3 => {
            // Responder: bind the claimed device id to the authenticated static key.
            let claimed = parse_claim(payload).ok_or(AuthError::Malformed)?;
            let remote = noise.remote_static().ok_or(AuthError::WrongState)?;
            let verdict = match peers.static_key(claimed) {
                // Hard rule first: nobody may claim an id its key does not derive.
                _ if !DeviceId::binds(claimed, &remote) => {
                    Err(AuthError::Identity(IdentityError::UnboundId))
                }
                None => Err(AuthError::Identity(IdentityError::UnknownDevice)),
                Some(key) if key != remote => Err(AuthError::Identity(IdentityError::KeyMismatch)),
                Some(_) => Ok(()),
            };
            let claimed = String::from(claimed);
            let noise = a.noise.take().ok_or(AuthError::WrongState)?;
            let mut session = Session::new(noise.split()?, claimed);
            match verdict {
                Ok(()) => {
                    push_control(&mut session, TYPE_CONFIRM, tx)?;
                    session.rx = core::mem::replace(&mut a.rx, RxBuf::empty());
                    Ok(Progress::Established(Box::new(session)))
                }
                Err(e) => {
                    push_control(&mut session, TYPE_REJECT, tx)?;
                    Err(e)
                }
            }
        }
        Step::AwaitConfirm => Err(AuthError::WrongState),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_strict() {
        let mut buf = [0u8; MAX_CLAIM_LEN];
        let n = write_claim("node-a", &mut buf);
        assert_eq!(parse_claim(&buf[..n]), Some("node-a"));
        assert_eq!(parse_claim(&buf[..n - 1]), None);
        assert_eq!(parse_claim(&[1, 0]), None);
        assert_eq!(parse_claim(&[2, 1, b'a']), None);
        assert_eq!(parse_claim(&[1, 1, b'a', 0]), None);
        assert_eq!(parse_claim(&[1, 1, 0xff]), None);
        assert_eq!(parse_claim(&[]), None);
    }
}
