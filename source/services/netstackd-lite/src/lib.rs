//! netstackd-lite's pure parts, host-tested: the boot argument, the marker
//! lines, and the service-loop timing policy.
//!
//! The stack core lives in `nexus-lite-net` (`stack`), the driver interface
//! is the generated `nexus_interfaces::vn`; the stack is the sockets
//! facade's `Backend`, served with `nexus_net::dispatch` and
//! `nexus_net::Server` (host-tested in `nexus-lite-net/tests/facade.rs`).
//! `main.rs` is the thin target-only loop.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use nexus_lite_net::stack::{Event, LeaseKind, DHCP_WAIT_NS};

/// Longest DHCP wait the boot argument may ask for.
pub const MAX_DHCP_WAIT_MS: u64 = 60_000;
/// Longest the loop waits on the driver before serving clients again: the
/// worst-case added latency of a client request.
pub const SLICE_NS: u64 = 5_000_000;
/// Client requests served per loop turn (then the network gets a turn).
pub const REQUESTS_PER_TURN: usize = 16;

/// The DHCP wait for boot argument `arg`: bits 0..32 in milliseconds, 0 =
/// the default 3 s, capped at [`MAX_DHCP_WAIT_MS`].
pub fn dhcp_wait_ns(arg: u64) -> u64 {
    match arg & 0xffff_ffff {
        0 => DHCP_WAIT_NS,
        ms => ms.min(MAX_DHCP_WAIT_MS) * 1_000_000,
    }
}

/// Dotted quad.
pub fn ip(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// The marker line for a stack event.
pub fn marker(e: &Event) -> String {
    match e {
        Event::LoUp => String::from("netstackd-lite: lo up"),
        Event::Virt0Up(l) if l.kind == LeaseKind::Dhcp => {
            format!("netstackd-lite: virt0 dhcp addr={}", ip(l.addr))
        }
        Event::Virt0Up(l) => format!(
            "netstackd-lite: virt0 dhcp unavailable (fixed lease addr={}/{} gw={} dns={})",
            ip(l.addr),
            l.prefix,
            ip(l.gateway.unwrap_or([0; 4])),
            ip(l.dns.unwrap_or([0; 4]))
        ),
    }
}

/// The deadline for the next driver RX wait: the earliest of `now +`
/// [`SLICE_NS`] and the stack's and server's deadlines (never in the past,
/// never 0 = forever).
pub fn rx_deadline(now: u64, stack: Option<u64>, server: Option<u64>) -> u64 {
    [Some(now.saturating_add(SLICE_NS)), stack, server]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now)
        .max(now.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_lite_net::stack::{Lease, Stack, FIXED_ADDR};

    #[test]
    fn argument() {
        assert_eq!(dhcp_wait_ns(0), 3_000_000_000);
        assert_eq!(dhcp_wait_ns(500), 500_000_000);
        assert_eq!(dhcp_wait_ns(u64::MAX), MAX_DHCP_WAIT_MS * 1_000_000);
        assert_eq!(dhcp_wait_ns(1 << 32), 3_000_000_000, "high bits ignored");
    }

    #[test]
    fn exact_marker_strings() {
        assert_eq!(marker(&Event::LoUp), "netstackd-lite: lo up");
        let mut l = Lease {
            addr: [10, 0, 2, 15],
            prefix: 24,
            gateway: Some([10, 0, 2, 2]),
            dns: Some([10, 0, 2, 3]),
            kind: LeaseKind::Dhcp,
        };
        assert_eq!(
            marker(&Event::Virt0Up(l)),
            "netstackd-lite: virt0 dhcp addr=10.0.2.15"
        );
        l.kind = LeaseKind::Fixed;
        assert_eq!(
            marker(&Event::Virt0Up(l)),
            "netstackd-lite: virt0 dhcp unavailable (fixed lease addr=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3)"
        );
    }

    #[test]
    fn fallback_marker_from_a_silent_network() {
        let mut s = Stack::new([2, 0, 0, 0, 0, 1], 0, dhcp_wait_ns(0));
        let mut lines = alloc::vec::Vec::new();
        let mut t = 0;
        while t <= 4_000_000_000 {
            s.poll(t);
            while s.pop_tx().is_some() {}
            while let Some(e) = s.take_event() {
                lines.push((t, marker(&e)));
            }
            t = rx_deadline(t, s.next_deadline(), None);
        }
        assert_eq!(lines[0], (0, String::from("netstackd-lite: lo up")));
        assert_eq!(lines[1].0, 3_000_000_000, "exactly at the deadline");
        assert!(lines[1].1.contains("unavailable"));
        assert_eq!(s.lease().unwrap().addr, FIXED_ADDR);
    }

    #[test]
    fn rx_deadline_policy() {
        assert_eq!(rx_deadline(100, None, None), 100 + SLICE_NS);
        assert_eq!(rx_deadline(100, Some(150), Some(120)), 120);
        assert_eq!(rx_deadline(100, Some(50), None), 101, "never in the past");
        assert_eq!(rx_deadline(u64::MAX, None, None), u64::MAX);
    }
}
