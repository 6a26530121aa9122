//! `Noise_XK_25519_ChaChaPoly_BLAKE2s` handshake and transport for Neuron OS, `no_std`, no alloc.
//!
//! Design notes:
//! - Implements exactly one protocol from the Noise Protocol Framework (revision 34): pattern
//!   XK (`<- s` / `-> e, es` / `<- e, ee` / `-> s, se`), DH 25519, cipher ChaChaPoly, hash
//!   BLAKE2s, no PSK. Nothing is negotiable, so there is no name parsing or algorithm table.
//! - No RNG dependency: each side passes its 32-byte ephemeral secret in. The OS supplies fresh
//!   random bytes; tests supply fixed ones, which makes published vectors reproducible.
//! - No allocation: all messages and payloads are caller-provided slices, sizes are checked
//!   against the 65535-byte Noise limit before any cryptography runs.
//! - Fail closed: every error poisons the object it came from (handshake, session or cipher);
//!   a poisoned handshake can never be split into a session.
//! - Secrets (static and ephemeral keys, chaining key, cipher keys) live in types that wipe
//!   them on drop via `zeroize`.
//!
//! Message sizes with an empty payload: message 1 is 48 bytes, message 2 is 48 bytes,
//! message 3 is 64 bytes; each payload adds its own length. Transport messages are the
//! payload plus a 16-byte tag.
//!
//! ```
//! use nexus_noise_xk::{HandshakeState, StaticKeypair};
//!
//! let server = StaticKeypair::from_secret([1; 32]);
//! let client = StaticKeypair::from_secret([2; 32]);
//! // Ephemeral secrets must come from a CSPRNG in real use.
//! let mut init = HandshakeState::new_initiator(&client, &server.public_key(), b"neuron", [3; 32]);
//! let mut resp = HandshakeState::new_responder(&server, b"neuron", [4; 32]);
//!
//! let (mut msg, mut payload) = ([0u8; 128], [0u8; 128]);
//! let n = init.write_message(b"", &mut msg).unwrap();
//! assert_eq!(n, 48);
//! resp.read_message(&msg[..n], &mut payload).unwrap();
//! let n = resp.write_message(b"", &mut msg).unwrap();
//! init.read_message(&msg[..n], &mut payload).unwrap();
//! let n = init.write_message(b"", &mut msg).unwrap();
//! assert_eq!(n, 64);
//! resp.read_message(&msg[..n], &mut payload).unwrap();
//!
//! let mut client_session = init.split().unwrap();
//! let mut server_session = resp.split().unwrap();
//! assert_eq!(server_session.remote_static(), &client.public_key());
//!
//! let n = client_session.write_message(b"ping", &mut msg).unwrap();
//! let m = server_session.read_message(&msg[..n], &mut payload).unwrap();
//! assert_eq!(&payload[..m], b"ping");
//! ```

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod cipher;
mod crypto;
mod error;
mod handshake;
mod symmetric;
mod transport;

pub use cipher::CipherState;
pub use error::Error;
pub use handshake::{EphemeralKeypair, HandshakeState, Role, StaticKeypair};
pub use transport::TransportState;

/// The full Noise protocol name this crate implements.
pub const PROTOCOL_NAME: &str = "Noise_XK_25519_ChaChaPoly_BLAKE2s";

/// Largest Noise message (handshake or transport) in bytes.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// X25519 public key / secret / shared secret length.
pub const DH_LEN: usize = 32;

/// ChaChaPoly key length.
pub const KEY_LEN: usize = 32;

/// BLAKE2s output length (`HASHLEN`).
pub const HASH_LEN: usize = 32;

/// Poly1305 authentication tag length.
pub const TAG_LEN: usize = 16;

/// Bytes message 1 (`-> e, es`) adds to its payload: `e` + payload tag. Empty payload: 48.
pub const MSG1_OVERHEAD: usize = DH_LEN + TAG_LEN;

/// Bytes message 2 (`<- e, ee`) adds to its payload: `e` + payload tag. Empty payload: 48.
pub const MSG2_OVERHEAD: usize = DH_LEN + TAG_LEN;

/// Bytes message 3 (`-> s, se`) adds to its payload: encrypted `s` + its tag + payload tag.
/// Empty payload: 64.
pub const MSG3_OVERHEAD: usize = DH_LEN + TAG_LEN + TAG_LEN;

/// Bytes a transport message adds to its payload (the tag).
pub const TRANSPORT_OVERHEAD: usize = TAG_LEN;

/// Largest payload a transport message can carry (65535 - 16).
pub const MAX_TRANSPORT_PAYLOAD: usize = MAX_MESSAGE_LEN - TRANSPORT_OVERHEAD;
