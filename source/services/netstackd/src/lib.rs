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

/// Whether a dispatched request (raw `request`, its encoded `reply`, empty if
/// it was parked) may have changed the stack, so the loop must poll it before
/// sleeping again. False only for what provably changed nothing: the waits and
/// queries (`Wait`, `WaitAny`, `WaitArm`, `LocalAddr`, `Stats`, `LinkInfo`) and
/// any op answered `WouldBlock` or `NotConnected` (nothing was read, written or
/// accepted). Anything else (data moved, a socket opened or closed, an error
/// after a partial effect, a parked `Ping`, undecodable bytes) polls, as every
/// request did before. Skipping the stack poll after the daemon's many
/// non-blocking probes (dsoftbusd tries every socket on each pass) is what
/// keeps a record's round trip short.
pub fn needs_poll(request: &[u8], reply: &[u8]) -> bool {
    use nexus_net::{NetError, Op};
    let op = request.get(2).copied().and_then(Op::from_u8);
    if matches!(
        op,
        Some(Op::Wait | Op::WaitAny | Op::WaitArm | Op::LocalAddr | Op::Stats | Op::LinkInfo)
    ) {
        return false;
    }
    let status = match reply.get(12..14) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]),
        None => return true,
    };
    !(status == NetError::WouldBlock as u16 || status == NetError::NotConnected as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_probes_that_changed_nothing_skip_the_poll() {
        use nexus_net::wire::encode_error_reply;
        use nexus_net::{
            encode_reply, encode_request, Handle, NetError, Readiness, Reply, Request, TcpStream,
            WaitSet,
        };
        let mut q = [0u8; 64];
        let mut r = [0u8; 64];
        let s = TcpStream::from_handle(Handle::from_raw(0x101));
        let read = encode_request(&Request::TcpRead { stream: s, max: 64 }, 1, 0, &mut q).unwrap();
        let would = encode_error_reply(0x04, NetError::WouldBlock, 1, 9, &mut r).unwrap();
        assert!(!needs_poll(&q[..read], &r[..would]));
        let nc = encode_error_reply(0x04, NetError::NotConnected, 1, 9, &mut r).unwrap();
        assert!(!needs_poll(&q[..read], &r[..nc]));
        let data = encode_reply(&Reply::TcpRead { data: b"abc" }, 1, 9, &mut r).unwrap();
        assert!(
            needs_poll(&q[..read], &r[..data]),
            "bytes read: the window moved"
        );
        let reset = encode_error_reply(0x04, NetError::ConnectionReset, 1, 9, &mut r).unwrap();
        assert!(needs_poll(&q[..read], &r[..reset]));
        let w = encode_request(
            &Request::TcpWrite {
                stream: s,
                data: b"x",
            },
            2,
            0,
            &mut q,
        )
        .unwrap();
        let ok = encode_reply(&Reply::TcpWrite { written: 1 }, 2, 9, &mut r).unwrap();
        assert!(needs_poll(&q[..w], &r[..ok]));
        let mut set = WaitSet::new();
        set.push(s, Readiness::READABLE).unwrap();
        let arm = encode_request(&Request::WaitArm { set }, 3, 0, &mut q).unwrap();
        let armed = encode_reply(&Reply::WaitArm { ready_mask: 0 }, 3, 9, &mut r).unwrap();
        assert!(!needs_poll(&q[..arm], &r[..armed]));
        let la = encode_request(&Request::LocalAddr, 4, 0, &mut q).unwrap();
        assert!(!needs_poll(&q[..la], &[]));
        // Parked (no reply yet) or garbage: poll, as before.
        let ping = encode_request(
            &Request::Ping {
                addr: [10, 0, 0, 1].into(),
                seq: 1,
                deadline_ns: 5,
            },
            5,
            0,
            &mut q,
        )
        .unwrap();
        assert!(needs_poll(&q[..ping], &[]));
        assert!(needs_poll(&[0xff; 3], &[]));
    }

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
