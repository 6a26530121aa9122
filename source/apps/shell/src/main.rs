//! shell: the console shell of the `user` profile.
//!
//! It reads the UART through `ConsoleRead` (it holds the console-input
//! capability, the only task that does), edits lines (`shell::editor`), and
//! runs commands as a normal client of init (`init` interface: `ps`,
//! `poweroff`) and of netstackd (sockets facade: `ifconfig`, `ping`,
//! `netstat`). It has no unsafe code of its own; the runtime's entry macro
//! is the only `unsafe` in the binary. See `docs/shell.md`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod app {
    extern crate alloc;

    use alloc::collections::VecDeque;
    use alloc::vec::Vec;
    use core::net::Ipv4Addr;

    use nexus_abi::Error;
    use nexus_interfaces::init;
    use nexus_net::{AddrSource, NetClient, NetError};
    use nexus_net_ipc::map_ipc_error;
    use nexus_rt::ipc::{init_client, Endpoint};
    use nexus_rt::{print, println, sys};
    use nexus_slots::shell as slot;
    use shell::command::{self, Command, Mac, Ms, PingStats, Secs, Size};
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

    struct Shell {
        net: Net,
        init: init::Client<Endpoint>,
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
                Command::Log(None) => println!("log level (shell): {}", log::max_level()),
                Command::Log(Some(level)) => {
                    log::set_max_level(level);
                    println!(
                        "log level (shell) set to {}; every service keeps its own level",
                        level
                    );
                }
                Command::Poweroff => self.poweroff(),
                Command::Unavailable(cmd, what) => println!(
                    "{}: {} is not available in this image (the user profile does not run it)",
                    cmd, what
                ),
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
