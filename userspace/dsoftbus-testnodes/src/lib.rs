//! **TEST ONLY.** Fixed DSoftBus identities for test applications (the smoke's in-VM
//! test peers, `selftest-dsoftbus`) and host tests.
//!
//! Their secrets are in this source file, so they are public: a node using them proves
//! nothing about who it is. dsoftbusd never links this crate (its identity comes from
//! storaged; `just check-deps` checks it); only test applications and host tests do.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

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

    /// The test node called `name`, if any.
    pub fn named(name: &str) -> Option<&'static TestNode> {
        TEST_NODES.iter().find(|n| n.name == name)
    }
}

/// Index of `node-a` (dsoftbusd in the smoke VM, VM A in the two-VM run).
pub const NODE_A: usize = 0;
/// Index of `node-b` (VM B in the two-VM run).
pub const NODE_B: usize = 1;
/// Index of `selftest-peer` (the second node in the smoke VM).
pub const PEER: usize = 2;
/// Index of `impostor` (claims another node's id with its own key).
pub const IMPOSTOR: usize = 3;

/// Device id of `node-a` (derived from its test key; named in docs/markers.md).
pub const NODE_A_ID: &str = "2c7c63514d181b7736cad4bed51d80fb";
/// Device id of `node-b`.
pub const NODE_B_ID: &str = "9680d22d9a912b3bef0e55bcc5ecb685";
/// Device id of `selftest-peer`.
pub const PEER_ID: &str = "6e23bdcc334386e150a1e82e41b8979d";
/// Device id of `impostor`.
pub const IMPOSTOR_ID: &str = "679355f43450af6a6e38b3188561ceae";

/// Device ids of `mesh-1` .. `mesh-8` (derived from their test keys; docs/markers.md).
pub const MESH_IDS: [&str; MESH_MAX] = [
    "4ddc34960f4cc44d51b988e86b85a2cf",
    "9e5e5e9fe8a5e905a9560a895b230bb9",
    "ae2b3b422705ac40ebaec092a304b5ee",
    "6847da4057fdc5970a26a9abf128146a",
    "29c19327f3e1a402cf3afde8e2c86f37",
    "7f3e3b50b4ef6c2f88151b760c0c5d8f",
    "f3c1e493fac36819504ffda8f6af4674",
    "92203bfa303ff6773ace40a0d628eefa",
];

/// Index of `mesh-1`; `mesh-<i>` is at `MESH_FIRST + i - 1` (`just mesh`, one node per VM).
pub const MESH_FIRST: usize = 4;
/// Most nodes of `just mesh`.
pub const MESH_MAX: usize = 8;

/// A `just mesh` node: each VM has its own address, so all use the default ports.
const fn mesh(name: &'static str, i: u8) -> TestNode {
    TestNode {
        name,
        session_port: 37030,
        discovery_port: DISCOVERY_PORT,
        test_secret: [0xe0 | i; KEY_LEN],
    }
}

/// The test identities, indexed by dsoftbusd's boot argument.
pub const TEST_NODES: [TestNode; MESH_FIRST + MESH_MAX] = [
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
    mesh("mesh-1", 1),
    mesh("mesh-2", 2),
    mesh("mesh-3", 3),
    mesh("mesh-4", 4),
    mesh("mesh-5", 5),
    mesh("mesh-6", 6),
    mesh("mesh-7", 7),
    mesh("mesh-8", 8),
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

    /// The derived ids docs/markers.md names (`cargo test -p dsoftbus-testnodes -- --nocapture`
    /// prints them).
    #[test]
    fn marker_ids_are_the_derived_ones() {
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
        for (i, id) in MESH_IDS.iter().enumerate() {
            let n = &TEST_NODES[MESH_FIRST + i];
            assert_eq!(n.name, std::format!("mesh-{}", i + 1));
            assert_eq!(n.device_id().as_str(), *id);
        }
    }
}
