//! The PV entry point, the Xen ELF notes and the hypercall page.
//!
//! Xen's PV loader (libxenguest `xc_dom_elfloader`) looks for a `.note.Xen`
//! PT_NOTE; the note types are `XEN_ELFNOTE_*` from elfnote.h. Entry is in 64-bit
//! mode with `%rsi` = virtual address of `start_info` and a bootstrap stack we
//! replace at once with our own (xen.h, "Start-of-day memory layout").

use core::arch::global_asm;

/// Size of the boot stack, which stays the only stack (run to completion).
pub const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .p2align 2
    .long 4, 98f - 97f, 6          /* XEN_ELFNOTE_GUEST_OS */
    .asciz "Xen"
    97: .asciz "Banana"
    98: .p2align 2
    .long 4, 98f - 97f, 5          /* XEN_ELFNOTE_XEN_VERSION */
    .asciz "Xen"
    97: .asciz "xen-3.0"
    98: .p2align 2
    .long 4, 98f - 97f, 8          /* XEN_ELFNOTE_LOADER */
    .asciz "Xen"
    97: .asciz "generic"
    98: .p2align 2
    .long 4, 8, 3                  /* XEN_ELFNOTE_VIRT_BASE */
    .asciz "Xen"
    .quad VIRT_BASE
    .long 4, 8, 4                  /* XEN_ELFNOTE_PADDR_OFFSET */
    .asciz "Xen"
    .quad VIRT_BASE
    .long 4, 8, 1                  /* XEN_ELFNOTE_ENTRY */
    .asciz "Xen"
    .quad _start
    .long 4, 8, 2                  /* XEN_ELFNOTE_HYPERCALL_PAGE */
    .asciz "Xen"
    .quad hypercall_page

    .section .text.hypercall_page, "ax"
    .p2align 12
    .global hypercall_page
    hypercall_page:
    .fill 4096, 1, 0xcc

    .section .bss.boot_stack, "aw", @nobits
    .p2align 12
    __shared_info_page:
    .skip 4096
    __stack_guard:
    .skip 4096
    __boot_stack:
    .skip {stack_size}
    __boot_stack_top:

    .section .text.boot, "ax"
    .global _start
    _start:
    lea rsp, [rip + __boot_stack_top]
    xor ebp, ebp
    mov rdi, rsi
    call {entry}
    99: ud2
    jmp 99b
    "#,
    stack_size = const STACK_SIZE,
    entry = sym crate::runtime::pv_start,
);

unsafe extern "C" {
    static hypercall_page: u8;
    static __stack_guard: u8;
    static __shared_info_page: u8;
}

/// Virtual address of the hypercall page Xen filled in at load time.
pub fn hypercall_page_va() -> u64 {
    core::ptr::addr_of!(hypercall_page) as u64
}

/// The page whose mapping is replaced by `shared_info` at start of day.
pub fn shared_info_page_va() -> u64 {
    core::ptr::addr_of!(__shared_info_page) as u64
}

/// The unmapped page under the stack.
pub fn stack_guard_va() -> u64 {
    core::ptr::addr_of!(__stack_guard) as u64
}
