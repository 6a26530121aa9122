//! Command parsing and the text the shell prints (pure, host-tested).

use alloc::string::String;
use core::fmt::Write as _;
use core::net::Ipv4Addr;
use nexus_interfaces::init::ServiceState;

/// Most echo requests one `ping` sends.
pub const PING_MAX_COUNT: u32 = 100;
/// Echo requests `ping` sends without `-c`.
pub const PING_DEFAULT_COUNT: u32 = 4;

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Blank line.
    Empty,
    /// `help`.
    Help,
    /// `ps`.
    Ps,
    /// `ifconfig`.
    Ifconfig,
    /// `ping <ip> [-c n]`.
    Ping {
        /// Destination.
        addr: Ipv4Addr,
        /// Echo requests to send.
        count: u32,
    },
    /// `netstat`.
    Netstat,
    /// `log [level]`: show or set the shell's log level.
    Log(Option<log::LevelFilter>),
    /// `poweroff`.
    Poweroff,
    /// A command of a service this image does not run: (command, service).
    Unavailable(&'a str, &'static str),
    /// Wrong arguments: the usage line.
    Usage(&'static str),
    /// Not a command.
    Unknown(&'a str),
}

/// `help` text: one line per command.
pub const HELP: &str = "\
commands:
  help                     this list
  ps                       services: state, restarts, memory
  ifconfig                 interface: address, prefix, gateway, MAC, lease
  ping <ip> [-c n]         ICMP echo with round-trip statistics (n <= 100)
  netstat                  sockets held by netstackd
  log [error|warn|info|debug|trace|off]  show or set the shell's log level
  poweroff                 stop every service and power the machine off
  peers, sessions, pair, trust, untrust, call, kv
                           need services this image does not run (they say so)
editing: left/right, home/end, backspace, delete, Ctrl-U erase, Ctrl-C cancel,
         up/down history
";

const PING_USAGE: &str = "usage: ping <ipv4> [-c count]  (count 1..=100)";
const LOG_USAGE: &str = "usage: log [error|warn|info|debug|trace|off]";

/// Parses one line.
pub fn parse(line: &str) -> Command<'_> {
    let mut words = line.split_ascii_whitespace();
    let Some(cmd) = words.next() else {
        return Command::Empty;
    };
    let rest: alloc::vec::Vec<&str> = words.collect();
    let none = rest.is_empty();
    match cmd {
        "help" | "?" => Command::Help,
        "ps" if none => Command::Ps,
        "ifconfig" if none => Command::Ifconfig,
        "netstat" if none => Command::Netstat,
        "poweroff" if none => Command::Poweroff,
        "ps" | "ifconfig" | "netstat" | "poweroff" => {
            Command::Usage("this command takes no arguments")
        }
        "ping" => parse_ping(&rest),
        "log" => match rest.as_slice() {
            [] => Command::Log(None),
            [level] => match level.parse::<log::LevelFilter>() {
                Ok(l) => Command::Log(Some(l)),
                Err(_) => Command::Usage(LOG_USAGE),
            },
            _ => Command::Usage(LOG_USAGE),
        },
        "peers" | "sessions" | "pair" | "trust" | "untrust" | "call" => {
            Command::Unavailable(cmd, "the DSoftBus service (dsoftbusd)")
        }
        "kv" => Command::Unavailable(cmd, "the key-value store"),
        other => Command::Unknown(other),
    }
}

fn parse_ping(args: &[&str]) -> Command<'static> {
    let mut addr = None;
    let mut count = PING_DEFAULT_COUNT;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-c" => {
                let Some(n) = args.get(i + 1).and_then(|s| s.parse::<u32>().ok()) else {
                    return Command::Usage(PING_USAGE);
                };
                if n == 0 || n > PING_MAX_COUNT {
                    return Command::Usage(PING_USAGE);
                }
                count = n;
                i += 2;
            }
            a if addr.is_none() => match a.parse::<Ipv4Addr>() {
                Ok(ip) => {
                    addr = Some(ip);
                    i += 1;
                }
                Err(_) => return Command::Usage(PING_USAGE),
            },
            _ => return Command::Usage(PING_USAGE),
        }
    }
    match addr {
        Some(addr) => Command::Ping { addr, count },
        None => Command::Usage(PING_USAGE),
    }
}

/// Round-trip statistics of one `ping`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PingStats {
    /// Requests sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
    min_ns: u64,
    max_ns: u64,
    sum_ns: u64,
}

impl PingStats {
    /// Records a request that got no reply.
    pub fn lost(&mut self) {
        self.sent += 1;
    }

    /// Records a reply after `rtt_ns`.
    pub fn reply(&mut self, rtt_ns: u64) {
        if self.received == 0 || rtt_ns < self.min_ns {
            self.min_ns = rtt_ns;
        }
        self.max_ns = self.max_ns.max(rtt_ns);
        self.sum_ns = self.sum_ns.saturating_add(rtt_ns);
        self.sent += 1;
        self.received += 1;
    }

    /// The summary lines, as `ping` prints them.
    pub fn summary(&self, addr: Ipv4Addr) -> String {
        let mut s = String::new();
        let loss = ((self.sent - self.received) * 100)
            .checked_div(self.sent)
            .unwrap_or(0);
        let _ = writeln!(s, "--- {} ping statistics ---", addr);
        let _ = writeln!(
            s,
            "{} packets transmitted, {} received, {}% packet loss",
            self.sent, self.received, loss
        );
        if self.received > 0 {
            let avg = self.sum_ns / self.received as u64;
            let _ = writeln!(
                s,
                "rtt min/avg/max = {}/{}/{} ms",
                Ms(self.min_ns),
                Ms(avg),
                Ms(self.max_ns)
            );
        }
        s
    }
}

/// Nanoseconds shown as milliseconds with three decimals.
#[derive(Copy, Clone, Debug)]
pub struct Ms(pub u64);

impl core::fmt::Display for Ms {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let us = self.0 / 1000;
        write!(f, "{}.{:03}", us / 1000, us % 1000)
    }
}

/// Bytes shown in KiB or MiB (one decimal).
#[derive(Copy, Clone, Debug)]
pub struct Size(pub u64);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = self.0;
        if b >= 1024 * 1024 {
            let tenths = b * 10 / (1024 * 1024);
            write!(f, "{}.{} MiB", tenths / 10, tenths % 10)
        } else if b >= 1024 {
            write!(f, "{} KiB", b / 1024)
        } else {
            write!(f, "{} B", b)
        }
    }
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`.
#[derive(Copy, Clone, Debug)]
pub struct Mac(pub [u8; 6]);

impl core::fmt::Display for Mac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// A duration in seconds as `1d2h3m4s` (leading zero units left out).
#[derive(Copy, Clone, Debug)]
pub struct Secs(pub u64);

impl core::fmt::Display for Secs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.0;
        let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
        if d > 0 {
            write!(f, "{}d", d)?;
        }
        if d > 0 || h > 0 {
            write!(f, "{}h", h)?;
        }
        if d > 0 || h > 0 || m > 0 {
            write!(f, "{}m", m)?;
        }
        write!(f, "{}s", sec)
    }
}

/// The state column of `ps`.
pub fn state_text(s: &ServiceState) -> String {
    let mut t = String::new();
    let _ = match *s {
        ServiceState::Running => write!(t, "running"),
        ServiceState::Exited { code } => write!(t, "exited({})", code as i64),
        ServiceState::Faulted { cause: 0, addr: 0 } => write!(t, "killed"),
        ServiceState::Faulted { cause, .. } => {
            write!(t, "faulted({})", nexus_abi::cause_name(cause))
        }
    };
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command_and_refuses_bad_arguments() {
        assert_eq!(parse("   "), Command::Empty);
        assert_eq!(parse("help"), Command::Help);
        assert_eq!(parse(" ps "), Command::Ps);
        assert_eq!(parse("ifconfig"), Command::Ifconfig);
        assert_eq!(parse("netstat"), Command::Netstat);
        assert_eq!(parse("poweroff"), Command::Poweroff);
        assert!(matches!(parse("ps -a"), Command::Usage(_)));
        assert_eq!(
            parse("ping 10.0.2.2 -c 3"),
            Command::Ping {
                addr: Ipv4Addr::new(10, 0, 2, 2),
                count: 3
            }
        );
        assert_eq!(
            parse("ping -c 2 10.0.2.2"),
            Command::Ping {
                addr: Ipv4Addr::new(10, 0, 2, 2),
                count: 2
            }
        );
        assert_eq!(
            parse("ping 1.2.3.4"),
            Command::Ping {
                addr: Ipv4Addr::new(1, 2, 3, 4),
                count: PING_DEFAULT_COUNT
            }
        );
        for bad in [
            "ping",
            "ping 10.0.2",
            "ping 10.0.2.2 -c",
            "ping 10.0.2.2 -c 0",
            "ping 10.0.2.2 -c 101",
            "ping 10.0.2.2 -c x",
            "ping 10.0.2.2 10.0.2.3",
            "ping 10.0.2.2 -x",
        ] {
            assert!(matches!(parse(bad), Command::Usage(_)), "{bad}");
        }
        assert_eq!(parse("log"), Command::Log(None));
        assert_eq!(
            parse("log debug"),
            Command::Log(Some(log::LevelFilter::Debug))
        );
        assert!(matches!(parse("log loud"), Command::Usage(_)));
        assert!(matches!(parse("log info x"), Command::Usage(_)));
        assert!(matches!(parse("peers"), Command::Unavailable("peers", _)));
        assert!(matches!(parse("kv get x"), Command::Unavailable("kv", _)));
        assert!(matches!(
            parse("call a b c"),
            Command::Unavailable("call", _)
        ));
        assert_eq!(parse("rm -rf /"), Command::Unknown("rm"));
    }

    #[test]
    fn help_names_every_command() {
        for c in [
            "help", "ps", "ifconfig", "ping", "netstat", "log", "poweroff", "peers", "kv",
        ] {
            assert!(HELP.contains(c), "{c}");
        }
    }

    #[test]
    fn ping_statistics() {
        let mut s = PingStats::default();
        s.reply(1_500_000);
        s.reply(500_000);
        s.lost();
        s.reply(1_000_000);
        let text = s.summary(Ipv4Addr::new(10, 0, 2, 2));
        assert!(text.contains("--- 10.0.2.2 ping statistics ---"));
        assert!(text.contains("4 packets transmitted, 3 received, 25% packet loss"));
        assert!(
            text.contains("rtt min/avg/max = 0.500/1.000/1.500 ms"),
            "{text}"
        );
        let none = PingStats {
            sent: 2,
            ..Default::default()
        };
        let text = none.summary(Ipv4Addr::new(1, 1, 1, 1));
        assert!(text.contains("2 packets transmitted, 0 received, 100% packet loss"));
        assert!(!text.contains("rtt"));
    }

    #[test]
    fn units() {
        assert_eq!(alloc::format!("{}", Ms(1_234_567)), "1.234");
        assert_eq!(alloc::format!("{}", Ms(999)), "0.000");
        assert_eq!(alloc::format!("{}", Size(512)), "512 B");
        assert_eq!(alloc::format!("{}", Size(300 * 1024)), "300 KiB");
        assert_eq!(
            alloc::format!("{}", Size(9 * 1024 * 1024 + 200 * 1024)),
            "9.1 MiB"
        );
        assert_eq!(
            alloc::format!("{}", Mac([2, 0, 0, 0, 0, 0xab])),
            "02:00:00:00:00:ab"
        );
        assert_eq!(alloc::format!("{}", Secs(86400)), "1d0h0m0s");
        assert_eq!(alloc::format!("{}", Secs(3725)), "1h2m5s");
        assert_eq!(alloc::format!("{}", Secs(7)), "7s");
        assert_eq!(state_text(&ServiceState::Running), "running");
        assert_eq!(
            state_text(&ServiceState::Faulted { cause: 0, addr: 0 }),
            "killed"
        );
        assert_eq!(
            state_text(&ServiceState::Faulted { cause: 15, addr: 8 }),
            "faulted(store-page-fault)"
        );
        assert_eq!(
            state_text(&ServiceState::Exited { code: u64::MAX }),
            "exited(-1)"
        );
    }
}
