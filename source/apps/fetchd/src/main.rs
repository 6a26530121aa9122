//! fetchd: the lite path's local client, speaking netstackd-lite's sockets
//! facade (`nexus_net::NetClient` over IPC). Asks for an ICMP echo over
//! `lo`, then fetches `http://127.0.0.1:8080/hello` from echod's responder
//! over the host-local stream shim and checks status and body.
//!
//! Markers: `fetchd: ready`, `SELFTEST: net lo ping ok`,
//! `fetchd: get http://127.0.0.1:8080/hello ok bytes=<body bytes>`,
//! `SELFTEST: net fetch ok`; on a failed check `SELFTEST: FAIL <what>`.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    use fetchd::{Checked, ResponseBuf, ADDR, CONNECT_WAIT_NS, FETCH_NS, PING_NS, PORT, URL};
    use nexus_lite_net::http;
    use nexus_net::{Ipv4Addr, NetClient, NetError, SocketAddrV4};
    use nexus_net_ipc::IpcTransport;
    use nexus_rt::{println, sys};
    use nexus_slots::fetchd as slot;

    type Client = NetClient<IpcTransport>;

    fn fetch(c: &mut Client) -> Result<usize, &'static str> {
        let give_up = sys::now_ns().saturating_add(CONNECT_WAIT_NS);
        let remote = SocketAddrV4::new(Ipv4Addr::from(ADDR), PORT);
        let s = loop {
            let dl = sys::now_ns().saturating_add(FETCH_NS).min(give_up);
            match c.tcp_connect_by(remote, dl) {
                Ok(s) => break s,
                Err(NetError::ConnectionRefused) if sys::now_ns() < give_up => {
                    sys::sleep_ms(50); // the responder is not listening yet
                }
                Err(_) => return Err("connect failed"),
            }
        };
        let deadline = sys::now_ns().saturating_add(FETCH_NS);
        let req = http::build_get(http::HELLO_PATH, "127.0.0.1:8080");
        let result = (|| {
            c.tcp_write_all_by(s, &req, deadline)
                .map_err(|_| "write failed")?;
            let mut resp = ResponseBuf::new();
            let mut buf = [0u8; 1024];
            loop {
                let n = c
                    .tcp_read_by(s, &mut buf, deadline)
                    .map_err(|_| "read failed")?;
                match resp.feed(&buf[..n], n == 0, http::HELLO_BODY) {
                    Checked::More if n > 0 => {}
                    Checked::More => return Err("truncated response"),
                    Checked::Ok(len) => return Ok(len),
                    Checked::Fail(why) => return Err(why),
                }
            }
        })();
        let _ = c.close(s);
        result
    }

    pub fn main(_arg: u64) -> i32 {
        let mut c = NetClient::new(IpcTransport::new(slot::NET));
        if let Err(e) = c.local_addr() {
            println!("fetchd: netstackd-lite unavailable: {:?}", e);
            println!("SELFTEST: FAIL net lo ping (no netstackd-lite)");
            println!("SELFTEST: FAIL net fetch (no netstackd-lite)");
            return 2;
        }
        println!("fetchd: ready");
        let mut failed = false;
        let deadline = sys::now_ns().saturating_add(PING_NS);
        match c.ping(Ipv4Addr::LOCALHOST, 1, deadline) {
            Ok(rtt) => {
                println!("fetchd: lo ping rtt_us={}", rtt / 1000);
                println!("SELFTEST: net lo ping ok");
            }
            Err(e) => {
                failed = true;
                println!("SELFTEST: FAIL net lo ping ({:?})", e);
            }
        }
        match fetch(&mut c) {
            Ok(n) => {
                println!("fetchd: get {} ok bytes={}", URL, n);
                println!("SELFTEST: net fetch ok");
            }
            Err(why) => {
                failed = true;
                println!("fetchd: get {} failed: {}", URL, why);
                println!("SELFTEST: FAIL net fetch ({})", why);
            }
        }
        i32::from(failed)
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main, heap = 128 * 1024);
