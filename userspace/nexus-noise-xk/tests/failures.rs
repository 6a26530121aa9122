//! Fail-closed behaviour: bad input never panics, always errors, and leaves nothing usable.
//!
//! Design notes:
//! - Each case starts from an honest handshake (helpers in `common`) and breaks exactly one
//!   thing: a flipped bit, a truncated or oversized message, the wrong responder key, the
//!   wrong prologue, a low-order public key, a call out of turn, a short buffer.
//! - After the failure every further call must return `Error::Poisoned`, `split` must
//!   refuse, and `remote_static` / `handshake_hash` must be `None`: no session can leak out
//!   of a failed handshake.
//! - Nonce exhaustion is driven through the documented forward-only test hook.

mod common;

use common::{relay, Pair, TestRng};
use nexus_noise_xk::{
    Error, HandshakeState, Role, StaticKeypair, MAX_MESSAGE_LEN, MAX_TRANSPORT_PAYLOAD,
    MSG1_OVERHEAD, MSG2_OVERHEAD, MSG3_OVERHEAD,
};

/// Asserts that `state` is dead: every entry point refuses and nothing secret is exposed.
fn assert_dead(mut state: HandshakeState) {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    assert!(state.is_poisoned());
    assert!(!state.is_finished());
    assert!(!state.is_my_turn());
    assert_eq!(state.next_message_overhead(), None);
    assert_eq!(state.remote_static(), None);
    assert_eq!(state.handshake_hash(), None);
    assert_eq!(state.write_message(b"", &mut buf), Err(Error::Poisoned));
    assert_eq!(
        state.read_message(&buf[..MSG3_OVERHEAD], &mut out),
        Err(Error::Poisoned)
    );
    assert_eq!(state.split().err(), Some(Error::Poisoned));
}

/// Produces the honest wire bytes of message `index` (1..=3) and the states right before
/// the receiver reads it. Returns `(sender, receiver, wire)`.
fn at_message(
    seed: u64,
    index: usize,
    payload: &[u8],
) -> (HandshakeState, HandshakeState, Vec<u8>) {
    let mut rng = TestRng::new(seed);
    let mut pair = Pair::new(&mut rng, b"prologue");
    if index >= 2 {
        relay(&mut pair.initiator, &mut pair.responder, b"");
    }
    if index >= 3 {
        relay(&mut pair.responder, &mut pair.initiator, b"");
    }
    let (mut sender, receiver) = if index == 2 {
        (pair.responder, pair.initiator)
    } else {
        (pair.initiator, pair.responder)
    };
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let n = sender.write_message(payload, &mut wire).unwrap();
    wire.truncate(n);
    (sender, receiver, wire)
}

#[test]
fn empty_payload_message_lengths_are_48_48_64() {
    for (index, expected) in [(1, 48), (2, 48), (3, 64)] {
        let (_, _, wire) = at_message(1, index, b"");
        assert_eq!(wire.len(), expected, "message {index}");
    }
    assert_eq!((MSG1_OVERHEAD, MSG2_OVERHEAD, MSG3_OVERHEAD), (48, 48, 64));
}

#[test]
fn tampered_handshake_messages_poison_the_receiver() {
    for index in 1..=3 {
        let (_, _, honest) = at_message(2, index, b"payload");
        for pos in [0, 1, 31, 32, 40, honest.len() - 17, honest.len() - 1] {
            let (_, mut receiver, mut wire) = at_message(2, index, b"payload");
            wire[pos] ^= 0x80;
            let mut out = vec![0u8; MAX_MESSAGE_LEN];
            let err = receiver.read_message(&wire, &mut out).unwrap_err();
            assert!(
                matches!(err, Error::DecryptFailed | Error::InvalidPublicKey),
                "message {index} pos {pos}: {err:?}"
            );
            assert!(
                out.iter().all(|b| *b == 0),
                "no unauthenticated plaintext released"
            );
            assert_dead(receiver);
        }
    }
}

#[test]
fn truncated_handshake_messages_poison_the_receiver() {
    for index in 1..=3 {
        let (_, _, honest) = at_message(3, index, b"");
        for cut in [0, 1, 31, 32, honest.len() - 16, honest.len() - 1] {
            let (_, mut receiver, wire) = at_message(3, index, b"");
            let mut out = vec![0u8; MAX_MESSAGE_LEN];
            assert_eq!(
                receiver.read_message(&wire[..cut], &mut out),
                Err(Error::MessageTooShort),
                "message {index} cut to {cut}"
            );
            assert_dead(receiver);
        }
        // Truncating a non-empty payload keeps the length legal but breaks the tag.
        let (_, mut receiver, wire) = at_message(3, index, b"0123456789");
        let mut out = vec![0u8; MAX_MESSAGE_LEN];
        assert_eq!(
            receiver.read_message(&wire[..wire.len() - 1], &mut out),
            Err(Error::DecryptFailed)
        );
        assert_dead(receiver);
    }
}

#[test]
fn oversized_handshake_messages_are_rejected() {
    // Incoming: one byte over the Noise limit.
    for index in 1..=3 {
        let (_, mut receiver, mut wire) = at_message(4, index, b"");
        wire.resize(MAX_MESSAGE_LEN + 1, 0);
        let mut out = vec![0u8; 2 * MAX_MESSAGE_LEN];
        assert_eq!(
            receiver.read_message(&wire, &mut out),
            Err(Error::MessageTooLarge)
        );
        assert_dead(receiver);
    }
    // Outgoing: a payload one byte too large for each position.
    let mut rng = TestRng::new(4);
    let mut pair = Pair::new(&mut rng, b"");
    let mut out = vec![0u8; 2 * MAX_MESSAGE_LEN];
    let too_big = vec![0u8; MAX_MESSAGE_LEN - MSG1_OVERHEAD + 1];
    assert_eq!(
        pair.initiator.write_message(&too_big, &mut out),
        Err(Error::MessageTooLarge)
    );
    assert_dead(pair.initiator);

    let (_, mut responder, wire) = at_message(5, 1, b"");
    responder.read_message(&wire, &mut out).unwrap();
    let too_big = vec![0u8; MAX_MESSAGE_LEN - MSG2_OVERHEAD + 1];
    assert_eq!(
        responder.write_message(&too_big, &mut out),
        Err(Error::MessageTooLarge)
    );
    assert_dead(responder);

    let (mut initiator, mut responder, wire) = at_message(6, 1, b"");
    responder.read_message(&wire, &mut out).unwrap();
    let n = responder.write_message(b"", &mut out).unwrap();
    let reply = out[..n].to_vec();
    initiator.read_message(&reply, &mut out).unwrap();
    let too_big = vec![0u8; MAX_MESSAGE_LEN - MSG3_OVERHEAD + 1];
    assert_eq!(
        initiator.write_message(&too_big, &mut out),
        Err(Error::MessageTooLarge)
    );
    assert_dead(initiator);
}

#[test]
fn exact_maximum_handshake_payload_is_accepted() {
    let payload = vec![0x5au8; MAX_MESSAGE_LEN - MSG1_OVERHEAD];
    let (_, mut receiver, wire) = at_message(7, 1, &payload);
    assert_eq!(wire.len(), MAX_MESSAGE_LEN);
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    assert_eq!(receiver.read_message(&wire, &mut out), Ok(payload.len()));
}

#[test]
fn wrong_responder_static_key_yields_no_session() {
    let mut rng = TestRng::new(8);
    let client = StaticKeypair::from_secret(rng.key());
    let real_server = StaticKeypair::from_secret(rng.key());
    let other_server = StaticKeypair::from_secret(rng.key());
    let client_ephemeral = rng.key();

    // The initiator pins `other_server` but reaches `real_server`.
    let mut initiator =
        HandshakeState::new_initiator(&client, &other_server.public_key(), b"", client_ephemeral);
    let mut responder = HandshakeState::new_responder(&real_server, b"", rng.key());
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    let n = initiator.write_message(b"hello", &mut wire).unwrap();
    assert_eq!(
        responder.read_message(&wire[..n], &mut out),
        Err(Error::DecryptFailed)
    );
    assert_dead(responder);

    // An impostor that *is* `real_server` answers anyway: it runs an honest responder on a
    // copy of the exchange addressed to itself (same client ephemeral) and forwards its
    // message 2. The pinned-key initiator must reject it at message 2.
    let mut addressed_to_impostor =
        HandshakeState::new_initiator(&client, &real_server.public_key(), b"", client_ephemeral);
    let mut impostor = HandshakeState::new_responder(&real_server, b"", rng.key());
    let n = addressed_to_impostor
        .write_message(b"hello", &mut wire)
        .unwrap();
    impostor.read_message(&wire[..n], &mut out).unwrap();
    let n = impostor.write_message(b"", &mut wire).unwrap();
    assert_eq!(
        initiator.read_message(&wire[..n], &mut out),
        Err(Error::DecryptFailed)
    );
    assert_dead(initiator);
}

#[test]
fn wrong_prologue_yields_no_session() {
    let mut rng = TestRng::new(9);
    let client = StaticKeypair::from_secret(rng.key());
    let server = StaticKeypair::from_secret(rng.key());
    let mut initiator =
        HandshakeState::new_initiator(&client, &server.public_key(), b"v1", rng.key());
    let mut responder = HandshakeState::new_responder(&server, b"v2", rng.key());
    let mut wire = vec![0u8; 128];
    let mut out = vec![0u8; 128];
    let n = initiator.write_message(b"", &mut wire).unwrap();
    assert_eq!(
        responder.read_message(&wire[..n], &mut out),
        Err(Error::DecryptFailed)
    );
    assert_dead(responder);
}

#[test]
fn low_order_public_keys_are_refused() {
    let mut rng = TestRng::new(10);
    let client = StaticKeypair::from_secret(rng.key());
    // An initiator pinned to the all-zero (low-order) key cannot even send message 1.
    let mut initiator = HandshakeState::new_initiator(&client, &[0u8; 32], b"", rng.key());
    let mut wire = vec![0u8; 128];
    assert_eq!(
        initiator.write_message(b"", &mut wire),
        Err(Error::InvalidPublicKey)
    );
    assert_dead(initiator);

    // A responder receiving a low-order ephemeral refuses message 1.
    let (_, mut responder, mut wire) = at_message(10, 1, b"");
    wire[..32].copy_from_slice(&[0u8; 32]);
    let mut out = vec![0u8; 128];
    assert_eq!(
        responder.read_message(&wire, &mut out),
        Err(Error::InvalidPublicKey)
    );
    assert_dead(responder);
}

#[test]
fn calls_out_of_turn_poison() {
    let mut rng = TestRng::new(11);
    let mut wire = vec![0u8; 128];
    let mut out = vec![0u8; 128];

    let mut pair = Pair::new(&mut rng, b"");
    assert!(pair.initiator.is_my_turn() && !pair.responder.is_my_turn());
    assert_eq!(pair.initiator.role(), Role::Initiator);
    assert_eq!(pair.responder.role(), Role::Responder);
    assert_eq!(
        pair.responder.write_message(b"", &mut wire),
        Err(Error::WrongState)
    );
    assert_dead(pair.responder);
    assert_eq!(
        pair.initiator.read_message(&[0u8; 48], &mut out),
        Err(Error::WrongState)
    );
    assert_dead(pair.initiator);

    // Splitting before the end is refused without poisoning (split consumes the state).
    let pair = Pair::new(&mut rng, b"");
    assert_eq!(pair.initiator.split().err(), Some(Error::WrongState));

    // After completion, further handshake calls are out of turn.
    let mut pair = Pair::new(&mut rng, b"");
    relay(&mut pair.initiator, &mut pair.responder, b"");
    relay(&mut pair.responder, &mut pair.initiator, b"");
    relay(&mut pair.initiator, &mut pair.responder, b"");
    assert!(pair.initiator.is_finished());
    assert_eq!(
        pair.initiator.write_message(b"", &mut wire),
        Err(Error::WrongState)
    );
    assert_dead(pair.initiator);
}

#[test]
fn replayed_message_one_is_refused_after_progress() {
    let (_, mut responder, wire) = at_message(12, 1, b"");
    let mut out = vec![0u8; 128];
    responder.read_message(&wire, &mut out).unwrap();
    // Reading message 1 again is out of turn (the responder must write message 2 now).
    assert_eq!(
        responder.read_message(&wire, &mut out),
        Err(Error::WrongState)
    );
    assert_dead(responder);
}

#[test]
fn short_output_buffers_error_instead_of_panicking() {
    let mut rng = TestRng::new(13);
    let mut pair = Pair::new(&mut rng, b"");
    let mut small = [0u8; MSG1_OVERHEAD + 3];
    assert_eq!(
        pair.initiator.write_message(b"four", &mut small),
        Err(Error::BufferTooSmall)
    );
    assert_dead(pair.initiator);

    let (_, mut receiver, wire) = at_message(13, 1, b"four");
    let mut small = [0u8; 3];
    assert_eq!(
        receiver.read_message(&wire, &mut small),
        Err(Error::BufferTooSmall)
    );
    assert_dead(receiver);

    let (mut a, mut b) = common::handshake(13);
    let mut wire = [0u8; 16 + 3];
    assert_eq!(
        a.write_message(b"four", &mut wire),
        Err(Error::BufferTooSmall)
    );
    assert!(a.is_poisoned());
    let n = b.write_message(b"four", &mut [0u8; 64]).unwrap();
    assert_eq!(n, 20);
}

#[test]
fn tampered_transport_messages_kill_the_session() {
    for pos in [0usize, 5, 20, 27] {
        let (mut initiator, mut responder) = common::handshake(14);
        let mut wire = vec![0u8; 64];
        let mut out = vec![0u8; 64];
        let n = initiator.write_message(b"hello there", &mut wire).unwrap();
        assert_eq!(n, 27);
        let mut bad = wire[..n].to_vec();
        if pos < n {
            bad[pos] ^= 1;
        } else {
            bad.push(0);
        }
        assert_eq!(
            responder.read_message(&bad, &mut out),
            Err(Error::DecryptFailed)
        );
        assert!(out.iter().all(|b| *b == 0));
        assert!(responder.is_poisoned());
        // The honest message no longer helps, and the session cannot send either.
        assert_eq!(
            responder.read_message(&wire[..n], &mut out),
            Err(Error::Poisoned)
        );
        assert_eq!(
            responder.write_message(b"x", &mut out),
            Err(Error::Poisoned)
        );
        assert_eq!(responder.rekey_outgoing(), Err(Error::Poisoned));
        assert_eq!(responder.into_ciphers().err(), Some(Error::Poisoned));
    }
}

#[test]
fn truncated_oversized_and_reordered_transport_messages_fail() {
    let mut out = vec![0u8; 2 * MAX_MESSAGE_LEN];

    let (_, mut responder) = common::handshake(15);
    assert_eq!(
        responder.read_message(&[0u8; 15], &mut out),
        Err(Error::MessageTooShort)
    );
    assert!(responder.is_poisoned());

    let (_, mut responder) = common::handshake(15);
    let huge = vec![0u8; MAX_MESSAGE_LEN + 1];
    assert_eq!(
        responder.read_message(&huge, &mut out),
        Err(Error::MessageTooLarge)
    );
    assert!(responder.is_poisoned());

    let (mut initiator, _) = common::handshake(15);
    let payload = vec![0u8; MAX_TRANSPORT_PAYLOAD + 1];
    assert_eq!(
        initiator.write_message(&payload, &mut out),
        Err(Error::MessageTooLarge)
    );
    assert!(initiator.is_poisoned());

    // Reordering: message 2 delivered before message 1 fails (nonce mismatch).
    let (mut initiator, mut responder) = common::handshake(16);
    let mut first = vec![0u8; 64];
    let mut second = vec![0u8; 64];
    let n1 = initiator.write_message(b"one", &mut first).unwrap();
    let n2 = initiator.write_message(b"two", &mut second).unwrap();
    assert_eq!(
        responder.read_message(&second[..n2], &mut out),
        Err(Error::DecryptFailed)
    );
    assert_eq!(
        responder.read_message(&first[..n1], &mut out),
        Err(Error::Poisoned)
    );

    // Replay: the same message twice fails the second time.
    let (mut initiator, mut responder) = common::handshake(17);
    let n = initiator.write_message(b"once", &mut first).unwrap();
    responder.read_message(&first[..n], &mut out).unwrap();
    assert_eq!(
        responder.read_message(&first[..n], &mut out),
        Err(Error::DecryptFailed)
    );
}

#[test]
fn reflected_messages_fail() {
    // A message sent by the initiator must not decrypt under the initiator's own receive key.
    let (mut initiator, _) = common::handshake(18);
    let mut wire = vec![0u8; 64];
    let mut out = vec![0u8; 64];
    let n = initiator.write_message(b"echo", &mut wire).unwrap();
    assert_eq!(
        initiator.read_message(&wire[..n], &mut out),
        Err(Error::DecryptFailed)
    );
}

#[test]
fn nonce_exhaustion_errors_in_both_directions() {
    let (initiator, responder) = common::handshake(19);
    let (mut send, _) = initiator.into_ciphers().unwrap();
    let (_, mut recv) = responder.into_ciphers().unwrap();
    let mut wire = [0u8; 64];
    let mut out = [0u8; 64];

    // The hook only moves forward.
    send.advance_nonce_to(10).unwrap();
    assert_eq!(send.advance_nonce_to(9), Err(Error::WrongState));
    assert!(!send.is_poisoned());

    send.advance_nonce_to(u64::MAX - 2).unwrap();
    recv.advance_nonce_to(u64::MAX - 2).unwrap();
    for expected_nonce in [u64::MAX - 2, u64::MAX - 1] {
        assert_eq!(send.nonce(), expected_nonce);
        let n = send.encrypt(b"tick", &mut wire).unwrap();
        let m = recv.decrypt(&wire[..n], &mut out).unwrap();
        assert_eq!(&out[..m], b"tick");
    }
    // 2^64 - 1 is reserved: both directions are now exhausted, permanently.
    assert_eq!(send.nonce(), u64::MAX);
    assert_eq!(send.encrypt(b"tock", &mut wire), Err(Error::NonceExhausted));
    assert_eq!(send.encrypt(b"tock", &mut wire), Err(Error::NonceExhausted));
    assert_eq!(send.rekey(), Err(Error::NonceExhausted));
    assert!(send.is_poisoned());
    assert_eq!(
        recv.decrypt(&wire[..20], &mut out),
        Err(Error::NonceExhausted)
    );
    assert!(recv.is_poisoned());
    assert_eq!(recv.advance_nonce_to(u64::MAX), Err(Error::Poisoned));
}

#[test]
fn transport_session_reports_exhaustion_then_poison() {
    let (mut initiator, mut responder) = common::handshake(20);
    initiator.advance_sending_nonce_to(u64::MAX - 1).unwrap();
    responder.advance_receiving_nonce_to(u64::MAX - 1).unwrap();
    let mut wire = [0u8; 64];
    let mut out = [0u8; 64];
    let n = initiator.write_message(b"last", &mut wire).unwrap();
    assert_eq!(responder.read_message(&wire[..n], &mut out), Ok(4));
    assert_eq!(
        initiator.write_message(b"more", &mut wire),
        Err(Error::NonceExhausted)
    );
    assert_eq!(
        initiator.write_message(b"more", &mut wire),
        Err(Error::Poisoned)
    );
    assert_eq!(
        responder.read_message(&wire[..n], &mut out),
        Err(Error::NonceExhausted)
    );
}

#[test]
fn error_enum_is_small_copy_and_displayable() {
    fn assert_copy<T: Copy + core::fmt::Display + core::error::Error>() {}
    assert_copy::<Error>();
    assert_eq!(core::mem::size_of::<Error>(), 1);
    let all = [
        Error::MessageTooLarge,
        Error::MessageTooShort,
        Error::BufferTooSmall,
        Error::DecryptFailed,
        Error::InvalidPublicKey,
        Error::WrongState,
        Error::NonceExhausted,
        Error::Poisoned,
    ];
    let texts: Vec<String> = all.iter().map(|e| e.to_string()).collect();
    for (i, text) in texts.iter().enumerate() {
        assert!(!text.is_empty());
        assert!(!texts[..i].contains(text), "duplicate message {text}");
    }
}

#[test]
fn debug_output_never_contains_key_material() {
    let secret = [0xabu8; 32];
    let keypair = StaticKeypair::from_secret(secret);
    let text = format!("{keypair:?}");
    assert!(
        !text.contains("171, 171, 171"),
        "secret bytes leaked: {text}"
    );
    let (initiator, _) = common::handshake(21);
    let text = format!("{initiator:?}");
    assert!(text.contains("TransportState") && !text.contains("k:"));
}

#[test]
fn in_place_messages_match_the_copying_ones_and_fail_closed() {
    // Two sessions from the same seed: one uses the copying calls, the other the
    // in-place calls; the wire bytes must be identical.
    let (mut a1, mut b1) = common::handshake(15);
    let (mut a2, mut b2) = common::handshake(15);
    for len in [0usize, 1, 63, 64, 65, 4097] {
        let plain: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let mut wire = vec![0u8; len + 16];
        assert_eq!(a1.write_message(&plain, &mut wire).unwrap(), len + 16);
        let mut buf = vec![0u8; len + 20];
        buf[..len].copy_from_slice(&plain);
        assert_eq!(a2.write_message_in_place(&mut buf, len).unwrap(), len + 16);
        assert_eq!(&buf[..len + 16], &wire[..]);
        let mut msg = wire.clone();
        assert_eq!(b2.read_message_in_place(&mut msg).unwrap(), len);
        assert_eq!(&msg[..len], &plain[..]);
        let mut out = vec![0u8; len];
        assert_eq!(b1.read_message(&wire, &mut out).unwrap(), len);
    }
    // Too small a buffer for the tag: refused (and, like every error, poisons).
    let (mut a, _) = common::handshake(16);
    let mut small = [0u8; 20];
    assert_eq!(
        a.write_message_in_place(&mut small, 5),
        Err(Error::BufferTooSmall)
    );
    assert!(a.is_poisoned());
    // A tampered message is refused, its plaintext part wiped, and the session dead.
    for pos in [0usize, 5, 20, 26] {
        let (mut a, mut b) = common::handshake(17);
        let mut buf = [0u8; 64];
        buf[..11].copy_from_slice(b"hello there");
        let n = a.write_message_in_place(&mut buf, 11).unwrap();
        let mut bad = buf[..n].to_vec();
        bad[pos] ^= 1;
        assert_eq!(b.read_message_in_place(&mut bad), Err(Error::DecryptFailed));
        assert!(bad[..n - 16].iter().all(|x| *x == 0));
        assert!(b.is_poisoned());
        let mut honest = buf[..n].to_vec();
        assert_eq!(b.read_message_in_place(&mut honest), Err(Error::Poisoned));
    }
}
