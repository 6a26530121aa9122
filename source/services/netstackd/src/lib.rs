//! netstackd's pure parts, host-tested: the start-up argument → address policy.
//! The table of parked requests' reply tokens is `nexus_net_ipc::ReplyTokens`
//! (shared with `netstackd-lite`).
//!
//! The service loop itself (`main.rs`) is a thin shell around
//! `nexus_net::dispatch`, `nexus_net::Server::poll` and
//! `nexus_net_os::NetStack::poll`; see `docs/netstackd.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod selfloop;

use core::net::Ipv4Addr;

use nexus_interfaces::args::NetstackdArgs;
use nexus_net_os::AddrPolicy;

/// The reply tokens of parked requests (shared with `netstackd-lite`).
pub use nexus_net_ipc::ReplyTokens;

/// The address policy for netstackd's start-up argument (`NetstackdArgs`
/// of `idl/args.toml`); `None` for a prefix length outside 1..=32 or a
/// gateway without a static address.
pub fn policy_from_args(a: &NetstackdArgs) -> Option<AddrPolicy> {
    match &a.ipv4 {
        None if a.gateway.is_none() => Some(AddrPolicy::Dhcp),
        None => None,
        Some(c) if (1..=32).contains(&c.prefix_len) => Some(AddrPolicy::Static {
            addr: Ipv4Addr::from(c.addr),
            prefix_len: c.prefix_len,
            gateway: a.gateway.map(Ipv4Addr::from),
        }),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_argument() {
        use nexus_interfaces::args::Ipv4Cidr;
        let dhcp = NetstackdArgs {
            ipv4: None,
            gateway: None,
            bus_client: None,
        };
        assert_eq!(policy_from_args(&dhcp), Some(AddrPolicy::Dhcp));
        let mut a = NetstackdArgs {
            ipv4: Some(Ipv4Cidr {
                addr: [10, 42, 0, 1],
                prefix_len: 24,
            }),
            gateway: Some([10, 42, 0, 2]),
            bus_client: None,
        };
        assert_eq!(
            policy_from_args(&a),
            Some(AddrPolicy::Static {
                addr: Ipv4Addr::new(10, 42, 0, 1),
                prefix_len: 24,
                gateway: Some(Ipv4Addr::new(10, 42, 0, 2)),
            })
        );
        a.ipv4.as_mut().unwrap().prefix_len = 33;
        assert_eq!(policy_from_args(&a), None);
        a.ipv4 = None;
        assert_eq!(policy_from_args(&a), None, "gateway without an address");
    }
}
