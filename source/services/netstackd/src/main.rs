//! netstackd: the only task that holds the virtio-net device.
//!
//! It brings up virtio-net (interrupts delivered as kernel notices on its
//! own endpoint, `IrqBind`), runs smoltcp through `nexus-net-os`, and serves
//! the sockets facade (`nexus-net`) to every holder of a capability for its
//! endpoint. One loop, never blocking on a client:
//!
//! 1. poll the stack (markers for address events), answer parked requests
//!    that became ready or timed out (`Server::poll`), each with its own
//!    kernel reply token;
//! 2. receive until the next network or request deadline: a device
//!    interrupt (ack device, then `IrqAck`), init's client-gone notice
//!    (free that client's sockets), or a facade request (dispatch; reply at
//!    once, or keep the token if it was parked).
//!
//! A client with a notify route (the profile's `bus_client`, dsoftbusd, and
//! the `wake_bus` grant: NOTIFY on its endpoint) may arm a set with
//! `WaitArm` instead of blocking in `WaitAny`; after each poll, an armed set
//! that became ready gets one `Notify` (`Server::poll_armed`).
//!
//! A client may attach a shared region (`AttachShared`, carrying a memory
//! capability into the slot the loop offers on every receive): netstackd
//! maps it and then moves that client's `TcpWriteShared` / `TcpReadShared`
//! bytes between the region and smoltcp's socket buffers directly. Any
//! capability that arrives is dropped after the request (the mapping keeps
//! the object); the mapping goes on `DetachShared` or when init says the
//! client is gone.
//!
//! Requests are served in the kernel's FIFO order of callers, each in
//! bounded time, so one slow or hostile client cannot starve the others.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    extern crate alloc;

    use alloc::boxed::Box;
    use core::ptr::NonNull;

    use nexus_abi::{DeathKind, DeathNotice, Error, KERNEL_BADGE};
    use nexus_net::{
        dispatch_shared, region_op, ClientId, NetError, Outcome, Server, SharedRegions,
        FACADE_MSG_MAX,
    };
    use nexus_net_os::{
        virtio::{NetFeatures, VirtioNetDevice},
        NetEvent, NetStack, StackConfig,
    };
    use nexus_rt::{println, sys};
    use nexus_slots::netstackd as slot;
    use nexus_virtio_hal::NexusHal;
    use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};

    use netstackd::selfloop::SelfLoop;
    use netstackd::{policy_from_args, ReplyTokens};
    use nexus_interfaces::args::NetstackdArgs;

    type Device = VirtioNetDevice<NexusHal, MmioTransport<'static>>;
    type Nic = SelfLoop<Device>;

    /// Bounce slots: a few spares only. The NIC's RX and TX buffers are DMA
    /// memory (`VirtioNetDevice`), which the HAL shares without bouncing.
    const BOUNCE_SLOTS: usize = 4;
    const BOUNCE_SLOT_SIZE: usize = 4096;
    /// The slot offered for a client's memory capability (`AttachShared`);
    /// emptied again after every request.
    const ACCEPT: u32 = nexus_abi::CAP_SLOTS as u32 - 1;

    /// A client's shared region as mapped here: (address, length).
    type Region = (u64, u32);

    /// Maps the memory capability that just arrived in [`ACCEPT`],
    /// writable (a read-only capability cannot serve `TcpReadShared`).
    fn map_region() -> Result<(Region, u32), NetError> {
        let (va, pages) = sys::mem_map(ACCEPT, true).map_err(|_| NetError::InvalidInput)?;
        let len = pages
            .checked_mul(nexus_abi::layout::PAGE)
            .and_then(|l| u32::try_from(l).ok())
            .unwrap_or(0);
        Ok(((va, len), len))
    }

    /// The bytes of a region recorded in `regions`.
    fn region_bytes(r: Region) -> &'static mut [u8] {
        // SAFETY: `r` was mapped read/write for this task by `map_region`
        // and stays mapped until `mem_unmap`, which happens only when the
        // record leaves `regions` (detach, client gone), after the last
        // use of this slice. The client shares the pages and may change
        // them at any time: they are only copied into or out of, as bytes.
        unsafe { core::slice::from_raw_parts_mut(r.0 as *mut u8, r.1 as usize) }
    }

    fn print_event(e: NetEvent, ready: &mut bool) {
        match e {
            NetEvent::IfaceUp {
                addr, prefix_len, ..
            } => {
                println!("net: smoltcp iface up {}/{}", addr, prefix_len);
                if !*ready {
                    *ready = true;
                    println!("netstackd: ready");
                }
            }
            NetEvent::DhcpBound {
                addr, prefix_len, ..
            } => println!("net: dhcp bound {}/{}", addr, prefix_len),
            NetEvent::DhcpFallback {
                addr, prefix_len, ..
            } => println!(
                "net: dhcp unavailable (fallback static {}/{})",
                addr, prefix_len
            ),
            NetEvent::DhcpLost => println!("net: dhcp lease lost"),
        }
    }

    fn bring_up() -> Result<Device, &'static str> {
        let info = sys::cap_info(slot::NET_MMIO).map_err(|_| "no device capability")?;
        let len = (info.y & 0xffff_ffff_ffff) as usize;
        let va = sys::mmio_map(slot::NET_MMIO).map_err(|_| "cannot map the device")?;
        nexus_virtio_hal::init(slot::DMA, BOUNCE_SLOTS, BOUNCE_SLOT_SIZE)
            .map_err(|_| "no DMA memory")?;
        let header = NonNull::new(va as *mut VirtIOHeader).ok_or("null mapping")?;
        // SAFETY: `va` maps this task's virtio-mmio window of `len` bytes
        // (device memory, granted by the MMIO capability) for the whole life
        // of the task, and nothing else in the task touches it.
        let transport =
            unsafe { MmioTransport::new(header, len) }.map_err(|_| "not a virtio-mmio device")?;
        VirtioNetDevice::new(transport).map_err(|_| "virtio-net init failed")
    }

    pub fn main(_arg: u64) -> i32 {
        let (policy, bus_client) = match nexus_rt::ipc::fetch_args::<NetstackdArgs>(slot::INIT) {
            Ok(a) => match policy_from_args(&a) {
                Some(p) => (p, a.bus_client.map(ClientId)),
                None => {
                    println!("netstackd: bad address argument {:?}", a);
                    return 2;
                }
            },
            Err(e) => {
                println!("netstackd: no start-up argument: {:?}", e);
                return 2;
            }
        };
        let mut dev = match bring_up() {
            Ok(d) => d,
            Err(why) => {
                println!("netstackd: virtio-net unavailable: {}", why);
                return 3;
            }
        };
        let mac = dev.mac();
        let features = dev.features();
        println!(
            "net: virtio-net up mac={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} csum={} tso4={}",
            mac[0],
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5],
            u8::from(features.contains(NetFeatures::CSUM)),
            u8::from(features.contains(NetFeatures::HOST_TSO4))
        );
        if let Err(e) = sys::irq_bind(slot::NET_MMIO, slot::ENDPOINT) {
            println!("netstackd: cannot bind the device interrupt: {}", e);
            return 4;
        }
        dev.enable_interrupts();

        let now = sys::now_ns();
        // Frames to ourselves and broadcasts also come back to the stack, so
        // services in this VM reach each other through netstackd.
        let nic: Nic = SelfLoop::new(dev, mac);
        let mut cfg = StackConfig::new(mac, policy);
        cfg.local_delivery = true;
        // TCP initial sequence numbers must differ across boots.
        cfg.random_seed ^= now.rotate_left(29) ^ sys::instret();
        // The 8 MiB heap leaves room for 5 MiB of socket buffers.
        cfg.mem_budget = 5 * 1024 * 1024;
        // Outgoing streams get 128 KiB each way: window scaling, and enough
        // segments in flight for fast retransmit under loss. Listener slots
        // keep the 16 KiB defaults (docs/nexus-net-os.md, section 4).
        cfg.tcp_connect_buf = 128 * 1024;
        let mut stack = NetStack::new(nic, cfg, now);
        // The instance changes across restarts (boot time in ns), so clients
        // holding handles of an earlier netstackd get `ServerRestarted`.
        let mut server: Server<_> = Server::new((now as u32) | 1);
        // The notify route: only with both the argument and the grant.
        let route = bus_client.filter(|_| {
            sys::cap_info(slot::WAKE_BUS)
                .is_ok_and(|c| c.kind == Some(nexus_abi::CapKind::Endpoint))
        });
        if let Some(c) = route {
            server.add_notify_route(c);
        }
        let mut tokens = ReplyTokens::new();
        let mut regions: SharedRegions<Region> = SharedRegions::new();
        // Offer a slot for memory capabilities only if it is free.
        let accept = sys::cap_info(ACCEPT).is_err().then_some(ACCEPT);
        let mut req: Box<[u8; FACADE_MSG_MAX]> = Box::new([0; FACADE_MSG_MAX]);
        let mut rep: Box<[u8; FACADE_MSG_MAX]> = Box::new([0; FACADE_MSG_MAX]);
        let mut ready = false;
        let mut pending: Option<(u64, usize)> = None;

        // False after a request that provably changed nothing (`needs_poll`): the
        // stack is not polled again before the next receive.
        let mut dirty = true;
        loop {
            let now = sys::now_ns();
            if dirty || stack.device().local_pending() {
                stack.poll(now, &mut |e| print_event(e, &mut ready));
                server.poll(&mut stack, now, |client, corr, bytes| {
                    if let Some(token) = tokens.take(client, corr) {
                        // A caller that gave up or ended is not an error here.
                        let _ = sys::ipc_reply(token, bytes, None);
                    }
                });
                server.poll_armed(&mut stack, |client| {
                    if Some(client) == route {
                        // Never blocks; coalesced by the kernel.
                        let _ = sys::notify(slot::WAKE_BUS);
                    }
                });
            }
            dirty = true;
            // Frames this poll looped back to ourselves: receive them next pass.
            let local = stack.device().local_pending().then_some(now);
            let wake = [stack.poll_at(now), server.next_deadline(), local]
                .into_iter()
                .flatten()
                .min()
                .map_or(0, |t| t.max(1));
            let (token, reply_len) = pending.take().unwrap_or((0, 0));
            let msg = match sys::ipc_reply_recv_accept(
                slot::ENDPOINT,
                token,
                &rep[..reply_len],
                &mut req[..],
                accept,
                wake,
            ) {
                Ok(m) => m,
                Err(Error::TimedOut) => continue,
                Err(e) => {
                    println!("netstackd: receive failed: {}", e);
                    continue;
                }
            };
            let body = &req[..msg.len.min(FACADE_MSG_MAX)];
            let cap = msg.cap.is_some();
            if cap && msg.badge == KERNEL_BADGE {
                let _ = sys::cap_drop(ACCEPT);
            }
            if msg.badge == KERNEL_BADGE {
                if DeathNotice::decode(body).is_some_and(|n| n.kind == DeathKind::Interrupt) {
                    stack.device_mut().inner_mut().ack_interrupt();
                    let _ = sys::irq_ack(slot::NET_MMIO);
                }
                continue;
            }
            if msg.badge == 0 {
                // Only init holds badge 0 on this endpoint.
                if cap {
                    let _ = sys::cap_drop(ACCEPT);
                }
                if let Some(badge) = nexus_interfaces::client_gone(body) {
                    let client = ClientId(badge);
                    let closed = server.drop_client(&mut stack, client);
                    tokens.drop_client(client);
                    let unmapped = regions
                        .remove(client)
                        .is_some_and(|(va, _)| sys::mem_unmap(va).is_ok());
                    println!(
                        "netstackd: client {:#x} gone, closed {} socket(s){}",
                        badge,
                        closed,
                        if unmapped {
                            ", unmapped its shared region"
                        } else {
                            ""
                        }
                    );
                }
                pending = Some((msg.token, 0));
                continue;
            }
            let client = ClientId(msg.badge);
            let attach = region_op(
                &server,
                &mut regions,
                client,
                body,
                cap,
                &mut rep,
                map_region,
                |(va, _)| {
                    let _ = sys::mem_unmap(va);
                },
            );
            if cap {
                // Mapped or refused: the slot is offered again empty.
                let _ = sys::cap_drop(ACCEPT);
            }
            if let Some(n) = attach {
                pending = Some((msg.token, n));
                continue;
            }
            let region = regions.get(client).map(|(r, _)| region_bytes(r));
            match dispatch_shared(
                &mut stack,
                &mut server,
                client,
                body,
                &mut rep,
                sys::now_ns(),
                region,
            ) {
                Outcome::Reply(n) => {
                    dirty = netstackd::needs_poll(body, &rep[..n]);
                    pending = Some((msg.token, n));
                }
                Outcome::Parked => {
                    // Parked only after a successful decode, so this holds.
                    let corr = nexus_net::decode_request(body).map_or(0, |(h, _)| h.correlation);
                    if !tokens.insert(client, corr, msg.token) {
                        let _ = sys::ipc_reply(msg.token, &[], None);
                    }
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main, heap = 8 * 1024 * 1024);
