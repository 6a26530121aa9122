//! storaged: the only task holding the virtio-blk device; serves the KV store.
//!
//! It opens the store on the disk (`nexus-kv`: superblock check, map scan,
//! reformat of a blank or bad image with a line saying why), prints
//! `storaged: ready`, then serves one request at a time: the caller's badge
//! (fixed by the boot profile) selects its namespace, so no request can
//! reach another client's keys. Requests are the generated `kv` interface
//! (`idl/kv.toml`), served by `storaged::KvServer`. Every change is on the
//! disk (written and flushed) before its reply. storaged keeps no per-client
//! state, so init's client-gone notices need only an answer.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::string::String;
    use core::ptr::NonNull;

    use nexus_abi::KERNEL_BADGE;
    use nexus_interfaces::{kv, notice};
    use nexus_kv::{BadImage, BlockDevice, IoError, Store, SECTOR};
    use nexus_rt::{println, sys};
    use nexus_slots::storaged as slot;
    use nexus_virtio_hal::NexusHal;
    use storaged::KvServer;
    use virtio_drivers::device::blk::VirtIOBlk;
    use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};

    /// Bounce slots: a request uses three (header, data, status).
    const BOUNCE_SLOTS: usize = 4;
    const BOUNCE_SLOT_SIZE: usize = 4096;

    struct Disk(VirtIOBlk<NexusHal, MmioTransport<'static>>);

    impl BlockDevice for Disk {
        fn sectors(&self) -> u64 {
            self.0.capacity()
        }
        fn read_sector(&mut self, index: u64, buf: &mut [u8; SECTOR]) -> Result<(), IoError> {
            self.0.read_blocks(index as usize, buf).map_err(|_| IoError)
        }
        fn write_sector(&mut self, index: u64, buf: &[u8; SECTOR]) -> Result<(), IoError> {
            self.0
                .write_blocks(index as usize, buf)
                .map_err(|_| IoError)
        }
        fn flush(&mut self) -> Result<(), IoError> {
            self.0.flush().map_err(|_| IoError)
        }
    }

    fn bring_up() -> Result<Disk, &'static str> {
        let info = sys::cap_info(slot::BLK_MMIO).map_err(|_| "no device capability")?;
        let len = (info.y & 0xffff_ffff_ffff) as usize;
        let va = sys::mmio_map(slot::BLK_MMIO).map_err(|_| "cannot map the device")?;
        nexus_virtio_hal::init(slot::DMA, BOUNCE_SLOTS, BOUNCE_SLOT_SIZE)
            .map_err(|_| "no DMA memory")?;
        let header = NonNull::new(va as *mut VirtIOHeader).ok_or("null mapping")?;
        // SAFETY: `va` maps this task's virtio-mmio window of `len` bytes
        // (device memory, granted by the MMIO capability) for the whole life
        // of the task, and nothing else in the task touches it.
        let transport =
            unsafe { MmioTransport::new(header, len) }.map_err(|_| "not a virtio-mmio device")?;
        let blk = VirtIOBlk::new(transport).map_err(|_| "virtio-blk init failed")?;
        if blk.readonly() {
            return Err("the disk is read-only");
        }
        Ok(Disk(blk))
    }

    pub fn main(_arg: u64) -> i32 {
        let disk = match bring_up() {
            Ok(d) => d,
            Err(why) => {
                println!("storaged: virtio-blk unavailable: {}", why);
                return 3;
            }
        };
        println!("storaged: virtio-blk up sectors={}", disk.sectors());
        let mut line = String::new();
        let store = match Store::open(disk, BadImage::Reformat) {
            Ok((store, opened)) => {
                let _ = storaged::describe_open(&opened, &mut line);
                println!("{}", line);
                store
            }
            Err((_, e)) => {
                let _ = storaged::describe_open_error(&e, &mut line);
                println!("{}", line);
                return 4;
            }
        };
        println!("storaged: ready");

        let mut server = KvServer { store };
        let mut req: Box<[u8; kv::REQUEST_MAX]> = Box::new([0; kv::REQUEST_MAX]);
        let mut rep: Box<[u8; kv::REPLY_MAX]> = Box::new([0; kv::REPLY_MAX]);
        let mut token = 0;
        let mut n_out = 0;
        loop {
            // A request over REQUEST_MAX is refused by the kernel (TooLarge
            // to its caller) and never reaches this loop.
            let msg =
                match sys::ipc_reply_recv(slot::ENDPOINT, token, &rep[..n_out], &mut req[..], 0) {
                    Ok(m) => m,
                    Err(_) => {
                        token = 0;
                        n_out = 0;
                        continue;
                    }
                };
            token = msg.token;
            if msg.badge == KERNEL_BADGE {
                // No interrupt is bound; nothing to answer.
                token = 0;
                n_out = 0;
                continue;
            }
            let body = req.get(..msg.len).unwrap_or(&[]);
            n_out = if msg.badge == 0 && nexus_interfaces::client_gone(body).is_some() {
                // storaged keeps nothing per client: the answer is all.
                notice::reply::client_gone(&Ok(()), &mut rep[..])
            } else {
                // Badge 0 and any other badge without a namespace get
                // `Denied` from the server.
                kv::dispatch(&mut server, msg.badge, body, &mut rep[..])
            };
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main, heap = 2 * 1024 * 1024);
