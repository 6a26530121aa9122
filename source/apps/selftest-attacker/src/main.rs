//! selftest-attacker: the hostile third node of `just os2vm-attack` (VM C).
//!
//! It sits on the same L2 segment as node-a (`target`) and node-b (`victim`), runs no
//! dsoftbusd, and speaks DSoftBus itself with the dsoftbus crate's real codecs over
//! netstackd's sockets facade. Every key it uses is fresh from rngd (its own identities
//! are validly derived ids; the lies are ids it does not hold the key of). In order:
//!
//! 1. **listen** on the discovery port until it heard both nodes' announces (node-b's
//!    datagram is kept byte for byte for the replay);
//! 2. **takeover**: announces node-b's id with its own key, then authenticates to
//!    node-a with that key claiming node-b's id. Only when node-a refused it (REJECT,
//!    or the session closed before a CONFIRM) does it print
//!    `SELFTEST: takeover refused ok`;
//! 3. **flood**: fresh ids from fresh keys announced to node-a within the per-source
//!    budget, then far beyond it, plus ids that do not derive from their key and
//!    datagrams that do not decode;
//! 4. **replay**: node-b's captured announce re-sent from this address with
//!    `seq = u32::MAX` (and as captured), 10 per second for 6 s;
//! 5. **hold**: authenticated sessions under as many of its own ids as node-a takes,
//!    plus half-open handshakes (a frame header and part of message 1, then silence),
//!    all held for 8 s while the sessions are kept alive with pings;
//! 6. **untrusted open**: on a session under its own (authenticated, never trusted)
//!    id it opens `nodeinfo` of node-a and expects a REFUSE
//!    (`SELFTEST: untrusted peer refused ok` only when refused);
//! 7. **control characters**: service names with newlines, escapes and forged
//!    `SELFTEST: … ok` texts, in announces, as an id, and in stream OPENs on another
//!    session of its own.
//!
//! Then `attacker: done …` with what it sent and what it observed. Nothing it does is
//! timed as a pass condition; the harness (`scripts/os2vm-attack.py`) judges node-a and
//! node-b from their consoles.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod attack {
    extern crate alloc;

    use alloc::string::String;
    use alloc::vec::Vec;

    use dsoftbus::driver::{close_connection, connect_session, recv_record, send_record};
    use dsoftbus::handshake::{AuthError, LocalIdentity};
    use dsoftbus::mux::{Event, Mode, Mux, MuxConfig, Priority};
    use dsoftbus::session::{Record, SessionError};
    use dsoftbus::{Announce, Connection, DeviceId, Escaped, PeerEntry, StaticKeypair};
    use nexus_interfaces::args::AttackerArgs;
    use nexus_net::{Ipv4Addr, NetClient, NetError, SocketAddrV4, TcpStream, UdpSocket};
    use nexus_net_ipc::IpcTransport;
    use nexus_rt::ipc::Endpoint;
    use nexus_rt::{println, sys};
    use nexus_slots::selftest_attacker as slot;

    type Client = NetClient<IpcTransport>;
    type Res<T> = Result<T, &'static str>;
    const SEC: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;
    /// The session port our own ids announce (nothing listens there: node-a's dials to
    /// them fail at once).
    const OUR_PORT: u16 = 37031;
    /// Fresh, validly derived ids of the flood.
    const FLOOD_IDS: usize = 24;
    /// Ids that do not derive from their key, per flood round.
    const UNBOUND_IDS: usize = 8;
    /// Own ids that try to hold a session each (node-a allows 4 per address).
    const HOLD_IDS: usize = 6;
    /// Half-open handshakes tried (node-a allows 2 inbound per address).
    const HALF_OPEN: usize = 6;

    /// What was sent and seen, for the closing line.
    #[derive(Default)]
    struct Tally {
        announces: u64,
        valid_ids: u64,
        unbound: u64,
        garbage: u64,
        replays: u64,
        sessions_tried: u64,
        sessions_up: u64,
        sessions_held: u64,
        sessions_refused: u64,
        half_open_held: u64,
        half_open_refused: u64,
        injected: u64,
    }

    struct World {
        c: Client,
        rng: nexus_interfaces::rng::Client<Endpoint>,
        udp: UdpSocket,
        /// node-a's discovery address (unicast: the flood is aimed at it).
        a_disc: SocketAddrV4,
        /// The subnet broadcast on the discovery port (reaches node-a and node-b).
        bcast: SocketAddrV4,
        a: PeerEntry,
        b: PeerEntry,
        b_raw: Vec<u8>,
        t: Tally,
    }

    impl World {
        /// 32 bytes from rngd (never anything else: no entropy, no attack).
        fn random(&mut self) -> Res<[u8; 32]> {
            self.rng.deadline_ns = sys::now_ns() + SEC;
            let v = self.rng.fill(32).map_err(|_| "rngd gave no entropy")?;
            v.as_slice().try_into().map_err(|_| "short entropy")
        }

        /// A fresh identity from rngd's entropy: its id derives from its key.
        fn fresh(&mut self) -> Res<LocalIdentity> {
            Ok(LocalIdentity::new(StaticKeypair::from_secret(
                self.random()?,
            )))
        }

        fn announce_to(&mut self, to: SocketAddrV4, a: &Announce<'_>) {
            if dsoftbus::driver::send_announce(&mut self.c, self.udp, to, a).is_ok() {
                self.t.announces += 1;
            }
        }

        fn datagram_to(&mut self, to: SocketAddrV4, bytes: &[u8]) {
            if self.c.udp_send_to(self.udp, to, bytes).is_ok() {
                self.t.announces += 1;
            }
        }

        /// Reads what arrived on the discovery port, so the socket never fills.
        fn drain(&mut self) {
            let mut buf = [0u8; 1500];
            while self.c.udp_recv_from(self.udp, &mut buf).is_ok() {}
        }

        /// A session with node-a under `me` (its announce must be in node-a's cache).
        fn dial_a(&mut self, me: &LocalIdentity, within: u64) -> Result<Connection, AuthError> {
            let eph = self.random().map_err(|_| AuthError::WrongState)?;
            let a = self.a.clone();
            connect_session(&mut self.c, &a, me, eph, sys::now_ns() + within)
        }
    }

    fn wait_address(c: &mut Client) -> Res<Ipv4Addr> {
        let end = sys::now_ns() + 30 * SEC;
        loop {
            if let Ok(i) = c.local_addr() {
                if !i.addr.is_unspecified() {
                    return Ok(i.broadcast());
                }
            }
            if sys::now_ns() > end {
                return Err("no address");
            }
            sys::sleep_ms(20);
        }
    }

    /// Step 1: listens until both nodes were heard; keeps node-b's datagram as it came.
    fn listen(
        c: &mut Client,
        udp: UdpSocket,
        args: &AttackerArgs,
    ) -> Res<(PeerEntry, PeerEntry, Vec<u8>)> {
        let (ta, tb) = (Ipv4Addr::from(args.target), Ipv4Addr::from(args.victim));
        let (mut a, mut b) = (None, None);
        let end = sys::now_ns() + 30 * SEC;
        let mut buf = [0u8; 1500];
        while a.is_none() || b.is_none() {
            if sys::now_ns() > end {
                return Err("node-a and node-b were not both heard within 30 s");
            }
            let Ok((n, from)) = c.udp_recv_from_by(udp, &mut buf, sys::now_ns() + 500 * MS) else {
                continue;
            };
            let Ok(ann) = Announce::decode(&buf[..n]) else {
                continue;
            };
            // Only announces whose id derives from their key are the real nodes.
            if !DeviceId::binds(ann.device_id(), ann.static_key()) {
                continue;
            }
            let e = PeerEntry::from_announce(&ann, *from.ip(), sys::now_ns());
            if *from.ip() == ta {
                a = Some(e);
            } else if *from.ip() == tb {
                b = Some((e, buf[..n].to_vec()));
            }
        }
        let (a, (b, raw)) = (a.ok_or("a")?, b.ok_or("b")?);
        println!(
            "attacker: heard node-a id={} node-b id={} (node-b's announce: {} bytes, seq {})",
            Escaped(a.device_id()),
            Escaped(b.device_id()),
            raw.len(),
            b.seq()
        );
        Ok((a, b, raw))
    }

    /// Step 2: node-b's id with our key: in announces, then in the handshake claim.
    fn takeover(w: &mut World) -> Res<()> {
        let b_id = String::from(w.b.device_id());
        let keys = StaticKeypair::from_secret(w.random()?);
        let liar = LocalIdentity::claiming(&b_id, keys).map_err(|_| "claiming")?;
        let ann = liar
            .announce(u32::MAX, OUR_PORT, &["echo", "sink"])
            .map_err(|_| "announce")?;
        for _ in 0..3 {
            let bc = w.bcast;
            w.announce_to(bc, &ann);
            sys::sleep_ms(50);
        }
        match w.dial_a(&liar, 10 * SEC) {
            Ok(conn) => {
                close_connection(&mut w.c, conn, sys::now_ns() + SEC);
                println!(
                    "SELFTEST: FAIL attacker: node-a authenticated us as node-b ({})",
                    Escaped(&b_id)
                );
                Err("takeover succeeded")
            }
            Err(e @ (AuthError::Rejected | AuthError::Closed)) => {
                let how = if e == AuthError::Rejected {
                    "reject"
                } else {
                    "closed"
                };
                println!(
                    "SELFTEST: takeover refused ok claimed={} how={}",
                    Escaped(&b_id),
                    how
                );
                Ok(())
            }
            Err(e) => {
                println!(
                    "attacker: takeover attempt ended without a refusal: {:?}",
                    e
                );
                Err("no refusal observed")
            }
        }
    }

    /// Step 3, the flood: within the per-source budget, then beyond it, with bound and
    /// unbound ids and undecodable datagrams.
    fn flood(w: &mut World) -> Res<()> {
        let mut ids = Vec::new();
        for _ in 0..FLOOD_IDS {
            ids.push(w.fresh()?);
        }
        let to = w.a_disc;
        // Within the budget: 4 ids (node-a keeps at most 4 per source), each announced
        // twice a second for 2 s (8 datagrams per second, under the refill of 10).
        for _ in 0..4 {
            for id in &ids[..4] {
                let ann = id.announce(1, OUR_PORT, &[]).map_err(|_| "announce")?;
                w.announce_to(to, &ann);
                w.t.valid_ids += 1;
            }
            sys::sleep_ms(500);
        }
        // Beyond it: every id, unbound ids and garbage, 5 rounds 200 ms apart.
        let mut garbage = [0u8; 1200];
        for round in 0..5u32 {
            for id in &ids {
                let ann = id
                    .announce(round + 2, OUR_PORT, &[])
                    .map_err(|_| "announce")?;
                w.announce_to(to, &ann);
                w.t.valid_ids += 1;
            }
            for k in 0..UNBOUND_IDS {
                // A well-formed id (32 hex digits) that derives from nothing we hold.
                let r = w.random()?;
                let mut id = [0u8; 32];
                for (i, c) in id.iter_mut().enumerate() {
                    *c = b"0123456789abcdef"[usize::from(r[i] & 15)];
                }
                let id = core::str::from_utf8(&id).map_err(|_| "hex")?;
                let key = ids[k % ids.len()].public_key();
                let ann = Announce::new(id, 7, OUR_PORT, key, &[]).map_err(|_| "announce")?;
                w.announce_to(to, &ann);
                w.t.unbound += 1;
            }
            // Undecodable: bad magic, wrong version, truncated, oversized.
            let real = ids[0].announce(1, OUR_PORT, &[]).map_err(|_| "announce")?;
            let mut ok = [0u8; dsoftbus::MAX_ANNOUNCE_LEN];
            let n = real.encode(&mut ok).map_err(|_| "encode")?;
            let mut bad = ok;
            bad[0] = b'X';
            w.datagram_to(to, &bad[..n]);
            bad[0] = ok[0];
            bad[4] = 9;
            w.datagram_to(to, &bad[..n]);
            w.datagram_to(to, &ok[..n - 5]);
            garbage[..n].copy_from_slice(&ok[..n]);
            w.datagram_to(to, &garbage);
            w.t.garbage += 4;
            w.drain();
            sys::sleep_ms(200);
        }
        println!(
            "attacker: flood sent fresh_ids={} valid_announces={} unbound={} undecodable={}",
            ids.len(),
            w.t.valid_ids + 16,
            w.t.unbound,
            w.t.garbage
        );
        w.t.valid_ids += 16;
        Ok(())
    }

    /// Step 4: node-b's own announce from our address: as captured, and with `seq = u32::MAX`.
    fn replay(w: &mut World) -> Res<()> {
        let raw = w.b_raw.clone();
        let b = Announce::decode(&raw).map_err(|_| "captured announce")?;
        let max = Announce::new(
            b.device_id(),
            u32::MAX,
            b.port(),
            *b.static_key(),
            b.services(),
        )
        .map_err(|_| "re-sequenced announce")?;
        let mut resequenced = [0u8; dsoftbus::MAX_ANNOUNCE_LEN];
        let n = max.encode(&mut resequenced).map_err(|_| "encode")?;
        let (bc, to) = (w.bcast, w.a_disc);
        let end = sys::now_ns() + 6 * SEC;
        while sys::now_ns() < end {
            w.datagram_to(to, &resequenced[..n]);
            w.datagram_to(bc, &resequenced[..n]);
            w.datagram_to(to, &raw);
            w.t.replays += 3;
            w.drain();
            sys::sleep_ms(100);
        }
        println!(
            "attacker: replayed node-b's announce {} times (seq {} and {}) from our address",
            w.t.replays,
            b.seq(),
            u32::MAX
        );
        Ok(())
    }

    /// A TCP connection to node-a's session port with a frame header promising message 1
    /// (48 bytes) and 10 bytes of it, then nothing.
    fn half_open(w: &mut World) -> Option<TcpStream> {
        let to = w.a.session_addr();
        let s = w.c.tcp_connect_by(to, sys::now_ns() + 2 * SEC).ok()?;
        let mut part = [0u8; 12];
        part[1] = 48;
        if w.c.tcp_write_all_by(s, &part, sys::now_ns() + SEC).is_err() {
            let _ = w.c.close(s);
            return None;
        }
        Some(s)
    }

    /// Did node-a close `s` (within `within`)?
    fn closed_by_peer(c: &mut Client, s: TcpStream, within: u64) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            c.tcp_read_by(s, &mut buf, sys::now_ns() + within),
            Ok(0) | Err(NetError::ConnectionReset) | Err(NetError::Closed)
        )
    }

    /// Step 5: sessions under our own ids and half-open handshakes, held 8 s. Returns up
    /// to two sessions still live (with their identities) for the next steps.
    fn hold(w: &mut World) -> Res<Vec<(LocalIdentity, Connection)>> {
        let mut ids = Vec::new();
        for _ in 0..HOLD_IDS {
            ids.push(w.fresh()?);
        }
        // Announced within the budget until node-a has them (at most 4 from us).
        for _ in 0..3 {
            for id in &ids {
                let ann = id.announce(1, OUR_PORT, &[]).map_err(|_| "announce")?;
                let to = w.a_disc;
                w.announce_to(to, &ann);
            }
            sys::sleep_ms(700);
        }
        let mut live: Vec<(usize, Connection)> = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            w.t.sessions_tried += 1;
            match w.dial_a(id, 5 * SEC) {
                Ok(conn) => {
                    w.t.sessions_up += 1;
                    live.push((k, conn));
                }
                Err(_) => w.t.sessions_refused += 1,
            }
        }
        let mut stalled = Vec::new();
        for _ in 0..HALF_OPEN {
            if let Some(s) = half_open(w) {
                stalled.push(s);
            }
        }
        // Connections node-a closed at once were refused; the rest hold a slot.
        let mut held = Vec::new();
        for s in stalled {
            if closed_by_peer(&mut w.c, s, 300 * MS) {
                w.t.half_open_refused += 1;
                let _ = w.c.close(s);
            } else {
                held.push(s);
            }
        }
        w.t.half_open_held = held.len() as u64;
        // Hold: a ping per session per second (node-a closes silent sessions after 4 s),
        // our ids re-announced so they stay in node-a's cache.
        let end = sys::now_ns() + 8 * SEC;
        let mut token = 1u64;
        while sys::now_ns() < end {
            let mut k = 0;
            while k < live.len() {
                token += 1;
                let r = send_record(
                    &mut w.c,
                    &mut live[k].1,
                    &Record::Ping(token),
                    sys::now_ns() + SEC,
                );
                if r.is_err() {
                    let (_, conn) = live.swap_remove(k);
                    let _ = w.c.close(conn.stream());
                } else {
                    k += 1;
                }
            }
            for (i, _) in &live {
                let ann = ids[*i].announce(1, OUR_PORT, &[]).map_err(|_| "announce")?;
                let to = w.a_disc;
                w.announce_to(to, &ann);
            }
            w.drain();
            sys::sleep_ms(1000);
        }
        // A session is still held when node-a answers a ping on it.
        let mut kept = Vec::new();
        for (i, mut conn) in live {
            if answers_ping(&mut w.c, &mut conn) {
                w.t.sessions_held += 1;
                if kept.len() < 2 {
                    kept.push((i, conn));
                    continue;
                }
            }
            close_connection(&mut w.c, conn, sys::now_ns() + SEC);
        }
        for s in held {
            let _ = w.c.close(s);
        }
        println!(
            "attacker: held sessions={} of {} (up={} refused={}) half_open_held={} half_open_refused={} for_s=8",
            w.t.sessions_held,
            w.t.sessions_tried,
            w.t.sessions_up,
            w.t.sessions_refused,
            w.t.half_open_held,
            w.t.half_open_refused
        );
        Ok(kept
            .into_iter()
            .map(|(i, conn)| (ids[i].clone(), conn))
            .collect())
    }

    /// Sends a ping and waits (2 s) for its pong, answering node-a's own pings.
    fn answers_ping(c: &mut Client, conn: &mut Connection) -> bool {
        let token = sys::now_ns() | 1;
        if send_record(c, conn, &Record::Ping(token), sys::now_ns() + SEC).is_err() {
            return false;
        }
        let end = sys::now_ns() + 2 * SEC;
        loop {
            match recv_record(c, conn, end) {
                Ok(Record::Pong(t)) if t == token => return true,
                Ok(Record::Ping(t)) => {
                    let _ = send_record(c, conn, &Record::Pong(t), end);
                }
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// What became of a stream we opened.
    #[derive(Debug)]
    enum Outcome {
        /// REFUSE with its reason.
        Refused(dsoftbus::mux::RefuseReason),
        /// RESET with its reason.
        Reset(dsoftbus::mux::ResetReason),
        /// The session ended.
        SessionClosed,
        /// The service answered our request (its first bytes).
        Served(String),
    }

    /// Opens `service` on `conn`, sends one request and waits (5 s) for what happens.
    fn try_open(
        c: &mut Client,
        conn: &mut Connection,
        mux: &mut Mux,
        service: &str,
    ) -> Res<Outcome> {
        let id = mux
            .open(service, Mode::Message, Priority::Interactive)
            .map_err(|_| "mux open")?;
        let _ = mux.send(id, b"?");
        let mut frame = [0u8; dsoftbus::MAX_RECORD_PAYLOAD];
        let mut answer = [0u8; 256];
        let deadline = sys::now_ns() + 5 * SEC;
        loop {
            while let Some(n) = mux.poll_transmit(&mut frame) {
                if send_record(c, conn, &Record::Data(&frame[..n]), deadline).is_err() {
                    return Ok(Outcome::SessionClosed);
                }
            }
            if let Ok(n) = mux.recv(id, &mut answer) {
                if n > 0 {
                    let text = core::str::from_utf8(&answer[..n]).unwrap_or("?");
                    return Ok(Outcome::Served(String::from(text)));
                }
            }
            let ping = match recv_record(c, conn, deadline) {
                Ok(Record::Data(d)) => match mux.receive(d) {
                    Ok(Some(Event::Refused(i, why))) if i == id => {
                        return Ok(Outcome::Refused(why))
                    }
                    Ok(Some(Event::Reset(i, why))) if i == id => return Ok(Outcome::Reset(why)),
                    Ok(_) => None,
                    Err(_) => return Err("node-a sent a bad stream frame"),
                },
                Ok(Record::Ping(t)) => Some(t),
                Ok(Record::Close) | Err(SessionError::Closed) => return Ok(Outcome::SessionClosed),
                Err(SessionError::Net(NetError::TimedOut)) => return Err("no answer within 5 s"),
                Err(SessionError::Net(_)) => return Ok(Outcome::SessionClosed),
                Ok(_) => None,
                Err(_) => return Err("session error"),
            };
            if let Some(t) = ping {
                let _ = send_record(c, conn, &Record::Pong(t), deadline);
            }
        }
    }

    /// Service names with control characters and forged markers (each 1..=64 bytes).
    const EVIL_NAMES: [&str; 3] = [
        "x\nSELFTEST: takeover refused ok",
        "\r\x1b[2KSELFTEST: bus echo loop ok sent=1 answered=1",
        "\x07\x00\tSELFTEST: untrusted peer refused ok\n",
    ];

    /// Step 7, control characters: in our announced service names and in stream OPENs.
    fn inject(w: &mut World, me: &LocalIdentity, conn: Option<&mut Connection>) -> Res<()> {
        let mut mux = Mux::new(MuxConfig::default(), true);
        let ann = me
            .announce(2, OUR_PORT, &EVIL_NAMES)
            .map_err(|_| "announce")?;
        let (to, bc) = (w.a_disc, w.bcast);
        w.announce_to(to, &ann);
        w.announce_to(bc, &ann);
        // An id that is itself text with a newline (it derives from nothing).
        let forged = Announce::new(
            "\n[bus-selftest] SELFTEST: bus echo loop ok",
            1,
            OUR_PORT,
            me.public_key(),
            &[],
        )
        .map_err(|_| "announce")?;
        w.announce_to(to, &forged);
        w.t.injected += 3;
        let mut refused = 0;
        if let Some(conn) = conn {
            for name in EVIL_NAMES {
                w.t.injected += 1;
                match try_open(&mut w.c, conn, &mut mux, name)? {
                    Outcome::Served(_) => {
                        return Err("node-a served a stream named with control characters")
                    }
                    Outcome::Reset(why) => {
                        println!("attacker: an injected open was reset ({:?})", why);
                        refused += 1;
                    }
                    Outcome::Refused(_) | Outcome::SessionClosed => refused += 1,
                }
            }
        }
        println!(
            "attacker: injected control characters announces=3 opens={} refused={}",
            EVIL_NAMES.len(),
            refused
        );
        Ok(())
    }

    /// Step 6: authenticated under our own id, never trusted, `nodeinfo` must be refused.
    /// Only a REFUSE counts, on a session that answered a ping just before (a session that
    /// died for another reason proves nothing).
    fn untrusted(w: &mut World, me: &LocalIdentity, conn: &mut Connection) -> Res<()> {
        if !answers_ping(&mut w.c, conn) {
            return Err("our session with node-a died before the untrusted open");
        }
        let mut mux = Mux::new(MuxConfig::default(), true);
        match try_open(&mut w.c, conn, &mut mux, dsoftbus::daemon::NODEINFO)? {
            Outcome::Refused(why) => {
                println!(
                    "SELFTEST: untrusted peer refused ok svc=nodeinfo peer={} reason={:?}",
                    me.device_id(),
                    why
                );
                Ok(())
            }
            Outcome::Served(text) => {
                println!(
                    "attacker: node-a served nodeinfo to the untrusted peer {} ({})",
                    me.device_id(),
                    Escaped(&text)
                );
                Err("node-a served nodeinfo to an untrusted peer")
            }
            other => {
                println!(
                    "attacker: untrusted open ended without a refusal: {:?}",
                    other
                );
                Err("no refusal of the untrusted open")
            }
        }
    }

    fn run(c: Client, args: &AttackerArgs) -> Res<()> {
        let mut c = c;
        let bc = wait_address(&mut c)?;
        let (udp, _) = c
            .udp_bind(dsoftbus::DISCOVERY_PORT)
            .map_err(|_| "discovery port")?;
        let (a, b, b_raw) = listen(&mut c, udp, args)?;
        let mut w = World {
            c,
            rng: nexus_interfaces::rng::Client::new(Endpoint(slot::RNG)),
            udp,
            a_disc: SocketAddrV4::new(Ipv4Addr::from(args.target), dsoftbus::DISCOVERY_PORT),
            bcast: SocketAddrV4::new(bc, dsoftbus::DISCOVERY_PORT),
            a,
            b,
            b_raw,
            t: Tally::default(),
        };
        let t0 = sys::now_ns();
        println!("attacker: attack started");
        // Every step runs whatever the previous one found; the first failure is reported.
        let mut failed = None;
        let mut note = |r: Res<()>| {
            if let Err(why) = r {
                println!("attacker: step failed: {}", why);
                failed.get_or_insert(why);
            }
        };
        note(takeover(&mut w));
        note(flood(&mut w));
        // node-a forgets the flood's ids (3 s TTL) while the replay runs.
        note(replay(&mut w));
        let mut kept = match hold(&mut w) {
            Ok(k) => k,
            Err(why) => {
                note(Err(why));
                Vec::new()
            }
        };
        // The untrusted open on one session, the control characters on another (so a
        // session hurt by the injection cannot stand in for a refusal).
        let second = if kept.len() > 1 { kept.pop() } else { None };
        match kept.pop() {
            Some((me, mut conn)) => {
                note(untrusted(&mut w, &me, &mut conn));
                close_connection(&mut w.c, conn, sys::now_ns() + SEC);
            }
            None => note(Err(
                "no session under our own id to try the untrusted open on",
            )),
        }
        match second {
            Some((me, mut conn)) => {
                note(inject(&mut w, &me, Some(&mut conn)));
                close_connection(&mut w.c, conn, sys::now_ns() + SEC);
            }
            None => {
                let me = w.fresh()?;
                note(inject(&mut w, &me, None));
            }
        }
        let t = &w.t;
        println!(
            "attacker: done announces={} valid_ids={} unbound={} undecodable={} replays={} sessions_held={} half_open_held={} half_open_refused={} injected={} ms={}",
            t.announces,
            t.valid_ids,
            t.unbound,
            t.garbage,
            t.replays,
            t.sessions_held,
            t.half_open_held,
            t.half_open_refused,
            t.injected,
            (sys::now_ns() - t0) / MS
        );
        let _ = w.c.close(w.udp);
        match failed {
            None => Ok(()),
            Some(why) => Err(why),
        }
    }

    pub fn main(_: u64) -> i32 {
        let args = match nexus_rt::ipc::fetch_args::<AttackerArgs>(slot::INIT) {
            Ok(a) => a,
            Err(e) => {
                println!("SELFTEST: FAIL attacker: no argument: {:?}", e);
                return 2;
            }
        };
        let c = NetClient::new(IpcTransport::new(slot::NET));
        match run(c, &args) {
            Ok(()) => 0,
            Err(why) => {
                println!("SELFTEST: FAIL attacker: {}", why);
                1
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(attack::main);
