//! virtionetd-lite: the bring-up lite virtio-net frontend.
//!
//! A hand-written virtio-mmio (version 2) driver: one RX and one TX split
//! virtqueue of 16 descriptors, features `VERSION_1 | MAC` only, one
//! 2 KiB DMA buffer per descriptor (12-byte virtio-net header + frame). It
//! serves the `vn` interface (`idl/vn.toml`, generated dispatch through
//! `virtionetd_lite::Driver`) on its own endpoint, where the device's
//! interrupts also arrive (`IrqBind`):
//!
//! - `tx(frame)`: copied into a free TX buffer and queued, answered at once
//!   (`NoResources` when the ring is full: the frame is dropped).
//! - `rx(deadline_ns)`: answered at once with up to 5 held frames, or
//!   *parked* until an interrupt brings frames or the deadline passes (a
//!   newer `rx` supersedes it). The driver only ever replies, so it never
//!   blocks on its client.
//!
//! Received frames move from the used ring into a bounded holding queue
//! (`HELD_FRAMES`), and their buffers go straight back to the device; when
//! the queue is full, frames stay in the ring and the device drops new ones.
//! A device that corrupts a used ring is declared failed: the driver then
//! answers `DeviceFailed` and touches the device no more.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    extern crate alloc;

    use alloc::collections::VecDeque;
    use alloc::vec::Vec;
    use core::sync::atomic::{fence, Ordering};

    use nexus_abi::{DeathKind, DeathNotice, Error, KERNEL_BADGE};
    use nexus_interfaces::{notice, vn};
    use nexus_lite_net::virtq::{Desc, RingMem, SplitQueue, UsedError};
    use nexus_lite_net::wire::eth;
    use nexus_rt::{println, sys};
    use nexus_slots::virtionetd_lite as slot;
    use virtionetd_lite::{
        format_mac, mmio_irq_len, negotiate, queue_size, reg, status, superseded_reply, Driver,
        Frame, Layout, Nic, Served, BUF_SIZE, HELD_FRAMES, MTU, NET_DEVICE_ID, NET_HDR, RX_QUEUE,
        TX_QUEUE,
    };

    /// The device's register window.
    struct Regs(usize);

    impl Regs {
        fn read(&self, off: usize) -> u32 {
            // SAFETY: `self.0` is this task's mapping of the virtio-mmio
            // window (at least 0x200 bytes, granted by the MMIO capability,
            // mapped for the task's life); `off` is a 4-aligned register
            // offset from `reg` below 0x108.
            unsafe { core::ptr::read_volatile((self.0 + off) as *const u32) }
        }
        fn write(&self, off: usize, v: u32) {
            // SAFETY: as in `read`; registers are written with 32-bit
            // volatile stores as the virtio-mmio transport requires.
            unsafe { core::ptr::write_volatile((self.0 + off) as *mut u32, v) }
        }
        fn config_u8(&self, i: usize) -> u8 {
            // SAFETY: device configuration bytes at 0x100.. of the same
            // window (the MAC is the first 6 bytes of virtio-net's config).
            unsafe { core::ptr::read_volatile((self.0 + reg::CONFIG + i) as *const u8) }
        }
    }

    /// One queue's rings in DMA memory.
    struct Rings {
        desc: usize,
        avail: usize,
        used: usize,
    }

    // SAFETY (for every access below): `desc`/`avail`/`used` point into the
    // DMA allocation made at bring-up, which stays mapped for the task's
    // life; `Layout` keeps each ring inside its own page with the alignment
    // virtio requires, and the indices passed by `SplitQueue` are already
    // reduced modulo the queue size. Volatile accesses because the device
    // reads and writes this memory concurrently.
    impl RingMem for Rings {
        fn write_desc(&mut self, i: u16, d: Desc) {
            let p = self.desc + 16 * usize::from(i);
            // SAFETY: see the impl comment.
            unsafe {
                core::ptr::write_volatile(p as *mut u64, d.addr);
                core::ptr::write_volatile((p + 8) as *mut u32, d.len);
                core::ptr::write_volatile((p + 12) as *mut u16, d.flags);
                core::ptr::write_volatile((p + 14) as *mut u16, d.next);
            }
        }
        fn write_avail_ring(&mut self, s: u16, id: u16) {
            // SAFETY: see the impl comment.
            unsafe {
                core::ptr::write_volatile((self.avail + 4 + 2 * usize::from(s)) as *mut u16, id)
            }
        }
        fn publish_avail_idx(&mut self, idx: u16) {
            fence(Ordering::SeqCst);
            // SAFETY: see the impl comment.
            unsafe { core::ptr::write_volatile((self.avail + 2) as *mut u16, idx) }
            fence(Ordering::SeqCst);
        }
        fn read_used_idx(&self) -> u16 {
            // SAFETY: see the impl comment.
            let v = unsafe { core::ptr::read_volatile((self.used + 2) as *const u16) };
            fence(Ordering::SeqCst);
            v
        }
        fn read_used_elem(&self, s: u16) -> (u32, u32) {
            let p = self.used + 4 + 8 * usize::from(s);
            // SAFETY: see the impl comment.
            unsafe {
                (
                    core::ptr::read_volatile(p as *const u32),
                    core::ptr::read_volatile((p + 4) as *const u32),
                )
            }
        }
    }

    struct Queue {
        q: SplitQueue,
        rings: Rings,
        /// VA and PA of buffer 0; buffer `i` is `i * BUF_SIZE` further.
        buf_va: usize,
        buf_pa: u64,
    }

    impl Queue {
        fn buf_va(&self, i: u16) -> usize {
            self.buf_va + usize::from(i) * BUF_SIZE
        }
        fn buf_pa(&self, i: u16) -> u64 {
            self.buf_pa + u64::from(i) * BUF_SIZE as u64
        }
    }

    struct Dev {
        regs: Regs,
        rx: Queue,
        tx: Queue,
        mac: [u8; 6],
        held: VecDeque<Vec<u8>>,
        tx_free: Vec<u16>,
        failed: bool,
        bad_used: u64,
    }

    fn setup_queue(regs: &Regs, idx: u32, va: usize, pa: u64) -> Result<Queue, &'static str> {
        regs.write(reg::QUEUE_SEL, idx);
        if regs.read(reg::QUEUE_READY) != 0 {
            return Err("queue already in use");
        }
        let size = queue_size(regs.read(reg::QUEUE_NUM_MAX)).ok_or("queue not available")?;
        regs.write(reg::QUEUE_NUM, u32::from(size));
        let addr = |off: usize| pa + off as u64;
        for (lo, hi, a) in [
            (
                reg::QUEUE_DESC_LOW,
                reg::QUEUE_DESC_HIGH,
                addr(Layout::desc(idx)),
            ),
            (
                reg::QUEUE_DRIVER_LOW,
                reg::QUEUE_DRIVER_HIGH,
                addr(Layout::avail(idx)),
            ),
            (
                reg::QUEUE_DEVICE_LOW,
                reg::QUEUE_DEVICE_HIGH,
                addr(Layout::used(idx)),
            ),
        ] {
            regs.write(lo, a as u32);
            regs.write(hi, (a >> 32) as u32);
        }
        regs.write(reg::QUEUE_READY, 1);
        Ok(Queue {
            q: SplitQueue::new(size).map_err(|_| "bad queue size")?,
            rings: Rings {
                desc: va + Layout::desc(idx),
                avail: va + Layout::avail(idx),
                used: va + Layout::used(idx),
            },
            buf_va: va + Layout::buf(idx, 0),
            buf_pa: pa + Layout::buf(idx, 0) as u64,
        })
    }

    fn bring_up(mmio_va: usize) -> Result<Dev, &'static str> {
        let regs = Regs(mmio_va);
        if regs.read(reg::MAGIC) != reg::MAGIC_VALUE {
            return Err("not a virtio-mmio device");
        }
        match regs.read(reg::VERSION) {
            2 => {}
            1 => {
                return Err(
                    "legacy virtio-mmio (version 1); use -global virtio-mmio.force-legacy=false",
                )
            }
            _ => return Err("unknown virtio-mmio version"),
        }
        if regs.read(reg::DEVICE_ID) != NET_DEVICE_ID {
            return Err("not a network device");
        }
        regs.write(reg::STATUS, 0);
        while regs.read(reg::STATUS) != 0 {
            core::hint::spin_loop();
        }
        regs.write(reg::STATUS, status::ACKNOWLEDGE);
        regs.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        regs.write(reg::DEVICE_FEATURES_SEL, 0);
        let lo = u64::from(regs.read(reg::DEVICE_FEATURES));
        regs.write(reg::DEVICE_FEATURES_SEL, 1);
        let hi = u64::from(regs.read(reg::DEVICE_FEATURES));
        let fail = |why| {
            regs.write(reg::STATUS, status::FAILED);
            why
        };
        let feats = negotiate(lo | hi << 32).map_err(|_| fail("device lacks VERSION_1 or MAC"))?;
        regs.write(reg::DRIVER_FEATURES_SEL, 0);
        regs.write(reg::DRIVER_FEATURES, feats as u32);
        regs.write(reg::DRIVER_FEATURES_SEL, 1);
        regs.write(reg::DRIVER_FEATURES, (feats >> 32) as u32);
        let st = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        regs.write(reg::STATUS, st);
        if regs.read(reg::STATUS) & status::FEATURES_OK == 0 {
            return Err(fail("device refused the features"));
        }
        let (va, pa) =
            sys::dma_alloc(slot::DMA, Layout::PAGES).map_err(|_| fail("no DMA memory"))?;
        let (va, pa) = (va as usize, pa);
        let rx = setup_queue(&regs, RX_QUEUE, va, pa).map_err(&fail)?;
        let tx = setup_queue(&regs, TX_QUEUE, va, pa).map_err(&fail)?;
        let mac = loop {
            let g = regs.read(reg::CONFIG_GENERATION);
            let mut m = [0u8; 6];
            for (i, b) in m.iter_mut().enumerate() {
                *b = regs.config_u8(i);
            }
            if regs.read(reg::CONFIG_GENERATION) == g {
                break m;
            }
        };
        regs.write(reg::STATUS, st | status::DRIVER_OK);
        let tx_free = (0..tx.q.size()).rev().collect();
        let mut dev = Dev {
            regs,
            rx,
            tx,
            mac,
            held: VecDeque::new(),
            tx_free,
            failed: false,
            bad_used: 0,
        };
        for i in 0..dev.rx.q.size() {
            dev.post_rx(i);
        }
        dev.notify(RX_QUEUE);
        Ok(dev)
    }

    impl Dev {
        fn notify(&self, q: u32) {
            fence(Ordering::SeqCst);
            self.regs.write(reg::QUEUE_NOTIFY, q);
        }

        fn post_rx(&mut self, i: u16) {
            let pa = self.rx.buf_pa(i);
            if self
                .rx
                .q
                .push(&mut self.rx.rings, pa, BUF_SIZE as u32, true, i)
                .is_err()
            {
                self.failed = true;
            }
        }

        /// Moves received frames from the used ring to `held` and reposts
        /// their buffers; reclaims finished TX buffers.
        fn harvest(&mut self) {
            if self.failed {
                return;
            }
            let mut reposted = false;
            while self.held.len() < HELD_FRAMES {
                let Some(u) = self.rx.q.pop_used(&self.rx.rings) else {
                    break;
                };
                match u {
                    Ok(u) => {
                        let len = u.len as usize;
                        if len >= NET_HDR + eth::HEADER && len - NET_HDR <= eth::MAX_FRAME {
                            let mut f = alloc::vec![0u8; len - NET_HDR];
                            // SAFETY: buffer `u.token` (< queue size) lies
                            // in the DMA allocation, `len <= BUF_SIZE` was
                            // checked by `pop_used` against the posted
                            // length, and the device returned the buffer,
                            // so it no longer writes it.
                            unsafe {
                                core::ptr::copy_nonoverlapping(
                                    (self.rx.buf_va(u.token) + NET_HDR) as *const u8,
                                    f.as_mut_ptr(),
                                    f.len(),
                                )
                            };
                            self.held.push_back(f);
                        } else {
                            self.bad_used += 1;
                        }
                        self.post_rx(u.token);
                        reposted = true;
                    }
                    Err(UsedError::LenOutOfRange { token, .. }) => {
                        self.bad_used += 1;
                        self.post_rx(token);
                        reposted = true;
                    }
                    Err(UsedError::BogusId(_) | UsedError::NotInFlight(_)) => self.bad_used += 1,
                    Err(UsedError::IndexJump { .. } | UsedError::Broken) => {
                        self.failed = true;
                        break;
                    }
                }
            }
            if reposted {
                self.notify(RX_QUEUE);
            }
            while let Some(u) = self.tx.q.pop_used(&self.tx.rings) {
                match u {
                    Ok(u) => self.tx_free.push(u.token),
                    Err(UsedError::LenOutOfRange { token, .. }) => self.tx_free.push(token),
                    Err(UsedError::BogusId(_) | UsedError::NotInFlight(_)) => self.bad_used += 1,
                    Err(_) => {
                        self.failed = true;
                        break;
                    }
                }
            }
            if self.failed {
                println!("virtionetd-lite: device corrupted a used ring; stopped");
                self.regs.write(reg::STATUS, status::FAILED);
            }
        }
    }

    impl Nic for Dev {
        fn mac(&self) -> [u8; 6] {
            self.mac
        }

        fn failed(&self) -> bool {
            self.failed
        }

        fn transmit(&mut self, frame: &[u8]) -> Result<(), vn::Error> {
            self.harvest();
            if self.failed {
                return Err(vn::Error::DeviceFailed);
            }
            if !(eth::HEADER..=eth::MAX_FRAME).contains(&frame.len()) {
                return Err(vn::Error::BadFrame);
            }
            let Some(i) = self.tx_free.pop() else {
                return Err(vn::Error::NoResources);
            };
            let va = self.tx.buf_va(i);
            // SAFETY: buffer `i` is free (not posted), lies in the DMA
            // allocation and holds BUF_SIZE >= NET_HDR + MAX_FRAME bytes;
            // `frame.len() <= MAX_FRAME` was checked above.
            unsafe {
                core::ptr::write_bytes(va as *mut u8, 0, NET_HDR);
                core::ptr::copy_nonoverlapping(
                    frame.as_ptr(),
                    (va + NET_HDR) as *mut u8,
                    frame.len(),
                );
            }
            let pa = self.tx.buf_pa(i);
            let len = (NET_HDR + frame.len()) as u32;
            if self
                .tx
                .q
                .push(&mut self.tx.rings, pa, len, false, i)
                .is_err()
            {
                self.tx_free.push(i);
                return Err(vn::Error::NoResources);
            }
            self.notify(TX_QUEUE);
            Ok(())
        }

        fn pop_frame(&mut self) -> Option<Frame> {
            if self.held.is_empty() {
                self.harvest();
            }
            // Every held frame is 14..=1514 bytes (checked in `harvest`).
            self.held
                .pop_front()
                .and_then(|f| Frame::from_slice(&f).ok())
        }
    }

    pub fn main(_arg: u64) -> i32 {
        let Ok(info) = sys::cap_info(slot::NET_MMIO) else {
            println!("virtionetd-lite: no device capability");
            return 2;
        };
        let (irq, _len) = mmio_irq_len(info.y);
        let Ok(va) = sys::mmio_map(slot::NET_MMIO) else {
            println!("virtionetd-lite: cannot map the device");
            return 2;
        };
        let mut dev = match bring_up(va as usize) {
            Ok(d) => d,
            Err(why) => {
                println!("virtionetd-lite: bring-up failed: {}", why);
                return 3;
            }
        };
        if let Err(e) = sys::irq_bind(slot::NET_MMIO, slot::ENDPOINT) {
            println!("virtionetd-lite: cannot bind the interrupt: {}", e);
            return 4;
        }
        let mac = format_mac(dev.mac);
        println!(
            "virtionetd-lite: mmio={:#x} irq={} mac={} mtu={}",
            info.x,
            irq,
            core::str::from_utf8(&mac).unwrap_or("?"),
            MTU
        );
        println!("virtionetd-lite: ready");

        let mut req = alloc::vec![0u8; vn::REQUEST_MAX];
        let mut rep = alloc::vec![0u8; vn::REPLY_MAX];
        let mut aside = alloc::vec![0u8; vn::REPLY_MAX];
        let mut driver = Driver::new();
        let mut pending: (u64, usize) = (0, 0);
        loop {
            if let Some((token, n)) = driver.wake(&mut dev, &mut aside, sys::now_ns()) {
                // A caller that gave up or ended is not an error here.
                let _ = sys::ipc_reply(token, &aside[..n], None);
            }
            let (token, len) = core::mem::take(&mut pending);
            let wake = driver.deadline();
            let msg = match sys::ipc_reply_recv(slot::ENDPOINT, token, &rep[..len], &mut req, wake)
            {
                Ok(m) => m,
                Err(Error::TimedOut) => continue,
                Err(e) => {
                    println!("virtionetd-lite: receive failed: {}", e);
                    continue;
                }
            };
            let body = &req[..msg.len.min(req.len())];
            if msg.badge == KERNEL_BADGE {
                if DeathNotice::decode(body).is_some_and(|n| n.kind == DeathKind::Interrupt) {
                    let isr = dev.regs.read(reg::INTERRUPT_STATUS);
                    dev.regs.write(reg::INTERRUPT_ACK, isr);
                    let _ = sys::irq_ack(slot::NET_MMIO);
                    dev.harvest();
                }
                continue;
            }
            if msg.badge == 0 {
                // Init: the client ended. Forget its parked RX.
                if let Some(b) = nexus_interfaces::client_gone(body) {
                    driver.client_gone(b);
                }
                pending = (msg.token, notice::reply::client_gone(&Ok(()), &mut rep));
                continue;
            }
            match driver.serve(
                &mut dev,
                msg.badge,
                msg.token,
                body,
                &mut rep,
                sys::now_ns(),
            ) {
                Served::Reply(n) => pending = (msg.token, n),
                Served::Parked { superseded } => {
                    if let Some(old) = superseded {
                        let n = superseded_reply(&mut aside);
                        let _ = sys::ipc_reply(old, &aside[..n], None);
                    }
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main, heap = 256 * 1024);
