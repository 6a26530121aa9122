//! netstackd-lite: the bring-up lite network stack (no smoltcp).
//!
//! It holds no device: frames go to and come from `virtionetd-lite` over the
//! "VN" protocol. Local clients (`echod`, `fetchd`, …) use the "LN" sockets
//! protocol on its endpoint. One loop, never blocking on a client:
//!
//! 1. run the stack's timers and loopback deliveries, print markers;
//! 2. hand queued frames to the driver (`TX`, answered at once);
//! 3. retry parked client requests, replying to those that completed;
//! 4. serve up to `REQUESTS_PER_TURN` waiting client requests without
//!    blocking (receive with a past deadline);
//! 5. wait in the driver's `RX` until frames arrive or the earliest of
//!    `now + SLICE_NS`, a DHCP/ARP timer and a parked request's deadline.
//!
//! A client therefore waits at most one slice (5 ms) for service, and the
//! driver never waits on us (it parks our RX and replies).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    extern crate alloc;

    use alloc::vec;

    use netstackd_lite::{dhcp_wait_ns, marker, rx_deadline, REQUESTS_PER_TURN};
    use nexus_abi::{Error, KERNEL_BADGE};
    use nexus_lite_net::lnproto as ln;
    use nexus_lite_net::server::Server;
    use nexus_lite_net::stack::{Event, Stack};
    use nexus_lite_net::vnproto::{self as vn, Request, Status};
    use nexus_rt::{println, sys};
    use nexus_slots::netstackd_lite as slot;

    /// Extra time granted to a driver call beyond the deadline it was given.
    const CALL_SLACK_NS: u64 = 100_000_000;

    struct Driver {
        corr: u32,
        req: alloc::vec::Vec<u8>,
        rep: alloc::vec::Vec<u8>,
    }

    impl Driver {
        /// Calls the driver; returns (status, reply body range) or None.
        fn call(&mut self, r: &Request<'_>, deadline: u64) -> Option<(Status, usize)> {
            self.corr = self.corr.wrapping_add(1);
            let n = vn::encode_request(self.corr, r, &mut self.req)?;
            let op = self.req[3];
            let (m, _) =
                sys::ipc_call(slot::DRIVER, &self.req[..n], &mut self.rep, None, deadline).ok()?;
            let (st, body) = vn::decode_reply(self.rep.get(..m)?, op, self.corr)?;
            Some((st, body.len()))
        }
        fn body(&self, len: usize) -> &[u8] {
            &self.rep[vn::REP_HEADER..vn::REP_HEADER + len]
        }
    }

    pub fn main(arg: u64) -> i32 {
        let mut drv = Driver {
            corr: 0,
            req: vec![0; vn::MSG_MAX],
            rep: vec![0; vn::MSG_MAX],
        };
        // The driver may still be starting: its endpoint queues our call.
        let mut mac = None;
        for _ in 0..50 {
            let dl = sys::now_ns().saturating_add(200_000_000);
            if let Some((Status::Ok, n)) = drv.call(&Request::Info, dl) {
                mac = vn::decode_info(drv.body(n)).map(|(m, _)| m);
                break;
            }
            sys::sleep_ms(20);
        }
        let Some(mac) = mac else {
            println!("netstackd-lite: virtionetd-lite does not answer");
            return 3;
        };
        let mut stack = Stack::new(mac, sys::now_ns(), dhcp_wait_ns(arg));
        let mut server = Server::new();
        let mut req = vec![0u8; ln::MSG_MAX];
        let mut out = vec![0u8; ln::MSG_MAX];
        let mut ready = false;

        loop {
            let now = sys::now_ns();
            stack.poll(now);
            while let Some(e) = stack.take_event() {
                println!("{}", marker(&e));
                if matches!(e, Event::Virt0Up(_)) && !ready {
                    ready = true;
                    println!("netstackd-lite: ready");
                }
            }
            while let Some(f) = stack.pop_tx() {
                let dl = sys::now_ns().saturating_add(CALL_SLACK_NS);
                // A frame the driver cannot take (ring full, device failed)
                // is lost, as on any link.
                let _ = drv.call(&Request::Tx(&f), dl);
            }
            server.poll(&mut stack, now, &mut out, |token, bytes| {
                // A client that gave up or ended is not an error here.
                let _ = sys::ipc_reply(token, bytes, None);
            });
            for _ in 0..REQUESTS_PER_TURN {
                let msg = match sys::ipc_recv(slot::ENDPOINT, &mut req, 1) {
                    Ok(m) => m,
                    Err(Error::TimedOut) => break,
                    Err(e) => {
                        println!("netstackd-lite: receive failed: {}", e);
                        break;
                    }
                };
                let body = &req[..msg.len.min(req.len())];
                if msg.badge == KERNEL_BADGE {
                    continue;
                }
                if msg.badge == 0 {
                    // Only init holds badge 0: a client ended.
                    if let Some(b) = nexus_interfaces::client_gone(body) {
                        server.drop_owner(&mut stack, b);
                    }
                    let _ = sys::ipc_reply(msg.token, &[], None);
                    continue;
                }
                let now = sys::now_ns();
                if let Some(n) =
                    server.handle(&mut stack, msg.badge, msg.token, body, now, &mut out)
                {
                    let _ = sys::ipc_reply(msg.token, &out[..n], None);
                }
            }
            if stack.has_work() || stack.next_deadline().is_some_and(|d| d <= sys::now_ns()) {
                continue;
            }
            let now = sys::now_ns();
            let dl = rx_deadline(now, stack.next_deadline(), server.next_deadline());
            let rx = Request::Rx { deadline: dl };
            match drv.call(&rx, dl.saturating_add(CALL_SLACK_NS)) {
                Some((Status::Ok, n)) => {
                    let now = sys::now_ns();
                    let body = &drv.rep[vn::REP_HEADER..vn::REP_HEADER + n];
                    if vn::decode_rx(body, |f| stack.on_frame(f, now)).is_none() {
                        println!("netstackd-lite: malformed RX reply");
                    }
                }
                Some((Status::TimedOut | Status::Superseded, _)) => {}
                Some((Status::DeviceFailed, _)) | None => {
                    // Do not spin on a dead driver: wait out the slice.
                    sys::sleep_until(dl);
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main, heap = 2 * 1024 * 1024);
