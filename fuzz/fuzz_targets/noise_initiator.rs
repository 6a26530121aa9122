//! Noise XK initiator (nexus-noise-xk) with fixed keys: writes message 1,
//! then reads a fuzzed message 2.
//!
//! Input: `pbuf: u8, len2: u16 LE, message 2, then transport messages as
//! (len: u16 LE, bytes)`. The seed corpus holds the real message 2 of the
//! matching responder.
//!
//! Invariants: never panics; an error poisons the state (no remote key, no
//! hash, `Poisoned` afterwards, `split` refuses); an accepted message 2
//! always lets message 3 be written and the handshake split; tampered
//! transport messages are refused and poison the session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuron_fuzz::{Input, INITIATOR_EPHEMERAL, INITIATOR_SECRET, NOISE_PROLOGUE, RESPONDER_SECRET};
use nexus_noise_xk::{Error, HandshakeState, StaticKeypair, MAX_MESSAGE_LEN};

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let pbuf = input.u8();

    let keys = StaticKeypair::from_secret(INITIATOR_SECRET);
    let server = StaticKeypair::from_secret(RESPONDER_SECRET).public_key();
    let mut hs = HandshakeState::new_initiator(&keys, &server, NOISE_PROLOGUE, INITIATOR_EPHEMERAL);
    let mut out = [0u8; 128];
    assert_eq!(hs.write_message(b"", &mut out), Ok(48));
    let mut payload = vec![0u8; MAX_MESSAGE_LEN];

    let msg2 = input.msg();
    match hs.read_message(msg2, &mut payload[..usize::from(pbuf)]) {
        Err(_) => {
            assert!(hs.is_poisoned() && !hs.is_finished());
            assert_eq!(hs.remote_static(), None);
            assert_eq!(hs.handshake_hash(), None);
            assert_eq!(hs.write_message(b"", &mut out), Err(Error::Poisoned));
            assert_eq!(hs.split().err(), Some(Error::Poisoned));
            return;
        }
        Ok(n) => assert!(n <= usize::from(pbuf)),
    }
    assert!(hs.is_my_turn());
    assert_eq!(hs.write_message(b"", &mut out), Ok(64));
    assert_eq!(hs.remote_static(), Some(server));
    let mut session = hs.split().expect("a finished handshake splits");

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
