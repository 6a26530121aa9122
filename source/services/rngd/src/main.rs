//! rngd: the only task holding the virtio-rng device; serves entropy.
//!
//! Clients (e.g. dsoftbusd, for Noise ephemeral keys) call `rng.fill(n)`
//! (interface `idl/rng.toml`) and get `n` bytes from the device, or
//! `DeviceFailed` — never anything predictable. The virtio-rng request completes as soon as
//! QEMU's backend fills the buffer; the driver waits for the used ring only
//! for that one bounded request.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    use core::ptr::NonNull;

    use nexus_idl::heapless;
    use nexus_interfaces::{notice, rng};
    use nexus_rt::{println, sys};
    use nexus_slots::rngd as slot;
    use nexus_virtio_hal::NexusHal;
    use virtio_drivers::device::rng::VirtIORng;
    use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};

    pub fn main(_arg: u64) -> i32 {
        let Ok(info) = sys::cap_info(slot::RNG_MMIO) else {
            println!("rngd: no device capability");
            return 2;
        };
        let len = (info.y & 0xffff_ffff_ffff) as usize;
        let Ok(va) = sys::mmio_map(slot::RNG_MMIO) else {
            println!("rngd: cannot map the device");
            return 2;
        };
        if nexus_virtio_hal::init(slot::DMA, 4, 4096).is_err() {
            println!("rngd: no DMA memory");
            return 2;
        }
        let Some(header) = NonNull::new(va as *mut VirtIOHeader) else {
            return 2;
        };
        // SAFETY: `va` maps this task's virtio-mmio window of `len` bytes for
        // the life of the task; nothing else touches it.
        let Ok(transport) = (unsafe { MmioTransport::new(header, len) }) else {
            println!("rngd: not a virtio-mmio device");
            return 3;
        };
        let Ok(rng) = VirtIORng::<NexusHal, _>::new(transport) else {
            println!("rngd: virtio-rng init failed");
            return 3;
        };
        println!("rngd: ready (virtio-rng)");
        let mut server = Entropy { rng };
        // Room for init's client-gone notice too (larger than any `rng` request).
        let mut req = [0u8; if rng::REQUEST_MAX > notice::REQUEST_MAX {
            rng::REQUEST_MAX
        } else {
            notice::REQUEST_MAX
        }];
        let mut out = [0u8; rng::REPLY_MAX];
        let mut token = 0;
        let mut n_out = 0;
        loop {
            let msg = match sys::ipc_reply_recv(slot::ENDPOINT, token, &out[..n_out], &mut req, 0) {
                Ok(m) => m,
                Err(_) => {
                    token = 0;
                    n_out = 0;
                    continue;
                }
            };
            token = msg.token;
            let body = &req[..msg.len];
            n_out = if msg.badge == 0 && nexus_interfaces::client_gone(body).is_some() {
                // rngd keeps nothing per client.
                notice::reply::client_gone(&Ok(()), &mut out)
            } else {
                rng::dispatch(&mut server, msg.badge, body, &mut out)
            };
        }
    }

    struct Entropy<T: virtio_drivers::transport::Transport> {
        rng: VirtIORng<NexusHal, T>,
    }

    impl<T: virtio_drivers::transport::Transport> rng::Server for Entropy<T> {
        fn fill(&mut self, _: u64, n: u8) -> Result<heapless::Vec<u8, 64>, rng::Error> {
            let n = n as usize;
            if !(1..=64).contains(&n) {
                return Err(rng::Error::TooLarge);
            }
            let mut buf = [0u8; 64];
            match self.rng.request_entropy(&mut buf[..n]) {
                Ok(got) if got == n => {
                    heapless::Vec::from_slice(&buf[..n]).map_err(|_| rng::Error::TooLarge)
                }
                _ => Err(rng::Error::DeviceFailed),
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main);
