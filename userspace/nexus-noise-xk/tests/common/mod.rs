//! Shared helpers for the integration tests: hex, deterministic key material, full handshakes.
//!
//! Design notes:
//! - Randomness in tests is a fixed-seed SplitMix64 stream: reproducible failures matter more
//!   than unpredictability here (the crate itself never generates randomness).
//! - `handshake` runs a complete XK exchange between two of our own states and returns both
//!   sessions, so the failure tests can start from a known-good baseline.
#![allow(dead_code)]

use nexus_noise_xk::{HandshakeState, StaticKeypair, TransportState, MAX_MESSAGE_LEN};

/// Deterministic byte source (SplitMix64).
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    pub fn key(&mut self) -> [u8; 32] {
        let mut key = [0u8; 32];
        self.fill(&mut key);
        key
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.fill(&mut out);
        out
    }
}

pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("bad hex"))
        .collect()
}

pub fn unhex32(text: &str) -> [u8; 32] {
    unhex(text).try_into().expect("expected 32 bytes")
}

/// Everything needed to run one handshake between our own initiator and responder.
pub struct Pair {
    pub initiator_static: StaticKeypair,
    pub responder_static: StaticKeypair,
    pub initiator: HandshakeState,
    pub responder: HandshakeState,
}

impl Pair {
    pub fn new(rng: &mut TestRng, prologue: &[u8]) -> Self {
        let initiator_static = StaticKeypair::from_secret(rng.key());
        let responder_static = StaticKeypair::from_secret(rng.key());
        let initiator = HandshakeState::new_initiator(
            &initiator_static,
            &responder_static.public_key(),
            prologue,
            rng.key(),
        );
        let responder = HandshakeState::new_responder(&responder_static, prologue, rng.key());
        Self {
            initiator_static,
            responder_static,
            initiator,
            responder,
        }
    }
}

/// Sends one handshake message from `from` to `to`, returning the wire bytes.
pub fn relay(from: &mut HandshakeState, to: &mut HandshakeState, payload: &[u8]) -> Vec<u8> {
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let n = from.write_message(payload, &mut wire).expect("write");
    wire.truncate(n);
    let mut got = vec![0u8; MAX_MESSAGE_LEN];
    let m = to.read_message(&wire, &mut got).expect("read");
    assert_eq!(&got[..m], payload);
    wire
}

/// Completes a handshake with empty payloads and returns `(initiator, responder)` sessions.
pub fn handshake(seed: u64) -> (TransportState, TransportState) {
    let mut rng = TestRng::new(seed);
    let mut pair = Pair::new(&mut rng, b"test prologue");
    relay(&mut pair.initiator, &mut pair.responder, b"");
    relay(&mut pair.responder, &mut pair.initiator, b"");
    relay(&mut pair.initiator, &mut pair.responder, b"");
    (
        pair.initiator.split().expect("initiator split"),
        pair.responder.split().expect("responder split"),
    )
}
