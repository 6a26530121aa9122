//! `NetStack`: smoltcp interface + socket table + address policy.
//!
//! Design notes
//! ------------
//! * One smoltcp [`Interface`] over a caller-supplied [`Device`], one
//!   [`SocketSet`], plus a small table of facade-level sockets ([`SocketId`]
//!   with a generation, so a stale id never reaches a reused slot). A table
//!   entry is a TCP listener (owning up to `backlog` armed smoltcp listening
//!   sockets on its port), a TCP stream, or a UDP socket.
//! * Time is always the caller's monotonic nanoseconds, converted with
//!   `Instant::from_micros(now_ns / 1000)`; nothing counts loop iterations.
//!   [`NetStack::poll_at`] reports the next instant anything is due (smoltcp
//!   timers, the DHCP fallback, lingering closes), so `netstackd` can sleep
//!   until then or until the NIC interrupts.
//! * Work per [`NetStack::poll`] is bounded: at most `MAX_INGRESS_PER_POLL`
//!   received frames and `MAX_EGRESS_ROUNDS` egress rounds; leftover work
//!   makes `poll_at` answer "now".
//! * Closing a stream is graceful: the smoltcp socket moves to a bounded
//!   "closing" list where it finishes its FIN handshake (or is aborted after
//!   `linger_ns`). Data that arrives after the close is discarded and, once
//!   our FIN is acknowledged, answered with RST, so the peer's later writes
//!   fail with `Closed` (it already saw our FIN and reads EOF).
//! * Memory: every TCP/UDP socket's buffers are charged against
//!   `mem_budget` and the socket count against `max_sockets`; buffers are
//!   allocated with `try_reserve`, so exhaustion is `NoBufs`, never an abort.
//!   When short, finished or lingering closes are reclaimed first.

use alloc::vec;
use alloc::vec::Vec;

use nexus_net::{IfaceInfo, Ipv4Addr, LinkInfo, NetError};
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::phy::{ChecksumCapabilities, Device, DeviceCapabilities};
use smoltcp::socket::{dhcpv4, icmp, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    DhcpRepr, EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr,
    Ipv4Cidr,
};

use crate::config::{AddrPolicy, StackConfig};
use crate::guard::{GuardState, GuardStats, Guarded};

/// Room for the DHCP server's ACK (an Ethernet frame's IP payload).
const DHCP_PACKET_MAX: usize = 1500;

/// Frames received per [`NetStack::poll`] before yielding (`poll_at` then
/// answers "now").
pub const MAX_INGRESS_PER_POLL: usize = 256;
/// Egress rounds per [`NetStack::poll`] (each round lets every socket emit
/// at most one packet).
pub const MAX_EGRESS_ROUNDS: usize = 256;
/// While the device has no free transmit slot, [`NetStack::poll_at`] does
/// not answer "now" for data waiting to be sent: the device's completion
/// interrupt makes the owner poll again. This bounds the wait if that
/// interrupt never comes.
pub const TX_BLOCKED_RECHECK_NS: u64 = 1_000_000;
/// Outstanding pings remembered by the backend (oldest forgotten first).
pub const MAX_PINGS: usize = 32;
/// Grace period after an abort before a closing socket is dropped even if
/// its RST could not be sent (link full).
const ABORT_GRACE_NS: u64 = 1_000_000_000;
/// ICMP socket queue sizes (echo payloads are 8 bytes).
const ICMP_PACKETS: usize = 8;
const ICMP_BYTES: usize = 1024;
/// smoltcp keeps a datagram whose next hop does not answer ARP at the head
/// of its socket's send queue forever, blocking everything behind it. A
/// UDP socket whose send queue has not shrunk for this long is rebuilt on
/// the same port (its queued datagrams are dropped: UDP may lose them).
pub const UDP_STUCK_NS: u64 = 3_000_000_000;
/// Same for the echo request in flight on the ICMP socket; the pings
/// behind it are then sent (the stuck one times out at its deadline).
pub const ICMP_STUCK_NS: u64 = 1_000_000_000;
/// How long a closed stream is kept in TIME-WAIT at most (smoltcp's own
/// TIME-WAIT timer is 10 s and restarts on a retransmitted FIN; this bounds
/// it). While kept, the socket acknowledges the peer's (retransmitted) FIN
/// instead of answering it with RST, and its port stays in use.
pub const TIME_WAIT_NS: u64 = 10_000_000_000;
/// An IPv4 datagram whose fragments have not all arrived by then is
/// dropped and its reassembly buffer reused (Linux: 30 s; two buffers here,
/// so a stale one must not block reassembly for long).
pub const REASSEMBLY_TIMEOUT_NS: u64 = 5_000_000_000;
/// Largest IPv4 datagram reassembled (smoltcp feature
/// `reassembly-buffer-size-8192`), payload after the IP header.
pub const REASSEMBLY_MAX: usize = 8192;
/// DHCP client port: a UDP bind on it would never see traffic while the
/// DHCP client runs.
const DHCP_CLIENT_PORT: u16 = 68;
const EPHEMERAL_FIRST: u16 = 49152;
const EPHEMERAL_COUNT: u16 = 16384;

/// Address events reported by [`NetStack::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// The interface has (a new) address. Follows every address change.
    IfaceUp {
        /// Interface address.
        addr: Ipv4Addr,
        /// Prefix length.
        prefix_len: u8,
        /// Default gateway.
        gateway: Option<Ipv4Addr>,
    },
    /// A DHCP lease was obtained or changed (followed by `IfaceUp`).
    DhcpBound {
        /// Leased address.
        addr: Ipv4Addr,
        /// Prefix length from the subnet mask.
        prefix_len: u8,
        /// Router option.
        gateway: Option<Ipv4Addr>,
    },
    /// `qemu-smoke`: no lease after [`DHCP_FALLBACK_WAIT_NS`](crate::DHCP_FALLBACK_WAIT_NS);
    /// the static fallback was applied (followed by `IfaceUp`). DHCP keeps running.
    DhcpFallback {
        /// Fallback address.
        addr: Ipv4Addr,
        /// Fallback prefix length.
        prefix_len: u8,
        /// Fallback gateway.
        gateway: Option<Ipv4Addr>,
    },
    /// The DHCP lease expired or was revoked; the interface has no address.
    DhcpLost,
}

/// The backend's socket identity (the `Backend::Socket` of [`NetStack`]).
///
/// A slot index plus a generation bumped on every close, so ids of closed
/// sockets are rejected (`NotFound`) even after the slot is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketId {
    index: u16,
    generation: u16,
}

/// Resource counters, for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StackStats {
    /// TCP smoltcp sockets (streams, armed listener sockets, closing).
    pub tcp_sockets: usize,
    /// UDP smoltcp sockets.
    pub udp_sockets: usize,
    /// Streams still finishing their close.
    pub closing: usize,
    /// Open facade-level sockets (listeners, streams, UDP sockets).
    pub open: usize,
    /// Bytes of socket buffers charged against the budget.
    pub mem_used: usize,
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) handle: SocketHandle,
    pub(crate) local_port: u16,
    /// Reached a synchronized state at least once.
    pub(crate) established: bool,
    /// Local `shutdown` (FIN queued).
    pub(crate) shutdown: bool,
    /// The peer's FIN was seen.
    pub(crate) peer_fin: bool,
}

#[derive(Debug)]
pub(crate) struct Armed {
    pub(crate) handle: SocketHandle,
    /// Order in which the connection was seen established (accept is FIFO).
    pub(crate) ready_seq: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) port: u16,
    /// Armed sockets to keep (the effective backlog, fixed at listen time).
    pub(crate) want: usize,
    pub(crate) armed: Vec<Armed>,
}

#[derive(Debug)]
pub(crate) struct Udp {
    pub(crate) handle: SocketHandle,
    pub(crate) port: u16,
    /// Since when the send queue has not shrunk, and its size then.
    pub(crate) stuck: Option<(u64, usize)>,
}

#[derive(Debug)]
pub(crate) enum Entry {
    Listener(Listener),
    Stream(Stream),
    Udp(Udp),
}

#[derive(Debug)]
struct Slot {
    generation: u16,
    entry: Option<Entry>,
}

/// A closed stream finishing its FIN handshake (or its RST).
#[derive(Debug)]
struct Closing {
    handle: SocketHandle,
    deadline_ns: u64,
    discard: bool,
    aborted: bool,
    /// When TIME-WAIT ends for this socket at the latest (set on entry).
    time_wait_until: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Ping {
    token: u32,
    addr: Ipv4Addr,
    seq: u16,
    /// When it was requested (queued) or handed to smoltcp (sent).
    sent_ns: u64,
    /// Waiting for the ICMP socket (one echo request in smoltcp at a time).
    queued: bool,
    result: Option<Result<u64, NetError>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddrSource {
    None,
    Static,
    Lease,
    #[cfg_attr(not(feature = "qemu-smoke"), allow(dead_code))]
    Fallback,
}

/// What a stream can do right now, derived from the smoltcp state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Connecting,
    Open,
    Refused,
    Reset,
    Finished,
}

/// Caller nanoseconds → smoltcp instant.
pub(crate) fn instant(now_ns: u64) -> Instant {
    Instant::from_micros(i64::try_from(now_ns / 1000).unwrap_or(i64::MAX))
}

/// smoltcp instant → caller nanoseconds.
pub(crate) fn instant_ns(t: Instant) -> u64 {
    u64::try_from(t.total_micros())
        .unwrap_or(0)
        .saturating_mul(1000)
}

/// A zeroed buffer allocated without aborting on exhaustion.
pub(crate) fn try_buf<T: Clone>(n: usize, fill: T) -> Result<Vec<T>, NetError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| NetError::NoBufs)?;
    v.resize(n, fill);
    Ok(v)
}

/// The ICMP echo socket (bound to our ident).
fn icmp_socket(ident: u16) -> icmp::Socket<'static> {
    let mut s = icmp::Socket::new(
        icmp::PacketBuffer::new(
            vec![icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            vec![0u8; ICMP_BYTES],
        ),
        icmp::PacketBuffer::new(
            vec![icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            vec![0u8; ICMP_BYTES],
        ),
    );
    // Binding a fresh socket to an ident cannot fail.
    let _ = s.bind(icmp::Endpoint::Ident(ident));
    s
}

/// Derives a stream's phase and updates its sticky flags.
pub(crate) fn observe(s: &mut tcp::Socket<'static>, st: &mut Stream) -> Phase {
    use tcp::State as S;
    match s.state() {
        S::SynSent | S::SynReceived | S::Listen => {
            if st.established {
                Phase::Reset
            } else {
                Phase::Connecting
            }
        }
        S::Established | S::FinWait1 | S::FinWait2 => {
            st.established = true;
            Phase::Open
        }
        S::CloseWait | S::LastAck | S::Closing | S::TimeWait => {
            st.established = true;
            st.peer_fin = true;
            Phase::Open
        }
        S::Closed => {
            if !st.established {
                return Phase::Refused;
            }
            if !st.peer_fin && !s.can_recv() {
                // With an empty buffer smoltcp tells a FIN'd stream apart.
                if let Err(tcp::RecvError::Finished) = s.recv_slice(&mut []) {
                    st.peer_fin = true;
                }
            }
            if st.peer_fin {
                Phase::Finished
            } else {
                Phase::Reset
            }
        }
    }
}

/// The device as smoltcp's egress sees it: records whether it ran out of
/// transmit slots.
struct TxWatch<'d, D: Device> {
    inner: &'d mut D,
    blocked: &'d mut bool,
}

impl<D: Device> Device for TxWatch<'_, D> {
    type RxToken<'a>
        = D::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.inner.receive(timestamp)
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(timestamp);
        if tx.is_none() {
            *self.blocked = true;
        }
        tx
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// smoltcp networking stack serving the nexus-net sockets facade.
pub struct NetStack<D: Device> {
    pub(crate) device: D,
    /// Boxed: with reassembly on, the interface holds ~24 KiB of buffers.
    pub(crate) iface: alloc::boxed::Box<Interface>,
    pub(crate) sockets: SocketSet<'static>,
    pub(crate) cfg: StackConfig,
    slots: Vec<Slot>,
    closing: Vec<Closing>,
    pub(crate) tcp_count: usize,
    /// Buffer bytes of all TCP sockets (they differ: see `tcp_connect_buf`).
    tcp_bytes: usize,
    pub(crate) udp_count: usize,
    dhcp: Option<SocketHandle>,
    icmp: SocketHandle,
    icmp_ident: u16,
    /// Token of the echo request inside smoltcp and when it was handed over.
    icmp_head: Option<(u32, u64)>,
    pings: [Option<Ping>; MAX_PINGS],
    next_ping_token: u32,
    pub(crate) addr: Option<IfaceInfo>,
    source: AddrSource,
    /// When the current address was set (ns), for `LinkInfo`.
    addr_since_ns: u64,
    /// Lease time of the current DHCP lease in seconds (0 = none/unknown).
    lease_secs: u32,
    #[cfg_attr(not(feature = "qemu-smoke"), allow(dead_code))]
    dhcp_wait_since: u64,
    /// A DHCP lease was held at some point: the fallback is off for good.
    had_lease: bool,
    up_pending: bool,
    ingress_backlog: bool,
    /// The last egress pass found no free transmit slot in the device.
    tx_blocked: bool,
    ready_counter: u64,
    ephemeral_cursor: u16,
    pub(crate) now_ns: u64,
    pub(crate) mtu: u16,
    guard: GuardState,
}

impl<D: Device> NetStack<D> {
    /// Builds the interface on `device` with `cfg` (sanitized first, see
    /// [`StackConfig::sanitized`]). `Static` addresses apply at once
    /// (`IfaceUp` is emitted by the first [`poll`](Self::poll)); `Dhcp`
    /// starts the DHCP client, whose fallback timer starts at `now_ns`.
    pub fn new(mut device: D, cfg: StackConfig, now_ns: u64) -> Self {
        let cfg = cfg.sanitized();
        let mut icfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(cfg.mac)));
        icfg.random_seed = cfg.random_seed;
        let mut iface = alloc::boxed::Box::new(Interface::new(icfg, &mut device, instant(now_ns)));
        // An incomplete datagram frees its reassembly buffer after this.
        iface.set_reassembly_timeout(Duration::from_micros(REASSEMBLY_TIMEOUT_NS / 1000));
        let mtu = u16::try_from(
            device
                .capabilities()
                .max_transmission_unit
                .saturating_sub(14),
        )
        .unwrap_or(u16::MAX);
        // Sized once for the worst case (TCP/UDP cap + ICMP + DHCP), so the
        // socket storage never reallocates (or over-allocates) later.
        let mut sockets = SocketSet::new(Vec::with_capacity(cfg.max_sockets + 2));

        let icmp_ident = 0x4e58 ^ (cfg.random_seed as u16);
        let icmp = sockets.add(icmp_socket(icmp_ident));

        let dhcp = match cfg.policy {
            AddrPolicy::Dhcp => {
                let mut s = dhcpv4::Socket::new();
                // smoltcp keeps the server's ACK here, so the lease time can
                // be read from it (`LinkInfo`). One buffer per stack, held
                // for the stack's whole life (the socket set is 'static).
                s.set_receive_packet_buffer(alloc::boxed::Box::leak(
                    vec![0u8; DHCP_PACKET_MAX].into_boxed_slice(),
                ));
                Some(sockets.add(s))
            }
            AddrPolicy::Static { .. } => None,
        };
        let mut stack = NetStack {
            device,
            iface,
            sockets,
            cfg,
            slots: Vec::with_capacity(cfg.max_sockets.saturating_mul(2)),
            closing: Vec::with_capacity(cfg.max_sockets),
            tcp_count: 0,
            tcp_bytes: 0,
            udp_count: 0,
            dhcp,
            icmp,
            icmp_ident,
            icmp_head: None,
            pings: [None; MAX_PINGS],
            next_ping_token: 1,
            addr: None,
            source: AddrSource::None,
            addr_since_ns: now_ns,
            lease_secs: 0,
            dhcp_wait_since: now_ns,
            had_lease: false,
            up_pending: false,
            ingress_backlog: false,
            tx_blocked: false,
            ready_counter: 0,
            ephemeral_cursor: (cfg.random_seed >> 16) as u16,
            now_ns,
            mtu,
            guard: GuardState::default(),
        };
        if let AddrPolicy::Static {
            addr,
            prefix_len,
            gateway,
        } = cfg.policy
        {
            stack.set_addr(addr, prefix_len, gateway);
            stack.source = AddrSource::Static;
            stack.up_pending = true;
        }
        stack
    }

    /// The (sanitized) configuration in use.
    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// The network device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The network device, mutably (e.g. to acknowledge its interrupt).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Current interface configuration; `None` while no address is set
    /// (DHCP pending, lease lost).
    pub fn iface_info(&self) -> Option<IfaceInfo> {
        self.addr
    }

    /// Counters of the ingress guard (oversize IPv4 fragments dropped).
    pub fn guard_stats(&self) -> GuardStats {
        self.guard.stats
    }

    /// MAC address, address source, lease time and age (`LinkInfo` op).
    pub fn link_info(&self, now_ns: u64) -> LinkInfo {
        let source = match (self.addr.is_some(), self.source) {
            (false, _) | (_, AddrSource::None) => nexus_net::AddrSource::None,
            (true, AddrSource::Static) => nexus_net::AddrSource::Static,
            (true, AddrSource::Lease) => nexus_net::AddrSource::Dhcp,
            (true, AddrSource::Fallback) => nexus_net::AddrSource::Fallback,
        };
        let age = if source == nexus_net::AddrSource::None {
            0
        } else {
            now_ns.saturating_sub(self.addr_since_ns) / 1_000_000_000
        };
        LinkInfo {
            mac: self.cfg.mac,
            source,
            lease_secs: if source == nexus_net::AddrSource::Dhcp {
                self.lease_secs
            } else {
                0
            },
            age_secs: age.min(u32::MAX as u64) as u32,
        }
    }

    /// Resource counters.
    pub fn stats(&self) -> StackStats {
        StackStats {
            tcp_sockets: self.tcp_count,
            udp_sockets: self.udp_count,
            closing: self.closing.len(),
            open: self.slots.iter().filter(|s| s.entry.is_some()).count(),
            mem_used: self.mem_used(),
        }
    }

    /// Runs the stack once at `now_ns`: receives (bounded), runs DHCP and the
    /// address policy, maintains listeners, closing streams and pings, and
    /// transmits. Address changes are reported through `on_event`. Returns
    /// true if anything happened (a frame moved, a socket or address
    /// changed), i.e. callers should re-check readiness.
    pub fn poll(&mut self, now_ns: u64, on_event: &mut dyn FnMut(NetEvent)) -> bool {
        let now_ns = now_ns.max(self.now_ns);
        self.now_ns = now_ns;
        let ts = instant(now_ns);
        let mut progress = false;

        if self.up_pending {
            self.up_pending = false;
            if let Some(i) = self.addr {
                on_event(NetEvent::IfaceUp {
                    addr: i.addr,
                    prefix_len: i.prefix_len,
                    gateway: i.gateway,
                });
                progress = true;
            }
        }

        self.iface.poll_maintenance(ts);
        self.guard.refresh_own(now_ns);
        self.ingress_backlog = true;
        for _ in 0..MAX_INGRESS_PER_POLL {
            match self.iface.poll_ingress_single(
                ts,
                &mut Guarded {
                    inner: &mut self.device,
                    state: &mut self.guard,
                    now_ns,
                },
                &mut self.sockets,
            ) {
                PollIngressSingleResult::None => {
                    self.ingress_backlog = false;
                    break;
                }
                PollIngressSingleResult::PacketProcessed
                | PollIngressSingleResult::SocketStateChanged => progress = true,
            }
        }

        progress |= self.poll_dhcp(now_ns, on_event);
        progress |= self.policy_timers(now_ns, on_event);
        progress |= self.maintain(now_ns);

        self.tx_blocked = false;
        for _ in 0..MAX_EGRESS_ROUNDS {
            match self.iface.poll_egress(
                ts,
                &mut TxWatch {
                    inner: &mut self.device,
                    blocked: &mut self.tx_blocked,
                },
                &mut self.sockets,
            ) {
                PollResult::None => break,
                PollResult::SocketStateChanged => progress = true,
            }
        }
        progress |= self.reap_closing(now_ns);
        progress |= self.unstick(now_ns);
        progress
    }

    /// Absolute time (caller ns) of the next needed [`poll`](Self::poll):
    /// `now_ns` if work is pending, `None` if only a received frame (or a
    /// client request) can create work.
    pub fn poll_at(&mut self, now_ns: u64) -> Option<u64> {
        let now_ns = now_ns.max(self.now_ns);
        if self.up_pending || self.ingress_backlog || self.guard.pending() {
            return Some(now_ns);
        }
        let mut next = self
            .iface
            .poll_at(instant(now_ns), &self.sockets)
            .map(instant_ns);
        if self.tx_blocked {
            // smoltcp's "now" means a socket has a segment to send, which
            // must wait for a transmit slot: the device's completion
            // interrupt brings the owner back (rechecked after a bound).
            next = next.map(|t| {
                if t <= now_ns {
                    now_ns.saturating_add(TX_BLOCKED_RECHECK_NS)
                } else {
                    t
                }
            });
        }
        let mut consider = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        for c in &self.closing {
            if let Some(t) = c.time_wait_until {
                consider(t);
                continue;
            }
            consider(if c.aborted {
                c.deadline_ns.saturating_add(ABORT_GRACE_NS)
            } else {
                c.deadline_ns
            });
        }
        for slot in &self.slots {
            if let Some(Entry::Udp(Udp {
                stuck: Some((since, _)),
                ..
            })) = &slot.entry
            {
                consider(since.saturating_add(UDP_STUCK_NS));
            }
        }
        if let Some((_, since)) = self.icmp_head {
            consider(since.saturating_add(ICMP_STUCK_NS));
        }
        #[cfg(feature = "qemu-smoke")]
        if self.fallback_armed() {
            consider(
                self.dhcp_wait_since
                    .saturating_add(crate::DHCP_FALLBACK_WAIT_NS),
            );
        }
        next.map(|t| t.max(now_ns))
    }

    // ----- address policy -------------------------------------------------

    fn set_addr(&mut self, addr: Ipv4Addr, prefix_len: u8, gateway: Option<Ipv4Addr>) -> IfaceInfo {
        let prefix_len = prefix_len.min(32);
        let same = self
            .addr
            .is_some_and(|i| i.addr == addr && i.prefix_len == prefix_len);
        if !same {
            let cidr = IpCidr::Ipv4(Ipv4Cidr::new(addr, prefix_len));
            self.iface.update_ip_addrs(|a| {
                a.clear();
                // Capacity is at least one address.
                let _ = a.push(cidr);
            });
        }
        let routes = self.iface.routes_mut();
        routes.remove_default_ipv4_route();
        if let Some(gw) = gateway {
            // The route table holds at least one route.
            let _ = routes.add_default_ipv4_route(gw);
        }
        let info = IfaceInfo {
            addr,
            prefix_len,
            gateway,
            mtu: self.mtu,
        };
        if !same {
            self.guard
                .set_own(self.cfg.mac, Some((addr.octets(), prefix_len)));
        }
        self.addr = Some(info);
        info
    }

    fn clear_addr(&mut self) {
        self.guard.set_own(self.cfg.mac, None);
        self.iface.update_ip_addrs(|a| a.clear());
        self.iface.routes_mut().remove_default_ipv4_route();
        self.addr = None;
    }

    fn poll_dhcp(&mut self, now_ns: u64, on_event: &mut dyn FnMut(NetEvent)) -> bool {
        let Some(h) = self.dhcp else {
            return false;
        };
        let lease = match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return false,
            Some(dhcpv4::Event::Configured(c)) => {
                let lease = c
                    .packet
                    .as_ref()
                    .and_then(|p| DhcpRepr::parse(p).ok())
                    .and_then(|r| r.lease_duration)
                    .unwrap_or(0);
                Some((c.address.address(), c.address.prefix_len(), c.router, lease))
            }
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match lease {
            Some((addr, prefix_len, gateway, lease)) => {
                let i = self.set_addr(addr, prefix_len, gateway);
                self.source = AddrSource::Lease;
                self.had_lease = true;
                self.addr_since_ns = now_ns;
                self.lease_secs = lease;
                log::info!(
                    "netstack: DHCP lease {}/{} gw {:?}",
                    i.addr,
                    i.prefix_len,
                    i.gateway
                );
                on_event(NetEvent::DhcpBound {
                    addr: i.addr,
                    prefix_len: i.prefix_len,
                    gateway: i.gateway,
                });
                on_event(NetEvent::IfaceUp {
                    addr: i.addr,
                    prefix_len: i.prefix_len,
                    gateway: i.gateway,
                });
            }
            None => {
                if self.source != AddrSource::Lease {
                    return false;
                }
                self.clear_addr();
                self.source = AddrSource::None;
                log::warn!("netstack: DHCP lease lost");
                on_event(NetEvent::DhcpLost);
            }
        }
        true
    }

    /// `qemu-smoke`: the fallback is still to come (DHCP policy, no address
    /// yet, and no lease ever held).
    #[cfg(feature = "qemu-smoke")]
    fn fallback_armed(&self) -> bool {
        self.dhcp.is_some() && self.source == AddrSource::None && !self.had_lease
    }

    #[cfg(feature = "qemu-smoke")]
    fn policy_timers(&mut self, now_ns: u64, on_event: &mut dyn FnMut(NetEvent)) -> bool {
        use crate::config::{QEMU_FALLBACK_ADDR, QEMU_FALLBACK_GATEWAY, QEMU_FALLBACK_PREFIX};
        if !self.fallback_armed()
            || now_ns
                < self
                    .dhcp_wait_since
                    .saturating_add(crate::DHCP_FALLBACK_WAIT_NS)
        {
            return false;
        }
        let i = self.set_addr(
            QEMU_FALLBACK_ADDR,
            QEMU_FALLBACK_PREFIX,
            Some(QEMU_FALLBACK_GATEWAY),
        );
        self.source = AddrSource::Fallback;
        self.addr_since_ns = now_ns;
        log::warn!(
            "netstack: no DHCP lease, qemu-smoke fallback {}/{}",
            i.addr,
            i.prefix_len
        );
        on_event(NetEvent::DhcpFallback {
            addr: i.addr,
            prefix_len: i.prefix_len,
            gateway: i.gateway,
        });
        on_event(NetEvent::IfaceUp {
            addr: i.addr,
            prefix_len: i.prefix_len,
            gateway: i.gateway,
        });
        true
    }

    #[cfg(not(feature = "qemu-smoke"))]
    fn policy_timers(&mut self, _now_ns: u64, _on_event: &mut dyn FnMut(NetEvent)) -> bool {
        false
    }

    // ----- maintenance ----------------------------------------------------

    /// Listener re-arming and accept order, stream flags, closing streams, pings.
    fn maintain(&mut self, now_ns: u64) -> bool {
        let mut progress = false;
        let half_open = Duration::from_micros(self.cfg.half_open_timeout_ns / 1000);
        // Listeners: recycle dead armed sockets, stamp newly established ones.
        for i in 0..self.slots.len() {
            let Some(Some(Entry::Listener(l))) = self.slots.get_mut(i).map(|s| s.entry.as_mut())
            else {
                continue;
            };
            for a in l.armed.iter_mut() {
                let s = self.sockets.get_mut::<tcp::Socket>(a.handle);
                match s.state() {
                    tcp::State::Established | tcp::State::CloseWait if a.ready_seq.is_none() => {
                        self.ready_counter += 1;
                        a.ready_seq = Some(self.ready_counter);
                        progress = true;
                    }
                    tcp::State::Closed | tcp::State::TimeWait => {
                        s.abort();
                        // A closed socket always accepts `listen` on a non-zero port.
                        let _ = s.listen(l.port);
                        s.set_timeout(Some(half_open));
                        a.ready_seq = None;
                        progress = true;
                    }
                    _ => {}
                }
            }
        }
        // Top up listeners whose backlog shrank (accept could not re-arm).
        for i in 0..self.slots.len() {
            let (port, missing) = match self.slots.get(i).and_then(|s| s.entry.as_ref()) {
                Some(Entry::Listener(l)) if l.armed.len() < l.want => {
                    (l.port, l.want - l.armed.len())
                }
                _ => continue,
            };
            for _ in 0..missing {
                let Ok(h) = self.new_listening_socket(port) else {
                    break;
                };
                if let Some(Some(Entry::Listener(l))) =
                    self.slots.get_mut(i).map(|s| s.entry.as_mut())
                {
                    l.armed.push(Armed {
                        handle: h,
                        ready_seq: None,
                    });
                    progress = true;
                }
            }
        }
        // Streams: keep the sticky flags current.
        for slot in self.slots.iter_mut() {
            if let Some(Entry::Stream(st)) = slot.entry.as_mut() {
                let s = self.sockets.get_mut::<tcp::Socket>(st.handle);
                observe(s, st);
            }
        }
        // Closing streams: discard late data, RST once our data is acked.
        for c in self.closing.iter_mut() {
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            while s.can_recv() {
                match s.recv(|b| (b.len(), b.len())) {
                    Ok(n) if n > 0 => c.discard = true,
                    _ => break,
                }
            }
            // Once our FIN is acknowledged (FIN-WAIT-2) the peer has seen
            // EOF; more data from it is answered with RST.
            let fin_acked = s.state() == tcp::State::FinWait2;
            if s.state() == tcp::State::TimeWait && c.time_wait_until.is_none() {
                c.time_wait_until = Some(now_ns.saturating_add(TIME_WAIT_NS));
            }
            if !c.aborted
                && ((c.discard && fin_acked) || now_ns >= c.deadline_ns)
                && s.state() != tcp::State::TimeWait
            {
                s.abort();
                c.aborted = true;
                c.deadline_ns = now_ns;
                progress = true;
            }
        }
        progress |= self.reap_closing(now_ns);
        progress |= self.poll_pings(now_ns);
        progress
    }

    /// Works around smoltcp's head-of-line blocking on unresolved next hops
    /// (see [`UDP_STUCK_NS`]), and feeds the next queued ping to the ICMP
    /// socket. Runs after egress, so "not sent" means "could not be sent".
    fn unstick(&mut self, now_ns: u64) -> bool {
        let mut progress = false;
        for i in 0..self.slots.len() {
            let Some(Some(Entry::Udp(u))) = self.slots.get_mut(i).map(|s| s.entry.as_mut()) else {
                continue;
            };
            let queued = self.sockets.get::<udp::Socket>(u.handle).send_queue();
            u.stuck = match u.stuck {
                _ if queued == 0 => None,
                Some((_, before)) if queued < before => Some((now_ns, queued)),
                None => Some((now_ns, queued)),
                keep => keep,
            };
            let Some((since, _)) = u.stuck else {
                continue;
            };
            if now_ns < since.saturating_add(UDP_STUCK_NS) {
                continue;
            }
            let (old, port) = (u.handle, u.port);
            // Build the replacement first: if memory is short, keep the old one.
            let Ok(fresh) = self.build_udp_socket(port) else {
                continue;
            };
            self.sockets.remove(old);
            let h = self.sockets.add(fresh);
            if let Some(Some(Entry::Udp(u))) = self.slots.get_mut(i).map(|s| s.entry.as_mut()) {
                u.handle = h;
                u.stuck = None;
            }
            log::warn!("netstack: UDP port {port}: next hop unreachable, send queue dropped");
            progress = true;
        }
        if let Some((_, since)) = self.icmp_head {
            let s = self.sockets.get::<icmp::Socket>(self.icmp);
            if s.send_queue() == 0 {
                self.icmp_head = None;
            } else if now_ns >= since.saturating_add(ICMP_STUCK_NS) {
                self.sockets.remove(self.icmp);
                self.icmp = self.sockets.add(icmp_socket(self.icmp_ident));
                self.icmp_head = None;
                progress = true;
            }
        }
        progress | self.ping_pump(now_ns)
    }

    /// Drops closing streams that are done (RST sent, TIME-WAIT over, grace over).
    fn reap_closing(&mut self, now_ns: u64) -> bool {
        let before = self.closing.len();
        let sockets = &mut self.sockets;
        let (mut removed, mut bytes) = (0, 0);
        self.closing.retain_mut(|c| {
            let s = sockets.get::<tcp::Socket>(c.handle);
            // TIME-WAIT ends when smoltcp's timer closes the socket, or at
            // our bound. Never before egress ran: the ACK of the peer's FIN
            // is sent first.
            if s.state() == tcp::State::TimeWait && c.time_wait_until.is_none() {
                c.time_wait_until = Some(now_ns.saturating_add(TIME_WAIT_NS));
            }
            let time_wait_over =
                s.state() == tcp::State::TimeWait && c.time_wait_until.is_some_and(|t| now_ns >= t);
            let done = (s.state() == tcp::State::Closed && s.remote_endpoint().is_none())
                || time_wait_over
                || (c.aborted && now_ns >= c.deadline_ns.saturating_add(ABORT_GRACE_NS));
            if done {
                bytes += s.recv_capacity() + s.send_capacity();
                sockets.remove(c.handle);
                removed += 1;
            }
            !done
        });
        self.tcp_count = self.tcp_count.saturating_sub(removed);
        self.tcp_bytes = self.tcp_bytes.saturating_sub(bytes);
        before != self.closing.len()
    }

    /// Memory pressure: frees closing streams that have nothing left to
    /// deliver (TIME-WAIT, aborted) if `all` is false, else every closing
    /// stream at once (without waiting for a RST or FIN to leave).
    fn reclaim_closing(&mut self, all: bool) {
        let sockets = &mut self.sockets;
        let (mut removed, mut bytes) = (0, 0);
        self.closing.retain(|c| {
            let s = sockets.get::<tcp::Socket>(c.handle);
            let idle = c.aborted || s.state() == tcp::State::TimeWait;
            if all || idle {
                bytes += s.recv_capacity() + s.send_capacity();
                sockets.remove(c.handle);
                removed += 1;
            }
            !(all || idle)
        });
        self.tcp_count = self.tcp_count.saturating_sub(removed);
        self.tcp_bytes = self.tcp_bytes.saturating_sub(bytes);
    }

    fn poll_pings(&mut self, now_ns: u64) -> bool {
        let ident = self.icmp_ident;
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        let mut progress = false;
        while let Ok((data, from)) = s.recv() {
            #[allow(irrefutable_let_patterns)]
            let IpAddress::Ipv4(from) = from
            else {
                continue;
            };
            let Ok(pkt) = Icmpv4Packet::new_checked(data) else {
                continue;
            };
            let Ok(Icmpv4Repr::EchoReply {
                ident: id,
                seq_no,
                data,
            }) = Icmpv4Repr::parse(&pkt, &ChecksumCapabilities::default())
            else {
                continue;
            };
            let token = data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes);
            if id != ident {
                continue;
            }
            for p in self.pings.iter_mut().flatten() {
                if p.result.is_none() && p.addr == from && p.seq == seq_no && Some(p.token) == token
                {
                    p.result = Some(Ok(now_ns.saturating_sub(p.sent_ns)));
                    progress = true;
                }
            }
        }
        progress
    }

    // ----- resources ------------------------------------------------------

    pub(crate) fn mem_used(&self) -> usize {
        self.tcp_bytes
            .saturating_add(self.udp_count.saturating_mul(self.cfg.udp_socket_cost()))
    }

    fn fits(&self, cost: usize) -> bool {
        self.tcp_count + self.udp_count < self.cfg.max_sockets
            && self.mem_used().saturating_add(cost) <= self.cfg.mem_budget
    }

    fn reserve(&mut self, cost: usize) -> Result<(), NetError> {
        if !self.fits(cost) {
            self.reclaim_closing(false);
        }
        if !self.fits(cost) {
            self.reclaim_closing(true);
        }
        if self.fits(cost) {
            Ok(())
        } else {
            Err(NetError::NoBufs)
        }
    }

    /// A new TCP socket (closed), charged against the limits.
    pub(crate) fn new_tcp_socket(&mut self) -> Result<SocketHandle, NetError> {
        self.new_tcp_socket_sized(self.cfg.tcp_rx_buf, self.cfg.tcp_tx_buf)
    }

    /// A new TCP socket (closed) for an outgoing stream: `tcp_connect_buf`
    /// each way when set, else the default sizes.
    pub(crate) fn new_connect_socket(&mut self) -> Result<SocketHandle, NetError> {
        match self.cfg.tcp_connect_buf {
            0 => self.new_tcp_socket(),
            n => self.new_tcp_socket_sized(n, n),
        }
    }

    fn new_tcp_socket_sized(&mut self, rx: usize, tx: usize) -> Result<SocketHandle, NetError> {
        self.reserve(rx.saturating_add(tx))?;
        let rx = try_buf(rx, 0u8)?;
        let tx = try_buf(tx, 0u8)?;
        let bytes = rx.len() + tx.len();
        let mut s = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        // The facade already batches writes (one IPC per write); Nagle would
        // only add latency to request/response traffic.
        s.set_nagle_enabled(false);
        s.set_min_rto(Duration::from_micros(self.cfg.tcp_min_rto_ns / 1000));
        let h = self.sockets.add(s);
        self.tcp_count += 1;
        self.tcp_bytes += bytes;
        Ok(h)
    }

    /// A new listening TCP socket on `port`.
    pub(crate) fn new_listening_socket(&mut self, port: u16) -> Result<SocketHandle, NetError> {
        let h = self.new_tcp_socket()?;
        let half_open = Duration::from_micros(self.cfg.half_open_timeout_ns / 1000);
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        s.set_timeout(Some(half_open));
        if s.listen(port).is_err() {
            self.free_tcp(h);
            return Err(NetError::InvalidInput);
        }
        Ok(h)
    }

    /// A new UDP socket bound to `port`, charged against the limits.
    pub(crate) fn new_udp_socket(&mut self, port: u16) -> Result<SocketHandle, NetError> {
        self.reserve(self.cfg.udp_socket_cost())?;
        let s = self.build_udp_socket(port)?;
        let h = self.sockets.add(s);
        self.udp_count += 1;
        Ok(h)
    }

    /// A UDP socket bound to `port` (not charged, not added).
    fn build_udp_socket(&self, port: u16) -> Result<udp::Socket<'static>, NetError> {
        let c = &self.cfg;
        let rx = udp::PacketBuffer::new(
            try_buf(c.udp_rx_packets, udp::PacketMetadata::EMPTY)?,
            try_buf(c.udp_rx_bytes, 0u8)?,
        );
        let tx = udp::PacketBuffer::new(
            try_buf(c.udp_tx_packets, udp::PacketMetadata::EMPTY)?,
            try_buf(c.udp_tx_bytes, 0u8)?,
        );
        let mut s = udp::Socket::new(rx, tx);
        s.bind(port).map_err(|_| NetError::InvalidInput)?;
        Ok(s)
    }

    pub(crate) fn free_tcp(&mut self, h: SocketHandle) {
        let s = self.sockets.get::<tcp::Socket>(h);
        let bytes = s.recv_capacity() + s.send_capacity();
        self.sockets.remove(h);
        self.tcp_count = self.tcp_count.saturating_sub(1);
        self.tcp_bytes = self.tcp_bytes.saturating_sub(bytes);
    }

    pub(crate) fn free_udp(&mut self, h: SocketHandle) {
        self.sockets.remove(h);
        self.udp_count = self.udp_count.saturating_sub(1);
    }

    /// Hands a stream to the closing list (graceful) or frees it if it is
    /// already dead.
    pub(crate) fn retire_stream(&mut self, h: SocketHandle) {
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        let state = s.state();
        if state == tcp::State::Listen
            || (state == tcp::State::Closed && s.remote_endpoint().is_none())
        {
            self.free_tcp(h);
            return;
        }
        let (aborted, deadline) = match state {
            tcp::State::Closed => (true, self.now_ns),
            // Already closed both ways: stays in TIME-WAIT (bounded, see
            // `TIME_WAIT_NS`) to acknowledge a retransmitted FIN.
            tcp::State::TimeWait => (false, self.now_ns),
            tcp::State::SynSent | tcp::State::SynReceived => {
                s.abort();
                (true, self.now_ns)
            }
            _ => {
                s.close();
                (false, self.now_ns.saturating_add(self.cfg.linger_ns))
            }
        };
        self.closing.push(Closing {
            handle: h,
            deadline_ns: deadline,
            discard: false,
            aborted,
            time_wait_until: None,
        });
    }

    /// Aborts (RST) a socket and lets the closing list free it.
    pub(crate) fn abort_socket(&mut self, h: SocketHandle) {
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        if s.state() == tcp::State::Listen || s.remote_endpoint().is_none() {
            self.free_tcp(h);
            return;
        }
        s.abort();
        self.closing.push(Closing {
            handle: h,
            deadline_ns: self.now_ns,
            discard: false,
            aborted: true,
            time_wait_until: None,
        });
    }

    // ----- socket table ---------------------------------------------------

    fn slot_cap(&self) -> usize {
        self.cfg.max_sockets.saturating_mul(2)
    }

    /// True if [`insert`](Self::insert) will succeed.
    pub(crate) fn has_free_slot(&self) -> bool {
        self.slots.iter().any(|s| s.entry.is_none()) || self.slots.len() < self.slot_cap()
    }

    /// Stores `entry` in a free slot. On failure (no slot) the entry's
    /// sockets are released, so nothing leaks.
    pub(crate) fn insert(&mut self, entry: Entry) -> Result<SocketId, NetError> {
        let free = self.slots.iter().position(|s| s.entry.is_none());
        let index = match free {
            Some(i) => Some(i),
            None if self.slots.len() < self.slot_cap() => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                Some(self.slots.len() - 1)
            }
            None => None,
        };
        let found = index.and_then(|i| Some((u16::try_from(i).ok()?, self.slots.get_mut(i)?)));
        match found {
            Some((index, slot)) => {
                slot.entry = Some(entry);
                Ok(SocketId {
                    index,
                    generation: slot.generation,
                })
            }
            None => {
                self.release(entry);
                Err(NetError::NoBufs)
            }
        }
    }

    /// Closes whatever an entry owns: streams gracefully, listeners by
    /// resetting their unaccepted connections, UDP sockets at once.
    pub(crate) fn release(&mut self, entry: Entry) {
        match entry {
            Entry::Stream(st) => self.retire_stream(st.handle),
            Entry::Udp(u) => self.free_udp(u.handle),
            Entry::Listener(l) => {
                for a in l.armed {
                    self.abort_socket(a.handle);
                }
            }
        }
    }

    pub(crate) fn entry(&self, id: SocketId) -> Result<&Entry, NetError> {
        self.slots
            .get(usize::from(id.index))
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_ref())
            .ok_or(NetError::NotFound)
    }

    pub(crate) fn entry_mut(&mut self, id: SocketId) -> Result<&mut Entry, NetError> {
        self.slots
            .get_mut(usize::from(id.index))
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_mut())
            .ok_or(NetError::NotFound)
    }

    /// Splits the borrow: a stream entry and its smoltcp socket.
    pub(crate) fn stream_parts(
        &mut self,
        id: SocketId,
    ) -> Result<(&mut Stream, &mut tcp::Socket<'static>), NetError> {
        let slot = self
            .slots
            .get_mut(usize::from(id.index))
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_mut())
            .ok_or(NetError::NotFound)?;
        match slot {
            Entry::Stream(st) => {
                let s = self.sockets.get_mut::<tcp::Socket>(st.handle);
                Ok((st, s))
            }
            _ => Err(NetError::InvalidInput),
        }
    }

    pub(crate) fn take(&mut self, id: SocketId) -> Result<Entry, NetError> {
        let slot = self
            .slots
            .get_mut(usize::from(id.index))
            .filter(|s| s.generation == id.generation)
            .ok_or(NetError::NotFound)?;
        let e = slot.entry.take().ok_or(NetError::NotFound)?;
        slot.generation = slot.generation.wrapping_add(1);
        Ok(e)
    }

    // ----- ports ----------------------------------------------------------

    fn tcp_port_used(&self, port: u16) -> bool {
        let in_table = self
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref())
            .any(|e| match e {
                Entry::Listener(l) => l.port == port,
                Entry::Stream(st) => st.local_port == port,
                Entry::Udp(_) => false,
            });
        in_table
            || self.closing.iter().any(|c| {
                self.sockets
                    .get::<tcp::Socket>(c.handle)
                    .local_endpoint()
                    .is_some_and(|e| e.port == port)
            })
    }

    pub(crate) fn tcp_listener_on(&self, port: u16) -> bool {
        self.slots
            .iter()
            .filter_map(|s| s.entry.as_ref())
            .any(|e| matches!(e, Entry::Listener(l) if l.port == port))
    }

    pub(crate) fn udp_port_used(&self, port: u16) -> bool {
        (self.dhcp.is_some() && port == DHCP_CLIENT_PORT)
            || self
                .slots
                .iter()
                .filter_map(|s| s.entry.as_ref())
                .any(|e| matches!(e, Entry::Udp(u) if u.port == port))
    }

    /// A free port in 49152..=65535 (round-robin from a seeded cursor).
    pub(crate) fn ephemeral_port(&mut self, tcp: bool) -> Result<u16, NetError> {
        for _ in 0..EPHEMERAL_COUNT {
            let port = EPHEMERAL_FIRST + self.ephemeral_cursor % EPHEMERAL_COUNT;
            self.ephemeral_cursor = self.ephemeral_cursor.wrapping_add(1);
            let used = if tcp {
                self.tcp_port_used(port)
            } else {
                self.udp_port_used(port)
            };
            if !used {
                return Ok(port);
            }
        }
        Err(NetError::NoBufs)
    }

    // ----- ping -----------------------------------------------------------

    pub(crate) fn ping_send(
        &mut self,
        addr: Ipv4Addr,
        seq: u16,
        now_ns: u64,
    ) -> Result<u32, NetError> {
        let token = self.next_ping_token;
        self.next_ping_token = self.next_ping_token.wrapping_add(1).max(1);
        let own = self.addr.is_some_and(|i| i.addr == addr) || addr.is_loopback();
        let ping = Ping {
            token,
            addr,
            seq,
            sent_ns: now_ns,
            queued: !own,
            // The stack answers its own addresses (loopback) at once.
            result: own.then_some(Ok(0)),
        };
        let slot = match self.pings.iter().position(|p| p.is_none()) {
            Some(i) => i,
            // Forget the oldest ping (its waiter times out).
            None => self
                .pings
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.map_or(0, |p| p.sent_ns))
                .map_or(0, |(i, _)| i),
        };
        if let Some(p) = self.pings.get_mut(slot) {
            *p = Some(ping);
        }
        self.ping_pump(now_ns);
        Ok(token)
    }

    /// Hands the oldest queued echo request to the ICMP socket if it is idle.
    fn ping_pump(&mut self, now_ns: u64) -> bool {
        if self.icmp_head.is_some() {
            return false;
        }
        let next = self
            .pings
            .iter_mut()
            .flatten()
            .filter(|p| p.queued)
            .min_by_key(|p| (p.sent_ns, p.token));
        let Some(p) = next else {
            return false;
        };
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        if s.send_queue() > 0 {
            return false;
        }
        let payload = p.token.to_be_bytes();
        let repr = Icmpv4Repr::EchoRequest {
            ident: self.icmp_ident,
            seq_no: p.seq,
            data: &payload,
        };
        match s.send(repr.buffer_len(), IpAddress::Ipv4(p.addr)) {
            Ok(buf) => {
                let mut pkt = Icmpv4Packet::new_unchecked(buf);
                repr.emit(&mut pkt, &ChecksumCapabilities::default());
                p.queued = false;
                p.sent_ns = now_ns;
                self.icmp_head = Some((p.token, now_ns));
            }
            Err(icmp::SendError::Unaddressable) => {
                p.queued = false;
                p.result = Some(Err(NetError::InvalidInput));
            }
            Err(icmp::SendError::BufferFull) => return false,
        }
        true
    }

    pub(crate) fn ping_take(&mut self, token: u32) -> Option<Result<u64, NetError>> {
        let slot = self
            .pings
            .iter_mut()
            .find(|p| p.is_some_and(|p| p.token == token))?;
        let result = slot.and_then(|p| p.result)?;
        *slot = None;
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memlink::{self, LinkConfig, MemLink};
    use nexus_net::{Backend, Readiness, SocketAddrV4};

    fn stack(policy: AddrPolicy) -> (NetStack<MemLink>, MemLink) {
        let (a, b) = memlink::pair(LinkConfig::default());
        let cfg = StackConfig::new([2, 0, 0, 0, 0, 9], policy);
        (NetStack::new(a, cfg, 5_000), b)
    }

    fn static_policy() -> AddrPolicy {
        AddrPolicy::Static {
            addr: Ipv4Addr::new(10, 9, 0, 1),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 9, 0, 254)),
        }
    }

    #[test]
    fn time_conversions_round_trip_to_microseconds() {
        assert_eq!(instant(1_999), Instant::from_micros(1));
        assert_eq!(instant_ns(Instant::from_micros(7)), 7_000);
        assert_eq!(instant_ns(Instant::from_micros(-5)), 0);
        assert_eq!(instant_ns(instant(u64::MAX)), u64::MAX / 1000 * 1000);
    }

    #[test]
    fn idle_static_stack_needs_no_timer() {
        let (mut s, _peer) = stack(static_policy());
        assert_eq!(s.poll_at(5_000), Some(5_000), "IfaceUp pending");
        let mut events = Vec::new();
        assert!(s.poll(5_000, &mut |e| events.push(e)));
        assert_eq!(events.len(), 1);
        assert!(!s.poll(6_000, &mut |e| events.push(e)));
        assert_eq!(s.poll_at(6_000), None);
        let info = s.iface_info().unwrap();
        assert_eq!(info.gateway, Some(Ipv4Addr::new(10, 9, 0, 254)));
        assert_eq!(s.iface(), info);
    }

    #[test]
    fn dhcp_stack_schedules_its_discover() {
        let (mut s, peer) = stack(AddrPolicy::Dhcp);
        assert_eq!(s.iface_info(), None);
        assert_eq!(s.poll_at(5_000), Some(5_000));
        s.poll(5_000, &mut |_| {});
        assert_eq!(peer.pending(), 1, "DISCOVER sent");
        let next = s.poll_at(5_000).unwrap();
        // The fallback (qemu-smoke, 30 s) comes after the DISCOVER retries.
        assert_eq!(next, 10_000_005_000, "smoltcp's 10 s DISCOVER retry");
        // Time going backwards is treated as "no time passed".
        assert!(!s.poll(1_000, &mut |_| {}));
    }

    #[test]
    fn stale_and_mismatched_ids_are_rejected_directly() {
        let (mut s, _peer) = stack(static_policy());
        let (u, port) = s.udp_bind(0).unwrap();
        assert!((49152..=65535).contains(&port));
        assert_eq!(s.udp_bind(port).unwrap_err(), NetError::AddrInUse);
        assert_eq!(s.tcp_read(u, &mut [0u8; 4]), Err(NetError::InvalidInput));
        assert_eq!(s.tcp_write(u, b"x"), Err(NetError::InvalidInput));
        assert_eq!(s.tcp_accept(u).unwrap_err(), NetError::InvalidInput);
        s.close(u);
        s.close(u); // twice is harmless
        assert_eq!(
            s.readiness(u),
            Readiness::READABLE | Readiness::HUP | Readiness::ERROR
        );
        let (u2, _) = s.udp_bind(0).unwrap();
        assert_ne!(u, u2, "slot reused with a new generation");
        assert_eq!(
            s.udp_recv_from(u, &mut [0u8; 4]).unwrap_err(),
            NetError::NotFound
        );
        let (l, lp) = s.tcp_listen(0, 4).unwrap();
        assert_eq!(s.tcp_listen(lp, 1).unwrap_err(), NetError::AddrInUse);
        assert_eq!(s.tcp_accept(l).unwrap_err(), NetError::WouldBlock);
        assert_eq!(s.readiness(l), Readiness::EMPTY);
        assert_eq!(s.tcp_read(l, &mut [0u8; 4]), Err(NetError::InvalidInput));
        let (c, _) = s
            .tcp_connect(SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 2), 80), 0)
            .unwrap();
        assert_eq!(s.tcp_read(c, &mut []), Err(NetError::InvalidInput));
        assert_eq!(s.tcp_write(c, &[]), Err(NetError::InvalidInput));
        assert_eq!(s.tcp_write(c, b"early"), Err(NetError::WouldBlock));
        assert_eq!(s.readiness(c), Readiness::EMPTY, "connecting");
        assert_eq!(
            s.tcp_connect(SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 1), 80), 0)
                .unwrap_err(),
            NetError::InvalidInput
        );
        for id in [c, l, u2] {
            s.close(id);
        }
        s.poll(10_000, &mut |_| {});
        let st = s.stats();
        assert_eq!((st.open, st.udp_sockets), (0, 0), "{st:?}");
    }

    #[test]
    fn connect_buffers_are_sized_and_charged_exactly() {
        let (a, _b) = memlink::pair(LinkConfig::default());
        let mut cfg = StackConfig::new([2, 0, 0, 0, 0, 9], static_policy());
        cfg.tcp_connect_buf = 128 * 1024;
        cfg.mem_budget = 600 * 1024;
        let mut s = NetStack::new(a, cfg, 0);
        let peer = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 2), 80);
        let (l, _) = s.tcp_listen(0, 1).unwrap();
        assert_eq!(s.stats().mem_used, 32 * 1024, "armed socket: defaults");
        let (c1, _) = s.tcp_connect(peer, 0).unwrap();
        let (c2, _) = s.tcp_connect(peer, 0).unwrap();
        assert_eq!(s.stats().mem_used, 32 * 1024 + 2 * 256 * 1024);
        assert_eq!(s.tcp_connect(peer, 0).unwrap_err(), NetError::NoBufs);
        for id in [c1, c2, l] {
            s.close(id);
        }
        // Aborted connects are freed once their RST left or after the grace.
        s.poll(1_000, &mut |_| {});
        s.poll(ABORT_GRACE_NS + 2_000, &mut |_| {});
        assert_eq!(s.stats().mem_used, 0);
        assert_eq!(s.stats().tcp_sockets, 0);
    }

    #[test]
    fn ping_table_is_bounded() {
        let (mut s, _peer) = stack(static_policy());
        let mut tokens = Vec::new();
        for seq in 0..(MAX_PINGS as u16 + 8) {
            tokens.push(s.ping_start(Ipv4Addr::new(10, 9, 0, 2), seq, 0).unwrap());
        }
        assert_eq!(s.pings.iter().flatten().count(), MAX_PINGS);
        for t in tokens {
            assert_eq!(s.ping_poll(t, 0), None);
        }
        let own = s.ping_start(Ipv4Addr::new(10, 9, 0, 1), 1, 0).unwrap();
        assert_eq!(s.ping_poll(own, 0), Some(Ok(0)));
        assert_eq!(s.ping_poll(own, 0), None, "taken once");
    }
}
