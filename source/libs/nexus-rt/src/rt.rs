//! Target-only runtime pieces: `_start`, heap, panic handler, logger.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

#[repr(C, align(4096))]
struct HeapArea([u8; crate::HEAP_SIZE]);
static mut HEAP_AREA: HeapArea = HeapArea([0; crate::HEAP_SIZE]);

core::arch::global_asm!(
    ".section .text.entry",
    ".globl _start",
    "_start:",
    "    call __nexus_start",
    "1:  j 1b",
);

extern "Rust" {
    fn __nexus_main(arg: u64) -> i32;
}

#[no_mangle]
extern "C" fn __nexus_start(arg: u64) -> ! {
    // SAFETY: runs once, first thing in the task, before anything allocates;
    // the heap area is a static reserved for the allocator alone.
    unsafe {
        let area = core::ptr::addr_of_mut!(HEAP_AREA) as *mut u8;
        HEAP.lock().init(area, crate::HEAP_SIZE);
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
