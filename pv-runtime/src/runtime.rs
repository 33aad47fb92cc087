//! Start of day and the domain's lifetime: [`pv_start`] brings up memory,
//! shared_info, the console, the grant table and xenstore, then runs the
//! domain's `main`; returning from it powers the domain off, a panic crashes it.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::abi::mmu::L1_PROT;
use crate::abi::sched::ShutdownReason;
use crate::abi::shared_info::SharedInfo;
use crate::abi::start_info::StartInfo;
use crate::abi::{DOMID_SELF, PAGE_SIZE};
use crate::console::{self, ConsoleRing};
use crate::hypervisor;
use crate::mm::frame::FrameAllocator;
use crate::mm::heap::{self, Memory, MEMORY};
use crate::mm::layout::{FOREIGN_BASE, FOREIGN_PAGES};
use crate::mm::paging::{pfn_to_va, va_to_pfn, Paging};
use crate::mm::vspace::Vspace;

static SHARED_INFO: AtomicPtr<SharedInfo> = AtomicPtr::new(null_mut());
static START_INFO: AtomicPtr<StartInfo> = AtomicPtr::new(null_mut());

/// The mapped `shared_info` page, once start of day has mapped it.
pub fn shared_info() -> Option<*mut SharedInfo> {
    let p = SHARED_INFO.load(Ordering::Relaxed);
    (!p.is_null()).then_some(p)
}

/// `start_info` as Xen gave it.
pub fn start_info() -> &'static StartInfo {
    // SAFETY: set once in pv_start before any caller can run; the page stays mapped.
    unsafe { &*START_INFO.load(Ordering::Relaxed) }
}

fn m2p(mfn: u64) -> u64 {
    // SAFETY: the read-only M2P is mapped in every 64-bit PV guest.
    unsafe { (crate::abi::mmu::MACH2PHYS_VIRT_START as *const u64).add(mfn as usize).read_volatile() }
}

/// Shuts the domain down for `reason`, after letting the console drain.
pub fn shutdown(reason: ShutdownReason) -> ! {
    console::flush();
    loop {
        let _ = hypervisor::shutdown(reason);
    }
}

/// Entry from `_start` (arch/boot.rs) with `start_info` in the first argument.
///
/// # Safety
/// Called exactly once, by the boot code, with Xen's `start_info` pointer.
pub unsafe extern "C" fn pv_start(si: *mut StartInfo) -> ! {
    START_INFO.store(si, Ordering::Relaxed);
    // SAFETY: Xen passes a mapped start_info page.
    let si = unsafe { &*si };
    // SAFETY: start_info's own bootstrap pointers.
    let paging = unsafe { Paging::new(si.pt_base, si.mfn_list, si.nr_pages) };
    let first_free = va_to_pfn(si.pt_base) + si.nr_pt_frames;
    let mut frames = FrameAllocator::new(first_free, si.nr_pages);

    // shared_info first: the clock (and so the console's stall timeout) needs it.
    let si_va = crate::arch::boot::shared_info_page_va();
    // SAFETY: the dedicated page in .bss is ours; we replace its mapping with shared_info.
    if unsafe { hypervisor::update_va_mapping(si_va, si.shared_info | L1_PROT, crate::abi::mmu::UVMF_INVLPG) }.is_ok() {
        let sh = si_va as *mut SharedInfo;
        // SAFETY: now mapped; upcalls stay masked for the life of the domain.
        unsafe { core::ptr::addr_of_mut!((*sh).vcpu_info[0].evtchn_upcall_mask).write_volatile(1) };
        SHARED_INFO.store(sh, Ordering::Relaxed);
    }

    let con_va = pfn_to_va(m2p(si.console.mfn));
    // SAFETY: the console page is a bootstrap element, mapped in the direct map.
    if let Some(ring) = unsafe { ConsoleRing::from_raw(con_va as *mut u8) } {
        console::init(ring, si.console.evtchn);
    }

    if let Err(e) = paging.extend_direct_map(0, &mut frames) {
        panic!("cannot map RAM: {e}");
    }
    // The page below the stack becomes a guard: overflow faults instead of
    // silently corrupting .bss.
    // SAFETY: the guard page is reserved in arch/boot.rs and never used.
    let _ = unsafe { hypervisor::update_va_mapping(crate::arch::boot::stack_guard_va(), 0, crate::abi::mmu::UVMF_INVLPG) };
    *MEMORY.lock() = Some(Memory { paging, frames, foreign: None });
    let window = Vspace::new(FOREIGN_BASE, FOREIGN_PAGES);
    if let Some(m) = MEMORY.lock().as_mut() {
        m.foreign = Some(window);
    }

    // SAFETY: provided by the domain through `pv_runtime::entry!`.
    unsafe { __pv_main() };
    shutdown(ShutdownReason::Poweroff)
}

unsafe extern "Rust" {
    fn __pv_main();
}

/// Names the domain's main function: `pv_runtime::entry!(main);` with
/// `fn main()`. Returning powers the domain off.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __pv_main() {
            let f: fn() = $main;
            f()
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::println!("{info}");
    shutdown(ShutdownReason::Crash)
}

/// Pages in the heap plus pages still free: what the domain can use.
pub fn memory_report() -> (usize, u64) {
    (heap::heap_size(), heap::frames_available() * PAGE_SIZE as u64)
}

#[allow(dead_code)]
fn _assert_domid_self(_: u16) -> u16 {
    DOMID_SELF
}
