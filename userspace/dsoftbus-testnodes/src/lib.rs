//! **TEST ONLY, host only.** Fixed DSoftBus identities for host tests.
//!
//! Their secrets are in this source file, so they are public: a node using them proves
//! nothing about who it is. No program of a boot image links this crate: dsoftbusd's
//! identity comes from storaged and the smoke's in-VM test nodes (`selftest-dsoftbus`)
//! make theirs from rngd at start. `just check-deps` checks both image program lists
//! (`scripts/check-no-test-keys.sh`), and scans the built images for these keys
//! (`cargo run -p dsoftbus-testnodes --example test-keys` lists them).

#![no_std]
#![forbid(unsafe_code)]

use dsoftbus::{DeviceId, LocalIdentity, StaticKeypair, DISCOVERY_PORT, KEY_LEN};

/// A test node: display name, ports and a public **test** static secret. Its device id is
/// derived from the key ([`TestNode::device_id`]), like every device's.
#[derive(Clone, Copy, Debug)]
pub struct TestNode {
    /// Display name (what profiles use to pick the node; never an identity).
    pub name: &'static str,
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

    /// The node's device id (derived from its public key).
    pub fn device_id(&self) -> DeviceId {
        DeviceId::of(&self.keys().public_key())
    }

    /// The node's identity (TEST KEY), with its display name.
    pub fn identity(&self) -> LocalIdentity {
        let id = LocalIdentity::new(self.keys());
        // The names below are valid (1..=64 bytes), so this cannot fail.
        id.with_name(self.name).unwrap_or_else(|_| unreachable!())
    }

    /// The node's public **test** secret (for scanning images for it; never for use).
    pub fn test_secret(&self) -> [u8; KEY_LEN] {
        self.test_secret
    }

    /// The test node called `name`, if any.
    pub fn named(name: &str) -> Option<&'static TestNode> {
        TEST_NODES.iter().find(|n| n.name == name)
    }
}

/// Index of `node-a`.
pub const NODE_A: usize = 0;
/// Index of `node-b`.
pub const NODE_B: usize = 1;
/// Index of `selftest-peer`.
pub const PEER: usize = 2;
/// Index of `impostor` (for tests where it claims another node's id with its own key).
pub const IMPOSTOR: usize = 3;

/// Device id of `node-a` (derived from its test key).
pub const NODE_A_ID: &str = "2c7c63514d181b7736cad4bed51d80fb";
/// Device id of `node-b`.
pub const NODE_B_ID: &str = "9680d22d9a912b3bef0e55bcc5ecb685";
/// Device id of `selftest-peer`.
pub const PEER_ID: &str = "6e23bdcc334386e150a1e82e41b8979d";
/// Device id of `impostor`.
pub const IMPOSTOR_ID: &str = "679355f43450af6a6e38b3188561ceae";

/// The test identities.
pub const TEST_NODES: [TestNode; 4] = [
    TestNode {
        name: "node-a",
        session_port: 37030,
        discovery_port: DISCOVERY_PORT,
        test_secret: [0xa1; KEY_LEN],
    },
    TestNode {
        name: "node-b",
        session_port: 37030,
        discovery_port: DISCOVERY_PORT,
        test_secret: [0xb2; KEY_LEN],
    },
    TestNode {
        name: "selftest-peer",
        session_port: 37031,
        discovery_port: DISCOVERY_PORT + 1,
        test_secret: [0xc3; KEY_LEN],
    },
    TestNode {
        name: "impostor",
        session_port: 37032,
        discovery_port: DISCOVERY_PORT + 2,
        test_secret: [0xd4; KEY_LEN],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::println;

    #[test]
    fn test_identities_are_distinct_and_valid() {
        for (i, a) in TEST_NODES.iter().enumerate() {
            assert_eq!(a.identity().device_id(), a.device_id().as_str());
            assert_eq!(a.identity().name(), a.name);
            assert_eq!(TestNode::named(a.name).unwrap().name, a.name);
            for b in &TEST_NODES[i + 1..] {
                assert_ne!(a.device_id(), b.device_id());
                assert_ne!(a.name, b.name);
                assert_ne!(a.keys().public_key(), b.keys().public_key());
            }
        }
    }

    /// The id constants are the derived ones (`cargo test -p dsoftbus-testnodes --
    /// --nocapture` prints them).
    #[test]
    fn id_constants_are_the_derived_ones() {
        let expected = [
            ("node-a", NODE_A_ID),
            ("node-b", NODE_B_ID),
            ("selftest-peer", PEER_ID),
            ("impostor", IMPOSTOR_ID),
        ];
        for n in TEST_NODES.iter() {
            println!("{} {}", n.name, n.device_id());
        }
        for (n, (name, id)) in TEST_NODES.iter().zip(expected) {
            assert_eq!(n.name, name);
            assert_eq!(n.device_id().as_str(), id);
        }
    }
}
