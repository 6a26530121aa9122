//! nexus-net-os: the smoltcp backend of the nexus-net sockets facade.
//!
//! Design notes
//! ------------
//! `netstackd` owns the NIC and serves the sockets facade defined by
//! `nexus-net` (`docs/sockets-facade.md`). This crate is the real network
//! stack behind that facade:
//!
//! * [`NetStack`] wraps a smoltcp interface over any smoltcp
//!   [`Device`](smoltcp::phy::Device), applies the address policy
//!   ([`AddrPolicy`]: DHCP with an optional QEMU fallback, or static), and
//!   implements [`nexus_net::Backend`], so `nexus_net::dispatch` and
//!   `nexus_net::Server` drive it exactly like the fake backend in host tests.
//! * [`virtio`]: a non-blocking smoltcp device over a small virtio-net
//!   driver on virtio-drivers' transport and virtqueues, with checksum and
//!   segmentation offload when the device offers them (runs on the OS only).
//! * [`offload`]: the virtio-net header for those offloads and a reference
//!   segmenter (host-tested).
//! * [`memlink`]: a deterministic in-memory Ethernet link (two devices,
//!   bounded queues, frame tap, fault hook) for host tests and the bench.
//! * `testing` (feature `testing`): two stacks on a memlink, one facade
//!   server each, and an in-process `Transport` for `NetClient`.
//!
//! Time is always the caller's monotonic clock in nanoseconds; the stack
//! never counts loops. Memory is bounded: socket count and socket buffer
//! bytes are capped by [`StackConfig`], frame queues are bounded, and
//! buffers are allocated fallibly (`NoBufs` instead of an abort). Nothing
//! here panics on input from the network or from clients.
//!
//! The crate is `no_std` + `alloc` (the runtime provides the global
//! allocator). `unsafe` appears only in [`virtio`], where virtio-drivers
//! requires it, each block with a `// SAFETY:` comment.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod backend;
mod config;
mod guard;
mod stack;

pub mod memlink;
pub mod offload;
pub mod virtio;

/// A transmit token that builds its frame in the device's own buffer and
/// can still withhold it afterwards: a wrapper that decides from the built
/// frame whether it goes to the wire (netstackd's local delivery) needs no
/// buffer and no copy of its own.
pub trait TxBuild: smoltcp::phy::TxToken {
    /// Builds a `len`-byte frame with `f`; the frame is sent only if `f`
    /// returns `true` beside its result.
    fn build<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> (R, bool);
}

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{
    AddrPolicy, StackConfig, DEFAULT_HALF_OPEN_TIMEOUT_NS, DEFAULT_LINGER_NS,
    DEFAULT_MAX_LISTEN_SOCKETS, DEFAULT_MAX_SOCKETS, DEFAULT_MEM_BUDGET, DEFAULT_TCP_MIN_RTO_NS,
    DEFAULT_TCP_RX_BUF, DEFAULT_TCP_TX_BUF, DEFAULT_UDP_RX_BYTES, DEFAULT_UDP_RX_PACKETS,
    DEFAULT_UDP_TX_BYTES, DEFAULT_UDP_TX_PACKETS, DHCP_FALLBACK_WAIT_NS, MAX_SOCKETS_LIMIT,
    MAX_TCP_BUF, MIN_TCP_BUF, QEMU_FALLBACK_ADDR, QEMU_FALLBACK_GATEWAY, QEMU_FALLBACK_PREFIX,
};
pub use guard::{GuardStats, LEARN_ENTRIES, NEIGHBOR_REFRESH_NS};
pub use nexus_net::{IfaceInfo, Ipv4Addr};
pub use stack::{
    NetEvent, NetStack, SocketId, StackStats, MAX_EGRESS_ROUNDS, MAX_INGRESS_PER_POLL, MAX_PINGS,
    REASSEMBLY_MAX, REASSEMBLY_TIMEOUT_NS, TIME_WAIT_NS, TX_BLOCKED_RECHECK_NS,
};

/// Re-export of the smoltcp version this crate is built on.
pub use smoltcp;
