//! **TEST ONLY.** The fixed DSoftBus identities the smoke and two-VM harnesses use.
//!
//! Their secrets are in this source file, so they are public: a node using them proves
//! nothing about who it is. They exist so test profiles can name identities until
//! devices provision their own keys. Only test builds (`dsoftbusd`'s `test-identities`
//! feature) and test applications link this crate.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use dsoftbus::{LocalIdentity, StaticKeypair, DISCOVERY_PORT, KEY_LEN};

/// A test node: device id, ports and a public **test** static secret.
#[derive(Clone, Copy, Debug)]
pub struct TestNode {
    /// Device id announced and claimed.
    pub device_id: &'static str,
    /// TCP port of its session listener.
    pub session_port: u16,
    /// UDP port it receives announcements on.
    pub discovery_port: u16,
    test_secret: [u8; KEY_LEN],
}

impl TestNode {
    /// The node's static key pair (TEST KEY).
    pub fn keys(&self) -> StaticKeypair {
        StaticKeypair::from_secret(self.test_secret)
    }

    /// The node's identity (TEST KEY).
    pub fn identity(&self) -> LocalIdentity {
        // The ids below are valid (1..=64 bytes), so this cannot fail.
        LocalIdentity::new(self.device_id, self.keys()).unwrap_or_else(|_| unreachable!())
    }
}

/// Index of `node-a` (dsoftbusd in the smoke VM, VM A in the two-VM run).
pub const NODE_A: usize = 0;
/// Index of `node-b` (VM B in the two-VM run).
pub const NODE_B: usize = 1;
/// Index of `selftest-peer` (the second node in the smoke VM).
pub const PEER: usize = 2;
/// Index of `impostor` (announces another node's key).
pub const IMPOSTOR: usize = 3;

/// The test identities, indexed by dsoftbusd's boot argument.
pub const TEST_NODES: [TestNode; 4] = [
    TestNode {
        device_id: "node-a",
        session_port: 37030,
        discovery_port: DISCOVERY_PORT,
        test_secret: [0xa1; KEY_LEN],
    },
    TestNode {
        device_id: "node-b",
        session_port: 37030,
        discovery_port: DISCOVERY_PORT,
        test_secret: [0xb2; KEY_LEN],
    },
    TestNode {
        device_id: "selftest-peer",
        session_port: 37031,
        discovery_port: DISCOVERY_PORT + 1,
        test_secret: [0xc3; KEY_LEN],
    },
    TestNode {
        device_id: "impostor",
        session_port: 37032,
        discovery_port: DISCOVERY_PORT + 2,
        test_secret: [0xd4; KEY_LEN],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_identities_are_distinct_and_valid() {
        for (i, a) in TEST_NODES.iter().enumerate() {
            assert_eq!(a.identity().device_id(), a.device_id);
            for b in &TEST_NODES[i + 1..] {
                assert_ne!(a.device_id, b.device_id);
                assert_ne!(a.keys().public_key(), b.keys().public_key());
            }
        }
    }
}
