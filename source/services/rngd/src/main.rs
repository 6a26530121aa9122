//! rngd: the only task holding the virtio-rng device; serves entropy.
//!
//! Clients (e.g. dsoftbusd, for Noise ephemeral keys) call its endpoint with
//! a one-byte request and get that many bytes from the device (see the
//! library for the protocol). The virtio-rng request completes as soon as
//! QEMU's backend fills the buffer; the driver waits for the used ring only
//! for that one bounded request.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    use core::ptr::NonNull;

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
        let Ok(mut rng) = VirtIORng::<NexusHal, _>::new(transport) else {
            println!("rngd: virtio-rng init failed");
            return 3;
        };
        println!("rngd: ready (virtio-rng)");
        let mut req = [0u8; 8];
        let mut out = [0u8; rngd::MAX_REQUEST];
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
            n_out = match rngd::decode_request(&req[..msg.len.min(req.len())]) {
                Some(n) => match rng.request_entropy(&mut out[..n]) {
                    Ok(got) if got == n => n,
                    _ => 0,
                },
                None => 0,
            };
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main);
