//! Host benchmark: `nexus-noise-xk` against `snow` 0.10, same protocol, same machine.
//!
//! Run with `cargo bench -p nexus-noise-xk --bench xk_vs_snow` (release profile). It prints
//! figures and ratios only; there are no timing assertions, so it never fails on a slow or
//! noisy machine.
//!
//! Design notes:
//! - Handshakes: one iteration is a complete `Noise_XK_25519_ChaChaPoly_BLAKE2s` handshake
//!   with both roles run in this thread (build both states, messages 1..3 with empty
//!   payloads, `split` on both sides). Static key pairs are built once outside the loop for
//!   both libraries; ephemeral keys are generated per handshake by both (snow draws them
//!   from its RNG, ours are injected from a cheap counter so no RNG is timed for us).
//! - Transport: 65519-byte payloads (the largest a 65535-byte Noise message can carry).
//!   Encryption is timed over a batch of messages, then decryption of the same batch, so
//!   each figure is one direction of one session.
//! - Each measurement is repeated `ROUNDS` times with the two libraries interleaved; the best
//!   round is reported, which filters out scheduler noise better than the mean.

use std::hint::black_box;
use std::time::{Duration, Instant};

use nexus_noise_xk::{
    HandshakeState, StaticKeypair, TransportState, MAX_MESSAGE_LEN, MAX_TRANSPORT_PAYLOAD,
    PROTOCOL_NAME,
};

const PROLOGUE: &[u8] = b"xk-bench";
const ROUNDS: usize = 7;
const HANDSHAKES_PER_ROUND: usize = 1000;
const MESSAGES_PER_ROUND: usize = 160;

fn secret(tag: u8, counter: u64) -> [u8; 32] {
    let mut out = [tag; 32];
    out[..8].copy_from_slice(&counter.to_le_bytes());
    out
}

struct Keys {
    i_secret: [u8; 32],
    r_secret: [u8; 32],
    i_static: StaticKeypair,
    r_static: StaticKeypair,
    r_public: [u8; 32],
}

impl Keys {
    fn new() -> Self {
        let (i_secret, r_secret) = (secret(0x11, 1), secret(0x22, 2));
        let i_static = StaticKeypair::from_secret(i_secret);
        let r_static = StaticKeypair::from_secret(r_secret);
        let r_public = r_static.public_key();
        Self {
            i_secret,
            r_secret,
            i_static,
            r_static,
            r_public,
        }
    }
}

fn ours_handshake(
    keys: &Keys,
    counter: u64,
    wire: &mut [u8],
    scratch: &mut [u8],
) -> (TransportState, TransportState) {
    let mut init = HandshakeState::new_initiator(
        &keys.i_static,
        &keys.r_public,
        PROLOGUE,
        secret(0x33, counter),
    );
    let mut resp = HandshakeState::new_responder(&keys.r_static, PROLOGUE, secret(0x44, counter));
    let n = init.write_message(b"", wire).unwrap();
    resp.read_message(&wire[..n], scratch).unwrap();
    let n = resp.write_message(b"", wire).unwrap();
    init.read_message(&wire[..n], scratch).unwrap();
    let n = init.write_message(b"", wire).unwrap();
    resp.read_message(&wire[..n], scratch).unwrap();
    (init.split().unwrap(), resp.split().unwrap())
}

fn snow_handshake(
    keys: &Keys,
    params: &snow::params::NoiseParams,
    wire: &mut [u8],
    scratch: &mut [u8],
) -> (snow::TransportState, snow::TransportState) {
    let mut init = snow::Builder::new(params.clone())
        .local_private_key(&keys.i_secret)
        .unwrap()
        .remote_public_key(&keys.r_public)
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut resp = snow::Builder::new(params.clone())
        .local_private_key(&keys.r_secret)
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_responder()
        .unwrap();
    let n = init.write_message(b"", wire).unwrap();
    resp.read_message(&wire[..n], scratch).unwrap();
    let n = resp.write_message(b"", wire).unwrap();
    init.read_message(&wire[..n], scratch).unwrap();
    let n = init.write_message(b"", wire).unwrap();
    resp.read_message(&wire[..n], scratch).unwrap();
    (
        init.into_transport_mode().unwrap(),
        resp.into_transport_mode().unwrap(),
    )
}

/// Times `iterations` calls of `f` and returns operations per second.
fn rate(iterations: usize, mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    for i in 0..iterations {
        f(i);
    }
    iterations as f64 / start.elapsed().max(Duration::from_nanos(1)).as_secs_f64()
}

fn mib_per_s(messages_per_s: f64) -> f64 {
    messages_per_s * MAX_TRANSPORT_PAYLOAD as f64 / (1024.0 * 1024.0)
}

fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

fn main() {
    let keys = Keys::new();
    let params: snow::params::NoiseParams = PROTOCOL_NAME.parse().unwrap();
    let mut wire = vec![0u8; MAX_MESSAGE_LEN];
    let mut scratch = vec![0u8; MAX_MESSAGE_LEN];

    // Sanity: both libraries complete the handshake and agree with themselves.
    let (mut oi, mut or) = ours_handshake(&keys, 0, &mut wire, &mut scratch);
    let n = oi.write_message(b"check", &mut wire).unwrap();
    assert_eq!(or.read_message(&wire[..n], &mut scratch).unwrap(), 5);

    // --- handshakes ---
    let (mut ours_hs, mut snow_hs) = (Vec::new(), Vec::new());
    let mut counter = 1u64;
    for _ in 0..ROUNDS {
        ours_hs.push(rate(HANDSHAKES_PER_ROUND, |_| {
            counter += 1;
            black_box(ours_handshake(&keys, counter, &mut wire, &mut scratch));
        }));
        snow_hs.push(rate(HANDSHAKES_PER_ROUND, |_| {
            black_box(snow_handshake(&keys, &params, &mut wire, &mut scratch));
        }));
    }

    // --- transport ---
    let payload = vec![0xa5u8; MAX_TRANSPORT_PAYLOAD];
    let mut batch = vec![vec![0u8; MAX_MESSAGE_LEN]; MESSAGES_PER_ROUND];
    let (mut ours_enc, mut ours_dec, mut snow_enc, mut snow_dec) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut oi, mut or) = ours_handshake(&keys, u64::MAX, &mut wire, &mut scratch);
    let (mut si, mut sr) = snow_handshake(&keys, &params, &mut wire, &mut scratch);
    for _ in 0..ROUNDS {
        ours_enc.push(rate(MESSAGES_PER_ROUND, |i| {
            let n = oi.write_message(&payload, &mut batch[i]).unwrap();
            black_box(n);
        }));
        ours_dec.push(rate(MESSAGES_PER_ROUND, |i| {
            let n = or.read_message(&batch[i], &mut scratch).unwrap();
            black_box(&scratch[..n]);
        }));
        snow_enc.push(rate(MESSAGES_PER_ROUND, |i| {
            let n = si.write_message(&payload, &mut batch[i]).unwrap();
            black_box(n);
        }));
        snow_dec.push(rate(MESSAGES_PER_ROUND, |i| {
            let n = sr.read_message(&batch[i], &mut scratch).unwrap();
            black_box(&scratch[..n]);
        }));
    }
    assert_eq!(
        &scratch[..16],
        &payload[..16],
        "decryption produced the payload"
    );

    let (oh, sh) = (best(&ours_hs), best(&snow_hs));
    let (oe, se) = (mib_per_s(best(&ours_enc)), mib_per_s(best(&snow_enc)));
    let (od, sd) = (mib_per_s(best(&ours_dec)), mib_per_s(best(&snow_dec)));
    println!("{PROTOCOL_NAME}: nexus-noise-xk vs snow 0.10 (best of {ROUNDS} rounds)");
    println!(
        "full XK handshake (both sides + split): ours {oh:>9.0}/s  snow {sh:>9.0}/s  ratio {:.2}x  (target >= 1.00x)",
        oh / sh
    );
    println!(
        "transport encrypt, {MAX_TRANSPORT_PAYLOAD} B msgs:  ours {oe:>9.1} MiB/s  snow {se:>9.1} MiB/s  ratio {:.2}x  (target >= 0.90x)",
        oe / se
    );
    println!(
        "transport decrypt, {MAX_TRANSPORT_PAYLOAD} B msgs:  ours {od:>9.1} MiB/s  snow {sd:>9.1} MiB/s  ratio {:.2}x  (target >= 0.90x)",
        od / sd
    );
}
