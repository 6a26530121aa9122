//! Shared test harness: a `FakeNet` with one `Server` per node driven through `dispatch`.
//!
//! Design notes
//! ------------
//! The harness speaks raw wire bytes so tests observe exactly what
//! `netstackd` would send back: every typed call encodes a request with a
//! fresh correlation id, runs `dispatch`, decodes the reply and asserts that
//! the correlation id and op are echoed. Parked requests are collected with
//! `poll`/`expire`, which return the (client, correlation, bytes) triples a
//! real server would send later.

#![allow(dead_code)]

use nexus_net::fake::{FakeNet, FakeSocket, NodeId};
use nexus_net::wire::{ReplyMsg, Request};
use nexus_net::{
    decode_reply, dispatch, encode_request, ClientId, Handle, NetError, Outcome, Readiness, Reply,
    Server, SocketAddrV4, TcpListener, TcpStream, UdpSocket, FACADE_MSG_MAX,
};

pub struct Harness {
    pub net: FakeNet,
    pub servers: Vec<Server<FakeSocket>>,
    pub nodes: Vec<NodeId>,
    pub reply: Box<[u8; FACADE_MSG_MAX]>,
    pub reply_len: usize,
    pub corr: u32,
}

pub type Woke = (ClientId, u32, Vec<u8>);

impl Harness {
    pub fn new(addrs: &[[u8; 4]]) -> Self {
        let mut net = FakeNet::new();
        let mut servers = Vec::new();
        let mut nodes = Vec::new();
        for (i, a) in addrs.iter().enumerate() {
            nodes.push(net.add_node((*a).into()));
            servers.push(Server::new(100 + i as u32));
        }
        Harness {
            net,
            servers,
            nodes,
            reply: vec![0u8; FACADE_MSG_MAX]
                .into_boxed_slice()
                .try_into()
                .unwrap(),
            reply_len: 0,
            corr: 0x1000,
        }
    }

    pub fn now(&self) -> u64 {
        self.net.now()
    }

    pub fn advance(&mut self, ns: u64) {
        self.net.advance(ns);
    }

    /// Dispatches raw bytes; the reply (if any) is in `self.reply[..self.reply_len]`.
    pub fn raw(&mut self, node: usize, client: u64, bytes: &[u8]) -> Outcome {
        let now = self.net.now();
        let id = self.nodes[node];
        let out = dispatch(
            &mut self.net.node(id),
            &mut self.servers[node],
            ClientId(client),
            bytes,
            &mut self.reply,
            now,
        );
        self.reply_len = match out {
            Outcome::Reply(n) => n,
            Outcome::Parked => 0,
        };
        out
    }

    pub fn reply_bytes(&self) -> &[u8] {
        &self.reply[..self.reply_len]
    }

    pub fn decoded(&self) -> ReplyMsg<'_> {
        decode_reply(self.reply_bytes()).expect("server reply must decode")
    }

    fn encode(&mut self, node: usize, req: &Request<'_>) -> (Vec<u8>, u32) {
        self.corr = self.corr.wrapping_add(7919).max(1);
        let mut buf = vec![0u8; FACADE_MSG_MAX];
        let instance = self.servers[node].instance();
        let n = encode_request(req, self.corr, instance, &mut buf).expect("encode");
        buf.truncate(n);
        (buf, self.corr)
    }

    /// Sends a typed request that must be answered immediately.
    pub fn call(
        &mut self,
        node: usize,
        client: u64,
        req: &Request<'_>,
    ) -> Result<Reply<'_>, NetError> {
        let (bytes, corr) = self.encode(node, req);
        let out = self.raw(node, client, &bytes);
        assert!(
            matches!(out, Outcome::Reply(n) if n > 0),
            "{req:?} was parked"
        );
        let msg = self.decoded();
        assert_eq!(
            msg.header.correlation, corr,
            "correlation echoed for {req:?}"
        );
        assert_eq!(msg.header.op, req.op() as u8, "op echoed for {req:?}");
        msg.body
    }

    /// Sends a typed request that must be parked; returns its correlation id.
    pub fn park(&mut self, node: usize, client: u64, req: &Request<'_>) -> u32 {
        let (bytes, corr) = self.encode(node, req);
        assert_eq!(
            self.raw(node, client, &bytes),
            Outcome::Parked,
            "{req:?} not parked"
        );
        corr
    }

    pub fn poll(&mut self, node: usize) -> Vec<Woke> {
        let now = self.net.now();
        let id = self.nodes[node];
        let mut out = Vec::new();
        self.servers[node].poll(&mut self.net.node(id), now, |c, corr, b| {
            out.push((c, corr, b.to_vec()))
        });
        out
    }

    pub fn expire(&mut self, node: usize) -> Vec<Woke> {
        let now = self.net.now();
        let mut out = Vec::new();
        self.servers[node].expire(now, |c, corr, b| out.push((c, corr, b.to_vec())));
        out
    }
}

/// Typed shortcuts over `Harness::call` (node index, client id, ...).
impl Harness {
    pub fn listen(
        &mut self,
        n: usize,
        c: u64,
        port: u16,
        backlog: u8,
    ) -> Result<(TcpListener, u16), NetError> {
        match self.call(n, c, &Request::TcpListen { port, backlog })? {
            Reply::TcpListen { listener, port } => Ok((listener, port)),
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn connect(
        &mut self,
        n: usize,
        c: u64,
        ip: [u8; 4],
        port: u16,
    ) -> Result<TcpStream, NetError> {
        let remote = SocketAddrV4::new(ip.into(), port);
        match self.call(n, c, &Request::TcpConnect { remote })? {
            Reply::TcpConnect { stream, .. } => Ok(stream),
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn accept(
        &mut self,
        n: usize,
        c: u64,
        listener: TcpListener,
    ) -> Result<(TcpStream, SocketAddrV4), NetError> {
        match self.call(n, c, &Request::TcpAccept { listener })? {
            Reply::TcpAccept { stream, peer } => Ok((stream, peer)),
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn write(
        &mut self,
        n: usize,
        c: u64,
        stream: TcpStream,
        data: &[u8],
    ) -> Result<usize, NetError> {
        match self.call(n, c, &Request::TcpWrite { stream, data })? {
            Reply::TcpWrite { written } => Ok(usize::from(written)),
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn read(
        &mut self,
        n: usize,
        c: u64,
        stream: TcpStream,
        max: u16,
    ) -> Result<Vec<u8>, NetError> {
        match self.call(n, c, &Request::TcpRead { stream, max })? {
            Reply::TcpRead { data } => Ok(data.to_vec()),
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn shutdown(&mut self, n: usize, c: u64, stream: TcpStream) -> Result<(), NetError> {
        self.call(n, c, &Request::TcpShutdown { stream })
            .map(|_| ())
    }

    pub fn bind(&mut self, n: usize, c: u64, port: u16) -> Result<(UdpSocket, u16), NetError> {
        match self.call(n, c, &Request::UdpBind { port })? {
            Reply::UdpBind { socket, port } => Ok((socket, port)),
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn send(
        &mut self,
        n: usize,
        c: u64,
        socket: UdpSocket,
        ip: [u8; 4],
        port: u16,
        data: &[u8],
    ) -> Result<(), NetError> {
        let to = SocketAddrV4::new(ip.into(), port);
        self.call(n, c, &Request::UdpSendTo { socket, to, data })
            .map(|_| ())
    }

    pub fn recv(
        &mut self,
        n: usize,
        c: u64,
        socket: UdpSocket,
        max: u16,
    ) -> Result<(Vec<u8>, SocketAddrV4), NetError> {
        match self.call(n, c, &Request::UdpRecvFrom { socket, max })? {
            Reply::UdpRecvFrom { from, data } => Ok((data.to_vec(), from)),
            r => panic!("unexpected {r:?}"),
        }
    }

    pub fn close(&mut self, n: usize, c: u64, handle: impl Into<Handle>) -> Result<(), NetError> {
        self.call(
            n,
            c,
            &Request::Close {
                handle: handle.into(),
            },
        )
        .map(|_| ())
    }

    pub fn wait(
        &mut self,
        n: usize,
        c: u64,
        handle: impl Into<Handle>,
        interest: Readiness,
        deadline_ns: u64,
    ) -> Result<Readiness, NetError> {
        let req = Request::Wait {
            handle: handle.into(),
            interest,
            deadline_ns,
        };
        match self.call(n, c, &req)? {
            Reply::Wait { ready } => Ok(ready),
            r => panic!("unexpected {r:?}"),
        }
    }
}

/// One valid request of every op (payload-carrying ops with non-trivial data).
pub fn sample_requests() -> Vec<Request<'static>> {
    static BIG: [u8; nexus_net::MAX_IO] = [0xA5; nexus_net::MAX_IO];
    let s = TcpStream::from_handle(Handle::from_raw(0x0000_2301));
    let u = UdpSocket::from_handle(Handle::from_raw(0x00ab_cd02));
    vec![
        Request::TcpListen {
            port: 7000,
            backlog: 4,
        },
        Request::TcpListen {
            port: 0,
            backlog: 0,
        },
        Request::TcpAccept {
            listener: TcpListener::from_handle(Handle::from_raw(0x0102_0300)),
        },
        Request::TcpConnect {
            remote: SocketAddrV4::new([10, 0, 0, 2].into(), 443),
        },
        Request::TcpRead { stream: s, max: 1 },
        Request::TcpRead {
            stream: s,
            max: u16::MAX,
        },
        Request::TcpWrite {
            stream: s,
            data: b"hello, world",
        },
        Request::TcpWrite {
            stream: s,
            data: &BIG,
        },
        Request::TcpShutdown { stream: s },
        Request::UdpBind { port: 6000 },
        Request::UdpSendTo {
            socket: u,
            to: SocketAddrV4::new([255, 255, 255, 255].into(), 6000),
            data: b"",
        },
        Request::UdpSendTo {
            socket: u,
            to: SocketAddrV4::new([10, 0, 0, 3].into(), 6001),
            data: &BIG[..nexus_net::MAX_DATAGRAM],
        },
        Request::UdpRecvFrom {
            socket: u,
            max: 512,
        },
        Request::Close {
            handle: Handle::from_raw(0xffff_ff0f),
        },
        Request::Wait {
            handle: s.handle(),
            interest: Readiness::READABLE | Readiness::WRITABLE,
            deadline_ns: u64::MAX,
        },
        Request::WaitAny {
            set: {
                let mut set = nexus_net::WaitSet::new();
                set.push(s.handle(), Readiness::READABLE).unwrap();
                set.push(u.handle(), Readiness::READABLE | Readiness::WRITABLE)
                    .unwrap();
                set
            },
            deadline_ns: 7,
        },
        Request::WaitArm {
            set: {
                let mut set = nexus_net::WaitSet::new();
                set.push(u.handle(), Readiness::WRITABLE).unwrap();
                set
            },
        },
        Request::Wait {
            handle: u.handle(),
            interest: Readiness::EMPTY,
            deadline_ns: 0,
        },
        Request::LocalAddr,
        Request::Stats,
        Request::LinkInfo,
        Request::TcpReadShared {
            stream: s,
            offset: 0,
            max: 1,
        },
        Request::TcpWriteShared {
            stream: s,
            offset: 0x1_0000,
            len: nexus_net::MAX_SHARED_IO as u32,
        },
        Request::AttachShared,
        Request::DetachShared,
        Request::Ping {
            addr: [10, 0, 0, 9].into(),
            seq: 0xbeef,
            deadline_ns: 123_456_789_000,
        },
    ]
}

/// Encodes `req` into a fresh vector.
pub fn encode(req: &Request<'_>, corr: u32, instance: u32) -> Vec<u8> {
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    let n = encode_request(req, corr, instance, &mut buf).expect("encode");
    buf.truncate(n);
    buf
}

/// Decodes a woken reply's body into an owned-enough form for assertions.
pub fn woke_body(bytes: &[u8]) -> Result<Reply<'_>, NetError> {
    decode_reply(bytes).expect("woken reply must decode").body
}

/// Deterministic xorshift64* generator for fuzz-style tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}
