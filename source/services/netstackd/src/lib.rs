//! netstackd's pure parts, host-tested: the boot argument → address policy,
//! and the table of parked requests' reply tokens.
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

use nexus_interfaces::args::NetstackdArgs;
use nexus_net::{ClientId, MAX_PARKED};
use nexus_net_os::AddrPolicy;

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

/// Kernel reply tokens of parked requests, keyed by (client, correlation).
///
/// Bounded like the server's parking queue ([`MAX_PARKED`]). A client that
/// reuses a correlation id while one is parked still gets one reply per
/// request (which of its calls gets which is unspecified: its own fault).
#[derive(Debug)]
pub struct ReplyTokens {
    slots: [Option<(ClientId, u32, u64)>; MAX_PARKED],
}

impl Default for ReplyTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyTokens {
    /// An empty table.
    pub const fn new() -> Self {
        ReplyTokens {
            slots: [None; MAX_PARKED],
        }
    }

    /// Remembers `token` for (client, correlation). False if full (the
    /// server's parking queue has the same bound, so this does not happen
    /// unless the two disagree; the caller then answers at once).
    pub fn insert(&mut self, client: ClientId, correlation: u32, token: u64) -> bool {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(s) => {
                *s = Some((client, correlation, token));
                true
            }
            None => false,
        }
    }

    /// Takes the oldest token stored for (client, correlation).
    pub fn take(&mut self, client: ClientId, correlation: u32) -> Option<u64> {
        let s = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|(c, k, _)| c == client && k == correlation))?;
        s.take().map(|(_, _, t)| t)
    }

    /// Forgets every token of a client that has ended.
    pub fn drop_client(&mut self, client: ClientId) -> usize {
        let mut n = 0;
        for s in self.slots.iter_mut() {
            if s.is_some_and(|(c, _, _)| c == client) {
                *s = None;
                n += 1;
            }
        }
        n
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// True if none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        };
        assert_eq!(policy_from_args(&dhcp), Some(AddrPolicy::Dhcp));
        let mut a = NetstackdArgs {
            ipv4: Some(Ipv4Cidr {
                addr: [10, 42, 0, 1],
                prefix_len: 24,
            }),
            gateway: Some([10, 42, 0, 2]),
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

    #[test]
    fn tokens_are_matched_per_client_and_bounded() {
        let mut t = ReplyTokens::new();
        let (a, b) = (ClientId(1), ClientId(2));
        assert!(t.insert(a, 5, 100));
        assert!(t.insert(b, 5, 200));
        assert!(t.insert(a, 5, 101));
        assert_eq!(t.take(b, 5), Some(200));
        assert_eq!(t.take(b, 5), None);
        assert_eq!(t.take(a, 5), Some(100), "lowest slot first");
        assert_eq!(t.take(a, 6), None);
        assert_eq!(t.drop_client(a), 1);
        assert!(t.is_empty());
        for i in 0..MAX_PARKED as u32 {
            assert!(t.insert(a, i, u64::from(i)));
        }
        assert!(!t.insert(b, 0, 0), "bounded");
        assert_eq!(t.len(), MAX_PARKED);
    }
}
