//! DSoftBus byte streams: handshake framing and state machines, and the
//! encrypted record layer of an established `Session`.
//!
//! The first byte picks a mode (`% 4`):
//! * 0: a responder `Handshake` fed the stream (message 1, message 3, then
//!   records); its directory knows the initiator's device id and key.
//! * 1: an initiator `Handshake` (message 1 already sent) fed the stream
//!   (message 2, CONFIRM / REJECT, then records).
//! * 2: a session pair from a real in-memory handshake; the input lists up
//!   to 8 records the peer seals (`ctl: u8, len: u16 LE, bytes`, preceded by
//!   their count), then up to 4 edits `(pos: u16, xor: u8)` and a cut length
//!   applied to the sealed stream before the receiver opens it.
//! * 3: the same session pair; the receiver is fed raw fuzz bytes.
//!
//! The byte after the mode sets how the stream is delivered: chunk size
//! `(b & 63) + 1`, through `feed` (bit 7 clear) or `rx_space`/`rx_commit`.
//!
//! Invariants: never panics and never stalls; a failed handshake holds no
//! session and keeps failing; an errored session is poisoned and yields
//! nothing more; in mode 2 the receiver opens exactly the genuine records,
//! in order, and none from the first edited frame on (AEAD); in mode 3 no
//! record ever opens (forged bytes never authenticate).
#![no_main]

use dsoftbus::{
    Handshake, LocalIdentity, NoDirectory, PeerDirectory, PeerEntry, Record, Session, SessionError,
    StaticKeypair, KEY_LEN, MAX_RECORD_PAYLOAD, MAX_WIRE_FRAME,
};
use libfuzzer_sys::fuzz_target;
use neuron_fuzz::{
    Input, INITIATOR_EPHEMERAL, INITIATOR_ID, INITIATOR_SECRET, RESPONDER_EPHEMERAL, RESPONDER_ID,
    RESPONDER_SECRET,
};
use nexus_net::Ipv4Addr;
use std::sync::OnceLock;

const DEADLINE: u64 = 1_000_000_000;

/// The responder's view of discovery: exactly the initiator.
struct Dir([u8; KEY_LEN]);

impl PeerDirectory for Dir {
    fn static_key(&self, device_id: &str) -> Option<[u8; KEY_LEN]> {
        // Ids are derived from keys: the one key we know answers for its own id.
        dsoftbus::DeviceId::binds(device_id, &self.0).then_some(self.0)
    }
}

/// Both identities; their public keys are derived once per process.
fn identities() -> (LocalIdentity, LocalIdentity) {
    static IDS: OnceLock<(LocalIdentity, LocalIdentity)> = OnceLock::new();
    IDS.get_or_init(|| {
        let a = LocalIdentity::new(StaticKeypair::from_secret(INITIATOR_SECRET))
            .with_name(INITIATOR_ID);
        let b = LocalIdentity::new(StaticKeypair::from_secret(RESPONDER_SECRET))
            .with_name(RESPONDER_ID);
        (a.unwrap(), b.unwrap())
    })
    .clone()
}

fn initiator(a: &LocalIdentity, b: &LocalIdentity) -> Handshake {
    let announce = b.announce(1, 34568, &[]).unwrap();
    let entry = PeerEntry::from_announce(&announce, Ipv4Addr::new(10, 0, 0, 2), 0);
    Handshake::initiator(a, &entry, INITIATOR_EPHEMERAL, DEADLINE).unwrap()
}

/// Runs a real handshake in memory; returns (initiator, responder) sessions.
fn session_pair() -> (Session, Session) {
    let (a, b) = identities();
    let dir = Dir(a.public_key());
    let mut init = initiator(&a, &b);
    let mut resp = Handshake::responder(&b, RESPONDER_EPHEMERAL, DEADLINE);
    while !(init.is_established() && resp.is_established()) {
        let out = init.pending_output().to_vec();
        init.consume_output(out.len());
        resp.feed(&out, &dir).unwrap();
        let out = resp.pending_output().to_vec();
        resp.consume_output(out.len());
        init.feed(&out, &NoDirectory).unwrap();
    }
    (init.take_session().unwrap(), resp.take_session().unwrap())
}

/// An owned copy of a record, to compare after the session borrow ends.
#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Ping(u64),
    Pong(u64),
    Data(Vec<u8>),
    Close,
}

impl From<Record<'_>> for Owned {
    fn from(r: Record<'_>) -> Self {
        match r {
            Record::Ping(t) => Owned::Ping(t),
            Record::Pong(t) => Owned::Pong(t),
            Record::Data(d) => Owned::Data(d.to_vec()),
            Record::Close => Owned::Close,
        }
    }
}

/// Opens every complete record; `Err` once the session failed.
fn drain(s: &mut Session, opened: &mut Vec<Owned>) -> Result<(), SessionError> {
    loop {
        match s.open() {
            Ok(Some(r)) => opened.push(r.into()),
            Ok(None) => return Ok(()),
            Err(e) => {
                assert!(s.is_poisoned());
                assert_eq!(s.open().err(), Some(SessionError::Poisoned));
                assert!(s.record_ready());
                return Err(e);
            }
        }
    }
}

/// Delivers `stream` to `s` in chunks, opening records as they complete.
fn deliver(s: &mut Session, stream: &[u8], how: u8, opened: &mut Vec<Owned>) {
    let step = usize::from(how & 63) + 1;
    let mut rest = stream;
    while !rest.is_empty() {
        let part = &rest[..step.min(rest.len())];
        let n = if how & 0x80 == 0 {
            s.feed(part)
        } else {
            let space = s.rx_space();
            let n = part.len().min(space.len());
            space[..n].copy_from_slice(&part[..n]);
            s.rx_commit(n);
            n
        };
        rest = &rest[n..];
        let before = opened.len();
        if drain(s, opened).is_err() {
            return;
        }
        // A full buffer always holds a complete frame (or an error): no stall.
        assert!(
            n > 0 || opened.len() > before,
            "session stalled on a full buffer"
        );
    }
}

/// Feeds `stream` to a handshake; returns whether it established.
fn handshake(hs: &mut Handshake, stream: &[u8], how: u8, peers: &dyn PeerDirectory) -> bool {
    let step = usize::from(how & 63) + 1;
    let mut rest = stream;
    while !rest.is_empty() && hs.is_active() {
        let part = &rest[..step.min(rest.len())];
        let res = if how & 0x80 == 0 {
            hs.feed(part, peers)
        } else {
            let space = hs.rx_space();
            let n = part.len().min(space.len());
            space[..n].copy_from_slice(&part[..n]);
            hs.rx_commit(n, peers).map(|()| n)
        };
        match res {
            Ok(n) => {
                assert!(n > 0 || !hs.is_active(), "handshake stalled");
                rest = &rest[n..];
            }
            Err(e) => {
                assert!(hs.is_closed() && !hs.is_established());
                assert_eq!(hs.error(), Some(e));
                assert!(hs.take_session().is_none());
                assert_eq!(hs.feed(b"x", peers), Err(e));
                assert!(hs.rx_space().is_empty());
                return false;
            }
        }
    }
    if !hs.is_established() {
        assert!(hs.take_session().is_none());
        return false;
    }
    let pending = hs.pending_output().len();
    hs.consume_output(pending);
    let mut s = hs
        .take_session()
        .expect("an established handshake yields its session");
    let mut opened = Vec::new();
    let _ = drain(&mut s, &mut opened);
    deliver(&mut s, rest, how, &mut opened);
    true
}

/// Mode 2: genuine records, edited on the wire.
fn tampered(input: &mut Input<'_>, how: u8) {
    let (mut sender, mut receiver) = session_pair();
    if input.u8() & 1 == 1 {
        core::mem::swap(&mut sender, &mut receiver);
    }
    let mut wire = Vec::new();
    let mut genuine = Vec::new();
    let mut frame_ends = Vec::new();
    let mut buf = vec![0u8; MAX_WIRE_FRAME];
    for _ in 0..input.u8() % 9 {
        let ctl = input.u8();
        let body = input.msg();
        let token = body.iter().fold(0u64, |t, b| t << 8 | u64::from(*b));
        let record = match ctl % 4 {
            0 => Record::Ping(token),
            1 => Record::Pong(token),
            2 => Record::Data(&body[..body.len().min(MAX_RECORD_PAYLOAD)]),
            _ => Record::Close,
        };
        let n = sender
            .seal(&record, &mut buf)
            .expect("sealing a valid record");
        wire.extend_from_slice(&buf[..n]);
        frame_ends.push(wire.len());
        genuine.push(Owned::from(record));
    }
    // Edits (xor) at fuzzer-chosen positions; no record from the frame holding
    // the first changed byte on may open (edits may cancel each other out).
    let original = wire.clone();
    for _ in 0..input.u8() % 5 {
        let pos = usize::from(input.u16());
        let x = input.u8();
        if !wire.is_empty() {
            let pos = pos % wire.len();
            wire[pos] ^= x;
        }
    }
    let first_edit = wire
        .iter()
        .zip(&original)
        .position(|(a, b)| a != b)
        .unwrap_or(usize::MAX);
    let cut = usize::from(input.u16());
    if cut != 0 {
        wire.truncate(cut);
    }
    let complete = frame_ends.iter().filter(|end| **end <= wire.len()).count();
    let intact = frame_ends.iter().filter(|end| **end <= first_edit).count();

    let mut opened = Vec::new();
    deliver(&mut receiver, &wire, how, &mut opened);
    assert!(
        opened.len() <= complete.min(intact),
        "a tampered record opened"
    );
    assert_eq!(opened[..], genuine[..opened.len()], "records differ");
    if first_edit == usize::MAX && !receiver.is_poisoned() {
        assert_eq!(opened.len(), complete, "genuine records were not opened");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mode = input.u8() % 4;
    let how = input.u8();
    match mode {
        0 => {
            let (a, b) = identities();
            let dir = Dir(a.public_key());
            let mut hs = Handshake::responder(&b, RESPONDER_EPHEMERAL, DEADLINE);
            handshake(&mut hs, input.0, how, &dir);
        }
        1 => {
            let (a, b) = identities();
            let mut hs = initiator(&a, &b);
            let pending = hs.pending_output().len();
            hs.consume_output(pending);
            handshake(&mut hs, input.0, how, &NoDirectory);
        }
        2 => tampered(&mut input, how),
        _ => {
            let (mut init, mut resp) = session_pair();
            let receiver = if how & 0x40 == 0 {
                &mut init
            } else {
                &mut resp
            };
            let mut opened = Vec::new();
            deliver(receiver, input.0, how, &mut opened);
            assert!(opened.is_empty(), "a forged record opened");
        }
    }
});
