//! echod: UDP echo on port 7 (`virt0` and `lo`) and the loopback HTTP
//! responder on 127.0.0.1:8080, both through netstackd-lite's sockets facade
//! (`nexus_net::NetClient` over IPC).
//!
//! One loop: wait up to `UDP_SLICE_NS` for a datagram on udp/7 (a facade
//! `Wait`) and echo it to its sender; then accept a pending HTTP connection
//! without waiting and serve it (bounded in time and size). Markers:
//! `echod: listen udp/7`, `echod: listen http 127.0.0.1:8080`, `echod: ready`.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    extern crate alloc;

    use echod::{HttpSession, Step, ECHO_PORT, HTTP_PORT, HTTP_REQUEST_NS, UDP_SLICE_NS};
    use nexus_net::{NetClient, NetError, TcpStream, MAX_DATAGRAM};
    use nexus_net_ipc::IpcTransport;
    use nexus_rt::{println, sys};
    use nexus_slots::echod as slot;

    type Client = NetClient<IpcTransport>;

    fn serve_http(c: &mut Client, s: TcpStream) {
        let deadline = sys::now_ns().saturating_add(HTTP_REQUEST_NS);
        let mut session = HttpSession::new();
        let mut buf = [0u8; 512];
        loop {
            let (n, eof) = match c.tcp_read_by(s, &mut buf, deadline) {
                Ok(0) => (0, true),
                Ok(n) => (n, false),
                Err(_) => break,
            };
            match session.feed(&buf[..n], eof) {
                Step::More => continue,
                Step::Respond(r) => {
                    let _ = c.tcp_write_all_by(s, &r, deadline);
                    break;
                }
                Step::Close => break,
            }
        }
        // Graceful: the peer reads the response, then EOF.
        let _ = c.close(s);
    }

    pub fn main(_arg: u64) -> i32 {
        let mut c = NetClient::new(IpcTransport::new(slot::NET));
        let udp = match c.udp_bind(ECHO_PORT) {
            Ok((s, _)) => s,
            Err(e) => {
                println!("echod: cannot bind udp/7: {:?}", e);
                return 2;
            }
        };
        println!("echod: listen udp/{}", ECHO_PORT);
        let http = match c.tcp_listen(HTTP_PORT, 4) {
            Ok((l, _)) => Some(l),
            Err(e) => {
                println!("echod: cannot listen on 127.0.0.1:{}: {:?}", HTTP_PORT, e);
                None
            }
        };
        if http.is_some() {
            println!("echod: listen http 127.0.0.1:{}", HTTP_PORT);
        }
        println!("echod: ready");
        let mut buf = alloc::vec![0u8; MAX_DATAGRAM];
        let mut echoed = 0u64;
        loop {
            let dl = sys::now_ns().saturating_add(UDP_SLICE_NS);
            match c.udp_recv_from_by(udp, &mut buf, dl) {
                Ok((n, from)) => {
                    let _ = c.udp_send_to(udp, from, &buf[..n]);
                    echoed += 1;
                    if echoed <= 3 {
                        println!("echod: echoed {} bytes to {}", n, from);
                    }
                    continue;
                }
                Err(NetError::TimedOut) => {}
                Err(e) => {
                    println!("echod: udp receive failed: {:?}", e);
                    sys::sleep_ms(100);
                }
            }
            if let Some(l) = http {
                if let Ok((s, _)) = c.tcp_accept(l) {
                    serve_http(&mut c, s);
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main, heap = 256 * 1024);
