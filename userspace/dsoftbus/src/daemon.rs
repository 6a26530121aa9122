//! The DSoftBus daemon core: discovery, sessions and streams over the sockets facade,
//! without ever blocking. `dsoftbusd` is a thin loop around [`Daemon`]; host tests drive
//! the same code on the fake network.
//!
//! Design notes:
//! - **Never blocks.** Every facade call is non-blocking. [`Daemon::poll`] does one pass
//!   (announce, drain announces, accept, advance handshakes, serve sessions, expire) and
//!   returns the absolute time it must run again by; the caller then sleeps in one facade
//!   `WaitAny` on [`Daemon::wait_set`] (every socket, each with the readiness that lets it
//!   progress) until that time ([`Daemon::wait`]). Records are served when they arrive.
//! - **Budgets.** Per pass and session, at most [`READ_BUDGET`] bytes are read and
//!   [`WRITE_BUDGET`] bytes written; a session that used its budget makes `poll` ask to
//!   run again at once, so one busy peer cannot starve the others or the local side.
//! - **A peer that never reads costs only its own streams.** Each session queues at most
//!   [`TX_QUEUE`] sealed bytes; when the socket does not drain, nothing more is pulled from
//!   its stream multiplexer, whose streams then stop taking data (`WouldBlock` for their
//!   local senders). Pongs coalesce into one pending token.
//! - **Slots.** At most [`Limits::max_sessions`] sessions and [`Limits::max_pending`]
//!   handshakes; inbound handshakes (peers not yet authenticated) may take at most
//!   [`Limits::max_inbound_pending`] of the handshake slots and at most two per source
//!   address, so unknown peers can never take every slot, and dials to discovered peers
//!   always find one. A session exists only for a discovered peer with the discovered key.
//! - **One session per pair.** The smaller device id dials a discovered peer at once, the
//!   larger one only after `defer_ns` without a session. Two opposite sessions that still
//!   come up together (a crossing) resolve alike on both sides: the one initiated by the
//!   smaller device id stays. Otherwise a newer session replaces an older one (the peer
//!   lost the old one).
//! - **Streams.** Every session carries a [`Mux`]; the local side uses the stream API
//!   ([`Daemon::open`], [`Daemon::send`], [`Daemon::recv`], ...) with [`StreamRef`]s and
//!   learns what happened from [`Daemon::next_event`]. The built-in `nodeinfo` service
//!   (remote proxy) is served on streams too.
//! - **Trust.** An authenticated peer is not a trusted one: a peer may open a published
//!   service only if the [`TrustStore`] pins its key and grants it that name (deny by
//!   default; REFUSE "denied" otherwise). Any authenticated peer may open the reserved
//!   `pairing` service, which the daemon serves itself ([`crate::pairing`]):
//!   [`Daemon::show_pin`] on one node, [`Daemon::pair`] on the other, steps driven by
//!   `poll` like everything else. [`Daemon::untrust`] closes the peer's sessions. Every
//!   change of the store is reported as [`BusEvent::TrustChanged`] so the service can
//!   persist it.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use nexus_net::{
    Ipv4Addr, NetClient, NetError, Readiness, SocketAddrV4, TcpListener, Transport, UdpSocket,
    WaitSet,
};

use crate::cache::{CacheConfig, PeerCache};
use crate::driver::{drain_announces, send_announce, Connection, PendingSession, MAX_DRAIN};
use crate::handshake::{AuthError, IdentityError, LocalIdentity, PeerDirectory};
use crate::identity::Escaped;
use crate::mux::{
    Event, Mode, Mux, MuxConfig, MuxError, Priority, RefuseReason, ResetReason, StreamError,
    StreamId,
};
use crate::pairing::{
    draw_pin, Binding, InitStep, PairError, PairInitiator, PairResponder, PinDesk, Verdict,
    EXCHANGE_NS, PAIRING,
};
use crate::session::{Record, SessionError, DATA_AT};
use crate::trust::{TrustEntry, TrustError, TrustOrigin, TrustStore};
use crate::{EphemeralKeypair, KEY_LEN, MAX_RECORD_PAYLOAD, MAX_SERVICES, MAX_WIRE_FRAME};

/// Bytes read per session and pass.
pub const READ_BUDGET: usize = 64 * 1024;
/// Bytes written per session and pass.
pub const WRITE_BUDGET: usize = 64 * 1024;
/// Sealed bytes a session may queue for its socket.
pub const TX_QUEUE: usize = 3 * MAX_WIRE_FRAME;
/// A session's receive buffer: room for one facade read of [`nexus_net::MAX_IO`]
/// bytes even behind the partial frame a read leaves, so a bulk stream costs one
/// facade read per `MAX_IO` bytes rather than one per record.
pub const RX_BUF: usize = nexus_net::MAX_IO + MAX_WIRE_FRAME;
/// Events queued for the local side before new ones are dropped (and counted).
pub const MAX_EVENTS: usize = 512;
/// Name of the built-in remote-proxy service.
pub const NODEINFO: &str = "nodeinfo";
/// The `discovery drops` line is printed at most this often (when its counters changed).
pub const DROP_LOG_NS: u64 = 2_000_000_000;

/// What the daemon needs from its platform.
pub trait Platform {
    /// Monotonic time in ns.
    fn now_ns(&mut self) -> u64;
    /// 32 fresh random bytes for an ephemeral key; `None` if no entropy.
    fn ephemeral(&mut self) -> Option<[u8; KEY_LEN]>;
    /// A fresh ephemeral key pair for one handshake; `None` if no entropy. By default
    /// derived from [`ephemeral`](Self::ephemeral) on the spot; a platform may derive it
    /// ahead (while idle), which takes a fixed-base scalar multiplication off each
    /// handshake's critical path. Never hand out the same pair twice.
    fn ephemeral_keypair(&mut self) -> Option<EphemeralKeypair> {
        self.ephemeral().map(EphemeralKeypair::from_secret)
    }
    /// One console line.
    fn log(&mut self, line: fmt::Arguments<'_>);
    /// Heap bytes in use (reported by `nodeinfo` for leak checks); 0 if unknown.
    fn heap_used(&mut self) -> usize {
        0
    }
    /// A cheap free-running counter for the cost figures of [`DaemonStats`] (the
    /// record seal / open time); 0 if the platform has none.
    fn ticks(&mut self) -> u64 {
        0
    }
}

/// Timing and slot limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Live sessions.
    pub max_sessions: usize,
    /// Live sessions with peers at one IPv4 address (so one host, whatever ids it
    /// generates, cannot hold every session slot).
    pub max_sessions_per_addr: usize,
    /// Handshakes in progress (both directions).
    pub max_pending: usize,
    /// Of those, inbound ones (not yet authenticated peers).
    pub max_inbound_pending: usize,
    /// A handshake must finish within this time.
    pub handshake_ns: u64,
    /// Announce period.
    pub announce_ns: u64,
    /// Peers stop being live this long after their last announce.
    pub peer_ttl_ns: u64,
    /// A session pings its peer this often when idle ...
    pub keepalive_ns: u64,
    /// ... and is closed when nothing arrived for this long.
    pub silence_ns: u64,
    /// First redial delay after a failed dial; doubles per failure up to `redial_max_ns`.
    pub redial_ns: u64,
    /// Longest redial delay.
    pub redial_max_ns: u64,
    /// The node with the larger device id waits this long after discovering a peer
    /// before dialling it, so the smaller one's dial usually wins without a crossing.
    pub defer_ns: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 8,
            max_sessions_per_addr: 4,
            max_pending: 6,
            max_inbound_pending: 3,
            handshake_ns: 5_000_000_000,
            announce_ns: 500_000_000,
            peer_ttl_ns: 3_000_000_000,
            keepalive_ns: 1_000_000_000,
            silence_ns: 4_000_000_000,
            redial_ns: 500_000_000,
            redial_max_ns: 8_000_000_000,
            defer_ns: 1_000_000_000,
        }
    }
}

/// The daemon's configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// TCP port of the session listener (announced).
    pub session_port: u16,
    /// UDP port we receive announces on (and announce to).
    pub discovery_port: u16,
    /// Also announce to these UDP ports (several nodes sharing one address); 0 = none.
    pub extra_announce_ports: [u16; 2],
    /// Publish (announce and serve) the built-in `nodeinfo` service. A peer still needs
    /// it in its grant list to open it.
    pub nodeinfo: bool,
    /// The trust store at start-up (loaded from disk, provisioned): who may open what.
    pub trusted: Vec<TrustEntry>,
    /// Services of ours a device may open right after it paired with us.
    pub pair_grant: Vec<String>,
    /// This node's boot count (recorded in trust entries added during this boot).
    pub boot: u32,
    /// Stream limits per session.
    pub mux: MuxConfig,
    /// Slots and timers.
    pub limits: Limits,
}

/// Why the daemon could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// The facade refused a socket.
    Net(NetError),
}

/// A stream as the local side names it: the session it lives on and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamRef {
    /// Session serial (never reused while the daemon runs).
    pub session: u64,
    /// Stream id inside the session.
    pub id: StreamId,
}

/// Why a local bus operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusError {
    /// No live discovery entry for that device id.
    UnknownPeer,
    /// The peer is discovered but no session is up yet (one is being dialled).
    NotConnected,
    /// The stream's session ended (peer gone, expired, or netstackd restarted).
    PeerGone,
    /// No such stream (reset, refused, finished, or never opened).
    UnknownStream,
    /// Nothing to read / no room to write now.
    WouldBlock,
    /// Message empty or over the message limit.
    BadMessage,
    /// Output buffer shorter than the next message.
    BufferTooSmall,
    /// Operation not valid in the stream's state.
    WrongState,
    /// No stream slot left on that session.
    TooManyStreams,
    /// Invalid service name, or the local publish table is full.
    BadName,
}

impl From<StreamError> for BusError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Unknown => BusError::UnknownStream,
            StreamError::WouldBlock => BusError::WouldBlock,
            StreamError::BadMessage => BusError::BadMessage,
            StreamError::BufferTooSmall => BusError::BufferTooSmall,
            StreamError::WrongState => BusError::WrongState,
            StreamError::TooManyStreams => BusError::TooManyStreams,
            StreamError::BadName => BusError::BadName,
        }
    }
}

/// Something the local side should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// A session with this peer came up (its services are in the peer cache).
    PeerOnline(String),
    /// The session with this peer ended.
    PeerOffline(String),
    /// A live peer announced another service list (see the peer cache).
    PeerServicesChanged(String),
    /// A peer opens a stream to a service published locally: [`Daemon::accept`] or
    /// [`Daemon::refuse`].
    Incoming {
        /// The stream.
        stream: StreamRef,
        /// Opening device.
        peer: String,
        /// Requested service.
        service: String,
        /// Delivery mode.
        mode: Mode,
        /// Scheduling class.
        prio: Priority,
    },
    /// Our open was accepted.
    Accepted(StreamRef),
    /// Our open was refused (the stream is gone).
    Refused(StreamRef, RefuseReason),
    /// Data (or a whole message) can be read.
    Readable(StreamRef),
    /// The peer granted credit.
    Writable(StreamRef),
    /// The peer closed its direction.
    Finished(StreamRef),
    /// The stream was reset (gone).
    Reset(StreamRef, ResetReason),
    /// The stream's session ended (gone).
    PeerGone(StreamRef),
    /// The trust store entry of this device was added, replaced or removed (persist it:
    /// [`Daemon::trust`]`.get(id)` is the new state, `None` = removed).
    TrustChanged(String),
    /// A pairing started with [`Daemon::pair`] ended; on `Ok` both devices trust each
    /// other.
    PairDone {
        /// The device we paired with.
        peer: String,
        /// The outcome.
        result: Result<(), PairError>,
    },
}

/// Counters for status and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaemonStats {
    /// Sessions established (both directions).
    pub sessions_up: u64,
    /// Sessions closed for any reason.
    pub sessions_down: u64,
    /// Handshakes that failed.
    pub handshakes_failed: u64,
    /// Inbound connections closed at once because no inbound slot was free.
    pub inbound_refused: u64,
    /// Authenticated sessions closed because their address had
    /// [`Limits::max_sessions_per_addr`] sessions already.
    pub per_addr_refused: u64,
    /// Duplicate sessions closed by the one-session-per-pair rule.
    pub duplicates_closed: u64,
    /// Passes that stopped reading or writing a session because of its budget.
    pub budget_hits: u64,
    /// Local events dropped because the queue was full.
    pub events_dropped: u64,
    /// Times the facade reported `ServerRestarted`.
    pub net_restarts: u64,
    /// Records sealed on sessions (cost figures, with the next five).
    pub records_sealed: u64,
    /// Records opened on sessions.
    pub records_opened: u64,
    /// Wire bytes of the sealed records.
    pub bytes_sealed: u64,
    /// DATA payload bytes of the opened records.
    pub bytes_opened: u64,
    /// Platform [`ticks`](Platform::ticks) spent framing and sealing records.
    pub seal_ticks: u64,
    /// Platform ticks spent opening records.
    pub open_ticks: u64,
}

/// Remembers which device id the handshake asked about (for log lines).
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
    from: Ipv4Addr,
    started_ns: u64,
    /// Time spent in this handshake's steps (crypto and facade calls); the rest
    /// of `handshake_us` is waiting for the peer, the network or the CPU.
    busy_ns: u64,
}

struct Live {
    serial: u64,
    /// The address the session runs to (the peer's authenticated address).
    addr: Ipv4Addr,
    up_ns: u64,
    initiated: bool,
    conn: Connection,
    mux: Mux,
    last_rx_ns: u64,
    next_ping_ns: u64,
    pong_due: Option<u64>,
    ping_due: bool,
    txq: Vec<u8>,
    tx_off: usize,
    /// Built-in `nodeinfo` streams waiting for their request.
    builtin: Vec<StreamId>,
    /// The session's pairing stream (at most one, either role).
    pair: Option<PairStream>,
    /// Sealed bytes read from / written to the session's socket.
    bytes_in: u64,
    bytes_out: u64,
    /// The socket may hold unread bytes: read it in the next pass (see
    /// [`Daemon::poll_ready`]).
    probe: bool,
}

/// What [`Daemon::session_info`] reports about one live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The authenticated peer's device id.
    pub peer: String,
    /// The address the session runs to.
    pub addr: Ipv4Addr,
    /// When it came up (the platform clock, ns).
    pub up_ns: u64,
    /// True if this node dialled it.
    pub initiated: bool,
    /// Open streams (any state) on the session.
    pub streams: usize,
    /// Sealed bytes read from and written to the session's socket (records,
    /// framing and authentication tags included).
    pub bytes_in: u64,
    /// See `bytes_in`.
    pub bytes_out: u64,
    /// Bytes waiting in the session's queue and its streams' buffers.
    pub buffered: usize,
}

/// A pairing exchange on one session's `pairing` stream.
struct PairStream {
    id: StreamId,
    role: PairRole,
    /// The stream was reset, refused or closed by the peer.
    gone: bool,
    /// The responder refused the stream because an exchange was still running.
    busy: bool,
    deadline_ns: u64,
}

enum PairRole {
    /// We entered the PIN: PAKE_A waits for ACCEPT, then the state machine runs.
    Init {
        machine: alloc::boxed::Box<PairInitiator>,
        first: Option<Vec<u8>>,
    },
    /// We show the PIN: `None` until PAKE_A arrived.
    Resp(Option<PairResponder>),
}

impl Live {
    fn peer(&self) -> &str {
        self.conn.peer_device_id()
    }

    fn tx_pending(&self) -> usize {
        self.txq.len() - self.tx_off
    }

    /// Something is due to be sealed and the queue has room for it.
    fn can_progress(&self) -> bool {
        self.tx_pending() + MAX_WIRE_FRAME <= TX_QUEUE
            && (self.pong_due.is_some() || self.ping_due || self.mux.wants_transmit())
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Session(SessionError),
    Mux(MuxError),
    Silent,
}

/// The DSoftBus daemon.
pub struct Daemon<T: Transport, P: Platform> {
    net: NetClient<T>,
    p: P,
    cfg: DaemonConfig,
    me: LocalIdentity,
    udp: UdpSocket,
    listener: TcpListener,
    cache: PeerCache,
    published: Vec<String>,
    announce_seq: u32,
    next_announce: u64,
    pending: Vec<Pending>,
    live: Vec<Live>,
    next_serial: u64,
    started_ns: u64,
    known: Vec<String>,
    retry: Vec<(String, u64, u32)>,
    restarted: bool,
    hot: bool,
    /// The discovery socket / the session listener may have something to read
    /// (see [`Daemon::poll_ready`]; each session has its own `probe`).
    probe_udp: bool,
    probe_listener: bool,
    /// The set netstackd holds armed for us (`WaitArm` answered 0) and has not
    /// notified yet: arming the same set again is not needed.
    armed: Option<WaitSet>,
    events: VecDeque<BusEvent>,
    stats: DaemonStats,
    /// The drop counters of the last `discovery drops` line, and when it was printed.
    drops_logged: (u64, u64, u64),
    drops_log_ns: u64,
    trust: TrustStore,
    desk: PinDesk,
}

impl<T: Transport, P: Platform> Daemon<T, P> {
    /// Binds the discovery port and the session listener.
    pub fn start(
        mut net: NetClient<T>,
        mut p: P,
        me: LocalIdentity,
        cfg: DaemonConfig,
    ) -> Result<Self, StartError> {
        p.log(format_args!(
            "dsoftbusd: ready id={} name={}",
            me.device_id(),
            Escaped(me.name())
        ));
        let (udp, _) = net.udp_bind(cfg.discovery_port).map_err(StartError::Net)?;
        p.log(format_args!("dsoftbusd: discovery up (udp)"));
        let listener = match net.tcp_listen(cfg.session_port, 8) {
            Ok((l, _)) => l,
            Err(e) => {
                let _ = net.close(udp);
                return Err(StartError::Net(e));
            }
        };
        p.log(format_args!("dsoftbusd: os transport up (udp+tcp)"));
        let cache = PeerCache::new(CacheConfig {
            capacity: 16,
            ttl_ns: cfg.limits.peer_ttl_ns,
        })
        .with_local_device_id(me.device_id());
        let now = p.now_ns();
        let mut published = Vec::new();
        if cfg.nodeinfo {
            published.push(String::from(NODEINFO));
        }
        let mut trust = TrustStore::new();
        for e in &cfg.trusted {
            if let Err(err) = trust.insert(e.clone()) {
                p.log(format_args!(
                    "dsoftbusd: trust entry {} not loaded: {}",
                    e.device_id(),
                    err
                ));
            }
        }
        Ok(Daemon {
            net,
            p,
            cfg,
            me,
            udp,
            listener,
            cache,
            published,
            // A boot-time-derived start survives reboots of this node (docs §2).
            announce_seq: (now / 1_000_000) as u32 | 1,
            next_announce: now,
            pending: Vec::new(),
            live: Vec::new(),
            next_serial: 1,
            started_ns: now,
            known: Vec::new(),
            retry: Vec::new(),
            restarted: false,
            hot: false,
            probe_udp: true,
            probe_listener: true,
            armed: None,
            events: VecDeque::new(),
            stats: DaemonStats::default(),
            drops_logged: (0, 0, 0),
            drops_log_ns: 0,
            trust,
            desk: PinDesk::new(),
        })
    }

    /// The peer cache.
    pub fn cache(&self) -> &PeerCache {
        &self.cache
    }

    /// Counters.
    pub fn stats(&self) -> DaemonStats {
        self.stats
    }

    /// Live sessions.
    pub fn sessions(&self) -> usize {
        self.live.len()
    }

    /// Handshakes in progress (inbound, outbound).
    pub fn pending(&self) -> (usize, usize) {
        let inbound = self.pending.iter().filter(|p| p.dialled.is_none()).count();
        (inbound, self.pending.len() - inbound)
    }

    /// Every live session: peer, address, age, streams, bytes.
    pub fn session_info(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.live.iter().map(|l| SessionInfo {
            peer: String::from(l.peer()),
            addr: l.addr,
            up_ns: l.up_ns,
            initiated: l.initiated,
            streams: l.mux.streams(),
            bytes_in: l.bytes_in,
            bytes_out: l.bytes_out,
            buffered: l.tx_pending() + l.mux.buffered(),
        })
    }

    /// Device ids with a live session.
    pub fn connected(&self) -> impl Iterator<Item = &str> {
        self.live.iter().map(|l| l.peer())
    }

    /// Bytes buffered by every session (queued sealed bytes plus stream buffers).
    pub fn buffered(&self) -> usize {
        self.live
            .iter()
            .map(|l| l.tx_pending() + l.mux.buffered())
            .sum()
    }

    /// Upper bound of [`buffered`](Self::buffered) with the configured limits.
    pub fn max_buffered(&self) -> usize {
        self.cfg.limits.max_sessions * (TX_QUEUE + self.cfg.mux.max_buffered())
    }

    /// Our identity.
    pub fn identity(&self) -> &LocalIdentity {
        &self.me
    }

    /// Logs through the platform.
    pub fn log(&mut self, line: fmt::Arguments<'_>) {
        self.p.log(line);
    }

    fn event(&mut self, e: BusEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// The next event for the local side.
    pub fn next_event(&mut self) -> Option<BusEvent> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------ publishing

    /// Announces `service` (and lets remote peers open it if the remote policy allows).
    pub fn publish(&mut self, service: &str) -> Result<(), BusError> {
        if !crate::announce::valid_service_name(service) {
            return Err(BusError::BadName);
        }
        if self.published.iter().any(|s| s == service) {
            return Ok(());
        }
        if self.published.len() >= MAX_SERVICES {
            return Err(BusError::BadName);
        }
        self.published.push(String::from(service));
        self.content_changed();
        Ok(())
    }

    /// Stops announcing `service`; later opens are refused as not published.
    pub fn unpublish(&mut self, service: &str) {
        let before = self.published.len();
        self.published.retain(|s| s != service);
        if self.published.len() != before {
            self.content_changed();
        }
    }

    /// Services we announce.
    pub fn published(&self) -> &[String] {
        &self.published
    }

    fn content_changed(&mut self) {
        self.announce_seq = self.announce_seq.wrapping_add(1);
        self.next_announce = 0;
    }

    // ------------------------------------------------------------ the loop

    /// One non-blocking pass; returns the absolute time to run again by (now if a
    /// budget ran out). Reads every socket (until it would block).
    pub fn poll(&mut self) -> u64 {
        self.notified();
        self.poll_ready()
    }

    /// Every socket may be readable (netstackd's `Notify` arrived, which does not say
    /// which): the next [`poll_ready`](Self::poll_ready) reads them all. The arming it
    /// answered is spent.
    pub fn notified(&mut self) {
        self.probe_udp = true;
        self.probe_listener = true;
        for l in &mut self.live {
            l.probe = true;
        }
        self.armed = None;
    }

    /// [`poll`](Self::poll) for a loop that arms its sockets ([`arm`](Self::arm)) and
    /// calls [`on_notify`](Self::on_notify) on every `Notify`: reads only the sockets
    /// that may hold something — those not yet read to `WouldBlock` (or to a short
    /// read), and those `on_notify` or `arm`'s ready mask marked. A socket that becomes
    /// ready later is reported by netstackd (`Notify`, or `arm`'s ready mask), so a
    /// pass woken by a bus request alone makes no read probes. Handshakes are always
    /// stepped; timers, writes and everything else are as in `poll`.
    pub fn poll_ready(&mut self) -> u64 {
        let now = self.p.now_ns();
        self.hot = false;
        if self.restarted {
            self.reopen(now);
            if self.restarted {
                // No handle to wait on: retry at a bounded pace.
                return now + 50_000_000;
            }
        }
        if now >= self.next_announce {
            self.announce(now);
        }
        self.discover(now);
        self.accept_inbound(now);
        self.handshakes(now);
        self.sessions_io(now);
        self.expire_peers(now);
        self.cache.purge_expired(now);
        self.report_drops(now);
        if self.hot {
            return now;
        }
        self.wake_time(now)
    }

    /// Logs what discovery and the session listener dropped, when it changed, at most
    /// once per [`DROP_LOG_NS`]: `dsoftbusd: discovery drops=<n> (<reason>=<n> ...)
    /// accepted_new=<n> inbound_refused=<n> per_addr_refused=<n>` (totals since start;
    /// our own announces heard back are not counted). A flood costs one line per period.
    fn report_drops(&mut self, now: u64) {
        let c = self.cache.stats();
        let s = self.stats;
        // Our own announces coming back are not drops worth a line.
        let dropped = c.dropped() - c.own;
        let now_counts = (dropped, s.inbound_refused, s.per_addr_refused);
        if now_counts == self.drops_logged || now < self.drops_log_ns + DROP_LOG_NS {
            return;
        }
        self.drops_logged = now_counts;
        self.drops_log_ns = now;
        let malformed =
            c.bad_magic + c.unsupported_version + c.truncated + c.invalid_input + c.utf8;
        self.p.log(format_args!(
            "dsoftbusd: discovery drops={} (unbound={} rate_limited={} source_limit={} pinned={} \
             replay={} malformed={} key_conflict={} full={}) accepted_new={} \
             inbound_refused={} per_addr_refused={}",
            dropped,
            c.unbound,
            c.rate_limited,
            c.source_limit,
            c.pinned,
            c.replay,
            malformed,
            c.key_conflict,
            c.full,
            c.new,
            s.inbound_refused,
            s.per_addr_refused
        ));
    }

    fn wake_time(&self, now: u64) -> u64 {
        let l = &self.cfg.limits;
        let mut t = self.next_announce.min(now + l.peer_ttl_ns);
        for p in &self.pending {
            t = t.min(p.started_ns + l.handshake_ns);
        }
        for x in &self.live {
            t = t.min(x.next_ping_ns);
            if x.can_progress() {
                t = now;
            }
        }
        for (_, at, _) in &self.retry {
            if *at > now {
                t = t.min(*at);
            }
        }
        t.max(now)
    }

    /// Every socket with the readiness that lets it progress (for one `WaitAny`).
    pub fn wait_set(&self) -> WaitSet {
        let mut set = WaitSet::new();
        let _ = set.push(self.udp, Readiness::READABLE);
        let _ = set.push(self.listener, Readiness::READABLE);
        for p in &self.pending {
            let _ = set.push(p.hs.stream(), p.hs.interest());
        }
        for l in &self.live {
            let mut want = Readiness::READABLE;
            if l.tx_pending() > 0 {
                want |= Readiness::WRITABLE;
            }
            let _ = set.push(l.conn.stream(), want);
        }
        set
    }

    /// Sleeps in one facade `WaitAny` on [`wait_set`](Self::wait_set) until something is
    /// ready or `until` passes.
    pub fn wait(&mut self, until: u64) {
        if self.restarted {
            return;
        }
        let set = self.wait_set();
        if let Err(NetError::ServerRestarted) = self.net.wait_any(&set, until) {
            self.net_restarted();
        }
    }

    /// The non-blocking form of [`wait`](Self::wait), for a loop that sleeps on its
    /// own endpoint: arms [`wait_set`](Self::wait_set) with facade `WaitArm`, after
    /// which netstackd posts one `Notify` on that endpoint when an entry becomes
    /// ready. `Ok(true)`: sleep now (armed; or no socket to watch after a facade
    /// restart) until the next event or the deadline [`poll`](Self::poll) gave;
    /// `Ok(false)`: something is ready, poll again at once; `Err(_)`: no notify
    /// route (e.g. `Unsupported`), use [`wait`](Self::wait).
    ///
    /// A set netstackd already holds armed (no `Notify` since, see
    /// [`notified`](Self::notified)) is not armed again. A ready mask marks the
    /// ready sockets for the next [`poll_ready`](Self::poll_ready).
    pub fn arm(&mut self) -> Result<bool, NetError> {
        if self.restarted {
            return Ok(true);
        }
        let set = self.wait_set();
        if self.armed == Some(set) {
            return Ok(true);
        }
        self.armed = None;
        match self.net.wait_arm(&set) {
            Ok(0) => {
                self.armed = Some(set);
                Ok(true)
            }
            Ok(mask) => {
                self.mark_ready(mask);
                Ok(false)
            }
            Err(NetError::ServerRestarted) => {
                self.net_restarted();
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// netstackd's `Notify` arrived (the arming is spent); it does not say which socket
    /// is ready. With one session at most, that session is read next pass (a read costs
    /// one facade call, as asking would, and a record is the usual cause); a discovery
    /// datagram or a connection on the listener is then reported by the arming that
    /// ends the pass (its ready mask). With more sessions, one `WaitArm` asks which
    /// sockets are ready (and arms again if none is). On an error, every socket is read
    /// next pass.
    pub fn on_notify(&mut self) {
        self.armed = None;
        if self.live.len() <= 1 {
            for l in &mut self.live {
                l.probe = true;
            }
            return;
        }
        if self.arm().is_err() {
            self.notified();
        }
    }

    /// Marks the sockets of a ready mask of [`wait_set`](Self::wait_set)'s layout
    /// (discovery, listener, the handshakes, the sessions) to be read.
    fn mark_ready(&mut self, mask: u16) {
        let bit = |i: usize| i < 16 && mask & (1 << i) != 0;
        self.probe_udp |= bit(0);
        self.probe_listener |= bit(1);
        let first = 2 + self.pending.len();
        for (k, l) in self.live.iter_mut().enumerate() {
            l.probe |= bit(first + k);
        }
    }

    fn net_restarted(&mut self) {
        self.armed = None;
        if !self.restarted {
            self.stats.net_restarts += 1;
        }
        self.restarted = true;
    }

    fn announce(&mut self, now: u64) {
        let names: Vec<&str> = self.published.iter().map(|s| s.as_str()).collect();
        self.next_announce = now + self.cfg.limits.announce_ns;
        let Ok(a) = self
            .me
            .announce(self.announce_seq, self.cfg.session_port, &names)
        else {
            return;
        };
        let iface = match self.net.local_addr() {
            Ok(i) => i,
            Err(NetError::ServerRestarted) => return self.net_restarted(),
            Err(_) => return,
        };
        let bcast = iface.broadcast();
        let mut ports = [self.cfg.discovery_port, 0, 0];
        ports[1..].copy_from_slice(&self.cfg.extra_announce_ports);
        for port in ports.into_iter().filter(|&p| p != 0) {
            let _ = send_announce(&mut self.net, self.udp, SocketAddrV4::new(bcast, port), &a);
        }
    }

    fn discover(&mut self, now: u64) {
        let before: Vec<(String, Vec<String>)> = self
            .cache
            .live(now)
            .map(|e| (String::from(e.device_id()), e.services().to_vec()))
            .collect();
        // Peers with a session are pinned to their authenticated address: no announce can
        // evict them or move them elsewhere (see the cache rules).
        self.cache
            .set_pins(self.live.iter().map(|l| (l.peer(), l.addr)));
        if self.probe_udp {
            match drain_announces(&mut self.net, self.udp, &mut self.cache, now) {
                Ok(s) => {
                    // Fewer than the most per pass: it ended on `WouldBlock`.
                    self.probe_udp = s.received >= MAX_DRAIN;
                    if s.received > 0 {
                        self.hot = true;
                    }
                }
                Err(NetError::ServerRestarted) => return self.net_restarted(),
                Err(_) => return,
            }
        }
        let ids: Vec<String> = self
            .cache
            .live(now)
            .map(|e| String::from(e.device_id()))
            .collect();
        for (id, services) in &before {
            let changed = self
                .cache
                .get(id, now)
                .is_some_and(|e| e.services() != services.as_slice());
            if changed && self.live.iter().any(|l| l.peer() == id) {
                self.event(BusEvent::PeerServicesChanged(id.clone()));
            }
        }
        for id in &ids {
            if !before.iter().any(|(b, _)| b == id) {
                self.p
                    .log(format_args!("dsoftbusd: peer discovered id={}", id));
                // The smaller device id dials first; we follow only if it does not.
                if id.as_str() < self.me.device_id() && self.redial_state(id).is_none() {
                    if self.retry.len() >= 16 {
                        self.retry.remove(0);
                    }
                    self.retry
                        .push((id.clone(), now + self.cfg.limits.defer_ns, 0));
                }
            }
        }
        for id in ids {
            let due = self
                .retry
                .iter()
                .find(|(r, _, _)| *r == id)
                .is_none_or(|(_, t, _)| now >= *t);
            if due && !self.has_session_or_dial(&id) {
                self.dial(&id, now);
            }
        }
    }

    fn has_session_or_dial(&self, id: &str) -> bool {
        self.pending
            .iter()
            .any(|p| p.dialled.as_deref() == Some(id))
            || self.live.iter().any(|l| l.peer() == id)
    }

    fn back_off(&mut self, id: &str, now: u64) {
        let l = self.cfg.limits;
        let fails = self
            .retry
            .iter()
            .find(|(r, _, _)| r == id)
            .map_or(0, |(_, _, n)| *n);
        self.retry.retain(|(r, _, _)| r != id);
        if self.retry.len() >= 16 {
            self.retry.remove(0);
        }
        let delay = l
            .redial_ns
            .saturating_mul(1 << fails.min(16))
            .min(l.redial_max_ns);
        self.retry
            .push((String::from(id), now + delay, fails.saturating_add(1)));
    }

    /// Current redial delay state for a peer: (next dial time, failures so far).
    pub fn redial_state(&self, id: &str) -> Option<(u64, u32)> {
        self.retry
            .iter()
            .find(|(r, _, _)| r == id)
            .map(|(_, t, n)| (*t, *n))
    }

    fn dial(&mut self, id: &str, now: u64) {
        // Inbound handshakes never hold more than `max_inbound_pending` slots, so
        // at least `max_pending - max_inbound_pending` are always left for dials.
        if self.pending.len() >= self.cfg.limits.max_pending
            || self.live.len() >= self.cfg.limits.max_sessions
        {
            return;
        }
        let Some(entry) = self.cache.get(id, now).cloned() else {
            return;
        };
        if self.live.iter().filter(|l| l.addr == entry.addr()).count()
            >= self.cfg.limits.max_sessions_per_addr
        {
            return;
        }
        let Some(eph) = self.p.ephemeral_keypair() else {
            self.p
                .log(format_args!("dsoftbusd: no entropy; not dialling {}", id));
            return;
        };
        let deadline = now + self.cfg.limits.handshake_ns;
        match PendingSession::connect(&mut self.net, &entry, &self.me, eph, deadline) {
            Ok(hs) => self.pending.push(Pending {
                hs,
                dialled: Some(String::from(id)),
                from: entry.addr(),
                started_ns: now,
                busy_ns: self.p.now_ns().saturating_sub(now),
            }),
            Err(AuthError::Net(NetError::ServerRestarted)) => self.net_restarted(),
            Err(e) => {
                self.back_off(id, now);
                self.p
                    .log(format_args!("dsoftbusd: dial {} failed: {:?}", id, e))
            }
        }
    }

    fn accept_inbound(&mut self, now: u64) {
        while self.probe_listener {
            let (stream, from) = match self.net.tcp_accept(self.listener) {
                Ok(x) => x,
                Err(NetError::ServerRestarted) => return self.net_restarted(),
                Err(_) => {
                    self.probe_listener = false;
                    return;
                }
            };
            let inbound = self.pending.iter().filter(|p| p.dialled.is_none()).count();
            let same = self
                .pending
                .iter()
                .filter(|p| p.dialled.is_none() && p.from == *from.ip())
                .count();
            if inbound >= self.cfg.limits.max_inbound_pending
                || self.pending.len() >= self.cfg.limits.max_pending
                || same >= 2
            {
                // Unknown peers never hold more than their share of the slots.
                self.stats.inbound_refused += 1;
                let _ = self.net.close(stream);
                continue;
            }
            let Some(eph) = self.p.ephemeral_keypair() else {
                let _ = self.net.close(stream);
                return;
            };
            self.pending.push(Pending {
                hs: PendingSession::accepted(
                    stream,
                    &self.me,
                    eph,
                    now + self.cfg.limits.handshake_ns,
                ),
                dialled: None,
                from: *from.ip(),
                started_ns: now,
                busy_ns: self.p.now_ns().saturating_sub(now),
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
            let t0 = self.p.now_ns();
            let r = self.pending[i].hs.step(&mut self.net, now, &dir);
            let t1 = self.p.now_ns();
            self.pending[i].busy_ns += t1.saturating_sub(t0);
            let claimed = dir.asked.borrow().clone();
            match r {
                Ok(None) => i += 1,
                Ok(Some(conn)) => {
                    let p = self.pending.swap_remove(i);
                    let peer = String::from(conn.peer_device_id());
                    self.retry.retain(|(r, _, _)| *r != peer);
                    self.established(conn, p, t1);
                }
                Err(e) => {
                    let p = self.pending.swap_remove(i);
                    self.stats.handshakes_failed += 1;
                    if let AuthError::Net(NetError::ServerRestarted) = e {
                        self.net_restarted();
                        continue;
                    }
                    if let Some(id) = &p.dialled {
                        self.back_off(id, now);
                    }
                    let who = p.dialled.unwrap_or(claimed);
                    let who = Escaped(&who);
                    match e {
                        AuthError::Identity(IdentityError::UnboundId) => self.p.log(format_args!(
                            "dsoftbusd: identity refused claimed={} (id not derived from its key; no session)",
                            who
                        )),
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

    fn established(&mut self, mut conn: Connection, p: Pending, now: u64) {
        conn.session_mut().rx.grow_to(RX_BUF);
        let id = String::from(conn.peer_device_id());
        let initiated = p.dialled.is_some();
        let role = if initiated { "out" } else { "in" };
        self.p
            .log(format_args!("dsoftbusd: identity bound peer={}", id));
        // Whether the trust store holds the peer now (it decides what the peer may
        // open here; the session itself does not depend on it).
        let trusted = if self.trust.get(&id).is_some() {
            "yes"
        } else {
            "no"
        };
        self.p.log(format_args!(
            "dsoftbusd: auth ok peer={} trusted={}",
            id, trusted
        ));
        let heap = self.p.heap_used();
        self.p.log(format_args!(
            "dsoftbusd: os session ok peer={} dir={} handshake_us={} heap={} busy_us={}",
            id,
            role,
            now.saturating_sub(p.started_ns) / 1000,
            heap,
            p.busy_ns / 1000
        ));
        // One session per pair. Two opposite sessions that came up within
        // `defer_ns` of each other are crossing dials: the one initiated by the smaller
        // device id wins, on both sides alike. Otherwise the newer one wins: a peer
        // dials while we hold a session only when it lost that session (e.g. it
        // restarted), so the older one is stale.
        if let Some(j) = self.live.iter().position(|l| l.peer() == id) {
            let crossing = self.live[j].initiated != initiated
                && now.saturating_sub(self.live[j].up_ns) < self.cfg.limits.defer_ns;
            let new_wins = !crossing || (self.me.device_id() < id.as_str()) == initiated;
            self.stats.duplicates_closed += 1;
            if !new_wins {
                self.p.log(format_args!(
                    "dsoftbusd: session closed peer={} (duplicate)",
                    id
                ));
                let _ = self.net.close(conn.stream());
                return;
            }
            self.drop_session(j, "duplicate");
        }
        if self.live.len() >= self.cfg.limits.max_sessions {
            let _ = self.net.close(conn.stream());
            return;
        }
        if self.live.iter().filter(|l| l.addr == p.from).count()
            >= self.cfg.limits.max_sessions_per_addr
        {
            self.stats.per_addr_refused += 1;
            self.p.log(format_args!(
                "dsoftbusd: session closed peer={} (per-address limit)",
                id
            ));
            let _ = self.net.close(conn.stream());
            return;
        }
        if self.known.contains(&id) {
            self.p.log(format_args!(
                "dsoftbusd: peer reconnected id={} dir={}",
                id, role
            ));
        }
        self.stats.sessions_up += 1;
        let serial = self.next_serial;
        self.next_serial += 1;
        self.live.push(Live {
            serial,
            addr: p.from,
            up_ns: now,
            initiated,
            conn,
            mux: Mux::new(self.cfg.mux, initiated),
            last_rx_ns: now,
            next_ping_ns: now + self.cfg.limits.keepalive_ns,
            pong_due: None,
            ping_due: false,
            txq: Vec::new(),
            tx_off: 0,
            builtin: Vec::new(),
            pair: None,
            bytes_in: 0,
            bytes_out: 0,
            probe: true,
        });
        self.event(BusEvent::PeerOnline(id));
    }

    /// Closes session `i` and tells the local side about every stream it carried.
    fn drop_session(&mut self, i: usize, why: &str) {
        let mut l = self.live.swap_remove(i);
        self.stats.sessions_down += 1;
        self.p.log(format_args!(
            "dsoftbusd: session closed peer={} ({})",
            l.peer(),
            why
        ));
        let _ = self.net.close(l.conn.stream());
        let pair_id = l.pair.as_ref().map(|p| p.id);
        if let Some(ps) = l.pair.take() {
            let peer = String::from(l.peer());
            self.pair_ended(&peer, ps.role, Err(PairError::Gone));
        }
        for id in l.mux.ids() {
            if !l.builtin.contains(&id) && Some(id) != pair_id {
                self.event(BusEvent::PeerGone(StreamRef {
                    session: l.serial,
                    id,
                }));
            }
        }
        if !self.live.iter().any(|x| x.peer() == l.peer()) {
            self.event(BusEvent::PeerOffline(String::from(l.peer())));
            let id = String::from(l.peer());
            if !self.known.contains(&id) && why != "duplicate" {
                if self.known.len() >= 64 {
                    self.known.remove(0);
                }
                self.known.push(id);
            }
        }
    }

    fn sessions_io(&mut self, now: u64) {
        let mut i = 0;
        while i < self.live.len() {
            match self.one_session(i, now) {
                Ok(()) => i += 1,
                Err(End::Session(SessionError::Net(NetError::ServerRestarted))) => {
                    self.net_restarted();
                    return;
                }
                Err(End::Silent) if self.cache.get(self.live[i].peer(), now).is_none() => {
                    // Silent and no longer announcing: the node went away.
                    let id = String::from(self.live[i].peer());
                    self.p.log(format_args!(
                        "dsoftbusd: peer expired id={}; session closed",
                        id
                    ));
                    self.drop_session(i, "expired");
                }
                Err(e) => {
                    let why = match e {
                        End::Session(SessionError::Closed) => String::from("peer closed"),
                        End::Session(e) => alloc::format!("{:?}", e),
                        End::Mux(e) => alloc::format!("stream protocol: {}", e),
                        End::Silent => String::from("silent"),
                    };
                    self.drop_session(i, &why);
                }
            }
        }
    }

    fn one_session(&mut self, i: usize, now: u64) -> Result<(), End> {
        let limits = self.cfg.limits;
        {
            let l = &mut self.live[i];
            if now >= l.next_ping_ns {
                if now.saturating_sub(l.last_rx_ns) > limits.silence_ns {
                    return Err(End::Silent);
                }
                l.ping_due = true;
                l.next_ping_ns = now + limits.keepalive_ns;
            }
        }
        // Read: records are served as they arrive, up to the budget.
        let mut read = 0;
        loop {
            let l = &mut self.live[i];
            if l.conn.session().record_ready() {
                let t0 = self.p.ticks();
                let rec = l.conn.session_mut().open().map_err(End::Session)?;
                self.stats.open_ticks += self.p.ticks().wrapping_sub(t0);
                if let Some(r) = &rec {
                    self.stats.records_opened += 1;
                    if let Record::Data(d) = r {
                        self.stats.bytes_opened += d.len() as u64;
                    }
                }
                match rec {
                    None => continue,
                    Some(Record::Ping(x)) => l.pong_due = Some(x),
                    Some(Record::Pong(_)) => {}
                    Some(Record::Close) => return Err(End::Session(SessionError::Closed)),
                    Some(Record::Data(d)) => {
                        let ev = l.mux.receive(d).map_err(End::Mux)?;
                        let ev = ev.map(|e| OwnedEvent::from(&e));
                        if let Some(e) = ev {
                            self.stream_event(i, e, now);
                        }
                    }
                }
                continue;
            }
            if !l.probe {
                break;
            }
            if read >= READ_BUDGET {
                self.stats.budget_hits += 1;
                self.hot = true;
                break;
            }
            let stream = l.conn.stream();
            let space = l.conn.session_mut().rx_space();
            let want = space.len().min(nexus_net::MAX_IO);
            let space = &mut space[..want];
            match self.net.tcp_read(stream, space) {
                Ok(0) => return Err(End::Session(SessionError::Closed)),
                Ok(n) => {
                    read += n;
                    l.bytes_in += n as u64;
                    l.last_rx_ns = now;
                    l.conn.session_mut().rx_commit(n);
                    // Less than asked for: the socket had no more (what arrives
                    // later is reported by `arm`, a `Notify`, or read by the next
                    // plain `poll`): no probe that would answer `WouldBlock`.
                    if n < want {
                        l.probe = false;
                    }
                }
                Err(NetError::WouldBlock) => {
                    l.probe = false;
                    break;
                }
                Err(e) => return Err(End::Session(SessionError::Net(e))),
            }
        }
        self.serve_builtin(i, now);
        // A few pairing messages per pass (an exchange has at most three per side).
        for _ in 0..4 {
            if !self.serve_pairing(i, now) {
                break;
            }
        }
        // Write: fill the queue (pongs, pings, then stream frames by the mux's
        // schedule) and write it, until the socket is full or the budget is used.
        let mut written = 0;
        loop {
            let l = &mut self.live[i];
            while l.tx_pending() + MAX_WIRE_FRAME <= TX_QUEUE {
                if l.tx_off > 0 {
                    l.txq.drain(..l.tx_off);
                    l.tx_off = 0;
                }
                // The record is sealed where it will be written from: a stream frame
                // is put by the mux right where the record's payload goes and
                // encrypted in place.
                let start = l.txq.len();
                l.txq.resize(start + MAX_WIRE_FRAME, 0);
                let out = &mut l.txq[start..];
                let t0 = self.p.ticks();
                let sealed = if let Some(x) = l.pong_due.take() {
                    l.conn.session_mut().seal(&Record::Pong(x), out)
                } else if l.ping_due {
                    l.ping_due = false;
                    l.conn.session_mut().seal(&Record::Ping(now), out)
                } else if let Some(m) = l
                    .mux
                    .poll_transmit(&mut out[DATA_AT..DATA_AT + MAX_RECORD_PAYLOAD])
                {
                    l.conn.session_mut().seal_data_in_place(out, m)
                } else {
                    l.txq.truncate(start);
                    break;
                };
                let n = match sealed {
                    Ok(n) => n,
                    Err(e) => {
                        l.txq.truncate(start);
                        return Err(End::Session(e));
                    }
                };
                l.txq.truncate(start + n);
                self.stats.seal_ticks += self.p.ticks().wrapping_sub(t0);
                self.stats.records_sealed += 1;
                self.stats.bytes_sealed += n as u64;
            }
            if l.tx_pending() == 0 {
                return Ok(());
            }
            if written >= WRITE_BUDGET {
                self.stats.budget_hits += 1;
                self.hot = true;
                return Ok(());
            }
            let stream = l.conn.stream();
            let chunk = &l.txq[l.tx_off..];
            let chunk = &chunk[..chunk.len().min(nexus_net::MAX_IO)];
            let chunk_len = chunk.len();
            match self.net.tcp_write(stream, chunk) {
                Ok(n) => {
                    written += n;
                    l.bytes_out += n as u64;
                    l.tx_off += n;
                    if l.tx_off == l.txq.len() {
                        l.txq.clear();
                        l.tx_off = 0;
                    }
                    // Less than offered: the socket's send buffer is full, so another
                    // write would only answer `WouldBlock`. The rest waits for the
                    // socket to be writable (`wait_set` asks for it while bytes are
                    // queued).
                    if n < chunk_len {
                        return Ok(());
                    }
                }
                Err(NetError::WouldBlock) => return Ok(()),
                Err(e) => return Err(End::Session(SessionError::Net(e))),
            }
        }
    }

    fn stream_event(&mut self, i: usize, e: OwnedEvent, _now: u64) {
        let serial = self.live[i].serial;
        let r = |id| StreamRef {
            session: serial,
            id,
        };
        let ev = match e {
            OwnedEvent::Incoming {
                id,
                service,
                mode,
                prio,
            } => {
                if service == PAIRING {
                    return self.incoming_pairing(i, id, mode);
                }
                let key = *self.live[i].conn.session().remote_static();
                let trusted = self.trust.trusts(self.live[i].peer(), &key);
                let allowed = self.trust.may_open(self.live[i].peer(), &key, &service);
                let published = self.published.contains(&service);
                let l = &mut self.live[i];
                let refuse = if !published {
                    Some(RefuseReason::NotPublished)
                } else if !allowed {
                    Some(RefuseReason::Denied)
                } else if service == NODEINFO && mode != Mode::Message {
                    Some(RefuseReason::BadMode)
                } else {
                    None
                };
                if let Some(reason) = refuse {
                    let _ = l.mux.refuse(id, reason);
                    let peer = String::from(l.peer());
                    if published && !trusted {
                        self.p.log(format_args!(
                            "dsoftbusd: untrusted peer={} refused svc={} (pair first)",
                            peer,
                            Escaped(&service)
                        ));
                    } else {
                        self.p.log(format_args!(
                            "dsoftbusd: remote proxy denied svc={} peer={} ({:?})",
                            Escaped(&service),
                            peer,
                            reason
                        ));
                    }
                    return;
                }
                if service == NODEINFO {
                    let _ = l.mux.accept(id);
                    l.builtin.push(id);
                    return;
                }
                BusEvent::Incoming {
                    stream: r(id),
                    peer: String::from(l.peer()),
                    service,
                    mode,
                    prio,
                }
            }
            OwnedEvent::Refused(id, why) => BusEvent::Refused(r(id), why),
            OwnedEvent::Accepted(id) => BusEvent::Accepted(r(id)),
            OwnedEvent::Readable(id) => BusEvent::Readable(r(id)),
            OwnedEvent::Writable(id) => BusEvent::Writable(r(id)),
            OwnedEvent::Finished(id) => BusEvent::Finished(r(id)),
            OwnedEvent::Reset(id, why) => BusEvent::Reset(r(id), why),
        };
        if let Some(ps) = self.live[i].pair.as_mut() {
            match &ev {
                BusEvent::Accepted(s) if s.id == ps.id => {
                    if let PairRole::Init { first, .. } = &mut ps.role {
                        if let Some(m) = first.take() {
                            let _ = self.live[i].mux.send(s.id, &m);
                        }
                    }
                    return;
                }
                BusEvent::Refused(s, why) if s.id == ps.id => {
                    // The responder runs one exchange at a time: busy is a rate limit.
                    ps.busy = *why == RefuseReason::TooManyStreams;
                    ps.gone = true;
                    return;
                }
                BusEvent::Reset(s, _) | BusEvent::Finished(s) if s.id == ps.id => {
                    ps.gone = true;
                    return;
                }
                BusEvent::Readable(s) | BusEvent::Writable(s) if s.id == ps.id => return,
                _ => {}
            }
        }
        if let BusEvent::Readable(s)
        | BusEvent::Writable(s)
        | BusEvent::Finished(s)
        | BusEvent::Reset(s, _) = &ev
        {
            if self.live[i].builtin.contains(&s.id) {
                if matches!(ev, BusEvent::Reset(..)) {
                    self.live[i].builtin.retain(|x| *x != s.id);
                }
                return;
            }
        }
        self.event(ev);
    }

    /// Answers `nodeinfo` requests: one message in, one message out, close.
    fn serve_builtin(&mut self, i: usize, now: u64) {
        let mut k = 0;
        while k < self.live[i].builtin.len() {
            let id = self.live[i].builtin[k];
            let mut req = [0u8; 64];
            match self.live[i].mux.recv(id, &mut req) {
                Ok(0) | Err(StreamError::Unknown) => {
                    self.live[i].builtin.swap_remove(k);
                    continue;
                }
                Ok(_) => {
                    let text = self.nodeinfo_text(now);
                    let l = &mut self.live[i];
                    let _ = l.mux.send(id, text.as_bytes());
                    let _ = l.mux.close(id);
                    let peer = String::from(l.peer());
                    self.p.log(format_args!(
                        "dsoftbusd: remote proxy served svc={} peer={}",
                        NODEINFO, peer
                    ));
                }
                Err(StreamError::BufferTooSmall) => {
                    let _ = self.live[i].mux.reset(id, ResetReason::Protocol);
                    self.live[i].builtin.swap_remove(k);
                    continue;
                }
                Err(_) => {}
            }
            k += 1;
        }
    }

    fn nodeinfo_text(&mut self, now: u64) -> String {
        let addr = self
            .net
            .local_addr()
            .map(|i| i.addr)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        alloc::format!(
            "id={} addr={} uptime_ms={} heap={} sessions={}",
            self.me.device_id(),
            addr,
            now.saturating_sub(self.started_ns) / 1_000_000,
            self.p.heap_used(),
            self.live.len()
        )
    }

    /// Closes sessions whose peer stopped announcing and that carried nothing for
    /// `silence_ns` (a node that went away sends no FIN).
    fn expire_peers(&mut self, now: u64) {
        let mut i = 0;
        while i < self.live.len() {
            let silent = now.saturating_sub(self.live[i].last_rx_ns) > self.cfg.limits.silence_ns;
            if self.cache.get(self.live[i].peer(), now).is_some() || !silent {
                i += 1;
                continue;
            }
            let id = String::from(self.live[i].peer());
            self.p.log(format_args!(
                "dsoftbusd: peer expired id={}; session closed",
                id
            ));
            self.drop_session(i, "expired");
        }
    }

    /// netstackd restarted: every handle of ours is gone with it. Forget sessions and
    /// handshakes, start a new facade session and bind again; peers are rediscovered.
    fn reopen(&mut self, now: u64) {
        while !self.live.is_empty() {
            self.drop_session(0, "netstack restarted");
        }
        if !self.pending.is_empty() {
            self.pending.clear();
        }
        self.net.reset_session();
        let Ok(info) = self.net.local_addr() else {
            return;
        };
        if info.addr.is_unspecified() {
            return;
        }
        let Ok((udp, _)) = self.net.udp_bind(self.cfg.discovery_port) else {
            return;
        };
        let Ok((listener, _)) = self.net.tcp_listen(self.cfg.session_port, 8) else {
            let _ = self.net.close(udp);
            return;
        };
        self.udp = udp;
        self.listener = listener;
        self.restarted = false;
        self.notified();
        self.next_announce = now;
        self.retry.clear();
        self.p.log(format_args!(
            "dsoftbusd: sockets re-opened after netstack restart"
        ));
    }

    // ------------------------------------------------------------ trust and pairing

    /// The trust store.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// Shows a fresh PIN (uniform 0..=999999 from the platform's entropy) for `valid_ns`
    /// (at most 300 s), replacing any PIN shown before; `None` without entropy.
    pub fn show_pin(&mut self, valid_ns: u64) -> Option<u32> {
        let mut words: Vec<u32> = Vec::new();
        let mut tries = 0;
        let pin = draw_pin(|| {
            if words.is_empty() {
                tries += 1;
                if tries > 4 {
                    return None;
                }
                let b = self.p.ephemeral()?;
                words.extend(
                    b.chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            }
            words.pop()
        })?;
        let now = self.p.now_ns();
        self.desk.show(pin, now, valid_ns).ok()?;
        self.p.log(format_args!(
            "dsoftbusd: pairing open for {} ms",
            valid_ns.min(crate::pairing::MAX_PIN_VALID_NS) / 1_000_000
        ));
        Some(pin)
    }

    /// Withdraws the shown PIN.
    pub fn withdraw_pin(&mut self) {
        self.desk.withdraw();
    }

    /// True while a PIN is shown (valid, attempts left).
    pub fn showing_pin(&mut self) -> bool {
        let now = self.p.now_ns();
        self.desk.showing(now)
    }

    /// Starts pairing with `peer` (a live session) using the PIN it shows; the outcome
    /// arrives as [`BusEvent::PairDone`]. `WrongState` if a pairing already runs on that
    /// session, `BadMessage` for a PIN above 999999.
    pub fn pair(&mut self, peer: &str, pin: u32) -> Result<(), BusError> {
        let now = self.p.now_ns();
        if pin > crate::pairing::MAX_PIN {
            return Err(BusError::BadMessage);
        }
        let Some(i) = self.live.iter().position(|l| l.peer() == peer) else {
            return Err(if self.cache.get(peer, now).is_some() {
                BusError::NotConnected
            } else {
                BusError::UnknownPeer
            });
        };
        if self.live[i].pair.is_some() {
            return Err(BusError::WrongState);
        }
        let Some(seed) = self.p.ephemeral() else {
            return Err(BusError::WouldBlock);
        };
        let binding = Binding {
            initiator_key: self.me.public_key(),
            responder_key: *self.live[i].conn.session().remote_static(),
            session_hash: *self.live[i].conn.session().handshake_hash(),
        };
        let (machine, first) =
            PairInitiator::start(pin, binding, seed).map_err(|_| BusError::BadMessage)?;
        let id = self.live[i]
            .mux
            .open(PAIRING, Mode::Message, Priority::Interactive)?;
        self.live[i].pair = Some(PairStream {
            id,
            role: PairRole::Init {
                machine: alloc::boxed::Box::new(machine),
                first: Some(first),
            },
            gone: false,
            busy: false,
            deadline_ns: now + 2 * EXCHANGE_NS,
        });
        self.p
            .log(format_args!("dsoftbusd: pairing with peer={}", peer));
        Ok(())
    }

    /// Adds or replaces a trust entry (provisioning); reported as
    /// [`BusEvent::TrustChanged`].
    pub fn provision(&mut self, e: TrustEntry) -> Result<(), TrustError> {
        let id = String::from(e.device_id());
        self.trust.insert(e)?;
        self.event(BusEvent::TrustChanged(id));
        Ok(())
    }

    /// Replaces the services a trusted device may open; reported as
    /// [`BusEvent::TrustChanged`]. Streams it already opened stay open.
    pub fn grant<S: AsRef<str>>(&mut self, peer: &str, services: &[S]) -> Result<(), TrustError> {
        self.trust.grant(peer, services)?;
        self.event(BusEvent::TrustChanged(String::from(peer)));
        Ok(())
    }

    /// Removes `peer` from the trust store and closes its sessions (their streams end
    /// with [`BusEvent::PeerGone`]); a new session with it may only pair. False if it
    /// was not trusted (its sessions are left alone then).
    pub fn untrust(&mut self, peer: &str) -> bool {
        if self.trust.remove(peer).is_none() {
            return false;
        }
        self.p.log(format_args!(
            "dsoftbusd: trust removed peer={}",
            Escaped(peer)
        ));
        while let Some(i) = self.live.iter().position(|l| l.peer() == peer) {
            self.drop_session(i, "untrusted");
        }
        self.event(BusEvent::TrustChanged(String::from(peer)));
        true
    }

    fn incoming_pairing(&mut self, i: usize, id: StreamId, mode: Mode) {
        let now = self.p.now_ns();
        // The previous exchange may have its last message (e.g. the initiator's
        // verdict) still unread in this same pass, read before this OPEN: finish it
        // first, so a retry right after a failure meets the rate limit, not a
        // "one exchange at a time" refusal.
        for _ in 0..4 {
            if self.live[i].pair.is_none() || !self.serve_pairing(i, now) {
                break;
            }
        }
        let l = &mut self.live[i];
        if mode != Mode::Message {
            let _ = l.mux.refuse(id, RefuseReason::BadMode);
            return;
        }
        if l.pair.is_some() {
            let _ = l.mux.refuse(id, RefuseReason::TooManyStreams);
            return;
        }
        let _ = l.mux.accept(id);
        l.pair = Some(PairStream {
            id,
            role: PairRole::Resp(None),
            gone: false,
            busy: false,
            deadline_ns: now + EXCHANGE_NS,
        });
    }

    /// Drives session `i`'s pairing stream: reads the next message and answers it;
    /// false if there was nothing to do.
    fn serve_pairing(&mut self, i: usize, now: u64) -> bool {
        let Some(ps) = self.live[i].pair.as_ref() else {
            return false;
        };
        let id = ps.id;
        let mut msg = [0u8; 128];
        let got = match self.live[i].mux.recv(id, &mut msg) {
            Ok(0) => Err(PairError::Gone),
            Ok(n) => Ok(n),
            Err(StreamError::WouldBlock) => {
                let ps = self.live[i].pair.as_ref();
                if ps.is_some_and(|p| p.gone || now >= p.deadline_ns) {
                    Err(PairError::Gone)
                } else {
                    return false;
                }
            }
            Err(StreamError::BufferTooSmall) => Err(PairError::Protocol),
            Err(_) => Err(PairError::Gone),
        };
        let got = match got {
            Err(PairError::Gone) if self.live[i].pair.as_ref().is_some_and(|p| p.busy) => {
                Err(PairError::RateLimited)
            }
            g => g,
        };
        let peer = String::from(self.live[i].peer());
        let key = *self.live[i].conn.session().remote_static();
        let hh = *self.live[i].conn.session().handshake_hash();
        let Some(mut ps) = self.live[i].pair.take() else {
            return false;
        };
        let n = match got {
            Ok(n) => n,
            Err(e) => {
                let _ = self.live[i].mux.reset(id, ResetReason::Cancelled);
                self.pair_ended(&peer, ps.role, Err(e));
                return true;
            }
        };
        let m = &msg[..n];
        match ps.role {
            PairRole::Resp(None) => {
                let binding = Binding {
                    initiator_key: key,
                    responder_key: self.me.public_key(),
                    session_hash: hh,
                };
                let seed = self.p.ephemeral().unwrap_or([0; KEY_LEN]);
                match self.desk.begin(&peer, m, binding, seed, now) {
                    Ok((ex, reply)) => {
                        let _ = self.live[i].mux.send(id, &reply);
                        ps.deadline_ns = ex.deadline_ns();
                        ps.role = PairRole::Resp(Some(ex));
                        self.live[i].pair = Some(ps);
                    }
                    Err(v) => {
                        self.p.log(format_args!(
                            "dsoftbusd: pairing refused peer={} ({:?})",
                            peer, v
                        ));
                        let _ = self.live[i].mux.send(id, &v.message());
                        let _ = self.live[i].mux.close(id);
                    }
                }
            }
            PairRole::Resp(Some(ex)) => {
                let v = self.desk.finish(ex, m, now);
                let _ = self.live[i].mux.send(id, &v.message());
                let _ = self.live[i].mux.close(id);
                if v == Verdict::Ok {
                    self.trust_paired(&peer, key, now);
                } else {
                    self.p.log(format_args!(
                        "dsoftbusd: pairing failed peer={} ({:?})",
                        peer, v
                    ));
                }
            }
            PairRole::Init { mut machine, first } => match machine.on_message(m) {
                Ok(InitStep::Send(reply)) => {
                    let _ = self.live[i].mux.send(id, &reply);
                    ps.role = PairRole::Init { machine, first };
                    self.live[i].pair = Some(ps);
                }
                Ok(InitStep::Paired) => {
                    let _ = self.live[i].mux.close(id);
                    self.trust_paired(&peer, key, now);
                    self.event(BusEvent::PairDone {
                        peer,
                        result: Ok(()),
                    });
                }
                Err(e) => {
                    if matches!(e, PairError::WrongPin | PairError::Protocol) {
                        let v = if e == PairError::WrongPin {
                            Verdict::WrongPin
                        } else {
                            Verdict::Protocol
                        };
                        let _ = self.live[i].mux.send(id, &v.message());
                    }
                    let _ = self.live[i].mux.close(id);
                    self.pair_ended(&peer, PairRole::Init { machine, first }, Err(e));
                }
            },
        }
        true
    }

    /// A pairing exchange ended without success.
    fn pair_ended(&mut self, peer: &str, role: PairRole, result: Result<(), PairError>) {
        match role {
            PairRole::Resp(Some(ex)) => {
                self.desk.abandon(ex);
                self.p
                    .log(format_args!("dsoftbusd: pairing abandoned peer={}", peer));
            }
            PairRole::Resp(None) => {}
            PairRole::Init { .. } => {
                self.p.log(format_args!(
                    "dsoftbusd: pairing with peer={} failed: {}",
                    peer,
                    result.err().unwrap_or(PairError::Gone)
                ));
                self.event(BusEvent::PairDone {
                    peer: String::from(peer),
                    result,
                });
            }
        }
    }

    /// Trusts a device that just proved the PIN (its key is the session's).
    fn trust_paired(&mut self, peer: &str, key: [u8; KEY_LEN], now: u64) {
        // Re-pairing keeps the grants the device already had.
        let services: Vec<String> = match self.trust.get(peer) {
            Some(e) => e.services().to_vec(),
            None => self.cfg.pair_grant.clone(),
        };
        // The name it announces at pairing time (a claim, kept for people to
        // read; the id is what the entry is checked by), else its id.
        let name = self
            .cache
            .get(peer, now)
            .map(|e| String::from(e.display_name()))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| String::from(peer));
        let entry = TrustEntry::with_id(
            peer,
            key,
            &name,
            &services,
            TrustOrigin::Paired,
            self.cfg.boot,
            now / 1_000_000,
        );
        match entry.and_then(|e| self.trust.insert(e)) {
            Ok(_) => {
                self.p.log(format_args!("dsoftbusd: paired peer={}", peer));
                self.event(BusEvent::TrustChanged(String::from(peer)));
            }
            Err(e) => self.p.log(format_args!(
                "dsoftbusd: paired peer={} not trusted: {}",
                peer, e
            )),
        }
    }

    // ------------------------------------------------------------ local streams

    fn session_of(&self, s: StreamRef) -> Result<usize, BusError> {
        self.live
            .iter()
            .position(|l| l.serial == s.session)
            .ok_or(BusError::PeerGone)
    }

    /// Opens a stream to `service` on `peer`.
    pub fn open(
        &mut self,
        peer: &str,
        service: &str,
        mode: Mode,
        prio: Priority,
    ) -> Result<StreamRef, BusError> {
        let now = self.p.now_ns();
        let Some(i) = self.live.iter().position(|l| l.peer() == peer) else {
            return Err(if self.cache.get(peer, now).is_some() {
                BusError::NotConnected
            } else {
                BusError::UnknownPeer
            });
        };
        let id = self.live[i].mux.open(service, mode, prio)?;
        Ok(StreamRef {
            session: self.live[i].serial,
            id,
        })
    }

    /// Accepts an [`BusEvent::Incoming`] stream.
    pub fn accept(&mut self, s: StreamRef) -> Result<(), BusError> {
        let i = self.session_of(s)?;
        Ok(self.live[i].mux.accept(s.id)?)
    }

    /// Refuses an [`BusEvent::Incoming`] stream.
    pub fn refuse(&mut self, s: StreamRef, reason: RefuseReason) -> Result<(), BusError> {
        let i = self.session_of(s)?;
        Ok(self.live[i].mux.refuse(s.id, reason)?)
    }

    /// Queues bytes (byte mode: as many as fit; message mode: one whole message).
    pub fn send(&mut self, s: StreamRef, data: &[u8]) -> Result<usize, BusError> {
        let i = self.session_of(s)?;
        Ok(self.live[i].mux.send(s.id, data)?)
    }

    /// Reads (byte mode: up to `out.len()`; message mode: one message). `Ok(0)` = end.
    pub fn recv(&mut self, s: StreamRef, out: &mut [u8]) -> Result<usize, BusError> {
        let i = self.session_of(s)?;
        Ok(self.live[i].mux.recv(s.id, out)?)
    }

    /// Graceful close of our direction.
    pub fn close(&mut self, s: StreamRef) -> Result<(), BusError> {
        let i = self.session_of(s)?;
        Ok(self.live[i].mux.close(s.id)?)
    }

    /// Aborts a stream.
    pub fn reset(&mut self, s: StreamRef, reason: ResetReason) -> Result<(), BusError> {
        let i = self.session_of(s)?;
        Ok(self.live[i].mux.reset(s.id, reason)?)
    }

    /// Free send space of a stream.
    pub fn send_space(&self, s: StreamRef) -> Result<usize, BusError> {
        let i = self.session_of(s)?;
        self.live[i]
            .mux
            .send_space(s.id)
            .ok_or(BusError::UnknownStream)
    }

    /// Bytes buffered for one stream: (received unread, queued unsent).
    pub fn stream_buffered(&self, s: StreamRef) -> Result<(usize, usize), BusError> {
        let i = self.session_of(s)?;
        self.live[i]
            .mux
            .stream_buffered(s.id)
            .ok_or(BusError::UnknownStream)
    }
}

/// A mux event detached from the record buffer it borrowed.
enum OwnedEvent {
    Incoming {
        id: StreamId,
        service: String,
        mode: Mode,
        prio: Priority,
    },
    Refused(StreamId, RefuseReason),
    Accepted(StreamId),
    Readable(StreamId),
    Writable(StreamId),
    Finished(StreamId),
    Reset(StreamId, ResetReason),
}

impl From<&Event<'_>> for OwnedEvent {
    fn from(e: &Event<'_>) -> Self {
        match *e {
            Event::Incoming {
                id,
                service,
                mode,
                prio,
            } => OwnedEvent::Incoming {
                id,
                service: String::from(service),
                mode,
                prio,
            },
            Event::Refused(i, r) => OwnedEvent::Refused(i, r),
            Event::Accepted(i) => OwnedEvent::Accepted(i),
            Event::Readable(i) => OwnedEvent::Readable(i),
            Event::Writable(i) => OwnedEvent::Writable(i),
            Event::Finished(i) => OwnedEvent::Finished(i),
            Event::Reset(i, r) => OwnedEvent::Reset(i, r),
        }
    }
}
