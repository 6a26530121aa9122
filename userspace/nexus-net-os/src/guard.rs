//! Ingress guard: a thin smoltcp [`Device`] adapter in front of the NIC.
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
    pub(crate) stats: &'d mut GuardStats,
}

/// A received frame passing through the guard.
pub(crate) struct GuardRx<'s, R: RxToken> {
    inner: R,
    stats: &'s mut GuardStats,
}

impl<R: RxToken> RxToken for GuardRx<'_, R> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        let stats = self.stats;
        self.inner.consume(|frame| {
            if oversize_fragment(frame) {
                stats.oversize_fragments = stats.oversize_fragments.saturating_add(1);
                f(&[])
            } else {
                f(frame)
            }
        })
    }

    fn meta(&self) -> PacketMeta {
        self.inner.meta()
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
        let (rx, tx) = self.inner.receive(timestamp)?;
        Some((
            GuardRx {
                inner: rx,
                stats: self.stats,
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
