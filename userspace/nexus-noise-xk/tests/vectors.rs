//! Published-vector conformance: cacophony, noise-c and snow vectors for XK_25519_ChaChaPoly_BLAKE2s.
//!
//! Design notes:
//! - `xk_vectors.txt` holds the entries copied verbatim from the public vector files (sources
//!   are recorded in its header and in docs/noise-xk.md). It is compiled in with
//!   `include_str!` so the test cannot silently run against nothing: the parser asserts that
//!   it found the expected number of vectors and messages.
//! - Each vector is checked in both directions: our initiator must produce every initiator
//!   message byte-for-byte and accept every responder message, and vice versa, including all
//!   transport messages and the final handshake hash.

mod common;

use common::{unhex, unhex32};
use nexus_noise_xk::{HandshakeState, StaticKeypair, TransportState, MAX_MESSAGE_LEN};

const VECTORS: &str = include_str!("xk_vectors.txt");

struct Vector {
    name: String,
    prologue: Vec<u8>,
    init_static: [u8; 32],
    init_ephemeral: [u8; 32],
    init_remote_static: [u8; 32],
    resp_static: [u8; 32],
    resp_ephemeral: [u8; 32],
    handshake_hash: Option<[u8; 32]>,
    messages: Vec<(Vec<u8>, Vec<u8>)>,
}

fn parse() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let flush = |fields: &mut Vec<(String, String)>, out: &mut Vec<Vector>| {
        if fields.is_empty() {
            return;
        }
        let find = |key: &str| -> Option<String> {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let get = |key: &str| find(key).unwrap_or_else(|| panic!("vector missing {key}"));
        let messages = fields
            .iter()
            .filter(|(k, _)| k == "message")
            .map(|(_, v)| {
                let (payload, ciphertext) = v.split_once(' ').expect("message needs two fields");
                (unhex(payload), unhex(ciphertext))
            })
            .collect();
        out.push(Vector {
            name: get("vector"),
            prologue: unhex(&get("prologue")),
            init_static: unhex32(&get("init_static")),
            init_ephemeral: unhex32(&get("init_ephemeral")),
            init_remote_static: unhex32(&get("init_remote_static")),
            resp_static: unhex32(&get("resp_static")),
            resp_ephemeral: unhex32(&get("resp_ephemeral")),
            handshake_hash: find("handshake_hash").map(|h| unhex32(&h)),
            messages,
        });
        fields.clear();
    };
    for line in VECTORS.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(':').expect("key: value line");
        if key == "vector" {
            flush(&mut fields, &mut out);
        }
        fields.push((key.trim().to_string(), value.trim().to_string()));
    }
    flush(&mut fields, &mut out);
    out
}

fn vectors() -> Vec<Vector> {
    let vectors = parse();
    assert_eq!(
        vectors.len(),
        3,
        "expected the cacophony, noise-c and snow vectors"
    );
    for v in &vectors {
        assert!(v.messages.len() >= 5, "{}: 3 handshake + transport", v.name);
    }
    // Two of the three sources publish the final handshake hash; both must be checked.
    assert_eq!(
        vectors
            .iter()
            .filter(|v| v.handshake_hash.is_some())
            .count(),
        2
    );
    vectors
}

fn states(v: &Vector) -> (HandshakeState, HandshakeState) {
    let init_static = StaticKeypair::from_secret(v.init_static);
    let resp_static = StaticKeypair::from_secret(v.resp_static);
    assert_eq!(
        resp_static.public_key(),
        v.init_remote_static,
        "{}: vector's responder key pair is inconsistent",
        v.name
    );
    let initiator = HandshakeState::new_initiator(
        &init_static,
        &v.init_remote_static,
        &v.prologue,
        v.init_ephemeral,
    );
    let responder = HandshakeState::new_responder(&resp_static, &v.prologue, v.resp_ephemeral);
    (initiator, responder)
}

/// Writes with `writer`, checks the bytes against the vector, reads with `reader`.
fn handshake_step(
    name: &str,
    index: usize,
    writer: &mut HandshakeState,
    reader: &mut HandshakeState,
    payload: &[u8],
    expected: &[u8],
) {
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let n = writer.write_message(payload, &mut wire).unwrap();
    assert_eq!(&wire[..n], expected, "{name}: handshake message {index}");
    let mut got = vec![0u8; MAX_MESSAGE_LEN];
    let m = reader.read_message(expected, &mut got).unwrap();
    assert_eq!(&got[..m], payload, "{name}: handshake payload {index}");
}

fn transport_step(
    name: &str,
    index: usize,
    writer: &mut TransportState,
    reader: &mut TransportState,
    payload: &[u8],
    expected: &[u8],
) {
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let n = writer.write_message(payload, &mut wire).unwrap();
    assert_eq!(&wire[..n], expected, "{name}: transport message {index}");
    let mut got = vec![0u8; MAX_MESSAGE_LEN];
    let m = reader.read_message(expected, &mut got).unwrap();
    assert_eq!(&got[..m], payload, "{name}: transport payload {index}");
}

#[test]
fn vector_file_parses_into_three_vectors() {
    let names: Vec<String> = vectors().into_iter().map(|v| v.name).collect();
    assert!(names[0].starts_with("cacophony"));
    assert!(names[1].starts_with("noise-c"));
    assert!(names[2].starts_with("snow"));
}

#[test]
fn published_vectors_match_byte_for_byte() {
    for v in vectors() {
        let (mut initiator, mut responder) = states(&v);
        let m = &v.messages;
        handshake_step(&v.name, 1, &mut initiator, &mut responder, &m[0].0, &m[0].1);
        handshake_step(&v.name, 2, &mut responder, &mut initiator, &m[1].0, &m[1].1);
        handshake_step(&v.name, 3, &mut initiator, &mut responder, &m[2].0, &m[2].1);
        assert!(initiator.is_finished() && responder.is_finished());
        let hash = initiator.handshake_hash().expect("finished");
        assert_eq!(responder.handshake_hash(), Some(hash), "{}", v.name);
        if let Some(expected) = v.handshake_hash {
            assert_eq!(hash, expected, "{}: handshake hash", v.name);
        }
        // Identity binding: each side sees the other's real static key.
        assert_eq!(initiator.remote_static(), Some(v.init_remote_static));
        assert_eq!(
            responder.remote_static(),
            Some(StaticKeypair::from_secret(v.init_static).public_key())
        );

        let mut init_session = initiator.split().unwrap();
        let mut resp_session = responder.split().unwrap();
        assert_eq!(init_session.handshake_hash(), &hash);
        assert_eq!(resp_session.handshake_hash(), &hash);
        for (i, (payload, ciphertext)) in m.iter().enumerate().skip(3) {
            if i % 2 == 0 {
                // Even indices (messages 1, 3, 5, ...) are the initiator's turn.
                transport_step(
                    &v.name,
                    i + 1,
                    &mut init_session,
                    &mut resp_session,
                    payload,
                    ciphertext,
                );
            } else {
                transport_step(
                    &v.name,
                    i + 1,
                    &mut resp_session,
                    &mut init_session,
                    payload,
                    ciphertext,
                );
            }
        }
        let transport = (m.len() - 3) as u64;
        assert_eq!(init_session.sending_nonce(), transport / 2);
        assert_eq!(init_session.receiving_nonce(), transport.div_ceil(2));
        assert_eq!(resp_session.sending_nonce(), transport.div_ceil(2));
        assert_eq!(resp_session.receiving_nonce(), transport / 2);
    }
}

#[test]
fn vectors_with_the_other_prologue_fail() {
    // The two vectors differ only in prologue; swapping prologues must break message 1.
    let vs = vectors();
    let (a, b) = (&vs[0], &vs[1]);
    let resp_static = StaticKeypair::from_secret(a.resp_static);
    let mut responder = HandshakeState::new_responder(&resp_static, &b.prologue, a.resp_ephemeral);
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    assert!(responder.read_message(&a.messages[0].1, &mut out).is_err());
    assert!(responder.is_poisoned());
}

#[test]
fn every_single_byte_change_of_vector_messages_is_rejected() {
    // Flip one bit of each byte of each handshake message of the cacophony vector in turn.
    let v = &vectors()[0];
    let mut scratch = vec![0u8; MAX_MESSAGE_LEN];
    for index in 0..3 {
        for pos in 0..v.messages[index].1.len() {
            let (mut initiator, mut responder) = states(v);
            let mut wire = vec![0u8; MAX_MESSAGE_LEN];
            // Replay the honest prefix.
            for step in 0..index {
                let (writer, reader) = if step % 2 == 0 {
                    (&mut initiator, &mut responder)
                } else {
                    (&mut responder, &mut initiator)
                };
                let n = writer
                    .write_message(&v.messages[step].0, &mut wire)
                    .unwrap();
                reader.read_message(&wire[..n], &mut scratch).unwrap();
            }
            let reader = if index % 2 == 0 {
                &mut responder
            } else {
                &mut initiator
            };
            let mut bad = v.messages[index].1.clone();
            bad[pos] ^= 0x01;
            assert!(
                reader.read_message(&bad, &mut scratch).is_err(),
                "message {} byte {pos} flip accepted",
                index + 1
            );
            assert!(reader.is_poisoned());
        }
    }
}
