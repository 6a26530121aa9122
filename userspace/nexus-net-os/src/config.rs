//! Stack configuration: address policy, buffer sizes and resource limits.
//!
//! Design notes
//! ------------
//! * Every limit is explicit and bounded. `netstackd` runs on a fixed-size
//!   heap (`nexus_rt::HEAP_SIZE`), so socket buffers are charged against a
//!   byte budget ([`StackConfig::mem_budget`]) and the number of smoltcp
//!   sockets is capped ([`StackConfig::max_sockets`]). Running out of either
//!   is reported as `NoBufs`, never as an allocation failure.
//! * [`StackConfig::sanitized`] clamps every field into a safe range, so a
//!   caller cannot configure the stack into a panic (zero-sized buffers, a
//!   prefix over 32, a multicast MAC that smoltcp would reject).

use crate::Ipv4Addr;

/// Static address used by the `qemu-smoke` DHCP fallback (QEMU user-net guest).
pub const QEMU_FALLBACK_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// Prefix length of the `qemu-smoke` fallback subnet.
pub const QEMU_FALLBACK_PREFIX: u8 = 24;
/// Gateway of the `qemu-smoke` fallback (QEMU user-net router).
pub const QEMU_FALLBACK_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// How long DHCP may go without a lease before the `qemu-smoke` fallback is
/// applied, in nanoseconds of the caller's monotonic clock (30 s).
///
/// It covers DHCP's normal retry window, so the fallback never pre-empts a
/// server that answers: smoltcp sends a DISCOVER at 0, 10 and 20 s (its
/// fixed 10 s DISCOVER retry) and retries a REQUEST after 5 s. A server that
/// first probes the address for 3 s (dnsmasq's default ping check) binds by
/// about 3 s; with the first DISCOVER or OFFER lost, by about 13 s; with a
/// REQUEST lost as well, by about 18 s; answering only the third DISCOVER,
/// by about 23 s. The fallback is armed once, from boot: it is never applied
/// after a real lease was held.
pub const DHCP_FALLBACK_WAIT_NS: u64 = 30_000_000_000;

/// Default TCP receive buffer per socket, in bytes.
pub const DEFAULT_TCP_RX_BUF: usize = 16 * 1024;
/// Default TCP send buffer per socket, in bytes.
pub const DEFAULT_TCP_TX_BUF: usize = 16 * 1024;
/// Default UDP receive queue: datagrams per socket.
pub const DEFAULT_UDP_RX_PACKETS: usize = 16;
/// Default UDP receive queue: payload bytes per socket.
pub const DEFAULT_UDP_RX_BYTES: usize = 8 * 1024;
/// Default UDP send queue: datagrams per socket.
pub const DEFAULT_UDP_TX_PACKETS: usize = 8;
/// Default UDP send queue: payload bytes per socket.
pub const DEFAULT_UDP_TX_BYTES: usize = 4 * 1024;
/// Default cap on TCP/UDP smoltcp sockets (armed listener sockets and
/// closing sockets included).
pub const DEFAULT_MAX_SOCKETS: usize = 64;
/// Hard upper bound for [`StackConfig::max_sockets`].
pub const MAX_SOCKETS_LIMIT: usize = 256;
/// Default cap on smoltcp sockets armed per listener (the effective backlog
/// is `min(backlog, max_listen_sockets)`, further limited by the budget).
pub const DEFAULT_MAX_LISTEN_SOCKETS: usize = 4;
/// Default byte budget for all socket buffers (fits the 1 MiB service heap
/// with room for the interface, the facade buffers and the NIC driver).
pub const DEFAULT_MEM_BUDGET: usize = 768 * 1024;
/// Default graceful-close linger: a closed stream that has not finished its
/// FIN handshake by then is aborted (RST) and freed.
pub const DEFAULT_LINGER_NS: u64 = 10_000_000_000;
/// Default idle timeout of a half-open connection on a listener (SYN
/// received, handshake never completed) before the slot is recycled.
pub const DEFAULT_HALF_OPEN_TIMEOUT_NS: u64 = 30_000_000_000;

/// Default lower bound of the TCP retransmission timeout: 50 ms. Above
/// Linux's 40 ms delayed-ACK limit (no spurious timeouts on a lone tail
/// segment), far below RFC 6298's 1 s: a segment that fast retransmit
/// cannot repair (a lost retransmission) is resent after 50 ms, not 1 s.
/// The RTO still follows the measured round trip (srtt + 4 rttvar) above it.
pub const DEFAULT_TCP_MIN_RTO_NS: u64 = 50_000_000;

/// Smallest accepted TCP buffer, in bytes.
pub const MIN_TCP_BUF: usize = 2 * 1024;
/// Largest accepted TCP buffer, in bytes.
pub const MAX_TCP_BUF: usize = 4 * 1024 * 1024;

/// How the interface gets its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrPolicy {
    /// Run a DHCPv4 client (smoltcp `dhcpv4::Socket`). A lease sets the
    /// address, prefix and default route. With the `qemu-smoke` feature a
    /// static fallback is applied after [`DHCP_FALLBACK_WAIT_NS`] from boot
    /// if no lease was ever held; without it (or after a lease expired) the
    /// interface stays unaddressed until a lease.
    Dhcp,
    /// Fixed configuration, applied at construction.
    Static {
        /// Interface address.
        addr: Ipv4Addr,
        /// Subnet prefix length (values over 32 are clamped to 32).
        prefix_len: u8,
        /// Default gateway, if any.
        gateway: Option<Ipv4Addr>,
    },
}

/// Configuration of a [`NetStack`](crate::NetStack).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// Ethernet MAC address (the multicast bit is cleared if set).
    pub mac: [u8; 6],
    /// Address policy.
    pub policy: AddrPolicy,
    /// TCP receive buffer (and advertised window) per socket, in bytes.
    pub tcp_rx_buf: usize,
    /// TCP send buffer per socket, in bytes.
    pub tcp_tx_buf: usize,
    /// UDP receive queue length in datagrams.
    pub udp_rx_packets: usize,
    /// UDP receive queue payload storage in bytes (at least `MAX_DATAGRAM`).
    pub udp_rx_bytes: usize,
    /// UDP send queue length in datagrams.
    pub udp_tx_packets: usize,
    /// UDP send queue payload storage in bytes (at least `MAX_DATAGRAM`).
    pub udp_tx_bytes: usize,
    /// Cap on TCP and UDP smoltcp sockets, all kinds together (armed
    /// listener sockets and closing streams count). Clamped to
    /// `1..=MAX_SOCKETS_LIMIT`.
    pub max_sockets: usize,
    /// Cap on smoltcp sockets armed per listener (`1..=MAX_BACKLOG`).
    pub max_listen_sockets: usize,
    /// Byte budget for all socket buffers together.
    pub mem_budget: usize,
    /// Seed for TCP initial sequence numbers, DHCP transaction ids and the
    /// ephemeral port cursor. Pass something that differs across boots.
    pub random_seed: u64,
    /// How long a closed stream may take to finish its FIN handshake.
    pub linger_ns: u64,
    /// How long a listener keeps a half-open (SYN received) connection.
    pub half_open_timeout_ns: u64,
    /// The device delivers frames addressed to ourselves (and broadcasts)
    /// back to the stack, as netstackd's `SelfLoop` does; then TCP connects
    /// to our own address are allowed. Default false.
    pub local_delivery: bool,
    /// Lower bound of the TCP retransmission timeout (smoltcp's default,
    /// RFC 6298's 1 s, stalls a transfer for a second on every loss fast
    /// retransmit cannot repair). Clamped to 1 ms..=60 s.
    pub tcp_min_rto_ns: u64,
    /// Buffer size (each way) of streams opened with `TcpConnect`; 0 = the
    /// `tcp_rx_buf`/`tcp_tx_buf` sizes. Armed listener sockets keep the
    /// smaller defaults, so a bulk client gets a large window (window
    /// scaling above 64 KiB) without every idle listener slot costing as
    /// much. Clamped like the other TCP buffers.
    pub tcp_connect_buf: usize,
}

impl StackConfig {
    /// A configuration with the default sizes and limits (16 KiB TCP
    /// buffers each way, 64 sockets, 768 KiB budget).
    pub fn new(mac: [u8; 6], policy: AddrPolicy) -> Self {
        let seed = mac.iter().fold(0x6e65_7875_735f_6f73_u64, |acc, b| {
            acc.rotate_left(8) ^ u64::from(*b)
        });
        StackConfig {
            mac,
            policy,
            local_delivery: false,
            tcp_rx_buf: DEFAULT_TCP_RX_BUF,
            tcp_tx_buf: DEFAULT_TCP_TX_BUF,
            udp_rx_packets: DEFAULT_UDP_RX_PACKETS,
            udp_rx_bytes: DEFAULT_UDP_RX_BYTES,
            udp_tx_packets: DEFAULT_UDP_TX_PACKETS,
            udp_tx_bytes: DEFAULT_UDP_TX_BYTES,
            max_sockets: DEFAULT_MAX_SOCKETS,
            max_listen_sockets: DEFAULT_MAX_LISTEN_SOCKETS,
            mem_budget: DEFAULT_MEM_BUDGET,
            random_seed: seed,
            linger_ns: DEFAULT_LINGER_NS,
            half_open_timeout_ns: DEFAULT_HALF_OPEN_TIMEOUT_NS,
            tcp_min_rto_ns: DEFAULT_TCP_MIN_RTO_NS,
            tcp_connect_buf: 0,
        }
    }

    /// Bytes charged against the budget for one TCP socket.
    pub fn tcp_socket_cost(&self) -> usize {
        self.tcp_rx_buf.saturating_add(self.tcp_tx_buf)
    }

    /// Bytes charged against the budget for one UDP socket (payload storage
    /// plus per-datagram metadata).
    pub fn udp_socket_cost(&self) -> usize {
        let meta = core::mem::size_of::<smoltcp::socket::udp::PacketMetadata>();
        self.udp_rx_bytes
            .saturating_add(self.udp_tx_bytes)
            .saturating_add(
                self.udp_rx_packets
                    .saturating_add(self.udp_tx_packets)
                    .saturating_mul(meta),
            )
    }

    /// The same configuration with every field clamped into its valid range.
    pub fn sanitized(mut self) -> Self {
        self.mac[0] &= !0x01;
        self.tcp_rx_buf = self.tcp_rx_buf.clamp(MIN_TCP_BUF, MAX_TCP_BUF);
        self.tcp_tx_buf = self.tcp_tx_buf.clamp(MIN_TCP_BUF, MAX_TCP_BUF);
        self.udp_rx_packets = self.udp_rx_packets.clamp(1, 1024);
        self.udp_tx_packets = self.udp_tx_packets.clamp(1, 1024);
        self.udp_rx_bytes = self
            .udp_rx_bytes
            .clamp(nexus_net::MAX_DATAGRAM, 1024 * 1024);
        self.udp_tx_bytes = self
            .udp_tx_bytes
            .clamp(nexus_net::MAX_DATAGRAM, 1024 * 1024);
        self.max_sockets = self.max_sockets.clamp(1, MAX_SOCKETS_LIMIT);
        self.max_listen_sockets = self
            .max_listen_sockets
            .clamp(1, usize::from(nexus_net::MAX_BACKLOG));
        if self.tcp_connect_buf != 0 {
            self.tcp_connect_buf = self.tcp_connect_buf.clamp(MIN_TCP_BUF, MAX_TCP_BUF);
        }
        self.tcp_min_rto_ns = self.tcp_min_rto_ns.clamp(1_000_000, 60_000_000_000);
        if let AddrPolicy::Static { prefix_len, .. } = &mut self.policy {
            *prefix_len = (*prefix_len).min(32);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sane() {
        let c = StackConfig::new([2, 0, 0, 0, 0, 1], AddrPolicy::Dhcp);
        assert!(c.tcp_rx_buf >= 16 * 1024 && c.tcp_tx_buf >= 16 * 1024);
        assert_eq!(c.max_sockets, 64);
        assert!(c.mem_budget >= 16 * c.tcp_socket_cost());
        assert_eq!(c.sanitized(), c, "defaults are already in range");
        assert_ne!(
            c.random_seed,
            StackConfig::new([2, 0, 0, 0, 0, 2], AddrPolicy::Dhcp).random_seed
        );
    }

    #[test]
    fn sanitize_clamps_everything() {
        let mut c = StackConfig::new(
            [0xff; 6],
            AddrPolicy::Static {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                prefix_len: 99,
                gateway: None,
            },
        );
        c.tcp_rx_buf = 0;
        c.tcp_tx_buf = usize::MAX;
        c.udp_rx_packets = 0;
        c.udp_rx_bytes = 1;
        c.max_sockets = 100_000;
        c.max_listen_sockets = 0;
        let s = c.sanitized();
        assert_eq!(s.mac[0] & 1, 0, "multicast bit cleared");
        assert_eq!((s.tcp_rx_buf, s.tcp_tx_buf), (MIN_TCP_BUF, MAX_TCP_BUF));
        assert_eq!(s.udp_rx_packets, 1);
        assert_eq!(s.udp_rx_bytes, nexus_net::MAX_DATAGRAM);
        assert_eq!(s.max_sockets, MAX_SOCKETS_LIMIT);
        assert_eq!(s.max_listen_sockets, 1);
        assert!(matches!(
            s.policy,
            AddrPolicy::Static { prefix_len: 32, .. }
        ));
    }
}
