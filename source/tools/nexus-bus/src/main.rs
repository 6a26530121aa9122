//! `nexus-bus`: join the Neuron OS bus from Linux (docs/nexus-bus.md).

#![forbid(unsafe_code)]

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use clap::{Parser, Subcommand};
use dsoftbus::mux::{Mode, Priority};
use dsoftbus::{Escaped, DISCOVERY_PORT};
use nexus_bus::identity::{self, Origin};
use nexus_bus::net::now_ns;
use nexus_bus::node::{hex, HostPlatform, MS};
use nexus_bus::{Error, Node, NodeConfig, ServeMode};
use nexus_net::{IfaceInfo, Ipv4Addr};

/// dsoftbusd's session port (docs/dsoftbus.md §13a).
const SESSION_PORT: u16 = 37030;

/// How long a command keeps its sessions up after its last stream ended
/// ([`Node::leave`]).
const LINGER: u64 = 500 * MS;

#[derive(Parser)]
#[command(
    name = "nexus-bus",
    version,
    about = "Join the Neuron OS bus from Linux"
)]
struct Cli {
    /// State directory holding the identity (default $XDG_STATE_HOME/nexus-bus or
    /// ~/.local/state/nexus-bus).
    #[arg(long, global = true, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Interface address to bind and announce from, with its prefix (default /24); the
    /// announces go to the subnet's broadcast address.
    #[arg(long, global = true, value_name = "IPV4[/PREFIX]")]
    bind: Option<String>,
    /// TCP port of the session listener.
    #[arg(long, global = true, default_value_t = SESSION_PORT)]
    port: u16,
    /// UDP discovery port (announces are received here and sent here).
    #[arg(long, global = true, default_value_t = DISCOVERY_PORT)]
    discovery_port: u16,
    /// Also announce to this UDP port (at most twice; several nodes on one address).
    #[arg(long, global = true, value_name = "PORT")]
    announce_port: Vec<u16>,
    /// Display name (local only; never an identity).
    #[arg(long, global = true, default_value = "linux")]
    name: String,
    /// Print the daemon's log lines on standard error.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print this node's device id (creates the identity on first use).
    Id,
    /// Discover peers for a while, then list them: id, name, address, services, session.
    Peers {
        /// Seconds to listen.
        #[arg(long, default_value_t = 3.0)]
        wait: f64,
    },
    /// Interactive: each line of standard input is a message to the service, each
    /// message received is a line on standard output.
    Open {
        /// Device id of the peer.
        id: String,
        /// Service name.
        service: String,
        /// Seconds to wait for the peer, the session and the answer.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Send a file as a byte stream; prints bytes and MB/s, then the peer's answer.
    Send {
        /// Device id of the peer.
        id: String,
        /// Service name.
        service: String,
        /// File to send (`-` = standard input).
        file: PathBuf,
        /// Seconds the whole transfer may take.
        #[arg(long, default_value_t = 300.0)]
        timeout: f64,
    },
    /// Open a service and write what it sends to a file (`-` = standard output).
    Recv {
        /// Device id of the peer.
        id: String,
        /// Service name.
        service: String,
        /// File to write.
        file: PathBuf,
        /// Seconds the whole transfer may take.
        #[arg(long, default_value_t = 300.0)]
        timeout: f64,
    },
    /// Publish services and serve the streams opened to them.
    Serve {
        /// Service names (1..=64 bytes each).
        #[arg(required = true)]
        service: Vec<String>,
        /// Read each stream to its end, answer `ok bytes=N blake2s=<hex>`.
        #[arg(long, conflicts_with = "echo")]
        sink: bool,
        /// Send back everything received (default).
        #[arg(long)]
        echo: bool,
        /// Exit after this many streams ended.
        #[arg(long)]
        count: Option<usize>,
        /// Exit after this many seconds.
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// Pair with a device showing a PIN: on success both trust each other.
    Pair {
        /// Device id of the peer.
        id: String,
        /// The 6-digit PIN the peer shows.
        pin: u32,
        /// Services of ours the peer may open afterwards (repeatable; default none).
        #[arg(long, value_name = "SERVICE")]
        grant: Vec<String>,
        /// Seconds to wait for the peer, the session and the exchange.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Show a PIN and wait until a device paired with it (or the PIN expired).
    ShowPin {
        /// Seconds the PIN stays valid (at most 300).
        #[arg(long, default_value_t = 120.0)]
        valid: f64,
        /// Services of ours the paired device may open (repeatable; default none).
        #[arg(long, value_name = "SERVICE")]
        grant: Vec<String>,
    },
    /// List the trusted devices (no network).
    Trusted,
    /// Remove a device from the trust store (no network).
    Untrust {
        /// Device id.
        id: String,
    },
}

fn parse_bind(s: &str) -> Result<IfaceInfo, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (
            a,
            p.parse::<u8>()
                .map_err(|_| format!("bad prefix in {s:?}"))?,
        ),
        None => (s, 24),
    };
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("bad IPv4 address {addr:?}"))?;
    if prefix > 32 || addr.is_unspecified() {
        return Err(format!("bad interface address {s:?}"));
    }
    Ok(IfaceInfo {
        addr,
        prefix_len: prefix,
        gateway: None,
        mtu: 1500,
    })
}

fn deadline(seconds: f64) -> u64 {
    now_ns().saturating_add((seconds.max(0.0) * 1e9) as u64)
}

fn mb_s(bytes: u64, ns: u64) -> String {
    format!("{:.2}", bytes as f64 * 1e3 / ns.max(1) as f64)
}

/// Joins the bus and opens a byte stream (bulk priority) to `service` on
/// `id`: the node, the stream and the command's deadline.
fn open_bulk(
    cli: &Cli,
    id: &str,
    service: &str,
    timeout: f64,
) -> Result<(Node, dsoftbus::daemon::StreamRef, u64), String> {
    let mut node = start(cli, Vec::new(), Vec::new())?;
    let end = deadline(timeout);
    let s = node
        .open(id, service, Mode::Bytes, Priority::Bulk, end)
        .map_err(|e| e.to_string())?;
    Ok((node, s, end))
}

fn start(cli: &Cli, serve: Vec<String>, pair_grant: Vec<String>) -> Result<Node, String> {
    let Some(bind) = cli.bind.as_deref() else {
        return Err("--bind <IPV4[/PREFIX]> is required (the interface to join the bus on)".into());
    };
    let iface = parse_bind(bind)?;
    if cli.announce_port.len() > 2 {
        return Err("at most two --announce-port".into());
    }
    let mut extra = [0u16; 2];
    extra[..cli.announce_port.len()].copy_from_slice(&cli.announce_port);
    let (keys, _, state) = load_keys(cli)?;
    let trust_dir = nexus_bus::trustdir::dir(&state);
    let trusted = nexus_bus::trustdir::load(&trust_dir)?;
    let verbose = cli.verbose;
    let log = Box::new(move |line: &str| {
        if verbose {
            eprintln!("[{:10.3}] {}", now_ns() as f64 / 1e9, line);
        }
    });
    Node::start(
        keys,
        NodeConfig {
            iface,
            session_port: cli.port,
            discovery_port: cli.discovery_port,
            extra_announce_ports: extra,
            name: cli.name.clone(),
            serve,
            trusted,
            pair_grant,
            trust_dir: Some(trust_dir),
        },
        HostPlatform::new(log),
    )
    .map_err(|e| e.to_string())
}

fn load_keys(cli: &Cli) -> Result<(dsoftbus::StaticKeypair, Origin, PathBuf), String> {
    let dir = match &cli.state {
        Some(d) => d.clone(),
        None => identity::default_dir()
            .ok_or("no state directory: set --state, XDG_STATE_HOME or HOME")?,
    };
    let (keys, origin) = identity::load_or_create(&dir).map_err(|e| e.to_string())?;
    Ok((keys, origin, dir))
}

fn run(cli: Cli) -> Result<(), String> {
    match &cli.cmd {
        Cmd::Id => {
            let (keys, origin, dir) = load_keys(&cli)?;
            let me = dsoftbus::LocalIdentity::new(keys);
            if cli.verbose {
                let how = match origin {
                    Origin::Created => "created",
                    Origin::Loaded => "loaded",
                };
                eprintln!("nexus-bus: identity {} in {}", how, dir.display());
            }
            println!("{}", me.device_id());
            Ok(())
        }
        Cmd::Peers { wait } => {
            let mut node = start(&cli, Vec::new(), Vec::new())?;
            eprintln!("nexus-bus: id={} listening {} s", node.id(), wait);
            let end = deadline(*wait);
            while now_ns() < end {
                node.step(end - now_ns());
            }
            let peers = node.peers();
            for p in &peers {
                let services = if p.services.is_empty() {
                    "-".to_string()
                } else {
                    p.services.join(",")
                };
                println!(
                    "{} name={} addr={}:{} services={} session={} trusted={}",
                    p.id,
                    Escaped(if p.name.is_empty() { &p.id } else { &p.name }),
                    p.addr,
                    p.port,
                    Escaped(&services),
                    if p.session { "up" } else { "none" },
                    if p.trusted { "yes" } else { "no" }
                );
            }
            eprintln!("nexus-bus: {} peer(s)", peers.len());
            Ok(())
        }
        Cmd::Open {
            id,
            service,
            timeout,
        } => open(&cli, id, service, *timeout),
        Cmd::Send {
            id,
            service,
            file,
            timeout,
        } => {
            let mut input: Box<dyn Read> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(
                    std::fs::File::open(file).map_err(|e| format!("{}: {}", file.display(), e))?,
                )
            };
            let (mut node, s, end) = open_bulk(&cli, id, service, *timeout)?;
            let t0 = now_ns();
            let mut hash = <blake2::Blake2s256 as blake2::Digest>::new();
            let sent = node
                .send_all(
                    s,
                    |buf| {
                        buf.resize(64 * 1024, 0);
                        let n = input.read(buf)?;
                        buf.truncate(n);
                        blake2::Digest::update(&mut hash, &buf[..]);
                        Ok(())
                    },
                    end,
                )
                .map_err(|e| e.to_string())?;
            // The peer's answer, to the end of its direction.
            let mut reply = Vec::new();
            node.recv_all(
                s,
                |b| {
                    if reply.len() < 4096 {
                        reply.extend_from_slice(&b[..b.len().min(4096 - reply.len())]);
                    }
                    Ok(())
                },
                end,
            )
            .map_err(|e| e.to_string())?;
            let ns = now_ns() - t0;
            println!(
                "sent bytes={} ms={} MB/s={} blake2s={}",
                sent,
                ns / MS,
                mb_s(sent, ns),
                hex(&blake2::Digest::finalize(hash))
            );
            let text = String::from_utf8_lossy(&reply);
            for line in text.lines() {
                println!("reply: {}", Escaped(line));
            }
            node.leave(LINGER);
            if text.starts_with("ok") {
                Ok(())
            } else {
                Err("the peer did not answer ok".into())
            }
        }
        Cmd::Recv {
            id,
            service,
            file,
            timeout,
        } => {
            let mut out: Box<dyn Write> = if file.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(std::io::BufWriter::new(
                    std::fs::File::create(file)
                        .map_err(|e| format!("{}: {}", file.display(), e))?,
                ))
            };
            let (mut node, s, end) = open_bulk(&cli, id, service, *timeout)?;
            let t0 = now_ns();
            let mut hash = <blake2::Blake2s256 as blake2::Digest>::new();
            let got = node
                .recv_all(
                    s,
                    |b| {
                        blake2::Digest::update(&mut hash, b);
                        out.write_all(b)
                    },
                    end,
                )
                .map_err(|e| e.to_string())?;
            let ns = now_ns() - t0;
            out.flush().map_err(|e| e.to_string())?;
            node.close(s).map_err(|e| e.to_string())?;
            node.leave(LINGER);
            eprintln!(
                "received bytes={} ms={} MB/s={} blake2s={}",
                got,
                ns / MS,
                mb_s(got, ns),
                hex(&blake2::Digest::finalize(hash))
            );
            Ok(())
        }
        Cmd::Serve {
            service,
            sink,
            echo: _,
            count,
            timeout,
        } => {
            let mode = if *sink {
                ServeMode::Sink
            } else {
                ServeMode::Echo
            };
            let mut node = start(&cli, service.clone(), service.clone())?;
            println!("nexus-bus: id={} serving {}", node.id(), service.join(","));
            let _ = std::io::stdout().flush();
            let end = timeout.map_or(u64::MAX, deadline);
            node.serve(mode, *count, end, |s| {
                println!(
                    "served peer={} service={} bytes={} ms={} MB/s={} blake2s={}",
                    s.peer,
                    Escaped(&s.service),
                    s.bytes,
                    s.ns / MS,
                    mb_s(s.bytes, s.ns),
                    s.digest
                );
                let _ = std::io::stdout().flush();
            })
            .map_err(|e| e.to_string())?;
            node.leave(LINGER);
            Ok(())
        }
        Cmd::Pair {
            id,
            pin,
            grant,
            timeout,
        } => {
            let mut node = start(&cli, Vec::new(), grant.clone())?;
            node.pair(id, *pin, deadline(*timeout))
                .map_err(|e| e.to_string())?;
            node.leave(LINGER);
            println!("paired with {} (it may open: {})", id, list(grant));
            Ok(())
        }
        Cmd::ShowPin { valid, grant } => {
            let mut node = start(&cli, Vec::new(), grant.clone())?;
            let before = node.trusted();
            let valid_ns = (valid.clamp(0.0, 300.0) * 1e9) as u64;
            let pin = node.show_pin(valid_ns).ok_or("no entropy for a PIN")?;
            println!(
                "pin={:06} valid_s={} id={}",
                pin,
                valid_ns / 1_000_000_000,
                node.id()
            );
            let _ = std::io::stdout().flush();
            let mut paired = None;
            let end = now_ns().saturating_add(valid_ns);
            let _ = node.run_until(end, "nobody paired", |n| {
                paired = n.trusted().into_iter().find(|e| !before.contains(e));
                paired.is_some()
            });
            let Some(e) = paired else {
                return Err("the PIN expired; nobody paired".into());
            };
            node.leave(LINGER);
            println!(
                "paired with {} (it may open: {})",
                e.device_id(),
                list(e.services())
            );
            Ok(())
        }
        Cmd::Trusted => {
            let (_, _, state) = load_keys(&cli)?;
            for e in nexus_bus::trustdir::load(&nexus_bus::trustdir::dir(&state))? {
                println!(
                    "{} name={} origin={:?} services={}",
                    e.device_id(),
                    Escaped(e.name()),
                    e.origin(),
                    list(e.services())
                );
            }
            Ok(())
        }
        Cmd::Untrust { id } => {
            let (_, _, state) = load_keys(&cli)?;
            let dir = nexus_bus::trustdir::dir(&state);
            if !nexus_bus::trustdir::load(&dir)?
                .iter()
                .any(|e| e.device_id() == id)
            {
                return Err(format!("{} is not trusted", Escaped(id)));
            }
            nexus_bus::trustdir::store(&dir, id, None).map_err(|e| e.to_string())?;
            println!("untrusted {}", id);
            Ok(())
        }
    }
}

fn list<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "-".into();
    }
    let v: Vec<&str> = names.iter().map(|s| s.as_ref()).collect();
    Escaped(&v.join(",")).to_string()
}

fn open(cli: &Cli, id: &str, service: &str, timeout: f64) -> Result<(), String> {
    let mut node = start(cli, Vec::new(), Vec::new())?;
    let s = node
        .open(
            id,
            service,
            Mode::Message,
            Priority::Interactive,
            deadline(timeout),
        )
        .map_err(|e| e.to_string())?;
    eprintln!("nexus-bus: open {} on {}", Escaped(service), id);
    // Standard input on its own thread; the loop looks at it every 20 ms.
    let (tx, rx) = mpsc::channel::<Option<String>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) => {
                    if tx.send(Some(l)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(None);
    });
    let mut queue: std::collections::VecDeque<Vec<u8>> = Default::default();
    let mut input_done = false;
    let mut closed = false;
    let mut close_deadline = u64::MAX;
    let mut buf = vec![0u8; dsoftbus::mux::MAX_MESSAGE_LEN];
    let out = std::io::stdout();
    loop {
        while let Ok(m) = rx.try_recv() {
            match m {
                Some(l) if l.is_empty() => {}
                Some(l) => {
                    for chunk in l.as_bytes().chunks(dsoftbus::mux::MAX_MESSAGE_LEN) {
                        queue.push_back(chunk.to_vec());
                    }
                }
                None => input_done = true,
            }
        }
        while let Some(m) = queue.front() {
            if node.try_send(s, m).map_err(|e| e.to_string())? == 0 {
                break;
            }
            queue.pop_front();
        }
        if input_done && queue.is_empty() && !closed {
            node.close(s).map_err(|e| e.to_string())?;
            closed = true;
            close_deadline = deadline(timeout);
        }
        loop {
            match node.try_recv(s, &mut buf) {
                Ok(Some(0)) => {
                    node.leave(LINGER);
                    return Ok(());
                }
                Ok(Some(n)) => {
                    let mut o = out.lock();
                    // Escaped: a peer cannot send terminal control sequences.
                    let _ = writeln!(o, "{}", Escaped(&String::from_utf8_lossy(&buf[..n])));
                    let _ = o.flush();
                }
                Ok(None) => break,
                Err(Error::Bus(dsoftbus::daemon::BusError::UnknownStream)) if closed => {
                    return Ok(())
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        if now_ns() >= close_deadline {
            return Err("the peer did not close the stream".into());
        }
        node.step(20 * MS);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nexus-bus: {}", e);
            ExitCode::FAILURE
        }
    }
}
