//! dsoftbusd's core, host-testable: node identities, the boot argument, the
//! remote-proxy wire format and [`Daemon`], the event loop over the sockets
//! facade. `main.rs` only supplies the platform (clock, rngd entropy, console)
//! and the IPC transport.
//!
//! Design notes
//! ------------
//! * Only the netstackd facade is used: no device, no smoltcp, no virtio
//!   (CI checks the dependency tree).
//! * One loop, never blocking for long: announce every
//!   [`ANNOUNCE_PERIOD_NS`], drain announcements into the bounded
//!   [`PeerCache`], dial every newly discovered peer (never a hard-coded
//!   one), accept sessions, advance every pending handshake without blocking
//!   ([`PendingSession::step`]), serve records of live sessions, then sleep in
//!   a facade `Wait` of at most [`TICK_NS`].
//! * Identity binding is strict both ways (see `dsoftbus`): a session exists
//!   only when the authenticated static key equals the discovered key of the
//!   claimed device id. A failed handshake leaves nothing behind, and a
//!   stalled one is dropped at its deadline ([`HANDSHAKE_NS`]).
//! * Keys: the static identity keys are **test keys** ([`TEST_NODES`]),
//!   chosen by the boot profile; ephemeral keys come from the platform's
//!   entropy (rngd / virtio-rng on the OS). Keys are never logged.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use dsoftbus::cache::{CacheConfig, PeerCache};
use dsoftbus::driver::{drain_announces, send_announce, Connection, PendingSession};
use dsoftbus::handshake::{AuthError, IdentityError, LocalIdentity, PeerDirectory};
use dsoftbus::policy::ProxyPolicy;
use dsoftbus::session::{Record, SessionError};
use dsoftbus::{DISCOVERY_PORT, KEY_LEN, MAX_WIRE_FRAME};
use nexus_interfaces::args::DsoftbusdArgs;
use nexus_net::{
    Ipv4Addr, NetClient, NetError, Readiness, SocketAddrV4, TcpListener, Transport, UdpSocket,
};
use nexus_noise_xk::StaticKeypair;

/// How often a node announces itself.
pub const ANNOUNCE_PERIOD_NS: u64 = 500_000_000;
/// Longest sleep of the loop (bounds the latency of everything it polls).
pub const TICK_NS: u64 = 10_000_000;
/// A handshake must finish within this time of its start.
pub const HANDSHAKE_NS: u64 = 5_000_000_000;
/// Pending handshakes and live sessions, each.
pub const MAX_CONNS: usize = 8;
/// Peers stop being live this long after their last announce.
pub const PEER_TTL_NS: u64 = 3_000_000_000;

/// A test node: device id, session port and a **TEST-ONLY** static secret.
///
/// These keys are public (they are in the source) and exist only so the
/// smoke and two-VM harnesses can name identities; a real deployment
/// provisions per-device keys and never ships these.
#[derive(Clone, Copy, Debug)]
pub struct TestNode {
    /// Device id announced and claimed.
    pub device_id: &'static str,
    /// TCP port of its session listener.
    pub session_port: u16,
    /// UDP port it receives announcements on.
    pub discovery_port: u16,
    test_secret: [u8; KEY_LEN],
}

impl TestNode {
    /// The node's static key pair (TEST KEY).
    pub fn keys(&self) -> StaticKeypair {
        StaticKeypair::from_secret(self.test_secret)
    }
}

/// The test identities, indexed by the boot argument's node number.
pub const TEST_NODES: [TestNode; 4] = [
    TestNode {
        device_id: "node-a",
        session_port: 37030,
        discovery_port: DISCOVERY_PORT,
        test_secret: [0xa1; KEY_LEN],
    },
    TestNode {
        device_id: "node-b",
        session_port: 37030,
        discovery_port: DISCOVERY_PORT,
        test_secret: [0xb2; KEY_LEN],
    },
    TestNode {
        device_id: "selftest-peer",
        session_port: 37031,
        discovery_port: DISCOVERY_PORT + 1,
        test_secret: [0xc3; KEY_LEN],
    },
    TestNode {
        device_id: "impostor",
        session_port: 37032,
        discovery_port: DISCOVERY_PORT + 2,
        test_secret: [0xd4; KEY_LEN],
    },
];

/// The daemon's configuration, from its boot argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Index into [`TEST_NODES`].
    pub node: usize,
    /// Also announce to these UDP ports (several nodes in one VM share one
    /// address, so each listens on its own discovery port).
    pub extra_announce_ports: [u16; 2],
    /// Run the remote-proxy selftest against the first peer with a session.
    pub proxy_selftest: bool,
    /// Sessions cross VMs (the two-VM harness): also print
    /// `cross-vm session ok`.
    pub cross_vm: bool,
    /// After the proxy selftest, send [`BULK_BYTES`] of checked data to the
    /// peer and print the throughput.
    pub bulk_sender: bool,
}

impl Config {
    /// The configuration of a start-up argument: the node must be one of
    /// [`TEST_NODES`], at most two extra announce ports.
    pub fn from_args(a: &DsoftbusdArgs) -> Option<Config> {
        let node = TEST_NODES
            .iter()
            .position(|n| n.device_id == a.node.as_str())?;
        let extra = &a.extra_announce.0;
        if extra.len() > 2 {
            return None;
        }
        let mut extra_announce_ports = [0u16; 2];
        extra_announce_ports[..extra.len()].copy_from_slice(extra);
        Some(Config {
            node,
            extra_announce_ports,
            proxy_selftest: a.proxy_selftest,
            cross_vm: a.cross_vm,
            bulk_sender: a.bulk_sender,
        })
    }
}

/// What the daemon needs from its platform.
pub trait Platform {
    /// Monotonic time in ns.
    fn now_ns(&mut self) -> u64;
    /// 32 fresh random bytes for an ephemeral key; `None` if no entropy.
    fn ephemeral(&mut self) -> Option<[u8; KEY_LEN]>;
    /// One console line.
    fn log(&mut self, line: fmt::Arguments<'_>);
    /// Heap bytes in use (reported by `nodeinfo` for leak checks); 0 if
    /// unknown.
    fn heap_used(&mut self) -> usize {
        0
    }
}

/// Remote-proxy messages carried in `Record::Data` (all bounded):
/// request `[1][name len][name][payload]`, answer `[2][data]` (served) or
/// `[3]` (denied by the callee's allowlist).
pub mod proxy {
    /// Request tag.
    pub const REQUEST: u8 = 1;
    /// Served answer tag.
    pub const SERVED: u8 = 2;
    /// Denied answer tag.
    pub const DENIED: u8 = 3;
    /// Bulk data chunk tag (`[4][bytes]`, the bytes follow [`bulk_byte`]).
    pub const BULK: u8 = 4;
    /// End of bulk: `[5][total u64 LE]`.
    pub const BULK_END: u8 = 5;
    /// Receiver's verdict: `[6][received u64 LE][ok u8]`.
    pub const BULK_ACK: u8 = 6;

    /// The checked pattern of bulk byte number `i`.
    pub fn bulk_byte(i: u64) -> u8 {
        (i.wrapping_mul(2_654_435_761) >> 13) as u8
    }

    /// Decodes a request: (service name, payload).
    pub fn decode_request(b: &[u8]) -> Option<(&str, &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&len, rest) = rest.split_first()?;
        if tag != REQUEST || len == 0 || rest.len() < len as usize {
            return None;
        }
        let (name, payload) = rest.split_at(len as usize);
        Some((core::str::from_utf8(name).ok()?, payload))
    }

    /// Encodes a request into `out`; returns its length.
    pub fn encode_request(name: &str, payload: &[u8], out: &mut [u8]) -> Option<usize> {
        let n = name.len();
        if n == 0 || n > 64 || out.len() < 2 + n + payload.len() {
            return None;
        }
        out[0] = REQUEST;
        out[1] = n as u8;
        out[2..2 + n].copy_from_slice(name.as_bytes());
        out[2 + n..2 + n + payload.len()].copy_from_slice(payload);
        Some(2 + n + payload.len())
    }
}

/// Services this node serves to remote callers (the allowlist decides who
/// may call which).
pub const PROXY_SERVICES: [&str; 2] = ["nodeinfo", "samgrd"];

/// A cache view that remembers which device id the handshake asked about,
/// so a mismatch can be reported with the claimed id.
struct Directory<'a> {
    cache: &'a PeerCache,
    now: u64,
    asked: RefCell<String>,
}

impl PeerDirectory for Directory<'_> {
    fn static_key(&self, device_id: &str) -> Option<[u8; KEY_LEN]> {
        let mut a = self.asked.borrow_mut();
        a.clear();
        a.push_str(device_id);
        self.cache.get(device_id, self.now).map(|e| *e.static_key())
    }
}

struct Pending {
    hs: PendingSession,
    dialled: Option<String>,
    started_ns: u64,
}

struct Live {
    conn: Connection,
    initiated: bool,
    last_rx_ns: u64,
    next_ping_ns: u64,
}

/// Keepalive: a session pings its peer this often ...
pub const KEEPALIVE_NS: u64 = 1_000_000_000;
/// ... and is closed when nothing arrived for this long.
pub const SILENCE_NS: u64 = 4_000_000_000;

/// The DSoftBus daemon.
pub struct Daemon<T: Transport, P: Platform> {
    net: NetClient<T>,
    p: P,
    cfg: Config,
    me: LocalIdentity,
    udp: UdpSocket,
    listener: TcpListener,
    cache: PeerCache,
    policy: ProxyPolicy,
    next_announce: u64,
    pending: Vec<Pending>,
    live: Vec<Live>,
    tx: Vec<u8>,
    proxy_done: bool,
    started_ns: u64,
    /// Every peer a session was ever established with (bounded by the cache
    /// capacity in practice; capped at 64 names).
    known: Vec<String>,
    /// Bulk receive state: bytes so far and whether every byte matched.
    bulk_rx: (u64, bool),
    /// Earliest time to dial a peer again after a failed attempt.
    retry_at: Vec<(String, u64)>,
    /// netstackd restarted; sockets must be re-opened.
    restarted: bool,
}

/// Wait before dialling a discovered peer again after a failed handshake
/// (e.g. it had not discovered us yet and strictly refused).
pub const REDIAL_NS: u64 = 500_000_000;

/// Bytes the bulk sender transfers (at least 4 MiB, checked end to end).
pub const BULK_BYTES: u64 = 4 * 1024 * 1024;

/// Why the daemon could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// The facade refused a socket.
    Net(NetError),
    /// The identity is invalid.
    Identity,
}

impl<T: Transport, P: Platform> Daemon<T, P> {
    /// Binds the discovery port and the session listener of the configured node.
    pub fn start(net: NetClient<T>, mut p: P, cfg: Config) -> Result<Self, StartError> {
        let mut net = net;
        let node = TEST_NODES[cfg.node];
        let me =
            LocalIdentity::new(node.device_id, node.keys()).map_err(|_| StartError::Identity)?;
        p.log(format_args!("dsoftbusd: ready id={}", node.device_id));
        let (udp, _) = net.udp_bind(node.discovery_port).map_err(StartError::Net)?;
        p.log(format_args!("dsoftbusd: discovery up (udp)"));
        let (listener, _) = net
            .tcp_listen(node.session_port, 8)
            .map_err(StartError::Net)?;
        p.log(format_args!("dsoftbusd: os transport up (udp+tcp)"));
        let mut policy = ProxyPolicy::deny_all();
        // Deny by default: only `nodeinfo` may be called remotely.
        let _ = policy.allow("nodeinfo");
        let cache = PeerCache::new(CacheConfig {
            capacity: 16,
            ttl_ns: PEER_TTL_NS,
        })
        .with_local_device_id(node.device_id);
        let now = p.now_ns();
        Ok(Daemon {
            net,
            p,
            cfg,
            me,
            udp,
            listener,
            cache,
            policy,
            next_announce: now,
            pending: Vec::new(),
            live: Vec::new(),
            tx: alloc::vec![0u8; MAX_WIRE_FRAME],
            proxy_done: false,
            started_ns: now,
            known: Vec::new(),
            bulk_rx: (0, true),
            retry_at: Vec::new(),
            restarted: false,
        })
    }

    /// The peer cache (for tests and status).
    pub fn cache(&self) -> &PeerCache {
        &self.cache
    }

    /// Live sessions.
    pub fn sessions(&self) -> usize {
        self.live.len()
    }

    fn announce(&mut self, now: u64) {
        let node = TEST_NODES[self.cfg.node];
        let Ok(a) = self.me.announce(1, node.session_port, &["nodeinfo"]) else {
            return;
        };
        let Ok(iface) = self.net.local_addr() else {
            return;
        };
        let bcast = iface.broadcast();
        let mut ports = [node.discovery_port, 0, 0];
        ports[1..].copy_from_slice(&self.cfg.extra_announce_ports);
        for port in ports.into_iter().filter(|&p| p != 0) {
            let _ = send_announce(&mut self.net, self.udp, SocketAddrV4::new(bcast, port), &a);
        }
        self.next_announce = now + ANNOUNCE_PERIOD_NS;
    }

    fn discover(&mut self, now: u64) {
        let before: Vec<String> = self
            .cache
            .live(now)
            .map(|e| String::from(e.device_id()))
            .collect();
        match drain_announces(&mut self.net, self.udp, &mut self.cache, now) {
            Ok(_) => {}
            Err(NetError::ServerRestarted) => {
                self.restarted = true;
                return;
            }
            Err(_) => return,
        }
        let fresh: Vec<String> = self
            .cache
            .live(now)
            .filter(|e| !before.iter().any(|b| b == e.device_id()))
            .map(|e| String::from(e.device_id()))
            .collect();
        for id in fresh {
            self.p
                .log(format_args!("dsoftbusd: peer discovered id={}", id));
            self.dial(&id, now);
        }
        // Dial again every live peer without an outbound session once its
        // back-off has passed.
        let again: Vec<String> = self
            .cache
            .live(now)
            .map(|e| String::from(e.device_id()))
            .filter(|id| !self.has_outbound(id))
            .filter(|id| {
                self.retry_at
                    .iter()
                    .find(|(r, _)| r == id)
                    .is_none_or(|(_, t)| now >= *t)
            })
            .collect();
        for id in again {
            self.dial(&id, now);
        }
    }

    fn back_off(&mut self, id: &str, now: u64) {
        self.retry_at.retain(|(r, _)| r != id);
        if self.retry_at.len() >= 16 {
            self.retry_at.remove(0);
        }
        self.retry_at.push((String::from(id), now + REDIAL_NS));
    }

    fn has_outbound(&self, id: &str) -> bool {
        self.pending
            .iter()
            .any(|p| p.dialled.as_deref() == Some(id))
            || self
                .live
                .iter()
                .any(|l| l.initiated && l.conn.peer_device_id() == id)
    }

    fn dial(&mut self, id: &str, now: u64) {
        if self.has_outbound(id) || self.pending.len() >= MAX_CONNS {
            return;
        }
        let Some(entry) = self.cache.get(id, now).cloned() else {
            return;
        };
        let Some(eph) = self.p.ephemeral() else {
            self.p
                .log(format_args!("dsoftbusd: no entropy; not dialling {}", id));
            return;
        };
        match PendingSession::connect(&mut self.net, &entry, &self.me, eph, now + HANDSHAKE_NS) {
            Ok(hs) => self.pending.push(Pending {
                hs,
                dialled: Some(String::from(id)),
                started_ns: now,
            }),
            Err(e) => {
                self.back_off(id, now);
                self.p
                    .log(format_args!("dsoftbusd: dial {} failed: {:?}", id, e))
            }
        }
    }

    fn accept(&mut self, now: u64) {
        while self.pending.len() < MAX_CONNS {
            let Ok((stream, _)) = self.net.tcp_accept(self.listener) else {
                return;
            };
            let Some(eph) = self.p.ephemeral() else {
                let _ = self.net.close(stream);
                return;
            };
            self.pending.push(Pending {
                hs: PendingSession::accepted(stream, &self.me, eph, now + HANDSHAKE_NS),
                dialled: None,
                started_ns: now,
            });
        }
    }

    fn handshakes(&mut self, now: u64) {
        let mut i = 0;
        while i < self.pending.len() {
            let dir = Directory {
                cache: &self.cache,
                now,
                asked: RefCell::new(String::new()),
            };
            let r = self.pending[i].hs.step(&mut self.net, now, &dir);
            match r {
                Ok(None) => i += 1,
                Ok(Some(conn)) => {
                    let p = self.pending.swap_remove(i);
                    let id = String::from(conn.peer_device_id());
                    self.p
                        .log(format_args!("dsoftbusd: identity bound peer={}", id));
                    self.p.log(format_args!("dsoftbusd: auth ok peer={}", id));
                    let role = if p.dialled.is_some() { "out" } else { "in" };
                    self.p.log(format_args!(
                        "dsoftbusd: os session ok peer={} dir={} handshake_us={}",
                        id,
                        role,
                        now.saturating_sub(p.started_ns) / 1000
                    ));
                    if self.cfg.cross_vm {
                        self.p.log(format_args!(
                            "dsoftbusd: cross-vm session ok peer={} dir={}",
                            id, role
                        ));
                    }
                    if self.known.contains(&id) {
                        self.p.log(format_args!(
                            "dsoftbusd: peer reconnected id={} dir={}",
                            id, role
                        ));
                    } else if self.known.len() < 64 {
                        self.known.push(id.clone());
                    }
                    if self.live.len() < MAX_CONNS {
                        self.live.push(Live {
                            conn,
                            initiated: p.dialled.is_some(),
                            last_rx_ns: now,
                            next_ping_ns: now + KEEPALIVE_NS,
                        });
                    } else {
                        dsoftbus::driver::close_connection(&mut self.net, conn, now + TICK_NS);
                    }
                }
                Err(e) => {
                    let p = self.pending.swap_remove(i);
                    let claimed = dir.asked.borrow().clone();
                    if let Some(id) = &p.dialled {
                        self.back_off(id, now);
                    }
                    let who = p.dialled.unwrap_or(claimed);
                    match e {
                        AuthError::Identity(IdentityError::KeyMismatch) => self.p.log(
                            format_args!("dsoftbusd: identity mismatch peer={} ({:?})", who, e),
                        ),
                        AuthError::Identity(IdentityError::UnknownDevice) => {
                            self.p.log(format_args!(
                            "dsoftbusd: identity unknown peer={} (no discovery entry; no session)",
                            who
                        ))
                        }
                        _ => self.p.log(format_args!(
                            "dsoftbusd: handshake failed peer={} ({:?})",
                            who, e
                        )),
                    }
                }
            }
        }
    }

    fn send(&mut self, i: usize, rec: &Record<'_>, now: u64) -> Result<(), SessionError> {
        let l = &mut self.live[i];
        let n = l.conn.session_mut().seal(rec, &mut self.tx)?;
        let stream = l.conn.stream();
        write_all(
            &mut self.net,
            &mut self.p,
            stream,
            &self.tx[..n],
            now + 2_000_000_000,
        )
    }

    fn serve_proxy(&mut self, name: &str, now: u64, out: &mut [u8]) -> usize {
        if !self.policy.allows(name) || !PROXY_SERVICES.contains(&name) {
            self.p
                .log(format_args!("dsoftbusd: remote proxy denied svc={}", name));
            out[0] = proxy::DENIED;
            return 1;
        }
        let addr = self
            .net
            .local_addr()
            .map(|i| i.addr)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mut w = Cursor { buf: out, len: 1 };
        w.buf[0] = proxy::SERVED;
        let _ = fmt::write(
            &mut w,
            format_args!(
                "id={} addr={} uptime_ms={} heap={} sessions={}",
                self.me.device_id(),
                addr,
                (now - self.started_ns) / 1_000_000,
                self.p.heap_used(),
                self.live.len()
            ),
        );
        self.p
            .log(format_args!("dsoftbusd: remote proxy served svc={}", name));
        w.len
    }

    fn sessions_io(&mut self, now: u64) {
        let mut i = 0;
        while i < self.live.len() {
            match self.one_session(i, now) {
                Ok(()) => i += 1,
                Err(e) => {
                    let l = self.live.swap_remove(i);
                    let id = String::from(l.conn.peer_device_id());
                    self.p.log(format_args!(
                        "dsoftbusd: session closed peer={} ({:?})",
                        id, e
                    ));
                    let _ = self.net.close(l.conn.stream());
                }
            }
        }
    }

    fn one_session(&mut self, i: usize, now: u64) -> Result<(), SessionError> {
        if now >= self.live[i].next_ping_ns {
            if now.saturating_sub(self.live[i].last_rx_ns) > SILENCE_NS {
                return Err(SessionError::Net(NetError::TimedOut));
            }
            self.live[i].next_ping_ns = now + KEEPALIVE_NS;
            self.send(i, &Record::Ping(now), now)?;
        }
        loop {
            let l = &mut self.live[i];
            if !l.conn.session().record_ready() {
                let stream = l.conn.stream();
                match self.net.tcp_read(stream, l.conn.session_mut().rx_space()) {
                    Ok(0) => return Err(SessionError::Closed),
                    Ok(n) => {
                        l.last_rx_ns = now;
                        l.conn.session_mut().rx_commit(n);
                    }
                    Err(NetError::WouldBlock) => return Ok(()),
                    Err(e) => return Err(SessionError::Net(e)),
                }
                continue;
            }
            let mut reply = [0u8; 256];
            let answer = match l.conn.session_mut().open()? {
                None => continue,
                Some(Record::Ping(x)) => Answer::Pong(x),
                Some(Record::Pong(_)) => Answer::None,
                Some(Record::Close) => return Err(SessionError::Closed),
                Some(Record::Data(d)) => match d.first() {
                    Some(&proxy::BULK) => {
                        let (got, ok) = &mut self.bulk_rx;
                        for (k, b) in d[1..].iter().enumerate() {
                            *ok &= *b == proxy::bulk_byte(*got + k as u64);
                        }
                        *got += (d.len() - 1) as u64;
                        Answer::None
                    }
                    Some(&proxy::BULK_END) => {
                        let total = d
                            .get(1..9)
                            .and_then(|b| b.try_into().ok())
                            .map_or(u64::MAX, u64::from_le_bytes);
                        let (got, ok) = self.bulk_rx;
                        let ok = ok && got == total;
                        self.p.log(format_args!(
                            "dsoftbusd: bulk received bytes={} {}",
                            got,
                            if ok { "ok" } else { "CORRUPT" }
                        ));
                        self.bulk_rx = (0, true);
                        reply[0] = proxy::BULK_ACK;
                        reply[1..9].copy_from_slice(&got.to_le_bytes());
                        reply[9] = ok as u8;
                        Answer::Data(10)
                    }
                    _ => match proxy::decode_request(d) {
                        Some((name, _)) => {
                            let name = String::from(name);
                            let n = self.serve_proxy(&name, now, &mut reply);
                            Answer::Data(n)
                        }
                        None => Answer::None,
                    },
                },
            };
            match answer {
                Answer::Pong(x) => self.send(i, &Record::Pong(x), now)?,
                Answer::Data(n) => self.send(i, &Record::Data(&reply[..n]), now)?,
                Answer::None => {}
            }
        }
    }

    /// Closes sessions whose peer stopped announcing (its cache entry
    /// expired) and that carried nothing for [`SILENCE_NS`]: a VM that went
    /// away sends no FIN.
    fn expire_peers(&mut self, now: u64) {
        let mut i = 0;
        while i < self.live.len() {
            let id = self.live[i].conn.peer_device_id();
            // A session that still carries traffic outlives lost announces.
            let silent = now.saturating_sub(self.live[i].last_rx_ns) > SILENCE_NS;
            if self.cache.get(id, now).is_some() || !silent {
                i += 1;
                continue;
            }
            let l = self.live.swap_remove(i);
            self.p.log(format_args!(
                "dsoftbusd: peer expired id={}; session closed",
                l.conn.peer_device_id()
            ));
            let _ = self.net.close(l.conn.stream());
        }
    }

    /// Whether the bulk transfer should run now (configured, proxy selftest
    /// done, an outbound session exists).
    pub fn bulk_due(&self) -> bool {
        self.cfg.bulk_sender && self.proxy_done && self.live.iter().any(|l| l.initiated)
    }

    /// Sends [`BULK_BYTES`] of patterned data over the first outbound
    /// session and waits for the receiver's verdict. Returns (bytes, ns,
    /// receiver ok).
    pub fn bulk_send(&mut self) -> Result<(u64, u64, bool), SessionError> {
        self.cfg.bulk_sender = false;
        let t0 = self.p.now_ns();
        let deadline = t0 + 60_000_000_000;
        let i = self
            .live
            .iter()
            .position(|l| l.initiated)
            .ok_or(SessionError::Closed)?;
        let mut chunk = alloc::vec![0u8; 1 + 4000];
        chunk[0] = proxy::BULK;
        let mut sent = 0u64;
        while sent < BULK_BYTES {
            // Keep announcing while busy, or the peer would expire us.
            let now = self.p.now_ns();
            if now >= self.next_announce {
                self.announce(now);
            }
            let n = (BULK_BYTES - sent).min(4000) as usize;
            for (k, b) in chunk[1..1 + n].iter_mut().enumerate() {
                *b = proxy::bulk_byte(sent + k as u64);
            }
            let rec = Record::Data(&chunk[..1 + n]);
            let l = &mut self.live[i];
            let m = l.conn.session_mut().seal(&rec, &mut self.tx)?;
            let stream = l.conn.stream();
            write_all(&mut self.net, &mut self.p, stream, &self.tx[..m], deadline)?;
            sent += n as u64;
        }
        let mut end = [0u8; 9];
        end[0] = proxy::BULK_END;
        end[1..].copy_from_slice(&sent.to_le_bytes());
        let now = self.p.now_ns();
        self.send(i, &Record::Data(&end), now)?;
        let l = &mut self.live[i];
        loop {
            match dsoftbus::driver::recv_record(&mut self.net, &mut l.conn, deadline)? {
                Record::Data(d) if d.first() == Some(&proxy::BULK_ACK) && d.len() == 10 => {
                    let got = u64::from_le_bytes(
                        d[1..9].try_into().map_err(|_| SessionError::Malformed)?,
                    );
                    let ok = d[9] == 1 && got == sent;
                    let now = self.p.now_ns();
                    l.last_rx_ns = now;
                    l.next_ping_ns = now + KEEPALIVE_NS;
                    return Ok((sent, now - t0, ok));
                }
                Record::Ping(_) | Record::Pong(_) => continue,
                _ => return Err(SessionError::Malformed),
            }
        }
    }

    /// One pass of the loop; returns the absolute time to wake up by.
    pub fn step(&mut self) -> u64 {
        let now = self.p.now_ns();
        if self.restarted {
            self.reopen(now);
            return now + TICK_NS * 5;
        }
        if now >= self.next_announce {
            self.announce(now);
        }
        self.discover(now);
        self.accept(now);
        self.handshakes(now);
        self.sessions_io(now);
        self.expire_peers(now);
        self.cache.purge_expired(now);
        (now + TICK_NS).min(self.next_announce)
    }

    /// netstackd restarted: every handle of ours is gone with it. Forget the
    /// sessions (their streams no longer exist), start a new facade session
    /// and bind the discovery and session sockets again; peers are then
    /// rediscovered and re-authenticated as usual.
    fn reopen(&mut self, now: u64) {
        if !self.pending.is_empty() || !self.live.is_empty() {
            self.p.log(format_args!(
                "dsoftbusd: netstack restarted; dropping {} session(s)",
                self.live.len() + self.pending.len()
            ));
            self.pending.clear();
            self.live.clear();
        }
        self.net.reset_session();
        let node = TEST_NODES[self.cfg.node];
        let Ok(info) = self.net.local_addr() else {
            return;
        };
        if info.addr.is_unspecified() {
            return;
        }
        let Ok((udp, _)) = self.net.udp_bind(node.discovery_port) else {
            return;
        };
        let Ok((listener, _)) = self.net.tcp_listen(node.session_port, 4) else {
            let _ = self.net.close(udp);
            return;
        };
        self.udp = udp;
        self.listener = listener;
        self.restarted = false;
        self.next_announce = now;
        self.retry_at.clear();
        self.p.log(format_args!(
            "dsoftbusd: sockets re-opened after netstack restart"
        ));
    }

    /// Sleeps until `until` or until a session is offered (facade `Wait`).
    pub fn sleep(&mut self, until: u64) {
        if self.restarted {
            // No handle to wait on: poll the facade at a bounded pace.
            let _ = self.net.local_addr();
            return;
        }
        if let Err(NetError::ServerRestarted) =
            self.net.wait(self.listener, Readiness::READABLE, until)
        {
            self.restarted = true;
        }
    }

    /// Whether the proxy selftest should run now (configured, not yet run,
    /// an outbound session exists).
    pub fn proxy_selftest_due(&self) -> bool {
        self.cfg.proxy_selftest && !self.proxy_done && self.live.iter().any(|l| l.initiated)
    }

    /// Calls `service` on the peer of the first outbound session: `Ok(Some)`
    /// served data, `Ok(None)` denied.
    pub fn proxy_call(
        &mut self,
        service: &str,
        out: &mut [u8],
    ) -> Result<Option<usize>, SessionError> {
        self.proxy_done = true;
        let now = self.p.now_ns();
        let i = self
            .live
            .iter()
            .position(|l| l.initiated)
            .ok_or(SessionError::Closed)?;
        let mut req = [0u8; 128];
        let n = proxy::encode_request(service, b"", &mut req).ok_or(SessionError::Malformed)?;
        self.send(i, &Record::Data(&req[..n]), now)?;
        let deadline = now + 5_000_000_000;
        loop {
            let l = &mut self.live[i];
            // Keepalives may arrive before the answer; answer pings, skip pongs.
            let ping = match dsoftbus::driver::recv_record(&mut self.net, &mut l.conn, deadline)? {
                Record::Data(d) => {
                    return match d.split_first() {
                        Some((&proxy::SERVED, data)) => {
                            let m = data.len().min(out.len());
                            out[..m].copy_from_slice(&data[..m]);
                            Ok(Some(m))
                        }
                        Some((&proxy::DENIED, _)) => Ok(None),
                        _ => Err(SessionError::Malformed),
                    };
                }
                Record::Ping(x) => Some(x),
                Record::Pong(_) => None,
                Record::Close => return Err(SessionError::Closed),
            };
            l.last_rx_ns = self.p.now_ns();
            if let Some(x) = ping {
                let now = self.p.now_ns();
                self.send(i, &Record::Pong(x), now)?;
            }
        }
    }

    /// Logs through the platform.
    pub fn log(&mut self, line: fmt::Arguments<'_>) {
        self.p.log(line);
    }
}

/// Writes all of `data`, counting every byte the facade took: a partial
/// write is never repeated (that would corrupt the record stream), and
/// `WouldBlock` just waits (bounded) for send space until `deadline`.
fn write_all<T: Transport, P: Platform>(
    net: &mut NetClient<T>,
    p: &mut P,
    stream: nexus_net::TcpStream,
    data: &[u8],
    deadline: u64,
) -> Result<(), SessionError> {
    let mut off = 0;
    while off < data.len() {
        match net.tcp_write(stream, &data[off..]) {
            Ok(n) => off += n,
            Err(NetError::WouldBlock) => {
                let now = p.now_ns();
                if now >= deadline {
                    return Err(SessionError::Net(NetError::TimedOut));
                }
                match net.wait(stream, Readiness::WRITABLE, deadline.min(now + TICK_NS * 5)) {
                    Ok(_) | Err(NetError::TimedOut) => {}
                    Err(e) => return Err(SessionError::Net(e)),
                }
            }
            Err(e) => return Err(SessionError::Net(e)),
        }
    }
    Ok(())
}

enum Answer {
    None,
    Pong(u64),
    Data(usize),
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let b = s.as_bytes();
        let end = self.len + b.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_argument_maps_and_rejects_unknown_nodes() {
        use nexus_idl::{heapless, List};
        let mut a = DsoftbusdArgs {
            node: heapless::String::try_from("node-a").unwrap(),
            extra_announce: List(heapless::Vec::from_slice(&[37021, 37022]).unwrap()),
            proxy_selftest: true,
            cross_vm: false,
            bulk_sender: false,
        };
        assert_eq!(
            Config::from_args(&a),
            Some(Config {
                node: 0,
                extra_announce_ports: [37021, 37022],
                proxy_selftest: true,
                cross_vm: false,
                bulk_sender: false,
            })
        );
        a.extra_announce.0.push(1).unwrap();
        assert_eq!(Config::from_args(&a), None, "three extra ports");
        a.extra_announce.0.clear();
        a.node = heapless::String::try_from("node-z").unwrap();
        assert_eq!(Config::from_args(&a), None, "unknown node");
    }

    #[test]
    fn proxy_requests_are_bounded_and_total() {
        let mut b = [0u8; 32];
        let n = proxy::encode_request("nodeinfo", b"x", &mut b).unwrap();
        assert_eq!(
            proxy::decode_request(&b[..n]),
            Some(("nodeinfo", &b"x"[..]))
        );
        assert_eq!(proxy::decode_request(&[]), None);
        assert_eq!(proxy::decode_request(&[1]), None);
        assert_eq!(proxy::decode_request(&[1, 0]), None);
        assert_eq!(proxy::decode_request(&[1, 5, b'a']), None);
        assert_eq!(proxy::decode_request(&[2, 1, b'a']), None);
        assert_eq!(proxy::decode_request(&[1, 1, 0xff]), None);
        assert!(proxy::encode_request("", b"", &mut b).is_none());
    }

    #[test]
    fn test_identities_are_distinct() {
        for (i, a) in TEST_NODES.iter().enumerate() {
            for b in &TEST_NODES[i + 1..] {
                assert_ne!(a.device_id, b.device_id);
                assert_ne!(a.keys().public_key(), b.keys().public_key());
            }
        }
    }
}
