//! Pure logic of the neuron microkernel, built and tested on the host.
//!
//! Everything here is free of `unsafe` and of hardware access: the riscv
//! binary (`neuron`) supplies physical memory through [`pagetable::PhysMem`]
//! and drives these types from its trap handler. Host tests cover the frame
//! allocator, Sv39 page-table construction, user-pointer validation, the
//! capability table, endpoint queues and boot-image / ELF parsing.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "builder"))]
extern crate alloc;

pub mod bootimg;
pub mod caps;
pub mod console;
pub mod dma;
pub mod elfload;
pub mod frames;
pub mod ipc;
pub mod pagetable;
pub mod shm;
