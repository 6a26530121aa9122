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

extern crate alloc;

use alloc::string::String;

use dsoftbus::daemon::{DaemonConfig, Limits};
use dsoftbus::mux::MuxConfig;
use nexus_interfaces::args::DsoftbusdArgs;

pub mod bus;
pub mod identity;
pub mod trust;

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
    /// Services of ours a newly paired device may open.
    pub pair_grant: alloc::vec::Vec<String>,
    /// Badges of `bus` clients allowed to manage trust (show_pin, pair, grant, untrust).
    pub manage: alloc::vec::Vec<u64>,
    /// Devices trusted by the profile: (static public key, services they may open).
    pub trusted: alloc::vec::Vec<([u8; 32], alloc::vec::Vec<String>)>,
}

/// Parses 64 hex digits into a 32-byte key.
pub fn parse_key(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = (digit(b[2 * i])? << 4) | digit(b[2 * i + 1])?;
    }
    Some(key)
}

impl Config {
    /// Maps the start-up argument (from the manifest); `None` for an empty node
    /// name, more than two extra announce ports, a trusted key that is not 64 hex
    /// digits, or an invalid grant list. Whether an identity exists for the node is
    /// decided when it is looked up.
    pub fn from_args(a: &DsoftbusdArgs) -> Option<Config> {
        let extra = &a.extra_announce.0;
        if extra.len() > 2 || a.node.is_empty() {
            return None;
        }
        let names = |l: &[nexus_idl::heapless::String<32>]| -> Option<alloc::vec::Vec<String>> {
            let v: alloc::vec::Vec<String> = l.iter().map(|s| String::from(s.as_str())).collect();
            dsoftbus::trust::check_services(&v).ok()?;
            Some(v)
        };
        let pair_grant = names(&a.pair_grant.0)?;
        let mut trusted = alloc::vec::Vec::new();
        for r in a.trusted.0.iter() {
            trusted.push((parse_key(&r.key)?, names(&r.services.0)?));
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
            pair_grant,
            manage: a.manage.0.to_vec(),
            trusted,
        })
    }

    /// The daemon configuration for a node listening on `session_port` and receiving
    /// announces on `discovery_port`. Who may open what is the trust store's business
    /// (deny by default): `trusted` is the store at start-up.
    pub fn daemon_config(
        &self,
        session_port: u16,
        discovery_port: u16,
        trusted: alloc::vec::Vec<dsoftbus::TrustEntry>,
        boot: u32,
    ) -> DaemonConfig {
        DaemonConfig {
            session_port,
            discovery_port,
            extra_announce_ports: self.extra_announce_ports,
            nodeinfo: true,
            trusted,
            pair_grant: self.pair_grant.clone(),
            boot,
            mux: MuxConfig::default(),
            limits: Limits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_idl::{heapless, List};
    use nexus_interfaces::args::{PublishRule, TrustRule};

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
            manage: List(heapless::Vec::new()),
            pair_grant: List(heapless::Vec::new()),
            trusted: List(heapless::Vec::new()),
        }
    }

    fn names(v: &[&str]) -> List<heapless::String<32>, 4> {
        List(
            v.iter()
                .map(|s| heapless::String::try_from(*s).unwrap())
                .collect(),
        )
    }

    #[test]
    fn start_up_argument_maps_and_rejects_garbage() {
        let mut a = args("node-a", &[37021, 37022], &[(0x70, "echo")]);
        a.manage.0.push(0x71).unwrap();
        a.pair_grant = names(&["echo"]);
        a.trusted
            .0
            .push(TrustRule {
                key: heapless::String::try_from("11".repeat(32).as_str()).unwrap(),
                services: names(&["nodeinfo"]),
            })
            .unwrap();
        assert_eq!(
            Config::from_args(&a),
            Some(Config {
                node: "node-a".into(),
                extra_announce_ports: [37021, 37022],
                publish: alloc::vec![(0x70, "echo".into())],
                pair_grant: alloc::vec!["echo".into()],
                manage: alloc::vec![0x71],
                trusted: alloc::vec![([0x11; 32], alloc::vec!["nodeinfo".into()])],
            })
        );
        let mut bad = a.clone();
        bad.trusted.0[0].key = heapless::String::try_from("zz".repeat(32).as_str()).unwrap();
        assert_eq!(Config::from_args(&bad), None, "key not hex");
        let mut bad = a.clone();
        bad.trusted.0[0].key = heapless::String::try_from("11").unwrap();
        assert_eq!(Config::from_args(&bad), None, "key too short");
        let mut bad = a.clone();
        bad.pair_grant = names(&["echo", "echo"]);
        assert_eq!(Config::from_args(&bad), None, "duplicate grant");
        a.extra_announce.0.push(1).unwrap();
        assert_eq!(Config::from_args(&a), None, "three extra ports");
        assert_eq!(Config::from_args(&args("", &[], &[])), None, "no node");
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        let c = Config::from_args(&args("node-a", &[], &[(0x70, "echo")]))
            .unwrap()
            .daemon_config(1, 2, alloc::vec::Vec::new(), 1);
        assert!(c.trusted.is_empty());
        assert!(c.pair_grant.is_empty());
    }
}
