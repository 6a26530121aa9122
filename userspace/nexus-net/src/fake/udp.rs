//! Fake UDP: bound sockets with bounded datagram queues, unicast and broadcast.
//!
//! Design notes
//! ------------
//! Sending resolves the destination set first (one node for unicast, every
//! other node of the sender's subnet for broadcast), then appends a copy of
//! the datagram to the queue of the socket bound on the destination port of
//! each of those nodes. Delivery is synchronous, so a datagram sent before a
//! `recv_from` is always visible to it; nothing is ever reordered.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{FakeNet, FakeSocket, SockKind};
use crate::error::NetError;
use crate::types::{Ipv4Addr, Readiness, SocketAddrV4};
use crate::MAX_DATAGRAM;

pub(crate) struct Udp {
    pub(crate) port: u16,
    rx: VecDeque<(SocketAddrV4, Vec<u8>)>,
}

impl Udp {
    pub(crate) fn readiness(&self) -> Readiness {
        if self.rx.is_empty() {
            Readiness::WRITABLE
        } else {
            Readiness::WRITABLE | Readiness::READABLE
        }
    }
}

impl FakeNet {
    fn udp_mut(&mut self, node: usize, s: FakeSocket) -> Result<&mut Udp, NetError> {
        match &mut self.owned_mut(node, s)?.kind {
            SockKind::Udp(u) => Ok(u),
            _ => Err(NetError::InvalidInput),
        }
    }

    pub(crate) fn udp_bind(
        &mut self,
        node: usize,
        port: u16,
    ) -> Result<(FakeSocket, u16), NetError> {
        let port = if port == 0 {
            self.ephemeral_port(node, false)?
        } else if self.port_in_use(node, port, false) {
            return Err(NetError::AddrInUse);
        } else {
            port
        };
        let u = Udp {
            port,
            rx: VecDeque::new(),
        };
        Ok((self.alloc(node, SockKind::Udp(u))?, port))
    }

    /// Destination nodes of a datagram sent by `from` to `ip`.
    fn udp_targets(&self, from: usize, ip: Ipv4Addr) -> Vec<usize> {
        let own = self.nodes[from].iface;
        let is_bcast = ip.is_broadcast() || (own.prefix_len < 31 && ip == own.broadcast());
        if !is_bcast {
            return self.route(from, ip).into_iter().collect();
        }
        if !self.nodes[from].link_up {
            return if self.broadcast_loopback {
                alloc::vec![from]
            } else {
                Vec::new()
            };
        }
        (0..self.nodes.len())
            .filter(|&n| {
                let node = &self.nodes[n];
                if n == from {
                    self.broadcast_loopback
                } else {
                    node.link_up && own.contains(node.iface.addr)
                }
            })
            .collect()
    }

    pub(crate) fn udp_send_to(
        &mut self,
        node: usize,
        s: FakeSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), NetError> {
        if data.len() > MAX_DATAGRAM || to.port() == 0 || to.ip().is_unspecified() {
            return Err(NetError::InvalidInput);
        }
        let port = self.udp_mut(node, s)?.port;
        let src_ip = if to.ip().is_loopback() {
            *to.ip()
        } else {
            self.nodes[node].iface.addr
        };
        let from = SocketAddrV4::new(src_ip, port);
        let targets = self.udp_targets(node, *to.ip());
        if targets.is_empty() {
            let ip = *to.ip();
            let link_down =
                !self.link_up(node) || self.nodes.iter().any(|n| n.iface.addr == ip && !n.link_up);
            if link_down {
                self.stats.link_drops += 1;
            } else {
                self.stats.udp_unbound_drops += 1;
            }
            return Ok(());
        }
        let queue = self.udp_queue;
        for target in targets {
            let sock = self
                .slots
                .iter_mut()
                .filter_map(|sl| sl.sock.as_mut())
                .filter(|sk| sk.node == target)
                .find_map(|sk| match &mut sk.kind {
                    SockKind::Udp(u) if u.port == to.port() => Some(u),
                    _ => None,
                });
            match sock {
                Some(u) if u.rx.len() < queue => u.rx.push_back((from, data.to_vec())),
                Some(_) => self.stats.udp_queue_drops += 1,
                None => self.stats.udp_unbound_drops += 1,
            }
        }
        Ok(())
    }

    pub(crate) fn udp_recv_from(
        &mut self,
        node: usize,
        s: FakeSocket,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), NetError> {
        let u = self.udp_mut(node, s)?;
        let (from, data) = u.rx.pop_front().ok_or(NetError::WouldBlock)?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, from))
    }
}
