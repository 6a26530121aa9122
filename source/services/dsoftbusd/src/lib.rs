//! dsoftbusd: the start-up argument and the `bus` interface service. The daemon
//! itself is `dsoftbus::daemon::Daemon` (host-tested on the fake network); `main.rs`
//! is a thin loop that supplies the platform (clock, rngd entropy, console) and the
//! facade transport, and sleeps in one facade `WaitAny` on every socket.
//!
//! Design notes
//! ------------
//! * Only the netstackd facade is used: no device, no smoltcp, no virtio (CI checks
//!   the dependency tree).
//! * Identity: when the profile grants a `kv` client capability, the static key is the
//!   device's own, kept by storaged ([`identity`]: first boot generates it from rngd and
//!   stores it, later boots load it) and the start-up argument's `node` is only the
//!   display name. Without that grant there is no identity (no key is compiled into
//!   any build) and the daemon refuses to start. Ephemeral keys always come from the
//!   platform's entropy (rngd).
//! * Applications use DSoftBus through the `bus` interface ([`bus`]); the two-VM
//!   proofs are such applications (`source/apps/bus-selftest`), not modes of this
//!   daemon.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use alloc::string::String;

use dsoftbus::daemon::{DaemonConfig, Limits};
use dsoftbus::mux::MuxConfig;
use dsoftbus::policy::ProxyPolicy;
use nexus_interfaces::args::DsoftbusdArgs;

pub mod bus;
pub mod identity;

/// TCP port of the session listener of a node whose identity is persisted (test
/// identities carry their own ports, so several test nodes can share one address).
pub const SESSION_PORT: u16 = 37030;

/// The daemon's configuration, from its start-up argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Display name of the node (with a persisted identity), or the test node whose
    /// public test identity to use (test builds without a `kv` grant).
    pub node: String,
    /// Also announce to these UDP ports (several nodes in one VM share one address,
    /// so each listens on its own discovery port); 0 = none.
    pub extra_announce_ports: [u16; 2],
    /// Which `bus` client (badge) may publish which service name.
    pub publish: alloc::vec::Vec<(u64, String)>,
}

impl Config {
    /// Maps the start-up argument (from the manifest); `None` for an empty node
    /// name or more than two extra announce ports. Whether an identity exists for
    /// the node is decided when it is looked up.
    pub fn from_args(a: &DsoftbusdArgs) -> Option<Config> {
        let extra = &a.extra_announce.0;
        if extra.len() > 2 || a.node.is_empty() {
            return None;
        }
        let mut extra_announce_ports = [0u16; 2];
        extra_announce_ports[..extra.len()].copy_from_slice(extra);
        Some(Config {
            node: String::from(a.node.as_str()),
            extra_announce_ports,
            publish: a
                .publish
                .0
                .iter()
                .map(|r| (r.badge, String::from(r.service.as_str())))
                .collect(),
        })
    }

    /// The daemon configuration for a node listening on `session_port` and receiving
    /// announces on `discovery_port`. Remote peers may open `nodeinfo` and the names of
    /// the publish rules (deny by default otherwise).
    pub fn daemon_config(&self, session_port: u16, discovery_port: u16) -> DaemonConfig {
        let mut remote_policy = ProxyPolicy::deny_all();
        let _ = remote_policy.allow(dsoftbus::daemon::NODEINFO);
        for (_, name) in &self.publish {
            let _ = remote_policy.allow(name);
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
    use nexus_idl::{heapless, List};
    use nexus_interfaces::args::PublishRule;

    fn args(node: &str, extra: &[u16], publish: &[(u64, &str)]) -> DsoftbusdArgs {
        let mut rules = heapless::Vec::new();
        for (badge, s) in publish {
            let _ = rules.push(PublishRule {
                badge: *badge,
                service: heapless::String::try_from(*s).unwrap(),
            });
        }
        DsoftbusdArgs {
            node: heapless::String::try_from(node).unwrap(),
            extra_announce: List(heapless::Vec::from_slice(extra).unwrap()),
            publish: List(rules),
        }
    }

    #[test]
    fn start_up_argument_maps_and_rejects_garbage() {
        let mut a = args("node-a", &[37021, 37022], &[(0x70, "echo")]);
        assert_eq!(
            Config::from_args(&a),
            Some(Config {
                node: "node-a".into(),
                extra_announce_ports: [37021, 37022],
                publish: alloc::vec![(0x70, "echo".into())],
            })
        );
        a.extra_announce.0.push(1).unwrap();
        assert_eq!(Config::from_args(&a), None, "three extra ports");
        assert_eq!(Config::from_args(&args("", &[], &[])), None, "no node");
    }

    #[test]
    fn remote_policy_is_deny_by_default() {
        let c = Config::from_args(&args("node-a", &[], &[]))
            .unwrap()
            .daemon_config(1, 2);
        assert!(c.remote_policy.allows("nodeinfo"));
        assert!(!c.remote_policy.allows("samgrd"));
        assert!(!c.remote_policy.allows("echo"));
        let c = Config::from_args(&args("node-b", &[], &[(0x70, "echo")]))
            .unwrap()
            .daemon_config(1, 2);
        assert!(c.remote_policy.allows("echo"));
    }
}
