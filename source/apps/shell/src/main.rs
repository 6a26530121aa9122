//! shell: the console shell of the `user` profile.
//!
//! It reads the UART through `ConsoleRead` (it holds the console-input
//! capability, the only task that does, which also sets the system-wide
//! log level: `log`), edits lines (`shell::editor`), and runs commands as a
//! normal client of init (`init` interface: `ps`, `poweroff`), netstackd
//! (sockets facade: `ifconfig`, `ping`, `netstat`), dsoftbusd (`bus`
//! interface: `peers`, `sessions`, `call`, `pair`, `trust`, `untrust`) and
//! storaged (`kv` interface, its own namespace: `kv`). It has no unsafe code
//! of its own; the runtime's entry macro is the only `unsafe` in the
//! binary. See `docs/shell.md`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod app {
    extern crate alloc;

    use alloc::collections::VecDeque;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::net::Ipv4Addr;

    use nexus_abi::Error;
    use nexus_idl::{heapless, List};
    use nexus_interfaces::{bus, init, kv};
    use nexus_net::{AddrSource, NetClient, NetError};
    use nexus_net_ipc::map_ipc_error;
    use nexus_rt::ipc::{init_client, Endpoint};
    use nexus_rt::{print, println, sys};
    use nexus_slots::shell as slot;
    use shell::command::{self, Command, Escaped, Kv, Mac, Ms, PingStats, Secs, Size};
    use shell::editor::{Action, Editor};
    use shell::PROMPT;

    /// The facade over IPC, every call bounded: a netstackd that is gone
    /// or stuck costs the shell [`NET_CALL_NS`], never its prompt.
    struct Transport;

    impl nexus_net::Transport for Transport {
        fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
            let deadline = sys::now_ns() + NET_CALL_NS;
            sys::ipc_call(slot::NET, request, reply, None, deadline)
                .map(|(n, _)| n)
                .map_err(map_ipc_error)
        }
    }

    type Net = NetClient<Transport>;

    /// Bound on one call to netstackd (longer than any request's own
    /// deadline, so it only ends calls to a netstackd that does not answer).
    const NET_CALL_NS: u64 = 5_000_000_000;

    /// Bound on one call to init.
    const INIT_CALL_NS: u64 = 1_000_000_000;
    /// Time one echo request may take.
    const PING_TIMEOUT_NS: u64 = 1_000_000_000;
    /// Interval between echo requests.
    const PING_INTERVAL_NS: u64 = 1_000_000_000;
    const PAGE: u64 = 4096;
    /// How long the shell waits for a network address before its prompt.
    const NET_WAIT_NS: u64 = 5_000_000_000;
    /// Bound on one call to dsoftbusd or storaged that does not wait for
    /// the network (a `kv` change waits for the disk's flush).
    const SVC_CALL_NS: u64 = 5_000_000_000;
    /// `call`: time for the stream to open, and then for the reply.
    const CALL_STEP_NS: u64 = 5_000_000_000;
    /// `call`: time for the service to end its side after ours closed.
    const CLOSE_NS: u64 = 1_000_000_000;
    /// `pair`: time for the pairing exchange with the other device.
    const PAIR_NS: u64 = 20_000_000_000;
    /// `pair show`: how long the PIN stays valid.
    const PIN_VALID_MS: u32 = 120_000;
    /// Most pages of `peers`, `trust` (4 entries each) or `kv list` (32
    /// keys each) one command reads: a bound against a server that keeps
    /// answering `more`.
    const MAX_PAGES: usize = 32;

    struct Shell {
        net: Net,
        init: init::Client<Endpoint>,
        bus: bus::Client<Endpoint>,
        kv: kv::Client<Endpoint>,
        /// Input read from the console and not yet fed to the editor
        /// (bytes typed or piped ahead of a running command), at most
        /// [`PENDING_MAX`]; beyond that input waits in the kernel and UART.
        pending: VecDeque<u8>,
    }

    /// Bound on input held ahead of the editor.
    const PENDING_MAX: usize = 4096;

    fn write(bytes: &[u8]) {
        for chunk in bytes.chunks(4096) {
            let _ = sys::console_write(chunk);
        }
    }

    impl Shell {
        /// A facade request, retried once on a fresh session if netstackd
        /// restarted since the last one.
        fn net<R>(
            &mut self,
            mut f: impl FnMut(&mut Net) -> Result<R, NetError>,
        ) -> Result<R, NetError> {
            match f(&mut self.net) {
                Err(NetError::ServerRestarted) => {
                    self.net.reset_session();
                    f(&mut self.net)
                }
                r => r,
            }
        }

        /// Reads console input into `pending` (one `ConsoleRead`, until
        /// `deadline_ns`; 0 waits for input, 1 only takes what is there).
        fn pull(&mut self, deadline_ns: u64) -> Result<(), Error> {
            let room = PENDING_MAX.saturating_sub(self.pending.len()).min(256);
            if room == 0 {
                return Ok(());
            }
            let mut buf = [0u8; 256];
            let n = sys::console_read(slot::CONSOLE, &mut buf[..room], deadline_ns)?;
            self.pending.extend(&buf[..n]);
            Ok(())
        }

        /// True if a Ctrl-C was typed (or piped) after the running command's
        /// line and before the end of any further line (so a Ctrl-C meant
        /// for a later command of a piped script does not stop this one);
        /// that byte is consumed, the rest stays for the editor.
        fn interrupted(&mut self) -> bool {
            while self.pending.len() < PENDING_MAX && self.pull(1).is_ok() {}
            let line_end = self
                .pending
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .unwrap_or(self.pending.len());
            match self.pending.iter().take(line_end).position(|&b| b == 0x03) {
                Some(i) => {
                    self.pending.remove(i);
                    true
                }
                None => false,
            }
        }

        /// Gives DHCP a moment before the first prompt (bounded by
        /// [`NET_WAIT_NS`]), so that commands typed (or piped) at once see
        /// the network configured; says so when it is not.
        fn wait_for_address(&mut self) {
            let deadline = sys::now_ns() + NET_WAIT_NS;
            loop {
                match self.net(|n| n.local_addr()) {
                    Ok(i) if !i.addr.is_unspecified() => return,
                    Ok(_) | Err(NetError::TimedOut) => {}
                    Err(e) => {
                        println!("shell: netstackd is not answering ({:?})", e);
                        return;
                    }
                }
                if sys::now_ns() >= deadline {
                    println!("shell: the network has no address yet (DHCP pending)");
                    return;
                }
                sys::sleep_ms(50);
            }
        }

        fn run(&mut self, line: &str) {
            match command::parse(line) {
                Command::Empty => {}
                Command::Help => print!("{}", command::HELP),
                Command::Ps => self.ps(),
                Command::Ifconfig => self.ifconfig(),
                Command::Ping { addr, count } => self.ping(addr, count),
                Command::Netstat => self.netstat(),
                Command::Log(level) => self.log(level),
                Command::Poweroff => self.poweroff(),
                Command::Peers => self.peers(),
                Command::Sessions => self.sessions(),
                Command::Call {
                    peer,
                    service,
                    text,
                } => self.call(peer, service, text),
                Command::Kv(k) => self.kv(k),
                Command::PairShow => self.pair_show(),
                Command::Pair { peer, pin } => self.pair(peer, pin),
                Command::TrustList => self.trust_list(),
                Command::Grant { peer, services } => self.grant(peer, &services),
                Command::Untrust(peer) => self.untrust(peer),
                Command::Sleep(secs) => self.sleep(secs),
                Command::Usage(u) => println!("{}", u),
                Command::Unknown(c) => println!("{}: unknown command (try `help`)", c),
            }
        }

        fn ps(&mut self) {
            self.init.deadline_ns = sys::now_ns() + INIT_CALL_NS;
            let list = match self.init.list() {
                Ok(l) => l,
                Err(e) => {
                    println!("ps: init did not answer: {:?}", e);
                    return;
                }
            };
            println!(
                "{:<20} {:<28} {:>8} {:>10}",
                "SERVICE", "STATE", "RESTARTS", "MEMORY"
            );
            for e in list.0.iter() {
                println!(
                    "{:<20} {:<28} {:>8} {:>10}",
                    e.name.as_str(),
                    command::state_text(&e.state),
                    e.restarts,
                    alloc::format!("{}", Size(e.pages as u64 * PAGE))
                );
            }
            println!(
                "MEMORY: pages mapped at start (program with its static heap, and stack). \
                 shell heap in use: {}",
                Size(nexus_rt::heap_used() as u64)
            );
        }

        fn ifconfig(&mut self) {
            let iface = match self.net(|n| n.local_addr()) {
                Ok(i) => i,
                Err(e) => {
                    println!("ifconfig: netstackd did not answer: {:?}", e);
                    return;
                }
            };
            let link = self.net(|n| n.link_info());
            match link {
                Ok(l) => println!("eth0: mac {} mtu {}", Mac(l.mac), iface.mtu),
                Err(_) => println!("eth0: mtu {}", iface.mtu),
            }
            if iface.addr.is_unspecified() {
                println!("      no address yet (DHCP pending)");
            } else {
                print!(
                    "      inet {}/{} netmask {} broadcast {}",
                    iface.addr,
                    iface.prefix_len,
                    iface.netmask(),
                    iface.broadcast()
                );
                match iface.gateway {
                    Some(g) => println!(" gateway {}", g),
                    None => println!(),
                }
            }
            match link {
                Ok(l) => match l.source {
                    AddrSource::Dhcp if l.lease_secs > 0 => println!(
                        "      lease dhcp {} (obtained {} ago, {} left)",
                        Secs(l.lease_secs as u64),
                        Secs(l.age_secs as u64),
                        Secs(l.lease_secs.saturating_sub(l.age_secs) as u64)
                    ),
                    AddrSource::Dhcp => println!(
                        "      lease dhcp (duration not reported, obtained {} ago)",
                        Secs(l.age_secs as u64)
                    ),
                    AddrSource::Static => println!("      static address (no lease)"),
                    AddrSource::Fallback => {
                        println!("      fallback address: DHCP did not answer (no lease)")
                    }
                    AddrSource::None => println!("      no lease"),
                },
                Err(e) => println!("      lease: netstackd does not report it ({:?})", e),
            }
        }

        fn ping(&mut self, addr: Ipv4Addr, count: u32) {
            println!("PING {}: {} echo request(s)", addr, count);
            let mut stats = PingStats::default();
            for i in 0..count {
                let seq = (i + 1) as u16;
                let start = sys::now_ns();
                let deadline = start + PING_TIMEOUT_NS;
                match self.net(|n| n.ping(addr, seq, deadline)) {
                    Ok(rtt) => {
                        stats.reply(rtt);
                        println!("reply from {}: seq={} time={} ms", addr, seq, Ms(rtt));
                    }
                    Err(NetError::TimedOut) => {
                        stats.lost();
                        println!("no reply from {}: seq={} (timeout)", addr, seq);
                    }
                    Err(NetError::NotConnected) => {
                        println!("ping: no address yet (DHCP pending)");
                        return;
                    }
                    Err(e) => {
                        stats.lost();
                        println!("ping {}: seq={} failed: {:?}", addr, seq, e);
                    }
                }
                if self.interrupted() {
                    println!("^C");
                    break;
                }
                if i + 1 < count {
                    sys::sleep_until(start + PING_INTERVAL_NS);
                    if self.interrupted() {
                        println!("^C");
                        break;
                    }
                }
            }
            print!("{}", stats.summary(addr));
        }

        fn netstat(&mut self) {
            match self.net(|n| n.stats()) {
                Ok(s) => {
                    println!("netstackd sockets facade:");
                    println!("  clients with handles  {}", s.clients);
                    println!("  open handles          {}", s.handles);
                    println!("  parked requests       {}", s.parked);
                    println!("  backend sockets       {}", s.sockets);
                    println!("  socket buffers        {}", Size(s.buffer_bytes as u64));
                }
                Err(e) => println!("netstat: netstackd did not answer: {:?}", e),
            }
        }

        /// `log [level]`: the system-wide level the kernel holds; setting it
        /// needs the console-input capability (this shell's).
        fn log(&mut self, level: Option<log::LevelFilter>) {
            let before = sys::log_level().ok().and_then(command::level_of);
            match level {
                None => match before {
                    Some(l) => println!("log level: {} (system-wide)", l),
                    None => println!("log: the kernel did not report the level"),
                },
                Some(l) => match sys::set_log_level(slot::CONSOLE, command::level_number(l)) {
                    Ok(now) => match (command::level_of(now), before) {
                        (Some(now), Some(b)) => {
                            println!("log level set to {} for every task (was {})", now, b)
                        }
                        _ => println!("log level set to {} for every task", l),
                    },
                    Err(e) => println!("log: the kernel refused the level: {}", e),
                },
            }
        }

        /// What init says about `name`, for an error message.
        fn service_state(&mut self, name: &str) -> String {
            self.init.deadline_ns = sys::now_ns() + INIT_CALL_NS;
            match self.init.status(name) {
                Ok(st) => alloc::format!("{} is {}", name, command::state_text(&st)),
                Err(init::Error::UnknownService) => {
                    alloc::format!("{} is not in this profile", name)
                }
                Err(e) => alloc::format!("init did not say how {} is ({:?})", name, e),
            }
        }

        /// A `bus` failure: its meaning, and for a dsoftbusd that is gone or
        /// silent, what init knows about it.
        fn bus_fail(&mut self, cmd: &str, e: bus::Error) {
            match e {
                bus::Error::ServerRestarted | bus::Error::TimedOut => {
                    let st = self.service_state("dsoftbusd");
                    println!(
                        "{}: dsoftbusd did not answer: {} ({})",
                        cmd,
                        command::bus_error_text(e),
                        st
                    );
                }
                e => println!("{}: {}", cmd, command::bus_error_text(e)),
            }
        }

        fn kv_fail(&mut self, cmd: &str, e: kv::Error) {
            match e {
                kv::Error::ServerRestarted | kv::Error::TimedOut => {
                    let st = self.service_state("storaged");
                    println!(
                        "{}: storaged did not answer: {} ({})",
                        cmd,
                        command::kv_error_text(e),
                        st
                    );
                }
                e => println!("{}: {}", cmd, command::kv_error_text(e)),
            }
        }

        fn bus_call<R>(
            &mut self,
            deadline: u64,
            f: impl FnOnce(&mut bus::Client<Endpoint>) -> Result<R, bus::Error>,
        ) -> Result<R, bus::Error> {
            self.bus.deadline_ns = deadline;
            f(&mut self.bus)
        }

        /// Every item of a paged `bus` list (4 per page, after the key of the
        /// last one), bounded by [`MAX_PAGES`] pages.
        fn all_pages<T>(
            &mut self,
            page: impl Fn(&mut bus::Client<Endpoint>, &str) -> Result<nexus_idl::List<T, 4>, bus::Error>,
            key: impl Fn(&T) -> &heapless::String<64>,
        ) -> Result<Vec<T>, bus::Error> {
            let mut out: Vec<T> = Vec::new();
            let mut after = heapless::String::<64>::new();
            for _ in 0..MAX_PAGES {
                let list = self.bus_call(sys::now_ns() + SVC_CALL_NS, |b| page(b, &after))?;
                let full = list.0.len() == 4;
                let next = list.0.last().map(|t| key(t).clone());
                out.extend(list.0);
                match next {
                    Some(k) if full && k > after => after = k,
                    _ => break,
                }
            }
            Ok(out)
        }

        /// Every live peer.
        fn all_peers(&mut self) -> Result<Vec<bus::Peer>, bus::Error> {
            self.all_pages(|b, after| b.peers(after), |p| &p.device_id)
        }

        /// Every trust store entry.
        fn all_trusted(&mut self) -> Result<Vec<bus::Trusted>, bus::Error> {
            self.all_pages(|b, after| b.trusted(after), |t| &t.device_id)
        }

        /// Every live session.
        fn all_sessions(&mut self) -> Result<Vec<bus::Session>, bus::Error> {
            self.all_pages(|b, after| b.sessions(after), |s| &s.peer)
        }

        fn peers(&mut self) {
            let peers = match self.all_peers() {
                Ok(p) => p,
                Err(e) => return self.bus_fail("peers", e),
            };
            if peers.is_empty() {
                println!("peers: none discovered (no other device announced itself)");
                return;
            }
            let trusted = self.all_trusted();
            println!(
                "{:<34} {:<20} {:<15} {:<6} {:<7} SERVICES",
                "DEVICE ID", "NAME", "ADDRESS", "ONLINE", "TRUSTED"
            );
            for p in &peers {
                let trust = match &trusted {
                    Ok(t) if t.iter().any(|t| t.device_id == p.device_id) => "yes",
                    Ok(_) => "no",
                    Err(_) => "?",
                };
                let mut services = String::new();
                for (i, s) in p.services.0.iter().enumerate() {
                    if i > 0 {
                        services.push(',');
                    }
                    services.push_str(&alloc::format!("{}", Escaped(s.as_bytes())));
                }
                println!(
                    "{:<34} {:<20} {:<15} {:<6} {:<7} {}",
                    alloc::format!("{}", Escaped(p.device_id.as_bytes())),
                    alloc::format!("{}", Escaped(p.display_name.as_bytes())),
                    alloc::format!("{}", Ipv4Addr::from(p.addr)),
                    if p.online { "yes" } else { "no" },
                    trust,
                    if services.is_empty() { "-" } else { &services }
                );
            }
            if let Err(e) = trusted {
                println!("TRUSTED ?: trust store {}", command::bus_error_text(e));
            }
        }

        fn sessions(&mut self) {
            let st = match self.bus_call(sys::now_ns() + SVC_CALL_NS, |b| b.stats()) {
                Ok(s) => s,
                Err(e) => return self.bus_fail("sessions", e),
            };
            println!("sessions: {} authenticated (dsoftbusd)", st.sessions);
            println!(
                "  buffered  {} in session queues and stream buffers (at most {})",
                Size(st.buffered as u64),
                Size(st.bound as u64)
            );
            let list = match self.all_sessions() {
                Ok(l) => l,
                Err(e) => return self.bus_fail("sessions", e),
            };
            if list.is_empty() {
                println!("  no session with any peer");
                return;
            }
            println!(
                "  {:<32} {:<15} {:>4} {:>7} {:>10} {:>10} {:>9}",
                "PEER", "ADDRESS", "DIR", "STREAMS", "IN", "OUT", "UP"
            );
            for s in list.iter() {
                println!(
                    "  {:<32} {:<15} {:>4} {:>7} {:>10} {:>10} {:>8}s",
                    alloc::format!("{}", Escaped(s.peer.as_bytes())),
                    alloc::format!("{}", Ipv4Addr::from(s.addr)),
                    if s.initiated { "out" } else { "in" },
                    s.streams,
                    alloc::format!("{}", Size(s.bytes_in)),
                    alloc::format!("{}", Size(s.bytes_out)),
                    s.up_ms / 1000
                );
            }
        }

        /// `call`: open a message stream, send `text`, print the reply and
        /// its round-trip time, close. Each step has a deadline; a stream
        /// left by a failure is reset.
        fn call(&mut self, peer: &str, service: &str, text: &str) {
            // `.` is this device: a local stream to another application here.
            let (peer, target) = match peer {
                "." => ("this device", ""),
                p => (p, p),
            };
            let t0 = sys::now_ns();
            let open_by = t0 + CALL_STEP_NS;
            let h = match self.bus_call(open_by + INIT_CALL_NS, |b| {
                b.open(
                    target,
                    service,
                    bus::Mode::Message,
                    bus::Priority::Interactive,
                    open_by,
                )
            }) {
                Ok(h) => h,
                Err(bus::Error::TimedOut) if sys::now_ns() < open_by + INIT_CALL_NS => {
                    return println!(
                        "call: {} on {}: timed out (the peer did not answer the open in {} s)",
                        Escaped(service.as_bytes()),
                        Escaped(peer.as_bytes()),
                        CALL_STEP_NS / 1_000_000_000
                    );
                }
                Err(e) => {
                    let what = alloc::format!(
                        "call: {} on {}",
                        Escaped(service.as_bytes()),
                        Escaped(peer.as_bytes())
                    );
                    return self.bus_fail(&what, e);
                }
            };
            let opened = sys::now_ns();
            println!(
                "call: stream {} open to {} on {} in {} ms",
                h,
                Escaped(service.as_bytes()),
                Escaped(peer.as_bytes()),
                Ms(opened - t0)
            );
            let reply_by = opened + CALL_STEP_NS;
            let sent = self.bus_call(reply_by + INIT_CALL_NS, |b| {
                b.send(h, text.as_bytes(), reply_by)
            });
            let r = match sent {
                Ok(_) => self.bus_call(reply_by + INIT_CALL_NS, |b| {
                    b.recv(h, bus::REPLY_MAX as u16, reply_by)
                }),
                Err(e) => Err(e),
            };
            let rtt = sys::now_ns() - opened;
            match r {
                Ok(v) if v.is_empty() => {
                    println!("call: the service closed the stream without a reply")
                }
                Ok(v) => println!(
                    "reply ({} bytes) in {} ms: {}",
                    v.len(),
                    Ms(rtt),
                    Escaped(&v)
                ),
                Err(bus::Error::TimedOut) if sys::now_ns() < reply_by + INIT_CALL_NS => println!(
                    "call: timed out (no reply within {} s)",
                    CALL_STEP_NS / 1_000_000_000
                ),
                Err(e) => self.bus_fail("call", e),
            }
            // Graceful close; the handle is freed once the service's end of
            // the stream is seen (bounded), else reset frees it.
            let by = sys::now_ns() + CLOSE_NS;
            let ended = match self.bus_call(by + INIT_CALL_NS, |b| b.close(h)) {
                Ok(()) => matches!(
                    self.bus_call(by + INIT_CALL_NS, |b| b.recv(h, 1, by)),
                    Ok(v) if v.is_empty()
                ),
                Err(bus::Error::UnknownHandle) => true,
                Err(_) => false,
            };
            if !ended {
                let _ = self.bus_call(sys::now_ns() + SVC_CALL_NS, |b| b.reset(h));
            }
        }

        fn kv(&mut self, k: Kv<'_>) {
            self.kv.deadline_ns = sys::now_ns() + SVC_CALL_NS;
            match k {
                Kv::Get(key) => match self.kv.get(key.as_bytes()) {
                    Ok(v) => println!("{} = {}", Escaped(key.as_bytes()), Escaped(&v)),
                    Err(kv::Error::NotFound) => {
                        println!("kv get: no value under {}", Escaped(key.as_bytes()))
                    }
                    Err(e) => self.kv_fail("kv get", e),
                },
                Kv::Put(key, value) => match self.kv.put(key.as_bytes(), value.as_bytes()) {
                    Ok(()) => println!(
                        "kv put: {} stored ({} bytes, on the disk)",
                        Escaped(key.as_bytes()),
                        value.len()
                    ),
                    Err(e) => self.kv_fail("kv put", e),
                },
                Kv::Del(key) => match self.kv.delete(key.as_bytes()) {
                    Ok(()) => println!("kv del: {} removed", Escaped(key.as_bytes())),
                    Err(kv::Error::NotFound) => {
                        println!("kv del: no value under {}", Escaped(key.as_bytes()))
                    }
                    Err(e) => self.kv_fail("kv del", e),
                },
                Kv::List => self.kv_list(),
            }
        }

        fn kv_list(&mut self) {
            let mut after: Vec<u8> = Vec::new();
            let mut n = 0usize;
            for _ in 0..MAX_PAGES {
                self.kv.deadline_ns = sys::now_ns() + SVC_CALL_NS;
                let page = match self.kv.list(&after) {
                    Ok(p) => p,
                    Err(e) => return self.kv_fail("kv list", e),
                };
                for key in page.keys.0.iter() {
                    println!("  {}", Escaped(key));
                    n += 1;
                }
                match page.keys.0.last() {
                    Some(last) if page.more && last.as_slice() > after.as_slice() => {
                        after = last.to_vec()
                    }
                    _ => break,
                }
            }
            println!("kv list: {} key(s) in the shell's namespace", n);
        }

        fn pair_show(&mut self) {
            match self.bus_call(sys::now_ns() + SVC_CALL_NS, |b| b.show_pin(PIN_VALID_MS)) {
                Ok(pin) => println!(
                    "pair: PIN {:06} (valid {} s, one pairing): on the other device enter \
                     `pair <this device's id> {:06}`",
                    pin,
                    PIN_VALID_MS / 1000,
                    pin
                ),
                Err(e) => self.bus_fail("pair", e),
            }
        }

        fn pair(&mut self, peer: &str, pin: u32) {
            let by = sys::now_ns() + PAIR_NS;
            match self.bus_call(by + INIT_CALL_NS, |b| b.pair(peer, pin, by)) {
                Ok(()) => println!(
                    "pair: paired with {}; it is in the trust store",
                    Escaped(peer.as_bytes())
                ),
                Err(bus::Error::TimedOut) if sys::now_ns() < by + INIT_CALL_NS => println!(
                    "pair: timed out (the pairing did not finish in {} s)",
                    PAIR_NS / 1_000_000_000
                ),
                Err(e) => self.bus_fail("pair", e),
            }
        }

        fn trust_list(&mut self) {
            let list = match self.all_trusted() {
                Ok(l) => l,
                Err(e) => return self.bus_fail("trust", e),
            };
            if list.is_empty() {
                println!("trust: the trust store is empty");
                return;
            }
            println!(
                "{:<34} {:<20} {:<11} {:<16} SERVICES",
                "DEVICE ID", "NAME", "ORIGIN", "ADDED"
            );
            for t in &list {
                let mut services = String::new();
                for (i, s) in t.services.0.iter().enumerate() {
                    if i > 0 {
                        services.push(',');
                    }
                    services.push_str(&alloc::format!("{}", Escaped(s.as_bytes())));
                }
                println!(
                    "{:<34} {:<20} {:<11} {:<16} {}",
                    alloc::format!("{}", Escaped(t.device_id.as_bytes())),
                    alloc::format!("{}", Escaped(t.name.as_bytes())),
                    command::origin_text(&t.origin),
                    alloc::format!("boot {} +{}s", t.added_boot, t.added_ms / 1000),
                    if services.is_empty() { "-" } else { &services }
                );
            }
        }

        fn grant(&mut self, peer: &str, services: &[&str]) {
            let mut list: List<heapless::String<64>, 8> = List(heapless::Vec::new());
            for s in services {
                // Bounded by the parser: at most 8 names of 1..=64 bytes.
                let Ok(name) = heapless::String::try_from(*s) else {
                    return println!("trust: service name too long");
                };
                if list.0.push(name).is_err() {
                    return println!("trust: at most 8 services");
                }
            }
            match self.bus_call(sys::now_ns() + SVC_CALL_NS, |b| b.grant(peer, list)) {
                Ok(()) => println!(
                    "trust: {} may open {} service(s) of this device",
                    Escaped(peer.as_bytes()),
                    services.len()
                ),
                Err(e) => self.bus_fail("trust", e),
            }
        }

        fn untrust(&mut self, peer: &str) {
            match self.bus_call(sys::now_ns() + SVC_CALL_NS, |b| b.untrust(peer)) {
                Ok(()) => println!(
                    "untrust: {} removed from the trust store (its sessions closed)",
                    Escaped(peer.as_bytes())
                ),
                Err(e) => self.bus_fail("untrust", e),
            }
        }

        fn sleep(&mut self, secs: u32) {
            let end = sys::now_ns() + u64::from(secs) * 1_000_000_000;
            loop {
                let now = sys::now_ns();
                if now >= end {
                    return;
                }
                sys::sleep_until(end.min(now + 100_000_000));
                if self.interrupted() {
                    println!("^C");
                    return;
                }
            }
        }

        fn poweroff(&mut self) {
            println!("shell: powering off");
            self.init.deadline_ns = sys::now_ns() + INIT_CALL_NS;
            // Allowed, init stops every task, this one included: no reply.
            match self.init.poweroff() {
                Err(init::Error::Denied) => {
                    println!("poweroff: init refused (this shell may not power off)")
                }
                Ok(()) => println!("poweroff: init answered instead of powering off"),
                Err(e) => println!("poweroff: init did not answer: {:?}", e),
            }
        }
    }

    pub fn main(_arg: u64) -> i32 {
        nexus_rt::console::init_logger();
        let mut sh = Shell {
            net: NetClient::new(Transport),
            init: init_client(slot::INIT),
            bus: bus::Client::new(Endpoint(slot::BUS)),
            kv: kv::Client::new(Endpoint(slot::KV)),
            pending: VecDeque::new(),
        };
        let mut ed = Editor::new();
        let mut out: Vec<u8> = Vec::with_capacity(256);
        sh.wait_for_address();
        println!("shell: ready (type `help`)");
        print!("{}", PROMPT);
        loop {
            if sh.pending.is_empty() {
                match sh.pull(0) {
                    Ok(()) | Err(Error::TimedOut) => {}
                    Err(e) => {
                        println!("shell: cannot read the console: {}", e);
                        return 2;
                    }
                }
            }
            while let Some(b) = sh.pending.pop_front() {
                out.clear();
                let action = ed.feed(b, &mut out);
                write(&out);
                match action {
                    Some(Action::Line(line)) => {
                        sh.run(&line);
                        print!("{}", PROMPT);
                    }
                    Some(Action::Cancel) => print!("{}", PROMPT),
                    None => {}
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(app::main, heap = 256 * 1024);
