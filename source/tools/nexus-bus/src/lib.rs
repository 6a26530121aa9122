//! nexus-bus: Linux joins the Neuron OS bus with the same crates as the VM.
//!
//! The `dsoftbus` daemon core (discovery, Noise XK sessions with identity binding,
//! records, streams) runs unchanged over the sockets facade; [`net`] implements the
//! facade's backend with real, non-blocking UDP and TCP sockets and a transport that runs
//! the facade server in-process, so Linux's TCP/IP stack stands where smoltcp stands in
//! the VM. [`identity`] keeps the node's key in a state directory (the VM's record
//! format, the VM's id derivation); [`node`] is the loop with the helpers the
//! command-line tool (`src/main.rs`) uses. docs/nexus-bus.md describes the tool.

#![forbid(unsafe_code)]

pub mod identity;
pub mod net;
pub mod node;
pub mod trustdir;

pub use node::{Error, Node, NodeConfig, PeerInfo, ServeMode, Served};
