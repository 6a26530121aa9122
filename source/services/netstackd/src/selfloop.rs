//! Local delivery for a single-interface smoltcp stack.
//!
//! smoltcp has no loopback for its own addresses on an Ethernet interface:
//! a frame to our own MAC, or a broadcast, goes to the wire and never comes
//! back. Services in one VM must still reach each other through netstackd
//! (several DSoftBus nodes share the VM's address in the smoke), so
//! [`SelfLoop`] wraps the NIC: every transmitted frame whose destination is
//! our own MAC, or a group (broadcast/multicast) address, is also queued as
//! received. Frames to our own MAC never reach the wire (QEMU's user network
//! would answer a TCP SYN it cannot route with a reset). Each frame is built
//! in the NIC's own transmit buffer ([`TxBuild`]), copied to the local queue
//! when it is for us or a group, and withheld from the wire when it is for
//! us only. An ARP request for our own address (smoltcp resolves its own IP
//! like any neighbour) is looped back only, so the link never sees us ask
//! for ourselves. The local queue is bounded ([`MAX_LOCAL_FRAMES`]); overflow drops
//! and counts, like a NIC.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use nexus_net_os::smoltcp::phy::{Device, DeviceCapabilities, PacketMeta, RxToken, TxToken};
use nexus_net_os::smoltcp::time::Instant;
use nexus_net_os::TxBuild;

/// Frames queued for local delivery at most.
pub const MAX_LOCAL_FRAMES: usize = 64;

/// A NIC wrapper that delivers frames addressed to ourselves or to a group
/// back to the stack.
pub struct SelfLoop<D: Device> {
    inner: D,
    mac: [u8; 6],
    local: VecDeque<Vec<u8>>,
    dropped: u64,
}

impl<D: Device> SelfLoop<D> {
    /// Wraps `inner`, whose own MAC is `mac`.
    pub fn new(inner: D, mac: [u8; 6]) -> Self {
        SelfLoop {
            inner,
            mac,
            local: VecDeque::new(),
            dropped: 0,
        }
    }

    /// The wrapped NIC.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Local frames dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True while frames wait in the local queue: the stack must be polled to
    /// receive them (smoltcp's own `poll_at` does not see this queue).
    pub fn local_pending(&self) -> bool {
        !self.local.is_empty()
    }
}

/// A received frame: from the local queue or from the NIC.
pub enum LoopRx<'a, D: Device + 'a> {
    /// Looped back locally.
    Local(Vec<u8>),
    /// From the wire.
    Wire(D::RxToken<'a>),
}

/// A transmit slot of the NIC that also loops frames back when needed.
pub struct LoopTx<'a, D: Device + 'a> {
    wire: D::TxToken<'a>,
    local: &'a mut VecDeque<Vec<u8>>,
    dropped: &'a mut u64,
    mac: [u8; 6],
}

impl<D: Device> RxToken for LoopRx<'_, D> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        match self {
            LoopRx::Local(frame) => f(&frame),
            LoopRx::Wire(t) => t.consume(f),
        }
    }
}

/// True for an Ethernet ARP request sent from `mac` that asks for its own
/// sender address (smoltcp resolving our own IP address): sender protocol
/// address equal to target protocol address. Total on any input.
pub fn self_arp_request(frame: &[u8], mac: &[u8; 6]) -> bool {
    // 14 Ethernet + 28 ARP (Ethernet/IPv4): op at 20..22, SHA at 22..28,
    // SPA at 28..32, TPA at 38..42.
    frame.get(12..14) == Some(&[0x08, 0x06])
        && frame.get(20..22) == Some(&[0, 1])
        && frame.get(22..28) == Some(&mac[..])
        && frame.get(28..32).is_some()
        && frame.get(28..32) == frame.get(38..42)
}

impl<D: Device> TxToken for LoopTx<'_, D>
where
    for<'t> D::TxToken<'t>: TxBuild,
{
    fn set_meta(&mut self, meta: PacketMeta) {
        self.wire.set_meta(meta);
    }

    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let LoopTx {
            wire,
            local,
            dropped,
            mac,
        } = self;
        wire.build(len, |frame| {
            let r = f(frame);
            let (to_self, group) = match frame.get(..6) {
                // smoltcp resolves our own address like any neighbour: an ARP
                // request (broadcast) for it is answered by the stack itself
                // through the local queue and must not reach the link.
                Some(_) if self_arp_request(frame, &mac) => (true, true),
                Some(dst) => (dst == mac, dst[0] & 1 == 1),
                None => (false, false),
            };
            if to_self || group {
                if local.len() < MAX_LOCAL_FRAMES {
                    let mut copy = frame.to_vec();
                    if to_self {
                        // With checksum offload the device would have
                        // completed the TCP checksum; locally nothing does.
                        nexus_net_os::offload::fill_tcp_checksum(&mut copy);
                    }
                    local.push_back(copy);
                } else {
                    *dropped += 1;
                }
            }
            (r, !to_self)
        })
    }
}

impl<D: Device> Device for SelfLoop<D>
where
    for<'t> D::TxToken<'t>: TxBuild,
{
    type RxToken<'a>
        = LoopRx<'a, D>
    where
        Self: 'a;
    type TxToken<'a>
        = LoopTx<'a, D>
    where
        Self: 'a;

    fn receive(&mut self, ts: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if let Some(frame) = self.local.pop_front() {
            let wire = self.inner.transmit(ts)?;
            return Some((
                LoopRx::Local(frame),
                LoopTx {
                    wire,
                    local: &mut self.local,
                    dropped: &mut self.dropped,
                    mac: self.mac,
                },
            ));
        }
        let (rx, wire) = self.inner.receive(ts)?;
        Some((
            LoopRx::Wire(rx),
            LoopTx {
                wire,
                local: &mut self.local,
                dropped: &mut self.dropped,
                mac: self.mac,
            },
        ))
    }

    fn transmit(&mut self, ts: Instant) -> Option<Self::TxToken<'_>> {
        let wire = self.inner.transmit(ts)?;
        Some(LoopTx {
            wire,
            local: &mut self.local,
            dropped: &mut self.dropped,
            mac: self.mac,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}
