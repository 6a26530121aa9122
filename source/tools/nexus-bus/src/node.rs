//! One bus node on Linux: the `dsoftbus` daemon core over [`StdTransport`], with the
//! blocking helpers the commands need (wait for a peer, open, send a whole stream,
//! receive to the end, serve).
//!
//! Design notes:
//! - The loop is dsoftbusd's: `poll` (one non-blocking pass), drain the daemon's events,
//!   do the local work, `wait` in one `poll(2)` on every socket of the daemon until the
//!   time `poll` asked for. Helpers cap that wait (`tick`) only where something outside
//!   the daemon's sockets must be looked at (standard input).
//! - Every helper has an absolute deadline and fails with [`Error::TimedOut`] at it.
//! - The events that answer an open or end a stream are kept in a bounded queue (the
//!   daemon's own bound, 512, oldest dropped) until a helper consumes them; readiness
//!   events are not kept (the helpers try `recv`/`send` every turn).

use std::collections::VecDeque;
use std::fmt;

use blake2::{Blake2s256, Digest};

use dsoftbus::daemon::{
    BusError, BusEvent, Daemon, DaemonConfig, Limits, Platform, StreamRef, MAX_EVENTS,
};
use dsoftbus::mux::{Mode, MuxConfig, Priority, RefuseReason, ResetReason};
use dsoftbus::pairing::PairError;
use dsoftbus::{LocalIdentity, StaticKeypair, TrustEntry, KEY_LEN};
use nexus_net::{IfaceInfo, NetClient};

use crate::net::{now_ns, StdNet, StdTransport};

/// Nanoseconds per second.
pub const SEC: u64 = 1_000_000_000;
/// Nanoseconds per millisecond.
pub const MS: u64 = 1_000_000;
/// How long a session must stand with no handshake of ours in progress before a
/// helper uses it ([`Node::wait_session`]).
pub const SETTLE_NS: u64 = 150 * MS;

/// The platform of a Linux node: monotonic clock, OS RNG, log lines to a sink.
pub struct HostPlatform {
    log: Box<dyn FnMut(&str) + Send>,
}

impl HostPlatform {
    /// Log lines go to `log`.
    pub fn new(log: Box<dyn FnMut(&str) + Send>) -> Self {
        HostPlatform { log }
    }
}

impl Platform for HostPlatform {
    fn now_ns(&mut self) -> u64 {
        now_ns()
    }
    fn ephemeral(&mut self) -> Option<[u8; KEY_LEN]> {
        let mut k = [0u8; KEY_LEN];
        getrandom::fill(&mut k).ok()?;
        (k != [0u8; KEY_LEN]).then_some(k)
    }
    fn log(&mut self, line: fmt::Arguments<'_>) {
        (self.log)(&line.to_string());
    }
}

/// How to run a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The interface: its address is bound and announced from; announces go to its
    /// subnet broadcast address.
    pub iface: IfaceInfo,
    /// TCP port of the session listener.
    pub session_port: u16,
    /// UDP discovery port.
    pub discovery_port: u16,
    /// Also announce to these UDP ports (0 = none).
    pub extra_announce_ports: [u16; 2],
    /// Display name (local only).
    pub name: String,
    /// Services this node publishes; a trusted peer may open those its grant lists.
    pub serve: Vec<String>,
    /// The trust store at start-up.
    pub trusted: Vec<TrustEntry>,
    /// Services of ours a device may open right after it paired with us.
    pub pair_grant: Vec<String>,
    /// Where trust changes are persisted (`crate::trustdir`); `None` = not kept.
    pub trust_dir: Option<std::path::PathBuf>,
}

/// Why a helper failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The daemon could not start (ports taken, no such address, ...).
    Start(String),
    /// The deadline passed.
    TimedOut(&'static str),
    /// The remote refused the stream.
    Refused(RefuseReason),
    /// The stream was reset.
    Reset(ResetReason),
    /// The session ended under the stream.
    PeerGone,
    /// A local bus call failed.
    Bus(BusError),
    /// Bad configuration.
    Config(String),
    /// Pairing failed.
    Pair(PairError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Start(why) => write!(f, "cannot start: {}", why),
            Error::TimedOut(what) => write!(f, "timed out: {}", what),
            Error::Refused(r) => write!(f, "refused by the peer: {:?}", r),
            Error::Reset(r) => write!(f, "stream reset: {:?}", r),
            Error::PeerGone => write!(f, "the session with the peer ended"),
            Error::Bus(e) => write!(f, "bus: {:?}", e),
            Error::Config(why) => write!(f, "{}", why),
            Error::Pair(e) => write!(f, "pairing failed: {}", e),
        }
    }
}

impl std::error::Error for Error {}

impl From<BusError> for Error {
    fn from(e: BusError) -> Self {
        match e {
            BusError::PeerGone => Error::PeerGone,
            e => Error::Bus(e),
        }
    }
}

/// A discovered peer as `peers` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Device id (derived from its key).
    pub id: String,
    /// The display name it announces (empty if none): a claim, not an identity.
    pub name: String,
    /// Address the announces came from.
    pub addr: std::net::Ipv4Addr,
    /// Session port it announced.
    pub port: u16,
    /// Services it announced.
    pub services: Vec<String>,
    /// An authenticated session with it is up.
    pub session: bool,
    /// It is in our trust store.
    pub trusted: bool,
}

/// An incoming stream (already accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The stream.
    pub stream: StreamRef,
    /// The opening device.
    pub peer: String,
    /// The service it opened.
    pub service: String,
    /// Its delivery mode.
    pub mode: Mode,
}

/// One Linux bus node.
pub struct Node {
    d: Daemon<StdTransport, HostPlatform>,
    events: VecDeque<BusEvent>,
    serve: Vec<String>,
    trust_dir: Option<std::path::PathBuf>,
}

impl Node {
    /// Starts the daemon core on real sockets.
    pub fn start(
        keys: StaticKeypair,
        cfg: NodeConfig,
        platform: HostPlatform,
    ) -> Result<Self, Error> {
        let mut me = LocalIdentity::new(keys);
        if !cfg.name.is_empty() {
            me = me
                .with_name(&cfg.name)
                .map_err(|_| Error::Config(format!("bad name {:?} (1..=64 bytes)", cfg.name)))?;
        }
        dsoftbus::trust::check_services(&cfg.pair_grant)
            .map_err(|e| Error::Config(format!("bad pairing grant: {}", e)))?;
        let dcfg = DaemonConfig {
            session_port: cfg.session_port,
            discovery_port: cfg.discovery_port,
            extra_announce_ports: cfg.extra_announce_ports,
            nodeinfo: false,
            trusted: cfg.trusted,
            pair_grant: cfg.pair_grant,
            boot: 0,
            mux: MuxConfig::default(),
            limits: Limits::default(),
        };
        let net = NetClient::new(StdTransport::new(StdNet::new(cfg.iface)));
        let mut d = Daemon::start(net, platform, me, dcfg).map_err(|e| {
            Error::Start(format!(
                "{:?} binding UDP {} / TCP {}:{} (another node on these ports? is {} an \
                     address of this host?)",
                e, cfg.discovery_port, cfg.iface.addr, cfg.session_port, cfg.iface.addr
            ))
        })?;
        for s in &cfg.serve {
            d.publish(s)
                .map_err(|e| Error::Config(format!("cannot publish {:?}: {:?}", s, e)))?;
        }
        Ok(Node {
            d,
            events: VecDeque::new(),
            serve: cfg.serve,
            trust_dir: cfg.trust_dir,
        })
    }

    /// Our device id.
    pub fn id(&self) -> &str {
        self.d.identity().device_id()
    }

    /// The daemon core.
    pub fn daemon(&mut self) -> &mut Daemon<StdTransport, HostPlatform> {
        &mut self.d
    }

    /// One turn of the loop: a pass that transmits what the local side queued since the
    /// last turn, a wait until the daemon wants to run again (at most `max_wait_ns`),
    /// and a pass that takes in what arrived, so the caller finds it in the streams.
    pub fn step(&mut self, max_wait_ns: u64) {
        let until = self.d.poll();
        self.collect();
        let cap = now_ns().saturating_add(max_wait_ns);
        self.d.wait(until.min(cap));
        self.d.poll();
        self.collect();
    }

    fn collect(&mut self) {
        while let Some(e) = self.d.next_event() {
            if let BusEvent::TrustChanged(id) = &e {
                self.persist_trust(id);
                continue;
            }
            // Readiness is level-triggered (the helpers try `recv`/`send` every turn),
            // so only the events that answer an open or end a stream are kept.
            if !matches!(
                e,
                BusEvent::Incoming { .. }
                    | BusEvent::Accepted(_)
                    | BusEvent::Refused(..)
                    | BusEvent::Reset(..)
                    | BusEvent::PeerGone(_)
                    | BusEvent::PairDone { .. }
            ) {
                continue;
            }
            if let BusEvent::Incoming {
                stream,
                ref service,
                ..
            } = e
            {
                // Only published services reach us (the daemon refuses the rest).
                if !self.serve.iter().any(|s| s == service) {
                    let _ = self.d.refuse(stream, RefuseReason::NotPublished);
                    continue;
                }
            }
            if self.events.len() >= MAX_EVENTS {
                self.events.pop_front();
            }
            self.events.push_back(e);
        }
    }

    fn take_event(&mut self, f: impl Fn(&BusEvent) -> bool) -> Option<BusEvent> {
        let i = self.events.iter().position(f)?;
        self.events.remove(i)
    }

    /// Live discovered peers.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let now = now_ns();
        let connected: Vec<&str> = self.d.connected().collect();
        self.d
            .cache()
            .live(now)
            .map(|e| PeerInfo {
                id: e.device_id().to_string(),
                name: e.display_name().to_string(),
                addr: e.addr(),
                port: e.port(),
                services: e.services().to_vec(),
                session: connected.contains(&e.device_id()),
                trusted: self.d.trust().get(e.device_id()).is_some(),
            })
            .collect()
    }

    /// Runs until `done` holds or `deadline`; `what` names the wait in the error.
    pub fn run_until(
        &mut self,
        deadline: u64,
        what: &'static str,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> Result<(), Error> {
        loop {
            if done(self) {
                return Ok(());
            }
            let now = now_ns();
            if now >= deadline {
                return Err(Error::TimedOut(what));
            }
            self.step(deadline - now);
        }
    }

    /// Waits until an authenticated session with `peer` is up and settled: no handshake
    /// of ours is in progress, for [`SETTLE_NS`] in a row. Two nodes that dial each other
    /// at once get two sessions, and the daemons close one of them as a duplicate
    /// (docs/dsoftbus.md §11); a stream opened on that one would end with it.
    pub fn wait_session(&mut self, peer: &str, deadline: u64) -> Result<(), Error> {
        let mut since: Option<u64> = None;
        self.run_until(deadline, "no authenticated session with the peer", |n| {
            let now = now_ns();
            if n.d.connected().any(|c| c == peer) && n.d.pending() == (0, 0) {
                let t0 = *since.get_or_insert(now);
                now >= t0 + SETTLE_NS
            } else {
                since = None;
                false
            }
        })
    }

    /// Opens `service` on `peer` (waiting for the session first) and waits for the
    /// peer's answer. An open whose session ended before the answer (it lost a
    /// duplicate-session tie-break) is sent again on the session that stayed.
    pub fn open(
        &mut self,
        peer: &str,
        service: &str,
        mode: Mode,
        prio: Priority,
        deadline: u64,
    ) -> Result<StreamRef, Error> {
        loop {
            self.wait_session(peer, deadline)?;
            let s = self.d.open(peer, service, mode, prio)?;
            let mut answer = None;
            self.run_until(deadline, "no answer to the open", |n| {
                answer = n.take_event(|e| {
                    matches!(e, BusEvent::Accepted(x) | BusEvent::Refused(x, _)
                        | BusEvent::Reset(x, _) | BusEvent::PeerGone(x) if *x == s)
                });
                answer.is_some()
            })?;
            match answer {
                Some(BusEvent::Accepted(_)) => return Ok(s),
                Some(BusEvent::Refused(_, r)) => return Err(Error::Refused(r)),
                Some(BusEvent::Reset(_, r)) => return Err(Error::Reset(r)),
                _ => self.d.log(format_args!(
                    "nexus-bus: the session ended before the open was answered; opening again"
                )),
            }
        }
    }

    /// Queues as much of `data` as the stream takes now (0 if none).
    pub fn try_send(&mut self, s: StreamRef, data: &[u8]) -> Result<usize, Error> {
        match self.d.send(s, data) {
            Ok(n) => Ok(n),
            Err(BusError::WouldBlock) => Ok(0),
            Err(e) => Err(self.stream_error(s, e)),
        }
    }

    /// Reads what is there now: `Ok(Some(n))` bytes (or one message), `Ok(None)` if
    /// nothing yet, `Ok(Some(0))` at the end of the stream.
    pub fn try_recv(&mut self, s: StreamRef, out: &mut [u8]) -> Result<Option<usize>, Error> {
        match self.d.recv(s, out) {
            Ok(n) => Ok(Some(n)),
            Err(BusError::WouldBlock) => Ok(None),
            Err(e) => Err(self.stream_error(s, e)),
        }
    }

    /// Why a stream call failed: a reset or a lost session explains `UnknownStream`.
    fn stream_error(&mut self, s: StreamRef, e: BusError) -> Error {
        self.collect();
        match self
            .take_event(|ev| matches!(ev, BusEvent::Reset(x, _) | BusEvent::PeerGone(x) if *x == s))
        {
            Some(BusEvent::Reset(_, r)) => Error::Reset(r),
            Some(_) => Error::PeerGone,
            None => e.into(),
        }
    }

    /// Closes our direction.
    pub fn close(&mut self, s: StreamRef) -> Result<(), Error> {
        self.d.close(s).map_err(|e| self.stream_error(s, e))
    }

    /// Sends all of `next`'s chunks (it returns an empty slice at the end), then closes
    /// our direction. Returns the bytes sent.
    pub fn send_all(
        &mut self,
        s: StreamRef,
        mut next: impl FnMut(&mut Vec<u8>) -> std::io::Result<()>,
        deadline: u64,
    ) -> Result<u64, Error> {
        let mut buf = Vec::new();
        let mut off = 0usize;
        let mut sent = 0u64;
        let mut eof = false;
        loop {
            // Fill the stream while it takes data.
            loop {
                if off == buf.len() && !eof {
                    buf.clear();
                    off = 0;
                    next(&mut buf).map_err(|e| Error::Config(format!("read: {}", e)))?;
                    eof = buf.is_empty();
                }
                if off == buf.len() {
                    break;
                }
                let n = self.try_send(s, &buf[off..])?;
                if n == 0 {
                    break;
                }
                off += n;
                sent += n as u64;
            }
            if eof && off == buf.len() {
                self.close(s)?;
                return Ok(sent);
            }
            if now_ns() >= deadline {
                return Err(Error::TimedOut("sending"));
            }
            self.step(deadline.saturating_sub(now_ns()));
        }
    }

    /// Receives until the peer closes its direction, handing every chunk (or message)
    /// to `sink`. Returns the bytes received.
    pub fn recv_all(
        &mut self,
        s: StreamRef,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
        deadline: u64,
    ) -> Result<u64, Error> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut got = 0u64;
        loop {
            while let Some(n) = self.try_recv(s, &mut buf)? {
                if n == 0 {
                    return Ok(got);
                }
                got += n as u64;
                sink(&buf[..n]).map_err(|e| Error::Config(format!("write: {}", e)))?;
            }
            if now_ns() >= deadline {
                return Err(Error::TimedOut("receiving"));
            }
            self.step(deadline.saturating_sub(now_ns()));
        }
    }

    /// The next incoming stream to a served service, accepted (runs the loop until one
    /// arrives or `deadline`).
    pub fn next_incoming(&mut self, deadline: u64) -> Result<Incoming, Error> {
        let mut got = None;
        self.run_until(deadline, "no incoming stream", |n| {
            got = n.take_event(|e| matches!(e, BusEvent::Incoming { .. }));
            got.is_some()
        })?;
        match got {
            Some(BusEvent::Incoming {
                stream,
                peer,
                service,
                mode,
                ..
            }) => {
                self.d.accept(stream)?;
                Ok(Incoming {
                    stream,
                    peer,
                    service,
                    mode,
                })
            }
            _ => Err(Error::TimedOut("no incoming stream")),
        }
    }

    /// Aborts a stream.
    pub fn reset(&mut self, s: StreamRef) {
        let _ = self.d.reset(s, ResetReason::Cancelled);
    }
}

/// What `serve` does with a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeMode {
    /// Reads the stream to its end, then answers `ok bytes=<n> blake2s=<hex>` and
    /// closes.
    Sink,
    /// Sends back every byte (byte mode) or message (message mode) until the opener
    /// closes, then closes.
    Echo,
}

/// A finished served stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The opening device.
    pub peer: String,
    /// The service.
    pub service: String,
    /// Bytes received.
    pub bytes: u64,
    /// BLAKE2s-256 of the bytes received (hex).
    pub digest: String,
    /// Time from accept to the end of the stream, in ns.
    pub ns: u64,
}

struct Active {
    inc: Incoming,
    bytes: u64,
    hash: Blake2s256,
    /// Bytes (or messages, one per entry) waiting to be echoed.
    pending: VecDeque<Vec<u8>>,
    eof: bool,
    closed: bool,
    t0: u64,
}

/// Hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{:02x}", b)).collect()
}

impl Node {
    /// Serves incoming streams to the published services until `max_streams` ended (if
    /// given) or `deadline`; `done` is called for every stream that ended.
    pub fn serve(
        &mut self,
        mode: ServeMode,
        max_streams: Option<usize>,
        deadline: u64,
        mut done: impl FnMut(&Served),
    ) -> Result<usize, Error> {
        let mut active: Vec<Active> = Vec::new();
        let mut finished = 0usize;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(BusEvent::Incoming {
                stream,
                peer,
                service,
                mode: m,
                ..
            }) = self.take_event(|e| matches!(e, BusEvent::Incoming { .. }))
            {
                if self.d.accept(stream).is_err() {
                    continue;
                }
                active.push(Active {
                    inc: Incoming {
                        stream,
                        peer,
                        service,
                        mode: m,
                    },
                    bytes: 0,
                    hash: Blake2s256::new(),
                    pending: VecDeque::new(),
                    eof: false,
                    closed: false,
                    t0: now_ns(),
                });
            }
            let mut i = 0;
            while i < active.len() {
                match self.serve_one(mode, &mut active[i], &mut buf) {
                    Ok(false) => i += 1,
                    Ok(true) => {
                        let a = active.swap_remove(i);
                        finished += 1;
                        done(&Served {
                            peer: a.inc.peer,
                            service: a.inc.service,
                            bytes: a.bytes,
                            digest: hex(&a.hash.finalize()),
                            ns: now_ns().saturating_sub(a.t0),
                        });
                    }
                    Err(e) => {
                        // A stream that failed costs only itself.
                        let a = active.swap_remove(i);
                        self.reset(a.inc.stream);
                        self.d.log(format_args!(
                            "nexus-bus: stream from {} failed: {}",
                            a.inc.peer, e
                        ));
                    }
                }
            }
            if max_streams.is_some_and(|m| finished >= m) {
                return Ok(finished);
            }
            let now = now_ns();
            if now >= deadline {
                return Ok(finished);
            }
            self.step(deadline - now);
        }
    }

    /// Advances one served stream; `Ok(true)` once it is over.
    fn serve_one(
        &mut self,
        mode: ServeMode,
        a: &mut Active,
        buf: &mut [u8],
    ) -> Result<bool, Error> {
        let s = a.inc.stream;
        // Echo: flush what is pending first (bounded by the stream's send buffer).
        while let Some(front) = a.pending.front_mut() {
            let n = self.try_send(s, front)?;
            if n == 0 {
                break;
            }
            if n == front.len() {
                a.pending.pop_front();
            } else {
                front.drain(..n);
            }
        }
        // Read only while nothing waits to be echoed, so a peer that does not read its
        // echo is throttled instead of growing our buffer.
        while !a.eof && a.pending.is_empty() {
            match self.try_recv(s, buf)? {
                None => break,
                Some(0) => a.eof = true,
                Some(n) => {
                    a.bytes += n as u64;
                    a.hash.update(&buf[..n]);
                    if mode == ServeMode::Echo {
                        a.pending.push_back(buf[..n].to_vec());
                    }
                }
            }
        }
        if a.eof && a.pending.is_empty() && !a.closed {
            if mode == ServeMode::Sink {
                let digest = hex(&a.hash.clone().finalize());
                let verdict = format!("ok bytes={} blake2s={}\n", a.bytes, digest);
                // A fresh stream always has room for one short message.
                self.try_send(s, verdict.as_bytes())?;
            }
            self.close(s)?;
            a.closed = true;
        }
        Ok(a.closed)
    }
}

impl Node {
    /// Runs until everything queued has left (sessions' queues and stream buffers), or
    /// `deadline`; for a command that is about to exit.
    pub fn flush(&mut self, deadline: u64) -> Result<(), Error> {
        self.run_until(deadline, "flushing", |n| n.d.buffered() == 0)
    }

    /// Flushes, then keeps the sessions up for `linger_ns` more: the peer's daemon
    /// frees a stream's state when its session ends, so an application there that has
    /// not yet read the stream's end (our CLOSE) would see "peer gone" instead if we
    /// exited at once.
    pub fn leave(&mut self, linger_ns: u64) {
        let end = now_ns().saturating_add(linger_ns);
        let _ = self.flush(end);
        while now_ns() < end {
            self.step(end - now_ns());
        }
    }
}

impl Node {
    fn persist_trust(&mut self, id: &str) {
        let Some(dir) = self.trust_dir.clone() else {
            return;
        };
        let entry = self.d.trust().get(id).cloned();
        if let Err(e) = crate::trustdir::store(&dir, id, entry.as_ref()) {
            self.d.log(format_args!(
                "nexus-bus: cannot persist trust of {}: {}",
                id, e
            ));
        }
    }

    /// The trust store.
    pub fn trusted(&self) -> Vec<TrustEntry> {
        self.d.trust().iter().cloned().collect()
    }

    /// Shows a fresh PIN for `valid_ns` (a peer pairs with it); `None` without entropy.
    pub fn show_pin(&mut self, valid_ns: u64) -> Option<u32> {
        self.d.show_pin(valid_ns)
    }

    /// Pairs with `peer` (waiting for the session first) using the PIN it shows; on
    /// success both sides trust each other (persisted when a trust directory is set).
    pub fn pair(&mut self, peer: &str, pin: u32, deadline: u64) -> Result<(), Error> {
        self.wait_session(peer, deadline)?;
        self.d.pair(peer, pin)?;
        let mut done = None;
        self.run_until(deadline, "pairing did not finish", |n| {
            done = n.take_event(|e| matches!(e, BusEvent::PairDone { peer: p, .. } if p == peer));
            done.is_some()
        })?;
        match done {
            Some(BusEvent::PairDone { result: Ok(()), .. }) => Ok(()),
            Some(BusEvent::PairDone { result: Err(e), .. }) => Err(Error::Pair(e)),
            _ => Err(Error::TimedOut("pairing did not finish")),
        }
    }
}
