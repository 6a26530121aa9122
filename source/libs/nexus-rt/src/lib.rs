//! Userspace runtime for Neuron services: entry, panic, heap, log, syscalls.
//!
//! A service is a `#![no_std] #![no_main]` binary that calls
//! [`entry!`]`(main)` with `fn main(arg: u64) -> i32`. The runtime provides:
//! - `_start`: sets up the heap and the `log` backend, calls `main`, exits
//!   with its return value;
//! - a panic handler that prints the message and exits with code 101;
//! - a global allocator over a static heap ([`HEAP_SIZE`]);
//! - [`sys`]: one safe wrapper per syscall, and [`ipc`] helpers.
//!
//! On the host (tests, `cargo check --workspace`) only the pure parts build.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub use nexus_abi as abi;

pub mod console;
pub mod ipc;
#[cfg(target_os = "none")]
pub mod shm;
pub mod sys;

#[cfg(target_os = "none")]
mod rt;
#[cfg(target_os = "none")]
pub use rt::heap_used;

/// Default size of a task's static heap (see [`entry!`] to choose another).
pub const HEAP_SIZE: usize = 1024 * 1024;

/// Declares the program's `main(arg: u64) -> i32`, called by the runtime,
/// and its heap: [`HEAP_SIZE`] bytes, or `heap = <bytes>` (a static area in
/// the program's `.bss`, so the kernel maps it at load time).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!($main, heap = $crate::HEAP_SIZE);
    };
    ($main:path, heap = $size:expr) => {
        // Exported symbols the runtime links to. Programs say
        // `#![forbid(unsafe_code)]`: lints do not fire inside another
        // crate's macro expansion, so the glue needs no allowance.
        #[no_mangle]
        extern "Rust" fn __nexus_main(arg: u64) -> i32 {
            $main(arg)
        }

        #[no_mangle]
        extern "Rust" fn __nexus_heap() -> (*mut u8, usize) {
            #[repr(C, align(4096))]
            struct HeapArea([u8; $size]);
            static mut HEAP_AREA: HeapArea = HeapArea([0; $size]);
            (&raw mut HEAP_AREA as *mut u8, $size)
        }
    };
}
