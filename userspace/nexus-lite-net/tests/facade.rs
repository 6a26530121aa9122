//! The lite stack behind the sockets facade: the same `nexus_net::dispatch`,
//! `Server` and `NetClient` that the canonical `netstackd` uses, driven in
//! process with a virtual clock (what `netstackd-lite`'s loop does with IPC).
//!
//! - echod's and fetchd's exchanges (UDP echo over `lo`, HTTP over the
//!   host-local stream shim, lo ping, `LocalAddr`) through `NetClient`;
//! - hostile requests (random bytes, mutated valid requests) always get a
//!   well-formed reply, only `Wait`/`Ping` park, and every parked request is
//!   answered once;
//! - handles are bounded per client, one client cannot reach another's, and
//!   init's client-gone (`Server::drop_client`) frees everything a client held
//!   in the stack.

use std::cell::RefCell;
use std::rc::Rc;

use nexus_lite_net::http;
use nexus_lite_net::stack::{SocketId, Stack, FIXED_ADDR, MAX_SOCKETS};
use nexus_net::wire::ServerStats;
use nexus_net::{
    decode_reply, decode_request, dispatch, encode_request, ClientId, Handle, Ipv4Addr, NetClient,
    NetError, Op, Outcome, Readiness, Request, Server, SocketAddrV4, Transport, UdpSocket,
    FACADE_MSG_MAX, MAX_HANDLES_PER_CLIENT, MAX_PARKED_PER_CLIENT,
};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MS: u64 = 1_000_000;
const ECHOD: ClientId = ClientId(0x40);
const FETCHD: ClientId = ClientId(0x50);
const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The service's state: the stack, the facade server and the clock.
struct Lite {
    stack: Stack,
    server: Server<SocketId>,
    now: u64,
    reply: Box<[u8; FACADE_MSG_MAX]>,
}

impl Lite {
    /// A stack that took the fixed lease (its DHCP wait is 1 ms).
    fn new() -> Rc<RefCell<Lite>> {
        let mut stack = Stack::new(MAC, 0, MS);
        stack.poll(MS);
        while stack.pop_tx().is_some() {}
        Rc::new(RefCell::new(Lite {
            stack,
            server: Server::new(0x1de),
            now: MS,
            reply: Box::new([0; FACADE_MSG_MAX]),
        }))
    }

    /// One turn of netstackd-lite's loop without clients: stack timers and
    /// loopback, then parked requests. Returns the replies it produced.
    fn turn(&mut self) -> Vec<(ClientId, u32, Vec<u8>)> {
        self.stack.poll(self.now);
        while self.stack.pop_tx().is_some() {}
        let mut out = Vec::new();
        self.server.poll(&mut self.stack, self.now, |c, corr, b| {
            out.push((c, corr, b.to_vec()))
        });
        out
    }

    fn dispatch(&mut self, client: ClientId, req: &[u8]) -> Outcome {
        dispatch(
            &mut self.stack,
            &mut self.server,
            client,
            req,
            &mut self.reply,
            self.now,
        )
    }
}

/// The kernel IPC call of one client: dispatch; if parked, run the loop
/// (advancing the clock to the next deadline) until its reply comes.
struct Ipc {
    lite: Rc<RefCell<Lite>>,
    client: ClientId,
}

impl Transport for Ipc {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        let mut l = self.lite.borrow_mut();
        l.turn();
        if let Outcome::Reply(n) = l.dispatch(self.client, request) {
            reply[..n].copy_from_slice(&l.reply[..n]);
            return Ok(n);
        }
        let corr = decode_request(request).expect("parked").0.correlation;
        for _ in 0..100_000 {
            let done = l.turn();
            assert!(done.len() <= 1, "one caller at a time");
            if let Some((c, k, b)) = done.first() {
                assert_eq!((*c, *k), (self.client, corr));
                reply[..b.len()].copy_from_slice(b);
                return Ok(b.len());
            }
            if !l.stack.has_work() {
                let next = [l.server.next_deadline(), l.stack.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(u64::MAX);
                l.now = next.clamp(l.now + 1, l.now + 5 * MS);
            }
        }
        panic!("a parked request was never answered");
    }
}

fn client(lite: &Rc<RefCell<Lite>>, id: ClientId) -> NetClient<Ipc> {
    NetClient::new(Ipc {
        lite: lite.clone(),
        client: id,
    })
}

fn now(lite: &Rc<RefCell<Lite>>) -> u64 {
    lite.borrow().now
}

#[test]
fn echod_and_fetchd_exchanges_through_netclient() {
    let lite = Lite::new();
    let mut echo = client(&lite, ECHOD);
    let mut fetch = client(&lite, FETCHD);

    // fetchd's readiness probe.
    let info = fetch.local_addr().unwrap();
    assert_eq!(info.addr, Ipv4Addr::from(FIXED_ADDR));
    assert_eq!((info.prefix_len, info.mtu), (24, 1500));

    // echod: UDP echo on port 7 and the responder on 8080.
    let (udp, port) = echo.udp_bind(7).unwrap();
    assert_eq!(port, 7);
    let (http_l, port) = echo.tcp_listen(8080, 4).unwrap();
    assert_eq!(port, 8080);

    // The lo ping parks until the echo reply is delivered.
    let t = now(&lite);
    let rtt = fetch.ping(LO, 9, t + 1000 * MS).unwrap();
    assert!(rtt < 1000 * MS, "lo answers within the loop turn");

    // UDP over lo: fetchd → echod → fetchd.
    let (mine, my_port) = fetch.udp_bind(0).unwrap();
    fetch
        .udp_send_to(mine, SocketAddrV4::new(LO, 7), b"ping over lo")
        .unwrap();
    let mut buf = [0u8; 1472];
    let t = now(&lite);
    let (n, from) = echo.udp_recv_from_by(udp, &mut buf, t + 100 * MS).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"ping over lo"[..], SocketAddrV4::new(LO, my_port))
    );
    echo.udp_send_to(udp, from, &buf[..n]).unwrap();
    let t = now(&lite);
    let (n, from) = fetch
        .udp_recv_from_by(mine, &mut buf, t + 100 * MS)
        .unwrap();
    assert_eq!((&buf[..n], from.port()), (&b"ping over lo"[..], 7));
    // A wait with nothing to come times out at its deadline.
    let t = now(&lite);
    assert_eq!(
        fetch.udp_recv_from_by(mine, &mut buf, t + 20 * MS),
        Err(NetError::TimedOut)
    );
    assert!(now(&lite) >= t + 20 * MS);
    fetch.close(mine).unwrap();

    // HTTP over the stream shim, as fetchd and echod do it.
    assert_eq!(
        fetch.tcp_connect_by(SocketAddrV4::new(LO, 8081), now(&lite) + MS),
        Err(NetError::ConnectionRefused)
    );
    assert_eq!(
        fetch.tcp_connect_by(
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 2), 80),
            now(&lite) + MS
        ),
        Err(NetError::Unsupported)
    );
    let dl = now(&lite) + 1000 * MS;
    let s = fetch
        .tcp_connect_by(SocketAddrV4::new(LO, 8080), dl)
        .unwrap();
    fetch
        .tcp_write_all_by(s, &http::build_get(http::HELLO_PATH, "127.0.0.1:8080"), dl)
        .unwrap();
    let (a, _) = echo.tcp_accept_by(http_l, dl).unwrap();
    let mut head = Vec::new();
    let req = loop {
        let n = echo.tcp_read_by(a, &mut buf, dl).unwrap();
        head.extend_from_slice(&buf[..n]);
        if let Ok(h) = http::parse_request_head(&head) {
            break h;
        }
        assert!(n > 0, "EOF before the request head");
    };
    echo.tcp_write_all_by(a, &http::respond(&req), dl).unwrap();
    echo.close(a).unwrap();
    let mut resp = Vec::new();
    loop {
        let n = fetch.tcp_read_by(s, &mut buf, dl).unwrap();
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
    }
    let r = http::parse_response(&resp, true).unwrap();
    assert_eq!((r.status, r.body), (200, http::HELLO_BODY));
    assert_eq!(fetch.tcp_write(s, b"late"), Err(NetError::Closed));
    fetch.close(s).unwrap();
    assert_eq!(fetch.close(s), Err(NetError::NotFound));

    // Only echod's two sockets are left, in the server and in the stack.
    let st: ServerStats = fetch.stats().unwrap();
    assert_eq!(
        (st.clients, st.handles, st.parked, st.sockets),
        (1, 2, 0, 2)
    );
    assert_eq!(lite.borrow().stack.open_conns(), 0);
}

fn encode(req: &Request<'_>, corr: u32) -> Vec<u8> {
    let mut b = vec![0u8; FACADE_MSG_MAX];
    let n = encode_request(req, corr, 0, &mut b).unwrap();
    b.truncate(n);
    b
}

/// xorshift64: fixed seed, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A few valid requests of every op (handles guessed small).
fn samples(now: u64) -> Vec<Vec<u8>> {
    let h = |raw| Handle::from_raw(raw);
    let reqs = [
        Request::UdpBind { port: 7 },
        Request::UdpBind { port: 0 },
        Request::TcpListen {
            port: 8080,
            backlog: 4,
        },
        Request::TcpConnect {
            remote: SocketAddrV4::new(LO, 8080),
        },
        Request::TcpAccept {
            listener: nexus_net::TcpListener::from_handle(h(0x102)),
        },
        Request::TcpRead {
            stream: nexus_net::TcpStream::from_handle(h(0x103)),
            max: 100,
        },
        Request::TcpWrite {
            stream: nexus_net::TcpStream::from_handle(h(0x103)),
            data: b"GET /hello HTTP/1.0\r\n\r\n",
        },
        Request::TcpShutdown {
            stream: nexus_net::TcpStream::from_handle(h(0x104)),
        },
        Request::UdpSendTo {
            socket: UdpSocket::from_handle(h(0x101)),
            to: SocketAddrV4::new(LO, 7),
            data: b"dgram",
        },
        Request::UdpRecvFrom {
            socket: UdpSocket::from_handle(h(0x101)),
            max: 64,
        },
        Request::Close { handle: h(0x105) },
        Request::Wait {
            handle: h(0x101),
            interest: Readiness::READABLE,
            deadline_ns: now + 3 * MS,
        },
        Request::LocalAddr,
        Request::Ping {
            addr: LO,
            seq: 1,
            deadline_ns: now + 2 * MS,
        },
        Request::Stats,
    ];
    reqs.iter()
        .enumerate()
        .map(|(i, r)| encode(r, 100 + i as u32))
        .collect()
}

#[test]
fn hostile_requests_get_well_formed_replies_and_leave_nothing_behind() {
    let lite = Lite::new();
    let mut l = lite.borrow_mut();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let clients = [ClientId(0x40), ClientId(0x41)];
    // (client, correlation, op) of parked requests.
    let mut parked: Vec<(ClientId, u32, u8)> = Vec::new();
    let mut errors = 0usize;
    let (mut parks, mut most_sockets) = (0usize, 0usize);
    for i in 0..30_000usize {
        let base = samples(l.now);
        let mut req = match i % 3 {
            // Pure noise, sometimes with the right magic and version.
            0 => {
                let n = rng.below(64);
                let mut b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                if n >= 2 && rng.below(2) == 0 {
                    b[0] = 0x4e;
                    b[1] = 1;
                }
                b
            }
            // Valid requests with a few bytes flipped, cut or extended.
            1 => {
                let mut b = base[rng.below(base.len())].clone();
                for _ in 0..1 + rng.below(3) {
                    let j = rng.below(b.len());
                    b[j] ^= 1 << rng.below(8);
                }
                match rng.below(4) {
                    0 => b.truncate(rng.below(b.len() + 1)),
                    1 => b.push(rng.next() as u8),
                    _ => {}
                }
                b
            }
            // Valid requests: they create sockets, park, move data.
            _ => base[rng.below(base.len())].clone(),
        };
        if req.len() > FACADE_MSG_MAX {
            req.truncate(FACADE_MSG_MAX);
        }
        let client = clients[rng.below(2)];
        let decoded = decode_request(&req)
            .ok()
            .map(|(h, r)| (h.correlation, r.op()));
        match l.dispatch(client, &req) {
            Outcome::Reply(n) => {
                let msg = decode_reply(&l.reply[..n]).expect("every reply decodes");
                assert_eq!(msg.header.instance, l.server.instance());
                match decoded {
                    Some((corr, op)) => {
                        assert_eq!((msg.header.correlation, msg.header.op), (corr, op as u8))
                    }
                    None => {
                        assert!(msg.body.is_err(), "garbage answered with success");
                        assert!(n == 16, "error replies are header-only");
                    }
                }
                errors += usize::from(msg.body.is_err());
            }
            Outcome::Parked => {
                let (corr, op) = decoded.expect("only decoded requests park");
                assert!(matches!(op, Op::Wait | Op::Ping), "{op:?} parked");
                parked.push((client, corr, op as u8));
                parks += 1;
            }
        }
        if i % 7 == 0 {
            l.now += MS;
            for (c, corr, b) in l.turn() {
                let at = parked
                    .iter()
                    .position(|p| p.0 == c && p.1 == corr)
                    .expect("a reply for a request that was not parked");
                let (_, _, op) = parked.swap_remove(at);
                let msg = decode_reply(&b).expect("parked replies decode");
                assert_eq!((msg.header.correlation, msg.header.op), (corr, op));
            }
        }
        assert_eq!(l.server.parked().len(), parked.len());
        assert!(l.stack.open_sockets() <= MAX_SOCKETS);
        most_sockets = most_sockets.max(l.stack.open_sockets());
        for c in clients {
            assert!(l.server.handles().count(c) <= MAX_HANDLES_PER_CLIENT);
            assert!(l.server.parked().count(c) <= MAX_PARKED_PER_CLIENT);
        }
    }
    assert!(errors > 10_000, "most garbage is refused ({errors})");
    assert!(
        parks > 100 && most_sockets >= 4,
        "{parks} parked, {most_sockets} sockets"
    );
    // Both clients end: init's notice frees everything they held.
    let Lite { stack, server, .. } = &mut *l;
    for c in clients {
        server.drop_client(stack, c);
    }
    assert_eq!(server.handles().total(), 0);
    assert!(server.parked().is_empty());
    assert_eq!((stack.open_sockets(), stack.open_conns()), (0, 0));
}

/// Dispatches `req` for `client` and returns the decoded reply's result and
/// its first handle-like field for creating ops.
fn call(l: &mut Lite, client: ClientId, req: &Request<'_>) -> Result<Vec<u8>, NetError> {
    match l.dispatch(client, &encode(req, 1)) {
        Outcome::Reply(n) => {
            let msg = decode_reply(&l.reply[..n]).unwrap();
            msg.body.map(|_| l.reply[16..n].to_vec())
        }
        Outcome::Parked => Ok(Vec::new()),
    }
}

fn handle_of(body: &[u8]) -> Handle {
    Handle::from_raw(u32::from_le_bytes(body[..4].try_into().unwrap()))
}

#[test]
fn handles_are_bounded_per_client_and_freed_when_the_client_is_gone() {
    let lite = Lite::new();
    let mut l = lite.borrow_mut();
    let (a, b, c) = (ClientId(0x40), ClientId(0x50), ClientId(0x60));
    // Client A: a listener, a connection to it (both ends), and UDP sockets
    // until its handle table is full.
    let lh = handle_of(
        &call(
            &mut l,
            a,
            &Request::TcpListen {
                port: 80,
                backlog: 2,
            },
        )
        .unwrap(),
    );
    let remote = SocketAddrV4::new(LO, 80);
    let sh = handle_of(&call(&mut l, a, &Request::TcpConnect { remote }).unwrap());
    let listener = nexus_net::TcpListener::from_handle(lh);
    call(&mut l, a, &Request::TcpAccept { listener }).unwrap();
    let stream = nexus_net::TcpStream::from_handle(sh);
    call(
        &mut l,
        a,
        &Request::TcpWrite {
            stream,
            data: b"held",
        },
    )
    .unwrap();
    let mut udp = Vec::new();
    loop {
        match call(&mut l, a, &Request::UdpBind { port: 0 }) {
            Ok(body) => udp.push(handle_of(&body)),
            Err(e) => {
                assert_eq!(e, NetError::NoBufs);
                break;
            }
        }
    }
    assert_eq!(udp.len() + 3, MAX_HANDLES_PER_CLIENT);
    assert_eq!(l.stack.open_sockets(), MAX_HANDLES_PER_CLIENT);
    assert_eq!(l.stack.open_conns(), 1);
    // A's parked waits are bounded too.
    for (i, h) in udp.iter().enumerate().take(MAX_PARKED_PER_CLIENT + 1) {
        let wait = Request::Wait {
            handle: *h,
            interest: Readiness::READABLE,
            deadline_ns: l.now + 1000 * MS,
        };
        let out = l.dispatch(a, &encode(&wait, 50 + i as u32));
        if i < MAX_PARKED_PER_CLIENT {
            assert_eq!(out, Outcome::Parked);
        } else {
            let Outcome::Reply(n) = out else {
                panic!("parked past the bound")
            };
            assert_eq!(
                decode_reply(&l.reply[..n]).unwrap().body.err(),
                Some(NetError::NoBufs)
            );
        }
    }
    // B has its own table: A's handle values mean nothing to it.
    assert_eq!(
        call(&mut l, b, &Request::Close { handle: udp[0] }),
        Err(NetError::NotFound)
    );
    let stream_b = nexus_net::TcpStream::from_handle(sh);
    assert_eq!(
        call(
            &mut l,
            b,
            &Request::TcpRead {
                stream: stream_b,
                max: 4
            }
        ),
        Err(NetError::NotFound)
    );
    // B fills the rest of the lite stack's sockets; then the backend is full
    // for C (the lite stack holds MAX_SOCKETS sockets in all).
    while call(&mut l, b, &Request::UdpBind { port: 0 }).is_ok() {}
    assert_eq!(l.stack.open_sockets(), MAX_SOCKETS);
    assert_eq!(
        call(&mut l, c, &Request::UdpBind { port: 0 }),
        Err(NetError::NoBufs)
    );
    // A ends: init's client-gone frees its sockets, its connection and its
    // parked waits (unanswered: nobody waits for them).
    let closed = {
        let Lite { stack, server, .. } = &mut *l;
        server.drop_client(stack, a)
    };
    assert_eq!(closed, MAX_HANDLES_PER_CLIENT);
    assert_eq!(l.server.parked().count(a), 0);
    assert_eq!(l.server.handles().count(a), 0);
    assert_eq!(l.stack.open_sockets(), MAX_SOCKETS - MAX_HANDLES_PER_CLIENT);
    assert_eq!(l.stack.open_conns(), 0);
    assert!(l.turn().is_empty(), "no reply for a dead client's waits");
    // The port A listened on is free again, and C gets sockets.
    call(
        &mut l,
        c,
        &Request::TcpListen {
            port: 80,
            backlog: 1,
        },
    )
    .unwrap();
    call(&mut l, c, &Request::UdpBind { port: 0 }).unwrap();
}
