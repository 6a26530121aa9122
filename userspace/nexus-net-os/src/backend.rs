//! `impl nexus_net::Backend for NetStack`: the facade semantics on smoltcp.
//!
//! Design notes
//! ------------
//! * Every op is non-blocking and works on the current socket state; data
//!   moves on the wire only in [`NetStack::poll`], which `netstackd` runs
//!   after every request.
//! * Streams: smoltcp does not say *why* a socket reached `CLOSED`, so each
//!   stream keeps sticky flags (`established`, `peer_fin`). Closed without
//!   ever being established = refused; closed after the peer's FIN =
//!   finished (EOF, writes `Closed`); otherwise = reset. See
//!   [`observe`](crate::stack::observe).
//! * Listeners own up to `backlog` armed smoltcp listening sockets on their
//!   port (capped by `max_listen_sockets` and the memory budget). A SYN
//!   beyond them is answered with RST (`ConnectionRefused` at the peer).
//!   `accept` hands out the oldest established one and arms a replacement.
//! * No loopback interface: connecting to the own address or 127/8 is
//!   refused; a ping to them is answered at once (rtt 0).

use nexus_net::{Backend, IfaceInfo, Ipv4Addr, NetError, Readiness, SocketAddrV4, MAX_DATAGRAM};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::stack::{observe, Armed, Entry, Listener, NetStack, Phase, SocketId, Stream, Udp};

fn endpoint_v4(e: IpEndpoint) -> SocketAddrV4 {
    #[allow(irrefutable_let_patterns)]
    let ip = if let IpAddress::Ipv4(a) = e.addr {
        a
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    SocketAddrV4::new(ip, e.port)
}

fn bad_unicast(ip: Ipv4Addr) -> bool {
    ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast()
}

const DEAD: Readiness = Readiness::READABLE
    .union(Readiness::HUP)
    .union(Readiness::ERROR);

impl<D: Device> NetStack<D> {
    fn iface_or_unspecified(&self) -> IfaceInfo {
        self.addr.unwrap_or(IfaceInfo {
            addr: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: None,
            mtu: self.mtu,
        })
    }

    fn is_subnet_broadcast(&self, ip: Ipv4Addr) -> bool {
        self.addr
            .is_some_and(|i| i.prefix_len < 31 && ip == i.broadcast())
    }

    /// Index of the armed socket to hand out next (oldest established).
    fn pick_established(&mut self, l: &Listener) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, a) in l.armed.iter().enumerate() {
            let s = self.sockets.get::<tcp::Socket>(a.handle);
            if matches!(s.state(), tcp::State::Established | tcp::State::CloseWait) {
                let seq = a.ready_seq.unwrap_or(u64::MAX);
                if best.is_none_or(|(_, b)| seq < b) {
                    best = Some((i, seq));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    fn listener_readable(&self, l: &Listener) -> bool {
        l.armed.iter().any(|a| {
            matches!(
                self.sockets.get::<tcp::Socket>(a.handle).state(),
                tcp::State::Established | tcp::State::CloseWait
            )
        })
    }
}

impl<D: Device> Backend for NetStack<D> {
    fn link(&self, now_ns: u64) -> nexus_net::LinkInfo {
        self.link_info(now_ns)
    }

    fn usage(&self) -> (u32, u32) {
        let st = self.stats();
        ((st.tcp_sockets + st.udp_sockets) as u32, st.mem_used as u32)
    }

    type Socket = SocketId;

    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<(SocketId, u16), NetError> {
        let port = if port == 0 {
            self.ephemeral_port(true)?
        } else if self.tcp_listener_on(port) {
            return Err(NetError::AddrInUse);
        } else {
            port
        };
        if !self.has_free_slot() {
            return Err(NetError::NoBufs);
        }
        let want = usize::from(backlog.max(1)).min(self.cfg.max_listen_sockets);
        let first = self.new_listening_socket(port)?;
        let mut armed = alloc::vec::Vec::new();
        if armed.try_reserve_exact(want).is_err() {
            self.free_tcp(first);
            return Err(NetError::NoBufs);
        }
        armed.push(Armed {
            handle: first,
            ready_seq: None,
        });
        // The rest as the budget allows.
        while armed.len() < want {
            match self.new_listening_socket(port) {
                Ok(h) => armed.push(Armed {
                    handle: h,
                    ready_seq: None,
                }),
                Err(_) => break,
            }
        }
        // The backlog is what could be armed now; later top-ups only
        // restore it (after accept), they never grow it.
        let want = armed.len();
        let entry = Entry::Listener(Listener { port, want, armed });
        self.insert(entry).map(|id| (id, port))
    }

    fn tcp_accept(&mut self, listener: SocketId) -> Result<(SocketId, SocketAddrV4), NetError> {
        let l = match self.entry_mut(listener)? {
            Entry::Listener(l) => core::mem::replace(
                l,
                Listener {
                    port: l.port,
                    want: l.want,
                    armed: alloc::vec::Vec::new(),
                },
            ),
            _ => return Err(NetError::InvalidInput),
        };
        let pick = self.pick_established(&l);
        let mut l = l;
        let result = match pick {
            None => Err(NetError::WouldBlock),
            Some(_) if !self.has_free_slot() => Err(NetError::NoBufs),
            Some(i) => {
                let a = l.armed.remove(i);
                let s = self.sockets.get_mut::<tcp::Socket>(a.handle);
                s.set_timeout(None);
                let peer = s.remote_endpoint().map(endpoint_v4);
                let peer_fin = s.state() == tcp::State::CloseWait;
                match peer {
                    Some(peer) => Ok((a.handle, peer, peer_fin)),
                    None => {
                        // Defensive: an established socket always has a peer.
                        l.armed.push(a);
                        Err(NetError::WouldBlock)
                    }
                }
            }
        };
        let port = l.port;
        // Re-arm a replacement while the listener is out of the table.
        if result.is_ok() {
            if let Ok(h) = self.new_listening_socket(port) {
                l.armed.push(Armed {
                    handle: h,
                    ready_seq: None,
                });
            }
        }
        if let Ok(Entry::Listener(slot)) = self.entry_mut(listener) {
            *slot = l;
        }
        let (handle, peer, peer_fin) = result?;
        let stream = Stream {
            handle,
            local_port: port,
            established: true,
            shutdown: false,
            peer_fin,
        };
        self.insert(Entry::Stream(stream)).map(|id| (id, peer))
    }

    fn tcp_connect(
        &mut self,
        remote: SocketAddrV4,
        _now_ns: u64,
    ) -> Result<(SocketId, u16), NetError> {
        let ip = *remote.ip();
        if remote.port() == 0 || bad_unicast(ip) || self.is_subnet_broadcast(ip) {
            return Err(NetError::InvalidInput);
        }
        let info = self.addr.ok_or(NetError::NotConnected)?;
        // Our own address works only over a device that delivers frames to
        // ourselves back to the stack (netstackd's `SelfLoop`); otherwise the
        // SYN goes to the wire and the connect times out. 127/8 has no
        // interface at all.
        if ip.is_loopback() || (ip == info.addr && !self.cfg.local_delivery) {
            return Err(NetError::ConnectionRefused);
        }
        if !self.has_free_slot() {
            return Err(NetError::NoBufs);
        }
        let port = self.ephemeral_port(true)?;
        let h = self.new_connect_socket()?;
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        if let Err(e) = s.connect(
            self.iface.context(),
            (IpAddress::Ipv4(ip), remote.port()),
            port,
        ) {
            self.free_tcp(h);
            return Err(match e {
                tcp::ConnectError::Unaddressable => NetError::NotConnected,
                tcp::ConnectError::InvalidState => NetError::InvalidInput,
            });
        }
        let stream = Stream {
            handle: h,
            local_port: port,
            established: false,
            shutdown: false,
            peer_fin: false,
        };
        self.insert(Entry::Stream(stream)).map(|id| (id, port))
    }

    fn tcp_read(&mut self, stream: SocketId, buf: &mut [u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Err(NetError::InvalidInput);
        }
        let (st, s) = self.stream_parts(stream)?;
        match observe(s, st) {
            Phase::Connecting => return Err(NetError::WouldBlock),
            Phase::Refused => return Err(NetError::ConnectionRefused),
            Phase::Reset if !s.can_recv() => return Err(NetError::ConnectionReset),
            Phase::Reset | Phase::Open | Phase::Finished => {}
        }
        match s.recv_slice(buf) {
            Ok(0) if st.peer_fin => Ok(0),
            Ok(0) => Err(NetError::WouldBlock),
            Ok(n) => Ok(n),
            Err(tcp::RecvError::Finished) => {
                st.peer_fin = true;
                Ok(0)
            }
            Err(tcp::RecvError::InvalidState) => Err(NetError::ConnectionReset),
        }
    }

    fn tcp_write(&mut self, stream: SocketId, data: &[u8]) -> Result<usize, NetError> {
        if data.is_empty() {
            return Err(NetError::InvalidInput);
        }
        let (st, s) = self.stream_parts(stream)?;
        match observe(s, st) {
            Phase::Connecting => Err(NetError::WouldBlock),
            Phase::Refused => Err(NetError::ConnectionRefused),
            Phase::Reset => Err(NetError::ConnectionReset),
            Phase::Finished => Err(NetError::Closed),
            Phase::Open if st.shutdown || !s.may_send() => Err(NetError::Closed),
            Phase::Open => match s.send_slice(data) {
                Ok(0) => Err(NetError::WouldBlock),
                Ok(n) => Ok(n),
                Err(tcp::SendError::InvalidState) => Err(NetError::Closed),
            },
        }
    }

    fn tcp_shutdown(&mut self, stream: SocketId) -> Result<(), NetError> {
        let (st, s) = self.stream_parts(stream)?;
        match observe(s, st) {
            Phase::Connecting => Err(NetError::NotConnected),
            Phase::Refused => Err(NetError::ConnectionRefused),
            Phase::Reset => Err(NetError::ConnectionReset),
            Phase::Finished => {
                st.shutdown = true;
                Ok(())
            }
            Phase::Open => {
                if !st.shutdown {
                    s.close();
                    st.shutdown = true;
                }
                Ok(())
            }
        }
    }

    fn udp_bind(&mut self, port: u16) -> Result<(SocketId, u16), NetError> {
        let port = if port == 0 {
            self.ephemeral_port(false)?
        } else if self.udp_port_used(port) {
            return Err(NetError::AddrInUse);
        } else {
            port
        };
        if !self.has_free_slot() {
            return Err(NetError::NoBufs);
        }
        let h = self.new_udp_socket(port)?;
        let entry = Entry::Udp(Udp {
            handle: h,
            port,
            stuck: None,
        });
        self.insert(entry).map(|id| (id, port))
    }

    fn udp_send_to(
        &mut self,
        socket: SocketId,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), NetError> {
        let ip = *to.ip();
        if data.len() > MAX_DATAGRAM || to.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
            return Err(NetError::InvalidInput);
        }
        let h = match self.entry(socket)? {
            Entry::Udp(u) => u.handle,
            _ => return Err(NetError::InvalidInput),
        };
        if self.addr.is_none() {
            return Err(NetError::NotConnected);
        }
        let s = self.sockets.get_mut::<udp::Socket>(h);
        s.send_slice(data, IpEndpoint::new(IpAddress::Ipv4(ip), to.port()))
            .map_err(|e| match e {
                udp::SendError::BufferFull => NetError::WouldBlock,
                udp::SendError::Unaddressable => NetError::InvalidInput,
            })
    }

    fn udp_recv_from(
        &mut self,
        socket: SocketId,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), NetError> {
        let h = match self.entry(socket)? {
            Entry::Udp(u) => u.handle,
            _ => return Err(NetError::InvalidInput),
        };
        let s = self.sockets.get_mut::<udp::Socket>(h);
        match s.recv() {
            Ok((data, meta)) => {
                let n = data.len().min(buf.len());
                let (dst, src) = (buf.get_mut(..n), data.get(..n));
                if let (Some(dst), Some(src)) = (dst, src) {
                    dst.copy_from_slice(src);
                }
                Ok((n, endpoint_v4(meta.endpoint)))
            }
            Err(_) => Err(NetError::WouldBlock),
        }
    }

    fn close(&mut self, socket: SocketId) {
        if let Ok(entry) = self.take(socket) {
            self.release(entry);
        }
    }

    fn readiness(&mut self, socket: SocketId) -> Readiness {
        match self.entry(socket) {
            Err(_) => return DEAD,
            Ok(Entry::Listener(l)) => {
                return if self.listener_readable(l) {
                    Readiness::READABLE
                } else {
                    Readiness::EMPTY
                };
            }
            Ok(Entry::Udp(u)) => {
                let s = self.sockets.get::<udp::Socket>(u.handle);
                let mut r = Readiness::EMPTY;
                if s.can_recv() {
                    r |= Readiness::READABLE;
                }
                if s.can_send() {
                    r |= Readiness::WRITABLE;
                }
                return r;
            }
            Ok(Entry::Stream(_)) => {}
        }
        let Ok((st, s)) = self.stream_parts(socket) else {
            return DEAD;
        };
        match observe(s, st) {
            Phase::Connecting => Readiness::EMPTY,
            Phase::Refused | Phase::Reset => DEAD,
            // A write fails at once (`Closed`): WRITABLE wakes writers.
            Phase::Finished => Readiness::READABLE | Readiness::HUP | Readiness::WRITABLE,
            Phase::Open => {
                let mut r = Readiness::EMPTY;
                if s.can_recv() || st.peer_fin {
                    r |= Readiness::READABLE;
                }
                if st.peer_fin {
                    r |= Readiness::HUP;
                }
                // A write would take bytes, or fail at once (`Closed`).
                if st.shutdown || !s.may_send() || s.can_send() {
                    r |= Readiness::WRITABLE;
                }
                r
            }
        }
    }

    fn iface(&self) -> IfaceInfo {
        self.iface_or_unspecified()
    }

    fn ping_start(&mut self, addr: Ipv4Addr, seq: u16, now_ns: u64) -> Result<u32, NetError> {
        if bad_unicast(addr) || self.is_subnet_broadcast(addr) {
            return Err(NetError::InvalidInput);
        }
        if self.addr.is_none() && !addr.is_loopback() {
            return Err(NetError::NotConnected);
        }
        self.ping_send(addr, seq, now_ns)
    }

    fn ping_poll(&mut self, token: u32, _now_ns: u64) -> Option<Result<u64, NetError>> {
        self.ping_take(token)
    }
}
