//! echod: UDP echo on port 7 (`virt0` and `lo`) and the loopback HTTP
//! responder on 127.0.0.1:8080, both through netstackd-lite ("LN" v1).
//!
//! One loop: wait up to `UDP_SLICE_NS` for a datagram on udp/7 and echo it
//! to its sender; then accept a pending HTTP connection without waiting and
//! serve it (bounded in time and size). Markers: `echod: listen udp/7`,
//! `echod: listen http 127.0.0.1:8080`, `echod: ready`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    extern crate alloc;

    use echod::{HttpSession, Step, ECHO_PORT, HTTP_PORT, HTTP_REQUEST_NS, UDP_SLICE_NS};
    use nexus_lite_net::client::{Client, ClientError, Transport};
    use nexus_lite_net::lnproto::Status;
    use nexus_rt::{println, sys};
    use nexus_slots::echod as slot;

    struct Ipc;

    impl Transport for Ipc {
        fn call(&mut self, req: &[u8], rep: &mut [u8]) -> Result<usize, u64> {
            sys::ipc_call(slot::NET, req, rep, None, 0)
                .map(|(n, _)| n)
                .map_err(|e| e as u64)
        }
    }

    fn serve_http(c: &mut Client<Ipc>, s: u32) {
        let deadline = sys::now_ns().saturating_add(HTTP_REQUEST_NS);
        let mut session = HttpSession::new();
        let mut buf = [0u8; 512];
        loop {
            let (n, eof) = match c.read(s, deadline, &mut buf) {
                Ok(0) => (0, true),
                Ok(n) => (n, false),
                Err(_) => break,
            };
            match session.feed(&buf[..n], eof) {
                Step::More => continue,
                Step::Respond(r) => {
                    let _ = c.write_all(s, deadline, &r);
                    break;
                }
                Step::Close => break,
            }
        }
        let _ = c.close(s);
    }

    pub fn main(_arg: u64) -> i32 {
        let mut c = Client::new(Ipc, 0xec00_0000);
        let udp = match c.udp_bind([0; 4], ECHO_PORT) {
            Ok(h) => h,
            Err(e) => {
                println!("echod: cannot bind udp/7: {:?}", e);
                return 2;
            }
        };
        println!("echod: listen udp/{}", ECHO_PORT);
        let http = match c.listen([127, 0, 0, 1], HTTP_PORT, 4) {
            Ok(h) => Some(h),
            Err(e) => {
                println!("echod: cannot listen on 127.0.0.1:{}: {:?}", HTTP_PORT, e);
                None
            }
        };
        if http.is_some() {
            println!("echod: listen http 127.0.0.1:{}", HTTP_PORT);
        }
        println!("echod: ready");
        let mut buf = alloc::vec![0u8; 1472];
        let mut echoed = 0u64;
        loop {
            let dl = sys::now_ns().saturating_add(UDP_SLICE_NS);
            match c.udp_recv(udp, dl, &mut buf) {
                Ok((addr, port, n)) => {
                    let _ = c.udp_send(udp, addr, port, &buf[..n]);
                    echoed += 1;
                    if echoed <= 3 {
                        println!(
                            "echod: echoed {} bytes to {}.{}.{}.{}:{}",
                            n, addr[0], addr[1], addr[2], addr[3], port
                        );
                    }
                    continue;
                }
                Err(ClientError::Status(Status::TimedOut)) => {}
                Err(e) => {
                    println!("echod: udp receive failed: {:?}", e);
                    sys::sleep_ms(100);
                }
            }
            if let Some(l) = http {
                if let Ok((s, _)) = c.accept(l, 1) {
                    serve_http(&mut c, s);
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main, heap = 256 * 1024);
