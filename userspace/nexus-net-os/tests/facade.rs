//! Facade robustness on the smoltcp backend: malformed input, handle
//! ownership, exhaustion, parked requests, dead clients, fuzzing.

mod common;

use common::{dl, pattern, transfer, MS, SEC};
use nexus_net::wire::{ReplyHeader, Request};
use nexus_net::{
    decode_reply, encode_request, Handle, NetError, Outcome, Readiness, SocketAddrV4, TcpStream,
    UdpSocket, FACADE_MSG_MAX, MAX_HANDLES_PER_CLIENT, MAX_IO,
};
use nexus_net_os::memlink::LinkConfig;
use nexus_net_os::testing::{static_config, test_addr, TestNet};

fn encode(req: &Request<'_>, corr: u32) -> Vec<u8> {
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    let n = encode_request(req, corr, 0, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Dispatches raw bytes; returns the reply header and status.
fn raw(
    net: &TestNet,
    node: usize,
    client: u64,
    bytes: &[u8],
) -> (ReplyHeader, Result<(), NetError>) {
    let (out, reply) = net.dispatch_raw(node, client, bytes);
    assert!(matches!(out, Outcome::Reply(_)), "unexpected park");
    let msg = decode_reply(&reply).expect("server replies are well-formed");
    (msg.header, msg.body.map(|_| ()))
}

#[test]
fn malformed_and_oversized_requests_get_error_replies() {
    let net = TestNet::pair_default();
    for junk in [
        &b""[..],
        b"N",
        b"xyz",
        &[0x4e, 1, 0, 0, 9, 0, 0][..],
        &[0xff; 40][..],
    ] {
        let (h, r) = raw(&net, 0, 1, junk);
        assert_eq!(
            (h.correlation, h.op, r),
            (0, 0, Err(NetError::Malformed)),
            "{junk:?}"
        );
    }
    // Oversized: a valid header followed by too many bytes.
    let mut big = encode(&Request::LocalAddr, 77);
    big.resize(FACADE_MSG_MAX + 1, 0);
    let (h, r) = raw(&net, 0, 1, &big);
    assert_eq!((h.correlation, r), (77, Err(NetError::Malformed)));
    // Wrong version, unknown op, flags.
    let mut v = encode(&Request::LocalAddr, 78);
    v[1] = 9;
    assert_eq!(raw(&net, 0, 1, &v).1, Err(NetError::BadVersion));
    let mut op = encode(&Request::LocalAddr, 79);
    op[2] = 0x7f;
    let (h, r) = raw(&net, 0, 1, &op);
    assert_eq!((h.op, r), (0x7f, Err(NetError::Unsupported)));
    // A write whose length field lies.
    let s = TcpStream::from_handle(Handle::from_raw(0x101));
    let mut w = encode(
        &Request::TcpWrite {
            stream: s,
            data: b"abcd",
        },
        80,
    );
    w[16 + 4] = 9;
    assert_eq!(raw(&net, 0, 1, &w).1, Err(NetError::Malformed));
    // Out-of-range fields.
    let c = Request::TcpConnect {
        remote: SocketAddrV4::new(test_addr(1), 0),
    };
    let mut bytes = vec![0u8; FACADE_MSG_MAX];
    assert_eq!(
        encode_request(&c, 81, 0, &mut bytes),
        Err(NetError::InvalidInput)
    );
    // The stack is unharmed.
    let mut a = net.client(0, 1);
    assert_eq!(a.local_addr().unwrap().addr, test_addr(0));
}

#[test]
fn unknown_foreign_and_closed_handles_are_rejected() {
    let net = TestNet::pair_default();
    let mut one = net.client(1, 1);
    let mut two = net.client(1, 2);
    let (u, _) = one.udp_bind(0).unwrap();
    // Another client's handle value is unknown to it.
    let foreign = UdpSocket::from_handle(u.handle());
    assert_eq!(
        two.udp_send_to(foreign, SocketAddrV4::new(test_addr(0), 9), b"x"),
        Err(NetError::NotFound)
    );
    assert_eq!(two.close(u), Err(NetError::NotFound));
    assert_eq!(
        two.wait(u, Readiness::READABLE, dl(&net, 1)),
        Err(NetError::NotFound)
    );
    // Never issued.
    let bogus = TcpStream::from_handle(Handle::from_raw(0x00ab_cd01));
    assert_eq!(one.tcp_read(bogus, &mut [0u8; 4]), Err(NetError::NotFound));
    // Wrong kind.
    let as_stream = TcpStream::from_handle(u.handle());
    assert_eq!(one.tcp_write(as_stream, b"x"), Err(NetError::InvalidInput));
    // Stream: write after close → NotFound, the stale handle never revives.
    let (l, port) = one.tcp_listen(0, 1).unwrap();
    let mut a = net.client(0, 1);
    let s = a
        .tcp_connect_by(SocketAddrV4::new(test_addr(1), port), dl(&net, 5))
        .unwrap();
    a.close(s).unwrap();
    assert_eq!(a.tcp_write(s, b"late"), Err(NetError::NotFound));
    assert_eq!(a.tcp_read(s, &mut [0u8; 4]), Err(NetError::NotFound));
    assert_eq!(a.close(s), Err(NetError::NotFound));
    let (s2, _) = a.udp_bind(0).unwrap();
    assert_ne!(s2.handle(), s.handle(), "generation bumped");
    one.close(l).unwrap();
    one.close(u).unwrap();
}

#[test]
fn handle_exhaustion_errors_and_frees_on_close() {
    let net = TestNet::pair_default();
    let mut c = net.client(0, 1);
    let mut socks = Vec::new();
    for _ in 0..MAX_HANDLES_PER_CLIENT {
        socks.push(c.udp_bind(0).unwrap().0);
    }
    assert_eq!(c.udp_bind(0), Err(NetError::NoBufs));
    assert_eq!(c.tcp_listen(0, 1), Err(NetError::NoBufs));
    assert_eq!(
        c.tcp_connect(SocketAddrV4::new(test_addr(1), 80)),
        Err(NetError::NoBufs)
    );
    // Nothing leaked in the backend.
    let st = net.with_stack(0, |s| s.stats());
    assert_eq!(
        (st.udp_sockets, st.tcp_sockets, st.open),
        (MAX_HANDLES_PER_CLIENT, 0, MAX_HANDLES_PER_CLIENT)
    );
    // Another client is unaffected.
    let mut other = net.client(0, 2);
    let (o, _) = other.udp_bind(0).unwrap();
    other.close(o).unwrap();
    c.close(socks.pop().unwrap()).unwrap();
    let (again, _) = c.udp_bind(0).unwrap();
    socks.push(again);
    for s in socks {
        c.close(s).unwrap();
    }
    assert_eq!(net.with_stack(0, |s| s.stats().udp_sockets), 0);
}

#[test]
fn backend_socket_and_memory_limits_give_no_bufs() {
    let mut cfg = static_config(0);
    cfg.max_sockets = 3;
    let net = TestNet::pair(cfg, static_config(1), LinkConfig::default());
    let mut c1 = net.client(0, 1);
    let mut c2 = net.client(0, 2);
    let (u1, _) = c1.udp_bind(0).unwrap();
    let (u2, _) = c2.udp_bind(0).unwrap();
    let (l, _) = c2.tcp_listen(0, 4).unwrap(); // one armed socket: the budget of 3 is full
    assert_eq!(c1.udp_bind(0), Err(NetError::NoBufs));
    assert_eq!(
        c1.tcp_connect(SocketAddrV4::new(test_addr(1), 80)),
        Err(NetError::NoBufs)
    );
    assert_eq!(c1.tcp_listen(0, 1), Err(NetError::NoBufs));
    c1.close(u1).unwrap();
    let (u3, _) = c1.udp_bind(0).unwrap();
    c1.close(u3).unwrap();
    c2.close(u2).unwrap();
    c2.close(l).unwrap();
    assert_eq!(net.with_stack(0, |s| s.stats()).mem_used, 0);

    // Byte budget: room for exactly one TCP socket.
    let mut cfg = static_config(0);
    cfg.mem_budget = cfg.tcp_socket_cost();
    let net = TestNet::pair(cfg, static_config(1), LinkConfig::default());
    let mut b = net.client(1, 1);
    let (l, port) = b.tcp_listen(0, 4).unwrap();
    let mut a = net.client(0, 1);
    let s = a
        .tcp_connect_by(SocketAddrV4::new(test_addr(1), port), dl(&net, 5))
        .unwrap();
    assert_eq!(
        a.tcp_connect(SocketAddrV4::new(test_addr(1), port)),
        Err(NetError::NoBufs)
    );
    assert_eq!(a.udp_bind(0), Err(NetError::NoBufs));
    a.close(s).unwrap();
    // The closing stream is reclaimed under pressure; the next connect fits.
    let s = a
        .tcp_connect_by(SocketAddrV4::new(test_addr(1), port), dl(&net, 5))
        .unwrap();
    a.close(s).unwrap();
    b.close(l).unwrap();
}

#[test]
fn parked_wait_is_answered_closed_when_its_handle_is_closed() {
    let net = TestNet::pair_default();
    let mut c = net.client(0, 1);
    let (u, _) = c.udp_bind(0).unwrap();
    let wait = encode(
        &Request::Wait {
            handle: u.handle(),
            interest: Readiness::READABLE,
            deadline_ns: net.now() + SEC,
        },
        0xabc,
    );
    let (out, _) = net.dispatch_raw(0, 1, &wait);
    assert_eq!(out, Outcome::Parked);
    c.close(u).unwrap();
    let late = net.take_mailbox();
    assert_eq!(late.len(), 1);
    let msg = decode_reply(&late[0].bytes).unwrap();
    assert_eq!(
        (msg.header.correlation, msg.body),
        (0xabc, Err(NetError::Closed))
    );
    // A parked wait times out at its deadline.
    let (u, _) = c.udp_bind(0).unwrap();
    let wait = encode(
        &Request::Wait {
            handle: u.handle(),
            interest: Readiness::READABLE,
            deadline_ns: net.now() + 10 * MS,
        },
        0xabd,
    );
    assert_eq!(net.dispatch_raw(0, 1, &wait).0, Outcome::Parked);
    net.run_for(20 * MS);
    let late = net.take_mailbox();
    assert_eq!(late.len(), 1);
    assert_eq!(
        decode_reply(&late[0].bytes).unwrap().body,
        Err(NetError::TimedOut)
    );
}

#[test]
fn dropped_client_frees_its_sockets_while_another_keeps_working() {
    let net = TestNet::pair_default();
    let mut a = net.client(0, 1);
    let mut doomed = net.client(1, 10);
    let mut alive = net.client(1, 20);
    let (l1, p1) = doomed.tcp_listen(0, 1).unwrap();
    let (l2, p2) = alive.tcp_listen(0, 1).unwrap();
    let c1 = a
        .tcp_connect_by(SocketAddrV4::new(test_addr(1), p1), dl(&net, 5))
        .unwrap();
    let c2 = a
        .tcp_connect_by(SocketAddrV4::new(test_addr(1), p2), dl(&net, 5))
        .unwrap();
    let (s1, _) = doomed.tcp_accept_by(l1, dl(&net, 5)).unwrap();
    let (s2, _) = alive.tcp_accept_by(l2, dl(&net, 5)).unwrap();
    let data = pattern(9, 64 * 1024);
    // Mid-stream on both connections.
    a.tcp_write_all_by(c1, &data[..20_000], dl(&net, 5))
        .unwrap();
    a.tcp_write_all_by(c2, &data[..20_000], dl(&net, 5))
        .unwrap();
    let mut buf = vec![0u8; MAX_IO];
    let n = doomed.tcp_read_by(s1, &mut buf, dl(&net, 5)).unwrap();
    assert!(n > 0);
    let before = net.with_stack(1, |s| s.stats());
    assert_eq!(net.drop_client(1, 10), 2, "listener + stream");
    assert_eq!(net.with_stack(1, |s| s.stats()).open, before.open - 2);
    drop(doomed);
    // The survivor finishes its transfer.
    let mut got = Vec::new();
    while got.len() < 20_000 {
        let n = alive.tcp_read_by(s2, &mut buf, dl(&net, 5)).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == data[..20_000]);
    let rest = transfer(&net, &mut a, c2, &mut alive, s2, &data[20_000..]);
    assert!(rest == data[20_000..]);
    // The dead client's peer sees the end of the stream, then `Closed`.
    let mut saw_eof = false;
    for _ in 0..100 {
        match a.tcp_read(c1, &mut buf) {
            Ok(0) => {
                saw_eof = true;
                break;
            }
            Ok(_) | Err(NetError::WouldBlock) => net.run_for(10 * MS),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(saw_eof);
    let mut w = Ok(0);
    for _ in 0..100 {
        w = a.tcp_write(c1, b"hello?");
        if w.is_err() {
            break;
        }
        net.run_for(10 * MS);
    }
    assert_eq!(w, Err(NetError::Closed));
    // Node 1 holds only the survivor's sockets once the close finished.
    net.run_for(SEC);
    let st = net.with_stack(1, |s| s.stats());
    assert_eq!((st.open, st.closing), (2, 0), "{st:?}");
}

#[test]
fn fuzzed_requests_never_break_the_stack() {
    let net = TestNet::pair_default();
    let mut c = net.client(0, 1);
    let (u, _) = c.udp_bind(5000).unwrap();
    let (l, _) = c.tcp_listen(6000, 2).unwrap();
    let valid: Vec<Vec<u8>> = vec![
        encode(
            &Request::UdpSendTo {
                socket: u,
                to: SocketAddrV4::new(test_addr(1), 9),
                data: b"fuzz",
            },
            1,
        ),
        encode(&Request::TcpAccept { listener: l }, 2),
        encode(
            &Request::TcpConnect {
                remote: SocketAddrV4::new(test_addr(1), 80),
            },
            3,
        ),
        encode(
            &Request::TcpRead {
                stream: TcpStream::from_handle(l.handle()),
                max: 100,
            },
            4,
        ),
        encode(
            &Request::UdpRecvFrom {
                socket: u,
                max: 1472,
            },
            5,
        ),
        encode(
            &Request::Close {
                handle: Handle::from_raw(0x1ff),
            },
            6,
        ),
        encode(&Request::LocalAddr, 7),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..20_000u64 {
        let bytes = if i % 2 == 0 {
            let len = (next() % 64) as usize;
            (0..len).map(|_| next() as u8).collect::<Vec<u8>>()
        } else {
            let mut b = valid[(next() % valid.len() as u64) as usize].clone();
            for _ in 0..=(next() % 3) {
                let pos = (next() as usize) % b.len();
                b[pos] ^= 1 << (next() % 8);
            }
            b
        };
        let client = 1 + next() % 3;
        let (out, reply) = net.dispatch_raw(0, client, &bytes);
        if let Outcome::Reply(_) = out {
            decode_reply(&reply).expect("well-formed reply");
        }
        if i % 1000 == 0 {
            net.run_for(MS);
        }
    }
    net.run_for(SEC);
    for id in 1..=3 {
        net.drop_client(0, id);
    }
    net.take_mailbox();
    // Still fully functional.
    let mut a = net.client(0, 9);
    let mut b = net.client(1, 9);
    let (l, port) = b.tcp_listen(0, 1).unwrap();
    let s = a
        .tcp_connect_by(SocketAddrV4::new(test_addr(1), port), dl(&net, 5))
        .unwrap();
    let (bs, _) = b.tcp_accept_by(l, dl(&net, 5)).unwrap();
    a.tcp_write_all_by(s, b"still alive", dl(&net, 5)).unwrap();
    let mut buf = [0u8; 32];
    let n = b.tcp_read_by(bs, &mut buf, dl(&net, 5)).unwrap();
    assert_eq!(&buf[..n], b"still alive");
    assert!(a.ping(test_addr(1), 1, dl(&net, 1)).is_ok());
}
