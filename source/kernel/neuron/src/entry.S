# neuron boot entry and the U-mode trap path.
#
# sscratch holds the current task's TrapFrame (x0..x31 at 8*i, sepc at 256)
# whenever the CPU runs in U-mode, and 0 whenever the kernel runs. The kernel
# never takes traps itself: it runs with sstatus.SIE = 0 and polls pending
# interrupts when idle. Should it trap anyway (a kernel bug), trap_entry sees
# sscratch = 0 and goes to kernel_trap on its own stack: no register is ever
# stored through a value a task chose.

    .section .text.entry
    .globl _start
_start:
    la sp, __boot_stack_top
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  call kmain
3:  wfi
    j 3b

    .section .text
    .globl trap_entry
    .balign 4
trap_entry:
    csrrw t6, sscratch, t6
    beqz t6, kernel_trap
    sd x1, 8(t6)
    sd x2, 16(t6)
    sd x3, 24(t6)
    sd x4, 32(t6)
    sd x5, 40(t6)
    sd x6, 48(t6)
    sd x7, 56(t6)
    sd x8, 64(t6)
    sd x9, 72(t6)
    sd x10, 80(t6)
    sd x11, 88(t6)
    sd x12, 96(t6)
    sd x13, 104(t6)
    sd x14, 112(t6)
    sd x15, 120(t6)
    sd x16, 128(t6)
    sd x17, 136(t6)
    sd x18, 144(t6)
    sd x19, 152(t6)
    sd x20, 160(t6)
    sd x21, 168(t6)
    sd x22, 176(t6)
    sd x23, 184(t6)
    sd x24, 192(t6)
    sd x25, 200(t6)
    sd x26, 208(t6)
    sd x27, 216(t6)
    sd x28, 224(t6)
    sd x29, 232(t6)
    sd x30, 240(t6)
    csrrw t5, sscratch, zero
    sd t5, 248(t6)
    csrr t5, sepc
    sd t5, 256(t6)
    la sp, __trap_stack_top
    mv a0, t6
    call trap_handler
    # a0 = the TrapFrame to resume (possibly another task's).
    .globl trap_return
trap_return:
    ld t5, 256(a0)
    csrw sepc, t5
    csrw sscratch, a0
    mv t6, a0
    ld x1, 8(t6)
    ld x2, 16(t6)
    ld x3, 24(t6)
    ld x4, 32(t6)
    ld x5, 40(t6)
    ld x6, 48(t6)
    ld x7, 56(t6)
    ld x8, 64(t6)
    ld x9, 72(t6)
    ld x10, 80(t6)
    ld x11, 88(t6)
    ld x12, 96(t6)
    ld x13, 104(t6)
    ld x14, 112(t6)
    ld x15, 120(t6)
    ld x16, 128(t6)
    ld x17, 136(t6)
    ld x18, 144(t6)
    ld x19, 152(t6)
    ld x20, 160(t6)
    ld x21, 168(t6)
    ld x22, 176(t6)
    ld x23, 184(t6)
    ld x24, 192(t6)
    ld x25, 200(t6)
    ld x26, 208(t6)
    ld x27, 216(t6)
    ld x28, 224(t6)
    ld x29, 232(t6)
    ld x30, 240(t6)
    ld x31, 248(t6)
    sret

kernel_trap:
    # From S-mode: t6 = 0 now, the kernel's t6 is in sscratch.
    csrrw t6, sscratch, t6
    la sp, __fault_stack_top
    call kernel_trap_handler
4:  j 4b

    .section .bss.stack
    .balign 16
    .space 65536
    .globl __boot_stack_top
__boot_stack_top:
    .space 65536
    .globl __trap_stack_top
__trap_stack_top:
    .space 16384
    .globl __fault_stack_top
__fault_stack_top:
