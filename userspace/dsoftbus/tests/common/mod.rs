//! Shared test helpers: deterministic keys, hex, and cooperative actors on the fake network.
//!
//! Design notes:
//! - `nexus_net::fake::SimNet` is single-threaded: a blocking facade call fast-forwards the
//!   virtual clock instead of letting another party run. To test the *blocking* driver
//!   against a live peer, the side under test uses a [`Hooked`] transport that runs every
//!   registered [`Actor`] (the peers) before each facade call. Actors only use the
//!   non-blocking API (`PendingSession::step`, non-blocking reads), like an event loop in
//!   another process would, so the whole scenario stays deterministic.
//! - Randomness is a fixed-seed SplitMix64 stream, so failures replay exactly.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use dsoftbus::driver::{send_record, Connection, PendingSession};
use dsoftbus::{
    Announce, AuthError, CacheConfig, LocalIdentity, PeerCache, PeerEntry, Record, SessionError,
    StaticKeypair,
};
use nexus_net::fake::{SimNet, SimTransport};
use nexus_net::{Ipv4Addr, NetClient, NetError, TcpListener, Transport};

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000_000_000;
pub const SESSION_PORT: u16 = 34567;

pub const GOLDEN_HEX: &str = concat!(
    "4e585342",
    "02",
    "00000001",
    "909c",
    "1111111111111111111111111111111111111111111111111111111111111111",
    "05",
    "6e6f646539",
    "02",
    "06",
    "73616d677264",
    "0a",
    "62756e646c656d677264",
    "07",
    "6b69746368656e",
);

pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2));
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deterministic byte source (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn key(&mut self) -> [u8; 32] {
        let mut k = [0u8; 32];
        for chunk in k.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        k
    }
}

/// A device identity with a static key derived from `seed` and display name `name` (its
/// device id is derived from the key).
pub fn identity(name: &str, seed: u64) -> LocalIdentity {
    let secret = Rng(seed).key();
    LocalIdentity::new(StaticKeypair::from_secret(secret))
        .with_name(name)
        .unwrap()
}

/// The device id of the identity `identity(_, seed)` would build.
pub fn id_of(seed: u64) -> String {
    identity("x", seed).device_id().to_string()
}

/// The cache entry another node would hold for `who` announcing from `addr`.
pub fn entry(who: &LocalIdentity, addr: Ipv4Addr, port: u16, now: u64) -> PeerEntry {
    let a = who.announce(1, port, &["samgrd"]).unwrap();
    PeerEntry::from_announce(&a, addr, now)
}

/// A cache that already holds `peers` (as if their announces had arrived at `now`).
pub fn cache_with(
    local: &LocalIdentity,
    peers: &[(&LocalIdentity, Ipv4Addr)],
    now: u64,
) -> PeerCache {
    let mut cache = PeerCache::new(CacheConfig::default()).with_local_device_id(local.device_id());
    for (who, addr) in peers {
        let a: Announce<'_> = who.announce(1, SESSION_PORT, &["samgrd"]).unwrap();
        cache.observe(&a, *addr, now).unwrap();
    }
    cache
}

/// What an actor did with a received record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Ping(u64),
    Pong(u64),
    Data(Vec<u8>),
    Close,
}

impl Seen {
    fn from(r: &Record<'_>) -> Self {
        match r {
            Record::Ping(t) => Seen::Ping(*t),
            Record::Pong(t) => Seen::Pong(*t),
            Record::Data(d) => Seen::Data(d.to_vec()),
            Record::Close => Seen::Close,
        }
    }
}

/// A peer running the non-blocking API: accepts (or connects), handshakes, then echoes.
pub struct Actor {
    pub sim: SimNet,
    pub client: NetClient<SimTransport>,
    pub local: LocalIdentity,
    pub cache: PeerCache,
    pub listener: Option<TcpListener>,
    pub pending: Option<PendingSession>,
    pub outcome: Option<Result<(), AuthError>>,
    pub conn: Option<Connection>,
    pub seen: Vec<Seen>,
    pub session_error: Option<SessionError>,
    pub eof: bool,
    pub ephemeral: [u8; 32],
    pub handshake_timeout: u64,
}

impl Actor {
    pub fn new(
        sim: &SimNet,
        client: NetClient<SimTransport>,
        local: LocalIdentity,
        cache: PeerCache,
    ) -> Self {
        let ephemeral = Rng(local.device_id().len() as u64 * 977).key();
        Actor {
            sim: sim.clone(),
            client,
            local,
            cache,
            listener: None,
            pending: None,
            outcome: None,
            conn: None,
            seen: Vec::new(),
            session_error: None,
            eof: false,
            ephemeral,
            handshake_timeout: 5 * SEC,
        }
    }

    /// Listens on `port` and will answer one incoming handshake.
    pub fn listen(&mut self, port: u16) {
        let (l, _) = self.client.tcp_listen(port, 4).unwrap();
        self.listener = Some(l);
    }

    /// Starts a non-blocking initiator towards `peer`.
    pub fn connect(&mut self, peer: &PeerEntry) {
        let deadline = self.sim.now() + self.handshake_timeout;
        let p = PendingSession::connect(
            &mut self.client,
            peer,
            &self.local,
            self.ephemeral,
            deadline,
        )
        .unwrap();
        self.pending = Some(p);
    }

    /// One round of progress; never blocks.
    pub fn pump(&mut self) {
        let now = self.sim.now();
        if self.outcome.is_none() {
            if self.pending.is_none() {
                let Some(l) = self.listener else { return };
                match self.client.tcp_accept(l) {
                    Ok((s, _)) => {
                        let deadline = now + self.handshake_timeout;
                        self.pending = Some(PendingSession::accepted(
                            s,
                            &self.local,
                            self.ephemeral,
                            deadline,
                        ));
                    }
                    Err(NetError::WouldBlock) => return,
                    Err(e) => panic!("accept: {e:?}"),
                }
            }
            let p = self.pending.as_mut().unwrap();
            match p.step(&mut self.client, now, &self.cache.at(now)) {
                Ok(None) => return,
                Ok(Some(conn)) => {
                    self.conn = Some(conn);
                    self.outcome = Some(Ok(()));
                }
                Err(e) => {
                    self.outcome = Some(Err(e));
                    return;
                }
            }
        }
        self.serve();
    }

    /// Echo service: PING -> PONG, DATA -> the same DATA back; records are logged.
    fn serve(&mut self) {
        if self.session_error.is_some() || self.eof {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        loop {
            while conn.session().record_ready() {
                let seen = match conn.session_mut().open() {
                    Ok(Some(r)) => Seen::from(&r),
                    Ok(None) => break,
                    Err(e) => {
                        self.session_error = Some(e);
                        return;
                    }
                };
                let deadline = self.sim.now() + SEC;
                match &seen {
                    Seen::Ping(t) => {
                        send_record(&mut self.client, conn, &Record::Pong(*t), deadline).unwrap()
                    }
                    Seen::Data(d) => {
                        send_record(&mut self.client, conn, &Record::Data(d), deadline).unwrap()
                    }
                    _ => {}
                }
                self.seen.push(seen);
            }
            let stream = conn.stream();
            match self.client.tcp_read(stream, conn.session_mut().rx_space()) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => conn.session_mut().rx_commit(n),
                Err(NetError::WouldBlock) => return,
                Err(e) => panic!("actor read: {e:?}"),
            }
        }
    }
}

pub type Shared = Rc<RefCell<Actor>>;

/// Transport that lets every actor run before each facade call of the side under test.
pub struct Hooked<T> {
    pub inner: T,
    pub actors: Vec<Shared>,
}

impl<T: Transport> Transport for Hooked<T> {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        for a in &self.actors {
            if let Ok(mut a) = a.try_borrow_mut() {
                a.pump();
            }
        }
        self.inner.call(request, reply)
    }
}

pub fn hooked(
    sim: &SimNet,
    node: nexus_net::fake::NodeId,
    client_id: u64,
    actors: &[Shared],
) -> NetClient<Hooked<SimTransport>> {
    NetClient::new(Hooked {
        inner: sim.transport(node, client_id),
        actors: actors.to_vec(),
    })
}

pub fn shared(a: Actor) -> Shared {
    Rc::new(RefCell::new(a))
}
pub mod world;
