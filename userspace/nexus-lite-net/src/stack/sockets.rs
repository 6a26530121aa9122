//! The stack's sockets: UDP sockets, stream listeners and the host-local
//! stream shim, behind the sockets facade's [`Backend`] contract.
//!
//! `nexus_net::Server` owns the per-client handle tables; this module only
//! knows backend sockets ([`SocketId`]) and their bounded state. What the
//! lite stack supports of the facade (see `docs/lite-path.md`):
//!
//! - UDP: bind (port 0 = ephemeral; 68 belongs to the DHCP client), send to
//!   unicast, `255.255.255.255` or the subnet broadcast, receive (excess
//!   bytes of a datagram are discarded). Every socket listens on all
//!   addresses.
//! - Streams: listen, accept, connect, read, write, shutdown, close — but
//!   only between sockets of this host (127.0.0.0/8 or `virt0`'s own
//!   address): a connection is two in-memory pipes, there is no TCP on the
//!   wire. A connect to any other address is `Unsupported`. A connect
//!   completes at once (or fails at once with `ConnectionRefused`).
//! - `LocalAddr` reports `virt0` (0.0.0.0/0 before it has an address), MTU
//!   1500; `Ping` is ICMP echo over `lo` or `virt0`; `Stats` reports the
//!   sockets held and the bytes buffered in them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use nexus_net::{Backend, IfaceInfo, Ipv4Addr, NetError, Readiness, SocketAddrV4};

use super::{
    is_loopback, Stack, EPHEMERAL_FIRST, MAX_BACKLOG, MAX_CONNS, MAX_PINGS, MAX_SOCKETS,
    PING_IDENT, STREAM_BUF, UDP_MAX, UDP_QUEUE,
};
use crate::wire::{dhcp, icmp, ipv4, udp};

/// The link MTU `LocalAddr` reports.
pub const MTU: u16 = 1500;

/// A socket of the stack (what the facade server maps its handles to).
/// Never 0; a value is not reused while a socket holds it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SocketId(u32);

impl SocketId {
    /// The raw value.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

/// One host-local stream connection: side 0 connected, side 1 accepted.
#[derive(Debug)]
pub(super) struct Conn {
    /// `pipe[i]`: bytes written by side `i`, read by side `1 - i`.
    pipe: [VecDeque<u8>; 2],
    /// Side `i` will write no more (shutdown or close): the other side
    /// reads EOF after the pipe drained.
    shut: [bool; 2],
    /// Side `i` has no socket any more (closed; for side 1 also: its
    /// listener closed before accepting it).
    gone: [bool; 2],
    /// The listener was closed with this connection still in its backlog.
    reset: bool,
    /// Local ports: side 0's ephemeral port, side 1's listening port.
    ports: [u16; 2],
    /// The address side 0 connected to (side 1's address; both are this host).
    addr: [u8; 4],
}

#[derive(Debug)]
pub(super) enum Sock {
    Udp {
        port: u16,
        queue: VecDeque<([u8; 4], u16, Vec<u8>)>,
    },
    Listener {
        port: u16,
        backlog: VecDeque<usize>,
        max: usize,
    },
    Stream {
        conn: usize,
        side: usize,
    },
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: SocketId,
    sock: Sock,
}

#[derive(Clone, Debug)]
pub(super) struct Ping {
    id: u16,
    start: u64,
    rtt: Option<u64>,
}

fn v4(ip: Ipv4Addr) -> [u8; 4] {
    ip.octets()
}

impl Stack {
    /// Sockets held.
    pub fn open_sockets(&self) -> usize {
        self.entries.len()
    }

    /// Live stream connections (an entry stays until both sides are gone).
    pub fn open_conns(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    /// Pings remembered (pending or answered but not yet collected).
    pub fn open_pings(&self) -> usize {
        self.pings.len()
    }

    /// True if `ip` is this host: loopback or `virt0`'s address.
    fn is_local(&self, ip: [u8; 4]) -> bool {
        is_loopback(ip) || self.lease.is_some_and(|l| l.addr == ip)
    }

    fn alloc(&mut self, sock: Sock) -> Result<SocketId, NetError> {
        if self.entries.len() >= MAX_SOCKETS {
            return Err(NetError::NoBufs);
        }
        // At most MAX_SOCKETS values are taken, so this finds a free one
        // within MAX_SOCKETS + 1 steps.
        let id = loop {
            let id = self.next_socket;
            self.next_socket = self.next_socket.wrapping_add(1).max(1);
            if !self.entries.iter().any(|e| e.id.0 == id) {
                break SocketId(id);
            }
        };
        self.entries.push(Entry { id, sock });
        Ok(id)
    }

    fn sock_mut(&mut self, id: SocketId) -> Result<&mut Sock, NetError> {
        self.entries
            .iter_mut()
            .find(|e| e.id == id)
            .map(|e| &mut e.sock)
            .ok_or(NetError::NotFound)
    }

    fn ephemeral(&mut self, used: impl Fn(&Self, u16) -> bool) -> Option<u16> {
        for _ in 0..=(u16::MAX - EPHEMERAL_FIRST) {
            let p = self.next_port;
            self.next_port = if p == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                p + 1
            };
            if !used(self, p) {
                return Some(p);
            }
        }
        None
    }

    fn udp_port_used(&self, port: u16) -> bool {
        port == dhcp::CLIENT_PORT
            || self
                .entries
                .iter()
                .any(|e| matches!(e.sock, Sock::Udp { port: p, .. } if p == port))
    }

    fn listener_of(&self, port: u16) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| matches!(e.sock, Sock::Listener { port: p, .. } if p == port))
    }

    fn stream_port_used(&self, port: u16) -> bool {
        self.listener_of(port).is_some() || self.conns.iter().flatten().any(|c| c.ports[0] == port)
    }

    fn stream(&mut self, id: SocketId) -> Result<(&mut Conn, usize), NetError> {
        let (conn, side) = match *self.sock_mut(id)? {
            Sock::Stream { conn, side } => (conn, side),
            _ => return Err(NetError::InvalidInput),
        };
        let c = self
            .conns
            .get_mut(conn)
            .and_then(Option::as_mut)
            .ok_or(NetError::NotFound)?;
        Ok((c, side))
    }

    /// Side `side` of `conn` has no socket any more: it writes no more, its
    /// unread input is dropped, and the connection is freed once both sides
    /// are gone.
    fn release(&mut self, conn: usize, side: usize) {
        let Some(slot) = self.conns.get_mut(conn) else {
            return;
        };
        if let Some(c) = slot {
            c.gone[side] = true;
            c.shut[side] = true;
            c.pipe[1 - side].clear();
            if c.gone == [true, true] {
                *slot = None;
            }
        }
    }

    /// Queues a datagram that arrived for `port` on the socket bound to it;
    /// false if there is none or its queue is full (dropped).
    pub(super) fn udp_deliver(&mut self, port: u16, src: [u8; 4], sport: u16, data: &[u8]) -> bool {
        let queue = self.entries.iter_mut().find_map(|e| match &mut e.sock {
            Sock::Udp { port: p, queue } if *p == port => Some(queue),
            _ => None,
        });
        match queue {
            Some(q) if q.len() < UDP_QUEUE => {
                q.push_back((src, sport, data.to_vec()));
                true
            }
            _ => false,
        }
    }

    /// An echo reply with our identifier and sequence `seq` arrived.
    pub(super) fn ping_reply(&mut self, seq: u16, now: u64) {
        if let Some(p) = self
            .pings
            .iter_mut()
            .find(|p| p.id == seq && p.rtt.is_none())
        {
            p.rtt = Some(now.saturating_sub(p.start));
        }
    }

    fn buffered_bytes(&self) -> usize {
        let udp: usize = self
            .entries
            .iter()
            .map(|e| match &e.sock {
                Sock::Udp { queue, .. } => queue.iter().map(|d| d.2.len()).sum(),
                _ => 0,
            })
            .sum();
        let streams: usize = self
            .conns
            .iter()
            .flatten()
            .map(|c| c.pipe[0].len() + c.pipe[1].len())
            .sum();
        udp + streams
    }
}

impl Backend for Stack {
    type Socket = SocketId;

    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<(SocketId, u16), NetError> {
        let port = match port {
            0 => self
                .ephemeral(|s, p| s.stream_port_used(p))
                .ok_or(NetError::NoBufs)?,
            p if self.listener_of(p).is_some() => return Err(NetError::AddrInUse),
            p => p,
        };
        let max = usize::from(backlog).clamp(1, MAX_BACKLOG);
        let id = self.alloc(Sock::Listener {
            port,
            backlog: VecDeque::new(),
            max,
        })?;
        Ok((id, port))
    }

    fn tcp_accept(&mut self, listener: SocketId) -> Result<(SocketId, SocketAddrV4), NetError> {
        let conn = match self.sock_mut(listener)? {
            Sock::Listener { backlog, .. } => backlog.front().copied(),
            _ => return Err(NetError::InvalidInput),
        };
        let conn = conn.ok_or(NetError::WouldBlock)?;
        // With no room the connection stays queued.
        let s = self.alloc(Sock::Stream { conn, side: 1 })?;
        if let Ok(Sock::Listener { backlog, .. }) = self.sock_mut(listener) {
            backlog.pop_front();
        }
        let (addr, port) = self.conns[conn]
            .as_ref()
            .map_or(([0; 4], 0), |c| (c.addr, c.ports[0]));
        Ok((s, SocketAddrV4::new(Ipv4Addr::from(addr), port)))
    }

    fn tcp_connect(
        &mut self,
        remote: SocketAddrV4,
        _now_ns: u64,
    ) -> Result<(SocketId, u16), NetError> {
        let addr = v4(*remote.ip());
        if remote.port() == 0 || addr == [0; 4] {
            return Err(NetError::InvalidInput);
        }
        if !self.is_local(addr) {
            // No TCP on the wire in the lite stack.
            return Err(NetError::Unsupported);
        }
        let li = self
            .listener_of(remote.port())
            .ok_or(NetError::ConnectionRefused)?;
        if let Sock::Listener { backlog, max, .. } = &self.entries[li].sock {
            if backlog.len() >= *max {
                return Err(NetError::ConnectionRefused);
            }
        }
        if self.entries.len() >= MAX_SOCKETS {
            return Err(NetError::NoBufs);
        }
        let slot = match self.conns.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.conns.len() < MAX_CONNS => {
                self.conns.push(None);
                self.conns.len() - 1
            }
            None => return Err(NetError::NoBufs),
        };
        let local = self
            .ephemeral(|s, p| s.stream_port_used(p))
            .ok_or(NetError::NoBufs)?;
        self.conns[slot] = Some(Conn {
            pipe: [VecDeque::new(), VecDeque::new()],
            shut: [false; 2],
            // Side 1 counts as present while it waits in the backlog.
            gone: [false; 2],
            reset: false,
            ports: [local, remote.port()],
            addr,
        });
        let id = match self.alloc(Sock::Stream {
            conn: slot,
            side: 0,
        }) {
            Ok(id) => id,
            Err(e) => {
                self.conns[slot] = None;
                return Err(e);
            }
        };
        if let Sock::Listener { backlog, .. } = &mut self.entries[li].sock {
            backlog.push_back(slot);
        }
        Ok((id, local))
    }

    fn tcp_read(&mut self, stream: SocketId, buf: &mut [u8]) -> Result<usize, NetError> {
        let (c, side) = self.stream(stream)?;
        if c.reset {
            return Err(NetError::ConnectionReset);
        }
        let pipe = &mut c.pipe[1 - side];
        if pipe.is_empty() {
            return if c.shut[1 - side] {
                Ok(0)
            } else {
                Err(NetError::WouldBlock)
            };
        }
        let n = buf.len().min(pipe.len());
        for (d, s) in buf.iter_mut().zip(pipe.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }

    fn tcp_write(&mut self, stream: SocketId, data: &[u8]) -> Result<usize, NetError> {
        let (c, side) = self.stream(stream)?;
        if c.reset {
            return Err(NetError::ConnectionReset);
        }
        if c.shut[side] || c.gone[1 - side] {
            return Err(NetError::Closed);
        }
        let room = STREAM_BUF.saturating_sub(c.pipe[side].len());
        if room == 0 || data.is_empty() {
            return Err(NetError::WouldBlock);
        }
        let n = room.min(data.len());
        c.pipe[side].extend(&data[..n]);
        Ok(n)
    }

    fn tcp_shutdown(&mut self, stream: SocketId) -> Result<(), NetError> {
        let (c, side) = self.stream(stream)?;
        c.shut[side] = true;
        Ok(())
    }

    fn udp_bind(&mut self, port: u16) -> Result<(SocketId, u16), NetError> {
        let port = match port {
            0 => self
                .ephemeral(|s, p| s.udp_port_used(p))
                .ok_or(NetError::NoBufs)?,
            p if self.udp_port_used(p) => return Err(NetError::AddrInUse),
            p => p,
        };
        let id = self.alloc(Sock::Udp {
            port,
            queue: VecDeque::new(),
        })?;
        Ok((id, port))
    }

    fn udp_send_to(
        &mut self,
        socket: SocketId,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), NetError> {
        let sport = match *self.sock_mut(socket)? {
            Sock::Udp { port, .. } => port,
            _ => return Err(NetError::InvalidInput),
        };
        let dst = v4(*to.ip());
        if data.len() > UDP_MAX || to.port() == 0 || dst == [0; 4] || to.ip().is_multicast() {
            return Err(NetError::InvalidInput);
        }
        let src = self.source_for(dst)?;
        let seg = udp::build(src, dst, sport, to.port(), data);
        self.ip_output(src, dst, ipv4::PROTO_UDP, &seg)
    }

    fn udp_recv_from(
        &mut self,
        socket: SocketId,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), NetError> {
        let (src, port, data) = match self.sock_mut(socket)? {
            Sock::Udp { queue, .. } => queue.pop_front().ok_or(NetError::WouldBlock)?,
            _ => return Err(NetError::InvalidInput),
        };
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, SocketAddrV4::new(Ipv4Addr::from(src), port)))
    }

    fn close(&mut self, socket: SocketId) {
        let Some(i) = self.entries.iter().position(|e| e.id == socket) else {
            return;
        };
        match self.entries.swap_remove(i).sock {
            Sock::Udp { .. } => {}
            Sock::Listener { backlog, .. } => {
                // Connections nobody accepted are reset.
                for conn in backlog {
                    if let Some(Some(c)) = self.conns.get_mut(conn) {
                        c.reset = true;
                    }
                    self.release(conn, 1);
                }
            }
            Sock::Stream { conn, side } => self.release(conn, side),
        }
    }

    fn readiness(&mut self, socket: SocketId) -> Readiness {
        let Some(e) = self.entries.iter().find(|e| e.id == socket) else {
            return Readiness::EMPTY;
        };
        let r = |b: bool, flag: Readiness| if b { flag } else { Readiness::EMPTY };
        match &e.sock {
            Sock::Udp { queue, .. } => {
                Readiness::WRITABLE.union(r(!queue.is_empty(), Readiness::READABLE))
            }
            Sock::Listener { backlog, .. } => r(!backlog.is_empty(), Readiness::READABLE),
            Sock::Stream { conn, side } => {
                let Some(Some(c)) = self.conns.get(*conn) else {
                    // Writes fail at once: WRITABLE wakes writers.
                    return Readiness::HUP.union(Readiness::WRITABLE);
                };
                if c.reset {
                    return Readiness::ERROR.union(Readiness::HUP);
                }
                let (me, peer) = (*side, 1 - *side);
                let eof = c.shut[peer];
                let readable = !c.pipe[peer].is_empty() || eof;
                // A write would take bytes, or fail at once (`Closed`).
                let writable = c.shut[me] || c.gone[peer] || c.pipe[me].len() < STREAM_BUF;
                r(readable, Readiness::READABLE)
                    .union(r(writable, Readiness::WRITABLE))
                    .union(r(eof, Readiness::HUP))
            }
        }
    }

    fn iface(&self) -> IfaceInfo {
        match self.lease {
            Some(l) => IfaceInfo {
                addr: Ipv4Addr::from(l.addr),
                prefix_len: l.prefix,
                gateway: l.gateway.map(Ipv4Addr::from),
                mtu: MTU,
            },
            None => IfaceInfo {
                addr: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
                gateway: None,
                mtu: MTU,
            },
        }
    }

    fn ping_start(&mut self, addr: Ipv4Addr, _seq: u16, now_ns: u64) -> Result<u32, NetError> {
        let dst = v4(addr);
        if dst == [0; 4] || self.is_broadcast(dst) || addr.is_multicast() {
            return Err(NetError::InvalidInput);
        }
        let src = self.source_for(dst)?;
        if self.pings.len() >= MAX_PINGS {
            // Bounded: forget the oldest (its waiter times out).
            if let Some(i) = (0..self.pings.len()).min_by_key(|&i| self.pings[i].start) {
                self.pings.swap_remove(i);
            }
        }
        // A fresh id: at most MAX_PINGS are taken.
        let id = loop {
            let id = self.next_ping;
            self.next_ping = self.next_ping.wrapping_add(1).max(1);
            if !self.pings.iter().any(|p| p.id == id) {
                break id;
            }
        };
        let msg = icmp::build_echo(icmp::ECHO_REQUEST, PING_IDENT, id, b"neuron-lite-ping");
        self.ip_output(src, dst, ipv4::PROTO_ICMP, &msg)?;
        self.pings.push(Ping {
            id,
            start: now_ns,
            rtt: None,
        });
        Ok(u32::from(id))
    }

    fn ping_poll(&mut self, token: u32, _now_ns: u64) -> Option<Result<u64, NetError>> {
        let id = u16::try_from(token).ok()?;
        let i = self
            .pings
            .iter()
            .position(|p| p.id == id && p.rtt.is_some())?;
        self.pings.swap_remove(i).rtt.map(Ok)
    }

    fn usage(&self) -> (u32, u32) {
        (
            u32::try_from(self.entries.len()).unwrap_or(u32::MAX),
            u32::try_from(self.buffered_bytes()).unwrap_or(u32::MAX),
        )
    }
}
