//! Client side: a transport-agnostic typed client for services such as `dsoftbusd`.
//!
//! Design notes
//! ------------
//! * [`Transport`] is the only thing a service has to provide: one
//!   synchronous call that sends a request and receives the reply (the
//!   kernel IPC call in Neuron OS, an in-process dispatcher in tests).
//!   Transport failures are reported as [`NetError`]s (a dead server
//!   endpoint should map to `ServerRestarted`).
//! * [`NetClient`] owns two `FACADE_MSG_MAX` buffers on the heap (so the
//!   struct stays small on service stacks), numbers requests with non-zero
//!   correlation ids, and checks that each reply echoes the correlation id
//!   and op of its request (`Malformed` otherwise).
//! * Restart detection: the client remembers the server instance from its
//!   first reply and sends it in every request header. If the server
//!   restarted, its reply is `ServerRestarted` (and the instance differs);
//!   the client then keeps failing with `ServerRestarted` until
//!   [`NetClient::reset_session`] is called, after which all handles must be
//!   reopened.
//! * Blocking helpers (`*_by`) loop "try op → on `WouldBlock` wait for
//!   readiness with the absolute deadline"; the server never blocks. A
//!   bounded number of spurious wake-ups protects against a backend whose
//!   readiness and I/O disagree.

use alloc::boxed::Box;
use alloc::vec;

use crate::error::NetError;
use crate::types::{
    Handle, IfaceInfo, Ipv4Addr, Readiness, SocketAddrV4, TcpListener, TcpStream, UdpSocket,
};
use crate::wire::{decode_reply, encode_request, Reply, Request, WaitSet};
use crate::{FACADE_MSG_MAX, MAX_DATAGRAM, MAX_IO, MAX_SHARED_IO};

/// Spurious wake-ups tolerated by one blocking helper call before giving up
/// with `WouldBlock`.
pub const MAX_SPURIOUS_WAKEUPS: usize = 64;

/// A synchronous request/reply channel to `netstackd`.
pub trait Transport {
    /// Sends `request`, waits for the reply, stores it in `reply` (which has
    /// `FACADE_MSG_MAX` bytes) and returns its length.
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError>;

    /// [`call`](Self::call), transferring the capability in slot `cap`
    /// with the request (`AttachShared`). A transport that cannot carry
    /// capabilities answers `Unsupported` (the default).
    fn call_with_cap(
        &mut self,
        request: &[u8],
        reply: &mut [u8],
        cap: u32,
    ) -> Result<usize, NetError> {
        let _ = (request, reply, cap);
        Err(NetError::Unsupported)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        (**self).call(request, reply)
    }

    fn call_with_cap(
        &mut self,
        request: &[u8],
        reply: &mut [u8],
        cap: u32,
    ) -> Result<usize, NetError> {
        (**self).call_with_cap(request, reply, cap)
    }
}

/// Typed sockets-facade client over any [`Transport`].
pub struct NetClient<T: Transport> {
    transport: T,
    next_correlation: u32,
    instance: u32,
    req: Box<[u8]>,
    rep: Box<[u8]>,
}

fn unexpected<R>() -> Result<R, NetError> {
    Err(NetError::Malformed)
}

impl<T: Transport> NetClient<T> {
    /// A client with no server instance learnt yet.
    pub fn new(transport: T) -> Self {
        NetClient {
            transport,
            next_correlation: 1,
            instance: 0,
            req: vec![0u8; FACADE_MSG_MAX].into_boxed_slice(),
            rep: vec![0u8; FACADE_MSG_MAX].into_boxed_slice(),
        }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The server instance learnt from replies, if any.
    pub fn server_instance(&self) -> Option<u32> {
        (self.instance != 0).then_some(self.instance)
    }

    /// Forgets the server instance after a `ServerRestarted`; every handle
    /// obtained before is invalid and must be reopened.
    pub fn reset_session(&mut self) {
        self.instance = 0;
    }

    fn correlation(&mut self) -> u32 {
        let c = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1).max(1);
        c
    }

    /// The server's resource usage (for leak checks).
    pub fn stats(&mut self) -> Result<crate::wire::ServerStats, NetError> {
        match self.request(&Request::Stats)? {
            Reply::Stats(s) => Ok(s),
            _ => unexpected(),
        }
    }

    /// Sends any request and returns the typed success reply (borrowing the
    /// client's reply buffer) or the error the server reported.
    pub fn request(&mut self, req: &Request<'_>) -> Result<Reply<'_>, NetError> {
        self.request_with(req, None)
    }

    fn request_with(&mut self, req: &Request<'_>, cap: Option<u32>) -> Result<Reply<'_>, NetError> {
        let corr = self.correlation();
        let n = encode_request(req, corr, self.instance, &mut self.req)?;
        let req_bytes = self.req.get(..n).ok_or(NetError::NoBufs)?;
        let m = match cap {
            None => self.transport.call(req_bytes, &mut self.rep)?,
            Some(c) => self.transport.call_with_cap(req_bytes, &mut self.rep, c)?,
        };
        let msg = decode_reply(self.rep.get(..m).ok_or(NetError::Malformed)?)?;
        if msg.header.correlation != corr || msg.header.op != req.op() as u8 {
            return Err(NetError::Malformed);
        }
        if self.instance == 0 {
            self.instance = msg.header.instance;
        } else if msg.header.instance != self.instance {
            return Err(NetError::ServerRestarted);
        }
        msg.body
    }

    /// Listens on `port` (0 = ephemeral); returns the listener and bound port.
    pub fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<(TcpListener, u16), NetError> {
        match self.request(&Request::TcpListen { port, backlog })? {
            Reply::TcpListen { listener, port } => Ok((listener, port)),
            _ => unexpected(),
        }
    }

    /// Accepts one pending connection (`WouldBlock` if none).
    pub fn tcp_accept(
        &mut self,
        listener: TcpListener,
    ) -> Result<(TcpStream, SocketAddrV4), NetError> {
        match self.request(&Request::TcpAccept { listener })? {
            Reply::TcpAccept { stream, peer } => Ok((stream, peer)),
            _ => unexpected(),
        }
    }

    /// Starts a connection; wait for `WRITABLE` before relying on it (or use
    /// [`tcp_connect_by`](Self::tcp_connect_by)).
    pub fn tcp_connect(&mut self, remote: SocketAddrV4) -> Result<TcpStream, NetError> {
        match self.request(&Request::TcpConnect { remote })? {
            Reply::TcpConnect { stream, .. } => Ok(stream),
            _ => unexpected(),
        }
    }

    /// Reads up to `min(buf.len(), MAX_IO)` bytes; `Ok(0)` = end of stream.
    pub fn tcp_read(&mut self, stream: TcpStream, buf: &mut [u8]) -> Result<usize, NetError> {
        let max = u16::try_from(buf.len().min(MAX_IO)).map_err(|_| NetError::InvalidInput)?;
        match self.request(&Request::TcpRead { stream, max })? {
            Reply::TcpRead { data } => {
                let dst = buf.get_mut(..data.len()).ok_or(NetError::Malformed)?;
                dst.copy_from_slice(data);
                Ok(data.len())
            }
            _ => unexpected(),
        }
    }

    /// Writes up to `MAX_IO` bytes of `data`; returns how many were taken.
    pub fn tcp_write(&mut self, stream: TcpStream, data: &[u8]) -> Result<usize, NetError> {
        let data = &data[..data.len().min(MAX_IO)];
        match self.request(&Request::TcpWrite { stream, data })? {
            Reply::TcpWrite { written } if usize::from(written) <= data.len() => {
                Ok(usize::from(written))
            }
            _ => unexpected(),
        }
    }

    /// Attaches a shared region: `cap` is a slot holding a read/write
    /// memory capability (with GRANT) of an object this task maps; a copy
    /// travels with the request. Returns the region's length as the server
    /// mapped it. `Unsupported` from a server (or transport) without shared
    /// regions: keep using [`tcp_write`](Self::tcp_write) /
    /// [`tcp_read`](Self::tcp_read).
    pub fn attach_shared(&mut self, cap: u32) -> Result<u32, NetError> {
        match self.request_with(&Request::AttachShared, Some(cap))? {
            Reply::AttachShared { len } => Ok(len),
            _ => unexpected(),
        }
    }

    /// Detaches this client's shared region (the server unmaps it).
    pub fn detach_shared(&mut self) -> Result<(), NetError> {
        match self.request(&Request::DetachShared)? {
            Reply::DetachShared => Ok(()),
            _ => unexpected(),
        }
    }

    /// Writes up to `len` bytes (at most `MAX_SHARED_IO`) from the shared
    /// region at `offset`; returns how many were taken.
    pub fn tcp_write_shared(
        &mut self,
        stream: TcpStream,
        offset: u32,
        len: u32,
    ) -> Result<usize, NetError> {
        let len = len.min(MAX_SHARED_IO as u32);
        match self.request(&Request::TcpWriteShared {
            stream,
            offset,
            len,
        })? {
            Reply::TcpWriteShared { written } if written <= len => Ok(written as usize),
            _ => unexpected(),
        }
    }

    /// Reads up to `max` bytes (at most `MAX_SHARED_IO`) into the shared
    /// region at `offset`; returns how many (0 = end of stream).
    pub fn tcp_read_shared(
        &mut self,
        stream: TcpStream,
        offset: u32,
        max: u32,
    ) -> Result<usize, NetError> {
        let max = max.min(MAX_SHARED_IO as u32);
        match self.request(&Request::TcpReadShared {
            stream,
            offset,
            max,
        })? {
            Reply::TcpReadShared { read } if read <= max => Ok(read as usize),
            _ => unexpected(),
        }
    }

    /// Shuts down the sending half.
    pub fn tcp_shutdown(&mut self, stream: TcpStream) -> Result<(), NetError> {
        match self.request(&Request::TcpShutdown { stream })? {
            Reply::TcpShutdown => Ok(()),
            _ => unexpected(),
        }
    }

    /// Binds a UDP socket (0 = ephemeral port); returns it and the bound port.
    pub fn udp_bind(&mut self, port: u16) -> Result<(UdpSocket, u16), NetError> {
        match self.request(&Request::UdpBind { port })? {
            Reply::UdpBind { socket, port } => Ok((socket, port)),
            _ => unexpected(),
        }
    }

    /// Sends one datagram (at most `MAX_DATAGRAM` bytes, else `InvalidInput`).
    pub fn udp_send_to(
        &mut self,
        socket: UdpSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), NetError> {
        match self.request(&Request::UdpSendTo { socket, to, data })? {
            Reply::UdpSendTo { .. } => Ok(()),
            _ => unexpected(),
        }
    }

    /// Receives one datagram, truncated to `buf.len()` (`WouldBlock` if none).
    pub fn udp_recv_from(
        &mut self,
        socket: UdpSocket,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), NetError> {
        let max = u16::try_from(buf.len().min(MAX_DATAGRAM)).map_err(|_| NetError::InvalidInput)?;
        match self.request(&Request::UdpRecvFrom { socket, max })? {
            Reply::UdpRecvFrom { from, data } => {
                let dst = buf.get_mut(..data.len()).ok_or(NetError::Malformed)?;
                dst.copy_from_slice(data);
                Ok((data.len(), from))
            }
            _ => unexpected(),
        }
    }

    /// Closes any handle.
    pub fn close(&mut self, handle: impl Into<Handle>) -> Result<(), NetError> {
        match self.request(&Request::Close {
            handle: handle.into(),
        })? {
            Reply::Close => Ok(()),
            _ => unexpected(),
        }
    }

    /// Waits until `handle` satisfies `interest` ([`Readiness::satisfies`]:
    /// `ERROR` always, `HUP` with `READABLE`); `TimedOut` once the absolute
    /// monotonic `deadline_ns` passes.
    pub fn wait(
        &mut self,
        handle: impl Into<Handle>,
        interest: Readiness,
        deadline_ns: u64,
    ) -> Result<Readiness, NetError> {
        let req = Request::Wait {
            handle: handle.into(),
            interest,
            deadline_ns,
        };
        match self.request(&req)? {
            Reply::Wait { ready } => Ok(ready),
            _ => unexpected(),
        }
    }

    /// Waits until any handle of `set` satisfies its interest (as for
    /// [`wait`](Self::wait)), or is gone; returns the ready mask (bit `i` = entry
    /// `i`). `TimedOut` once the absolute monotonic `deadline_ns` passes.
    pub fn wait_any(&mut self, set: &WaitSet, deadline_ns: u64) -> Result<u16, NetError> {
        let req = Request::WaitAny {
            set: *set,
            deadline_ns,
        };
        match self.request(&req)? {
            Reply::WaitAny { ready_mask } => Ok(ready_mask),
            _ => unexpected(),
        }
    }

    /// Arms `set` without blocking (op `WaitArm`): `Ok(0)` = armed, and the
    /// server will post one `Notify` on this client's notify route when an
    /// entry becomes ready; `Ok(mask)` = entries ready now (nothing armed).
    /// `Unsupported` if this client has no notify route.
    pub fn wait_arm(&mut self, set: &WaitSet) -> Result<u16, NetError> {
        match self.request(&Request::WaitArm { set: *set })? {
            Reply::WaitArm { ready_mask } => Ok(ready_mask),
            _ => unexpected(),
        }
    }

    /// Interface address, prefix, gateway and MTU.
    pub fn local_addr(&mut self) -> Result<IfaceInfo, NetError> {
        match self.request(&Request::LocalAddr)? {
            Reply::LocalAddr(info) => Ok(info),
            _ => unexpected(),
        }
    }

    /// MAC address, address source and DHCP lease.
    pub fn link_info(&mut self) -> Result<crate::types::LinkInfo, NetError> {
        match self.request(&Request::LinkInfo)? {
            Reply::LinkInfo(info) => Ok(info),
            _ => unexpected(),
        }
    }

    /// ICMP echo; returns the round-trip time in nanoseconds.
    pub fn ping(&mut self, addr: Ipv4Addr, seq: u16, deadline_ns: u64) -> Result<u64, NetError> {
        let req = Request::Ping {
            addr,
            seq,
            deadline_ns,
        };
        match self.request(&req)? {
            Reply::Ping { seq: s, rtt_ns } if s == seq => Ok(rtt_ns),
            _ => unexpected(),
        }
    }

    /// Runs `op` until it stops returning `WouldBlock`, waiting for
    /// `interest` on `handle` in between.
    fn retry<R>(
        &mut self,
        handle: Handle,
        interest: Readiness,
        deadline_ns: u64,
        mut op: impl FnMut(&mut Self) -> Result<R, NetError>,
    ) -> Result<R, NetError> {
        for _ in 0..MAX_SPURIOUS_WAKEUPS {
            match op(self) {
                Err(NetError::WouldBlock) => {
                    self.wait(handle, interest, deadline_ns)?;
                }
                other => return other,
            }
        }
        Err(NetError::WouldBlock)
    }

    /// Starts a connection and waits until it is established (`WRITABLE`)
    /// or fails; on failure or timeout the stream is closed.
    pub fn tcp_connect_by(
        &mut self,
        remote: SocketAddrV4,
        deadline_ns: u64,
    ) -> Result<TcpStream, NetError> {
        let stream = self.tcp_connect(remote)?;
        let result = match self.wait(stream, Readiness::WRITABLE, deadline_ns) {
            Ok(r) if r.contains(Readiness::ERROR) => {
                // The next I/O reports why the connection failed.
                let mut probe = [0u8; 1];
                match self.tcp_read(stream, &mut probe) {
                    Err(e) => Err(e),
                    Ok(_) => Err(NetError::ConnectionRefused),
                }
            }
            Ok(_) => return Ok(stream),
            Err(e) => Err(e),
        };
        let _ = self.close(stream);
        result
    }

    /// Accepts a connection, waiting until `deadline_ns`.
    pub fn tcp_accept_by(
        &mut self,
        listener: TcpListener,
        deadline_ns: u64,
    ) -> Result<(TcpStream, SocketAddrV4), NetError> {
        self.retry(listener.handle(), Readiness::READABLE, deadline_ns, |c| {
            c.tcp_accept(listener)
        })
    }

    /// Reads at least one byte (or EOF = `Ok(0)`), waiting until `deadline_ns`.
    pub fn tcp_read_by(
        &mut self,
        stream: TcpStream,
        buf: &mut [u8],
        deadline_ns: u64,
    ) -> Result<usize, NetError> {
        self.retry(stream.handle(), Readiness::READABLE, deadline_ns, |c| {
            c.tcp_read(stream, buf)
        })
    }

    /// Writes all of `data`, waiting for send space until `deadline_ns`.
    pub fn tcp_write_all_by(
        &mut self,
        stream: TcpStream,
        mut data: &[u8],
        deadline_ns: u64,
    ) -> Result<(), NetError> {
        while !data.is_empty() {
            let chunk = data;
            let n = self.retry(stream.handle(), Readiness::WRITABLE, deadline_ns, |c| {
                c.tcp_write(stream, chunk)
            })?;
            data = data.get(n..).ok_or(NetError::Malformed)?;
        }
        Ok(())
    }

    /// Writes the `len` bytes of the shared region at `offset`, waiting for
    /// send space until `deadline_ns`.
    pub fn tcp_write_shared_all_by(
        &mut self,
        stream: TcpStream,
        mut offset: u32,
        mut len: u32,
        deadline_ns: u64,
    ) -> Result<(), NetError> {
        while len != 0 {
            let (o, l) = (offset, len);
            let n = self.retry(stream.handle(), Readiness::WRITABLE, deadline_ns, |c| {
                c.tcp_write_shared(stream, o, l)
            })?;
            let n = u32::try_from(n).map_err(|_| NetError::Malformed)?;
            len = len.checked_sub(n).ok_or(NetError::Malformed)?;
            offset = offset.checked_add(n).ok_or(NetError::Malformed)?;
        }
        Ok(())
    }

    /// Reads into the shared region at `offset` (up to `max` bytes),
    /// waiting until `deadline_ns`; 0 = end of stream.
    pub fn tcp_read_shared_by(
        &mut self,
        stream: TcpStream,
        offset: u32,
        max: u32,
        deadline_ns: u64,
    ) -> Result<usize, NetError> {
        self.retry(stream.handle(), Readiness::READABLE, deadline_ns, |c| {
            c.tcp_read_shared(stream, offset, max)
        })
    }

    /// Receives one datagram, waiting until `deadline_ns`.
    pub fn udp_recv_from_by(
        &mut self,
        socket: UdpSocket,
        buf: &mut [u8],
        deadline_ns: u64,
    ) -> Result<(usize, SocketAddrV4), NetError> {
        self.retry(socket.handle(), Readiness::READABLE, deadline_ns, |c| {
            c.udp_recv_from(socket, buf)
        })
    }
}
