//! The `virtio-drivers` HAL of Neuron OS user-space drivers.
//!
//! Design notes
//! ------------
//! * DMA memory comes from the kernel (`DmaAlloc` under the task's DMA
//!   budget capability): physically contiguous, zeroed pages mapped in the
//!   task's DMA window. The HAL records every region it got, so it can
//!   translate any address inside them without a syscall.
//! * `virtio-drivers` may hand [`Hal::share`](virtio_drivers::Hal::share)
//!   buffers that are *not* DMA memory (for example `VirtIONet`'s heap
//!   `Vec` buffers). Heap pages are not physically contiguous, so such a
//!   buffer is never translated: it is **bounced** through a slot of a
//!   DMA-backed [`BouncePool`] — copied in at `share` when the device reads
//!   it, copied back at `unshare` when the device writes it.
//! * `dma_dealloc` keeps the pages on a free list for reuse (the kernel has
//!   no DMA free; the budget bounds the total).
//! * `Hal` methods cannot return errors. Running out of the DMA budget or of
//!   bounce slots is a configuration bug (both are sized from the queue
//!   sizes at start-up), so those paths panic with a clear message; they do
//!   not depend on network input.
//!
//! The bookkeeping ([`regions`], [`BouncePool`]) is pure and host-tested;
//! the syscall-backed [`NexusHal`] exists only on the target.
#![cfg_attr(not(test), no_std)]

pub mod pool;
pub mod regions;

pub use pool::BouncePool;
pub use regions::Regions;

#[cfg(target_os = "none")]
mod hal;
#[cfg(target_os = "none")]
pub use hal::{init, NexusHal};
