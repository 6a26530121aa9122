//! Well-known capability slots of each service, shared by init and services.
//!
//! Init places the capabilities a boot profile grants at these slots; the
//! service reads them from the same constants, so the two cannot drift.
//! Slot 0 is init's own control capability and is empty in every other task.

/// Init's own table, as created by the kernel.
pub mod init {
    /// The init-control capability.
    pub const CONTROL: u32 = 0;
    /// The DMA budget capability.
    pub const DMA: u32 = 1;
    /// First virtio-mmio device capability; one per device-tree slot follows.
    pub const MMIO_FIRST: u32 = 2;
    /// At most this many virtio-mmio slots are handed to init.
    pub const MMIO_MAX: u32 = 8;
}

/// `selftest-client`.
pub mod selftest_client {
    /// Send (+grant) capability to the selftest server endpoint.
    pub const SERVER: u32 = 1;
    /// Send capability to init's control endpoint.
    pub const INIT: u32 = 2;
}

/// `selftest-server` (also the peer of the IPC benchmark).
pub mod selftest_server {
    /// Receive capability of its endpoint.
    pub const ENDPOINT: u32 = 1;
    /// The slot it offers for a capability a client transfers.
    pub const ACCEPT: u32 = 2;
}

/// `bench-client`.
pub mod bench_client {
    /// Send capability to the selftest server endpoint.
    pub const SERVER: u32 = 1;
}

/// `selftest-dma`.
pub mod selftest_dma {
    /// DMA budget capability.
    pub const DMA: u32 = 1;
}

/// `netstackd`.
pub mod netstackd {
    /// Receive capability of the sockets-facade endpoint.
    pub const ENDPOINT: u32 = 1;
    /// The virtio-net MMIO + interrupt capability (MAP right).
    pub const NET_MMIO: u32 = 2;
    /// DMA budget capability.
    pub const DMA: u32 = 3;
}

/// `selftest-net` (a sockets-facade client).
pub mod selftest_net {
    /// Client (send) capability to netstackd's endpoint.
    pub const NET: u32 = 1;
    /// Send capability to init's endpoint (status of the hostile client).
    pub const INIT: u32 = 2;
    /// A second client capability to netstackd (another badge): the
    /// in-process hostile identity of the 100,000-request barrage.
    pub const NET_HOSTILE: u32 = 3;
}

/// `bench-net` (a sockets-facade client).
pub mod bench_net {
    /// Client (send) capability to netstackd's endpoint.
    pub const NET: u32 = 1;
}

/// `rngd`.
pub mod rngd {
    /// Receive capability of its endpoint.
    pub const ENDPOINT: u32 = 1;
    /// The virtio-rng MMIO capability (MAP right).
    pub const RNG_MMIO: u32 = 2;
    /// DMA budget capability.
    pub const DMA: u32 = 3;
}

/// `dsoftbusd` (and the selftest peers that speak DSoftBus).
pub mod dsoftbusd {
    /// Client capability to netstackd's endpoint.
    pub const NET: u32 = 1;
    /// Client capability to rngd's endpoint.
    pub const RNG: u32 = 2;
}

/// `selftest-dsoftbus` (the second DSoftBus node of the smoke, and the impostor).
pub mod selftest_dsoftbus {
    /// Client capability to netstackd's endpoint.
    pub const NET: u32 = 1;
    /// Send capability to init's endpoint (the impostor waits for the peer).
    pub const INIT: u32 = 2;
}

/// `virtionetd-lite` (bring-up lite path): the virtio-net frontend.
pub mod virtionetd_lite {
    /// Receive capability of its endpoint: frame requests from
    /// netstackd-lite, init's client-gone notices, and the device's
    /// interrupt notices (`IrqBind`).
    pub const ENDPOINT: u32 = 1;
    /// The virtio-net MMIO + interrupt capability (MAP right).
    pub const NET_MMIO: u32 = 2;
    /// DMA budget capability (rings and frame buffers: 18 pages).
    pub const DMA: u32 = 3;
}

/// `netstackd-lite` (bring-up lite path): the smoltcp-free stack.
pub mod netstackd_lite {
    /// Receive capability of its sockets endpoint ("LN" protocol).
    pub const ENDPOINT: u32 = 1;
    /// Client (send) capability to virtionetd-lite's endpoint ("VN" protocol).
    pub const DRIVER: u32 = 2;
}

/// `echod` (bring-up lite path): UDP echo and the loopback HTTP responder.
pub mod echod {
    /// Client (send) capability to netstackd-lite's endpoint.
    pub const NET: u32 = 1;
}

/// `fetchd` (bring-up lite path): the loopback HTTP client and lo ping.
pub mod fetchd {
    /// Client (send) capability to netstackd-lite's endpoint.
    pub const NET: u32 = 1;
}

/// `selftest-kernel` (kernel hardening proofs; one image, several roles).
pub mod selftest_kernel {
    /// Send capability to init's endpoint (status queries).
    pub const INIT: u32 = 1;
    /// The "doomed" endpoint: send+grant for the checker, receive for the
    /// doomed server.
    pub const DOOMED: u32 = 2;
    /// Send+grant capability to the selftest server (it offers a slot).
    pub const SERVER: u32 = 3;
    /// An empty virtio-mmio transport (no device behind it): the target of
    /// the repeated-`MmioMap` check.
    pub const MMIO: u32 = 4;
}

/// `syscall-fuzz`.
pub mod syscall_fuzz {
    /// Send capability to the selftest server (echo peer for the payload
    /// oracle).
    pub const SERVER: u32 = 1;
}
