//! netstackd's pure parts, host-tested: the boot argument → address policy.
//! The table of parked requests' reply tokens is `nexus_net_ipc::ReplyTokens`
//! (shared with `netstackd-lite`).
//!
//! The service loop itself (`main.rs`) is a thin shell around
//! `nexus_net::dispatch`, `nexus_net::Server::poll` and
//! `nexus_net_os::NetStack::poll`; see `docs/netstackd.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod selfloop;

use core::net::Ipv4Addr;

use nexus_net_os::AddrPolicy;

/// The reply tokens of parked requests (shared with `netstackd-lite`).
pub use nexus_net_ipc::ReplyTokens;

/// The address policy for netstackd's boot argument (see
/// `nexus_init_api::netcfg`); `None` for an argument no init produces.
pub fn policy_from_arg(arg: u64) -> Option<AddrPolicy> {
    match nexus_init_api::netcfg::decode(arg).ok()? {
        None => Some(AddrPolicy::Dhcp),
        Some(s) => Some(AddrPolicy::Static {
            addr: Ipv4Addr::from(s.addr),
            prefix_len: s.prefix_len,
            gateway: s.gateway.map(Ipv4Addr::from),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_argument() {
        assert_eq!(policy_from_arg(0), Some(AddrPolicy::Dhcp));
        let a = nexus_init_api::netcfg::encode_static([10, 42, 0, 1], 24, 0);
        assert_eq!(
            policy_from_arg(a),
            Some(AddrPolicy::Static {
                addr: Ipv4Addr::new(10, 42, 0, 1),
                prefix_len: 24,
                gateway: None
            })
        );
        assert_eq!(policy_from_arg(7), None);
    }
}
