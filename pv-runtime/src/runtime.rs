//! Start of day and the domain's lifetime: [`pv_start`] brings up memory,
//! shared_info, the console, the grant table and xenstore, then runs the
//! domain's `main`; returning from it powers the domain off, a panic crashes it.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

use crate::abi::mmu::L1_PROT;
use crate::abi::sched::ShutdownReason;
use crate::abi::shared_info::SharedInfo;
use crate::abi::start_info::StartInfo;
use crate::abi::{DomId, Port, PAGE_SIZE};
use alloc::string::String;
use alloc::vec::Vec;

use crate::console::{self, ConsoleRing};
use crate::event::{self, Events, PortSet};
use crate::grant_table::{self, GrantError, GrantTable};
use crate::hypervisor;
use crate::mm::frame::FrameAllocator;
use crate::mm::heap::{self, Memory, MEMORY};
use crate::mm::layout::{FOREIGN_BASE, FOREIGN_PAGES};
use crate::mm::paging::{pfn_to_va, va_to_pfn, Paging};
use crate::mm::vspace::Vspace;
use crate::time;
use crate::timer::{TimerId, Timers};
use crate::xenstore::{StoreIo, WatchEvent, Xenstore, XsError};

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
    unsafe {
        (crate::abi::mmu::MACH2PHYS_VIRT_START as *const u64)
            .add(mfn as usize)
            .read_volatile()
    }
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
    if unsafe {
        hypervisor::update_va_mapping(
            si_va,
            si.shared_info | L1_PROT,
            crate::abi::mmu::UVMF_INVLPG,
        )
    }
    .is_ok()
    {
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
    let _ = unsafe {
        hypervisor::update_va_mapping(
            crate::arch::boot::stack_guard_va(),
            0,
            crate::abi::mmu::UVMF_INVLPG,
        )
    };
    *MEMORY.lock() = Some(Memory {
        paging,
        frames,
        foreign: None,
    });
    let window = Vspace::new(FOREIGN_BASE, FOREIGN_PAGES);
    if let Some(m) = MEMORY.lock().as_mut() {
        m.foreign = Some(window);
    }

    let mut rt = match Runtime::new(si) {
        Ok(rt) => rt,
        Err(e) => panic!("runtime start-up failed: {e}"),
    };
    // SAFETY: provided by the domain through `pv_runtime::entry!`.
    unsafe { __pv_main(&mut rt) };
    shutdown(ShutdownReason::Poweroff)
}

unsafe extern "Rust" {
    fn __pv_main(rt: &mut Runtime);
}

/// Names the domain's main function: `pv_runtime::entry!(main);` with
/// `fn main(rt: &mut Runtime)`. Returning powers the domain off.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn __pv_main(rt: &mut $crate::runtime::Runtime) {
            let f: fn(&mut $crate::runtime::Runtime) = $main;
            f(rt)
        }
    };
}

/// The xenstore client's link to the world: the store event channel and the clock.
pub struct StoreChannel {
    port: Port,
}

impl StoreIo for StoreChannel {
    fn notify(&mut self) {
        let _ = hypervisor::evtchn_send(self.port);
    }

    fn wait(&mut self, deadline_ns: u64) -> bool {
        let pending = event::pending_words();
        if event::clear_pending(pending, self.port) {
            return true;
        }
        let _ = hypervisor::poll(&[self.port], deadline_ns.max(1));
        event::clear_pending(pending, self.port) || time::now_ns() < deadline_ns
    }

    fn now_ns(&self) -> u64 {
        time::now_ns()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("xenstore: {0}")]
    Xenstore(#[from] XsError),
    #[error("grant table: {0}")]
    Grant(#[from] GrantError),
    #[error("the store page is not mapped")]
    NoStorePage,
    #[error("bad domid {0:?} in xenstore")]
    BadDomid(String),
}

/// Token of the runtime's own watch on `control/shutdown`.
const SHUTDOWN_TOKEN: &str = "pv-runtime/shutdown";
/// Grant-table frames set up at start (512 references each): 8192
/// references, room for a Corm's 64 wired endpoints (65 references each:
/// a control page and 2 x 32 ring pages) with offers still retiring
/// (capped at the domain's `max_grant_frames`, 64 by default in Xen 4.17).
const GRANT_FRAMES: u32 = 16;

/// What woke the domain up in [`Runtime::wait`].
#[derive(Debug, Default)]
pub struct Wake {
    /// Bound ports that fired (the store port is handled inside).
    pub ports: PortSet,
    /// xenstore watch events, the runtime's own excluded.
    pub watches: Vec<WatchEvent>,
    /// Timers that expired.
    pub timers: Vec<TimerId>,
    /// The toolstack asked us to stop (`xl shutdown`/`xl reboot`, control/shutdown).
    pub shutdown: Option<ShutdownReason>,
}

/// Everything a domain gets from the runtime.
pub struct Runtime {
    pub events: Events,
    pub grants: GrantTable,
    pub xs: Xenstore<StoreChannel>,
    pub timers: Timers<32>,
    domid: DomId,
    store_port: Port,
}

impl Runtime {
    fn new(si: &StartInfo) -> Result<Self, StartError> {
        let _ = hypervisor::stop_periodic_timer();
        let mut events = Events::new();
        events.adopt(si.store_evtchn);
        // xenconsoled kicks the console port when it has read; only the console
        // code cares, so it is known but never reported.
        events.adopt(si.console.evtchn);
        let store_va = pfn_to_va(m2p(si.store_mfn));
        let io = StoreChannel {
            port: si.store_evtchn,
        };
        // SAFETY: the store page is a bootstrap element mapped in the direct map,
        // and only this client uses it.
        let mut xs = unsafe { Xenstore::from_raw(store_va as *mut u8, io) }
            .ok_or(StartError::NoStorePage)?;
        let grants = grant_table::setup(GRANT_FRAMES)?;
        let domid_text = xs.read("domid")?;
        let domid = domid_text
            .parse()
            .map_err(|_| StartError::BadDomid(domid_text))?;
        // Tell the toolstack we honour control/shutdown, then watch it.
        let _ = xs.write("control/feature-poweroff", "1");
        let _ = xs.write("control/feature-reboot", "1");
        xs.watch("control/shutdown", SHUTDOWN_TOKEN)?;
        Ok(Self {
            events,
            grants,
            xs,
            timers: Timers::new(),
            domid,
            store_port: si.store_evtchn,
        })
    }

    pub fn domid(&self) -> DomId {
        self.domid
    }

    /// The guest command line (xl `extra=`).
    pub fn cmdline(&self) -> &'static str {
        core::str::from_utf8(start_info().cmd_line()).unwrap_or("")
    }

    /// Value of `key=value` on the command line.
    pub fn arg(&self, key: &str) -> Option<&'static str> {
        self.cmdline()
            .split_ascii_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }

    /// The run loop's one blocking point: sleeps until a bound port fires, a
    /// watch event arrives, a timer expires or `deadline_ns` passes.
    /// Resource gauges a soak watches for leaks: heap bytes held, free
    /// frames, free grant entries. Flat over hours of churn, or something leaks.
    pub fn gauges(&self) -> [(&'static str, u64); 3] {
        [
            ("heap_bytes", crate::mm::heap::heap_size() as u64),
            ("frames_free", crate::mm::heap::frames_available()),
            ("grants_free", self.grants.available() as u64),
        ]
    }

    pub fn wait(&mut self, deadline_ns: Option<u64>) -> Wake {
        let mut wake = Wake::default();
        let deadline = match (deadline_ns, self.timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Watch events a blocking xenstore call already queued, or timers already
        // due, must not wait for a new kick.
        self.take_watches(&mut wake);
        let due = self
            .timers
            .next_deadline()
            .is_some_and(|d| d <= time::now_ns());
        let idle = wake.watches.is_empty() && wake.shutdown.is_none() && !due;
        let mut ports = if idle {
            self.events.wait(deadline)
        } else {
            self.events.take()
        };
        let now = time::now_ns();
        while let Some(t) = self.timers.pop_expired(now) {
            wake.timers.push(t);
        }
        ports.remove(self.store_port);
        ports.remove(start_info().console.evtchn);
        wake.ports = ports;
        self.take_watches(&mut wake);
        wake
    }

    fn take_watches(&mut self, wake: &mut Wake) {
        // A broken xenstore connection (garbage or a stall from xenstored,
        // XsError::Broken) would leave the domain forwarding with a dead
        // control plane: no config changes, no shutdown requests, no new
        // vifs. Crash loudly instead; the toolstack's on_crash policy and
        // `banana supervise` bring the domain back with a fresh connection.
        if self.xs.is_broken() {
            panic!("xenstore connection broken: crashing so the domain is restarted");
        }
        while let Ok(Some(ev)) = self.xs.poll_watch() {
            if ev.token == SHUTDOWN_TOKEN {
                wake.shutdown = wake.shutdown.or(self.shutdown_request());
            } else {
                wake.watches.push(ev);
            }
        }
    }

    /// Reads and acknowledges control/shutdown (an empty value is no request).
    fn shutdown_request(&mut self) -> Option<ShutdownReason> {
        let req = self.xs.read("control/shutdown").ok()?;
        let reason = match req.as_str() {
            "poweroff" | "halt" => ShutdownReason::Poweroff,
            "reboot" => ShutdownReason::Reboot,
            "crash" => ShutdownReason::Crash,
            _ => return None,
        };
        let _ = self.xs.write("control/shutdown", "");
        Some(reason)
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::println!("{info}");
    shutdown(ShutdownReason::Crash)
}

/// Pages in the heap plus pages still free: what the domain can use.
pub fn memory_report() -> (usize, u64) {
    (
        heap::heap_size(),
        heap::frames_available() * PAGE_SIZE as u64,
    )
}
