//! The sockets facade on Linux: a [`Backend`] over real, non-blocking UDP and TCP
//! sockets, and a [`Transport`] that runs the facade's own server path in-process.
//!
//! Design notes:
//! - **Same path as the OS.** The daemon core talks to a [`NetClient`]; every call is
//!   encoded, handed to [`nexus_net::dispatch`] with a [`Server`] (handle table,
//!   ownership and kind checks, parking queue) and this backend, and the reply decoded —
//!   exactly what `netstackd` runs, with Linux's TCP/IP stack in place of smoltcp. No
//!   protocol code is duplicated: discovery, Noise XK, records and streams are the
//!   `dsoftbus` crate's.
//! - **Never blocks but in `wait`.** Every socket is non-blocking (connect too: it
//!   completes later, reported as `WRITABLE` or `ERROR`). Readiness is `poll(2)` with a
//!   zero timeout. A `Wait`/`WaitAny` that is not ready is parked by the server; the
//!   transport then sleeps in one `poll(2)` on exactly the sockets of that request until
//!   one is ready or the request's deadline, and lets the server answer it.
//! - **Addresses.** The interface is configured, not discovered: `iface` (address,
//!   prefix) is what `local_addr` reports and what announces are broadcast to. TCP
//!   listeners and outgoing connections bind that address; the UDP socket binds the
//!   wildcard address (Linux delivers broadcasts only to wildcard-bound sockets) with
//!   `SO_BROADCAST`.
//! - **Bounded.** At most [`MAX_SOCKETS`] sockets; the server's handle table bounds a
//!   client further (16 handles).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};

use nexus_net::server::Backend;
use nexus_net::{
    decode_request, dispatch, ClientId, IfaceInfo, Ipv4Addr, NetError, Outcome, Readiness, Request,
    Server, SocketAddrV4, Transport, FACADE_MSG_MAX,
};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// Sockets one backend holds at once.
pub const MAX_SOCKETS: usize = 64;

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`: since boot, so it grows across
/// runs of the tool, which keeps announce sequence numbers increasing).
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// A socket of [`StdNet`]: slot index and generation (a reused slot never answers to an
/// old identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StdSocket {
    index: u32,
    generation: u32,
}

enum Sock {
    Listener(TcpListener),
    Stream(TcpStream),
    Udp(UdpSocket),
}

impl Sock {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Sock::Listener(s) => s.as_fd(),
            Sock::Stream(s) => s.as_fd(),
            Sock::Udp(s) => s.as_fd(),
        }
    }
}

struct Slot {
    generation: u32,
    sock: Option<Sock>,
}

/// The Linux backend: real sockets on one configured interface address.
pub struct StdNet {
    iface: IfaceInfo,
    slots: Vec<Slot>,
}

fn net_err(e: io::Error) -> NetError {
    use io::ErrorKind as K;
    match e.kind() {
        K::WouldBlock => NetError::WouldBlock,
        K::ConnectionRefused => NetError::ConnectionRefused,
        K::ConnectionReset | K::ConnectionAborted | K::TimedOut => NetError::ConnectionReset,
        K::NotConnected => NetError::NotConnected,
        K::AddrInUse => NetError::AddrInUse,
        K::BrokenPipe => NetError::Closed,
        K::InvalidInput | K::AddrNotAvailable => NetError::InvalidInput,
        K::OutOfMemory => NetError::NoBufs,
        _ => match e.raw_os_error() {
            // Unreachable networks and hosts: the connection failed.
            Some(code)
                if code == rustix::io::Errno::NETUNREACH.raw_os_error()
                    || code == rustix::io::Errno::HOSTUNREACH.raw_os_error() =>
            {
                NetError::ConnectionRefused
            }
            _ => NetError::ConnectionReset,
        },
    }
}

fn rerr(e: rustix::io::Errno) -> NetError {
    net_err(io::Error::from(e))
}

fn v4(a: SocketAddr) -> Result<SocketAddrV4, NetError> {
    match a {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(NetError::Unsupported),
    }
}

fn socket(kind: SocketType) -> Result<OwnedFd, NetError> {
    rustix::net::socket_with(
        AddressFamily::INET,
        kind,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(rerr)
}

/// Readiness of one socket from `poll(2)` revents.
fn readiness_of(sock: &Sock, ev: PollFlags) -> Readiness {
    let mut r = Readiness::EMPTY;
    if ev.contains(PollFlags::IN) {
        r |= Readiness::READABLE;
    }
    if ev.contains(PollFlags::OUT) {
        r |= Readiness::WRITABLE;
    }
    if let Sock::Stream(_) = sock {
        if ev.intersects(PollFlags::RDHUP | PollFlags::HUP) {
            // EOF is readable.
            r |= Readiness::HUP | Readiness::READABLE;
        }
        if ev.contains(PollFlags::ERR) {
            r |= Readiness::ERROR;
        }
    }
    r
}

fn poll_flags(interest: Readiness) -> PollFlags {
    let mut f = PollFlags::RDHUP;
    if interest.contains(Readiness::READABLE) {
        f |= PollFlags::IN;
    }
    if interest.contains(Readiness::WRITABLE) {
        f |= PollFlags::OUT;
    }
    f
}

impl StdNet {
    /// A backend on the interface `iface` (its address is bound by TCP sockets and
    /// reported by `local_addr`; announces go to its subnet broadcast address).
    pub fn new(iface: IfaceInfo) -> Self {
        StdNet {
            iface,
            slots: Vec::new(),
        }
    }

    fn insert(&mut self, sock: Sock) -> Result<StdSocket, NetError> {
        if let Some(i) = self.slots.iter().position(|s| s.sock.is_none()) {
            let slot = &mut self.slots[i];
            slot.generation = slot.generation.wrapping_add(1);
            slot.sock = Some(sock);
            return Ok(StdSocket {
                index: i as u32,
                generation: slot.generation,
            });
        }
        if self.slots.len() >= MAX_SOCKETS {
            return Err(NetError::NoBufs);
        }
        self.slots.push(Slot {
            generation: 1,
            sock: Some(sock),
        });
        Ok(StdSocket {
            index: (self.slots.len() - 1) as u32,
            generation: 1,
        })
    }

    fn get(&mut self, s: StdSocket) -> Result<&mut Sock, NetError> {
        let slot = self
            .slots
            .get_mut(s.index as usize)
            .ok_or(NetError::NotFound)?;
        if slot.generation != s.generation {
            return Err(NetError::NotFound);
        }
        slot.sock.as_mut().ok_or(NetError::NotFound)
    }

    fn stream(&mut self, s: StdSocket) -> Result<&mut TcpStream, NetError> {
        match self.get(s)? {
            Sock::Stream(t) => Ok(t),
            _ => Err(NetError::InvalidInput),
        }
    }

    /// Sockets open now.
    pub fn open_sockets(&self) -> usize {
        self.slots.iter().filter(|s| s.sock.is_some()).count()
    }

    /// Sleeps in one `poll(2)` until one of `socks` is ready for its interest (or has
    /// hung up / failed), or `timeout_ns` passed. Unknown sockets are skipped.
    pub fn wait_any(&mut self, socks: &[(StdSocket, Readiness)], timeout_ns: u64) {
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(socks.len());
        let want: Vec<(usize, PollFlags)> = socks
            .iter()
            .filter_map(|(s, interest)| {
                let slot = self.slots.get(s.index as usize)?;
                (slot.generation == s.generation && slot.sock.is_some())
                    .then_some((s.index as usize, poll_flags(*interest)))
            })
            .collect();
        for (i, flags) in &want {
            if let Some(sock) = self.slots[*i].sock.as_ref() {
                fds.push(PollFd::from_borrowed_fd(sock.fd(), *flags));
            }
        }
        // Round up so the deadline has passed when poll(2) times out.
        let ts = rustix::time::Timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as _,
            tv_nsec: (timeout_ns % 1_000_000_000) as _,
        };
        // EINTR and friends: the caller re-checks readiness and the deadline.
        let _ = poll(&mut fds, Some(&ts));
    }
}

impl Backend for StdNet {
    type Socket = StdSocket;

    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<(StdSocket, u16), NetError> {
        let fd = socket(SocketType::STREAM)?;
        rustix::net::sockopt::set_socket_reuseaddr(&fd, true).map_err(rerr)?;
        rustix::net::bind(&fd, &SocketAddrV4::new(self.iface.addr, port)).map_err(rerr)?;
        rustix::net::listen(&fd, i32::from(backlog.max(1))).map_err(rerr)?;
        let l = TcpListener::from(fd);
        let port = v4(l.local_addr().map_err(net_err)?)?.port();
        Ok((self.insert(Sock::Listener(l))?, port))
    }

    fn tcp_accept(&mut self, listener: StdSocket) -> Result<(StdSocket, SocketAddrV4), NetError> {
        let (s, peer) = match self.get(listener)? {
            Sock::Listener(l) => l.accept().map_err(net_err)?,
            _ => return Err(NetError::InvalidInput),
        };
        s.set_nonblocking(true).map_err(net_err)?;
        let _ = s.set_nodelay(true);
        let peer = v4(peer)?;
        Ok((self.insert(Sock::Stream(s))?, peer))
    }

    fn tcp_connect(
        &mut self,
        remote: SocketAddrV4,
        _now_ns: u64,
    ) -> Result<(StdSocket, u16), NetError> {
        let fd = socket(SocketType::STREAM)?;
        rustix::net::bind(&fd, &SocketAddrV4::new(self.iface.addr, 0)).map_err(rerr)?;
        match rustix::net::connect(&fd, &remote) {
            Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
            Err(e) => return Err(rerr(e)),
        }
        let s = TcpStream::from(fd);
        let _ = s.set_nodelay(true);
        let port = v4(s.local_addr().map_err(net_err)?)?.port();
        Ok((self.insert(Sock::Stream(s))?, port))
    }

    fn tcp_read(&mut self, stream: StdSocket, buf: &mut [u8]) -> Result<usize, NetError> {
        self.stream(stream)?.read(buf).map_err(net_err)
    }

    fn tcp_write(&mut self, stream: StdSocket, data: &[u8]) -> Result<usize, NetError> {
        self.stream(stream)?.write(data).map_err(net_err)
    }

    fn tcp_shutdown(&mut self, stream: StdSocket) -> Result<(), NetError> {
        self.stream(stream)?
            .shutdown(Shutdown::Write)
            .map_err(net_err)
    }

    fn udp_bind(&mut self, port: u16) -> Result<(StdSocket, u16), NetError> {
        let fd = socket(SocketType::DGRAM)?;
        rustix::net::sockopt::set_socket_broadcast(&fd, true).map_err(rerr)?;
        rustix::net::bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).map_err(rerr)?;
        let u = UdpSocket::from(fd);
        let port = v4(u.local_addr().map_err(net_err)?)?.port();
        Ok((self.insert(Sock::Udp(u))?, port))
    }

    fn udp_send_to(
        &mut self,
        socket: StdSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), NetError> {
        match self.get(socket)? {
            Sock::Udp(u) => u.send_to(data, to).map(|_| ()).map_err(net_err),
            _ => Err(NetError::InvalidInput),
        }
    }

    fn udp_recv_from(
        &mut self,
        socket: StdSocket,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), NetError> {
        match self.get(socket)? {
            Sock::Udp(u) => {
                let (n, from) = u.recv_from(buf).map_err(net_err)?;
                Ok((n, v4(from)?))
            }
            _ => Err(NetError::InvalidInput),
        }
    }

    fn close(&mut self, socket: StdSocket) {
        if let Some(slot) = self.slots.get_mut(socket.index as usize) {
            if slot.generation == socket.generation {
                if let Some(Sock::Stream(s)) = &slot.sock {
                    // Our FIN first, then the descriptor goes.
                    let _ = s.shutdown(Shutdown::Write);
                }
                slot.sock = None;
            }
        }
    }

    fn readiness(&mut self, socket: StdSocket) -> Readiness {
        let Ok(sock) = self.get(socket) else {
            return Readiness::ERROR;
        };
        let sock: &Sock = sock;
        let mut fds = [PollFd::from_borrowed_fd(
            sock.fd(),
            PollFlags::IN | PollFlags::OUT | PollFlags::RDHUP,
        )];
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match poll(&mut fds, Some(&zero)) {
            Ok(_) => readiness_of(sock, fds[0].revents()),
            Err(_) => Readiness::EMPTY,
        }
    }

    fn iface(&self) -> IfaceInfo {
        self.iface
    }

    fn usage(&self) -> (u32, u32) {
        (self.open_sockets() as u32, 0)
    }
}

/// The facade client's transport: the facade server and [`StdNet`] in this process.
pub struct StdTransport {
    net: StdNet,
    server: Server<StdSocket>,
    client: ClientId,
    scratch: Box<[u8; FACADE_MSG_MAX]>,
}

impl StdTransport {
    /// A transport over `net`, for one client.
    pub fn new(net: StdNet) -> Self {
        StdTransport {
            net,
            // The instance only has to differ between runs of a server that clients
            // outlive; here the client and the server live and die together.
            server: Server::new(1),
            client: ClientId(1),
            scratch: Box::new([0u8; FACADE_MSG_MAX]),
        }
    }

    /// The backend.
    pub fn net(&self) -> &StdNet {
        &self.net
    }

    /// The sockets (with interest) a parked `Wait`/`WaitAny` request waits on.
    fn waited(&self, request: &[u8]) -> Vec<(StdSocket, Readiness)> {
        let handles: Vec<(nexus_net::Handle, Readiness)> = match decode_request(request) {
            Ok((_, Request::WaitAny { set, .. })) => set.entries().to_vec(),
            Ok((
                _,
                Request::Wait {
                    handle, interest, ..
                },
            )) => vec![(handle, interest)],
            _ => Vec::new(),
        };
        handles
            .into_iter()
            .filter_map(|(h, i)| {
                self.server
                    .handles()
                    .get(self.client, h)
                    .ok()
                    .map(|(_, s)| (s, i))
            })
            .collect()
    }
}

fn copy_out(src: &[u8], dst: &mut [u8]) -> Result<usize, NetError> {
    let d = dst.get_mut(..src.len()).ok_or(NetError::NoBufs)?;
    d.copy_from_slice(src);
    Ok(src.len())
}

impl Transport for StdTransport {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        let now = now_ns();
        match dispatch(
            &mut self.net,
            &mut self.server,
            self.client,
            request,
            &mut self.scratch,
            now,
        ) {
            Outcome::Reply(n) => return copy_out(&self.scratch[..n], reply),
            Outcome::Parked => {}
        }
        // Parked requests decoded fine, so the correlation id is present.
        let corr = request
            .get(4..8)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(NetError::Malformed)?;
        let socks = self.waited(request);
        loop {
            let now = now_ns();
            let mut answer: Option<Result<usize, NetError>> = None;
            let me = self.client;
            self.server.poll(&mut self.net, now, |client, c, bytes| {
                if client == me && c == corr {
                    answer = Some(copy_out(bytes, reply));
                }
            });
            if let Some(a) = answer {
                return a;
            }
            // Only this client parks here, so the earliest deadline is ours (or earlier).
            let deadline = self.server.next_deadline().unwrap_or(now);
            self.net
                .wait_any(&socks, deadline.saturating_sub(now).max(1));
        }
    }
}
