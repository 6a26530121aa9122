//! Bring-up lite networking (nexus-lite-net): every wire parser, the driver's
//! `rx` replies as netstackd-lite takes them, the HTTP/1.0 parsers, the split virtqueue's handling of a
//! hostile device, and the `netstackd-lite` stack core — alone, and behind
//! the sockets facade (`nexus_net::dispatch` + `Server` with the lite
//! `Stack` as `Backend`, as netstackd-lite runs it) — plus the facade's
//! `NetClient` as echod and fetchd use it, fed arbitrary bytes.
//!
//! The first byte picks a mode (`% 7`); the rest is the mode's input:
//! * 0 `wire`: Ethernet / ARP / IPv4 / ICMP / UDP / DHCP parsers, both on the
//!   raw bytes and layered (Ethernet → IPv4 → ICMP | UDP → DHCP).
//! * 1 `stack`: chunks are frames into `Stack::on_frame` (`ctl & 3`: 0 raw
//!   frame, 1 UDP / 2 ICMP built with valid checksums from the chunk's fields,
//!   3 ARP payload); `ctl >> 2` advances the clock by that many 10 ms steps
//!   and runs `poll`. The first chunk's ctl bit 7 takes the fixed lease first.
//! * 2 `facade`: chunks are facade requests into `nexus_net::dispatch` on a
//!   lite stack with the fixed lease (`ctl` bit 0 = client 1 or 2, bit 1 =
//!   advance 10 ms, run the stack and `Server::poll`, `ctl & 0xc0 == 0xc0` =
//!   drop the client first, as on init's client-gone notice).
//! * 3 `driver`: the input as virtionetd-lite's reply to `rx` (the generated
//!   `nexus_interfaces::vn::reply::decode_rx`); its frames go into a stack
//!   with the fixed lease, as netstackd-lite does, and what the stack then
//!   sends must be a valid `vn` `tx` request.
//! * 4 `http`: `parse_response` (byte 0 bit 0 = EOF) and `parse_request_head`.
//! * 5 `virtq`: a `SplitQueue` whose device side (used index and elements)
//!   comes from the input.
//! * 6 `client`: `nexus_net::NetClient` running echod's and fetchd's calls
//!   over a transport that answers with the input's chunks.
//!
//! Invariants: never panics; everything the stack sends parses back
//! (Ethernet, IPv4 checksum, UDP / ICMP checksums); every facade reply
//! decodes, carries the server instance and echoes op and correlation
//! whenever the request header was readable; only `Wait`/`Ping` park and
//! each parked request is answered exactly once (or dropped with its
//! client); per-client handle and parking bounds hold; once both clients are
//! dropped the stack holds no socket and no connection; an `rx` reply holds
//! at most 5 frames of at most 1514 bytes; the virtqueue never returns a token twice or
//! a length above the posted buffer; parsed HTTP bodies lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuron_fuzz::{chunks, Input};
use nexus_interfaces::vn;
use nexus_lite_net::http;
use nexus_lite_net::stack::{SocketId, Stack, DHCP_WAIT_NS, MAX_SOCKETS};
use nexus_lite_net::virtq::{Desc, RingMem, SplitQueue, UsedError, MAX_QUEUE};
use nexus_lite_net::wire::{arp, dhcp, eth, icmp, ipv4, udp};
use nexus_net::wire::REQUEST_MAGIC;
use nexus_net::{
    decode_reply, decode_request, dispatch, ClientId, Ipv4Addr, NetClient, NetError, Op, Outcome,
    Readiness, Server, SocketAddrV4, Transport, FACADE_MSG_MAX, MAX_HANDLES_PER_CLIENT,
    MAX_PARKED_PER_CLIENT,
};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const HOST_MAC: [u8; 6] = [0x52, 0x55, 10, 0, 2, 2];
const T0: u64 = 5_000_000_000;
const STEP: u64 = 10_000_000;
const INSTANCE: u32 = 0x11e;

fn arr<const N: usize>(input: &mut Input<'_>) -> [u8; N] {
    let mut a = [0u8; N];
    for b in &mut a {
        *b = input.u8();
    }
    a
}

/// Mode 0: every parser, raw and layered.
fn wire(b: &[u8]) {
    if let Ok(p) = arp::parse(b) {
        assert_eq!(&arp::build(&p)[..], &b[..arp::LEN]);
    }
    let _ = dhcp::parse(b);
    let _ = icmp::parse(b);
    let _ = udp::parse([10, 0, 2, 2], [10, 0, 2, 15], b);
    if let Ok(f) = eth::parse(b) {
        assert!(b.len() <= eth::MAX_FRAME && f.payload.len() + eth::HEADER == b.len());
        let _ = arp::parse(f.payload);
        layered_ip(f.payload);
    }
    layered_ip(b);
}

fn layered_ip(b: &[u8]) {
    let Ok(p) = ipv4::parse(b) else { return };
    assert!(p.payload.len() + ipv4::HEADER <= b.len());
    match p.proto {
        ipv4::PROTO_ICMP => {
            if let Ok(m) = icmp::parse(p.payload) {
                assert_eq!(m.data.len() + 8, p.payload.len());
            }
        }
        ipv4::PROTO_UDP => {
            if let Ok(d) = udp::parse(p.src, p.dst, p.payload) {
                assert!(d.payload.len() + udp::HEADER <= p.payload.len());
                let _ = dhcp::parse(d.payload);
            }
        }
        _ => {}
    }
}

/// Everything the stack puts on the wire must parse back.
fn check_tx(stack: &mut Stack) {
    while let Some(f) = stack.pop_tx() {
        let e = eth::parse(&f).expect("the stack sent a bad Ethernet frame");
        assert_eq!(e.src, MAC);
        match e.ethertype {
            eth::TYPE_ARP => {
                arp::parse(e.payload).expect("the stack sent a bad ARP packet");
            }
            eth::TYPE_IPV4 => {
                let p = ipv4::parse(e.payload).expect("the stack sent a bad IPv4 packet");
                match p.proto {
                    ipv4::PROTO_UDP => {
                        udp::parse(p.src, p.dst, p.payload).expect("bad UDP from the stack");
                    }
                    ipv4::PROTO_ICMP => {
                        icmp::parse(p.payload).expect("bad ICMP from the stack");
                    }
                    other => panic!("the stack sent IP protocol {other}"),
                }
            }
            other => panic!("the stack sent ethertype {other:#x}"),
        }
    }
    while stack.take_event().is_some() {}
}

fn fixed_stack() -> Stack {
    let mut s = Stack::new(MAC, T0, DHCP_WAIT_NS);
    s.poll(T0);
    s.poll(T0 + DHCP_WAIT_NS);
    check_tx(&mut s);
    s
}

/// Mode 1: frames into the stack core.
fn stack(data: &[u8]) {
    let fixed = data.first().is_some_and(|c| c & 0x80 != 0);
    let mut s = if fixed {
        fixed_stack()
    } else {
        Stack::new(MAC, T0, DHCP_WAIT_NS)
    };
    let mut now = if fixed { T0 + DHCP_WAIT_NS } else { T0 };
    for chunk in chunks(data).take(32) {
        let mut i = Input(chunk.data);
        let dst_mac = if i.0.first().is_some_and(|b| b & 1 == 1) {
            eth::BROADCAST
        } else {
            MAC
        };
        let frame = match chunk.ctl & 3 {
            0 => chunk.data.to_vec(),
            1 => {
                let _ = i.u8();
                let (src, dst) = (arr::<4>(&mut i), arr::<4>(&mut i));
                let (sport, dport) = (i.u16(), i.u16());
                let seg = udp::build(src, dst, sport, dport, i.0);
                let pkt = ipv4::build(src, dst, ipv4::PROTO_UDP, 1, 64, &seg);
                eth::build(dst_mac, HOST_MAC, eth::TYPE_IPV4, &pkt)
            }
            2 => {
                let _ = i.u8();
                let (src, dst) = (arr::<4>(&mut i), arr::<4>(&mut i));
                let (kind, ident, seq) = (i.u8(), i.u16(), i.u16());
                let msg = icmp::build_echo(kind, ident, seq, i.0);
                let pkt = ipv4::build(src, dst, ipv4::PROTO_ICMP, 1, 64, &msg);
                eth::build(dst_mac, HOST_MAC, eth::TYPE_IPV4, &pkt)
            }
            _ => eth::build(dst_mac, HOST_MAC, eth::TYPE_ARP, chunk.data),
        };
        s.on_frame(&frame, now);
        now += u64::from(chunk.ctl >> 2) * STEP;
        s.poll(now);
        check_tx(&mut s);
    }
    // Let every timer run out.
    for _ in 0..8 {
        now += DHCP_WAIT_NS;
        s.poll(now);
        check_tx(&mut s);
    }
}

/// Checks one immediate reply produced for `request`.
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

/// Mode 2: facade requests through `dispatch`, the server and the lite stack.
fn facade(data: &[u8]) {
    let mut s = fixed_stack();
    let mut server: Server<SocketId> = Server::new(INSTANCE);
    let mut reply = Box::new([0u8; FACADE_MSG_MAX]);
    let mut now = T0 + DHCP_WAIT_NS;
    // (client, correlation) of parked requests not yet answered.
    let mut parked: Vec<(ClientId, u32)> = Vec::new();
    let answer = |parked: &mut Vec<(ClientId, u32)>, c: ClientId, corr: u32, bytes: &[u8]| {
        let i = parked
            .iter()
            .position(|p| *p == (c, corr))
            .expect("poll answered a request that was not parked");
        parked.swap_remove(i);
        let m = decode_reply(bytes).expect("a woken reply decodes");
        assert_eq!((m.header.correlation, m.header.instance), (corr, INSTANCE));
        assert!(m.header.op == Op::Wait as u8 || m.header.op == Op::Ping as u8);
    };
    let clients = [ClientId(1), ClientId(2)];
    for chunk in chunks(data).take(64) {
        let client = clients[usize::from(chunk.ctl & 1)];
        if chunk.ctl & 0xc0 == 0xc0 {
            server.drop_client(&mut s, client);
            parked.retain(|(c, _)| *c != client);
        }
        match dispatch(&mut s, &mut server, client, chunk.data, &mut reply, now) {
            Outcome::Reply(n) => {
                assert!(n > 0 && n <= FACADE_MSG_MAX);
                check_reply(&reply[..n], chunk.data);
            }
            Outcome::Parked => {
                let (h, _) = decode_request(chunk.data).expect("only valid requests park");
                assert!(h.op == Op::Wait as u8 || h.op == Op::Ping as u8);
                parked.push((client, h.correlation));
            }
        }
        assert_eq!(server.parked().len(), parked.len());
        if chunk.ctl & 2 != 0 {
            now += STEP;
            s.poll(now);
            server.poll(&mut s, now, |c, corr, b| answer(&mut parked, c, corr, b));
            assert_eq!(server.parked().len(), parked.len());
        }
        check_tx(&mut s);
        assert!(s.open_sockets() <= MAX_SOCKETS);
        for c in clients {
            assert!(server.handles().count(c) <= MAX_HANDLES_PER_CLIENT);
            assert!(server.parked().count(c) <= MAX_PARKED_PER_CLIENT);
        }
    }
    // Past every deadline, everything parked is answered.
    s.poll(u64::MAX);
    server.poll(&mut s, u64::MAX, |c, corr, b| {
        answer(&mut parked, c, corr, b)
    });
    assert!(parked.is_empty(), "parked requests left unanswered");
    // Both clients end: nothing of theirs is left in the stack.
    for c in clients {
        server.drop_client(&mut s, c);
    }
    assert_eq!(server.handles().total(), 0);
    assert_eq!((s.open_sockets(), s.open_conns()), (0, 0));
}

/// Mode 3: an `rx` reply from the driver, as netstackd-lite takes it.
fn driver(b: &[u8]) {
    let Ok(frames) = vn::reply::decode_rx(b) else {
        return;
    };
    assert!(frames.0.len() <= 5);
    let mut s = fixed_stack();
    let now = T0 + DHCP_WAIT_NS;
    for f in frames.0.iter() {
        assert!(f.len() <= eth::MAX_FRAME);
        s.on_frame(f, now);
    }
    s.poll(now + STEP);
    let mut buf = vec![0u8; vn::REQUEST_MAX];
    while let Some(f) = s.pop_tx() {
        assert!((eth::HEADER..=eth::MAX_FRAME).contains(&f.len()));
        vn::Request::Tx { frame: &f }
            .encode(&mut buf)
            .expect("every frame the stack sends fits a tx request");
        eth::parse(&f).expect("the stack sent a bad Ethernet frame");
    }
}

/// Mode 4: HTTP.
fn http_parsers(b: &[u8]) {
    let eof = b.first().is_some_and(|c| c & 1 == 1);
    if let Ok(r) = http::parse_response(b, eof) {
        assert!(r.body.len() <= http::MAX_BODY && r.body.len() <= b.len());
        assert!((100..=999).contains(&r.status));
        if let Some(n) = r.content_length {
            assert_eq!(n, r.body.len());
        }
    }
    if let Ok(h) = http::parse_request_head(b) {
        assert!(h.head_len <= b.len() && h.head_len <= http::MAX_HEAD);
        assert!(h.path.starts_with('/'));
        // What the responder answers is itself a well-formed response.
        let resp = http::respond(&h);
        http::parse_response(&resp, true).expect("respond() output parses");
    }
}

/// Device memory controlled by the fuzzer.
struct Ring<'a> {
    input: Input<'a>,
    used_idx: u16,
}

impl RingMem for Ring<'_> {
    fn write_desc(&mut self, _i: u16, _d: Desc) {}
    fn write_avail_ring(&mut self, _slot: u16, _id: u16) {}
    fn publish_avail_idx(&mut self, _idx: u16) {}
    fn read_used_idx(&self) -> u16 {
        self.used_idx
    }
    fn read_used_elem(&self, _slot: u16) -> (u32, u32) {
        // Immutable access: elements are taken from a snapshot of the input.
        let mut i = Input(self.input.0);
        let id = u32::from(i.u8()) | u32::from(i.u8() & 0x80) << 24;
        let len = u32::from(i.u16()) | u32::from(i.u8() & 0x80) << 24;
        (id, len)
    }
}

/// Mode 5: a split virtqueue facing a hostile device.
fn virtq(data: &[u8]) {
    let mut input = Input(data);
    let size = 1u16 << (input.u8() % 8);
    let Ok(mut q) = SplitQueue::new(size) else {
        assert!(usize::from(size) > MAX_QUEUE);
        return;
    };
    let mut ring = Ring {
        input: Input(&[]),
        used_idx: 0,
    };
    // token -> posted length, for buffers in flight.
    let mut in_flight: Vec<(u16, u32)> = Vec::new();
    let mut next_token = 0u16;
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        match op & 3 {
            0 | 1 => {
                let len = u32::from(input.u16());
                match q.push(&mut ring, 0x8000_0000, len, op & 1 == 1, next_token) {
                    Ok(id) => {
                        assert!(id < size);
                        in_flight.push((next_token, len));
                        next_token = next_token.wrapping_add(1);
                    }
                    Err(_) => assert!(q.num_free() == 0 || q.is_broken()),
                }
            }
            _ => {
                ring.used_idx = ring.used_idx.wrapping_add(u16::from(input.u8() % 4));
                if op & 0x80 != 0 {
                    ring.used_idx = input.u16();
                }
                ring.input = Input(input.bytes(5));
                match q.pop_used(&ring) {
                    None | Some(Err(UsedError::BogusId(_) | UsedError::NotInFlight(_))) => {}
                    Some(Err(UsedError::IndexJump { .. } | UsedError::Broken)) => {
                        assert!(q.is_broken())
                    }
                    Some(Ok(u)) => {
                        let i = in_flight
                            .iter()
                            .position(|t| t.0 == u.token)
                            .expect("a token returned that is not in flight");
                        assert!(u.len <= in_flight[i].1);
                        in_flight.swap_remove(i);
                    }
                    Some(Err(UsedError::LenOutOfRange { token, len })) => {
                        let i = in_flight
                            .iter()
                            .position(|t| t.0 == token)
                            .expect("a token returned that is not in flight");
                        assert!(len > in_flight[i].1);
                        in_flight.swap_remove(i);
                    }
                }
            }
        }
        if !q.is_broken() {
            assert_eq!(
                usize::from(q.num_free()) + in_flight.len(),
                usize::from(size)
            );
        }
    }
}

/// A transport answering with the fuzz input's chunks.
struct Replies<'a> {
    chunks: neuron_fuzz::Chunks<'a>,
}

impl Transport for Replies<'_> {
    fn call(&mut self, req: &[u8], rep: &mut [u8]) -> Result<usize, NetError> {
        let c = self.chunks.next().ok_or(NetError::ServerRestarted)?;
        let n = c.data.len().min(rep.len());
        rep[..n].copy_from_slice(&c.data[..n]);
        // Optionally make the header match the request so bodies get parsed.
        if c.ctl & 1 == 1 && n >= 16 && req.len() >= 16 {
            rep[0] = 0x6e;
            rep[1] = 1;
            rep[2] = req[2];
            rep[4..8].copy_from_slice(&req[4..8]);
        }
        if c.ctl & 2 == 2 {
            // A transport that lies about the length.
            return Ok(usize::from(c.ctl) << 8);
        }
        Ok(n)
    }
}

/// Mode 6: echod's and fetchd's facade calls decoding hostile replies.
fn client(data: &[u8]) {
    let mut c = NetClient::new(Replies {
        chunks: chunks(data),
    });
    let mut buf = [0u8; 64];
    let lo = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080);
    let udp = nexus_net::UdpSocket::from_handle(nexus_net::Handle::from_raw(0x101));
    let listener = nexus_net::TcpListener::from_handle(nexus_net::Handle::from_raw(0x102));
    let stream = nexus_net::TcpStream::from_handle(nexus_net::Handle::from_raw(0x103));
    for i in 0..64u32 {
        if c.transport_mut().chunks.is_empty() {
            break;
        }
        match i % 12 {
            0 => {
                let _ = c.udp_bind(7);
            }
            1 => {
                let _ = c.udp_send_to(udp, SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 2), 7), b"x");
            }
            2 => {
                if let Ok((n, _)) = c.udp_recv_from_by(udp, &mut buf, 1) {
                    assert!(n <= buf.len());
                }
            }
            3 => {
                let _ = c.tcp_listen(8080, 4);
            }
            4 => {
                let _ = c.tcp_accept(listener);
            }
            5 => {
                let _ = c.tcp_connect_by(lo, 1);
            }
            6 => {
                if let Ok(n) = c.tcp_read_by(stream, &mut buf, 1) {
                    assert!(n <= buf.len());
                }
            }
            7 => {
                let _ = c.tcp_write_all_by(stream, b"hello", 1);
            }
            8 => {
                let _ = c.close(stream);
            }
            9 => {
                let _ = c.ping(Ipv4Addr::LOCALHOST, 1, 1);
            }
            10 => {
                let _ = c.wait(udp, Readiness::READABLE, 1);
            }
            _ => {
                let _ = c.local_addr();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 7 {
        0 => wire(rest),
        1 => stack(rest),
        2 => facade(rest),
        3 => driver(rest),
        4 => http_parsers(rest),
        5 => virtq(rest),
        _ => client(rest),
    }
});
