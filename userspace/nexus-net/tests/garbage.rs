//! Hostile-input tests: truncations, random bytes, lies, bad versions, through decode and dispatch.
//!
//! Design notes
//! ------------
//! The invariant under test: decoding is total and `dispatch` answers every
//! input with a well-formed reply whose correlation id is the request's
//! (or 0 when the first 8 bytes or the magic are unusable). The random
//! inputs come from a fixed-seed xorshift generator, so failures reproduce.

mod common;

use common::{encode, sample_requests, Harness, Rng};
use nexus_net::wire::{DecodeError, REQUEST_HEADER_LEN, REQUEST_MAGIC};
use nexus_net::{
    decode_reply, decode_request, Handle, NetError, Op, Outcome, Request, TcpStream,
    FACADE_MSG_MAX, MAX_IO,
};

fn decode_err(bytes: &[u8]) -> DecodeError {
    match decode_request(bytes) {
        Ok(ok) => panic!("decoded garbage {bytes:02x?} as {ok:?}"),
        Err(e) => e,
    }
}

/// Correlation id a reply to `bytes` must carry.
fn expected_corr(bytes: &[u8]) -> u32 {
    if bytes.len() >= 8 && bytes[0] == REQUEST_MAGIC {
        u32::from_le_bytes(bytes[4..8].try_into().unwrap())
    } else {
        0
    }
}

/// Dispatches `bytes` and checks the reply is a well-formed error reply
/// echoing the right correlation id; returns the error.
fn dispatch_err(h: &mut Harness, bytes: &[u8]) -> NetError {
    let out = h.raw(0, 1, bytes);
    assert!(
        matches!(out, Outcome::Reply(n) if n > 0),
        "no reply to {bytes:02x?}"
    );
    let msg = h.decoded();
    assert_eq!(msg.header.correlation, expected_corr(bytes));
    msg.body.expect_err("garbage must not succeed")
}

#[test]
fn empty_and_tiny_inputs_get_correlation_zero_malformed() {
    let mut h = Harness::new(&[[10, 0, 0, 1]]);
    for len in 0..8 {
        let bytes = vec![REQUEST_MAGIC; len];
        let e = decode_err(&bytes);
        assert_eq!((e.correlation, e.op, e.error), (0, 0, NetError::Malformed));
        assert_eq!(dispatch_err(&mut h, &bytes), NetError::Malformed);
        assert_eq!(h.decoded().header.op, 0);
    }
}

#[test]
fn bad_magic_is_unreadable() {
    let mut bytes = encode(&Request::LocalAddr, 0x1234, 0);
    bytes[0] = b'X';
    let e = decode_err(&bytes);
    assert_eq!((e.correlation, e.error), (0, NetError::Malformed));
}

#[test]
fn every_truncation_of_every_valid_request_is_rejected() {
    let mut h = Harness::new(&[[10, 0, 0, 1]]);
    for req in sample_requests() {
        let bytes = encode(&req, 0xC0FFEE, 0);
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            let e = decode_err(cut);
            assert_eq!(e.error, NetError::Malformed, "{req:?} cut at {len}");
            assert_eq!(e.correlation, expected_corr(cut));
            assert_eq!(dispatch_err(&mut h, cut), NetError::Malformed);
        }
    }
}

#[test]
fn trailing_garbage_is_rejected() {
    for req in sample_requests() {
        let mut bytes = encode(&req, 42, 0);
        if bytes.len() >= FACADE_MSG_MAX - 1 {
            continue;
        }
        bytes.push(0);
        // Header length now lies about the body.
        assert_eq!(decode_err(&bytes).error, NetError::Malformed, "{req:?}");
        // Header fixed up: the extra byte is trailing inside the body.
        let body = (bytes.len() - REQUEST_HEADER_LEN) as u16;
        bytes[12..14].copy_from_slice(&body.to_le_bytes());
        let e = decode_err(&bytes);
        assert_eq!(
            (e.correlation, e.error),
            (42, NetError::Malformed),
            "{req:?}"
        );
    }
}

#[test]
fn wrong_version_is_bad_version_with_correlation() {
    let mut h = Harness::new(&[[10, 0, 0, 1]]);
    for v in [0u8, 2, 0xff] {
        let mut bytes = encode(&Request::LocalAddr, 0xBADC0DE, 0);
        bytes[1] = v;
        let e = decode_err(&bytes);
        assert_eq!((e.correlation, e.error), (0xBADC0DE, NetError::BadVersion));
        assert_eq!(dispatch_err(&mut h, &bytes), NetError::BadVersion);
        // A v2 header may be shorter/longer: the version wins over layout checks.
        assert_eq!(decode_err(&bytes[..8]).error, NetError::BadVersion);
    }
}

#[test]
fn unknown_op_and_flags_are_unsupported_and_echoed() {
    let mut h = Harness::new(&[[10, 0, 0, 1]]);
    let known: Vec<u8> = Op::ALL.iter().map(|o| *o as u8).collect();
    for op in (0..=255u8).filter(|o| !known.contains(o)) {
        let mut bytes = encode(&Request::LocalAddr, 7, 0);
        bytes[2] = op;
        assert_eq!(dispatch_err(&mut h, &bytes), NetError::Unsupported);
        assert_eq!(h.decoded().header.op, op);
    }
    let mut bytes = encode(&Request::LocalAddr, 7, 0);
    bytes[3] = 0x80;
    assert_eq!(dispatch_err(&mut h, &bytes), NetError::Unsupported);
}

#[test]
fn length_lies_and_nonzero_padding_are_malformed() {
    let s = TcpStream::from_handle(Handle::from_raw(0x101));
    let good = encode(
        &Request::TcpWrite {
            stream: s,
            data: b"abcdef",
        },
        9,
        0,
    );
    let check = |bytes: &[u8], what: &str| {
        let e = decode_err(bytes);
        assert_eq!((e.correlation, e.error), (9, NetError::Malformed), "{what}");
    };
    for body_len in [0u16, 13, 15, 0xffff] {
        let mut b = good.clone();
        b[12..14].copy_from_slice(&body_len.to_le_bytes());
        check(&b, "header body length lies");
    }
    for data_len in [0u16, 5, 7, 0xffff] {
        let mut b = good.clone();
        b[20..22].copy_from_slice(&data_len.to_le_bytes());
        check(&b, "payload length lies");
    }
    let mut b = good.clone();
    b[14] = 1;
    check(&b, "reserved header bytes");
    let mut b = good.clone();
    b[23] = 1;
    check(&b, "body padding");
}

#[test]
fn oversized_messages_and_payloads_are_refused() {
    let mut h = Harness::new(&[[10, 0, 0, 1]]);
    // A self-consistent write whose payload exceeds MAX_IO but fits a message.
    let n = MAX_IO + 1;
    let mut b = encode(
        &Request::TcpWrite {
            stream: TcpStream::from_handle(Handle::from_raw(0x101)),
            data: b"x",
        },
        5,
        0,
    );
    b.truncate(REQUEST_HEADER_LEN + 8);
    b.resize(REQUEST_HEADER_LEN + 8 + n, 0x33);
    b[12..14].copy_from_slice(&((8 + n) as u16).to_le_bytes());
    b[20..22].copy_from_slice(&(n as u16).to_le_bytes());
    assert!(b.len() <= FACADE_MSG_MAX);
    assert_eq!(decode_err(&b).error, NetError::InvalidInput);
    assert_eq!(dispatch_err(&mut h, &b), NetError::InvalidInput);
    // A self-consistent message larger than the IPC limit.
    let n = FACADE_MSG_MAX;
    b.resize(REQUEST_HEADER_LEN + 8 + n, 0x33);
    b[12..14].copy_from_slice(&((8 + n) as u16).to_le_bytes());
    b[20..22].copy_from_slice(&(n as u16).to_le_bytes());
    assert_eq!(decode_err(&b).error, NetError::Malformed);
    assert_eq!(dispatch_err(&mut h, &b), NetError::Malformed);
    // Out-of-range fields inside a well-formed message.
    let mut w = encode(
        &Request::Wait {
            handle: Handle::from_raw(0x101),
            interest: nexus_net::Readiness::READABLE,
            deadline_ns: 1,
        },
        6,
        0,
    );
    w[20] = 0x40;
    assert_eq!(decode_err(&w).error, NetError::InvalidInput);
}

#[test]
fn random_bytes_never_panic_and_always_get_a_reply() {
    let mut h = Harness::new(&[[10, 0, 0, 1], [10, 0, 0, 2]]);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut decoded_ok = 0;
    for i in 0..20_000 {
        let len = rng.below(96) as usize;
        let mut bytes = rng.bytes(len);
        // Half the inputs get a plausible header start to reach deeper code.
        if i % 2 == 0 && len >= 16 {
            bytes[0] = REQUEST_MAGIC;
            bytes[1] = 1;
            bytes[2] = Op::ALL[rng.below(13) as usize] as u8;
            bytes[3] = 0;
            bytes[12..14].copy_from_slice(&((len - 16) as u16).to_le_bytes());
            bytes[14] = 0;
            bytes[15] = 0;
            bytes[8..12].fill(0);
        }
        if decode_request(&bytes).is_ok() {
            decoded_ok += 1;
        }
        match h.raw(0, 1 + (i % 3), &bytes) {
            Outcome::Reply(_) => {
                let msg = decode_reply(h.reply_bytes()).expect("reply decodes");
                assert_eq!(msg.header.correlation, expected_corr(&bytes));
            }
            Outcome::Parked => {}
        }
        h.advance(rng.below(1_000_000));
    }
    assert!(
        decoded_ok > 0,
        "the generator should hit some valid requests"
    );
    // Parked random waits/pings all come back eventually with their ids.
    h.advance(u64::MAX / 2);
    let woke = h.poll(0);
    for (_, corr, bytes) in woke {
        assert_eq!(decode_reply(&bytes).unwrap().header.correlation, corr);
    }
    assert!(h.servers[0].parked().is_empty() || h.servers[0].next_deadline() > Some(h.now()));
}

#[test]
fn mutated_valid_requests_never_panic() {
    let mut h = Harness::new(&[[10, 0, 0, 1], [10, 0, 0, 2]]);
    let mut rng = Rng(42);
    let samples: Vec<Vec<u8>> = sample_requests().iter().map(|r| encode(r, 77, 0)).collect();
    for _ in 0..20_000 {
        let mut bytes = samples[rng.below(samples.len() as u64) as usize].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(bytes.len() as u64) as usize;
            bytes[i] ^= 1 << rng.below(8);
        }
        if let Outcome::Reply(_) = h.raw(0, 3, &bytes) {
            let msg = decode_reply(h.reply_bytes()).expect("reply decodes");
            assert_eq!(msg.header.correlation, expected_corr(&bytes));
        }
    }
}

#[test]
fn decode_reply_is_total_on_garbage_and_truncations() {
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let len = rng.below(64) as usize;
        let _ = decode_reply(&rng.bytes(len));
    }
    let mut h = Harness::new(&[[10, 0, 0, 1]]);
    h.call(0, 1, &Request::LocalAddr).unwrap();
    let good = h.reply_bytes().to_vec();
    for len in 0..good.len() {
        assert!(
            decode_reply(&good[..len]).is_err(),
            "truncated reply at {len}"
        );
    }
    let mut bad = good.clone();
    bad[12] = 0xff; // unknown status code
    bad[13] = 0xff;
    assert_eq!(decode_reply(&bad), Err(NetError::Malformed));
    let mut bad = good.clone();
    bad[1] = 9;
    assert_eq!(decode_reply(&bad), Err(NetError::BadVersion));
}
