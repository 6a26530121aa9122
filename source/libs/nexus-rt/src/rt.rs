//! Target-only runtime pieces: `_start`, heap, panic handler, logger.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

core::arch::global_asm!(
    ".section .text.entry",
    ".globl _start",
    "_start:",
    "    call __nexus_start",
    "1:  j 1b",
);

extern "Rust" {
    fn __nexus_main(arg: u64) -> i32;
    fn __nexus_heap() -> (*mut u8, usize);
}

#[no_mangle]
extern "C" fn __nexus_start(arg: u64) -> ! {
    // SAFETY: runs once, first thing in the task, before anything allocates;
    // `__nexus_heap` (defined by `entry!`) returns a static area reserved for
    // the allocator alone.
    unsafe {
        let (area, size) = __nexus_heap();
        HEAP.lock().init(area, size);
    }
    crate::console::init_logger();
    // SAFETY: `__nexus_main` is defined by the program through `entry!`.
    let code = unsafe { __nexus_main(arg) };
    crate::sys::exit(code as i64 as u64)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::println!("panic: {}", info);
    crate::sys::exit(101)
}

/// Bytes of the heap currently allocated (for leak checks).
pub fn heap_used() -> usize {
    HEAP.lock().used()
}
