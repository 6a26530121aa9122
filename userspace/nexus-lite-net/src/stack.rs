//! The `netstackd-lite` core: a tiny IPv4 host stack, driven by frames and a
//! clock from outside.
//!
//! - Interfaces: `lo` (127.0.0.1/8, always up) and `virt0` (Ethernet, MAC
//!   from the driver), addressed by the DHCP stub client: DISCOVER at once
//!   (UDP 68→67, 0.0.0.0 → 255.255.255.255, Ethernet broadcast), resent every
//!   [`DHCP_RETRY_NS`]; OFFER → REQUEST → ACK gives the lease; if no ACK
//!   arrives before the DHCP deadline the fixed lease 10.0.2.15/24 (gateway
//!   10.0.2.2, DNS 10.0.2.3) is taken. No renewal: a lease lasts for the life
//!   of the task.
//! - ARP: answers requests for our address, learns senders that address us
//!   (and refreshes known ones), resolves next hops with up to
//!   [`ARP_TRIES`] requests while one packet per entry waits; the cache holds
//!   [`ARP_ENTRIES`] entries (the oldest is replaced).
//! - IPv4 input checks everything [`crate::wire::ipv4::parse`] checks; no
//!   fragments, no options emitted. ICMP echo requests are answered, echo
//!   replies complete pings. UDP goes to bound sockets (each queues at most
//!   [`UDP_QUEUE`] datagrams; more are dropped).
//! - Streams are a host-local in-memory shim: a connect to a listening port
//!   on 127.0.0.0/8 (or on `virt0`'s own address) creates a connection with
//!   two bounded byte pipes of [`STREAM_BUF`] bytes; there is no TCP on the
//!   wire.
//!
//! Output frames for `virt0` queue in [`Stack::pop_tx`] (at most
//! [`TX_QUEUE`]); packets to `lo` (or to our own `virt0` address) queue
//! internally and are delivered by [`Stack::poll`], at most [`LO_BUDGET`]
//! per call. Every table is bounded.
//!
//! The socket side is the sockets facade's contract: `Stack` implements
//! [`nexus_net::Backend`] (module `sockets`), so `netstackd-lite` serves it
//! with `nexus_net::dispatch` and `nexus_net::Server` like the canonical
//! `netstackd`. Every socket operation is non-blocking (`WouldBlock`), and
//! readiness drives the facade's `Wait`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use nexus_net::NetError;

use crate::wire::{arp, dhcp, eth, icmp, ipv4, udp};

pub use sockets::SocketId;
use sockets::{Conn, Entry, Ping};

/// `lo`'s address.
pub const LO_ADDR: [u8; 4] = [127, 0, 0, 1];
/// Fixed lease used when DHCP stays silent.
pub const FIXED_ADDR: [u8; 4] = [10, 0, 2, 15];
/// Fixed lease prefix.
pub const FIXED_PREFIX: u8 = 24;
/// Fixed lease gateway.
pub const FIXED_GW: [u8; 4] = [10, 0, 2, 2];
/// Fixed lease DNS.
pub const FIXED_DNS: [u8; 4] = [10, 0, 2, 3];
/// Default time DHCP is given before the fixed lease is taken.
pub const DHCP_WAIT_NS: u64 = 3_000_000_000;
/// DISCOVER / REQUEST retransmission interval.
pub const DHCP_RETRY_NS: u64 = 1_000_000_000;
/// ARP cache entries.
pub const ARP_ENTRIES: usize = 16;
/// ARP requests per resolution.
pub const ARP_TRIES: u8 = 3;
/// Interval between ARP requests.
pub const ARP_RETRY_NS: u64 = 1_000_000_000;
/// Open handles (all clients together).
pub const MAX_SOCKETS: usize = 32;
/// Live loopback connections.
pub const MAX_CONNS: usize = 16;
/// Datagrams queued per UDP socket.
pub const UDP_QUEUE: usize = 8;
/// Bytes buffered per stream direction.
pub const STREAM_BUF: usize = 4096;
/// Largest UDP payload (MTU 1500 − 20 − 8).
pub const UDP_MAX: usize = 1472;
/// Largest backlog of a listener.
pub const MAX_BACKLOG: usize = 8;
/// Outstanding pings.
pub const MAX_PINGS: usize = 8;
/// Frames queued for the driver.
pub const TX_QUEUE: usize = 64;
/// Packets queued on `lo`.
pub const LO_QUEUE: usize = 32;
/// `lo` packets delivered per [`Stack::poll`].
pub const LO_BUDGET: usize = 32;
/// ICMP identifier of our pings.
pub const PING_IDENT: u16 = 0x4c4e;
/// First ephemeral port.
pub const EPHEMERAL_FIRST: u16 = 49152;

/// How `virt0` got its address.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LeaseKind {
    /// From a DHCP server.
    Dhcp,
    /// The fixed fallback.
    Fixed,
}

/// `virt0`'s address configuration.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Address.
    pub addr: [u8; 4],
    /// Prefix length.
    pub prefix: u8,
    /// Default gateway.
    pub gateway: Option<[u8; 4]>,
    /// DNS server.
    pub dns: Option<[u8; 4]>,
    /// Origin.
    pub kind: LeaseKind,
}

impl Lease {
    fn mask(&self) -> u32 {
        match self.prefix {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        }
    }
    /// True if `ip` is in our subnet.
    pub fn on_link(&self, ip: [u8; 4]) -> bool {
        let m = self.mask();
        u32::from_be_bytes(ip) & m == u32::from_be_bytes(self.addr) & m
    }
    /// The subnet broadcast address.
    pub fn broadcast(&self) -> [u8; 4] {
        (u32::from_be_bytes(self.addr) | !self.mask()).to_be_bytes()
    }
}

/// Something the service should report.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `lo` is up.
    LoUp,
    /// `virt0` is addressed (see the lease kind).
    Virt0Up(Lease),
}

/// Counters for diagnostics.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames/packets rejected by a parser.
    pub malformed: u64,
    /// Valid packets not for us / no socket / queue full.
    pub dropped: u64,
    /// Frames queued for the driver.
    pub tx_frames: u64,
    /// Frames accepted from the driver.
    pub rx_frames: u64,
}

#[derive(Clone, Debug)]
enum DhcpState {
    Selecting {
        next_tx: u64,
    },
    Requesting {
        offer: [u8; 4],
        server: [u8; 4],
        next_tx: u64,
    },
    Done,
}

#[derive(Clone, Debug)]
struct ArpEntry {
    ip: [u8; 4],
    mac: Option<[u8; 6]>,
    pending: Option<Vec<u8>>,
    tries: u8,
    next_retry: u64,
    touched: u64,
}

fn is_loopback(ip: [u8; 4]) -> bool {
    ip[0] == 127
}

/// The stack. See the module docs.
#[derive(Debug)]
pub struct Stack {
    mac: [u8; 6],
    lease: Option<Lease>,
    dhcp: DhcpState,
    dhcp_deadline: u64,
    xid: u32,
    arp: Vec<ArpEntry>,
    ident: u16,
    tx: VecDeque<Vec<u8>>,
    lo: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    entries: Vec<Entry>,
    conns: Vec<Option<Conn>>,
    pings: Vec<Ping>,
    next_socket: u32,
    next_port: u16,
    next_ping: u16,
    stats: Stats,
}

impl Stack {
    /// A stack for `virt0` with `mac`, starting DHCP at `now` and giving up
    /// (fixed lease) after `dhcp_wait_ns`.
    pub fn new(mac: [u8; 6], now: u64, dhcp_wait_ns: u64) -> Self {
        let xid = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]])
            ^ (now as u32).rotate_left(7)
            ^ 0x4c4e_0001;
        let mut events = VecDeque::new();
        events.push_back(Event::LoUp);
        Stack {
            mac,
            lease: None,
            dhcp: DhcpState::Selecting { next_tx: now },
            dhcp_deadline: now.saturating_add(dhcp_wait_ns),
            xid,
            arp: Vec::new(),
            ident: (xid >> 16) as u16,
            tx: VecDeque::new(),
            lo: VecDeque::new(),
            events,
            entries: Vec::new(),
            conns: Vec::new(),
            pings: Vec::new(),
            next_socket: 1,
            next_port: EPHEMERAL_FIRST,
            next_ping: 1,
            stats: Stats::default(),
        }
    }

    /// `virt0`'s MAC.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// `virt0`'s lease, once it has one.
    pub fn lease(&self) -> Option<Lease> {
        self.lease
    }

    /// The DHCP transaction id in use.
    pub fn dhcp_xid(&self) -> u32 {
        self.xid
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Next event to report.
    pub fn take_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Next frame for the driver.
    pub fn pop_tx(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// Puts a frame the driver could not take back at the head of the queue.
    pub fn unpop_tx(&mut self, f: Vec<u8>) {
        if self.tx.len() < TX_QUEUE {
            self.tx.push_front(f);
        }
    }

    /// True if [`Stack::poll`] has loopback packets to deliver right away.
    pub fn has_work(&self) -> bool {
        !self.lo.is_empty()
    }

    /// The next time [`Stack::poll`] must run (DHCP, ARP retries).
    pub fn next_deadline(&self) -> Option<u64> {
        let dhcp = match self.dhcp {
            DhcpState::Selecting { next_tx } | DhcpState::Requesting { next_tx, .. } => {
                Some(next_tx.min(self.dhcp_deadline))
            }
            DhcpState::Done => None,
        };
        let arp = self
            .arp
            .iter()
            .filter(|e| e.mac.is_none())
            .map(|e| e.next_retry)
            .min();
        [dhcp, arp].into_iter().flatten().min()
    }

    // ---------------------------------------------------------------- time

    /// Runs timers (DHCP, ARP) and delivers queued loopback packets.
    pub fn poll(&mut self, now: u64) {
        self.poll_dhcp(now);
        self.poll_arp(now);
        for _ in 0..LO_BUDGET {
            let Some(p) = self.lo.pop_front() else { break };
            self.ip_input(&p, None, true, now);
        }
    }

    fn poll_dhcp(&mut self, now: u64) {
        match self.dhcp {
            DhcpState::Done => {}
            _ if now >= self.dhcp_deadline => {
                self.configure(Lease {
                    addr: FIXED_ADDR,
                    prefix: FIXED_PREFIX,
                    gateway: Some(FIXED_GW),
                    dns: Some(FIXED_DNS),
                    kind: LeaseKind::Fixed,
                });
            }
            DhcpState::Selecting { next_tx } if now >= next_tx => {
                self.send_dhcp(dhcp::DISCOVER, None, None);
                self.dhcp = DhcpState::Selecting {
                    next_tx: now.saturating_add(DHCP_RETRY_NS),
                };
            }
            DhcpState::Requesting {
                offer,
                server,
                next_tx,
            } if now >= next_tx => {
                self.send_dhcp(dhcp::REQUEST, Some(offer), Some(server));
                self.dhcp = DhcpState::Requesting {
                    offer,
                    server,
                    next_tx: now.saturating_add(DHCP_RETRY_NS),
                };
            }
            _ => {}
        }
    }

    fn configure(&mut self, l: Lease) {
        self.lease = Some(l);
        self.dhcp = DhcpState::Done;
        self.events.push_back(Event::Virt0Up(l));
    }

    fn send_dhcp(&mut self, kind: u8, req: Option<[u8; 4]>, server: Option<[u8; 4]>) {
        let msg = dhcp::build_client(kind, self.xid, self.mac, req, server);
        let seg = udp::build(
            [0; 4],
            ipv4::BROADCAST,
            dhcp::CLIENT_PORT,
            dhcp::SERVER_PORT,
            &msg,
        );
        let pkt = self.ip_packet([0; 4], ipv4::BROADCAST, ipv4::PROTO_UDP, &seg);
        self.push_frame(eth::BROADCAST, eth::TYPE_IPV4, &pkt);
    }

    fn poll_arp(&mut self, now: u64) {
        let mut requests: Vec<[u8; 4]> = Vec::new();
        self.arp.retain_mut(|e| {
            if e.mac.is_some() || now < e.next_retry {
                return true;
            }
            if e.tries >= ARP_TRIES {
                return false; // unresolved: drop the waiting packet
            }
            e.tries += 1;
            e.next_retry = now.saturating_add(ARP_RETRY_NS);
            requests.push(e.ip);
            true
        });
        for ip in requests {
            self.send_arp_request(ip);
        }
    }

    // ------------------------------------------------------------- input

    /// Handles one Ethernet frame from `virt0`.
    pub fn on_frame(&mut self, frame: &[u8], now: u64) {
        self.stats.rx_frames += 1;
        let Ok(f) = eth::parse(frame) else {
            self.stats.malformed += 1;
            return;
        };
        if f.dst != self.mac && f.dst != eth::BROADCAST {
            self.stats.dropped += 1;
            return;
        }
        match f.ethertype {
            eth::TYPE_ARP => self.arp_input(f.payload, now),
            eth::TYPE_IPV4 => self.ip_input(f.payload, Some(f.src), false, now),
            _ => self.stats.dropped += 1,
        }
    }

    fn arp_input(&mut self, b: &[u8], now: u64) {
        let Ok(p) = arp::parse(b) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(l) = self.lease else {
            self.stats.dropped += 1;
            return;
        };
        if p.spa == [0; 4] || p.sha == eth::BROADCAST || p.sha[0] & 1 != 0 {
            // Probes and bogus senders are not learned.
        } else if p.tpa == l.addr || self.arp.iter().any(|e| e.ip == p.spa) {
            self.arp_learn(p.spa, p.sha, now);
        }
        if p.op == arp::OP_REQUEST && p.tpa == l.addr {
            let reply = arp::build(&arp::Packet {
                op: arp::OP_REPLY,
                sha: self.mac,
                spa: l.addr,
                tha: p.sha,
                tpa: p.spa,
            });
            self.push_frame(p.sha, eth::TYPE_ARP, &reply);
        }
    }

    fn arp_learn(&mut self, ip: [u8; 4], mac: [u8; 6], now: u64) {
        let idx = match self.arp.iter().position(|e| e.ip == ip) {
            Some(i) => i,
            None => {
                if self.arp.len() >= ARP_ENTRIES {
                    let oldest = self
                        .arp
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, e)| e.touched)
                        .map_or(0, |(i, _)| i);
                    self.arp.swap_remove(oldest);
                }
                self.arp.push(ArpEntry {
                    ip,
                    mac: None,
                    pending: None,
                    tries: 0,
                    next_retry: 0,
                    touched: now,
                });
                self.arp.len() - 1
            }
        };
        let e = &mut self.arp[idx];
        e.mac = Some(mac);
        e.touched = now;
        if let Some(p) = e.pending.take() {
            self.push_frame(mac, eth::TYPE_IPV4, &p);
        }
    }

    fn ip_input(&mut self, b: &[u8], src_mac: Option<[u8; 6]>, from_lo: bool, now: u64) {
        let Ok(p) = ipv4::parse(b) else {
            self.stats.malformed += 1;
            return;
        };
        let lease = self.lease;
        let ours = |ip: [u8; 4]| lease.is_some_and(|l| l.addr == ip);
        let to_us = if from_lo {
            is_loopback(p.dst) || ours(p.dst)
        } else {
            ours(p.dst)
                || p.dst == ipv4::BROADCAST
                || lease.is_some_and(|l| l.broadcast() == p.dst)
                || (lease.is_none() && p.proto == ipv4::PROTO_UDP)
        };
        if !to_us || (!from_lo && is_loopback(p.src)) {
            self.stats.dropped += 1;
            return;
        }
        if let (Some(mac), Some(l)) = (src_mac, lease) {
            // Learn the sender from the frame (on-link, unicast to us only).
            if ours(p.dst) && l.on_link(p.src) && p.src != l.addr && mac[0] & 1 == 0 {
                self.arp_learn(p.src, mac, now);
            }
        }
        match p.proto {
            ipv4::PROTO_ICMP => self.icmp_input(&p, now),
            ipv4::PROTO_UDP => self.udp_input(&p, from_lo, now),
            _ => self.stats.dropped += 1,
        }
    }

    fn icmp_input(&mut self, p: &ipv4::Packet<'_>, now: u64) {
        let Ok(m) = icmp::parse(p.payload) else {
            self.stats.malformed += 1;
            return;
        };
        match (m.kind, m.code) {
            (icmp::ECHO_REQUEST, 0) if !self.is_broadcast(p.dst) => {
                let reply = icmp::build_echo(icmp::ECHO_REPLY, m.ident, m.seq, m.data);
                let _ = self.ip_output(p.dst, p.src, ipv4::PROTO_ICMP, &reply);
            }
            (icmp::ECHO_REPLY, 0) if m.ident == PING_IDENT => {
                self.ping_reply(m.seq, now);
            }
            _ => self.stats.dropped += 1,
        }
    }

    fn is_broadcast(&self, ip: [u8; 4]) -> bool {
        ip == ipv4::BROADCAST || self.lease.is_some_and(|l| l.broadcast() == ip)
    }

    fn udp_input(&mut self, p: &ipv4::Packet<'_>, from_lo: bool, now: u64) {
        let Ok(d) = udp::parse(p.src, p.dst, p.payload) else {
            self.stats.malformed += 1;
            return;
        };
        if !from_lo && d.dst_port == dhcp::CLIENT_PORT && d.src_port == dhcp::SERVER_PORT {
            self.dhcp_input(d.payload, p.src, now);
            return;
        }
        if self.lease.is_none() && !from_lo {
            self.stats.dropped += 1;
            return;
        }
        if !self.udp_deliver(d.dst_port, p.src, d.src_port, d.payload) {
            self.stats.dropped += 1;
        }
    }

    fn dhcp_input(&mut self, b: &[u8], ip_src: [u8; 4], now: u64) {
        let Ok(m) = dhcp::parse(b) else {
            self.stats.malformed += 1;
            return;
        };
        if m.op != 2 || m.xid != self.xid || m.chaddr != self.mac {
            self.stats.dropped += 1;
            return;
        }
        match (&self.dhcp, m.msg_type) {
            (DhcpState::Selecting { .. }, Some(dhcp::OFFER)) if m.yiaddr != [0; 4] => {
                let server = m.server_id.unwrap_or(ip_src);
                self.send_dhcp(dhcp::REQUEST, Some(m.yiaddr), Some(server));
                self.dhcp = DhcpState::Requesting {
                    offer: m.yiaddr,
                    server,
                    next_tx: now.saturating_add(DHCP_RETRY_NS),
                };
            }
            (DhcpState::Requesting { offer, .. }, Some(dhcp::ACK))
                if m.yiaddr == *offer && m.yiaddr != [0; 4] =>
            {
                let prefix = m
                    .subnet_mask
                    .map(u32::from_be_bytes)
                    .filter(|mask| mask.leading_ones() + mask.trailing_zeros() == 32)
                    .map_or(24, |mask| mask.leading_ones() as u8);
                self.configure(Lease {
                    addr: m.yiaddr,
                    prefix,
                    gateway: m.router,
                    dns: m.dns,
                    kind: LeaseKind::Dhcp,
                });
            }
            (DhcpState::Requesting { .. }, Some(dhcp::NAK)) => {
                self.dhcp = DhcpState::Selecting { next_tx: 0 };
            }
            _ => self.stats.dropped += 1,
        }
    }

    // ------------------------------------------------------------ output

    fn ip_packet(&mut self, src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
        self.ident = self.ident.wrapping_add(1);
        ipv4::build(src, dst, proto, self.ident, 64, payload)
    }

    fn push_frame(&mut self, dst: [u8; 6], ethertype: u16, payload: &[u8]) {
        if self.tx.len() >= TX_QUEUE {
            self.stats.dropped += 1;
            return;
        }
        self.tx
            .push_back(eth::build(dst, self.mac, ethertype, payload));
        self.stats.tx_frames += 1;
    }

    fn send_arp_request(&mut self, ip: [u8; 4]) {
        let Some(l) = self.lease else { return };
        let req = arp::build(&arp::Packet {
            op: arp::OP_REQUEST,
            sha: self.mac,
            spa: l.addr,
            tha: [0; 6],
            tpa: ip,
        });
        self.push_frame(eth::BROADCAST, eth::TYPE_ARP, &req);
    }

    /// The source address for a packet to `dst`, or why there is none.
    fn source_for(&self, dst: [u8; 4]) -> Result<[u8; 4], NetError> {
        if is_loopback(dst) {
            return Ok(LO_ADDR);
        }
        self.lease.map(|l| l.addr).ok_or(NetError::NotConnected)
    }

    /// Builds and routes an IPv4 packet.
    fn ip_output(
        &mut self,
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        payload: &[u8],
    ) -> Result<(), NetError> {
        if dst == [0; 4] {
            return Err(NetError::InvalidInput);
        }
        let lease = self.lease;
        if is_loopback(dst) || lease.is_some_and(|l| l.addr == dst) {
            let pkt = self.ip_packet(src, dst, proto, payload);
            if self.lo.len() >= LO_QUEUE {
                self.stats.dropped += 1;
                return Err(NetError::NoBufs);
            }
            self.lo.push_back(pkt);
            return Ok(());
        }
        let l = lease.ok_or(NetError::NotConnected)?;
        let pkt = self.ip_packet(src, dst, proto, payload);
        if self.is_broadcast(dst) {
            self.push_frame(eth::BROADCAST, eth::TYPE_IPV4, &pkt);
            return Ok(());
        }
        let hop = if l.on_link(dst) {
            dst
        } else {
            l.gateway.ok_or(NetError::NotConnected)?
        };
        if let Some(e) = self.arp.iter_mut().find(|e| e.ip == hop) {
            match e.mac {
                Some(mac) => self.push_frame(mac, eth::TYPE_IPV4, &pkt),
                None => e.pending = Some(pkt), // newest packet waits
            }
            return Ok(());
        }
        if self.arp.len() >= ARP_ENTRIES {
            let victim = self
                .arp
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.touched)
                .map_or(0, |(i, _)| i);
            self.arp.swap_remove(victim);
        }
        self.arp.push(ArpEntry {
            ip: hop,
            mac: None,
            pending: Some(pkt),
            tries: 0,
            next_retry: 0, // the next poll sends the first request
            touched: 0,
        });
        Ok(())
    }
}

mod sockets;

#[cfg(test)]
mod tests;
