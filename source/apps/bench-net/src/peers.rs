//! Real-peer mode of bench-net (profile `real-peers`, `scripts/real-peers.py`):
//! the guest against Linux's own TCP/IP stack at 10.0.2.2 on a tap device in
//! the harness's private network namespace. Every step prints a
//! `realnet:` marker after it really happened, or `realnet: FAIL` and stops.
//!
//! Mode 1 (direct tap): echo with the guest closing first, a connection the
//! peer closes first, a listener the peer connects to, UDP
//! request/response, one-block TFTP reads from dnsmasq, pings to the
//! gateway, 16 MiB each way (verified on
//! the receiving side). Mode 2 (through the harness's impairment relay): the
//! 16 MiB transfers each way once per link condition; the peer's port
//! tells the relay which condition to apply.
//!
//! Payload pattern (shared with the harness): byte `i` is `T[i % 65521]`,
//! `T` from a 32-bit LCG (x = x * 1103515245 + 12345, byte = x >> 24).
//!
//! Bulk data moves through a shared region when netstackd takes one
//! (`realnet: shared region attached`): a 256 KiB kernel memory object of
//! this task, charged to its shared-memory budget (`grants.shm`), holding
//! the doubled pattern for sending and receiving into its upper half; `TcpWriteShared` /
//! `TcpReadShared` then name offsets in it and no payload crosses an IPC
//! message. Otherwise (no grant, a server without regions) the message
//! path, as before. The figures say which (`path=`).

extern crate alloc;

use alloc::vec::Vec;

use nexus_net::{Ipv4Addr, NetClient, NetError, SocketAddrV4, MAX_IO, MAX_SHARED_IO};
use nexus_net_ipc::IpcTransport;
use nexus_rt::shm::SharedRegion;
use nexus_rt::{println, sys};

type Client = NetClient<IpcTransport>;

const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const SEC: u64 = 1_000_000_000;
const BULK: usize = 16 * 1024 * 1024;
const PERIOD: usize = 65521;
/// Link conditions of the relay run, in the order the harness expects.
const CONDITIONS: [&str; 5] = ["clean", "loss5", "corrupt1", "delay20", "reorder"];

fn table() -> Vec<u8> {
    let mut x: u32 = 1;
    let mut t = Vec::with_capacity(PERIOD * 2);
    for _ in 0..PERIOD {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        t.push((x >> 24) as u8);
    }
    // Doubled, so any window of up to PERIOD bytes is one slice.
    t.extend_from_within(..);
    t
}

/// Where received bytes go in the region: above the doubled pattern.
const RX_AT: usize = 2 * PERIOD;

/// Creates, maps and attaches a shared region holding the doubled
/// pattern; `None` (and the message path) if any step is refused.
fn attach(c: &mut Client, t: &[u8]) -> Option<SharedRegion> {
    let step = |what: &str, e: &dyn core::fmt::Debug| {
        println!("realnet: no shared region ({}: {:?}), messages", what, e)
    };
    let mut sh = SharedRegion::create(nexus_slots::bench_net::SHM, nexus_abi::MEM_MAX_PAGES)
        .map_err(|e| step("create", &e))
        .ok()?;
    if sh.len() < RX_AT + MAX_SHARED_IO || t.len() != 2 * PERIOD {
        step("size", &sh.len());
        return None;
    }
    sh.bytes()[..t.len()].copy_from_slice(t);
    let len = c
        .attach_shared(sh.cap())
        .map_err(|e| step("attach", &e))
        .ok()?;
    println!("realnet: shared region attached bytes={}", len);
    Some(sh)
}

fn at(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(PEER, port)
}

fn read_to_eof(
    c: &mut Client,
    s: nexus_net::TcpStream,
    out: &mut Vec<u8>,
    end: u64,
) -> Result<(), NetError> {
    let mut buf = [0u8; 2048];
    loop {
        let n = c.tcp_read_by(s, &mut buf, end)?;
        if n == 0 {
            return Ok(());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Echo on 7001: the guest writes, reads the echo and closes first.
fn echo(c: &mut Client) -> Result<(), NetError> {
    let t0 = sys::now_ns();
    let end = t0 + 10 * SEC;
    let s = c.tcp_connect_by(at(7001), end)?;
    println!(
        "BENCH: net peer tcp connect us={} first=1",
        (sys::now_ns() - t0) / 1000
    );
    let msg = b"hello linux, this is neuron";
    c.tcp_write_all_by(s, msg, end)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < msg.len() {
        let n = c.tcp_read_by(s, &mut buf, end)?;
        if n == 0 {
            return Err(NetError::Closed);
        }
        got.extend_from_slice(&buf[..n]);
    }
    c.close(s)?;
    if got != msg {
        return Err(NetError::Malformed);
    }
    println!("realnet: echo ok (guest closed first)");
    Ok(())
}

/// 7002, 21 times: the peer writes a line and closes first; the guest reads
/// it and EOF, then closes. Prints the median TCP connect time.
fn peer_closes(c: &mut Client) -> Result<(), NetError> {
    const N: usize = 21;
    let mut times = Vec::with_capacity(N);
    for _ in 0..N {
        let t0 = sys::now_ns();
        let end = t0 + 10 * SEC;
        let s = c.tcp_connect_by(at(7002), end)?;
        times.push(sys::now_ns() - t0);
        let mut got = Vec::new();
        read_to_eof(c, s, &mut got, end)?;
        c.close(s)?;
        if got != b"bye from linux\n" {
            return Err(NetError::Malformed);
        }
    }
    times.sort_unstable();
    println!(
        "BENCH: net peer tcp connect us={} first=0 n={} min_us={} max_us={}",
        times[N / 2] / 1000,
        N,
        times[0] / 1000,
        times[N - 1] / 1000
    );
    println!("realnet: peer close ok");
    Ok(())
}

/// Listener on 7100: the peer connects, sends, half-closes; the guest
/// echoes everything and closes after the peer's FIN.
fn listen(c: &mut Client) -> Result<(), NetError> {
    let (l, port) = c.tcp_listen(7100, 1)?;
    println!("realnet: listening {}", port);
    let end = sys::now_ns() + 20 * SEC;
    let (s, from) = c.tcp_accept_by(l, end)?;
    c.close(l)?;
    let mut buf = [0u8; 2048];
    let mut total = 0usize;
    loop {
        let n = c.tcp_read_by(s, &mut buf, end)?;
        if n == 0 {
            break;
        }
        c.tcp_write_all_by(s, &buf[..n], end)?;
        total += n;
    }
    c.close(s)?;
    println!("realnet: accept ok from {} echoed={}", from, total);
    Ok(())
}

/// UDP request/response against the peer's echo on 7007.
fn udp_rr(c: &mut Client) -> Result<(), NetError> {
    const ROUNDS: u32 = 2000;
    let (u, _) = c.udp_bind(0)?;
    let mut buf = [0u8; 64];
    let (t0, i0) = (sys::now_ns(), sys::instret());
    let mut lost = 0u32;
    for i in 0..ROUNDS {
        let req = i.to_be_bytes();
        c.udp_send_to(u, at(7007), &req)?;
        loop {
            match c.udp_recv_from_by(u, &mut buf, sys::now_ns() + SEC / 2) {
                Ok((4, _)) if buf[..4] == req => break,
                Ok(_) => continue,
                Err(NetError::TimedOut) => {
                    lost += 1;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let (dt, di) = (sys::now_ns() - t0, sys::instret() - i0);
    c.close(u)?;
    println!(
        "BENCH: net peer udp rr rounds={} lost={} ms={} per_s={} us_each={} instret_each={}",
        ROUNDS,
        lost,
        dt / 1_000_000,
        u64::from(ROUNDS) * SEC / dt.max(1),
        dt / u64::from(ROUNDS) / 1000,
        di / u64::from(ROUNDS)
    );
    Ok(())
}

/// One-block TFTP reads from dnsmasq's TFTP server (RRQ → DATA → ACK), the
/// request/response pattern of issue 16's TFTP figure, against a real server.
fn tftp_rr(c: &mut Client) -> Result<(), NetError> {
    const ROUNDS: u64 = 200;
    let mut buf = [0u8; 64];
    let t0 = sys::now_ns();
    for _ in 0..ROUNDS {
        let n = nexus_tftp::fetch(
            c,
            at(nexus_tftp::TFTP_PORT),
            "realnet.txt",
            &mut buf,
            sys::now_ns,
            t0 + 60 * SEC,
        )
        .map_err(|_| NetError::TimedOut)?;
        if buf[..n] != *b"neuron real-peer tftp\n" {
            return Err(NetError::Malformed);
        }
    }
    let dt = sys::now_ns() - t0;
    println!(
        "BENCH: net peer tftp rr rounds={} ms={} per_s={} us_each={}",
        ROUNDS,
        dt / 1_000_000,
        ROUNDS * SEC / dt.max(1),
        dt / ROUNDS / 1000
    );
    Ok(())
}

/// Pings to the gateway; the median round trip.
fn ping(c: &mut Client) -> Result<(), NetError> {
    const N: u16 = 51;
    let mut rtts = Vec::with_capacity(usize::from(N));
    for seq in 0..N {
        rtts.push(c.ping(PEER, seq, sys::now_ns() + 2 * SEC)?);
    }
    rtts.sort_unstable();
    println!(
        "BENCH: net peer ping n={} median_us={} min_us={} max_us={}",
        N,
        rtts[usize::from(N) / 2] / 1000,
        rtts[0] / 1000,
        rtts[usize::from(N) - 1] / 1000
    );
    Ok(())
}

fn figures(name: &str, cond: &str, bytes: usize, dt: u64, di: u64, shared: bool) {
    let kbps = (bytes as u64 * 1_000_000) / dt.max(1);
    println!(
        "BENCH: net peer {} cond={} bytes={} ms={} MB/s={}.{:03} instr_per_byte={}.{:02} path={}",
        name,
        cond,
        bytes,
        dt / 1_000_000,
        kbps / 1000,
        kbps % 1000,
        di / bytes as u64,
        (di % bytes as u64) * 100 / bytes as u64,
        if shared { "shared" } else { "messages" }
    );
}

/// 16 MiB guest → Linux; the peer verifies and answers `OK <bytes>`.
fn bulk_tx(
    c: &mut Client,
    t: &[u8],
    sh: &mut Option<SharedRegion>,
    port: u16,
    cond: &str,
) -> Result<(), NetError> {
    let (t0, i0) = (sys::now_ns(), sys::instret());
    let end = t0 + 300 * SEC;
    let s = c.tcp_connect_by(at(port), t0 + 10 * SEC)?;
    let mut sent = 0;
    while sent < BULK {
        let off = sent % PERIOD;
        if sh.is_some() {
            // The pattern is in the region twice: any PERIOD-long window
            // from `off` is there.
            let n = (BULK - sent).min(MAX_SHARED_IO).min(PERIOD);
            c.tcp_write_shared_all_by(s, off as u32, n as u32, end)?;
            sent += n;
            continue;
        }
        let n = (BULK - sent).min(MAX_IO);
        c.tcp_write_all_by(s, &t[off..off + n], end)?;
        sent += n;
    }
    c.tcp_shutdown(s)?;
    let mut reply = Vec::new();
    read_to_eof(c, s, &mut reply, end)?;
    let (dt, di) = (sys::now_ns() - t0, sys::instret() - i0);
    c.close(s)?;
    if !reply.starts_with(b"OK ") {
        println!(
            "realnet: FAIL tx {}: peer says {:?}",
            cond,
            core::str::from_utf8(&reply)
        );
        return Err(NetError::Malformed);
    }
    println!("realnet: tx {} verified by peer", cond);
    figures("tx", cond, sent, dt, di, sh.is_some());
    Ok(())
}

/// 16 MiB Linux → guest, verified here as it arrives.
fn bulk_rx(
    c: &mut Client,
    t: &[u8],
    sh: &mut Option<SharedRegion>,
    port: u16,
    cond: &str,
) -> Result<(), NetError> {
    let (t0, i0) = (sys::now_ns(), sys::instret());
    let end = t0 + 300 * SEC;
    let s = c.tcp_connect_by(at(port), t0 + 10 * SEC)?;
    let mut buf = alloc::vec![0u8; MAX_IO];
    let mut got = 0usize;
    loop {
        let data: &[u8] = match sh.as_mut() {
            Some(sh) => {
                let max = MAX_SHARED_IO.min(PERIOD);
                let n = c.tcp_read_shared_by(s, RX_AT as u32, max as u32, end)?;
                // Taken after the call: netstackd wrote during it.
                &sh.bytes()[RX_AT..RX_AT + n.min(max)]
            }
            None => {
                let n = c.tcp_read_by(s, &mut buf, end)?;
                &buf[..n]
            }
        };
        let n = data.len();
        if n == 0 {
            break;
        }
        let off = got % PERIOD;
        if n > PERIOD || data[..n] != t[off..off + n] {
            println!("realnet: FAIL rx {}: data differs near byte {}", cond, got);
            return Err(NetError::Malformed);
        }
        got += n;
    }
    let (dt, di) = (sys::now_ns() - t0, sys::instret() - i0);
    c.close(s)?;
    if got != BULK {
        println!("realnet: FAIL rx {}: {} bytes", cond, got);
        return Err(NetError::Malformed);
    }
    println!("realnet: rx {} verified", cond);
    figures("rx", cond, got, dt, di, sh.is_some());
    Ok(())
}

fn wait_addr(c: &mut Client) -> Result<Ipv4Addr, NetError> {
    let end = sys::now_ns() + 60 * SEC;
    loop {
        if let Ok(i) = c.local_addr() {
            if !i.addr.is_unspecified() {
                return Ok(i.addr);
            }
        }
        if sys::now_ns() > end {
            return Err(NetError::TimedOut);
        }
        sys::sleep_ms(20);
    }
}

fn run(c: &mut Client, mode: u8) -> Result<(), (&'static str, NetError)> {
    let addr = wait_addr(c).map_err(|e| ("address", e))?;
    println!("realnet: addr {}", addr);
    let t = table();
    let mut sh = attach(c, &t);
    if mode == 1 {
        echo(c).map_err(|e| ("echo", e))?;
        peer_closes(c).map_err(|e| ("peer close", e))?;
        listen(c).map_err(|e| ("listen", e))?;
        udp_rr(c).map_err(|e| ("udp", e))?;
        tftp_rr(c).map_err(|e| ("tftp", e))?;
        ping(c).map_err(|e| ("ping", e))?;
        bulk_tx(c, &t, &mut sh, 7003, "tap").map_err(|e| ("tx", e))?;
        bulk_rx(c, &t, &mut sh, 7004, "tap").map_err(|e| ("rx", e))?;
    } else {
        for (k, cond) in CONDITIONS.iter().enumerate() {
            bulk_tx(c, &t, &mut sh, 7010 + k as u16, cond).map_err(|e| ("tx", e))?;
            bulk_rx(c, &t, &mut sh, 7020 + k as u16, cond).map_err(|e| ("rx", e))?;
        }
    }
    // Let the last close finish on the wire before the end marker.
    sys::sleep_ms(300);
    println!("realnet: end");
    Ok(())
}

/// Entry for modes 1 and 2 (`ModeArgs`).
pub fn main(mode: u8) -> i32 {
    let mut c = NetClient::new(IpcTransport::new(nexus_slots::bench_net::NET));
    match run(&mut c, mode) {
        Ok(()) => 0,
        Err((step, e)) => {
            println!("realnet: FAIL {}: {:?}", step, e);
            1
        }
    }
}
