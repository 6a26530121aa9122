//! selftest-dsoftbus: a second DSoftBus node in the smoke VM.
//!
//! It talks to dsoftbusd only through the network, exactly like a remote
//! node would: the same netstackd facade, UDP announcements, a TCP session
//! with Noise XK. (Both nodes share the VM's address; netstackd loops
//! frames to itself back to the stack.)
//!
//! * `a0` = 0, node `selftest-peer`: announces itself, waits to discover
//!   `node-a` (dsoftbusd), accepts the session dsoftbusd dials after
//!   discovering it, sends an encrypted `Ping(nonce)` and checks the `Pong`
//!   (`SELFTEST: dsoftbus os connect ok`, `SELFTEST: dsoftbus ping ok`).
//! * `a0` = 1, node `impostor`: waits until `dsoftbus-peer` has finished,
//!   learns node-a's device id from its announcement, announces **that id**
//!   with its own key (the cache drops it: ids derive from keys), then dials
//!   dsoftbusd with its real key claiming that id. dsoftbusd must refuse the
//!   binding (`dsoftbusd: identity refused claimed=<node-a's id>`); the
//!   impostor then prints `SELFTEST: dsoftbus impostor rejected ok`.
//!
//! * `a0` = 2, `dsoftbus-hostile`: after the impostor, 20 connections of
//!   garbage and 4 half-finished handshakes to dsoftbusd's session port;
//!   then a good session as `selftest-peer` must still succeed, and each
//!   stalled handshake must be dropped at dsoftbusd's deadline
//!   (`SELFTEST: dsoftbusd hostile peer survived ok`).
//!
//! * `a0` = 3, `dsoftbus-restart`: after the others, with a live session,
//!   asks init to kill netstackd; facade calls fail with a definite error,
//!   init restarts netstackd, and a new authenticated session with node-a
//!   proves dsoftbusd recovered (`SELFTEST: netstack restart recovered ok`).
//!
//! * `a0` = 4, `dsoftbus-cycles`: pairs with node-a the way a user would
//!   (node-a shows a PIN through its `bus` interface, which this task may
//!   manage; this node enters it over the session's `pairing` stream;
//!   `SELFTEST: smoke pairing ok` once both sides hold the trust), then 30
//!   session open/close cycles against dsoftbusd, each opening `nodeinfo`
//!   (granted by pairing), whose heap must not grow after the warm-up
//!   (`SELFTEST: dsoftbus session cycles ok`).
//!
//! No key is compiled in: every task makes its static key (hence its device
//! id) and every ephemeral key from rngd's entropy when it starts, and prints
//! its id (`selftest-dsoftbus: <role> id=`, which the harness learns), so
//! every boot has fresh ids. node-a is found by discovery, never assumed.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod peer {
    extern crate alloc;

    use alloc::string::String;
    use dsoftbus::cache::{CacheConfig, PeerCache};
    use dsoftbus::driver::Connection;
    use dsoftbus::driver::{
        accept_session, connect_session, drain_announces, recv_record, send_announce, send_record,
    };
    use dsoftbus::handshake::{AuthError, LocalIdentity};
    use dsoftbus::mux::StreamError;
    use dsoftbus::mux::{Mode, Mux, MuxConfig, Priority};
    use dsoftbus::pairing::{Binding, InitStep, PairInitiator, PAIRING};
    use dsoftbus::session::Record;
    use dsoftbus::{Announce, DeviceId, Escaped, StaticKeypair};
    use nexus_interfaces::args::ModeArgs;
    use nexus_interfaces::bus::{Client as BusClient, TrustOrigin};
    use nexus_interfaces::init::{Error as InitError, ServiceState};
    use nexus_net::{NetClient, SocketAddrV4};
    use nexus_net_ipc::IpcTransport;
    use nexus_rt::ipc::Endpoint;
    use nexus_rt::{println, sys};
    use nexus_slots::selftest_dsoftbus as slot;

    type Client = NetClient<IpcTransport>;
    const SEC: u64 = 1_000_000_000;

    /// node-a's session port (dsoftbusd's default).
    const NODE_A_SESSION_PORT: u16 = 37030;
    /// `selftest-peer`'s ports: dsoftbusd also announces to its discovery port
    /// (`extra_announce` in profiles/test/smoke.toml).
    const PEER_SESSION_PORT: u16 = 37031;
    const PEER_DISCOVERY_PORT: u16 = dsoftbus::DISCOVERY_PORT + 1;
    /// The impostor's ports.
    const IMPOSTOR_SESSION_PORT: u16 = 37032;
    const IMPOSTOR_DISCOVERY_PORT: u16 = dsoftbus::DISCOVERY_PORT + 2;

    /// 32 bytes from rngd (bounded: a few tries of 1 s each).
    fn entropy() -> Result<[u8; 32], &'static str> {
        for _ in 0..10 {
            let mut rng = nexus_interfaces::rng::Client::new(nexus_rt::ipc::Endpoint(slot::RNG));
            rng.deadline_ns = sys::now_ns() + SEC;
            if let Some(b) = rng
                .fill(32)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
            {
                return Ok(b);
            }
            sys::sleep_ms(50);
        }
        Err("no entropy from rngd")
    }

    /// A fresh identity for this task (static key from rngd), its id printed for the
    /// harness as `selftest-dsoftbus: <role> id=<device id>`.
    fn fresh_identity(name: &str, role: &str) -> Result<LocalIdentity, &'static str> {
        let keys = StaticKeypair::from_secret(entropy()?);
        let me = LocalIdentity::new(keys)
            .with_name(name)
            .map_err(|_| "display name")?;
        println!(
            "selftest-dsoftbus: {} id={} name={}",
            role,
            me.device_id(),
            name
        );
        Ok(me)
    }

    fn wait_address(c: &mut Client) -> bool {
        let end = sys::now_ns() + 30 * SEC;
        while c
            .local_addr()
            .map(|i| i.addr.is_unspecified())
            .unwrap_or(true)
        {
            if sys::now_ns() > end {
                return false;
            }
            sys::sleep_ms(20);
        }
        true
    }

    /// Announces `announce` (if any) and listens on `port` until `node-a`
    /// (dsoftbusd) is discovered: only dsoftbusd announces to this port, so it is
    /// the announcing node that is not `me`. Its device id is learnt, never assumed
    /// (docs/dsoftbus.md §13a).
    fn discover_node_a(
        c: &mut Client,
        port: u16,
        me: &str,
        announce: Option<&Announce<'_>>,
    ) -> Option<(PeerCache, String)> {
        let (udp, _) = c.udp_bind(port).ok()?;
        let mut cache = PeerCache::new(CacheConfig::default()).with_local_device_id(me);
        let bcast = c.local_addr().ok()?.broadcast();
        let end = sys::now_ns() + 20 * SEC;
        let mut found = None;
        while sys::now_ns() < end {
            if let Some(a) = announce {
                let _ = send_announce(
                    c,
                    udp,
                    SocketAddrV4::new(bcast, dsoftbus::DISCOVERY_PORT),
                    a,
                );
            }
            let now = sys::now_ns();
            let _ = drain_announces(c, udp, &mut cache, now);
            found = cache
                .live(now)
                .find(|e| e.device_id() != me)
                .map(|e| String::from(e.device_id()));
            if found.is_some() {
                break;
            }
            sys::sleep_ms(100);
        }
        // Keep announcing a little while so node-a discovers us too.
        for _ in 0..3 {
            if let Some(a) = announce {
                let _ = send_announce(
                    c,
                    udp,
                    SocketAddrV4::new(bcast, dsoftbus::DISCOVERY_PORT),
                    a,
                );
            }
            sys::sleep_ms(50);
        }
        let _ = c.close(udp);
        found.map(|id| (cache, id))
    }

    fn run_peer(c: &mut Client) -> Result<(), &'static str> {
        let me = fresh_identity("selftest-peer", "peer")?;
        peer_session(c, &me, true)
    }

    /// Accepts node-a's session on `listener` (bounded by `deadline`). node-a may
    /// first redial an earlier test task's id on this port (each task has its own
    /// key): that handshake fails for want of the key, and we wait for the next.
    fn accept_node_a(
        c: &mut Client,
        listener: nexus_net::TcpListener,
        me: &LocalIdentity,
        cache: &PeerCache,
        deadline: u64,
    ) -> Result<Connection, &'static str> {
        loop {
            match accept_session(
                c,
                listener,
                me,
                &cache.at(sys::now_ns()),
                entropy()?,
                deadline,
            ) {
                Ok(conn) => return Ok(conn),
                Err(_) if sys::now_ns() < deadline => sys::sleep_ms(10),
                Err(_) => return Err("session with node-a failed"),
            }
        }
    }

    /// Announces as `me` (`selftest-peer`), accepts the session node-a dials, and
    /// checks an encrypted ping; `ladder` prints the smoke's markers.
    fn peer_session(c: &mut Client, me: &LocalIdentity, ladder: bool) -> Result<(), &'static str> {
        let (listener, _) = c.tcp_listen(PEER_SESSION_PORT, 2).map_err(|_| "listen")?;
        let a = me
            .announce(1, PEER_SESSION_PORT, &[])
            .map_err(|_| "announce")?;
        let (cache, _) = discover_node_a(c, PEER_DISCOVERY_PORT, me.device_id(), Some(&a))
            .ok_or("node-a not discovered")?;
        // node-a dials us once it has discovered us; accept and authenticate
        // against what discovery told us about node-a.
        let mut conn = accept_node_a(c, listener, me, &cache, sys::now_ns() + 15 * SEC)?;
        // The responder's side is complete once it sent its confirmation,
        // node-a's only when that arrived. The encrypted ping/pong proves both
        // ends hold the session, so both lines wait for the pong.
        let nonce = sys::now_ns() | 1;
        send_record(c, &mut conn, &Record::Ping(nonce), sys::now_ns() + 5 * SEC)
            .map_err(|_| "send ping")?;
        loop {
            match recv_record(c, &mut conn, sys::now_ns() + 5 * SEC) {
                Ok(Record::Pong(x)) if x == nonce => break,
                // dsoftbusd's keepalive pings may come first.
                Ok(Record::Ping(_)) => continue,
                _ => return Err("no matching pong"),
            }
        }
        if ladder {
            println!(
                "SELFTEST: dsoftbus os connect ok peer={}",
                Escaped(conn.peer_device_id())
            );
            println!("SELFTEST: dsoftbus ping ok");
        }
        dsoftbus::driver::close_connection(c, conn, sys::now_ns() + SEC);
        let _ = c.close(listener);
        Ok(())
    }

    /// Waits (bounded) until init reports service `name` no longer running.
    fn wait_done(name: &str) -> Result<(), &'static str> {
        let end = sys::now_ns() + 60 * SEC;
        loop {
            let mut init = nexus_rt::ipc::init_client(slot::INIT);
            init.deadline_ns = sys::now_ns() + SEC;
            let state = init.status(name);
            if matches!(state, Err(InitError::ServerRestarted | InitError::TimedOut)) {
                return Err("init status");
            }
            if state != Ok(ServiceState::Running) {
                return Ok(());
            }
            if sys::now_ns() > end {
                return Err("previous test never finished");
            }
            sys::sleep_ms(20);
        }
    }

    /// Garbage and half-finished handshakes on dsoftbusd's session port,
    /// then a good session must still succeed, and the half-open
    /// connections must be dropped by dsoftbusd at its handshake deadline.
    /// Connects to `to`, retrying (bounded) while the listener's backlog is
    /// full: a refused connect under a burst is the listener's right.
    fn connect_retry(
        c: &mut Client,
        to: SocketAddrV4,
    ) -> Result<nexus_net::TcpStream, &'static str> {
        for _ in 0..50 {
            match c.tcp_connect_by(to, sys::now_ns() + 2 * SEC) {
                Ok(s) => return Ok(s),
                Err(nexus_net::NetError::ConnectionRefused) => sys::sleep_ms(20),
                Err(_) => return Err("connect"),
            }
        }
        Err("connect refused for 1 s")
    }

    fn run_hostile(c: &mut Client) -> Result<(), &'static str> {
        wait_done("dsoftbus-impostor")?;
        let me = c.local_addr().map_err(|_| "addr")?.addr;
        let target = SocketAddrV4::new(me, NODE_A_SESSION_PORT);
        let mut seed = sys::now_ns() | 1;
        let mut junk = [0u8; 600];
        const GARBAGE: usize = 20;
        for i in 0..GARBAGE {
            let s = connect_retry(c, target)?;
            let n = 1 + (i * 37) % junk.len();
            for b in junk[..n].iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = seed as u8;
            }
            let _ = c.tcp_write_all_by(s, &junk[..n], sys::now_ns() + SEC);
            let _ = c.close(s);
        }
        // Half-finished: a frame header promising 100 bytes, then 10, then silence.
        const HALF_OPEN: usize = 4;
        let mut stalled = [None; HALF_OPEN];
        for slot in stalled.iter_mut() {
            let s = connect_retry(c, target)?;
            let mut part = [0u8; 12];
            part[1] = 100;
            c.tcp_write_all_by(s, &part, sys::now_ns() + SEC)
                .map_err(|_| "half-open write")?;
            *slot = Some(s);
        }
        // A good session still works while those are pending.
        let peer = fresh_identity("selftest-peer", "hostile")?;
        peer_session(c, &peer, false)?;
        // dsoftbusd must drop each stalled handshake at its deadline.
        let mut freed = 0;
        let mut buf = [0u8; 64];
        for s in stalled.into_iter().flatten() {
            match c.tcp_read_by(s, &mut buf, sys::now_ns() + 10 * SEC) {
                Ok(0)
                | Err(nexus_net::NetError::ConnectionReset)
                | Err(nexus_net::NetError::Closed) => freed += 1,
                _ => {}
            }
            let _ = c.close(s);
        }
        if freed != HALF_OPEN {
            return Err("a half-open handshake was not dropped");
        }
        println!(
            "SELFTEST: dsoftbusd hostile peer survived ok garbage_connections={} half_open={} dropped_by_deadline={}",
            GARBAGE, HALF_OPEN, freed
        );
        Ok(())
    }

    /// Supervision: with a live session to node-a, ask init to kill
    /// netstackd. Our own facade calls must fail with a definite error (not
    /// hang), init restarts netstackd, and both this node and dsoftbusd must
    /// recover: a new authenticated session with an encrypted ping.
    fn run_restart(c: &mut Client) -> Result<(), &'static str> {
        wait_done("dsoftbus-hostile")?;
        wait_done("selftest-net")?;
        let me = fresh_identity("selftest-peer", "restart")?;
        peer_session(c, &me, false)?;
        let mut init = nexus_rt::ipc::init_client(slot::INIT);
        init.deadline_ns = sys::now_ns() + SEC;
        if init.kill("netstackd").is_err() {
            return Err("init refused to kill netstackd");
        }
        let t0 = sys::now_ns();
        // The old facade session is gone: a definite error, then recovery.
        let err = c.local_addr().err();
        println!("SELFTEST: netstack killed; facade said {:?}", err);
        c.reset_session();
        let end = sys::now_ns() + 20 * SEC;
        loop {
            match c.local_addr() {
                Ok(i) if !i.addr.is_unspecified() => break,
                Ok(_) => {}
                Err(nexus_net::NetError::ServerRestarted) => c.reset_session(),
                Err(_) => {}
            }
            if sys::now_ns() > end {
                return Err("netstackd did not come back");
            }
            sys::sleep_ms(20);
        }
        peer_session(c, &me, false)?;
        println!(
            "SELFTEST: netstack restart recovered ok (new session with node-a {} ms after the kill)",
            (sys::now_ns() - t0) / 1_000_000
        );
        Ok(())
    }

    /// Session cycles in the guest: accept dsoftbusd's session to us once, close
    /// it, then open and close `CYCLES` sessions of our own, each asking
    /// `nodeinfo` over a stream (which reports dsoftbusd's heap). The heap after the
    /// last cycle must not exceed the heap after the warm-up.
    fn run_cycles(c: &mut Client) -> Result<(), &'static str> {
        const CYCLES: u32 = 30;
        const WARM_UP: u32 = 5;
        wait_done("dsoftbus-restart")?;
        // netstackd was restarted meanwhile: our facade session is stale.
        c.reset_session();
        if !wait_address(c) {
            return Err("no address after the restart");
        }
        let me = fresh_identity("selftest-peer", "cycles")?;
        let (listener, _) = c.tcp_listen(PEER_SESSION_PORT, 2).map_err(|_| "listen")?;
        let a = me
            .announce(1, PEER_SESSION_PORT, &[])
            .map_err(|_| "announce")?;
        let (cache, node_a) = discover_node_a(c, PEER_DISCOVERY_PORT, me.device_id(), Some(&a))
            .ok_or("node-a not discovered")?;
        let mut reference = accept_node_a(c, listener, &me, &cache, sys::now_ns() + 15 * SEC)
            .map_err(|_| "reference session")?;
        // node-a knows nothing of this (fresh) key: pair on the reference session.
        pair_with_node_a(c, &mut reference, &me, &node_a)?;
        // One session per pair: our cycle sessions would replace this one, so
        // close it (and stop listening; dsoftbusd's redials are then refused at
        // once) before cycling.
        dsoftbus::driver::close_connection(c, reference, sys::now_ns() + SEC);
        let _ = c.close(listener);
        sys::sleep_ms(100);
        let entry = cache
            .get(&node_a, sys::now_ns())
            .cloned()
            .ok_or("node-a expired")?;
        let (udp, _) = c.udp_bind(PEER_DISCOVERY_PORT).map_err(|_| "udp")?;
        let bcast = c.local_addr().map_err(|_| "addr")?.broadcast();
        let mut heap_warm = 0u64;
        let mut heap_last = 0u64;
        for i in 0..CYCLES {
            // Stay fresh in node-a's cache (its responder binds against it).
            let _ = send_announce(
                c,
                udp,
                SocketAddrV4::new(bcast, dsoftbus::DISCOVERY_PORT),
                &a,
            );
            let mut conn = connect_session(c, &entry, &me, entropy()?, sys::now_ns() + 10 * SEC)
                .map_err(|_| "cycle session")?;
            // `nodeinfo` is a stream service: OPEN, one request message, one answer.
            let mut mux = Mux::new(MuxConfig::default(), true);
            let id = mux
                .open("nodeinfo", Mode::Message, Priority::Interactive)
                .map_err(|_| "open")?;
            mux.send(id, b"?").map_err(|_| "request")?;
            let mut frame = [0u8; dsoftbus::MAX_RECORD_PAYLOAD];
            let mut answer = [0u8; 256];
            let deadline = sys::now_ns() + 5 * SEC;
            let heap = loop {
                while let Some(n) = mux.poll_transmit(&mut frame) {
                    send_record(c, &mut conn, &Record::Data(&frame[..n]), deadline)
                        .map_err(|_| "send")?;
                }
                if let Ok(n) = mux.recv(id, &mut answer) {
                    let text = core::str::from_utf8(&answer[..n]).unwrap_or("");
                    break text
                        .split(' ')
                        .find_map(|w| w.strip_prefix("heap="))
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or("no heap figure")?;
                }
                match recv_record(c, &mut conn, deadline) {
                    Ok(Record::Data(d)) => {
                        if !matches!(mux.receive(d), Ok(Some(_) | None)) {
                            return Err("bad stream frame");
                        }
                    }
                    Ok(Record::Ping(_)) | Ok(Record::Pong(_)) => continue,
                    _ => return Err("no nodeinfo answer"),
                }
            };
            dsoftbus::driver::close_connection(c, conn, sys::now_ns() + SEC);
            if i + 1 == WARM_UP {
                heap_warm = heap;
            }
            heap_last = heap;
            // Let dsoftbusd notice the close before the next cycle.
            sys::sleep_ms(30);
        }
        let _ = c.close(udp);
        if heap_last > heap_warm {
            println!(
                "SELFTEST: dsoftbusd heap grew over {} cycles: {} -> {} bytes",
                CYCLES, heap_warm, heap_last
            );
            return Err("dsoftbusd heap grew");
        }
        println!(
            "SELFTEST: dsoftbus session cycles ok cycles={} heap_after_warmup={} heap_after_last={}",
            CYCLES, heap_warm, heap_last
        );
        Ok(())
    }

    fn run_impostor(c: &mut Client) -> Result<(), &'static str> {
        // Let the honest peer finish first, so the ladder is in order.
        wait_done("dsoftbus-peer")?;
        let keys = StaticKeypair::from_secret(entropy()?);
        let own = DeviceId::of(&keys.public_key());
        println!("selftest-dsoftbus: impostor id={} name=impostor", own);
        // Learn node-a's id from its announcements (without announcing ourselves).
        let (cache, node_a) = discover_node_a(c, IMPOSTOR_DISCOVERY_PORT, own.as_str(), None)
            .ok_or("node-a not discovered")?;
        let entry = cache
            .get(&node_a, sys::now_ns())
            .cloned()
            .ok_or("node-a expired")?;
        // The lie: node-a's own device id with our key, both in the announce (node-a's
        // cache drops it: the id does not derive from the key, and it is node-a's own)
        // and in the handshake claim (node-a refuses it after authenticating our key).
        let a = Announce::new(&node_a, 1, IMPOSTOR_SESSION_PORT, keys.public_key(), &[])
            .map_err(|_| "announce")?;
        let (udp, _) = c.udp_bind(IMPOSTOR_DISCOVERY_PORT).map_err(|_| "udp")?;
        let bcast = c.local_addr().map_err(|_| "addr")?.broadcast();
        for _ in 0..3 {
            let _ = send_announce(
                c,
                udp,
                SocketAddrV4::new(bcast, dsoftbus::DISCOVERY_PORT),
                &a,
            );
            sys::sleep_ms(50);
        }
        let _ = c.close(udp);
        let real = LocalIdentity::claiming(&node_a, keys).map_err(|_| "identity")?;
        match connect_session(c, &entry, &real, entropy()?, sys::now_ns() + 10 * SEC) {
            Ok(_) => Err("the impostor got a session"),
            Err(AuthError::Rejected) | Err(AuthError::Closed) => {
                println!("SELFTEST: dsoftbus impostor rejected ok");
                Ok(())
            }
            Err(_) => Err("unexpected impostor failure"),
        }
    }

    /// Pairs with node-a on `conn` (node-a dialled it) the way a user would: node-a
    /// shows a PIN (its `bus` interface, which this task may manage), this node enters
    /// it over the session's `pairing` stream. Done once both sides hold the trust:
    /// our exchange ended `Paired` and node-a's trust store lists our id as paired.
    fn pair_with_node_a(
        c: &mut Client,
        conn: &mut Connection,
        me: &LocalIdentity,
        node_a: &str,
    ) -> Result<(), &'static str> {
        let mut bus = BusClient::new(Endpoint(slot::BUS));
        bus.deadline_ns = sys::now_ns() + 2 * SEC;
        let pin = bus.show_pin(30_000).map_err(|_| "show_pin refused")?;
        let binding = Binding {
            initiator_key: me.public_key(),
            responder_key: *conn.session().remote_static(),
            session_hash: *conn.session().handshake_hash(),
        };
        let (mut machine, first) =
            PairInitiator::start(pin, binding, entropy()?).map_err(|_| "pairing start")?;
        // node-a dialled this session: we are the mux's responder side.
        let mut mux = Mux::new(MuxConfig::default(), false);
        let id = mux
            .open(PAIRING, Mode::Message, Priority::Interactive)
            .map_err(|_| "open pairing")?;
        mux.send(id, &first).map_err(|_| "pairing send")?;
        let deadline = sys::now_ns() + 15 * SEC;
        let mut frame = [0u8; dsoftbus::MAX_RECORD_PAYLOAD];
        let mut msg = [0u8; 128];
        loop {
            while let Some(n) = mux.poll_transmit(&mut frame) {
                send_record(c, conn, &Record::Data(&frame[..n]), deadline)
                    .map_err(|_| "pairing send")?;
            }
            match mux.recv(id, &mut msg) {
                Ok(0) => return Err("node-a closed the pairing stream"),
                Ok(n) => match machine.on_message(&msg[..n]) {
                    Ok(InitStep::Send(reply)) => {
                        mux.send(id, &reply).map_err(|_| "pairing send")?;
                        continue;
                    }
                    Ok(InitStep::Paired) => break,
                    Err(_) => return Err("pairing refused"),
                },
                Err(StreamError::WouldBlock) => {}
                Err(_) => return Err("pairing stream failed"),
            }
            match recv_record(c, conn, deadline) {
                Ok(Record::Data(d)) => {
                    if mux.receive(d).is_err() {
                        return Err("bad stream frame");
                    }
                }
                Ok(Record::Ping(x)) => {
                    let _ = send_record(c, conn, &Record::Pong(x), deadline);
                }
                Ok(Record::Pong(_)) => {}
                _ => return Err("session ended while pairing"),
            }
        }
        let _ = mux.close(id);
        while let Some(n) = mux.poll_transmit(&mut frame) {
            let _ = send_record(c, conn, &Record::Data(&frame[..n]), deadline);
        }
        // node-a's side: its trust store must list us, paired.
        let end = sys::now_ns() + 5 * SEC;
        loop {
            bus.deadline_ns = sys::now_ns() + 2 * SEC;
            let list = bus.trusted("").map_err(|_| "trusted")?;
            if list
                .0
                .iter()
                .any(|t| t.device_id == me.device_id() && t.origin == TrustOrigin::Paired)
            {
                break;
            }
            if sys::now_ns() > end {
                return Err("node-a does not list us as paired");
            }
            sys::sleep_ms(50);
        }
        println!(
            "SELFTEST: smoke pairing ok peer={} trusted_by_peer={} (PIN shown by node-a through its bus interface)",
            Escaped(node_a),
            me.device_id()
        );
        Ok(())
    }

    pub fn main(_: u64) -> i32 {
        let arg = match nexus_rt::ipc::fetch_args::<ModeArgs>(slot::INIT) {
            Ok(a) => a.mode,
            Err(e) => {
                println!("SELFTEST: FAIL dsoftbus: no mode argument: {:?}", e);
                return 2;
            }
        };
        let mut c = NetClient::new(IpcTransport::new(slot::NET));
        if !wait_address(&mut c) {
            println!("SELFTEST: FAIL dsoftbus: no address");
            return 1;
        }
        let (r, what) = match arg {
            1 => (run_impostor(&mut c), "impostor"),
            2 => (run_hostile(&mut c), "hostile peer"),
            3 => (run_restart(&mut c), "restart"),
            4 => (run_cycles(&mut c), "session cycles"),
            _ => (run_peer(&mut c), "peer"),
        };
        match r {
            Ok(()) => 0,
            Err(why) => {
                println!("SELFTEST: FAIL dsoftbus {}: {}", what, why);
                1
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(peer::main);
