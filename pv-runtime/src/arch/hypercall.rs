//! Raw hypercalls through the hypercall page (x86-64 PV ABI: arguments in
//! rdi, rsi, rdx, r10, r8; result in rax). The page's stubs are
//! `push rcx; push r11; mov eax, N; syscall; pop r11; pop rcx; ret`, so the call
//! needs a valid stack (no `nostack`) and Xen may change the argument
//! registers: they are all declared clobbered.

use core::arch::asm;

use super::boot::hypercall_page_va;

/// Issues hypercall `nr` with five arguments.
///
/// # Safety
/// The arguments must be valid for the hypercall: pointers point at live,
/// correctly laid-out structures Xen may read or write.
#[inline(always)]
pub unsafe fn hypercall5(nr: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let entry = hypercall_page_va() + u64::from(nr) * 32;
    let ret: i64;
    // SAFETY: the caller vouches for the arguments; the stub at `entry` is Xen's and
    // follows the register contract declared here.
    unsafe {
        asm!(
            "call rax",
            inout("rax") entry => ret,
            inout("rdi") a1 => _,
            inout("rsi") a2 => _,
            inout("rdx") a3 => _,
            inout("r10") a4 => _,
            inout("r8") a5 => _,
            out("rcx") _,
            out("r11") _,
        );
    }
    ret
}

/// # Safety
/// As [`hypercall5`].
#[inline(always)]
pub unsafe fn hypercall2(nr: u32, a1: u64, a2: u64) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { hypercall5(nr, a1, a2, 0, 0, 0) }
}

/// # Safety
/// As [`hypercall5`].
#[inline(always)]
pub unsafe fn hypercall3(nr: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { hypercall5(nr, a1, a2, a3, 0, 0) }
}

/// # Safety
/// As [`hypercall5`].
#[inline(always)]
pub unsafe fn hypercall4(nr: u32, a1: u64, a2: u64, a3: u64, a4: u64) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { hypercall5(nr, a1, a2, a3, a4, 0) }
}

/// Reads the time-stamp counter.
#[inline(always)]
pub fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc only reads the TSC into edx:eax (Xen PV lets guests use it).
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}
