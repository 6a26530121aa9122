//! TCP bulk throughput between two `NetStack`s joined by a memlink:
//! (a) driven directly through the `Backend` trait, (b) through the facade
//! (`NetClient` → codec → `dispatch` → `Server`). Both paths run the same
//! loop shape and the same network pumping after every operation (as
//! `netstackd` polls after every request), so the difference is the
//! facade's cost: encoding, decoding, handle lookup and the extra copies.
//!
//! `cargo bench -p nexus-net-os --bench tcp_bulk` (release). Prints figures,
//! asserts only correctness (byte count and content), never timing.

use std::time::Instant;

use nexus_net::{Backend, NetError, SocketAddrV4, MAX_IO};
use nexus_net_os::memlink::LinkConfig;
use nexus_net_os::testing::{static_config, test_addr, TestNet};
use nexus_net_os::StackConfig;

const TOTAL: usize = 32 * 1024 * 1024;
const PERIOD: usize = 64 * 1024;
const MS: u64 = 1_000_000;

/// Source pattern: byte `i` of the stream is `pat[i % PERIOD]`.
fn pattern() -> Vec<u8> {
    (0..PERIOD + MAX_IO)
        .map(|i| {
            ((i % PERIOD) as u32)
                .wrapping_mul(2_654_435_761)
                .to_be_bytes()[0]
        })
        .collect()
}

struct Run {
    secs: f64,
    stalls: u64,
    ops: u64,
    /// Ethernet frames on the link (data + ACKs, both directions).
    frames: u64,
}

impl Run {
    fn mbps(&self) -> f64 {
        TOTAL as f64 / self.secs / 1e6
    }
}

fn net_for(cfg: (StackConfig, StackConfig, LinkConfig)) -> TestNet {
    TestNet::pair(cfg.0, cfg.1, cfg.2)
}

/// Common loop: write until `WouldBlock`, read until `WouldBlock`; when
/// neither moved, let 1 ms of virtual time pass (delayed ACKs, timers).
fn drive(
    net: &TestNet,
    mut write: impl FnMut(&[u8]) -> Result<usize, NetError>,
    mut read: impl FnMut(&mut [u8]) -> Result<usize, NetError>,
) -> Run {
    let pat = pattern();
    let mut buf = vec![0u8; MAX_IO];
    let (mut sent, mut got, mut stalls, mut ops) = (0usize, 0usize, 0u64, 0u64);
    let start = Instant::now();
    while got < TOTAL {
        let mut moved = false;
        while sent < TOTAL {
            let off = sent % PERIOD;
            let n = MAX_IO.min(TOTAL - sent);
            ops += 1;
            match write(&pat[off..off + n]) {
                Ok(w) => {
                    sent += w;
                    moved = true;
                }
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("write: {e:?}"),
            }
        }
        loop {
            ops += 1;
            match read(&mut buf) {
                Ok(0) => panic!("unexpected EOF"),
                Ok(n) => {
                    let off = got % PERIOD;
                    assert!(buf[..n] == pat[off..off + n], "corrupt data at {got}");
                    got += n;
                    moved = true;
                }
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("read: {e:?}"),
            }
        }
        if !moved {
            stalls += 1;
            net.run_for(MS);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let link = net.with_stack(0, |s| s.device().stats());
    Run {
        secs,
        stalls,
        ops,
        frames: link.sent[0] + link.sent[1],
    }
}

fn direct(cfg: (StackConfig, StackConfig, LinkConfig)) -> Run {
    let net = net_for(cfg);
    let (l, port) = net.with_stack(1, |s| s.tcp_listen(5001, 1)).unwrap();
    let (ws, _) = net
        .with_stack(0, |s| {
            s.tcp_connect(SocketAddrV4::new(test_addr(1), port), 0)
        })
        .unwrap();
    net.run_for(10 * MS);
    let (rs, _) = net.with_stack(1, |s| s.tcp_accept(l)).unwrap();
    let n2 = net.clone();
    let n3 = net.clone();
    drive(
        &net,
        move |d| {
            let r = n2.with_stack(0, |s| s.tcp_write(ws, d));
            n2.pump();
            r
        },
        move |b| {
            let r = n3.with_stack(1, |s| s.tcp_read(rs, b));
            n3.pump();
            r
        },
    )
}

fn facade(cfg: (StackConfig, StackConfig, LinkConfig)) -> Run {
    let net = net_for(cfg);
    let mut a = net.client(0, 1);
    let mut b = net.client(1, 1);
    let (l, port) = b.tcp_listen(5001, 1).unwrap();
    let deadline = net.now() + 1_000 * MS;
    let ws = a
        .tcp_connect_by(SocketAddrV4::new(test_addr(1), port), deadline)
        .unwrap();
    let (rs, _) = b.tcp_accept_by(l, deadline).unwrap();
    drive(&net, |d| a.tcp_write(ws, d), |buf| b.tcp_read(rs, buf))
}

fn configs() -> Vec<(&'static str, (StackConfig, StackConfig, LinkConfig))> {
    let default = (static_config(0), static_config(1), LinkConfig::default());
    let mut a = static_config(0);
    let mut b = static_config(1);
    for c in [&mut a, &mut b] {
        c.tcp_rx_buf = 256 * 1024;
        c.tcp_tx_buf = 256 * 1024;
        c.mem_budget = 4 * 1024 * 1024;
    }
    let big_link = LinkConfig {
        queue_frames: 256,
        ..LinkConfig::default()
    };
    vec![
        ("default (16 KiB TCP buffers, 64-frame link)", default),
        (
            "bulk (256 KiB TCP buffers, 256-frame link)",
            (a, b, big_link),
        ),
    ]
}

fn main() {
    println!(
        "tcp_bulk: {} MiB one way, {}-byte I/O, virtual clock, memlink",
        TOTAL >> 20,
        MAX_IO
    );
    for (name, cfg) in configs() {
        // Warm-up (allocator, caches), then seven rounds alternating the
        // two paths (so machine noise hits both alike); best of each.
        let _ = direct(cfg);
        let (mut d, mut f) = (direct(cfg), facade(cfg));
        for _ in 1..7 {
            let (x, y) = (direct(cfg), facade(cfg));
            if x.secs < d.secs {
                d = x;
            }
            if y.secs < f.secs {
                f = y;
            }
        }
        let overhead = (d.mbps() / f.mbps() - 1.0) * 100.0;
        println!("{name}:");
        println!(
            "  (a) direct Backend : {:8.1} MB/s  ({:.3} s, {} ops, {} frames, {} stalls)",
            d.mbps(),
            d.secs,
            d.ops,
            d.frames,
            d.stalls
        );
        println!(
            "  (b) facade codec   : {:8.1} MB/s  ({:.3} s, {} ops, {} frames, {} stalls)",
            f.mbps(),
            f.secs,
            f.ops,
            f.frames,
            f.stalls
        );
        println!("  facade overhead    : {overhead:+.1} % (time per byte, b vs a)");
        let tag = name.split_whitespace().next().unwrap_or("config");
        println!(
            "BENCH: host tcp_bulk config={tag} direct_mbps={:.1} facade_mbps={:.1} overhead_pct={overhead:.1}",
            d.mbps(),
            f.mbps()
        );
    }
}
