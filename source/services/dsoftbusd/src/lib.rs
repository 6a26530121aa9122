//! dsoftbusd: the boot argument and, in test builds, the harness modes. The daemon
//! itself is `dsoftbus::daemon::Daemon` (host-tested on the fake network); `main.rs`
//! is a thin loop that supplies the platform (clock, rngd entropy, console) and the
//! facade transport, and sleeps in one facade `WaitAny` on every socket.
//!
//! Design notes
//! ------------
//! * Only the netstackd facade is used: no device, no smoltcp, no virtio (CI checks
//!   the dependency tree).
//! * Identity: this daemon has no key store yet. Test builds (feature
//!   `test-identities`) take a **public test identity** from `dsoftbus-testnodes`, chosen
//!   by the boot argument; a build without the feature has no identity and refuses to
//!   start. Ephemeral keys always come from the platform's entropy (rngd).
//! * The harness modes (proxy selftest, bulk transfer, cross-VM markers) live in
//!   [`testmodes`], only in test builds, and use the daemon's local stream API like an
//!   application would.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use dsoftbus::daemon::{DaemonConfig, Limits};
use dsoftbus::mux::MuxConfig;
use dsoftbus::policy::ProxyPolicy;

#[cfg(feature = "test-identities")]
pub mod testmodes;

/// The daemon's configuration, from its boot argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Which provisioned identity to use (test builds: index into the test nodes).
    pub node: usize,
    /// Also announce to these UDP ports (several nodes in one VM share one address,
    /// so each listens on its own discovery port).
    pub extra_announce_ports: [u16; 2],
    /// Test builds: run the remote-proxy selftest against the first peer.
    pub proxy_selftest: bool,
    /// Test builds: two-VM harness (cross-VM markers, bulk sink).
    pub cross_vm: bool,
    /// Test builds: after the proxy selftest, send a checked bulk stream.
    pub bulk_sender: bool,
}

/// Identities a boot argument may name.
pub const MAX_NODES: usize = 4;

impl Config {
    /// Decodes the boot argument: bits 0..8 node, bit 8 proxy selftest, bit 9
    /// cross-VM, bit 10 bulk sender, bits 16..32 and 32..48 extra announce ports
    /// (0 = none). Other bits must be 0.
    pub fn from_arg(arg: u64) -> Option<Config> {
        let node = (arg & 0xff) as usize;
        if node >= MAX_NODES || arg >> 48 != 0 || arg & 0xf800 != 0 {
            return None;
        }
        Some(Config {
            node,
            extra_announce_ports: [(arg >> 16) as u16, (arg >> 32) as u16],
            proxy_selftest: arg & 0x100 != 0,
            cross_vm: arg & 0x200 != 0,
            bulk_sender: arg & 0x400 != 0,
        })
    }

    /// Proxy-selftest flag of the boot argument.
    pub const ARG_PROXY_SELFTEST: u64 = 0x100;
    /// Cross-VM flag of the boot argument.
    pub const ARG_CROSS_VM: u64 = 0x200;
    /// Bulk-sender flag of the boot argument.
    pub const ARG_BULK: u64 = 0x400;

    /// Encodes a boot argument (for profiles): node, flags (`ARG_*`), extra ports.
    pub const fn to_arg(node: u8, flags: u64, extra: [u16; 2]) -> u64 {
        node as u64 | flags | ((extra[0] as u64) << 16) | ((extra[1] as u64) << 32)
    }

    /// The daemon configuration for a node listening on `session_port` and receiving
    /// announces on `discovery_port`. Remote peers may open `nodeinfo` (deny by default
    /// otherwise); the two-VM harness also allows its `bulk` sink.
    pub fn daemon_config(&self, session_port: u16, discovery_port: u16) -> DaemonConfig {
        let mut remote_policy = ProxyPolicy::deny_all();
        let _ = remote_policy.allow(dsoftbus::daemon::NODEINFO);
        if self.cross_vm {
            let _ = remote_policy.allow("bulk");
        }
        DaemonConfig {
            session_port,
            discovery_port,
            extra_announce_ports: self.extra_announce_ports,
            remote_policy,
            mux: MuxConfig::default(),
            limits: Limits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_argument_roundtrips_and_rejects_garbage() {
        let a = Config::to_arg(0, Config::ARG_PROXY_SELFTEST, [37021, 37022]);
        assert_eq!(
            Config::from_arg(a),
            Some(Config {
                node: 0,
                extra_announce_ports: [37021, 37022],
                proxy_selftest: true,
                cross_vm: false,
                bulk_sender: false,
            })
        );
        let b = Config::from_arg(Config::to_arg(
            1,
            Config::ARG_CROSS_VM | Config::ARG_BULK,
            [0, 0],
        ))
        .unwrap();
        assert!(b.cross_vm && b.bulk_sender && !b.proxy_selftest);
        assert_eq!(Config::from_arg(9), None);
        assert_eq!(Config::from_arg(1 << 50), None);
        assert_eq!(Config::from_arg(0x800), None);
    }

    #[test]
    fn remote_policy_is_deny_by_default() {
        let c = Config::from_arg(0).unwrap().daemon_config(1, 2);
        assert!(c.remote_policy.allows("nodeinfo"));
        assert!(!c.remote_policy.allows("samgrd"));
        assert!(!c.remote_policy.allows("bulk"));
        let c = Config::from_arg(Config::ARG_CROSS_VM)
            .unwrap()
            .daemon_config(1, 2);
        assert!(c.remote_policy.allows("bulk"));
    }
}
