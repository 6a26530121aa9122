//! Ingress guard: a thin smoltcp [`Device`] adapter in front of the NIC.
//!
//! **Neighbours.** smoltcp resolves addresses only through its own ARP
//! requests, and after sending one it stays silent for 1 s for *every*
//! unresolved address (one global rate limit). A reply it generates while
//! ingesting (an echo reply, a RST) to a neighbour it has not resolved is
//! dropped, and it resolves even its own address over ARP. The guard
//! therefore primes smoltcp's neighbour cache with synthetic ARP replies,
//! processed like frames from the wire (never sent):
//! * our own address → our MAC, whenever the address changes and every
//!   [`NEIGHBOR_REFRESH_NS`], so smoltcp never asks the link for itself;
//! * an on-link sender of a unicast IPv4 frame to our MAC and address →
//!   its source MAC, the first time it is seen (and again after
//!   `NEIGHBOR_REFRESH_NS`): the synthetic reply is handed to smoltcp
//!   first and the frame itself right after, so the answer to the first
//!   packet from a neighbour leaves at once instead of being dropped.
//!   The table is bounded ([`LEARN_ENTRIES`]); this trusts the link
//!   exactly as much as ARP does (an on-link host can claim any address
//!   either way).
//!
//! smoltcp built with `alloc` grows an IPv4 reassembly buffer to whatever a
//! fragment's offset asks for (up to ~64 KiB per datagram). The guard drops
//! every IPv4 fragment that would place data beyond [`REASSEMBLY_MAX`]
//! bytes of payload before smoltcp sees it, so each reassembly buffer stays
//! at most `REASSEMBLY_MAX` bytes. A dropped frame is handed to smoltcp as
//! an empty slice, which it discards as a malformed Ethernet frame. No copy:
//! the guard only reads the IPv4 header in place.

use smoltcp::phy::{Device, DeviceCapabilities, PacketMeta, RxToken};
use smoltcp::time::Instant;

use crate::stack::REASSEMBLY_MAX;

/// Counters of the guard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// IPv4 fragments dropped because they reach beyond `REASSEMBLY_MAX`.
    pub oversize_fragments: u64,
    /// Synthetic ARP replies handed to smoltcp (own address and senders).
    pub neighbors_primed: u64,
}

/// How often a known neighbour (or our own address) is primed again;
/// smoltcp forgets a neighbour 60 s after it was filled.
pub const NEIGHBOR_REFRESH_NS: u64 = 30_000_000_000;
/// Senders remembered by the guard (smoltcp's cache holds 8).
pub const LEARN_ENTRIES: usize = 8;

/// Length of an Ethernet + ARP (Ethernet/IPv4) frame.
const ARP_FRAME: usize = 42;

/// A primed sender: (address, MAC, when).
type Learned = ([u8; 4], [u8; 6], u64);

/// The guard's state, owned by the stack.
#[derive(Debug, Default)]
pub(crate) struct GuardState {
    pub(crate) stats: GuardStats,
    /// Our MAC, address and prefix length (none while unaddressed).
    own: Option<([u8; 6], [u8; 4], u8)>,
    /// When our own address was last primed.
    own_primed: Option<u64>,
    /// Senders primed: (address, MAC, when).
    learned: [Option<Learned>; LEARN_ENTRIES],
    /// A synthetic ARP reply waiting to be ingested.
    synth: Option<[u8; ARP_FRAME]>,
    /// The wire frame whose sender is being primed, ingested right after.
    held: Option<alloc::vec::Vec<u8>>,
}

impl GuardState {
    /// The interface address changed (`None`: no address).
    pub(crate) fn set_own(&mut self, mac: [u8; 6], addr: Option<([u8; 4], u8)>) {
        self.own = addr.map(|(a, p)| (mac, a, p));
        self.own_primed = None;
        self.learned = [None; LEARN_ENTRIES];
    }

    /// Queues the priming of our own address if it is due.
    pub(crate) fn refresh_own(&mut self, now_ns: u64) {
        let Some((mac, addr, _)) = self.own else {
            return;
        };
        let due = self
            .own_primed
            .is_none_or(|t| now_ns >= t.saturating_add(NEIGHBOR_REFRESH_NS));
        if due && self.synth.is_none() && self.held.is_none() {
            self.synth = Some(arp_reply(mac, addr, mac, addr));
            self.own_primed = Some(now_ns);
        }
    }

    /// True if something synthetic or held waits to be ingested.
    pub(crate) fn pending(&self) -> bool {
        self.synth.is_some() || self.held.is_some()
    }

    /// If `frame` comes from an on-link sender not primed recently, returns
    /// the synthetic ARP reply for it and remembers the sender.
    fn learn(&mut self, frame: &[u8], now_ns: u64) -> Option<[u8; ARP_FRAME]> {
        let (mac, addr, prefix) = self.own?;
        let (src_mac, src_ip) = on_link_sender(frame, &mac, &addr, prefix)?;
        let fresh = |e: &Learned| {
            e.0 == src_ip && e.1 == src_mac && now_ns < e.2.saturating_add(NEIGHBOR_REFRESH_NS)
        };
        if self.learned.iter().flatten().any(fresh) {
            return None;
        }
        // Replace the same address, else a free entry, else the oldest.
        let slot = self
            .learned
            .iter()
            .position(|e| e.is_some_and(|e| e.0 == src_ip))
            .or_else(|| self.learned.iter().position(|e| e.is_none()))
            .or_else(|| {
                self.learned
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.map_or(0, |e| e.2))
                    .map(|(i, _)| i)
            })?;
        if let Some(e) = self.learned.get_mut(slot) {
            *e = Some((src_ip, src_mac, now_ns));
        }
        Some(arp_reply(src_mac, src_ip, mac, addr))
    }
}

/// An Ethernet ARP reply "`sip` is at `smac`", addressed to `tmac`/`tip`.
fn arp_reply(smac: [u8; 6], sip: [u8; 4], tmac: [u8; 6], tip: [u8; 4]) -> [u8; ARP_FRAME] {
    let mut f = [0u8; ARP_FRAME];
    f[0..6].copy_from_slice(&tmac);
    f[6..12].copy_from_slice(&smac);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 2]);
    f[22..28].copy_from_slice(&smac);
    f[28..32].copy_from_slice(&sip);
    f[32..38].copy_from_slice(&tmac);
    f[38..42].copy_from_slice(&tip);
    f
}

/// The sender (MAC, address) of a unicast IPv4 frame to `mac`/`addr` from
/// another unicast host on our subnet. Total on any input.
fn on_link_sender(
    frame: &[u8],
    mac: &[u8; 6],
    addr: &[u8; 4],
    prefix: u8,
) -> Option<([u8; 6], [u8; 4])> {
    if frame.get(0..6)? != mac || frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let src_mac: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let ip = frame.get(14..34)?;
    if ip[0] >> 4 != 4 || ip[16..20] != addr[..] {
        return None;
    }
    let src: [u8; 4] = ip[12..16].try_into().ok()?;
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    let (s, a) = (u32::from_be_bytes(src), u32::from_be_bytes(*addr));
    let host = s & !mask;
    let unicast = src_mac[0] & 1 == 0
        && src_mac != [0; 6]
        && s != a
        && s & mask == a & mask
        && host != 0
        && host != !mask
        && src[0] != 0
        && src[0] != 127
        && src[0] < 224;
    unicast.then_some((src_mac, src))
}

/// True if `frame` is an IPv4 fragment whose data ends beyond
/// `REASSEMBLY_MAX` payload bytes. Total on any input.
pub(crate) fn oversize_fragment(frame: &[u8]) -> bool {
    // Ethernet II, IPv4 ethertype, no VLAN (smoltcp does not parse VLANs).
    let Some(ip) = frame.get(14..) else {
        return false;
    };
    if frame.get(12..14) != Some(&[0x08, 0x00]) {
        return false;
    }
    let (Some(&vihl), Some(len), Some(frag)) = (ip.first(), ip.get(2..4), ip.get(6..8)) else {
        return false;
    };
    if vihl >> 4 != 4 {
        return false;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let frag = u16::from_be_bytes([frag[0], frag[1]]);
    let more = frag & 0x2000 != 0;
    let offset = usize::from(frag & 0x1fff) * 8;
    if !more && offset == 0 {
        return false;
    }
    offset.saturating_add(total.saturating_sub(ihl)) > REASSEMBLY_MAX
}

/// The device seen by smoltcp: the NIC with the ingress guard.
pub(crate) struct Guarded<'d, D: Device> {
    pub(crate) inner: &'d mut D,
    pub(crate) state: &'d mut GuardState,
    pub(crate) now_ns: u64,
}

/// A received frame passing through the guard.
pub(crate) enum GuardRx<'s, R: RxToken> {
    /// From the NIC.
    Wire {
        inner: R,
        state: &'s mut GuardState,
        now_ns: u64,
    },
    /// A synthetic ARP reply.
    Synth([u8; ARP_FRAME]),
    /// A wire frame held back while its sender was primed.
    Held(alloc::vec::Vec<u8>),
}

impl<R: RxToken> RxToken for GuardRx<'_, R> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        match self {
            GuardRx::Synth(frame) => f(&frame),
            GuardRx::Held(frame) => f(&frame),
            GuardRx::Wire {
                inner,
                state,
                now_ns,
            } => inner.consume(|frame| {
                if oversize_fragment(frame) {
                    state.stats.oversize_fragments =
                        state.stats.oversize_fragments.saturating_add(1);
                    return f(&[]);
                }
                if state.held.is_none() {
                    if let Some(arp) = state.learn(frame, now_ns) {
                        let mut copy = alloc::vec::Vec::new();
                        if copy.try_reserve_exact(frame.len()).is_ok() {
                            copy.extend_from_slice(frame);
                            state.held = Some(copy);
                            state.stats.neighbors_primed =
                                state.stats.neighbors_primed.saturating_add(1);
                            return f(&arp);
                        }
                    }
                }
                f(frame)
            }),
        }
    }

    fn meta(&self) -> PacketMeta {
        match self {
            GuardRx::Wire { inner, .. } => inner.meta(),
            _ => PacketMeta::default(),
        }
    }
}

impl<D: Device> Device for Guarded<'_, D> {
    type RxToken<'a>
        = GuardRx<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.state.pending() {
            // Synthetic and held frames first (a reply goes to the NIC);
            // while the NIC has no transmit slot, nothing is received.
            let tx = self.inner.transmit(timestamp)?;
            let rx = if let Some(arp) = self.state.synth.take() {
                self.state.stats.neighbors_primed =
                    self.state.stats.neighbors_primed.saturating_add(1);
                GuardRx::Synth(arp)
            } else {
                GuardRx::Held(self.state.held.take().unwrap_or_default())
            };
            return Some((rx, tx));
        }
        let (rx, tx) = self.inner.receive(timestamp)?;
        Some((
            GuardRx::Wire {
                inner: rx,
                state: self.state,
                now_ns: self.now_ns,
            },
            tx,
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.inner.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(total: u16, flags_off: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[20..22].copy_from_slice(&flags_off.to_be_bytes());
        f
    }

    #[test]
    fn only_fragments_beyond_the_bound_are_flagged() {
        assert!(!oversize_fragment(&[]));
        assert!(!oversize_fragment(&[0u8; 20]));
        assert!(!oversize_fragment(&frame(1500, 0)), "not a fragment");
        assert!(
            !oversize_fragment(&frame(1500, 0x4000)),
            "DF, not a fragment"
        );
        assert!(!oversize_fragment(&frame(1500, 0x2000)), "first fragment");
        let last_ok = ((REASSEMBLY_MAX - 1480) / 8) as u16;
        assert!(!oversize_fragment(&frame(1500, last_ok)));
        assert!(oversize_fragment(&frame(1500, last_ok + 1)));
        assert!(oversize_fragment(&frame(28, 0x1fff)), "max offset");
        assert!(oversize_fragment(&frame(28, 0x3fff)));
    }
}
