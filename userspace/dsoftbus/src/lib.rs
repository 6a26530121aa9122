//! DSoftBus for Neuron OS: device discovery, authenticated encrypted sessions, trust and
//! PIN pairing.
//!
//! Design notes:
//! - Layered and sans-IO at the core. [`announce`] is the discovery datagram codec,
//!   [`cache`] the bounded peer cache that ingests announces, [`frame`] the length-prefixed
//!   framing on a TCP byte stream, [`handshake`] the initiator/responder state machines on
//!   top of `nexus-noise-xk`, [`session`] the encrypted record layer, [`mux`] the streams
//!   inside a session (credit flow control, fair scheduling), [`trust`] the trust store
//!   (who may open what, deny by default) and [`pairing`] PIN pairing (SPAKE2 bound to
//!   both static keys, key confirmation, rate limits). None of them performs I/O or reads a clock: bytes go in and out as
//!   slices and time is always a `now_ns` argument (the facade's monotonic nanoseconds).
//! - [`driver`] is the only module that talks to the network, through the sockets-facade
//!   client [`nexus_net::NetClient`]: a blocking `connect_session` / `accept_session` pair,
//!   a non-blocking [`driver::PendingSession`] for event loops, record send/receive and
//!   discovery helpers. `dsoftbusd` and host tests use the same code.
//! - Standard `Noise_XK_25519_ChaChaPoly_BLAKE2s` with the fixed prologue [`PROLOGUE`];
//!   everything after the handshake is encrypted. Device ids are derived from static
//!   keys ([`identity::DeviceId`]): an announce or a handshake claim whose id its key does
//!   not derive is refused. Identity binding is strict: the
//!   initiator pins the static key announced for the device it dials, the responder
//!   accepts an initiator only if its authenticated static key equals the key currently
//!   cached for the device id it claims (inside the encrypted message 3). A mismatch ends
//!   in [`AuthError::Identity`] and no [`Session`] is ever built.
//! - No randomness and no RNG dependency: every handshake takes a 32-byte ephemeral secret
//!   from the caller, which must come from a CSPRNG in production.
//! - Bounded everywhere: announces are at most [`MAX_ANNOUNCE_LEN`] bytes, the cache holds
//!   at most its configured capacity, frames and records have fixed maxima, and each
//!   connection owns two fixed-size buffers. Decoders are total (never panic).
//! - `no_std` + `alloc`, no `unsafe`; builds for `riscv64imac-unknown-none-elf`.
//!
//! The byte-level contract (announce layout with a golden vector, cache rules, framing,
//! handshake payloads, record format) is `docs/dsoftbus.md`.
//!
//! Sans-IO in memory (the driver does the same over facade TCP streams):
//!
//! ```
//! use dsoftbus::{Announce, CacheConfig, Handshake, LocalIdentity, NoDirectory, PeerCache,
//!                PeerEntry, Record, StaticKeypair};
//! use core::net::Ipv4Addr;
//!
//! // Secrets and ephemerals must come from a CSPRNG in real use.
//! // Device ids are derived from the static public keys.
//! let a = LocalIdentity::new(StaticKeypair::from_secret([1; 32]));
//! let b = LocalIdentity::new(StaticKeypair::from_secret([2; 32]));
//!
//! // Discovery: each side caches the other's announce (source address = peer address).
//! let mut datagram = [0u8; dsoftbus::MAX_ANNOUNCE_LEN];
//! let n = a.announce(1, 34567, &["samgrd"]).unwrap().encode(&mut datagram).unwrap();
//! let mut b_cache = PeerCache::new(CacheConfig::default());
//! b_cache.ingest(&datagram[..n], Ipv4Addr::new(10, 0, 0, 1), 0).unwrap();
//! let b_entry = PeerEntry::from_announce(&b.announce(1, 34568, &[]).unwrap(),
//!                                        Ipv4Addr::new(10, 0, 0, 2), 0);
//!
//! // Handshake: move bytes until both sides are established.
//! let mut init = Handshake::initiator(&a, &b_entry, [3; 32], 1_000_000_000).unwrap();
//! let mut resp = Handshake::responder(&b, [4; 32], 1_000_000_000);
//! while !(init.is_established() && resp.is_established()) {
//!     let out = init.pending_output().to_vec();
//!     init.consume_output(out.len());
//!     resp.feed(&out, &b_cache.at(0)).unwrap();
//!     let out = resp.pending_output().to_vec();
//!     resp.consume_output(out.len());
//!     init.feed(&out, &NoDirectory).unwrap();
//! }
//! let (mut sa, mut sb) = (init.take_session().unwrap(), resp.take_session().unwrap());
//! assert_eq!(sb.peer_device_id(), a.device_id());
//!
//! // Records are encrypted frames.
//! let mut wire = [0u8; dsoftbus::MAX_WIRE_FRAME];
//! let n = sa.seal(&Record::Ping(7), &mut wire).unwrap();
//! sb.feed(&wire[..n]);
//! assert_eq!(sb.open().unwrap(), Some(Record::Ping(7)));
//! ```

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod announce;
pub mod cache;
pub mod daemon;
pub mod driver;
pub mod frame;
pub mod handshake;
pub mod identity;
pub mod keyrecord;
pub mod mux;
pub mod pairing;
pub mod session;
pub mod trust;

pub use announce::{Announce, DecodeError, EncodeError, Invalid};
pub use cache::{Accepted, CacheConfig, CacheStats, PeerCache, PeerEntry, Rejected};
pub use driver::{accept_session, connect_session, recv_record, send_record, Connection};
pub use frame::FrameError;
pub use handshake::{
    AuthError, Handshake, IdentityError, LocalIdentity, NoDirectory, PeerDirectory,
};
pub use identity::{DeviceId, Escaped, DEVICE_ID_LEN};
pub use session::{Record, Session, SessionError};
pub use trust::{TrustEntry, TrustError, TrustOrigin, TrustStore};

pub use nexus_noise_xk::{EphemeralKeypair, StaticKeypair};

/// Default UDP port for discovery announces.
pub const DISCOVERY_PORT: u16 = 37020;

/// Announce magic, the first four bytes of every announce.
pub const MAGIC: [u8; 4] = *b"NXSB";

/// The only announce version this crate speaks.
pub const ANNOUNCE_VERSION: u8 = 2;

/// Longest device id in bytes (UTF-8); the shortest is 1.
pub const MAX_DEVICE_ID_LEN: usize = 64;

/// Most service names one announce may carry.
pub const MAX_SERVICES: usize = 16;

/// Longest service name in bytes (UTF-8); the shortest is 1.
pub const MAX_SERVICE_NAME_LEN: usize = 64;

/// Longest display name in an announce, in bytes (UTF-8, no control characters); may be empty.
pub const MAX_DISPLAY_NAME_LEN: usize = 64;

/// Length of an X25519 (Noise static) public key.
pub const KEY_LEN: usize = 32;

/// Bytes of an announce before the device id: magic, version, seq, port, key, id length.
pub const ANNOUNCE_HEADER_LEN: usize = 4 + 1 + 4 + 2 + KEY_LEN + 1;

/// Shortest valid announce: 1-byte device id, no services, no display name (47 bytes).
pub const MIN_ANNOUNCE_LEN: usize = ANNOUNCE_HEADER_LEN + 1 + 1 + 1;

/// Longest valid announce: 64-byte device id, 16 services of 64 bytes and a 64-byte display
/// name (1214 bytes).
pub const MAX_ANNOUNCE_LEN: usize = ANNOUNCE_HEADER_LEN
    + MAX_DEVICE_ID_LEN
    + 1
    + MAX_SERVICES * (1 + MAX_SERVICE_NAME_LEN)
    + 1
    + MAX_DISPLAY_NAME_LEN;

/// Noise prologue of every DSoftBus session (binds the transcript to this protocol version).
pub const PROLOGUE: &[u8] = b"NXSB/session/v1";

/// Largest application payload of one [`Record::Data`] record.
pub const MAX_RECORD_PAYLOAD: usize = 4096;

/// Largest frame body on a session stream: record type + payload + 16-byte tag (4113).
pub const MAX_FRAME_LEN: usize = 1 + MAX_RECORD_PAYLOAD + nexus_noise_xk::TAG_LEN;

/// Largest frame body accepted while the handshake runs (messages 1..3, confirm/reject).
pub const MAX_HANDSHAKE_FRAME_LEN: usize = 256;

/// Bytes of the frame length prefix (u16, big-endian).
pub const FRAME_HEADER_LEN: usize = 2;

/// Largest complete frame on the wire (header + body).
pub const MAX_WIRE_FRAME: usize = FRAME_HEADER_LEN + MAX_FRAME_LEN;

const _: () = assert!(MAX_ANNOUNCE_LEN == 1214);
const _: () = assert!(MAX_ANNOUNCE_LEN <= nexus_net::MAX_DATAGRAM);
const _: () = assert!(MAX_WIRE_FRAME <= nexus_net::MAX_IO);
const _: () = assert!(MAX_FRAME_LEN <= nexus_noise_xk::MAX_MESSAGE_LEN);
const _: () = assert!(MAX_FRAME_LEN <= u16::MAX as usize);
