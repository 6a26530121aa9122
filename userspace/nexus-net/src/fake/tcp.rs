//! Fake TCP: listeners with bounded backlogs and byte-stream connection pairs.
//!
//! Design notes
//! ------------
//! A connection is two `Stream` sockets pointing at each other (`peer`).
//! Each side owns its *receive* buffer; a write appends to the peer's
//! buffer up to `FakeNet::tcp_buffer` bytes. FIN is modelled by `rx_fin` on
//! the receiving side, a graceful close by additionally clearing the peer
//! link (later writes by the survivor fail with `Closed`), and a reset by
//! `State::Reset` (both directions fail with `ConnectionReset`, buffered
//! data is discarded as with a real RST).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{FakeNet, FakeSocket, Sock, SockKind};
use crate::error::NetError;
use crate::types::{Readiness, SocketAddrV4};

pub(crate) struct Listener {
    pub(crate) port: u16,
    backlog: usize,
    pending: VecDeque<FakeSocket>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// SYN sent to an unreachable host; never completes.
    Connecting,
    Established,
    Reset,
}

pub(crate) struct Stream {
    pub(crate) local: SocketAddrV4,
    remote: SocketAddrV4,
    state: State,
    peer: Option<FakeSocket>,
    rx: VecDeque<u8>,
    rx_fin: bool,
    tx_shut: bool,
}

impl Stream {
    fn new(local: SocketAddrV4, remote: SocketAddrV4, state: State) -> Self {
        Stream {
            local,
            remote,
            state,
            peer: None,
            rx: VecDeque::new(),
            rx_fin: false,
            tx_shut: false,
        }
    }

    fn reset(&mut self) {
        self.state = State::Reset;
        self.peer = None;
        self.rx.clear();
    }
}

fn bad_target(ip: core::net::Ipv4Addr) -> bool {
    ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast()
}

impl FakeNet {
    fn stream_mut(&mut self, node: usize, s: FakeSocket) -> Result<&mut Stream, NetError> {
        match &mut self.owned_mut(node, s)?.kind {
            SockKind::Stream(st) => Ok(st),
            _ => Err(NetError::InvalidInput),
        }
    }

    fn any_stream_mut(&mut self, s: FakeSocket) -> Option<&mut Stream> {
        match &mut self.get_mut(s)?.kind {
            SockKind::Stream(st) => Some(st),
            _ => None,
        }
    }

    fn find_listener(&mut self, node: usize, port: u16) -> Option<&mut Listener> {
        self.slots
            .iter_mut()
            .filter_map(|s| s.sock.as_mut())
            .filter(|s| s.node == node)
            .find_map(|s| match &mut s.kind {
                SockKind::Listener(l) if l.port == port => Some(l),
                _ => None,
            })
    }

    pub(crate) fn tcp_listen(
        &mut self,
        node: usize,
        port: u16,
        backlog: u8,
    ) -> Result<(FakeSocket, u16), NetError> {
        let port = if port == 0 {
            self.ephemeral_port(node, true)?
        } else if self.find_listener(node, port).is_some() {
            return Err(NetError::AddrInUse);
        } else {
            port
        };
        let l = Listener {
            port,
            backlog: usize::from(backlog.max(1)),
            pending: VecDeque::new(),
        };
        Ok((self.alloc(node, SockKind::Listener(l))?, port))
    }

    pub(crate) fn tcp_accept(
        &mut self,
        node: usize,
        listener: FakeSocket,
    ) -> Result<(FakeSocket, SocketAddrV4), NetError> {
        let SockKind::Listener(l) = &mut self.owned_mut(node, listener)?.kind else {
            return Err(NetError::InvalidInput);
        };
        let s = l.pending.pop_front().ok_or(NetError::WouldBlock)?;
        let remote = self.any_stream_mut(s).map(|st| st.remote);
        // A backlog entry always refers to a live stream; be defensive anyway.
        remote.map(|r| (s, r)).ok_or(NetError::ConnectionReset)
    }

    pub(crate) fn tcp_connect(
        &mut self,
        node: usize,
        remote: SocketAddrV4,
    ) -> Result<(FakeSocket, u16), NetError> {
        let ip = *remote.ip();
        let own = self.nodes[node].iface;
        if remote.port() == 0 || bad_target(ip) || (own.prefix_len < 31 && ip == own.broadcast()) {
            return Err(NetError::InvalidInput);
        }
        let local_ip = if ip.is_loopback() { ip } else { own.addr };
        let Some(dst) = self.route(node, ip) else {
            let port = self.ephemeral_port(node, true)?;
            let st = Stream::new(SocketAddrV4::new(local_ip, port), remote, State::Connecting);
            return Ok((self.alloc(node, SockKind::Stream(st))?, port));
        };
        match self.find_listener(dst, remote.port()) {
            Some(l) if l.pending.len() < l.backlog => {}
            _ => return Err(NetError::ConnectionRefused),
        }
        let port = self.ephemeral_port(node, true)?;
        let local = SocketAddrV4::new(local_ip, port);
        let client = self.alloc(
            node,
            SockKind::Stream(Stream::new(local, remote, State::Established)),
        )?;
        let server_local = SocketAddrV4::new(
            if ip.is_loopback() {
                ip
            } else {
                self.nodes[dst].iface.addr
            },
            remote.port(),
        );
        let mut srv = Stream::new(server_local, local, State::Established);
        srv.peer = Some(client);
        let server = match self.alloc(dst, SockKind::Stream(srv)) {
            Ok(s) => s,
            Err(e) => {
                self.free(client);
                return Err(e);
            }
        };
        if let Some(st) = self.any_stream_mut(client) {
            st.peer = Some(server);
        }
        if let Some(l) = self.find_listener(dst, remote.port()) {
            l.pending.push_back(server);
        }
        Ok((client, port))
    }

    pub(crate) fn tcp_read(
        &mut self,
        node: usize,
        s: FakeSocket,
        buf: &mut [u8],
    ) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Err(NetError::InvalidInput);
        }
        let st = self.stream_mut(node, s)?;
        match st.state {
            State::Reset => return Err(NetError::ConnectionReset),
            State::Connecting => return Err(NetError::WouldBlock),
            State::Established => {}
        }
        if st.rx.is_empty() {
            return if st.rx_fin {
                Ok(0)
            } else {
                Err(NetError::WouldBlock)
            };
        }
        let n = buf.len().min(st.rx.len());
        for (dst, b) in buf.iter_mut().zip(st.rx.drain(..n)) {
            *dst = b;
        }
        Ok(n)
    }

    pub(crate) fn tcp_write(
        &mut self,
        node: usize,
        s: FakeSocket,
        data: &[u8],
    ) -> Result<usize, NetError> {
        let cap = self.tcp_buffer;
        let st = self.stream_mut(node, s)?;
        match st.state {
            State::Reset => return Err(NetError::ConnectionReset),
            State::Connecting => return Err(NetError::WouldBlock),
            State::Established => {}
        }
        if st.tx_shut {
            return Err(NetError::Closed);
        }
        let peer = st.peer.ok_or(NetError::Closed)?;
        let pst = self.any_stream_mut(peer).ok_or(NetError::Closed)?;
        let n = cap.saturating_sub(pst.rx.len()).min(data.len());
        if n == 0 {
            return Err(NetError::WouldBlock);
        }
        pst.rx.extend(&data[..n]);
        Ok(n)
    }

    pub(crate) fn tcp_shutdown(&mut self, node: usize, s: FakeSocket) -> Result<(), NetError> {
        let st = self.stream_mut(node, s)?;
        match st.state {
            State::Reset => return Err(NetError::ConnectionReset),
            State::Connecting => return Err(NetError::NotConnected),
            State::Established => {}
        }
        if st.tx_shut {
            return Ok(());
        }
        st.tx_shut = true;
        if let Some(p) = st.peer {
            if let Some(pst) = self.any_stream_mut(p) {
                pst.rx_fin = true;
            }
        }
        Ok(())
    }

    /// Closes any socket kind with the semantics described in the module docs.
    pub(crate) fn close_socket(&mut self, s: FakeSocket) {
        let Some(sock) = self.free(s) else {
            return;
        };
        match sock.kind {
            SockKind::Stream(st) => {
                if let Some(pst) = st.peer.and_then(|p| self.any_stream_mut(p)) {
                    pst.peer = None;
                    pst.rx_fin = true;
                }
            }
            SockKind::Listener(l) => {
                for pending in l.pending {
                    let Some(Sock {
                        kind: SockKind::Stream(srv),
                        ..
                    }) = self.free(pending)
                    else {
                        continue;
                    };
                    if let Some(cst) = srv.peer.and_then(|c| self.any_stream_mut(c)) {
                        cst.reset();
                    }
                }
            }
            SockKind::Udp(_) => {}
        }
    }

    /// Resets every established stream with an end on `node`, and its peer.
    pub(crate) fn reset_node_streams(&mut self, node: usize) {
        let mut victims = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(Sock {
                node: n,
                kind: SockKind::Stream(st),
            }) = &slot.sock
            {
                if *n == node && st.state == State::Established {
                    victims.push(FakeSocket {
                        index: i as u32,
                        generation: slot.generation,
                    });
                    victims.extend(st.peer);
                }
            }
        }
        for v in victims {
            if let Some(st) = self.any_stream_mut(v) {
                st.reset();
            }
        }
    }

    pub(crate) fn readiness_of(&self, sock: &Sock) -> Readiness {
        match &sock.kind {
            SockKind::Listener(l) if !l.pending.is_empty() => Readiness::READABLE,
            SockKind::Listener(_) => Readiness::EMPTY,
            SockKind::Udp(u) => u.readiness(),
            SockKind::Stream(st) => match st.state {
                State::Connecting => Readiness::EMPTY,
                State::Reset => Readiness::READABLE | Readiness::HUP | Readiness::ERROR,
                State::Established => {
                    let mut r = Readiness::EMPTY;
                    if !st.rx.is_empty() || st.rx_fin {
                        r |= Readiness::READABLE;
                    }
                    if st.rx_fin {
                        r |= Readiness::HUP;
                    }
                    let peer = st
                        .peer
                        .and_then(|p| self.get(p))
                        .and_then(|p| match &p.kind {
                            SockKind::Stream(ps) => Some(ps),
                            _ => None,
                        });
                    let peer_space = peer.is_some_and(|ps| ps.rx.len() < self.tcp_buffer);
                    // A write would take bytes, or fail at once (`Closed`).
                    if st.tx_shut || peer.is_none() || peer_space {
                        r |= Readiness::WRITABLE;
                    }
                    r
                }
            },
        }
    }
}
