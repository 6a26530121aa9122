//! The `bus` interface (declared in `nexus-interfaces/idl/bus.toml`) served on top of
//! the daemon's local stream API. Host-testable: no IPC here, requests and replies are
//! byte strings and time is an argument.
//!
//! Design notes
//! ------------
//! * Handles belong to the caller's badge: at most [`MAX_HANDLES_PER_CLIENT`] per
//!   client and [`MAX_CLIENTS`] clients with handles, subscriptions or services; a
//!   client-gone notice resets its streams, withdraws its services and drops its
//!   subscription.
//! * Which badge may publish which name is a list of rules (from the boot profile).
//! * A remote open of a published service is accepted at once into a backlog of
//!   [`MAX_BACKLOG`] (like a listen queue; beyond it the open is refused with "too many
//!   streams"); `accept` takes the oldest. Bytes the opener sends meanwhile wait within
//!   the stream's window.
//! * Calls that would wait (open until answered, accept, send without room, recv
//!   without data, next event) are tried without blocking; [`BusService::serve`] then
//!   answers [`Served::Park`] with the call's absolute deadline, and the caller retries
//!   the same request after the daemon made progress (or at the deadline, when the
//!   call answers `TimedOut`). Retrying an `open` finds the stream it already opened.
//! * Events the service does not own (streams of other users of the daemon) are
//!   handed back from [`BusService::on_event`].
//! * Trust: `trusted` is open to every client; `show_pin`, `pair`, `grant` and `untrust`
//!   need the profile's `manage` right (a badge in [`BusService::with_manage`]), else
//!   `Denied`. A `pair` call parks until the daemon reports the outcome. Devices whose
//!   trust entry changed are queued for the caller to persist
//!   ([`BusService::take_trust_changes`]).

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use dsoftbus::daemon::{BusError, BusEvent, Daemon, Platform, StreamRef};
use dsoftbus::mux::{self, RefuseReason, ResetReason};
use dsoftbus::pairing::PairError;
use dsoftbus::trust::TrustError;
use nexus_idl::heapless;
use nexus_interfaces::bus::{
    self, BusStats, Error, Incoming, Mode, Peer, PeerEvent, Priority, Request, Session,
    TrustOrigin, Trusted,
};
use nexus_net::Transport;

/// Stream handles one client may hold.
pub const MAX_HANDLES_PER_CLIENT: usize = 16;
/// Clients with handles, subscriptions or services.
pub const MAX_CLIENTS: usize = 16;
/// Peer events queued per subscriber before `Lost`.
pub const MAX_PEER_EVENTS: usize = 32;
/// Remote opens queued per published service before they are refused.
pub const MAX_BACKLOG: usize = 8;
/// `pair` calls in progress (all clients).
pub const MAX_PAIR_CALLS: usize = 4;
/// Devices whose trust changed and that were not persisted yet.
pub const MAX_TRUST_CHANGES: usize = 64;

/// A `pair` call waiting for the daemon's outcome.
struct PairCall {
    caller: u64,
    peer: String,
    result: Option<Result<(), Error>>,
}

fn pair_error(e: PairError) -> Error {
    match e {
        PairError::WrongPin => Error::WrongPin,
        PairError::NotPairing => Error::NotPairing,
        PairError::RateLimited => Error::RateLimited,
        PairError::BadPin => Error::BadMessage,
        PairError::Protocol => Error::Refused,
        PairError::Gone => Error::PeerGone,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Opening,
    Open,
    Refused(Error),
    Dead(Error),
}

/// A stream between two applications of this device: no session, no daemon frames;
/// each handle holds what the other end sent, bounded by [`LOCAL_WINDOW`].
struct Local {
    other: u32,
    rx: VecDeque<u8>,
    msgs: VecDeque<usize>,
    mode: mux::Mode,
    peer_closed: bool,
}

/// Bytes one end of a local stream buffers for its reader.
pub const LOCAL_WINDOW: usize = 64 * 1024;

/// Session number that marks a local stream (the daemon's sessions start at 1).
const LOCAL_SESSION: u64 = 0;

struct Handle {
    id: u32,
    owner: u64,
    stream: StreamRef,
    local: Option<Local>,
    state: State,
    /// (peer, service) while the `open` call that created it has not returned it.
    pending: Option<(String, String)>,
    eof: bool,
    closed: bool,
}

struct Published {
    service: String,
    owner: u64,
    backlog: VecDeque<(StreamRef, String, mux::Mode)>,
}

struct Sub {
    client: u64,
    events: VecDeque<PeerEvent>,
    lost: bool,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Send the first `n` bytes of the output buffer as the reply.
    Reply(usize),
    /// Keep the request; retry it after progress, at the latest at this deadline.
    Park(u64),
}

/// The bus interface's state.
pub struct BusService {
    rules: Vec<(u64, String)>,
    handles: Vec<Handle>,
    next_id: u32,
    published: Vec<Published>,
    subs: Vec<Sub>,
    would_block: bool,
    manage: Vec<u64>,
    pairs: Vec<PairCall>,
    trust_changes: Vec<String>,
    /// A `stats` call was served (see [`BusService::take_stats_asked`]).
    stats_asked: bool,
}

fn hstr(s: &str) -> heapless::String<64> {
    let mut h = heapless::String::new();
    for c in s.chars() {
        if h.push(c).is_err() {
            break;
        }
    }
    h
}

fn to_mux(m: Mode) -> mux::Mode {
    match m {
        Mode::Message => mux::Mode::Message,
        Mode::Bytes => mux::Mode::Bytes,
    }
}

fn from_mux(m: mux::Mode) -> Mode {
    match m {
        mux::Mode::Message => Mode::Message,
        mux::Mode::Bytes => Mode::Bytes,
    }
}

fn bus_error(e: BusError) -> Error {
    match e {
        BusError::UnknownPeer | BusError::NotConnected => Error::UnknownPeer,
        BusError::PeerGone => Error::PeerGone,
        BusError::UnknownStream => Error::Reset,
        BusError::WouldBlock => Error::TimedOut,
        BusError::BadMessage | BusError::BadName => Error::BadMessage,
        BusError::BufferTooSmall => Error::TooLarge,
        BusError::WrongState => Error::Closed,
        BusError::TooManyStreams => Error::NoResources,
    }
}

fn trust_error(e: TrustError) -> Error {
    match e {
        TrustError::Unknown => Error::Untrusted,
        TrustError::Full => Error::NoResources,
        _ => Error::BadMessage,
    }
}

fn deadline_of(req: &[u8]) -> u64 {
    match Request::decode(req) {
        Ok(Request::NextPeerEvent { deadline_ns })
        | Ok(Request::Open { deadline_ns, .. })
        | Ok(Request::Accept { deadline_ns, .. })
        | Ok(Request::Send { deadline_ns, .. })
        | Ok(Request::Recv { deadline_ns, .. })
        | Ok(Request::Pair { deadline_ns, .. }) => deadline_ns,
        _ => 0,
    }
}

impl BusService {
    /// A service where `rules` lists which badge may publish which name.
    pub fn new(rules: &[(u64, &str)]) -> Self {
        BusService {
            rules: rules.iter().map(|(b, s)| (*b, String::from(*s))).collect(),
            handles: Vec::new(),
            next_id: 1,
            published: Vec::new(),
            subs: Vec::new(),
            would_block: false,
            manage: Vec::new(),
            pairs: Vec::new(),
            trust_changes: Vec::new(),
            stats_asked: false,
        }
    }

    /// Gives the badges in `badges` the `manage` right (show_pin, pair, grant, untrust).
    pub fn with_manage(mut self, badges: &[u64]) -> Self {
        self.manage = badges.to_vec();
        self
    }

    /// Whether a `stats` call was served since the last call (dsoftbusd then logs its
    /// loop figures).
    pub fn take_stats_asked(&mut self) -> bool {
        core::mem::take(&mut self.stats_asked)
    }

    /// Devices whose trust entry changed since the last call (persist each:
    /// `crate::trust::save`).
    pub fn take_trust_changes(&mut self) -> Vec<String> {
        core::mem::take(&mut self.trust_changes)
    }

    /// Names some client may publish (the remote policy should allow them).
    pub fn publishable(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|(_, s)| s.as_str())
    }

    /// True while some client holds a handle, a service or a subscription.
    pub fn active(&self) -> bool {
        !self.handles.is_empty() || !self.published.is_empty() || !self.subs.is_empty()
    }

    /// Handles held by `client`.
    pub fn handles_of(&self, client: u64) -> usize {
        self.handles.iter().filter(|h| h.owner == client).count()
    }

    fn clients(&self) -> usize {
        let mut ids: Vec<u64> = self.handles.iter().map(|h| h.owner).collect();
        ids.extend(self.published.iter().map(|p| p.owner));
        ids.extend(self.subs.iter().map(|s| s.client));
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    fn known_client(&self, c: u64) -> bool {
        self.handles.iter().any(|h| h.owner == c)
            || self.published.iter().any(|p| p.owner == c)
            || self.subs.iter().any(|s| s.client == c)
    }

    fn new_handle(&mut self, owner: u64, stream: StreamRef, state: State) -> Result<u32, Error> {
        if self.handles_of(owner) >= MAX_HANDLES_PER_CLIENT
            || (!self.known_client(owner) && self.clients() >= MAX_CLIENTS)
        {
            return Err(Error::NoResources);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.handles.push(Handle {
            id,
            owner,
            stream,
            state,
            local: None,
            pending: None,
            eof: false,
            closed: false,
        });
        Ok(id)
    }

    fn peer_event(&mut self, ev: PeerEvent) {
        for s in self.subs.iter_mut() {
            if s.events.len() >= MAX_PEER_EVENTS {
                s.lost = true;
            } else {
                s.events.push_back(ev.clone());
            }
        }
    }

    fn peer_info<T: Transport, P: Platform>(d: &Daemon<T, P>, id: &str, now: u64) -> Peer {
        let online = d.connected().any(|p| p == id);
        let mut peer = Peer {
            device_id: hstr(id),
            display_name: hstr(id),
            addr: [0; 4],
            online,
            services: nexus_idl::List(heapless::Vec::new()),
        };
        if let Some(e) = d.cache().get(id, now) {
            peer.addr = e.addr().octets();
            if !e.display_name().is_empty() {
                peer.display_name = hstr(e.display_name());
            }
            for s in e.services() {
                let _ = peer.services.0.push(hstr(s));
            }
        }
        peer
    }

    /// Routes one daemon event; returns it if it is not ours.
    pub fn on_event<T: Transport, P: Platform>(
        &mut self,
        d: &mut Daemon<T, P>,
        ev: BusEvent,
        now: u64,
    ) -> Option<BusEvent> {
        let mine = |h: &Handle, s: StreamRef| h.stream == s;
        match ev {
            BusEvent::PeerOnline(ref p) => {
                let info = Self::peer_info(d, p, now);
                self.peer_event(PeerEvent::Online { peer: info });
                Some(ev)
            }
            BusEvent::PeerOffline(ref p) => {
                self.peer_event(PeerEvent::Offline { device_id: hstr(p) });
                Some(ev)
            }
            BusEvent::PeerServicesChanged(ref p) => {
                let info = Self::peer_info(d, p, now);
                self.peer_event(PeerEvent::ServicesChanged { peer: info });
                Some(ev)
            }
            BusEvent::Incoming {
                stream,
                ref peer,
                ref service,
                mode,
                ..
            } => {
                let Some(p) = self.published.iter_mut().find(|p| p.service == *service) else {
                    return Some(ev);
                };
                // Accepted at once into the backlog (like a listen queue): the opener
                // may send within its window before the application takes it.
                if p.backlog.len() >= MAX_BACKLOG {
                    let _ = d.refuse(stream, RefuseReason::TooManyStreams);
                } else if d.accept(stream).is_ok() {
                    p.backlog.push_back((stream, peer.clone(), mode));
                }
                None
            }
            BusEvent::Accepted(s) => match self.handles.iter_mut().find(|h| mine(h, s)) {
                Some(h) => {
                    h.state = State::Open;
                    None
                }
                None => Some(ev),
            },
            BusEvent::Refused(s, why) => match self.handles.iter_mut().find(|h| mine(h, s)) {
                Some(h) => {
                    h.state = State::Refused(match why {
                        RefuseReason::NotPublished | RefuseReason::BadMode => Error::NotPublished,
                        RefuseReason::Denied => Error::Refused,
                        RefuseReason::TooManyStreams => Error::NoResources,
                    });
                    None
                }
                None => Some(ev),
            },
            BusEvent::Reset(s, _) | BusEvent::PeerGone(s) => {
                let e = if matches!(ev, BusEvent::Reset(..)) {
                    Error::Reset
                } else {
                    Error::PeerGone
                };
                for p in self.published.iter_mut() {
                    p.backlog.retain(|(x, _, _)| *x != s);
                }
                match self.handles.iter_mut().find(|h| mine(h, s)) {
                    Some(h) => {
                        h.state = State::Dead(e);
                        None
                    }
                    None => Some(ev),
                }
            }
            BusEvent::Readable(s) | BusEvent::Writable(s) | BusEvent::Finished(s) => {
                if self.handles.iter().any(|h| mine(h, s)) {
                    None
                } else {
                    Some(ev)
                }
            }
            BusEvent::TrustChanged(ref id) => {
                if !self.trust_changes.contains(id) && self.trust_changes.len() < MAX_TRUST_CHANGES
                {
                    self.trust_changes.push(id.clone());
                }
                Some(ev)
            }
            BusEvent::PairDone { ref peer, result } => {
                match self
                    .pairs
                    .iter_mut()
                    .find(|c| c.peer == *peer && c.result.is_none())
                {
                    Some(c) => {
                        c.result = Some(result.map_err(pair_error));
                        None
                    }
                    None => Some(ev),
                }
            }
        }
    }

    /// init says `client` is gone: reset its streams, withdraw its services.
    pub fn client_gone<T: Transport, P: Platform>(&mut self, d: &mut Daemon<T, P>, client: u64) {
        let mut others = Vec::new();
        for h in self.handles.iter().filter(|h| h.owner == client) {
            match &h.local {
                Some(l) => others.push(l.other),
                None => {
                    let _ = d.reset(h.stream, ResetReason::Gone);
                }
            }
        }
        self.handles.retain(|h| h.owner != client);
        for o in others {
            self.local_gone(o);
        }
        let mut i = 0;
        while i < self.published.len() {
            if self.published[i].owner == client {
                let p = self.published.swap_remove(i);
                for (s, _, _) in p.backlog {
                    let _ = d.reset(s, ResetReason::Gone);
                }
                d.unpublish(&p.service);
            } else {
                i += 1;
            }
        }
        self.subs.retain(|s| s.client != client);
        self.pairs.retain(|c| c.caller != client);
    }

    /// The other end of local stream `id` went away: its reader sees `Reset`.
    fn local_gone(&mut self, id: u32) {
        if let Some(h) = self.handles.iter_mut().find(|h| h.id == id) {
            h.state = State::Dead(Error::Reset);
        }
        for p in self.published.iter_mut() {
            p.backlog
                .retain(|(s, _, _)| !(s.session == LOCAL_SESSION && s.id == id));
        }
    }

    /// Serves one request from `caller` at `now`.
    pub fn serve<T: Transport, P: Platform>(
        &mut self,
        d: &mut Daemon<T, P>,
        caller: u64,
        req: &[u8],
        out: &mut [u8],
        now: u64,
    ) -> Served {
        self.would_block = false;
        let deadline = deadline_of(req);
        let n = bus::dispatch(&mut Ctx { svc: self, d, now }, caller, req, out);
        if self.would_block && deadline > now {
            Served::Park(deadline)
        } else {
            Served::Reply(n)
        }
    }
}

struct Ctx<'a, T: Transport, P: Platform> {
    svc: &'a mut BusService,
    d: &'a mut Daemon<T, P>,
    now: u64,
}

impl<T: Transport, P: Platform> Ctx<'_, T, P> {
    fn may_manage(&self, caller: u64) -> Result<(), Error> {
        if self.svc.manage.contains(&caller) {
            Ok(())
        } else {
            Err(Error::Denied)
        }
    }

    fn wait(&mut self) -> Error {
        self.svc.would_block = true;
        Error::TimedOut
    }

    fn handle(&mut self, caller: u64, id: u32) -> Result<usize, Error> {
        self.svc
            .handles
            .iter()
            .position(|h| h.id == id && h.owner == caller)
            .ok_or(Error::UnknownHandle)
    }
}

impl<T: Transport, P: Platform> bus::Server for Ctx<'_, T, P> {
    fn peers(&mut self, _caller: u64, after: &str) -> Result<nexus_idl::List<Peer, 4>, Error> {
        let mut ids: Vec<String> = self
            .d
            .cache()
            .live(self.now)
            .map(|e| String::from(e.device_id()))
            .filter(|id| id.as_str() > after)
            .collect();
        ids.sort();
        let mut list = nexus_idl::List(heapless::Vec::new());
        for id in ids.iter().take(4) {
            let _ = list.0.push(BusService::peer_info(self.d, id, self.now));
        }
        Ok(list)
    }

    fn next_peer_event(&mut self, caller: u64, _deadline_ns: u64) -> Result<PeerEvent, Error> {
        if !self.svc.subs.iter().any(|s| s.client == caller) {
            if !self.svc.known_client(caller) && self.svc.clients() >= MAX_CLIENTS {
                return Err(Error::NoResources);
            }
            self.svc.subs.push(Sub {
                client: caller,
                events: VecDeque::new(),
                lost: false,
            });
        }
        let Some(s) = self.svc.subs.iter_mut().find(|s| s.client == caller) else {
            return Err(Error::NoResources);
        };
        if s.lost {
            s.lost = false;
            s.events.clear();
            return Ok(PeerEvent::Lost);
        }
        match s.events.pop_front() {
            Some(e) => Ok(e),
            None => Err(self.wait()),
        }
    }

    fn publish(&mut self, caller: u64, service: &str) -> Result<(), Error> {
        if !self
            .svc
            .rules
            .iter()
            .any(|(b, s)| *b == caller && s == service)
        {
            return Err(Error::Denied);
        }
        if let Some(p) = self.svc.published.iter().find(|p| p.service == service) {
            return if p.owner == caller {
                Ok(())
            } else {
                Err(Error::Denied)
            };
        }
        if !self.svc.known_client(caller) && self.svc.clients() >= MAX_CLIENTS {
            return Err(Error::NoResources);
        }
        self.d.publish(service).map_err(bus_error)?;
        self.svc.published.push(Published {
            service: String::from(service),
            owner: caller,
            backlog: VecDeque::new(),
        });
        Ok(())
    }

    fn unpublish(&mut self, caller: u64, service: &str) -> Result<(), Error> {
        let i = self
            .svc
            .published
            .iter()
            .position(|p| p.service == service && p.owner == caller)
            .ok_or(Error::NotPublishedHere)?;
        let p = self.svc.published.swap_remove(i);
        for (s, _, _) in p.backlog {
            let _ = self.d.reset(s, ResetReason::Gone);
        }
        self.d.unpublish(service);
        Ok(())
    }

    fn open(
        &mut self,
        caller: u64,
        peer: &str,
        service: &str,
        mode: Mode,
        priority: Priority,
        deadline_ns: u64,
    ) -> Result<u32, Error> {
        // A retry of a parked open finds its stream.
        let pending = self.svc.handles.iter().position(|h| {
            h.owner == caller
                && h.pending
                    .as_ref()
                    .is_some_and(|(p, s)| p == peer && s == service)
        });
        let local = peer.is_empty() || peer == self.d.identity().device_id();
        let pending = match pending {
            Some(i) => i,
            None if local => {
                // A service of an application on this device: queue the opener's end
                // in the service's backlog; `accept` connects the other end.
                let owner_has = self.svc.published.iter().any(|p| p.service == service);
                if !owner_has {
                    return Err(Error::NotPublished);
                }
                if self.svc.handles_of(caller) >= MAX_HANDLES_PER_CLIENT {
                    return Err(Error::NoResources);
                }
                let id = self.svc.next_id;
                let s = StreamRef {
                    session: LOCAL_SESSION,
                    id,
                };
                self.svc.new_handle(caller, s, State::Opening)?;
                let me = String::from(self.d.identity().device_id());
                let Some(p) = self.svc.published.iter_mut().find(|p| p.service == service) else {
                    return Err(Error::NotPublished);
                };
                if p.backlog.len() >= MAX_BACKLOG {
                    self.svc.handles.pop();
                    return Err(Error::NoResources);
                }
                let m = to_mux(mode);
                p.backlog.push_back((s, me, m));
                let i = self.svc.handles.len() - 1;
                self.svc.handles[i].local = Some(Local {
                    other: 0,
                    rx: VecDeque::new(),
                    msgs: VecDeque::new(),
                    mode: m,
                    peer_closed: false,
                });
                self.svc.handles[i].pending = Some((String::from(peer), String::from(service)));
                i
            }
            None => {
                let prio = match priority {
                    Priority::Interactive => mux::Priority::Interactive,
                    Priority::Bulk => mux::Priority::Bulk,
                };
                if self.svc.handles_of(caller) >= MAX_HANDLES_PER_CLIENT {
                    return Err(Error::NoResources);
                }
                let s = self
                    .d
                    .open(peer, service, to_mux(mode), prio)
                    .map_err(bus_error)?;
                if let Err(e) = self.svc.new_handle(caller, s, State::Opening) {
                    let _ = self.d.reset(s, ResetReason::Cancelled);
                    return Err(e);
                }
                let i = self.svc.handles.len() - 1;
                self.svc.handles[i].pending = Some((String::from(peer), String::from(service)));
                i
            }
        };
        let h = &mut self.svc.handles[pending];
        match h.state.clone() {
            State::Open => {
                h.pending = None;
                Ok(h.id)
            }
            State::Refused(e) | State::Dead(e) => {
                self.svc.handles.swap_remove(pending);
                Err(e)
            }
            State::Opening if self.now >= deadline_ns => {
                let h = self.svc.handles.swap_remove(pending);
                if h.local.is_some() {
                    self.svc.local_gone(h.id);
                } else {
                    let _ = self.d.reset(h.stream, ResetReason::Cancelled);
                }
                Err(Error::TimedOut)
            }
            State::Opening => Err(self.wait()),
        }
    }

    fn accept(&mut self, caller: u64, service: &str, _deadline_ns: u64) -> Result<Incoming, Error> {
        let p = self
            .svc
            .published
            .iter_mut()
            .find(|p| p.service == service && p.owner == caller)
            .ok_or(Error::NotPublishedHere)?;
        let Some((s, peer, mode)) = p.backlog.pop_front() else {
            return Err(self.wait());
        };
        if s.session == LOCAL_SESSION {
            let opener = s.id;
            let id = self.svc.next_id;
            let mine = StreamRef {
                session: LOCAL_SESSION,
                id,
            };
            if let Err(e) = self.svc.new_handle(caller, mine, State::Open) {
                self.svc.local_gone(opener);
                return Err(e);
            }
            let i = self.svc.handles.len() - 1;
            self.svc.handles[i].local = Some(Local {
                other: opener,
                rx: VecDeque::new(),
                msgs: VecDeque::new(),
                mode,
                peer_closed: false,
            });
            match self.svc.handles.iter_mut().find(|h| h.id == opener) {
                Some(o) => {
                    o.state = State::Open;
                    if let Some(l) = o.local.as_mut() {
                        l.other = id;
                    }
                }
                None => self.svc.handles[i].state = State::Dead(Error::Reset),
            }
            return Ok(Incoming {
                handle: id,
                peer: hstr(&peer),
                mode: from_mux(mode),
            });
        }
        if self.svc.handles_of(caller) >= MAX_HANDLES_PER_CLIENT {
            let _ = self.d.reset(s, ResetReason::Cancelled);
            return Err(Error::NoResources);
        }
        let handle = self.svc.new_handle(caller, s, State::Open)?;
        Ok(Incoming {
            handle,
            peer: hstr(&peer),
            mode: from_mux(mode),
        })
    }

    fn send(
        &mut self,
        caller: u64,
        handle: u32,
        data: &[u8],
        _deadline_ns: u64,
    ) -> Result<u32, Error> {
        let i = self.handle(caller, handle)?;
        let h = &self.svc.handles[i];
        match h.state.clone() {
            State::Open => {}
            State::Opening => return Err(self.wait()),
            State::Refused(e) | State::Dead(e) => return Err(e),
        }
        if h.closed {
            return Err(Error::Closed);
        }
        if let Some(l) = &h.local {
            let (other, mode) = (l.other, l.mode);
            let Some(o) = self.svc.handles.iter_mut().find(|x| x.id == other) else {
                return Err(Error::Reset);
            };
            let Some(ol) = o.local.as_mut() else {
                return Err(Error::Reset);
            };
            let room = LOCAL_WINDOW.saturating_sub(ol.rx.len());
            let n = match mode {
                mux::Mode::Message if data.is_empty() => return Err(Error::BadMessage),
                mux::Mode::Message if data.len() > room => return Err(self.wait()),
                mux::Mode::Message => {
                    ol.msgs.push_back(data.len());
                    data.len()
                }
                mux::Mode::Bytes if data.is_empty() => 0,
                mux::Mode::Bytes if room == 0 => return Err(self.wait()),
                mux::Mode::Bytes => data.len().min(room),
            };
            ol.rx.extend(&data[..n]);
            return Ok(n as u32);
        }
        match self.d.send(h.stream, data) {
            Ok(n) => Ok(n as u32),
            Err(BusError::WouldBlock) => Err(self.wait()),
            Err(e) => Err(bus_error(e)),
        }
    }

    fn recv(
        &mut self,
        caller: u64,
        handle: u32,
        max: u16,
        _deadline_ns: u64,
    ) -> Result<heapless::Vec<u8, 8000>, Error> {
        let i = self.handle(caller, handle)?;
        let h = &self.svc.handles[i];
        match h.state.clone() {
            State::Open => {}
            State::Opening => return Err(self.wait()),
            State::Refused(e) | State::Dead(e) => return Err(e),
        }
        if h.eof {
            return Ok(heapless::Vec::new());
        }
        let mut buf = [0u8; 8000];
        let n = usize::from(max).clamp(1, buf.len());
        if self.svc.handles[i].local.is_some() {
            let h = &mut self.svc.handles[i];
            let Some(l) = h.local.as_mut() else {
                return Err(Error::Reset);
            };
            let take = match l.mode {
                mux::Mode::Message => match l.msgs.front() {
                    Some(&m) if m > n => return Err(Error::TooLarge),
                    Some(&m) => {
                        l.msgs.pop_front();
                        m
                    }
                    None => 0,
                },
                mux::Mode::Bytes => l.rx.len().min(n),
            };
            if take == 0 {
                if l.peer_closed {
                    h.eof = true;
                    if h.closed {
                        self.svc.handles.swap_remove(i);
                    }
                    return Ok(heapless::Vec::new());
                }
                return Err(self.wait());
            }
            let mut v = heapless::Vec::new();
            for b in l.rx.drain(..take) {
                let _ = v.push(b);
            }
            return Ok(v);
        }
        match self.d.recv(h.stream, &mut buf[..n]) {
            Ok(0) => {
                let h = &mut self.svc.handles[i];
                h.eof = true;
                if h.closed {
                    self.svc.handles.swap_remove(i);
                }
                Ok(heapless::Vec::new())
            }
            Ok(k) => heapless::Vec::from_slice(&buf[..k]).map_err(|_| Error::TooLarge),
            Err(BusError::WouldBlock) => Err(self.wait()),
            Err(e) => Err(bus_error(e)),
        }
    }

    fn close(&mut self, caller: u64, handle: u32) -> Result<(), Error> {
        let i = self.handle(caller, handle)?;
        let h = &mut self.svc.handles[i];
        if let State::Refused(e) | State::Dead(e) = h.state {
            self.svc.handles.swap_remove(i);
            return Err(e);
        }
        h.closed = true;
        let (eof, other) = (h.eof, h.local.as_ref().map(|l| l.other));
        match other {
            Some(o) => {
                if let Some(l) = self
                    .svc
                    .handles
                    .iter_mut()
                    .find(|x| x.id == o)
                    .and_then(|x| x.local.as_mut())
                {
                    l.peer_closed = true;
                }
            }
            None => {
                let _ = self.d.close(self.svc.handles[i].stream);
            }
        }
        if eof {
            self.svc.handles.swap_remove(i);
        }
        Ok(())
    }

    fn stats(&mut self, _caller: u64) -> Result<BusStats, Error> {
        self.svc.stats_asked = true;
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(BusStats {
            sessions: c(self.d.sessions()),
            buffered: c(self.d.buffered()),
            bound: c(self.d.max_buffered()),
        })
    }

    fn sessions(
        &mut self,
        _caller: u64,
        after: &str,
    ) -> Result<nexus_idl::List<Session, 4>, Error> {
        let mut all: Vec<_> = self
            .d
            .session_info()
            .filter(|s| after.is_empty() || s.peer.as_str() > after)
            .collect();
        all.sort_by(|a, b| a.peer.cmp(&b.peer));
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        let mut list = nexus_idl::List(heapless::Vec::new());
        for s in all.into_iter().take(4) {
            let _ = list.0.push(Session {
                peer: hstr(&s.peer),
                addr: s.addr.octets(),
                up_ms: self.now.saturating_sub(s.up_ns) / 1_000_000,
                initiated: s.initiated,
                streams: c(s.streams),
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                buffered: c(s.buffered),
            });
        }
        Ok(list)
    }

    fn show_pin(&mut self, caller: u64, valid_ms: u32) -> Result<u32, Error> {
        self.may_manage(caller)?;
        if valid_ms == 0 || valid_ms > 300_000 {
            return Err(Error::BadMessage);
        }
        self.d
            .show_pin(u64::from(valid_ms) * 1_000_000)
            .ok_or(Error::NoResources)
    }

    fn pair(&mut self, caller: u64, peer: &str, pin: u32, deadline_ns: u64) -> Result<(), Error> {
        self.may_manage(caller)?;
        if let Some(k) = self
            .svc
            .pairs
            .iter()
            .position(|c| c.caller == caller && c.peer == peer)
        {
            // A retry of a parked call: answer once the daemon reported the outcome.
            if let Some(r) = self.svc.pairs[k].result {
                self.svc.pairs.swap_remove(k);
                return r;
            }
            if deadline_ns <= self.now {
                self.svc.pairs.swap_remove(k);
                return Err(Error::TimedOut);
            }
            return Err(self.wait());
        }
        if self.svc.pairs.len() >= MAX_PAIR_CALLS {
            return Err(Error::NoResources);
        }
        if pin > dsoftbus::pairing::MAX_PIN {
            return Err(Error::BadMessage);
        }
        self.d.pair(peer, pin).map_err(|e| match e {
            BusError::WrongState => Error::RateLimited,
            BusError::WouldBlock => Error::NoResources,
            e => bus_error(e),
        })?;
        self.svc.pairs.push(PairCall {
            caller,
            peer: String::from(peer),
            result: None,
        });
        Err(self.wait())
    }

    fn trusted(&mut self, _caller: u64, after: &str) -> Result<nexus_idl::List<Trusted, 4>, Error> {
        let mut list = nexus_idl::List(heapless::Vec::new());
        for e in self.d.trust().page(after, 4) {
            let mut services = nexus_idl::List(heapless::Vec::new());
            for s in e.services() {
                let _ = services.0.push(hstr(s));
            }
            let _ = list.0.push(Trusted {
                device_id: hstr(e.device_id()),
                name: hstr(e.name()),
                services,
                origin: match e.origin() {
                    dsoftbus::TrustOrigin::Paired => TrustOrigin::Paired,
                    dsoftbus::TrustOrigin::Provisioned => TrustOrigin::Provisioned,
                },
                added_boot: e.added_boot(),
                added_ms: e.added_ms(),
            });
        }
        Ok(list)
    }

    fn grant(
        &mut self,
        caller: u64,
        peer: &str,
        services: nexus_idl::List<heapless::String<64>, 8>,
    ) -> Result<(), Error> {
        self.may_manage(caller)?;
        let names: Vec<&str> = services.0.iter().map(|s| s.as_str()).collect();
        self.d.grant(peer, &names).map_err(trust_error)
    }

    fn untrust(&mut self, caller: u64, peer: &str) -> Result<(), Error> {
        self.may_manage(caller)?;
        if self.d.untrust(peer) {
            Ok(())
        } else {
            Err(Error::Untrusted)
        }
    }

    fn reset(&mut self, caller: u64, handle: u32) -> Result<(), Error> {
        let i = self.handle(caller, handle)?;
        let h = self.svc.handles.swap_remove(i);
        match h.local {
            Some(l) => self.svc.local_gone(l.other),
            None => {
                let _ = self.d.reset(h.stream, ResetReason::Cancelled);
            }
        }
        Ok(())
    }
}
