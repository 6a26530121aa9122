//! netstackd-lite: the bring-up lite network stack (no smoltcp).
//!
//! It holds no device: frames go to and come from `virtionetd-lite` through
//! the generated `vn` client (`idl/vn.toml`). Local clients (`echod`,
//! `fetchd`, …) use the sockets facade (`nexus-net`) on its endpoint, served
//! by the same `nexus_net::dispatch` and `Server` as the canonical
//! `netstackd`, with the lite stack as the `Backend`. One loop, never
//! blocking on a client:
//!
//! 1. run the stack's timers and loopback deliveries, print markers;
//! 2. hand queued frames to the driver (`tx`, answered at once);
//! 3. answer parked `Wait`/`Ping` requests that are ready or timed out
//!    (`Server::poll`), each with its kept kernel reply token;
//! 4. serve up to `REQUESTS_PER_TURN` waiting client requests without
//!    blocking (receive with a past deadline): init's client-gone notice
//!    (free that client's sockets and parked requests) or a facade request
//!    (dispatch; reply at once, or keep the token if it was parked);
//! 5. wait in the driver's `rx` until frames arrive or the earliest of
//!    `now + SLICE_NS`, a DHCP/ARP timer and a parked request's deadline.
//!
//! A client therefore waits at most one slice (5 ms) for service, and the
//! driver never waits on us (it parks our RX and replies).
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    extern crate alloc;

    use alloc::boxed::Box;

    use netstackd_lite::{dhcp_wait_ns, marker, rx_deadline, REQUESTS_PER_TURN};
    use nexus_abi::{Error, KERNEL_BADGE};
    use nexus_interfaces::vn;
    use nexus_lite_net::stack::{Event, SocketId, Stack};
    use nexus_net::{dispatch, ClientId, Outcome, Server, FACADE_MSG_MAX};
    use nexus_net_ipc::ReplyTokens;
    use nexus_rt::ipc::Endpoint;
    use nexus_rt::{println, sys};
    use nexus_slots::netstackd_lite as slot;

    /// Extra time granted to a driver call beyond the deadline it was given.
    const CALL_SLACK_NS: u64 = 100_000_000;

    pub fn main(arg: u64) -> i32 {
        let mut drv = vn::Client::new(Endpoint(slot::DRIVER));
        // The driver may still be starting: its endpoint queues our call.
        let mut mac = None;
        for _ in 0..50 {
            drv.deadline_ns = sys::now_ns().saturating_add(200_000_000);
            if let Ok(info) = drv.info() {
                mac = Some(info.mac);
                break;
            }
            sys::sleep_ms(20);
        }
        let Some(mac) = mac else {
            println!("netstackd-lite: virtionetd-lite does not answer");
            return 3;
        };
        let now = sys::now_ns();
        let mut stack = Stack::new(mac, now, dhcp_wait_ns(arg));
        // The instance changes across restarts (boot time in ns), so clients
        // holding handles of an earlier netstackd-lite get `ServerRestarted`.
        let mut server: Server<SocketId> = Server::new((now as u32) | 1);
        let mut tokens = ReplyTokens::new();
        let mut req: Box<[u8; FACADE_MSG_MAX]> = Box::new([0; FACADE_MSG_MAX]);
        let mut rep: Box<[u8; FACADE_MSG_MAX]> = Box::new([0; FACADE_MSG_MAX]);
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
                drv.deadline_ns = sys::now_ns().saturating_add(CALL_SLACK_NS);
                // A frame the driver cannot take (ring full, device failed)
                // is lost, as on any link.
                let _ = drv.tx(&f);
            }
            server.poll(&mut stack, now, |client, corr, bytes| {
                if let Some(token) = tokens.take(client, corr) {
                    // A caller that gave up or ended is not an error here.
                    let _ = sys::ipc_reply(token, bytes, None);
                }
            });
            for _ in 0..REQUESTS_PER_TURN {
                let msg = match sys::ipc_recv(slot::ENDPOINT, &mut req[..], 1) {
                    Ok(m) => m,
                    Err(Error::TimedOut) => break,
                    Err(e) => {
                        println!("netstackd-lite: receive failed: {}", e);
                        break;
                    }
                };
                let body = &req[..msg.len.min(FACADE_MSG_MAX)];
                if msg.badge == KERNEL_BADGE {
                    continue;
                }
                if msg.badge == 0 {
                    // Only init holds badge 0: a client ended.
                    if let Some(badge) = nexus_interfaces::client_gone(body) {
                        let client = ClientId(badge);
                        let closed = server.drop_client(&mut stack, client);
                        tokens.drop_client(client);
                        println!(
                            "netstackd-lite: client {:#x} gone, closed {} socket(s)",
                            badge, closed
                        );
                    }
                    let _ = sys::ipc_reply(msg.token, &[], None);
                    continue;
                }
                let client = ClientId(msg.badge);
                match dispatch(
                    &mut stack,
                    &mut server,
                    client,
                    body,
                    &mut rep,
                    sys::now_ns(),
                ) {
                    Outcome::Reply(n) => {
                        let _ = sys::ipc_reply(msg.token, &rep[..n], None);
                    }
                    Outcome::Parked => {
                        // Parked only after a successful decode, so this holds.
                        let corr =
                            nexus_net::decode_request(body).map_or(0, |(h, _)| h.correlation);
                        if !tokens.insert(client, corr, msg.token) {
                            let _ = sys::ipc_reply(msg.token, &[], None);
                        }
                    }
                }
            }
            if stack.has_work() || stack.next_deadline().is_some_and(|d| d <= sys::now_ns()) {
                continue;
            }
            let now = sys::now_ns();
            let dl = rx_deadline(now, stack.next_deadline(), server.next_deadline());
            drv.deadline_ns = dl.saturating_add(CALL_SLACK_NS);
            match drv.rx(dl) {
                Ok(frames) => {
                    let now = sys::now_ns();
                    for f in frames.0.iter() {
                        stack.on_frame(f, now);
                    }
                }
                Err(vn::Error::TimedOut | vn::Error::Superseded) => {}
                Err(e) => {
                    if e == vn::Error::Malformed {
                        println!("netstackd-lite: malformed RX reply");
                    }
                    // The driver failed, restarted or is gone: do not spin
                    // on it, wait out the slice.
                    sys::sleep_until(dl);
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main, heap = 2 * 1024 * 1024);
