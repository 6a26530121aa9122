//! Server side: the `Backend` trait, the request dispatcher and the parking queue.
//!
//! Design notes
//! ------------
//! * [`dispatch`] is the one production path `netstackd` runs for each IPC
//!   request: decode → instance check → handle lookup (ownership + kind) →
//!   backend call → encode reply. It never panics and always produces either
//!   a reply or [`Outcome::Parked`]; malformed input yields an error reply.
//! * Every backend call is non-blocking. An op that cannot complete now
//!   returns `WouldBlock`; the client then sends `Wait`, which is answered
//!   at once if the handle is ready (or the deadline already passed) and is
//!   otherwise *parked* in the bounded [`ParkQueue`]. `Ping` is parked the
//!   same way until the echo reply or the deadline.
//! * `netstackd` keeps the kernel reply capability of every parked request
//!   (keyed by client id and correlation id) and, after each network poll,
//!   calls [`Server::poll`] (readiness, deadlines, closed handles) or at
//!   least [`Server::expire`] (deadlines only). Both hand finished replies
//!   to a sink as encoded bytes; [`Server::next_deadline`] tells when to
//!   wake up next.
//! * Data read from the backend is written directly into the reply buffer
//!   (zero-copy); the dispatcher needs a full `FACADE_MSG_MAX` reply buffer,
//!   which the signature enforces.
//! * `WaitArm` is the non-blocking form of `WaitAny` for clients that also
//!   serve an endpoint of their own: the server remembers one set per
//!   client with a *notify route* ([`Server::add_notify_route`]; the route
//!   itself, a kernel `Notify` capability, stays with the daemon) and
//!   [`Server::poll_armed`] names the clients whose armed set became ready,
//!   once per arming. Clients without a route get `Unsupported` and keep
//!   using the blocking `WaitAny`.
//! * A request carrying a non-zero server instance different from this
//!   server's is answered `ServerRestarted`: its handles belong to a
//!   previous incarnation.

use crate::error::NetError;
use crate::handle::{HandleKind, HandleTable};
use crate::types::{ClientId, Handle, IfaceInfo, Ipv4Addr, Readiness, SocketAddrV4};
use crate::types::{TcpListener, TcpStream, UdpSocket};
use crate::wire::{
    decode_request, encode_error_reply, encode_reply, finish_read_reply, finish_recv_reply, Op,
    Reply, Request, WaitSet, READ_DATA_OFFSET, RECV_DATA_OFFSET,
};
use crate::{
    FACADE_MSG_MAX, MAX_BACKLOG, MAX_DATAGRAM, MAX_IO, MAX_NOTIFY_ROUTES, MAX_PARKED,
    MAX_PARKED_PER_CLIENT,
};

/// The network stack the server dispatches into (smoltcp in `netstackd`,
/// the `fake` module's `FakeNode` in host tests). Every method must return
/// promptly: nothing here may block.
///
/// `Socket` is the backend's own socket identity; the server maps facade
/// handles to it and only ever passes back sockets this backend returned
/// and has not closed.
pub trait Backend {
    /// Backend socket identity.
    type Socket: Copy + Eq + core::fmt::Debug;

    /// Listens on `port` (0 = pick an ephemeral port) with `backlog` in
    /// `1..=MAX_BACKLOG`; returns the socket and the bound port.
    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<(Self::Socket, u16), NetError>;

    /// Takes one established connection from a listener (`WouldBlock` if none).
    fn tcp_accept(
        &mut self,
        listener: Self::Socket,
    ) -> Result<(Self::Socket, SocketAddrV4), NetError>;

    /// Starts a connection; it may complete later (readiness `WRITABLE`) or
    /// fail later (`ERROR`). Returns the socket and its local port.
    fn tcp_connect(
        &mut self,
        remote: SocketAddrV4,
        now_ns: u64,
    ) -> Result<(Self::Socket, u16), NetError>;

    /// Reads into `buf` (non-empty). `Ok(0)` = end of stream; `WouldBlock`
    /// if no data yet (including while connecting).
    fn tcp_read(&mut self, stream: Self::Socket, buf: &mut [u8]) -> Result<usize, NetError>;

    /// Queues as much of `data` (non-empty) as fits; `WouldBlock` if nothing fits.
    fn tcp_write(&mut self, stream: Self::Socket, data: &[u8]) -> Result<usize, NetError>;

    /// Shuts down the sending half (FIN).
    fn tcp_shutdown(&mut self, stream: Self::Socket) -> Result<(), NetError>;

    /// Binds a UDP socket on `port` (0 = ephemeral); returns it and the bound port.
    fn udp_bind(&mut self, port: u16) -> Result<(Self::Socket, u16), NetError>;

    /// Sends one whole datagram (`data.len() <= MAX_DATAGRAM`).
    fn udp_send_to(
        &mut self,
        socket: Self::Socket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), NetError>;

    /// Receives one datagram into `buf` (excess bytes are discarded).
    fn udp_recv_from(
        &mut self,
        socket: Self::Socket,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), NetError>;

    /// Closes any socket (graceful for streams). Infallible: the socket is gone after.
    fn close(&mut self, socket: Self::Socket);

    /// Current readiness of a socket.
    fn readiness(&mut self, socket: Self::Socket) -> Readiness;

    /// Interface configuration.
    fn iface(&self) -> IfaceInfo;

    /// Sends an ICMP echo request; returns a token for [`ping_poll`](Self::ping_poll).
    /// The backend keeps bounded ping state (it may forget old tokens).
    fn ping_start(&mut self, addr: Ipv4Addr, seq: u16, now_ns: u64) -> Result<u32, NetError> {
        let _ = (addr, seq, now_ns);
        Err(NetError::Unsupported)
    }

    /// Link details for the `LinkInfo` op; the default knows nothing.
    fn link(&self, now_ns: u64) -> crate::types::LinkInfo {
        let _ = now_ns;
        crate::types::LinkInfo::default()
    }

    /// Backend resource usage: (sockets held, socket buffer bytes). Used by
    /// the `Stats` op; the default reports nothing.
    fn usage(&self) -> (u32, u32) {
        (0, 0)
    }

    /// `Some(Ok(rtt_ns))` once the echo reply arrived, `Some(Err(_))` on a
    /// definite failure, `None` while pending (or for a forgotten token).
    fn ping_poll(&mut self, token: u32, now_ns: u64) -> Option<Result<u64, NetError>> {
        let _ = (token, now_ns);
        None
    }
}

/// What [`dispatch`] did with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send `reply_buf[..n]` back to the caller now.
    Reply(usize),
    /// The request was parked; its reply will come out of [`Server::poll`]
    /// or [`Server::expire`]. Keep the caller's reply capability.
    Parked,
}

#[derive(Clone, Copy, Debug)]
enum ParkedOp {
    Wait { handle: Handle, interest: Readiness },
    WaitAny { set: WaitSet },
    Ping { token: u32, seq: u16 },
}

#[derive(Clone, Copy, Debug)]
struct Parked {
    client: ClientId,
    correlation: u32,
    deadline_ns: u64,
    what: ParkedOp,
}

impl Parked {
    fn op(&self) -> Op {
        match self.what {
            ParkedOp::Wait { .. } => Op::Wait,
            ParkedOp::WaitAny { .. } => Op::WaitAny,
            ParkedOp::Ping { .. } => Op::Ping,
        }
    }
}

/// A parked request that is now finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Woken {
    /// Who asked.
    pub client: ClientId,
    /// The request's correlation id.
    pub correlation: u32,
    /// `Op::Wait` or `Op::Ping`.
    pub op: Op,
    /// The answer.
    pub result: Result<Reply<'static>, NetError>,
}

impl Woken {
    /// Encodes the reply message (at most 28 bytes) into `buf`.
    pub fn encode(&self, instance: u32, buf: &mut [u8]) -> Result<usize, NetError> {
        match &self.result {
            Ok(r) => encode_reply(r, self.correlation, instance, buf),
            Err(e) => encode_error_reply(self.op as u8, *e, self.correlation, instance, buf),
        }
    }
}

/// Bounded queue of parked `Wait`/`Ping` requests (`MAX_PARKED` in total,
/// `MAX_PARKED_PER_CLIENT` per client).
pub struct ParkQueue {
    slots: [Option<Parked>; MAX_PARKED],
}

impl Default for ParkQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl ParkQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        ParkQueue {
            slots: [None; MAX_PARKED],
        }
    }

    fn park(&mut self, p: Parked) -> Result<(), NetError> {
        if self.count(p.client) >= MAX_PARKED_PER_CLIENT {
            return Err(NetError::NoBufs);
        }
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(NetError::NoBufs)?;
        *slot = Some(p);
        Ok(())
    }

    /// Parked requests in total.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// True if nothing is parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parked requests of one client.
    pub fn count(&self, client: ClientId) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|p| p.client == client)
            .count()
    }

    /// Earliest deadline among parked requests.
    pub fn next_deadline(&self) -> Option<u64> {
        self.slots.iter().flatten().map(|p| p.deadline_ns).min()
    }

    /// Answers `TimedOut` to every request whose deadline is `<= now_ns`.
    pub fn expire(&mut self, now_ns: u64, mut sink: impl FnMut(Woken)) {
        for slot in self.slots.iter_mut() {
            if let Some(p) = *slot {
                if p.deadline_ns <= now_ns {
                    *slot = None;
                    sink(Woken {
                        client: p.client,
                        correlation: p.correlation,
                        op: p.op(),
                        result: Err(NetError::TimedOut),
                    });
                }
            }
        }
    }

    /// Forgets every request of `client` without answering (it is gone).
    pub fn drop_client(&mut self, client: ClientId) -> usize {
        let mut n = 0;
        for slot in self.slots.iter_mut() {
            if slot.is_some_and(|p| p.client == client) {
                *slot = None;
                n += 1;
            }
        }
        n
    }
}

/// A client with a notify route and its armed set (if any).
#[derive(Clone, Copy, Debug)]
struct Route {
    client: ClientId,
    armed: Option<WaitSet>,
}

/// Server state: the handle table, the parking queue, the notify routes
/// with their armed sets, and the instance id.
pub struct Server<S> {
    handles: HandleTable<S>,
    parked: ParkQueue,
    routes: [Option<Route>; MAX_NOTIFY_ROUTES],
    instance: u32,
}

/// Result of executing one decoded request.
enum Exec {
    Reply(Reply<'static>),
    Encoded(usize),
    Parked,
}

fn sink_bytes(instance: u32, w: Woken, sink: &mut impl FnMut(ClientId, u32, &[u8])) {
    let mut buf = [0u8; 64];
    let n = match w.encode(instance, &mut buf) {
        Ok(n) => n,
        // Unreachable for wait/ping replies; fall back to a header-only error.
        Err(e) => encode_error_reply(w.op as u8, e, w.correlation, instance, &mut buf).unwrap_or(0),
    };
    sink(w.client, w.correlation, &buf[..n]);
}

impl<S: Copy> Server<S> {
    /// A fresh server. `instance` identifies this incarnation (use something
    /// that changes across restarts, e.g. a boot-time counter); 0 is
    /// reserved for "any" and is replaced by 1.
    pub fn new(instance: u32) -> Self {
        Server {
            handles: HandleTable::new(),
            parked: ParkQueue::new(),
            routes: [None; MAX_NOTIFY_ROUTES],
            instance: instance.max(1),
        }
    }

    /// Ready mask of a `WaitAny` set: bit `i` for entry `i` that satisfies its
    /// interest or is not (any more) a handle of `client`.
    fn any_ready<B: Backend<Socket = S>>(
        &mut self,
        backend: &mut B,
        client: ClientId,
        set: &WaitSet,
    ) -> u16 {
        let mut mask = 0u16;
        for (i, (handle, interest)) in set.entries().iter().enumerate() {
            let hit = match self.handles.get(client, *handle) {
                Err(_) => true,
                Ok((_, sock)) => backend.readiness(sock).satisfies(*interest),
            };
            if hit {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// Declares that `client` has a notify route (the daemon holds a
    /// `Notify` capability for the client's own endpoint): its `WaitArm`
    /// requests are taken. False if [`MAX_NOTIFY_ROUTES`] routes exist
    /// already; adding a route twice is a no-op.
    pub fn add_notify_route(&mut self, client: ClientId) -> bool {
        if self.routes.iter().flatten().any(|r| r.client == client) {
            return true;
        }
        match self.routes.iter_mut().find(|r| r.is_none()) {
            Some(slot) => {
                *slot = Some(Route {
                    client,
                    armed: None,
                });
                true
            }
            None => false,
        }
    }

    /// True if `client` has an armed `WaitArm` set.
    pub fn is_armed(&self, client: ClientId) -> bool {
        self.routes
            .iter()
            .flatten()
            .any(|r| r.client == client && r.armed.is_some())
    }

    /// Calls `notify(client)` for every client whose armed set has an entry
    /// ready now (or no longer its handle), and disarms that set: one
    /// notification per arming. Call after every network poll.
    pub fn poll_armed<B: Backend<Socket = S>>(
        &mut self,
        backend: &mut B,
        mut notify: impl FnMut(ClientId),
    ) {
        for i in 0..MAX_NOTIFY_ROUTES {
            let Some(Route {
                client,
                armed: Some(set),
            }) = self.routes[i]
            else {
                continue;
            };
            if self.any_ready(backend, client, &set) != 0 {
                if let Some(r) = self.routes[i].as_mut() {
                    r.armed = None;
                }
                notify(client);
            }
        }
    }

    /// This server's instance id (non-zero).
    pub fn instance(&self) -> u32 {
        self.instance
    }

    /// The handle table.
    pub fn handles(&self) -> &HandleTable<S> {
        &self.handles
    }

    /// The parking queue.
    pub fn parked(&self) -> &ParkQueue {
        &self.parked
    }

    /// Earliest deadline of a parked request (when to call `poll`/`expire`).
    pub fn next_deadline(&self) -> Option<u64> {
        self.parked.next_deadline()
    }

    /// A client died: close all its sockets in `backend`, forget its parked
    /// requests. Returns the number of sockets closed.
    pub fn drop_client<B: Backend<Socket = S>>(
        &mut self,
        backend: &mut B,
        client: ClientId,
    ) -> usize {
        let mut n = 0;
        for (_, _, sock) in self.handles.drop_client(client) {
            backend.close(sock);
            n += 1;
        }
        self.parked.drop_client(client);
        for r in self.routes.iter_mut().flatten() {
            if r.client == client {
                r.armed = None;
            }
        }
        n
    }

    /// Answers every parked request that can be answered now: ready handles
    /// (`Wait` reply with the readiness), closed handles (`Closed`), finished
    /// pings, and passed deadlines (`TimedOut`). `sink(client, correlation,
    /// reply_bytes)` is called once per answered request.
    pub fn poll<B: Backend<Socket = S>>(
        &mut self,
        backend: &mut B,
        now_ns: u64,
        mut sink: impl FnMut(ClientId, u32, &[u8]),
    ) {
        for i in 0..MAX_PARKED {
            let Some(p) = self.parked.slots[i] else {
                continue;
            };
            let expired = p.deadline_ns <= now_ns;
            let result = match p.what {
                ParkedOp::Wait { handle, interest } => match self.handles.get(p.client, handle) {
                    Err(_) => Some(Err(NetError::Closed)),
                    Ok((_, sock)) => {
                        let ready = backend.readiness(sock);
                        if ready.satisfies(interest) {
                            Some(Ok(Reply::Wait { ready }))
                        } else {
                            expired.then_some(Err(NetError::TimedOut))
                        }
                    }
                },
                ParkedOp::WaitAny { set } => match self.any_ready(backend, p.client, &set) {
                    0 => expired.then_some(Err(NetError::TimedOut)),
                    ready_mask => Some(Ok(Reply::WaitAny { ready_mask })),
                },
                ParkedOp::Ping { token, seq } => match backend.ping_poll(token, now_ns) {
                    Some(Ok(rtt_ns)) => Some(Ok(Reply::Ping { seq, rtt_ns })),
                    Some(Err(e)) => Some(Err(e)),
                    None => expired.then_some(Err(NetError::TimedOut)),
                },
            };
            if let Some(result) = result {
                self.parked.slots[i] = None;
                let w = Woken {
                    client: p.client,
                    correlation: p.correlation,
                    op: p.op(),
                    result,
                };
                sink_bytes(self.instance, w, &mut sink);
            }
        }
    }

    /// Answers `TimedOut` to parked requests whose deadline is `<= now_ns`,
    /// without consulting the backend. Same sink as [`poll`](Self::poll).
    pub fn expire(&mut self, now_ns: u64, mut sink: impl FnMut(ClientId, u32, &[u8])) {
        let instance = self.instance;
        self.parked
            .expire(now_ns, |w| sink_bytes(instance, w, &mut sink));
    }

    fn insert_or_close<B: Backend<Socket = S>>(
        &mut self,
        backend: &mut B,
        client: ClientId,
        kind: HandleKind,
        sock: S,
    ) -> Result<Handle, NetError> {
        self.handles.insert(client, kind, sock).inspect_err(|_| {
            backend.close(sock);
        })
    }

    fn room(&self, client: ClientId) -> Result<(), NetError> {
        if self.handles.has_room(client) {
            Ok(())
        } else {
            Err(NetError::NoBufs)
        }
    }

    // The request, its reply buffer and the client's context, as
    // `dispatch_shared` received them.
    #[allow(clippy::too_many_arguments)]
    fn execute<B: Backend<Socket = S>>(
        &mut self,
        backend: &mut B,
        client: ClientId,
        req: Request<'_>,
        correlation: u32,
        reply: &mut [u8; FACADE_MSG_MAX],
        now_ns: u64,
        region: Option<&mut [u8]>,
    ) -> Result<Exec, NetError> {
        use HandleKind as K;
        let reply = match req {
            Request::TcpListen { port, backlog } => {
                self.room(client)?;
                let (sock, port) = backend.tcp_listen(port, backlog.clamp(1, MAX_BACKLOG))?;
                let h = self.insert_or_close(backend, client, K::TcpListener, sock)?;
                Reply::TcpListen {
                    listener: TcpListener::from_handle(h),
                    port,
                }
            }
            Request::TcpAccept { listener } => {
                let ls = self
                    .handles
                    .get_kind(client, listener.handle(), K::TcpListener)?;
                // Check room first so the pending connection stays queued.
                self.room(client)?;
                let (sock, peer) = backend.tcp_accept(ls)?;
                let h = self.insert_or_close(backend, client, K::TcpStream, sock)?;
                Reply::TcpAccept {
                    stream: TcpStream::from_handle(h),
                    peer,
                }
            }
            Request::TcpConnect { remote } => {
                self.room(client)?;
                let (sock, local_port) = backend.tcp_connect(remote, now_ns)?;
                let h = self.insert_or_close(backend, client, K::TcpStream, sock)?;
                Reply::TcpConnect {
                    stream: TcpStream::from_handle(h),
                    local_port,
                }
            }
            Request::TcpRead { stream, max } => {
                let sock = self
                    .handles
                    .get_kind(client, stream.handle(), K::TcpStream)?;
                let max = usize::from(max).min(MAX_IO);
                let buf = reply
                    .get_mut(READ_DATA_OFFSET..READ_DATA_OFFSET + max)
                    .ok_or(NetError::NoBufs)?;
                let n = backend.tcp_read(sock, buf)?.min(max);
                let len = finish_read_reply(reply, correlation, self.instance, n)?;
                return Ok(Exec::Encoded(len));
            }
            Request::TcpWrite { stream, data } => {
                let sock = self
                    .handles
                    .get_kind(client, stream.handle(), K::TcpStream)?;
                let n = write_some(backend, sock, data)?;
                Reply::TcpWrite {
                    written: u16::try_from(n).map_err(|_| NetError::InvalidInput)?,
                }
            }
            Request::TcpWriteShared {
                stream,
                offset,
                len,
            } => {
                // The range first: it is checked against the caller's own
                // region whatever handle it names.
                let data = shared_range(region, offset, len)?;
                let sock = self
                    .handles
                    .get_kind(client, stream.handle(), K::TcpStream)?;
                let n = write_some(backend, sock, data)?;
                Reply::TcpWriteShared {
                    written: u32::try_from(n).map_err(|_| NetError::InvalidInput)?,
                }
            }
            Request::TcpReadShared {
                stream,
                offset,
                max,
            } => {
                let buf = shared_range(region, offset, max)?;
                let sock = self
                    .handles
                    .get_kind(client, stream.handle(), K::TcpStream)?;
                let n = backend.tcp_read(sock, buf)?.min(max as usize);
                Reply::TcpReadShared {
                    read: u32::try_from(n).map_err(|_| NetError::InvalidInput)?,
                }
            }
            // Attaching maps kernel memory: the daemon does it
            // (`shared::region_op`) before dispatching; a server without
            // shared memory does not support it.
            Request::AttachShared | Request::DetachShared => return Err(NetError::Unsupported),
            Request::TcpShutdown { stream } => {
                let sock = self
                    .handles
                    .get_kind(client, stream.handle(), K::TcpStream)?;
                backend.tcp_shutdown(sock)?;
                Reply::TcpShutdown
            }
            Request::UdpBind { port } => {
                self.room(client)?;
                let (sock, port) = backend.udp_bind(port)?;
                let h = self.insert_or_close(backend, client, K::UdpSocket, sock)?;
                Reply::UdpBind {
                    socket: UdpSocket::from_handle(h),
                    port,
                }
            }
            Request::UdpSendTo { socket, to, data } => {
                let sock = self
                    .handles
                    .get_kind(client, socket.handle(), K::UdpSocket)?;
                backend.udp_send_to(sock, to, data)?;
                Reply::UdpSendTo {
                    sent: u16::try_from(data.len()).map_err(|_| NetError::InvalidInput)?,
                }
            }
            Request::UdpRecvFrom { socket, max } => {
                let sock = self
                    .handles
                    .get_kind(client, socket.handle(), K::UdpSocket)?;
                let max = usize::from(max).min(MAX_DATAGRAM);
                let buf = reply
                    .get_mut(RECV_DATA_OFFSET..RECV_DATA_OFFSET + max)
                    .ok_or(NetError::NoBufs)?;
                let (n, from) = backend.udp_recv_from(sock, buf)?;
                let n = n.min(max);
                let len = finish_recv_reply(reply, correlation, self.instance, from, n)?;
                return Ok(Exec::Encoded(len));
            }
            Request::Close { handle } => {
                let (_, sock) = self.handles.remove(client, handle)?;
                backend.close(sock);
                Reply::Close
            }
            Request::Wait {
                handle,
                interest,
                deadline_ns,
            } => {
                let (_, sock) = self.handles.get(client, handle)?;
                let ready = backend.readiness(sock);
                if ready.satisfies(interest) {
                    Reply::Wait { ready }
                } else if deadline_ns <= now_ns {
                    return Err(NetError::TimedOut);
                } else {
                    self.parked.park(Parked {
                        client,
                        correlation,
                        deadline_ns,
                        what: ParkedOp::Wait { handle, interest },
                    })?;
                    return Ok(Exec::Parked);
                }
            }
            Request::WaitAny { set, deadline_ns } => {
                let ready_mask = self.any_ready(backend, client, &set);
                if ready_mask != 0 {
                    Reply::WaitAny { ready_mask }
                } else if deadline_ns <= now_ns {
                    return Err(NetError::TimedOut);
                } else {
                    self.parked.park(Parked {
                        client,
                        correlation,
                        deadline_ns,
                        what: ParkedOp::WaitAny { set },
                    })?;
                    return Ok(Exec::Parked);
                }
            }
            Request::WaitArm { set } => {
                let i = self
                    .routes
                    .iter()
                    .position(|r| r.is_some_and(|r| r.client == client))
                    .ok_or(NetError::Unsupported)?;
                let ready_mask = self.any_ready(backend, client, &set);
                if let Some(r) = self.routes[i].as_mut() {
                    // A new arm replaces the old one; a set that is ready
                    // now is answered in the reply and not kept.
                    r.armed = (ready_mask == 0).then_some(set);
                }
                Reply::WaitArm { ready_mask }
            }
            Request::LocalAddr => Reply::LocalAddr(backend.iface()),
            Request::LinkInfo => Reply::LinkInfo(backend.link(now_ns)),
            Request::Stats => {
                let (sockets, buffer_bytes) = backend.usage();
                Reply::Stats(crate::wire::ServerStats {
                    clients: self.handles.clients() as u32,
                    handles: self.handles.total() as u32,
                    parked: self.parked.len() as u32,
                    sockets,
                    buffer_bytes,
                })
            }
            Request::Ping {
                addr,
                seq,
                deadline_ns,
            } => {
                if self.parked.count(client) >= MAX_PARKED_PER_CLIENT {
                    return Err(NetError::NoBufs);
                }
                let token = backend.ping_start(addr, seq, now_ns)?;
                match backend.ping_poll(token, now_ns) {
                    Some(Ok(rtt_ns)) => Reply::Ping { seq, rtt_ns },
                    Some(Err(e)) => return Err(e),
                    None if deadline_ns <= now_ns => return Err(NetError::TimedOut),
                    None => {
                        self.parked.park(Parked {
                            client,
                            correlation,
                            deadline_ns,
                            what: ParkedOp::Ping { token, seq },
                        })?;
                        return Ok(Exec::Parked);
                    }
                }
            }
        };
        Ok(Exec::Reply(reply))
    }
}

/// Writes what the stream takes of `data` (a message's or a shared
/// region's bytes): `WouldBlock` when it takes nothing.
fn write_some<B: Backend>(
    backend: &mut B,
    sock: B::Socket,
    data: &[u8],
) -> Result<usize, NetError> {
    match backend.tcp_write(sock, data)?.min(data.len()) {
        0 => Err(NetError::WouldBlock),
        n => Ok(n),
    }
}

/// The bytes `offset..offset + len` of the client's attached region:
/// `InvalidInput` without a region or for a range not inside it.
fn shared_range(region: Option<&mut [u8]>, offset: u32, len: u32) -> Result<&mut [u8], NetError> {
    let start = offset as usize;
    let end = start
        .checked_add(len as usize)
        .ok_or(NetError::InvalidInput)?;
    region
        .and_then(|r| r.get_mut(start..end))
        .ok_or(NetError::InvalidInput)
}

/// Handles one request from `client`: decodes `request`, checks handle
/// ownership and kind, calls `backend`, and encodes the reply into `reply`.
///
/// Total: any input produces a reply (an error reply for malformed input,
/// echoing the correlation id when it could be read, else 0) or
/// [`Outcome::Parked`] for a `Wait`/`Ping` that must be answered later.
pub fn dispatch<B: Backend>(
    backend: &mut B,
    server: &mut Server<B::Socket>,
    client: ClientId,
    request: &[u8],
    reply: &mut [u8; FACADE_MSG_MAX],
    now_ns: u64,
) -> Outcome {
    dispatch_shared(backend, server, client, request, reply, now_ns, None)
}

/// [`dispatch`] for a client with a shared region attached (`region`, the
/// server's mapping of it; see [`crate::shared`]): `TcpWriteShared` and
/// `TcpReadShared` move bytes between it and the backend directly, within
/// its bounds. Without a region they are `InvalidInput`.
pub fn dispatch_shared<B: Backend>(
    backend: &mut B,
    server: &mut Server<B::Socket>,
    client: ClientId,
    request: &[u8],
    reply: &mut [u8; FACADE_MSG_MAX],
    now_ns: u64,
    region: Option<&mut [u8]>,
) -> Outcome {
    let instance = server.instance;
    let fail = |reply: &mut [u8; FACADE_MSG_MAX], op: u8, e: NetError, corr: u32| {
        // A header-only reply always fits in FACADE_MSG_MAX bytes.
        Outcome::Reply(encode_error_reply(op, e, corr, instance, reply).unwrap_or(0))
    };
    let (header, req) = match decode_request(request) {
        Ok(x) => x,
        Err(e) => return fail(reply, e.op, e.error, e.correlation),
    };
    let corr = header.correlation;
    if header.instance != 0 && header.instance != instance {
        return fail(reply, header.op, NetError::ServerRestarted, corr);
    }
    match server.execute(backend, client, req, corr, reply, now_ns, region) {
        Ok(Exec::Parked) => Outcome::Parked,
        Ok(Exec::Encoded(n)) => Outcome::Reply(n),
        Ok(Exec::Reply(r)) => match encode_reply(&r, corr, instance, reply) {
            Ok(n) => Outcome::Reply(n),
            Err(e) => fail(reply, header.op, e, corr),
        },
        Err(e) => fail(reply, header.op, e, corr),
    }
}
