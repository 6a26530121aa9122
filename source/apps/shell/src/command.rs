//! Command parsing and the text the shell prints (pure, host-tested).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::net::Ipv4Addr;
use nexus_interfaces::init::ServiceState;
use nexus_interfaces::{bus, kv};

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
    /// `log [level]`: show or set the system-wide log level.
    Log(Option<log::LevelFilter>),
    /// `poweroff`.
    Poweroff,
    /// `peers`: the bus's peers.
    Peers,
    /// `sessions`: dsoftbusd's sessions, their streams and bytes.
    Sessions,
    /// `call <peer> <service> [text]`: one message and its reply.
    Call {
        /// Device id of the peer (`.`: this device).
        peer: &'a str,
        /// Service name on it.
        service: &'a str,
        /// The message ([`CALL_DEFAULT_TEXT`] when none is given).
        text: &'a str,
    },
    /// `kv get|put|list|del`.
    Kv(Kv<'a>),
    /// `pair <id> <pin>`.
    Pair {
        /// Device id of the peer showing the PIN.
        peer: &'a str,
        /// The PIN it shows.
        pin: u32,
    },
    /// `pair show`: a PIN for the other device to enter.
    PairShow,
    /// `trust`: the trust store.
    TrustList,
    /// `trust <id> <service>...`: the services of ours a trusted device may open.
    Grant {
        /// Device id.
        peer: &'a str,
        /// Service names (at most [`GRANT_MAX`]).
        services: Vec<&'a str>,
    },
    /// `untrust <id>`.
    Untrust(&'a str),
    /// `sleep <seconds>`: wait (Ctrl-C stops it); scripts use it to let the
    /// system idle.
    Sleep(u32),
    /// Wrong arguments: the usage line.
    Usage(&'static str),
    /// Not a command.
    Unknown(&'a str),
}

/// A `kv` subcommand (the shell's own namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kv<'a> {
    /// `kv get <key>`.
    Get(&'a str),
    /// `kv put <key> <value>` (the value is the rest of the line).
    Put(&'a str, &'a str),
    /// `kv list`.
    List,
    /// `kv del <key>`.
    Del(&'a str),
}

/// Longest device id, service name or display name (`str<64>` in `bus`).
pub const NAME_MAX: usize = 64;
/// Most services one `trust <id> <service>...` grants (`list<str<64>, 8>`).
pub const GRANT_MAX: usize = 8;
/// Longest `kv` key.
pub const KEY_MAX: usize = 64;
/// Longest `kv` value.
pub const VALUE_MAX: usize = 1024;
/// Longest `call` message (a bus message is 1..=8000 bytes; a line is shorter).
pub const CALL_TEXT_MAX: usize = 8000;
/// What `call` sends when no text is given.
pub const CALL_DEFAULT_TEXT: &str = "hello";
/// Largest PIN (6 digits).
pub const PIN_MAX: u32 = 999_999;

/// `help` text: one line per command.
pub const HELP: &str = "\
commands:
  help                     this list
  ps                       services: state, restarts, memory
  ifconfig                 interface: address, prefix, gateway, MAC, lease
  ping <ip> [-c n]         ICMP echo with round-trip statistics (n <= 100)
  netstat                  sockets held by netstackd
  peers                    bus peers: id, name, address, online, services, trust
  sessions                 dsoftbusd's sessions: peer, streams, bytes each way
  call <peer> <service> [text]  send one message on a new stream, print the reply
                           (peer `.`: an application on this device)
  kv get <key> | put <key> <value> | list | del <key>
                           the shell's own keys in storaged (kept on the disk)
  pair show                show a PIN for the other device to enter
  pair <id> <pin>          pair with a device showing a PIN
  trust                    the trust store
  trust <id> <service>...  let a trusted device open these services of ours
  untrust <id>             remove a device from the trust store
  log [error|warn|info|debug|trace|off]  show or set the system-wide log level
  sleep <seconds>          wait (1..=3600 s; Ctrl-C stops it)
  poweroff                 stop every service and power the machine off
editing: left/right, home/end, backspace, delete, Ctrl-U erase, Ctrl-C cancel,
         up/down history
";

const PING_USAGE: &str = "usage: ping <ipv4> [-c count]  (count 1..=100)";
const LOG_USAGE: &str = "usage: log [error|warn|info|debug|trace|off]";
const CALL_USAGE: &str = "usage: call <peer id> <service> [text]  (names 1..=64 bytes)";
const KV_USAGE: &str =
    "usage: kv get <key> | kv put <key> <value> | kv list | kv del <key>  (key 1..=64 bytes, value up to 1024)";
const PAIR_USAGE: &str = "usage: pair show | pair <peer id> <pin>  (pin: 6 digits)";
const TRUST_USAGE: &str = "usage: trust | trust <peer id> <service>...  (at most 8 services)";
const UNTRUST_USAGE: &str = "usage: untrust <peer id>";
const SLEEP_USAGE: &str = "usage: sleep <seconds>  (1..=3600)";
/// Longest `sleep`.
pub const SLEEP_MAX_S: u32 = 3600;

/// The text of `line` after its first `n` words (leading blanks removed,
/// inner blanks kept).
fn rest_after(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start_matches(|c: char| c.is_ascii_whitespace());
    for _ in 0..n {
        let end = rest
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        rest = rest[end..].trim_start_matches(|c: char| c.is_ascii_whitespace());
    }
    rest.trim_end_matches(|c: char| c.is_ascii_whitespace())
}

fn name_ok(s: &str) -> bool {
    (1..=NAME_MAX).contains(&s.len())
}

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
        "peers" if none => Command::Peers,
        "sessions" if none => Command::Sessions,
        "peers" | "sessions" => Command::Usage("this command takes no arguments"),
        "call" => match rest.as_slice() {
            [peer, service, ..] if name_ok(peer) && name_ok(service) => {
                let text = rest_after(line, 3);
                let text = if text.is_empty() {
                    CALL_DEFAULT_TEXT
                } else {
                    text
                };
                if text.len() > CALL_TEXT_MAX {
                    return Command::Usage(CALL_USAGE);
                }
                Command::Call {
                    peer,
                    service,
                    text,
                }
            }
            _ => Command::Usage(CALL_USAGE),
        },
        "kv" => parse_kv(line, &rest),
        "pair" => match rest.as_slice() {
            ["show"] => Command::PairShow,
            [peer, pin] if name_ok(peer) => match parse_pin(pin) {
                Some(pin) => Command::Pair { peer, pin },
                None => Command::Usage(PAIR_USAGE),
            },
            _ => Command::Usage(PAIR_USAGE),
        },
        "trust" => match rest.as_slice() {
            [] => Command::TrustList,
            [peer, services @ ..]
                if name_ok(peer)
                    && !services.is_empty()
                    && services.len() <= GRANT_MAX
                    && services.iter().all(|s| name_ok(s)) =>
            {
                Command::Grant {
                    peer,
                    services: services.to_vec(),
                }
            }
            _ => Command::Usage(TRUST_USAGE),
        },
        "untrust" => match rest.as_slice() {
            [peer] if name_ok(peer) => Command::Untrust(peer),
            _ => Command::Usage(UNTRUST_USAGE),
        },
        "sleep" => match rest.as_slice() {
            [n] => match n.parse::<u32>() {
                Ok(n) if (1..=SLEEP_MAX_S).contains(&n) => Command::Sleep(n),
                _ => Command::Usage(SLEEP_USAGE),
            },
            _ => Command::Usage(SLEEP_USAGE),
        },
        other => Command::Unknown(other),
    }
}

fn parse_kv<'a>(line: &'a str, args: &[&'a str]) -> Command<'a> {
    let key_ok = |k: &str| (1..=KEY_MAX).contains(&k.len());
    let kv = match args {
        ["get", key] if key_ok(key) => Kv::Get(key),
        ["del", key] if key_ok(key) => Kv::Del(key),
        ["list"] => Kv::List,
        ["put", key, _, ..] if key_ok(key) => {
            let value = rest_after(line, 3);
            if value.len() > VALUE_MAX {
                return Command::Usage(KV_USAGE);
            }
            Kv::Put(key, value)
        }
        _ => return Command::Usage(KV_USAGE),
    };
    Command::Kv(kv)
}

/// A PIN: 1..=6 decimal digits.
fn parse_pin(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|p| *p <= PIN_MAX)
}

/// A `log::LevelFilter` as the kernel's level number (0 off .. 5 trace).
pub fn level_number(l: log::LevelFilter) -> u8 {
    l as usize as u8
}

/// The level of a kernel level number (`None` above 5).
pub fn level_of(n: u8) -> Option<log::LevelFilter> {
    use log::LevelFilter::*;
    [Off, Error, Warn, Info, Debug, Trace]
        .get(usize::from(n))
        .copied()
}

/// Untrusted text (from the network or the disk) for the console: printable
/// ASCII as is, `\\` for a backslash, `\xNN` for every other byte, so it can
/// neither move the cursor (the shell's output may carry escape sequences)
/// nor start a line of its own.
#[derive(Copy, Clone, Debug)]
pub struct Escaped<'a>(pub &'a [u8]);

impl core::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0 {
            match b {
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => f.write_char(b as char)?,
                _ => write!(f, "\\x{:02x}", b)?,
            }
        }
        Ok(())
    }
}

/// What a `bus` error means, for a person.
pub fn bus_error_text(e: bus::Error) -> &'static str {
    use bus::Error::*;
    match e {
        ServerRestarted => "dsoftbusd ended or restarted during the call",
        Malformed => "dsoftbusd could not decode the request (or its reply did not decode)",
        Denied => "not available (denied)",
        TimedOut => "timed out",
        NoResources => "dsoftbusd is out of resources for this client",
        TooLarge => "too large",
        UnknownPeer => "unknown peer (no live peer has that device id)",
        NotPublished => "the peer does not offer that service",
        Refused => "refused by the peer's policy",
        Reset => "the stream was reset",
        PeerGone => "the session with the peer ended",
        UnknownHandle => "unknown stream handle",
        BadMessage => "bad message or name",
        Closed => "the stream is closed",
        NotPublishedHere => "not published here",
        WrongPin => "wrong PIN",
        RateLimited => "too many failed attempts; wait and try again",
        NotPairing => "not available (the device is not showing a PIN)",
        Untrusted => "the device is not in the trust store (pair with it first)",
    }
}

/// What a `kv` error means, for a person.
pub fn kv_error_text(e: kv::Error) -> &'static str {
    use kv::Error::*;
    match e {
        ServerRestarted => "storaged ended or restarted during the call",
        Malformed => "storaged could not decode the request (or its reply did not decode)",
        Denied => "denied (no namespace for this client)",
        TimedOut => "timed out",
        NoResources => "storaged is out of resources",
        TooLarge => "too large",
        NotFound => "no such key",
        NoSpace => "the store is full",
        BadKey => "bad key",
        Corrupt => "the store is damaged",
        Io => "the disk failed",
    }
}

/// A trust store entry's origin.
pub fn origin_text(o: &bus::TrustOrigin) -> &'static str {
    match o {
        bus::TrustOrigin::Paired => "paired",
        bus::TrustOrigin::Provisioned => "provisioned",
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
        assert_eq!(parse("rm -rf /"), Command::Unknown("rm"));
    }

    #[test]
    fn parses_bus_kv_and_trust_commands() {
        assert_eq!(parse("peers"), Command::Peers);
        assert_eq!(parse("sessions"), Command::Sessions);
        assert!(matches!(parse("peers x"), Command::Usage(_)));
        assert_eq!(
            parse("call abc echo  hello   world "),
            Command::Call {
                peer: "abc",
                service: "echo",
                text: "hello   world"
            }
        );
        assert_eq!(
            parse("call abc echo"),
            Command::Call {
                peer: "abc",
                service: "echo",
                text: CALL_DEFAULT_TEXT
            }
        );
        let long = "x".repeat(65);
        assert!(matches!(parse("call abc"), Command::Usage(_)));
        assert!(matches!(
            parse(&alloc::format!("call {long} echo")),
            Command::Usage(_)
        ));
        assert_eq!(parse("kv get k"), Command::Kv(Kv::Get("k")));
        assert_eq!(parse("kv del k"), Command::Kv(Kv::Del("k")));
        assert_eq!(parse("kv list"), Command::Kv(Kv::List));
        assert_eq!(
            parse("kv put greeting hello there"),
            Command::Kv(Kv::Put("greeting", "hello there"))
        );
        for bad in [
            "kv",
            "kv get",
            "kv put k",
            "kv list x",
            "kv rm k",
            "kv get a b",
        ] {
            assert!(matches!(parse(bad), Command::Usage(_)), "{bad}");
        }
        assert!(matches!(
            parse(&alloc::format!("kv get {long}")),
            Command::Usage(_)
        ));
        assert_eq!(parse("pair show"), Command::PairShow);
        assert_eq!(
            parse("pair abc 012345"),
            Command::Pair {
                peer: "abc",
                pin: 12345
            }
        );
        for bad in [
            "pair",
            "pair abc",
            "pair abc 1234567",
            "pair abc 12a",
            "pair abc -1",
        ] {
            assert!(matches!(parse(bad), Command::Usage(_)), "{bad}");
        }
        assert_eq!(parse("trust"), Command::TrustList);
        assert_eq!(
            parse("trust abc echo nodeinfo"),
            Command::Grant {
                peer: "abc",
                services: alloc::vec!["echo", "nodeinfo"]
            }
        );
        assert!(matches!(parse("trust abc"), Command::Usage(_)));
        assert!(matches!(
            parse("trust abc 1 2 3 4 5 6 7 8 9"),
            Command::Usage(_)
        ));
        assert_eq!(parse("untrust abc"), Command::Untrust("abc"));
        assert_eq!(parse("sleep 30"), Command::Sleep(30));
        for bad in ["sleep", "sleep 0", "sleep 3601", "sleep x", "sleep 1 2"] {
            assert!(matches!(parse(bad), Command::Usage(_)), "{bad}");
        }
        assert!(matches!(parse("untrust"), Command::Usage(_)));
        assert!(matches!(parse("untrust a b"), Command::Usage(_)));
    }

    #[test]
    fn levels_and_escaping() {
        for n in 0..=5u8 {
            assert_eq!(level_of(n).map(level_number), Some(n));
        }
        assert_eq!(level_of(6), None);
        assert_eq!(level_number(log::LevelFilter::Debug), 4);
        let e = |b: &[u8]| alloc::format!("{}", Escaped(b));
        assert_eq!(e(b"neuron"), "neuron");
        assert_eq!(e(b"a\\b"), "a\\\\b");
        assert_eq!(e(b"\x1b[2J\nSELFTEST: ok"), "\\x1b[2J\\x0aSELFTEST: ok");
        assert_eq!(e(&[0xc3, 0xa9, 0x7f]), "\\xc3\\xa9\\x7f");
        assert!(bus_error_text(bus::Error::Denied).contains("not available"));
    }

    #[test]
    fn help_names_every_command() {
        for c in [
            "help", "ps", "ifconfig", "ping", "netstat", "log", "poweroff", "peers", "sessions",
            "call", "kv", "pair", "trust", "untrust", "sleep",
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
