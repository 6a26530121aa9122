//! Shared helpers for the integration tests: deadlines, payload patterns,
//! a minimal DHCP server speaking smoltcp wire types, frame parsing.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use nexus_net::{NetClient, NetError, TcpStream, MAX_IO};
use nexus_net_os::memlink::MemLink;
use nexus_net_os::smoltcp::phy::ChecksumCapabilities;
use nexus_net_os::smoltcp::wire::{
    DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};
use nexus_net_os::testing::{TestNet, TestTransport};
use nexus_net_os::Ipv4Addr;

pub type Client = NetClient<TestTransport>;

pub const SEC: u64 = 1_000_000_000;
pub const MS: u64 = 1_000_000;

/// Absolute deadline `secs` seconds from the net's current time.
pub fn dl(net: &TestNet, secs: u64) -> u64 {
    net.now() + secs * SEC
}

/// Deterministic payload: byte `i` of stream `seed`.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(u32::from(seed % 31)) as u8
                ^ seed
        })
        .collect()
}

/// A parsed IPv4/UDP frame (only what the tests assert on).
#[derive(Debug, Clone)]
pub struct UdpFrame {
    pub eth_dst: EthernetAddress,
    pub eth_src: EthernetAddress,
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

pub fn parse_udp(frame: &[u8]) -> Option<UdpFrame> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Udp {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    Some(UdpFrame {
        eth_dst: eth.dst_addr(),
        eth_src: eth.src_addr(),
        ip_src: ip.src_addr(),
        ip_dst: ip.dst_addr(),
        src_port: udp.src_port(),
        dst_port: udp.dst_port(),
        payload: udp.payload().to_vec(),
    })
}

/// DHCP message type of a frame, if it is a DHCP message.
pub fn dhcp_type(frame: &[u8]) -> Option<DhcpMessageType> {
    let u = parse_udp(frame)?;
    if !((u.src_port == 68 && u.dst_port == 67) || (u.src_port == 67 && u.dst_port == 68)) {
        return None;
    }
    let pkt = DhcpPacket::new_checked(&u.payload[..]).ok()?;
    DhcpRepr::parse(&pkt).ok().map(|r| r.message_type)
}

/// A minimal DHCP server for the raw side of a single-stack `TestNet`.
#[derive(Clone)]
pub struct DhcpServer {
    pub offer: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub server_ip: Ipv4Addr,
    pub server_mac: [u8; 6],
    pub lease_secs: u32,
    /// When false, frames are consumed and ignored.
    pub enabled: Rc<Cell<bool>>,
    /// DHCP message types received, in order.
    pub seen: Rc<RefCell<Vec<DhcpMessageType>>>,
    /// Delay before an OFFER is sent (dnsmasq probes the address with a
    /// ping for about 3 s first).
    pub offer_delay_ns: u64,
    /// DISCOVERs to ignore before answering (lost DISCOVER/OFFER).
    pub ignore_discovers: Rc<Cell<u32>>,
    /// OFFERs due: (time, transaction id, client MAC).
    due: Rc<RefCell<Vec<(u64, u32, EthernetAddress)>>>,
}

impl DhcpServer {
    pub fn new(offer: Ipv4Addr, router: Option<Ipv4Addr>) -> Self {
        DhcpServer {
            offer,
            mask: Ipv4Addr::new(255, 255, 255, 0),
            router,
            server_ip: Ipv4Addr::new(offer.octets()[0], offer.octets()[1], offer.octets()[2], 1),
            server_mac: [0x02, 0xd4, 0xc7, 0, 0, 1],
            lease_secs: 3600,
            enabled: Rc::new(Cell::new(true)),
            seen: Rc::new(RefCell::new(Vec::new())),
            offer_delay_ns: 0,
            ignore_discovers: Rc::new(Cell::new(0)),
            due: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// Consumes every frame waiting on `link`; answers DISCOVER with OFFER
    /// and REQUEST with ACK. Returns true if a frame was consumed.
    pub fn handle(&mut self, link: &MemLink, now: u64) -> bool {
        let mut any = false;
        let ready: Vec<_> = {
            let mut due = self.due.borrow_mut();
            let (ready, later) = due.drain(..).partition(|d| d.0 <= now);
            *due = later;
            ready
        };
        for (_, xid, mac) in ready {
            any = true;
            self.send(link, xid, mac, DhcpMessageType::Offer);
        }
        while let Some(frame) = link.recv_raw() {
            any = true;
            if !self.enabled.get() {
                continue;
            }
            let Some(u) = parse_udp(&frame) else { continue };
            if u.dst_port != 67 {
                continue;
            }
            let Ok(pkt) = DhcpPacket::new_checked(&u.payload[..]) else {
                continue;
            };
            let Ok(req) = DhcpRepr::parse(&pkt) else {
                continue;
            };
            self.seen.borrow_mut().push(req.message_type);
            let (xid, mac) = (req.transaction_id, req.client_hardware_address);
            match req.message_type {
                DhcpMessageType::Discover if self.ignore_discovers.get() > 0 => {
                    self.ignore_discovers.set(self.ignore_discovers.get() - 1);
                }
                DhcpMessageType::Discover if self.offer_delay_ns > 0 => {
                    self.due
                        .borrow_mut()
                        .push((now + self.offer_delay_ns, xid, mac));
                }
                DhcpMessageType::Discover => self.send(link, xid, mac, DhcpMessageType::Offer),
                DhcpMessageType::Request => self.send(link, xid, mac, DhcpMessageType::Ack),
                _ => {}
            }
        }
        any
    }

    /// True while an OFFER is waiting for its delay.
    pub fn offer_pending(&self) -> bool {
        !self.due.borrow().is_empty()
    }

    fn send(&self, link: &MemLink, xid: u32, mac: EthernetAddress, ty: DhcpMessageType) {
        let repr = DhcpRepr {
            message_type: ty,
            transaction_id: xid,
            secs: 0,
            client_hardware_address: mac,
            client_ip: Ipv4Addr::UNSPECIFIED,
            your_ip: self.offer,
            server_ip: self.server_ip,
            router: self.router,
            subnet_mask: Some(self.mask),
            relay_agent_ip: Ipv4Addr::UNSPECIFIED,
            broadcast: false,
            requested_ip: None,
            client_identifier: None,
            server_identifier: Some(self.server_ip),
            parameter_request_list: None,
            dns_servers: None,
            max_size: None,
            lease_duration: Some(self.lease_secs),
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[],
        };
        let udp = UdpRepr {
            src_port: 67,
            dst_port: 68,
        };
        let udp_len = 8 + repr.buffer_len();
        let ip = Ipv4Repr {
            src_addr: self.server_ip,
            dst_addr: Ipv4Addr::BROADCAST,
            next_header: IpProtocol::Udp,
            payload_len: udp_len,
            hop_limit: 64,
        };
        let eth = EthernetRepr {
            src_addr: EthernetAddress(self.server_mac),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut buf = vec![0u8; 14 + 20 + udp_len];
        let caps = ChecksumCapabilities::default();
        eth.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[14..]), &caps);
        udp.emit(
            &mut UdpPacket::new_unchecked(&mut buf[34..]),
            &IpAddress::Ipv4(self.server_ip),
            &IpAddress::Ipv4(Ipv4Addr::BROADCAST),
            repr.buffer_len(),
            |p| {
                repr.emit(&mut DhcpPacket::new_unchecked(p))
                    .expect("dhcp emit")
            },
            &caps,
        );
        link.send_raw(&buf);
    }
}

/// Installs `server` as the responder of a single-stack net.
pub fn serve_dhcp(net: &TestNet, server: &DhcpServer) {
    let mut s = server.clone();
    net.set_responder(Box::new(move |link, now| s.handle(link, now)));
}

/// A responder that swallows every frame (a silent wire).
pub fn silent_wire(net: &TestNet) {
    net.set_responder(Box::new(|link, _now| {
        let mut any = false;
        while link.recv_raw().is_some() {
            any = true;
        }
        any
    }));
}

/// Alternates non-blocking writes on `tx` and reads on `rx` until all of
/// `data` arrived (both ends are single-threaded clients of one net).
pub fn transfer(
    net: &TestNet,
    tx: &mut Client,
    ts: TcpStream,
    rx: &mut Client,
    rs: TcpStream,
    data: &[u8],
) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; MAX_IO];
    let mut idle = 0;
    while got.len() < data.len() {
        let mut moved = false;
        while sent < data.len() {
            match tx.tcp_write(ts, &data[sent..]) {
                Ok(n) => {
                    sent += n;
                    moved = true;
                }
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("write: {e:?}"),
            }
        }
        loop {
            match rx.tcp_read(rs, &mut buf) {
                Ok(0) => panic!("early EOF"),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("read: {e:?}"),
            }
        }
        if !moved {
            // Nothing moved at this instant: let timers (delayed ACK,
            // retransmission) fire.
            idle += 1;
            assert!(
                idle < 10_000,
                "transfer stalled at {} / {}",
                got.len(),
                data.len()
            );
            net.run_for(MS);
        }
    }
    got
}

/// The TCP header fields the close tests assert on.
#[derive(Debug, Clone, Copy)]
pub struct TcpSeg {
    pub ip_src: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: Option<u32>,
    pub fin: bool,
    pub rst: bool,
    pub payload_len: usize,
}

pub fn parse_tcp(frame: &[u8]) -> Option<TcpSeg> {
    use nexus_net_os::smoltcp::wire::TcpPacket;
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    Some(TcpSeg {
        ip_src: ip.src_addr(),
        src_port: tcp.src_port(),
        dst_port: tcp.dst_port(),
        seq: tcp.seq_number().0 as u32,
        ack: tcp.ack().then(|| tcp.ack_number().0 as u32),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload_len: tcp.payload().len(),
    })
}
