//! Deterministic in-memory network with a virtual clock, implementing `Backend`.
//!
//! Design notes
//! ------------
//! * [`FakeNet`] is one flat IPv4 network of nodes, each with an address,
//!   prefix, optional gateway and MTU. Every operation takes effect
//!   immediately and deterministically: there is no packet loss except
//!   where documented (full UDP queues, links set down), no reordering and
//!   no latency except for pings ([`FakeNet::set_ping_rtt`]).
//! * Per-node socket API: [`FakeNet::node`] returns a [`FakeNode`] view that
//!   implements the crate's [`Backend`] trait, i.e. exactly what
//!   `netstackd`'s smoltcp backend will implement. Tests can either call it
//!   directly or go through [`dispatch`](crate::dispatch) with a
//!   [`Server`](crate::Server) per node. [`SimNet`] bundles a `FakeNet`,
//!   one `Server` per node and a [`Transport`](crate::Transport) so that
//!   typed [`NetClient`](crate::NetClient)s run the full production path
//!   (encode → dispatch → backend → reply decode).
//! * TCP: connecting to a node with a listener on the port creates both
//!   ends at once (the server end waits in the listener's backlog, and may
//!   already receive data before it is accepted). Nobody listening, or a full
//!   backlog → `ConnectionRefused`. An address with no node (or a down link)
//!   leaves the stream connecting forever (a `wait` times out). Writes go
//!   straight into the peer's bounded receive buffer
//!   ([`FakeNet::set_tcp_buffer`]), so writes are partial when it is nearly
//!   full and `WouldBlock` when it is full. `close` is graceful: the peer
//!   reads the remaining data, then EOF (`Ok(0)`), and its writes fail with
//!   `Closed`. Closing a listener resets connections still in its backlog
//!   (their clients see `ConnectionReset`).
//! * UDP: unicast delivers to the socket bound on the destination node and
//!   port, or is silently dropped. `255.255.255.255` and the sender's subnet
//!   broadcast (`x.x.x.255` for a /24) deliver to every *other* node of the
//!   sender's subnet bound to the port, like smoltcp which does not loop
//!   broadcasts back (see [`FakeNet::set_broadcast_loopback`]). Receive
//!   queues are bounded ([`FakeNet::set_udp_queue`]); overflow is dropped
//!   and counted in [`FakeStats`].
//! * `127.0.0.0/8` always means the node itself.
//! * Time never moves by itself: [`FakeNet::advance`] / [`FakeNet::set_now`]
//!   move it; `now` passed to backend methods is the caller's notion of it.

mod sim;
mod tcp;
mod udp;

pub use sim::{SimNet, SimTransport};

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::error::NetError;
use crate::server::Backend;
use crate::types::{IfaceInfo, Ipv4Addr, Readiness, SocketAddrV4};

/// Sockets one node may have open at once (listeners, streams incl. those
/// waiting in a backlog, UDP sockets).
pub const MAX_SOCKETS_PER_NODE: usize = 64;
/// Default per-direction TCP buffer, in bytes.
pub const DEFAULT_TCP_BUFFER: usize = 16 * 1024;
/// Default number of datagrams a UDP socket queues.
pub const DEFAULT_UDP_QUEUE: usize = 32;
/// Default ping round-trip time (1 ms).
pub const DEFAULT_PING_RTT_NS: u64 = 1_000_000;
const PING_RECORDS: usize = 64;
const EPHEMERAL_FIRST: u16 = 49152;

/// Index of a node in a [`FakeNet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

impl NodeId {
    /// Position of the node in creation order (0-based).
    pub fn index(self) -> usize {
        self.0
    }
}

/// Socket identity of the fake backend (slot index + generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FakeSocket {
    index: u32,
    generation: u32,
}

/// Counters for what the fake network dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FakeStats {
    /// Datagrams dropped because a receive queue was full.
    pub udp_queue_drops: u64,
    /// Unicast datagrams dropped because nobody was bound there.
    pub udp_unbound_drops: u64,
    /// Datagrams dropped because a link was down.
    pub link_drops: u64,
}

struct Node {
    iface: IfaceInfo,
    link_up: bool,
    next_ephemeral: u16,
}

pub(crate) enum SockKind {
    Listener(tcp::Listener),
    Stream(tcp::Stream),
    Udp(udp::Udp),
}

pub(crate) struct Sock {
    node: usize,
    kind: SockKind,
}

struct Slot {
    generation: u32,
    sock: Option<Sock>,
}

struct PingRec {
    token: u32,
    started_ns: u64,
    reply_at: Option<u64>,
}

/// The simulated network. See the module docs for its semantics.
pub struct FakeNet {
    now_ns: u64,
    nodes: Vec<Node>,
    slots: Vec<Slot>,
    tcp_buffer: usize,
    udp_queue: usize,
    ping_rtt_ns: u64,
    broadcast_loopback: bool,
    pings: VecDeque<PingRec>,
    next_ping_token: u32,
    stats: FakeStats,
}

impl Default for FakeNet {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeNet {
    /// An empty network at virtual time 0 with default limits.
    pub fn new() -> Self {
        FakeNet {
            now_ns: 0,
            nodes: Vec::new(),
            slots: Vec::new(),
            tcp_buffer: DEFAULT_TCP_BUFFER,
            udp_queue: DEFAULT_UDP_QUEUE,
            ping_rtt_ns: DEFAULT_PING_RTT_NS,
            broadcast_loopback: false,
            pings: VecDeque::new(),
            next_ping_token: 1,
            stats: FakeStats::default(),
        }
    }

    /// Adds a node with `addr`/24, no gateway, MTU 1500.
    pub fn add_node(&mut self, addr: Ipv4Addr) -> NodeId {
        self.add_node_with(IfaceInfo {
            addr,
            prefix_len: 24,
            gateway: None,
            mtu: 1500,
        })
    }

    /// Adds a node with a full interface configuration.
    pub fn add_node_with(&mut self, iface: IfaceInfo) -> NodeId {
        self.nodes.push(Node {
            iface,
            link_up: true,
            next_ephemeral: EPHEMERAL_FIRST,
        });
        NodeId(self.nodes.len() - 1)
    }

    /// The [`Backend`] view of one node. Panics if `id` is not from this net.
    pub fn node(&mut self, id: NodeId) -> FakeNode<'_> {
        assert!(id.0 < self.nodes.len(), "unknown fake node {id:?}");
        FakeNode {
            net: self,
            node: id.0,
        }
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Interface configuration of a node.
    pub fn iface(&self, id: NodeId) -> Option<IfaceInfo> {
        self.nodes.get(id.0).map(|n| n.iface)
    }

    /// Current virtual time in nanoseconds.
    pub fn now(&self) -> u64 {
        self.now_ns
    }

    /// Moves virtual time forward by `ns`.
    pub fn advance(&mut self, ns: u64) {
        self.now_ns = self.now_ns.saturating_add(ns);
    }

    /// Sets virtual time; it never goes backwards (earlier values are ignored).
    pub fn set_now(&mut self, ns: u64) {
        self.now_ns = self.now_ns.max(ns);
    }

    /// Per-connection receive buffer size in bytes (affects new data only).
    pub fn set_tcp_buffer(&mut self, bytes: usize) {
        self.tcp_buffer = bytes.max(1);
    }

    /// Datagrams each UDP socket queues before dropping.
    pub fn set_udp_queue(&mut self, datagrams: usize) {
        self.udp_queue = datagrams.max(1);
    }

    /// Round-trip time reported for (and needed by) pings to existing nodes.
    pub fn set_ping_rtt(&mut self, ns: u64) {
        self.ping_rtt_ns = ns;
    }

    /// Whether a broadcast is also delivered to the sending node (default false).
    pub fn set_broadcast_loopback(&mut self, on: bool) {
        self.broadcast_loopback = on;
    }

    /// Takes a node's link down or up. Going down resets every established
    /// connection of the node (both ends see `ConnectionReset`); while down,
    /// its datagrams in and out are dropped, its new connections never
    /// complete and pings to it get no reply.
    pub fn set_link(&mut self, id: NodeId, up: bool) {
        let Some(n) = self.nodes.get_mut(id.0) else {
            return;
        };
        n.link_up = up;
        if !up {
            self.reset_node_streams(id.0);
        }
    }

    /// Simulates a crash of a node's stack: every established connection of
    /// the node is reset (peers see `ConnectionReset`) and all its sockets
    /// disappear. Later backend calls with the old sockets get `NotFound`.
    pub fn crash_node_sockets(&mut self, id: NodeId) {
        self.reset_node_streams(id.0);
        let ids: Vec<FakeSocket> = self.handles_on(id.0).map(|(s, _)| s).collect();
        for s in ids {
            self.free(s);
        }
    }

    /// Drop counters.
    pub fn stats(&self) -> FakeStats {
        self.stats
    }

    /// Sockets currently open on a node (for leak checks).
    pub fn open_sockets(&self, id: NodeId) -> usize {
        self.slots
            .iter()
            .filter_map(|s| s.sock.as_ref())
            .filter(|s| s.node == id.0)
            .count()
    }

    /// Earliest future instant (> now) at which something happens on its own
    /// (a ping reply becoming due), if any.
    pub fn next_event(&self) -> Option<u64> {
        self.pings
            .iter()
            .filter_map(|p| p.reply_at)
            .filter(|t| *t > self.now_ns)
            .min()
    }

    // ----- internal helpers shared by tcp.rs / udp.rs -----

    fn link_up(&self, node: usize) -> bool {
        self.nodes.get(node).is_some_and(|n| n.link_up)
    }

    /// Node reached by `ip` from `from`: itself for loopback, else the node
    /// owning the address, if its link (and the sender's) is up.
    pub(crate) fn route(&self, from: usize, ip: Ipv4Addr) -> Option<usize> {
        let to = if ip.is_loopback() {
            Some(from)
        } else {
            self.nodes.iter().position(|n| n.iface.addr == ip)
        }?;
        (to == from || (self.link_up(from) && self.link_up(to))).then_some(to)
    }

    pub(crate) fn get(&self, s: FakeSocket) -> Option<&Sock> {
        let slot = self.slots.get(s.index as usize)?;
        if slot.generation != s.generation {
            return None;
        }
        slot.sock.as_ref()
    }

    pub(crate) fn get_mut(&mut self, s: FakeSocket) -> Option<&mut Sock> {
        let slot = self.slots.get_mut(s.index as usize)?;
        if slot.generation != s.generation {
            return None;
        }
        slot.sock.as_mut()
    }

    /// The socket if it exists and lives on `node` (`NotFound` otherwise).
    pub(crate) fn owned_mut(&mut self, node: usize, s: FakeSocket) -> Result<&mut Sock, NetError> {
        match self.get_mut(s) {
            Some(sock) if sock.node == node => Ok(sock),
            _ => Err(NetError::NotFound),
        }
    }

    pub(crate) fn alloc(&mut self, node: usize, kind: SockKind) -> Result<FakeSocket, NetError> {
        if self.open_sockets(NodeId(node)) >= MAX_SOCKETS_PER_NODE {
            return Err(NetError::NoBufs);
        }
        let sock = Some(Sock { node, kind });
        if let Some(i) = self.slots.iter().position(|s| s.sock.is_none()) {
            let slot = &mut self.slots[i];
            slot.sock = sock;
            return Ok(FakeSocket {
                index: i as u32,
                generation: slot.generation,
            });
        }
        let index = u32::try_from(self.slots.len()).map_err(|_| NetError::NoBufs)?;
        self.slots.push(Slot {
            generation: 1,
            sock,
        });
        Ok(FakeSocket {
            index,
            generation: 1,
        })
    }

    pub(crate) fn free(&mut self, s: FakeSocket) -> Option<Sock> {
        let slot = self.slots.get_mut(s.index as usize)?;
        if slot.generation != s.generation {
            return None;
        }
        let sock = slot.sock.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        Some(sock)
    }

    fn handles_on(&self, node: usize) -> impl Iterator<Item = (FakeSocket, &Sock)> {
        self.slots.iter().enumerate().filter_map(move |(i, s)| {
            let sock = s.sock.as_ref().filter(|k| k.node == node)?;
            let id = FakeSocket {
                index: i as u32,
                generation: s.generation,
            };
            Some((id, sock))
        })
    }

    /// Picks a free ephemeral port on `node` for TCP (`tcp`) or UDP.
    pub(crate) fn ephemeral_port(&mut self, node: usize, tcp: bool) -> Result<u16, NetError> {
        for _ in 0..=(u16::MAX - EPHEMERAL_FIRST) {
            let n = &mut self.nodes[node];
            let port = n.next_ephemeral;
            n.next_ephemeral = if port == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                port + 1
            };
            if !self.port_in_use(node, port, tcp) {
                return Ok(port);
            }
        }
        Err(NetError::AddrInUse)
    }

    pub(crate) fn port_in_use(&self, node: usize, port: u16, tcp: bool) -> bool {
        self.handles_on(node).any(|(_, s)| match &s.kind {
            SockKind::Listener(l) => tcp && l.port == port,
            SockKind::Stream(st) => tcp && st.local.port() == port,
            SockKind::Udp(u) => !tcp && u.port == port,
        })
    }

    fn ping_start(&mut self, node: usize, addr: Ipv4Addr, now_ns: u64) -> Result<u32, NetError> {
        if addr.is_broadcast() || addr.is_multicast() || addr.is_unspecified() {
            return Err(NetError::InvalidInput);
        }
        let token = self.next_ping_token;
        self.next_ping_token = self.next_ping_token.wrapping_add(1).max(1);
        let reply_at = self
            .route(node, addr)
            .map(|_| now_ns.saturating_add(self.ping_rtt_ns));
        if self.pings.len() >= PING_RECORDS {
            self.pings.pop_front();
        }
        self.pings.push_back(PingRec {
            token,
            started_ns: now_ns,
            reply_at,
        });
        Ok(token)
    }

    fn ping_poll(&mut self, token: u32, now_ns: u64) -> Option<Result<u64, NetError>> {
        let i = self.pings.iter().position(|p| p.token == token)?;
        let p = &self.pings[i];
        let at = p.reply_at.filter(|t| *t <= now_ns)?;
        let rtt = at - p.started_ns;
        self.pings.remove(i);
        Some(Ok(rtt))
    }
}

/// [`Backend`] view of one node of a [`FakeNet`].
pub struct FakeNode<'a> {
    net: &'a mut FakeNet,
    node: usize,
}

impl FakeNode<'_> {
    /// The node's id.
    pub fn id(&self) -> NodeId {
        NodeId(self.node)
    }

    /// The whole network (e.g. to read the clock).
    pub fn net(&mut self) -> &mut FakeNet {
        self.net
    }
}

impl Backend for FakeNode<'_> {
    type Socket = FakeSocket;

    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<(FakeSocket, u16), NetError> {
        self.net.tcp_listen(self.node, port, backlog)
    }

    fn tcp_accept(&mut self, listener: FakeSocket) -> Result<(FakeSocket, SocketAddrV4), NetError> {
        self.net.tcp_accept(self.node, listener)
    }

    fn tcp_connect(
        &mut self,
        remote: SocketAddrV4,
        _now_ns: u64,
    ) -> Result<(FakeSocket, u16), NetError> {
        self.net.tcp_connect(self.node, remote)
    }

    fn tcp_read(&mut self, stream: FakeSocket, buf: &mut [u8]) -> Result<usize, NetError> {
        self.net.tcp_read(self.node, stream, buf)
    }

    fn tcp_write(&mut self, stream: FakeSocket, data: &[u8]) -> Result<usize, NetError> {
        self.net.tcp_write(self.node, stream, data)
    }

    fn tcp_shutdown(&mut self, stream: FakeSocket) -> Result<(), NetError> {
        self.net.tcp_shutdown(self.node, stream)
    }

    fn udp_bind(&mut self, port: u16) -> Result<(FakeSocket, u16), NetError> {
        self.net.udp_bind(self.node, port)
    }

    fn udp_send_to(
        &mut self,
        socket: FakeSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), NetError> {
        self.net.udp_send_to(self.node, socket, to, data)
    }

    fn udp_recv_from(
        &mut self,
        socket: FakeSocket,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), NetError> {
        self.net.udp_recv_from(self.node, socket, buf)
    }

    fn close(&mut self, socket: FakeSocket) {
        if self.net.get(socket).is_some_and(|s| s.node == self.node) {
            self.net.close_socket(socket);
        }
    }

    fn readiness(&mut self, socket: FakeSocket) -> Readiness {
        match self.net.get(socket) {
            Some(s) if s.node == self.node => self.net.readiness_of(s),
            _ => Readiness::HUP | Readiness::ERROR,
        }
    }

    fn iface(&self) -> IfaceInfo {
        self.net.nodes[self.node].iface
    }

    fn ping_start(&mut self, addr: Ipv4Addr, _seq: u16, now_ns: u64) -> Result<u32, NetError> {
        self.net.ping_start(self.node, addr, now_ns)
    }

    fn ping_poll(&mut self, token: u32, now_ns: u64) -> Option<Result<u64, NetError>> {
        self.net.ping_poll(token, now_ns)
    }
}
