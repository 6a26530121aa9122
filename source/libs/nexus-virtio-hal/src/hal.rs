//! The syscall-backed HAL (target only).

use core::ptr::NonNull;

use nexus_abi::Error;
use nexus_rt::sys;
use spin::Mutex;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

use crate::{BouncePool, Regions};

struct State {
    dma_slot: Option<u32>,
    regions: Regions,
    bounce: Option<BouncePool>,
}

static STATE: Mutex<State> = Mutex::new(State {
    dma_slot: None,
    regions: Regions::new(),
    bounce: None,
});

/// Sets the DMA budget capability the HAL allocates from and carves a bounce
/// pool of `bounce_slots` slots of `slot_size` bytes out of fresh DMA pages.
/// Call once before creating any virtio device.
pub fn init(dma_slot: u32, bounce_slots: usize, slot_size: usize) -> Result<(), Error> {
    let bytes = bounce_slots
        .checked_mul(slot_size)
        .ok_or(Error::InvalidArgument)?;
    let pages = bytes.div_ceil(4096).max(1) as u64;
    let (va, pa) = sys::dma_alloc(dma_slot, pages)?;
    let mut s = STATE.lock();
    s.dma_slot = Some(dma_slot);
    s.bounce = Some(BouncePool::new(va, pa, slot_size, bounce_slots));
    Ok(())
}

/// `virtio_drivers::Hal` over the kernel's `DmaAlloc`, with bouncing for
/// buffers outside DMA memory. See the crate documentation.
pub struct NexusHal;

fn addr_of(buffer: NonNull<[u8]>) -> (u64, usize) {
    (buffer.as_ptr() as *mut u8 as u64, buffer.len())
}

// SAFETY: `dma_alloc` returns page-aligned, zeroed, physically contiguous
// memory mapped only for this task and handed out once (fresh from the
// kernel, or from the free list after `dma_dealloc`); `share` returns
// addresses the device may access for exactly the shared length (inside a
// DMA region, or a bounce slot that is not handed out again until
// `unshare`).
unsafe impl Hal for NexusHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let mut s = STATE.lock();
        let (va, pa) = if let Some(r) = s.regions.reuse(pages) {
            // SAFETY: the region is ours, mapped RW and `pages` pages long;
            // it is no longer used by anyone (it was on the free list).
            unsafe { core::ptr::write_bytes(r.va as *mut u8, 0, pages * 4096) };
            (r.va, r.pa)
        } else {
            let slot = s.dma_slot.expect("nexus-virtio-hal: init() was not called");
            let (va, pa) = sys::dma_alloc(slot, pages as u64)
                .unwrap_or_else(|e| panic!("nexus-virtio-hal: DMA budget exhausted: {}", e));
            assert!(
                s.regions.add(va, pa, pages),
                "nexus-virtio-hal: too many DMA regions"
            );
            (va, pa)
        };
        let ptr = NonNull::new(va as *mut u8).expect("kernel returned a null DMA address");
        (pa, ptr)
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        if STATE.lock().regions.release(paddr, pages) {
            0
        } else {
            -1
        }
    }

    unsafe fn mmio_phys_to_virt(_paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only used for PCI BARs; Neuron drivers use virtio-mmio, whose
        // window the kernel maps through the MMIO capability.
        panic!("nexus-virtio-hal: PCI transports are not supported")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let (va, len) = addr_of(buffer);
        let mut s = STATE.lock();
        if let Some(pa) = s.regions.translate(va, len) {
            return pa;
        }
        let pool = s
            .bounce
            .as_mut()
            .expect("nexus-virtio-hal: init() was not called");
        let (bva, bpa) = pool.take(len).unwrap_or_else(|| {
            panic!(
                "nexus-virtio-hal: no bounce slot for {} bytes (slot size {})",
                len,
                pool.slot_size()
            )
        });
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: `buffer` is valid for `len` bytes (caller contract);
            // the slot is ours, at least `len` bytes, and disjoint from it.
            unsafe { core::ptr::copy_nonoverlapping(va as *const u8, bva as *mut u8, len) };
        }
        bpa
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let (va, len) = addr_of(buffer);
        let mut s = STATE.lock();
        if s.regions.translate(va, len) == Some(paddr) {
            return;
        }
        let Some(pool) = s.bounce.as_mut() else {
            return;
        };
        let Some(bva) = pool.va_of(paddr) else {
            return;
        };
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: as in `share`; the device has finished with the slot.
            unsafe { core::ptr::copy_nonoverlapping(bva as *const u8, va as *mut u8, len) };
        }
        pool.give_back(paddr);
    }
}
