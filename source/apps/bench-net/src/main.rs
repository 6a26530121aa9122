//! bench-net: guest network figures through the sockets facade.
//!
//! * TCP bulk: connect to the harness's sink on host 127.0.0.1 (reached via
//!   `guestfwd` at 10.0.2.101:9), write `TCP_BYTES` from a shared region
//!   attached to netstackd (`TcpWriteShared`, 64 KiB a call; `MAX_IO`
//!   messages if the region is refused, said by `path=`) and
//!   report MB/s from connect to the last byte accepted by the stack (the
//!   send buffer, a few tens of KiB, is noise against 16 MiB) and the
//!   guest's `instret` per payload byte over the same span (all tasks: one
//!   hart; docs/performance.md says how to read it).
//! * UDP request/response: QEMU's `restrict=on` lets only DHCP and TFTP out
//!   of the guest, so the rate is measured with one-block TFTP reads from
//!   QEMU's TFTP server (the harness's directory): RRQ → DATA → ACK.
//!
//! The start-up argument (`ModeArgs`) picks the mode: 0 (profile
//! `bench-net`) the figures above; 1 / 2 (profiles `real-peers`,
//! `real-peers-relay`) against Linux over a tap device, see `peers.rs` and
//! `scripts/real-peers.py`.
//!
//! Figures are printed, never asserted.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod peers;

#[cfg(target_os = "none")]
mod bench {
    extern crate alloc;

    use nexus_interfaces::args::ModeArgs;
    use nexus_net::{Ipv4Addr, NetClient, NetError, SocketAddrV4, MAX_IO, MAX_SHARED_IO};
    use nexus_net_ipc::IpcTransport;
    use nexus_rt::{println, sys};
    use nexus_slots::bench_net as slot;

    type Client = NetClient<IpcTransport>;

    const SINK: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 101), 9);
    const TFTP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 2), nexus_tftp::TFTP_PORT);
    const TCP_BYTES: usize = 16 * 1024 * 1024;
    const SEC: u64 = 1_000_000_000;

    fn tcp_bulk(c: &mut Client) -> Result<(), NetError> {
        let chunk = alloc::vec![0x5au8; MAX_IO];
        // The same client path as the real-peer bulk: a shared region
        // (the sink only counts bytes; the region holds the same 0x5a).
        let shared = nexus_rt::shm::SharedRegion::create(slot::SHM, nexus_abi::MEM_MAX_PAGES)
            .ok()
            .filter(|sh| sh.len() >= MAX_SHARED_IO)
            .and_then(|mut sh| {
                sh.bytes()[..MAX_SHARED_IO].fill(0x5a);
                c.attach_shared(sh.cap()).ok().map(|_| sh)
            });
        let (t0, i0) = (sys::now_ns(), sys::instret());
        let s = c.tcp_connect_by(SINK, t0 + 10 * SEC)?;
        let mut sent = 0;
        let end = t0 + 120 * SEC;
        while sent < TCP_BYTES {
            if shared.is_some() {
                let n = (TCP_BYTES - sent).min(MAX_SHARED_IO);
                c.tcp_write_shared_all_by(s, 0, n as u32, end)?;
                sent += n;
                continue;
            }
            let n = (TCP_BYTES - sent).min(MAX_IO);
            c.tcp_write_all_by(s, &chunk[..n], end)?;
            sent += n;
        }
        let (dt, di) = (sys::now_ns() - t0, sys::instret() - i0);
        let _ = c.close(s);
        let kbps = (sent as u64 * 1_000_000) / dt.max(1); // KB/s with 1e3 scaling
        let bytes = sent as u64;
        println!(
            "BENCH: net tcp bulk bytes={} ms={} MB/s={}.{:03} instr_per_byte={}.{:02} path={}",
            sent,
            dt / 1_000_000,
            kbps / 1000,
            kbps % 1000,
            di / bytes,
            (di % bytes) * 100 / bytes,
            if shared.is_some() {
                "shared"
            } else {
                "messages"
            }
        );
        Ok(())
    }

    /// UDP request/response: whole TFTP reads of a one-block file from
    /// QEMU's TFTP server (RRQ → DATA → ACK), the only guest UDP exchange
    /// `restrict=on` lets through. One read = one request/response pair.
    fn udp_rr(c: &mut Client) -> Result<(), NetError> {
        const ROUNDS: u64 = 200;
        let mut buf = [0u8; 64];
        let t0 = sys::now_ns();
        for _ in 0..ROUNDS {
            nexus_tftp::fetch(
                c,
                TFTP,
                "nexus-net-proof.txt",
                &mut buf,
                sys::now_ns,
                t0 + 60 * SEC,
            )
            .map_err(|e| {
                println!("BENCH: net failed: tftp {:?}", e);
                NetError::TimedOut
            })?;
        }
        let dt = sys::now_ns() - t0;
        println!(
            "BENCH: net udp rr rounds={} ms={} per_s={} us_each={}",
            ROUNDS,
            dt / 1_000_000,
            ROUNDS * SEC / dt.max(1),
            dt / ROUNDS / 1000
        );
        Ok(())
    }

    pub fn main(_: u64) -> i32 {
        let mode = match nexus_rt::ipc::fetch_args::<ModeArgs>(slot::INIT) {
            Ok(a) => a.mode,
            Err(e) => {
                println!("BENCH: net failed: no mode argument: {:?}", e);
                return 2;
            }
        };
        if mode != 0 {
            return crate::peers::main(mode);
        }
        let mut c = NetClient::new(IpcTransport::new(slot::NET));
        let end = sys::now_ns() + 20 * SEC;
        while c
            .local_addr()
            .map(|i| i.addr.is_unspecified())
            .unwrap_or(true)
        {
            if sys::now_ns() > end {
                println!("BENCH: net failed: no address");
                return 1;
            }
            sys::sleep_ms(20);
        }
        if let Err(e) = tcp_bulk(&mut c) {
            println!("BENCH: net failed: tcp bulk: {:?}", e);
            return 1;
        }
        if let Err(e) = udp_rr(&mut c) {
            println!("BENCH: net failed: udp: {:?}", e);
            return 1;
        }
        println!("BENCH: net end");
        0
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(bench::main);
