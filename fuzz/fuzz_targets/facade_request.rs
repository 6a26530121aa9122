//! Sockets facade (nexus-net): the request/reply codecs and the full server
//! path `dispatch` → handle table → deterministic fake backend → reply.
//!
//! Input: chunks (see `neuron_fuzz`), each one request. `ctl` bit 0 picks the
//! client (id 1 or 2), bit 1 advances the virtual clock by `(ctl >> 2) & 31`
//! ms and polls parked requests after the dispatch, `ctl & 0xc0 == 0xc0`
//! drops the client (closes its sockets) before the dispatch.
//!
//! Invariants: never panics; every reply (immediate or from `poll`) decodes
//! with `decode_reply`, carries this server's instance, and echoes the op
//! byte and correlation id whenever the request header was readable; only
//! `Wait`/`Ping` park, each parked request is answered exactly once (or
//! dropped with its client), and everything parked is answered once the
//! clock passes every deadline. Decoding is canonical: a decoded request or
//! reply re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuron_fuzz::chunks;
use nexus_net::fake::FakeNet;
use nexus_net::wire::{encode_error_reply, REQUEST_MAGIC};
use nexus_net::{
    decode_reply, decode_request, dispatch, encode_reply, encode_request, ClientId, Ipv4Addr, Op,
    Outcome, Server, FACADE_MSG_MAX,
};

const INSTANCE: u32 = 7;
const MS: u64 = 1_000_000;

/// Decode → re-encode must reproduce the input exactly.
fn codec_roundtrip(data: &[u8]) {
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    if let Ok((h, req)) = decode_request(data) {
        assert_eq!(h.flags, 0);
        let n = encode_request(&req, h.correlation, h.instance, &mut buf)
            .expect("a decoded request re-encodes");
        assert_eq!(&buf[..n], data, "request decoding is not canonical");
    }
    if let Ok(m) = decode_reply(data) {
        let n = match m.body {
            Ok(r) => {
                assert_eq!(r.op() as u8, m.header.op);
                encode_reply(&r, m.header.correlation, m.header.instance, &mut buf)
            }
            Err(e) => {
                assert_eq!(e.code(), m.header.status);
                encode_error_reply(
                    m.header.op,
                    e,
                    m.header.correlation,
                    m.header.instance,
                    &mut buf,
                )
            }
        }
        .expect("a decoded reply re-encodes");
        assert_eq!(&buf[..n], data, "reply decoding is not canonical");
    }
}

/// Checks one reply produced for `request`.
fn check_reply(reply: &[u8], request: &[u8]) {
    let m = decode_reply(reply).expect("every reply decodes");
    assert_eq!(m.header.instance, INSTANCE);
    if request.len() >= 8 && request[0] == REQUEST_MAGIC {
        let corr = u32::from_le_bytes([request[4], request[5], request[6], request[7]]);
        assert_eq!(m.header.correlation, corr, "correlation not echoed");
        assert_eq!(m.header.op, request[2], "op not echoed");
    } else {
        assert_eq!(m.header.correlation, 0);
    }
    match decode_request(request) {
        Ok((_, req)) => {
            if let Ok(r) = m.body {
                assert_eq!(r.op(), req.op());
            }
        }
        Err(e) => assert_eq!(m.body.err(), Some(e.error)),
    }
}

fuzz_target!(|data: &[u8]| {
    codec_roundtrip(data);

    let mut net = FakeNet::new();
    let a = net.add_node(Ipv4Addr::new(10, 0, 0, 1));
    let _b = net.add_node(Ipv4Addr::new(10, 0, 0, 2));
    let mut server = Server::new(INSTANCE);
    let mut reply = Box::new([0u8; FACADE_MSG_MAX]);
    // (client, correlation) of every request parked and not yet answered.
    let mut parked: Vec<(ClientId, u32)> = Vec::new();

    let answer = |parked: &mut Vec<(ClientId, u32)>, c: ClientId, corr: u32, bytes: &[u8]| {
        let i = parked
            .iter()
            .position(|p| *p == (c, corr))
            .expect("poll answered a request that was not parked");
        parked.swap_remove(i);
        let m = decode_reply(bytes).expect("a woken reply decodes");
        assert_eq!(m.header.correlation, corr);
        assert_eq!(m.header.instance, INSTANCE);
        assert!([Op::Wait, Op::WaitAny, Op::Ping]
            .iter()
            .any(|o| m.header.op == *o as u8));
    };

    for chunk in chunks(data).take(64) {
        let client = ClientId(1 + u64::from(chunk.ctl & 1));
        if chunk.ctl & 0xc0 == 0xc0 {
            server.drop_client(&mut net.node(a), client);
            parked.retain(|(c, _)| *c != client);
        }
        let now = net.now();
        match dispatch(
            &mut net.node(a),
            &mut server,
            client,
            chunk.data,
            &mut reply,
            now,
        ) {
            Outcome::Reply(n) => {
                assert!(n > 0 && n <= FACADE_MSG_MAX);
                check_reply(&reply[..n], chunk.data);
            }
            Outcome::Parked => {
                let (h, _) = decode_request(chunk.data).expect("only valid requests park");
                assert!([Op::Wait, Op::WaitAny, Op::Ping]
                    .iter()
                    .any(|o| h.op == *o as u8));
                parked.push((client, h.correlation));
            }
        }
        assert_eq!(server.parked().len(), parked.len());
        if chunk.ctl & 2 != 0 {
            net.advance(u64::from((chunk.ctl >> 2) & 31) * MS);
            let now = net.now();
            server.poll(&mut net.node(a), now, |c, corr, bytes| {
                answer(&mut parked, c, corr, bytes)
            });
            assert_eq!(server.parked().len(), parked.len());
        }
    }

    // Past every deadline, everything parked is answered.
    net.set_now(u64::MAX);
    server.poll(&mut net.node(a), u64::MAX, |c, corr, bytes| {
        answer(&mut parked, c, corr, bytes)
    });
    assert!(parked.is_empty(), "parked requests left unanswered");
    assert!(server.parked().is_empty());
});
