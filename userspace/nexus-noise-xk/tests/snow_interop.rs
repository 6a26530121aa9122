//! Interoperation with the `snow` crate (an independent Noise implementation) in both roles.
//!
//! Design notes:
//! - snow 0.10 runs on a different crypto stack (blake2 0.10, chacha20poly1305 0.10,
//!   curve25519-dalek 4), so agreement here is agreement between two implementations, not
//!   the same code twice.
//! - Live interop uses fresh keys per run (from a fixed-seed generator, so failures replay);
//!   the "fixed ephemeral" tests additionally pin snow's ephemeral key so every handshake
//!   message can be compared byte-for-byte against ours.
//! - Transport coverage: many messages both ways, empty and maximum-size payloads, rekeying,
//!   and the last usable nonce (2^64 - 2) checked against snow's stateless transport.

mod common;

use common::TestRng;
use nexus_noise_xk::{
    Error, HandshakeState, StaticKeypair, TransportState, MAX_MESSAGE_LEN, MAX_TRANSPORT_PAYLOAD,
    MSG1_OVERHEAD, MSG2_OVERHEAD, MSG3_OVERHEAD, PROTOCOL_NAME,
};

fn params() -> snow::params::NoiseParams {
    PROTOCOL_NAME.parse().expect("snow knows the protocol")
}

fn snow_initiator(
    static_secret: &[u8; 32],
    remote_static: &[u8; 32],
    prologue: &[u8],
    ephemeral: Option<&[u8; 32]>,
) -> snow::HandshakeState {
    let mut builder = snow::Builder::new(params())
        .local_private_key(static_secret)
        .unwrap()
        .remote_public_key(remote_static)
        .unwrap()
        .prologue(prologue)
        .unwrap();
    if let Some(e) = ephemeral {
        builder = builder.fixed_ephemeral_key_for_testing_only(e);
    }
    builder.build_initiator().unwrap()
}

fn snow_responder(
    static_secret: &[u8; 32],
    prologue: &[u8],
    ephemeral: Option<&[u8; 32]>,
) -> snow::HandshakeState {
    let mut builder = snow::Builder::new(params())
        .local_private_key(static_secret)
        .unwrap()
        .prologue(prologue)
        .unwrap();
    if let Some(e) = ephemeral {
        builder = builder.fixed_ephemeral_key_for_testing_only(e);
    }
    builder.build_responder().unwrap()
}

/// Moves one handshake message ours -> snow, returning the wire bytes.
fn ours_to_snow(
    ours: &mut HandshakeState,
    theirs: &mut snow::HandshakeState,
    payload: &[u8],
) -> Vec<u8> {
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let n = ours.write_message(payload, &mut wire).unwrap();
    wire.truncate(n);
    let mut got = vec![0u8; MAX_MESSAGE_LEN];
    let m = theirs
        .read_message(&wire, &mut got)
        .expect("snow accepts our message");
    assert_eq!(&got[..m], payload);
    wire
}

/// Moves one handshake message snow -> ours, returning the wire bytes.
fn snow_to_ours(
    theirs: &mut snow::HandshakeState,
    ours: &mut HandshakeState,
    payload: &[u8],
) -> Vec<u8> {
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let n = theirs.write_message(payload, &mut wire).unwrap();
    wire.truncate(n);
    let mut got = vec![0u8; MAX_MESSAGE_LEN];
    let m = ours
        .read_message(&wire, &mut got)
        .expect("we accept snow's message");
    assert_eq!(&got[..m], payload);
    wire
}

/// Exchanges `rounds` transport messages in each direction with varied payload sizes.
fn exchange(
    ours: &mut TransportState,
    theirs: &mut snow::TransportState,
    rng: &mut TestRng,
    rounds: usize,
) {
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let mut got = vec![0u8; MAX_MESSAGE_LEN];
    for round in 0..rounds {
        let len = [0usize, 1, 15, 16, 17, 255, 1024, 4096][round % 8];
        let payload = rng.bytes(len);
        let n = ours.write_message(&payload, &mut wire).unwrap();
        assert_eq!(n, len + 16);
        let m = theirs
            .read_message(&wire[..n], &mut got)
            .expect("snow reads our transport");
        assert_eq!(&got[..m], &payload[..]);

        let payload = rng.bytes(len / 2 + round);
        let n = theirs.write_message(&payload, &mut wire).unwrap();
        let m = ours
            .read_message(&wire[..n], &mut got)
            .expect("we read snow's transport");
        assert_eq!(&got[..m], &payload[..]);
    }
    assert_eq!(ours.sending_nonce(), rounds as u64);
    assert_eq!(ours.receiving_nonce(), rounds as u64);
}

#[test]
fn ours_initiator_with_snow_responder() {
    for seed in 0..4u64 {
        let mut rng = TestRng::new(100 + seed);
        let (i_secret, r_secret) = (rng.key(), rng.key());
        let i_static = StaticKeypair::from_secret(i_secret);
        let r_public = StaticKeypair::from_secret(r_secret).public_key();
        let prologue = rng.bytes(seed as usize * 7);

        let mut ours = HandshakeState::new_initiator(&i_static, &r_public, &prologue, rng.key());
        let mut theirs = snow_responder(&r_secret, &prologue, None);

        let m1 = ours_to_snow(&mut ours, &mut theirs, &rng.bytes(seed as usize * 3));
        assert_eq!(m1.len(), MSG1_OVERHEAD + seed as usize * 3);
        snow_to_ours(&mut theirs, &mut ours, b"server hello");
        let m3 = ours_to_snow(&mut ours, &mut theirs, b"");
        assert_eq!(m3.len(), MSG3_OVERHEAD);

        assert!(ours.is_finished() && theirs.is_handshake_finished());
        assert_eq!(
            ours.handshake_hash().unwrap().as_slice(),
            theirs.get_handshake_hash()
        );
        assert_eq!(
            theirs.get_remote_static().unwrap(),
            i_static.public_key().as_slice()
        );
        assert_eq!(ours.remote_static(), Some(r_public));

        let mut ours = ours.split().unwrap();
        let mut theirs = theirs.into_transport_mode().unwrap();
        exchange(&mut ours, &mut theirs, &mut rng, 24);
    }
}

#[test]
fn snow_initiator_with_ours_responder() {
    for seed in 0..4u64 {
        let mut rng = TestRng::new(200 + seed);
        let (i_secret, r_secret) = (rng.key(), rng.key());
        let r_static = StaticKeypair::from_secret(r_secret);
        let i_public = StaticKeypair::from_secret(i_secret).public_key();
        let prologue = rng.bytes(seed as usize * 5);

        let mut theirs = snow_initiator(&i_secret, &r_static.public_key(), &prologue, None);
        let mut ours = HandshakeState::new_responder(&r_static, &prologue, rng.key());

        snow_to_ours(&mut theirs, &mut ours, b"");
        let m2 = ours_to_snow(&mut ours, &mut theirs, b"");
        assert_eq!(m2.len(), MSG2_OVERHEAD);
        snow_to_ours(&mut theirs, &mut ours, &rng.bytes(100));

        assert!(ours.is_finished() && theirs.is_handshake_finished());
        assert_eq!(
            ours.handshake_hash().unwrap().as_slice(),
            theirs.get_handshake_hash()
        );
        // Identity binding: the responder learns exactly the initiator's static key.
        assert_eq!(ours.remote_static(), Some(i_public));

        let mut ours = ours.split().unwrap();
        assert_eq!(ours.remote_static(), &i_public);
        let mut theirs = theirs.into_transport_mode().unwrap();
        exchange(&mut ours, &mut theirs, &mut rng, 24);
    }
}

#[test]
fn fixed_ephemerals_give_identical_bytes_to_snow() {
    // Same keys, same ephemerals, same payloads: our initiator and snow's initiator must
    // emit the same bytes, and likewise for the responders.
    let mut rng = TestRng::new(300);
    let (i_s, r_s, i_e, r_e) = (rng.key(), rng.key(), rng.key(), rng.key());
    let i_static = StaticKeypair::from_secret(i_s);
    let r_static = StaticKeypair::from_secret(r_s);
    let prologue = b"neuron-os/ipc/v1";
    let payloads = [rng.bytes(0), rng.bytes(33), rng.bytes(1000)];

    let mut our_i = HandshakeState::new_initiator(&i_static, &r_static.public_key(), prologue, i_e);
    let mut our_r = HandshakeState::new_responder(&r_static, prologue, r_e);
    let mut snow_i = snow_initiator(&i_s, &r_static.public_key(), prologue, Some(&i_e));
    let mut snow_r = snow_responder(&r_s, prologue, Some(&r_e));

    let mut a = vec![0u8; MAX_MESSAGE_LEN];
    let mut b = vec![0u8; MAX_MESSAGE_LEN];
    let mut sink = vec![0u8; MAX_MESSAGE_LEN];
    for (index, payload) in payloads.iter().enumerate() {
        let (n, m) = if index % 2 == 0 {
            let n = our_i.write_message(payload, &mut a).unwrap();
            let m = snow_i.write_message(payload, &mut b).unwrap();
            our_r.read_message(&a[..n], &mut sink).unwrap();
            snow_r.read_message(&b[..m], &mut sink).unwrap();
            (n, m)
        } else {
            let n = our_r.write_message(payload, &mut a).unwrap();
            let m = snow_r.write_message(payload, &mut b).unwrap();
            our_i.read_message(&a[..n], &mut sink).unwrap();
            snow_i.read_message(&b[..m], &mut sink).unwrap();
            (n, m)
        };
        assert_eq!(&a[..n], &b[..m], "handshake message {}", index + 1);
    }
    assert_eq!(
        our_i.handshake_hash().unwrap().as_slice(),
        snow_i.get_handshake_hash()
    );

    let mut our_i = our_i.split().unwrap();
    let mut snow_i = snow_i.into_transport_mode().unwrap();
    for len in [0usize, 5, 64] {
        let payload = rng.bytes(len);
        let n = our_i.write_message(&payload, &mut a).unwrap();
        let m = snow_i.write_message(&payload, &mut b).unwrap();
        assert_eq!(&a[..n], &b[..m]);
    }
}

#[test]
fn maximum_size_messages_interoperate() {
    let mut rng = TestRng::new(400);
    let (i_s, r_s) = (rng.key(), rng.key());
    let r_static = StaticKeypair::from_secret(r_s);
    let mut theirs = snow_initiator(&i_s, &r_static.public_key(), b"", None);
    let mut ours = HandshakeState::new_responder(&r_static, b"", rng.key());

    // Largest possible message 1 (65535 bytes) from snow.
    let m1 = snow_to_ours(
        &mut theirs,
        &mut ours,
        &rng.bytes(MAX_MESSAGE_LEN - MSG1_OVERHEAD),
    );
    assert_eq!(m1.len(), MAX_MESSAGE_LEN);
    let m2 = ours_to_snow(
        &mut ours,
        &mut theirs,
        &rng.bytes(MAX_MESSAGE_LEN - MSG2_OVERHEAD),
    );
    assert_eq!(m2.len(), MAX_MESSAGE_LEN);
    let m3 = snow_to_ours(
        &mut theirs,
        &mut ours,
        &rng.bytes(MAX_MESSAGE_LEN - MSG3_OVERHEAD),
    );
    assert_eq!(m3.len(), MAX_MESSAGE_LEN);

    let mut ours = ours.split().unwrap();
    let mut theirs = theirs.into_transport_mode().unwrap();
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let mut got = vec![0u8; MAX_MESSAGE_LEN];
    let payload = rng.bytes(MAX_TRANSPORT_PAYLOAD);
    let n = ours.write_message(&payload, &mut wire).unwrap();
    assert_eq!(n, MAX_MESSAGE_LEN);
    let m = theirs.read_message(&wire[..n], &mut got).unwrap();
    assert_eq!(&got[..m], &payload[..]);
    let n = theirs.write_message(&payload, &mut wire).unwrap();
    let m = ours.read_message(&wire[..n], &mut got).unwrap();
    assert_eq!(&got[..m], &payload[..]);
}

#[test]
fn rekey_interoperates() {
    let mut rng = TestRng::new(500);
    let (i_s, r_s) = (rng.key(), rng.key());
    let i_static = StaticKeypair::from_secret(i_s);
    let r_public = StaticKeypair::from_secret(r_s).public_key();
    let mut ours = HandshakeState::new_initiator(&i_static, &r_public, b"", rng.key());
    let mut theirs = snow_responder(&r_s, b"", None);
    ours_to_snow(&mut ours, &mut theirs, b"");
    snow_to_ours(&mut theirs, &mut ours, b"");
    ours_to_snow(&mut ours, &mut theirs, b"");
    let mut ours = ours.split().unwrap();
    let mut theirs = theirs.into_transport_mode().unwrap();

    exchange(&mut ours, &mut theirs, &mut rng, 3);
    ours.rekey_outgoing().unwrap();
    theirs.rekey_incoming();
    ours.rekey_incoming().unwrap();
    theirs.rekey_outgoing();
    // Nonces keep counting across a rekey; exchange() checks them from zero, so go direct.
    let mut wire = vec![0u8; 256];
    let mut got = vec![0u8; 256];
    let n = ours.write_message(b"after rekey", &mut wire).unwrap();
    let m = theirs.read_message(&wire[..n], &mut got).unwrap();
    assert_eq!(&got[..m], b"after rekey");
    let n = theirs.write_message(b"back", &mut wire).unwrap();
    let m = ours.read_message(&wire[..n], &mut got).unwrap();
    assert_eq!(&got[..m], b"back");
    assert_eq!(ours.sending_nonce(), 4);
}

#[test]
fn last_usable_nonce_matches_snow_then_exhausts() {
    // Nonce 2^64 - 2 is the last one Noise allows; compare its ciphertext with snow's
    // stateless transport (which takes the nonce explicitly), then expect exhaustion.
    let mut rng = TestRng::new(600);
    let (i_s, r_s) = (rng.key(), rng.key());
    let i_static = StaticKeypair::from_secret(i_s);
    let r_public = StaticKeypair::from_secret(r_s).public_key();
    let mut ours = HandshakeState::new_initiator(&i_static, &r_public, b"", rng.key());
    let mut theirs = snow_responder(&r_s, b"", None);
    ours_to_snow(&mut ours, &mut theirs, b"");
    snow_to_ours(&mut theirs, &mut ours, b"");
    ours_to_snow(&mut ours, &mut theirs, b"");
    let mut ours = ours.split().unwrap();
    let theirs = theirs.into_stateless_transport_mode().unwrap();

    let last = u64::MAX - 1;
    ours.advance_sending_nonce_to(last).unwrap();
    ours.advance_receiving_nonce_to(last).unwrap();
    let mut wire = [0u8; 64];
    let mut got = [0u8; 64];

    let n = ours.write_message(b"final words", &mut wire).unwrap();
    let m = theirs
        .read_message(last, &wire[..n], &mut got)
        .expect("snow decrypts nonce 2^64-2");
    assert_eq!(&got[..m], b"final words");

    let n = theirs.write_message(last, b"likewise", &mut wire).unwrap();
    let m = ours.read_message(&wire[..n], &mut got).unwrap();
    assert_eq!(&got[..m], b"likewise");

    assert_eq!(ours.sending_nonce(), u64::MAX);
    assert_eq!(
        ours.write_message(b"one more", &mut wire),
        Err(Error::NonceExhausted)
    );
    assert!(ours.is_poisoned());
    assert_eq!(
        ours.read_message(&wire[..n], &mut got),
        Err(Error::Poisoned)
    );
}
