//! Pure, host-tested core of the *bring-up lite* networking path.
//!
//! The lite path is a deliberately small alternative to the canonical
//! smoltcp-based `netstackd`: four services (`virtionetd-lite`,
//! `netstackd-lite`, `echod`, `fetchd`, see `docs/lite-path.md`) whose logic
//! lives here so that it can be tested on the host with frames in memory and
//! a virtual clock (the frame interface between netstackd-lite and
//! virtionetd-lite is generated: `nexus_interfaces::vn`):
//!
//! - [`wire`]: total parsers and builders for Ethernet, ARP, IPv4, ICMP, UDP
//!   and DHCP. Every parser takes `&[u8]` and returns `Result`; nothing
//!   indexes without a bounds check and nothing allocates.
//! - [`virtq`]: split-virtqueue driver-side ring logic over an abstract ring
//!   memory ([`virtq::RingMem`]), so index wrap-around, full rings and a
//!   misbehaving device are testable without hardware.
//! - [`stack`]: the `netstackd-lite` core: interfaces `lo` and `virt0`, a
//!   bounded ARP cache, IPv4, ICMP echo, UDP sockets, a DHCP stub client and
//!   the host-local stream shim. Time is passed in (monotonic ns). Its
//!   sockets implement the sockets facade's `nexus_net::Backend`, so local
//!   clients reach it through `nexus_net::dispatch` and `NetClient` exactly
//!   as they reach the canonical `netstackd` (there is no lite sockets
//!   protocol).
//! - [`http`]: a bounded HTTP/1.0 response/request parser for `fetchd` and
//!   the responder in `echod`.
//!
//! Design rules: `no_std` + `alloc`, `forbid(unsafe_code)`, every buffer and
//! queue has a fixed bound, and no input can panic (tests feed truncations at
//! every length and corrupted fields).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod http;
pub mod stack;
pub mod virtq;
pub mod wire;
