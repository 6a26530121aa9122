//! nexus-net: the sockets facade contract between `netstackd` and its client services.
//!
//! Design notes
//! ------------
//! Networking in Neuron OS runs in userspace: `netstackd` owns the NIC, runs
//! smoltcp and serves a small *sockets facade* to other services over the
//! kernel's synchronous call/reply IPC. This crate is the single source of
//! truth for that facade and is shared by both sides:
//!
//! * [`types`], [`error`]: the contract vocabulary: handles, readiness flags,
//!   limits and the `#[repr(u16)]` error model.
//! * [`wire`]: the versioned, little-endian, fixed-layout message codec.
//!   Decoding is total (never panics, never allocates) and returns zero-copy
//!   views into the input. `docs/sockets-facade.md` documents every byte.
//! * [`handle`]: the server-side per-client handle table with generation
//!   counters, so a reused slot never answers to a stale handle.
//! * [`server`]: the [`Backend`] trait and [`dispatch`], the one code path
//!   `netstackd` runs per request, plus the bounded parking queue that holds
//!   `wait`/`ping` requests answered later (or `TimedOut` at their deadline).
//! * [`client`]: a transport-agnostic typed client ([`NetClient`]) for
//!   services such as `dsoftbusd`.
//! * `fake` (cargo feature `fake`): a deterministic in-memory multi-node
//!   network with a virtual clock that implements [`Backend`], for host tests.
//!
//! The server never blocks on a client: every operation is non-blocking and
//! returns [`NetError::WouldBlock`] when it cannot complete now. A client that
//! wants to sleep sends `wait(handle, interest, deadline_ns)`, which the
//! server parks and answers when the handle becomes ready or the absolute
//! monotonic deadline passes. Because such replies leave the server later,
//! every reply carries the request's correlation id.
//!
//! The crate is `no_std` (plus `alloc` for the client's message buffers and
//! the fake network) and contains no `unsafe` code.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod client;
pub mod error;
pub mod handle;
pub mod server;
pub mod shared;
pub mod types;
pub mod wire;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::{NetClient, Transport};
pub use error::NetError;
pub use handle::{HandleKind, HandleTable};
pub use server::{dispatch, dispatch_shared, Backend, Outcome, ParkQueue, Server};
pub use shared::{region_op, SharedRegions};
pub use types::{
    AddrSource, ClientId, Handle, IfaceInfo, Ipv4Addr, LinkInfo, Readiness, SocketAddrV4,
    TcpListener, TcpStream, UdpSocket,
};
pub use wire::{
    decode_reply, decode_request, encode_reply, encode_request, Op, Reply, Request, WaitSet,
    MAX_WAIT_SET,
};

/// Largest IPC message (request or reply) the kernel copies, in bytes.
///
/// Mirrors the kernel's `MSG_MAX`; the ABI crate is checked against it.
pub const FACADE_MSG_MAX: usize = 8192;

/// Wire protocol major version spoken by this crate.
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest TCP read or write payload carried in one message, in bytes.
///
/// `FACADE_MSG_MAX` minus 64 bytes of room for headers; the largest framing
/// overhead of any message is 28 bytes, so every legal message fits.
pub const MAX_IO: usize = FACADE_MSG_MAX - 64;

/// Largest UDP datagram payload, in bytes: a 1500-byte Ethernet MTU minus
/// the IPv4 (20) and UDP (8) headers. The facade never fragments.
pub const MAX_DATAGRAM: usize = 1472;

/// Open handles (listeners, streams, UDP sockets) one client may hold.
pub const MAX_HANDLES_PER_CLIENT: usize = 16;

/// Clients with at least one open handle that the server tracks at once.
pub const MAX_CLIENTS: usize = 32;

/// Parked `wait`/`ping` requests the server holds at once (all clients).
pub const MAX_PARKED: usize = 32;

/// Parked `wait`/`ping` requests one client may have at once.
pub const MAX_PARKED_PER_CLIENT: usize = 4;

/// Most clients with a notify route (`Server::add_notify_route`): each may
/// keep one armed `WaitArm` set.
pub const MAX_NOTIFY_ROUTES: usize = 4;

/// Largest payload of one `TcpWriteShared` / `TcpReadShared` (bytes of the
/// client's shared region moved by one request).
pub const MAX_SHARED_IO: usize = 64 * 1024;

/// Largest shared region a client may attach (one 64-page kernel memory
/// object).
pub const MAX_SHARED_REGION: usize = 256 * 1024;

/// Clients with a shared region attached at once (each one is a mapping
/// in the server's address space).
pub const MAX_SHARED_CLIENTS: usize = 4;

/// Largest accepted TCP listen backlog; requests are clamped to `1..=MAX_BACKLOG`.
pub const MAX_BACKLOG: u8 = 16;

// The limits must leave every message inside one kernel IPC message.
const _: () = assert!(wire::REQUEST_HEADER_LEN + 12 + MAX_IO <= FACADE_MSG_MAX);
const _: () = assert!(wire::REPLY_HEADER_LEN + 8 + MAX_IO <= FACADE_MSG_MAX);
const _: () = assert!(MAX_DATAGRAM <= MAX_IO);
const _: () = assert!(MAX_HANDLES_PER_CLIENT <= 255);
const _: () = assert!(MAX_PARKED_PER_CLIENT <= MAX_PARKED);
