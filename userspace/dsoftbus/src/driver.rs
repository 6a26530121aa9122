//! Driver over the sockets facade: discovery datagrams, session setup and records on TCP.
//!
//! Design notes:
//! - Generic over the facade [`Transport`], so `dsoftbusd` (kernel IPC) and host tests
//!   (`nexus_net::fake::SimNet`) run the same code.
//! - Blocking functions take an absolute `deadline_ns` and use the facade's `*_by`
//!   helpers, whose waits are bounded by that deadline inside `netstackd`. The driver
//!   therefore needs no clock of its own: a facade `TimedOut` becomes
//!   [`AuthError::Timeout`], and no wait starts after the deadline.
//! - Failure cleanup: a failed `connect_session` / `accept_session` closes its stream and
//!   drops the handshake (Noise secrets are wiped on drop). A responder that rejects an
//!   identity first sends its REJECT record (best effort, same deadline).
//! - [`PendingSession`] is the non-blocking form for event loops that serve several peers:
//!   call [`PendingSession::step`] whenever the stream may be ready (see
//!   [`PendingSession::interest`]); it never waits.
//! - Records: [`send_record`] seals and writes one record; [`recv_record`] reads until one
//!   complete record is buffered. A facade error leaves the stream in an unknown state;
//!   close the connection.

use alloc::vec;
use alloc::vec::Vec;

use nexus_net::{
    NetClient, NetError, Readiness, SocketAddrV4, TcpListener, TcpStream, Transport, UdpSocket,
};

use crate::announce::Announce;
use crate::cache::{PeerCache, PeerEntry};
use crate::handshake::{AuthError, Handshake, LocalIdentity, NoDirectory, PeerDirectory};
use crate::session::{Record, Session, SessionError};
use crate::EphemeralKeypair;
use crate::{MAX_ANNOUNCE_LEN, MAX_WIRE_FRAME};

/// Most datagrams one [`drain_announces`] call reads.
pub const MAX_DRAIN: usize = 64;

/// An established session bound to its facade TCP stream.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    session: Session,
    tx: Vec<u8>,
}

impl Connection {
    /// Pairs a session with the stream it runs on.
    pub fn new(stream: TcpStream, session: Session) -> Self {
        Connection {
            stream,
            session,
            tx: vec![0u8; MAX_WIRE_FRAME],
        }
    }

    /// The facade stream.
    pub fn stream(&self) -> TcpStream {
        self.stream
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, mutably (for sans-IO use of the same stream).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The peer's device id.
    pub fn peer_device_id(&self) -> &str {
        self.session.peer_device_id()
    }

    /// Splits into stream and session.
    pub fn into_parts(self) -> (TcpStream, Session) {
        (self.stream, self.session)
    }
}

fn net_to_auth(e: NetError) -> AuthError {
    match e {
        NetError::TimedOut => AuthError::Timeout,
        other => AuthError::Net(other),
    }
}

/// Connects to `peer` and runs the initiator handshake, blocking until `deadline_ns`.
///
/// The session exists only if the responder proved the static key `peer` announced,
/// claimed `peer`'s device id, and confirmed our identity.
pub fn connect_session<T: Transport>(
    client: &mut NetClient<T>,
    peer: &PeerEntry,
    local: &LocalIdentity,
    ephemeral: impl Into<EphemeralKeypair>,
    deadline_ns: u64,
) -> Result<Connection, AuthError> {
    let mut hs = Handshake::initiator(local, peer, ephemeral, deadline_ns)?;
    let stream = client
        .tcp_connect_by(peer.session_addr(), deadline_ns)
        .map_err(|e| hs.abort(net_to_auth(e)))?;
    finish(client, stream, hs, &NoDirectory, deadline_ns)
}

/// Accepts one connection on `listener` and runs the responder handshake, blocking until
/// `deadline_ns`. `peers` (normally [`PeerCache::at`]) binds the initiator's claimed
/// device id to its static key.
pub fn accept_session<T: Transport>(
    client: &mut NetClient<T>,
    listener: TcpListener,
    local: &LocalIdentity,
    peers: &dyn PeerDirectory,
    ephemeral: impl Into<EphemeralKeypair>,
    deadline_ns: u64,
) -> Result<Connection, AuthError> {
    let (stream, _from) = client
        .tcp_accept_by(listener, deadline_ns)
        .map_err(net_to_auth)?;
    respond_session(client, stream, local, peers, ephemeral, deadline_ns)
}

/// Runs the responder handshake on an already accepted `stream` (closed on failure).
pub fn respond_session<T: Transport>(
    client: &mut NetClient<T>,
    stream: TcpStream,
    local: &LocalIdentity,
    peers: &dyn PeerDirectory,
    ephemeral: impl Into<EphemeralKeypair>,
    deadline_ns: u64,
) -> Result<Connection, AuthError> {
    let hs = Handshake::responder(local, ephemeral, deadline_ns);
    finish(client, stream, hs, peers, deadline_ns)
}

/// Drives `hs` to completion on `stream`; closes the stream on failure.
fn finish<T: Transport>(
    client: &mut NetClient<T>,
    stream: TcpStream,
    mut hs: Handshake,
    peers: &dyn PeerDirectory,
    deadline_ns: u64,
) -> Result<Connection, AuthError> {
    match drive(client, stream, &mut hs, peers, deadline_ns) {
        Ok(session) => Ok(Connection::new(stream, session)),
        Err(e) => {
            // Deliver a pending REJECT if there is one; the error stands either way.
            let rest = hs.pending_output();
            if !rest.is_empty() {
                let _ = client.tcp_write_all_by(stream, rest, deadline_ns);
            }
            drop(hs);
            let _ = client.close(stream);
            Err(e)
        }
    }
}

fn drive<T: Transport>(
    client: &mut NetClient<T>,
    stream: TcpStream,
    hs: &mut Handshake,
    peers: &dyn PeerDirectory,
    deadline_ns: u64,
) -> Result<Session, AuthError> {
    loop {
        let out = hs.pending_output();
        if !out.is_empty() {
            let n = out.len();
            client
                .tcp_write_all_by(stream, out, deadline_ns)
                .map_err(|e| hs.abort(net_to_auth(e)))?;
            hs.consume_output(n);
        }
        if let Some(session) = hs.take_session() {
            return Ok(session);
        }
        if let Some(e) = hs.error() {
            return Err(e);
        }
        let n = client
            .tcp_read_by(stream, hs.rx_space(), deadline_ns)
            .map_err(|e| hs.abort(net_to_auth(e)))?;
        if n == 0 {
            return Err(hs.abort(AuthError::Closed));
        }
        // On an identity failure the REJECT stays queued for `finish` to send.
        hs.rx_commit(n, peers)?;
    }
}

/// A handshake in progress on a facade stream, advanced without blocking.
#[derive(Debug)]
pub struct PendingSession {
    stream: TcpStream,
    hs: Handshake,
    closed: bool,
}

impl PendingSession {
    /// Starts connecting to `peer` (non-blocking) as initiator.
    pub fn connect<T: Transport>(
        client: &mut NetClient<T>,
        peer: &PeerEntry,
        local: &LocalIdentity,
        ephemeral: impl Into<EphemeralKeypair>,
        deadline_ns: u64,
    ) -> Result<Self, AuthError> {
        // The SYN first: the first message's key agreement then overlaps the
        // connection's round trip instead of preceding it.
        let stream = client
            .tcp_connect(peer.session_addr())
            .map_err(net_to_auth)?;
        let hs = match Handshake::initiator(local, peer, ephemeral, deadline_ns) {
            Ok(hs) => hs,
            Err(e) => {
                let _ = client.close(stream);
                return Err(e);
            }
        };
        Ok(PendingSession {
            stream,
            hs,
            closed: false,
        })
    }

    /// Starts the responder side on an accepted `stream`.
    pub fn accepted(
        stream: TcpStream,
        local: &LocalIdentity,
        ephemeral: impl Into<EphemeralKeypair>,
        deadline_ns: u64,
    ) -> Self {
        PendingSession {
            stream,
            hs: Handshake::responder(local, ephemeral, deadline_ns),
            closed: false,
        }
    }

    /// The stream the handshake runs on.
    pub fn stream(&self) -> TcpStream {
        self.stream
    }

    /// The sans-IO handshake (for inspection).
    pub fn handshake(&self) -> &Handshake {
        &self.hs
    }

    /// What to wait for before the next [`step`](Self::step): `WRITABLE` while output is
    /// pending, else `READABLE`.
    pub fn interest(&self) -> Readiness {
        if self.hs.pending_output().is_empty() {
            Readiness::READABLE
        } else {
            Readiness::WRITABLE
        }
    }

    /// Makes as much progress as possible without blocking. `Ok(None)`: call again when
    /// the stream is ready. `Ok(Some(_))`: established (call no more). `Err`: the
    /// handshake failed, its stream is closed and its state dropped; later calls return
    /// the same error.
    pub fn step<T: Transport>(
        &mut self,
        client: &mut NetClient<T>,
        now_ns: u64,
        peers: &dyn PeerDirectory,
    ) -> Result<Option<Connection>, AuthError> {
        match self.try_step(client, now_ns, peers) {
            Ok(done) => Ok(done),
            Err(e) => {
                if !self.closed {
                    let rest = self.hs.pending_output();
                    if !rest.is_empty() {
                        let _ = client.tcp_write(self.stream, rest);
                    }
                    let e = self.hs.abort(e);
                    let _ = client.close(self.stream);
                    self.closed = true;
                    return Err(e);
                }
                Err(e)
            }
        }
    }

    fn try_step<T: Transport>(
        &mut self,
        client: &mut NetClient<T>,
        now_ns: u64,
        peers: &dyn PeerDirectory,
    ) -> Result<Option<Connection>, AuthError> {
        if self.closed {
            return Err(self.hs.error().unwrap_or(AuthError::WrongState));
        }
        self.hs.check_deadline(now_ns)?;
        loop {
            while !self.hs.pending_output().is_empty() {
                match client.tcp_write(self.stream, self.hs.pending_output()) {
                    Ok(n) => self.hs.consume_output(n),
                    Err(NetError::WouldBlock | NetError::NotConnected) => return Ok(None),
                    Err(e) => return Err(net_to_auth(e)),
                }
            }
            if let Some(session) = self.hs.take_session() {
                self.closed = true;
                return Ok(Some(Connection::new(self.stream, session)));
            }
            if let Some(e) = self.hs.error() {
                return Err(e);
            }
            match client.tcp_read(self.stream, self.hs.rx_space()) {
                Ok(0) => return Err(AuthError::Closed),
                Ok(n) => self.hs.rx_commit(n, peers)?,
                Err(NetError::WouldBlock | NetError::NotConnected) => return Ok(None),
                Err(e) => return Err(net_to_auth(e)),
            }
        }
    }

    /// Gives up: drops the handshake state and closes the stream (unless already closed).
    pub fn abort<T: Transport>(mut self, client: &mut NetClient<T>) {
        if !self.closed {
            self.hs.abort(AuthError::Closed);
            let _ = client.close(self.stream);
        }
    }
}

/// Seals `record` and writes it to the connection's stream, blocking until `deadline_ns`.
pub fn send_record<T: Transport>(
    client: &mut NetClient<T>,
    conn: &mut Connection,
    record: &Record<'_>,
    deadline_ns: u64,
) -> Result<(), SessionError> {
    let n = conn.session.seal(record, &mut conn.tx)?;
    client
        .tcp_write_all_by(conn.stream, &conn.tx[..n], deadline_ns)
        .map_err(SessionError::Net)
}

/// Reads until one complete record arrives and returns it, blocking until `deadline_ns`
/// (`SessionError::Net(TimedOut)` then; a partial record stays buffered). End of stream
/// before a complete record is [`SessionError::Closed`].
pub fn recv_record<'c, T: Transport>(
    client: &mut NetClient<T>,
    conn: &'c mut Connection,
    deadline_ns: u64,
) -> Result<Record<'c>, SessionError> {
    loop {
        if conn.session.record_ready() {
            return conn.session.open()?.ok_or(SessionError::Malformed);
        }
        let n = client
            .tcp_read_by(conn.stream, conn.session.rx_space(), deadline_ns)
            .map_err(SessionError::Net)?;
        if n == 0 {
            return Err(SessionError::Closed);
        }
        conn.session.rx_commit(n);
    }
}

/// Sends a CLOSE record (best effort) and closes the stream.
pub fn close_connection<T: Transport>(
    client: &mut NetClient<T>,
    mut conn: Connection,
    deadline_ns: u64,
) {
    let _ = send_record(client, &mut conn, &Record::Close, deadline_ns);
    let _ = client.close(conn.stream);
}

/// Encodes `announce` and sends it as one datagram to `to`.
pub fn send_announce<T: Transport>(
    client: &mut NetClient<T>,
    socket: UdpSocket,
    to: SocketAddrV4,
    announce: &Announce<'_>,
) -> Result<(), NetError> {
    let mut buf = [0u8; MAX_ANNOUNCE_LEN];
    let n = announce
        .encode(&mut buf)
        .map_err(|_| NetError::InvalidInput)?;
    client.udp_send_to(socket, to, &buf[..n])
}

/// Sends `announce` to the subnet broadcast address of our interface on `port`.
pub fn broadcast_announce<T: Transport>(
    client: &mut NetClient<T>,
    socket: UdpSocket,
    port: u16,
    announce: &Announce<'_>,
) -> Result<(), NetError> {
    let iface = client.local_addr()?;
    send_announce(
        client,
        socket,
        SocketAddrV4::new(iface.broadcast(), port),
        announce,
    )
}

/// What [`drain_announces`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainSummary {
    /// Datagrams read.
    pub received: usize,
    /// Datagrams the cache accepted (new, refreshed or updated).
    pub accepted: usize,
}

/// Reads up to [`MAX_DRAIN`] queued datagrams from `socket` without blocking and feeds
/// them to `cache` (the source address becomes the peer's address). Rejections are
/// counted in the cache's stats. Datagrams longer than [`MAX_ANNOUNCE_LEN`] are detected
/// (read with one spare byte) and counted as invalid input.
pub fn drain_announces<T: Transport>(
    client: &mut NetClient<T>,
    socket: UdpSocket,
    cache: &mut PeerCache,
    now_ns: u64,
) -> Result<DrainSummary, NetError> {
    let mut buf = [0u8; MAX_ANNOUNCE_LEN + 1];
    let mut summary = DrainSummary::default();
    for _ in 0..MAX_DRAIN {
        match client.udp_recv_from(socket, &mut buf) {
            Ok((n, from)) => {
                summary.received += 1;
                let datagram = buf.get(..n).unwrap_or(&[]);
                if cache.ingest(datagram, *from.ip(), now_ns).is_ok() {
                    summary.accepted += 1;
                }
            }
            Err(NetError::WouldBlock) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(summary)
}
