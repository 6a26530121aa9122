//! Noise XK responder (nexus-noise-xk) with fixed static and ephemeral keys.
//!
//! Input: `len1: u16 LE, message 1 (len1 bytes), pbuf: u8, len3: u16 LE,
//! message 3, then transport messages as (len: u16 LE, bytes)`. `pbuf`
//! sizes the payload buffer for message 3 (small values hit
//! `BufferTooSmall`). The seed corpus holds a real message 1 / 3 pair from
//! the matching initiator, so mutations start from an accepted handshake.
//!
//! Invariants: never panics; every error poisons the state: no remote key,
//! no handshake hash, every later call fails with `Poisoned` and `split`
//! refuses, so no session can come out of a failed handshake. Message 2 is
//! always writable after an accepted message 1; a finished handshake splits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuron_fuzz::{Input, NOISE_PROLOGUE, RESPONDER_EPHEMERAL, RESPONDER_SECRET};
use nexus_noise_xk::{Error, HandshakeState, StaticKeypair, MAX_MESSAGE_LEN};

fn assert_dead(hs: HandshakeState) {
    assert!(hs.is_poisoned());
    assert!(!hs.is_finished());
    assert!(!hs.is_my_turn());
    assert_eq!(hs.remote_static(), None);
    assert_eq!(hs.handshake_hash(), None);
    let mut hs = hs;
    let mut buf = [0u8; 128];
    assert_eq!(hs.write_message(b"", &mut buf), Err(Error::Poisoned));
    assert_eq!(hs.read_message(&[0u8; 64], &mut buf), Err(Error::Poisoned));
    assert_eq!(hs.split().err(), Some(Error::Poisoned));
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let keys = StaticKeypair::from_secret(RESPONDER_SECRET);
    let mut hs = HandshakeState::new_responder(&keys, NOISE_PROLOGUE, RESPONDER_EPHEMERAL);
    let mut payload = vec![0u8; MAX_MESSAGE_LEN];

    let msg1 = input.msg();
    if hs.read_message(msg1, &mut payload).is_err() {
        return assert_dead(hs);
    }
    assert!(hs.is_my_turn());
    let mut msg2 = [0u8; 128];
    let n = hs
        .write_message(b"", &mut msg2)
        .expect("message 2 after an accepted message 1");
    assert_eq!(n, 48);

    let pbuf = usize::from(input.u8());
    let msg3 = input.msg();
    match hs.read_message(msg3, &mut payload[..pbuf]) {
        Err(_) => return assert_dead(hs),
        Ok(n) => assert!(n <= pbuf && hs.is_finished()),
    }
    assert!(hs.remote_static().is_some());
    let mut session = hs.split().expect("a finished handshake splits");

    // Transport messages after the handshake: all tampered ones are refused.
    while !input.is_empty() {
        let m = input.msg();
        match session.read_message(m, &mut payload) {
            Ok(n) => assert!(n + 16 == m.len()),
            Err(_) => {
                assert!(session.is_poisoned());
                assert!(session.read_message(m, &mut payload).is_err());
                break;
            }
        }
    }
});
