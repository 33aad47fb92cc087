//! The PV console: the output half of `xencons_interface` (io/console.h), read by
//! xenconsoled in dom0 (`xl console`, `--log=guest` files).
//!
//! [`ConsoleRing`] is the producer side of the ring over one shared page and
//! does no I/O; the global console built on it (domain target only) adds the
//! event-channel kick and the `print!`/`println!` macros.

use core::ptr::{addr_of, addr_of_mut, NonNull};
use core::sync::atomic::{fence, Ordering};

use crate::abi::console::{XenconsInterface, OUT_SIZE};

/// Producer side of the console's `out` ring.
pub struct ConsoleRing {
    page: NonNull<XenconsInterface>,
}

// SAFETY: the ring is only reached through `&mut self`; the page itself is shared
// with xenconsoled by design and accessed with volatile reads/writes and fences.
unsafe impl Send for ConsoleRing {}

impl ConsoleRing {
    /// # Safety
    /// `page` must point at a mapped, page-sized `xencons_interface` that stays
    /// mapped for the life of the ring, with no other producer.
    pub unsafe fn from_raw(page: *mut u8) -> Option<Self> {
        NonNull::new(page.cast::<XenconsInterface>()).map(|page| Self { page })
    }

    fn indexes(&self) -> (u32, u32) {
        let p = self.page.as_ptr();
        // SAFETY: `p` is valid per `from_raw`; volatile because the consumer is another domain.
        let cons = unsafe { addr_of!((*p).out_cons).read_volatile() };
        // SAFETY: as above; we are the only writer of out_prod.
        let prod = unsafe { addr_of!((*p).out_prod).read_volatile() };
        (cons, prod)
    }

    /// Bytes written but not yet consumed. A consumer index that is ahead of the
    /// producer or more than a ring behind is corrupt: reported as a full ring.
    pub fn unconsumed(&self) -> usize {
        let (cons, prod) = self.indexes();
        let used = prod.wrapping_sub(cons) as usize;
        used.min(OUT_SIZE)
    }

    /// Copies as much of `bytes` as fits; returns how many were taken.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let (cons, prod) = self.indexes();
        fence(Ordering::Acquire);
        let used = prod.wrapping_sub(cons) as usize;
        if used > OUT_SIZE {
            return 0;
        }
        let n = bytes.len().min(OUT_SIZE - used);
        let p = self.page.as_ptr();
        for (i, &b) in bytes[..n].iter().enumerate() {
            let idx = (prod.wrapping_add(i as u32) as usize) & (OUT_SIZE - 1);
            // SAFETY: idx < OUT_SIZE, inside the mapped `out` array.
            unsafe {
                addr_of_mut!((*p).out)
                    .cast::<u8>()
                    .add(idx)
                    .write_volatile(b)
            };
        }
        fence(Ordering::Release);
        // SAFETY: valid page; publishing the new producer index after the data.
        unsafe { addr_of_mut!((*p).out_prod).write_volatile(prod.wrapping_add(n as u32)) };
        n
    }
}

#[cfg(target_os = "none")]
pub use global::{console_counters, flush, init, write_bytes, ConsoleWriter};

#[cfg(target_os = "none")]
mod global {
    use super::ConsoleRing;
    use crate::abi::Port;
    use crate::hypervisor;

    /// Output can stall only while xenconsoled is slow; give it this long before
    /// dropping output rather than hanging the domain.
    const STALL_LIMIT_NS: u64 = 1_000_000_000;

    struct Console {
        ring: ConsoleRing,
        port: Port,
        dropped: u64,
    }

    static CONSOLE: spin::Mutex<Option<Console>> = spin::Mutex::new(None);

    pub fn init(ring: ConsoleRing, port: Port) {
        *CONSOLE.lock() = Some(Console {
            ring,
            port,
            dropped: 0,
        });
    }

    /// Bytes dropped because the console ring stayed full.
    pub fn console_counters() -> u64 {
        CONSOLE.lock().as_ref().map_or(0, |c| c.dropped)
    }

    fn with_console(f: impl FnOnce(&mut Console)) {
        // A panic while printing must still reach the console: take the lock by
        // force (single vCPU, no interrupts, so nothing else can be inside it).
        let mut guard = match CONSOLE.try_lock() {
            Some(g) => g,
            None => {
                // SAFETY: run to completion on one vCPU with upcalls masked: the
                // holder is the code we interrupted by panicking and never resumes.
                unsafe { CONSOLE.force_unlock() };
                CONSOLE.lock()
            }
        };
        if let Some(c) = guard.as_mut() {
            f(c)
        }
    }

    pub fn write_bytes(mut bytes: &[u8]) {
        with_console(|c| {
            let mut stalled_since = None;
            while !bytes.is_empty() {
                let n = c.ring.write(bytes);
                bytes = &bytes[n..];
                let _ = hypervisor::evtchn_send(c.port);
                if n > 0 {
                    stalled_since = None;
                    continue;
                }
                let now = crate::time::now_ns();
                let since = *stalled_since.get_or_insert(now);
                if now.saturating_sub(since) > STALL_LIMIT_NS {
                    c.dropped += bytes.len() as u64;
                    return;
                }
                crate::event::clear_pending(crate::event::pending_words(), c.port);
                let _ = hypervisor::poll(&[c.port], now + 10_000_000);
            }
        });
    }

    /// Waits (bounded) until xenconsoled consumed everything, so nothing is
    /// lost when the domain shuts down right after printing.
    pub fn flush() {
        with_console(|c| {
            let start = crate::time::now_ns();
            while c.ring.unconsumed() > 0
                && crate::time::now_ns().saturating_sub(start) < STALL_LIMIT_NS
            {
                let _ = hypervisor::evtchn_send(c.port);
                crate::event::clear_pending(crate::event::pending_words(), c.port);
                let _ = hypervisor::poll(&[c.port], crate::time::now_ns() + 5_000_000);
            }
        });
    }

    /// `core::fmt::Write` onto the console.
    pub struct ConsoleWriter;

    impl core::fmt::Write for ConsoleWriter {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            write_bytes(s.as_bytes());
            Ok(())
        }
    }
}

/// Prints to the PV console.
#[cfg(target_os = "none")]
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::console::ConsoleWriter, format_args!($($arg)*));
    }};
}

/// Prints a line to the PV console.
#[cfg(target_os = "none")]
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        $crate::print!("{}\n", format_args!($($arg)*));
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    fn ring(page: &mut Page) -> ConsoleRing {
        // SAFETY: the page outlives the ring in every test.
        unsafe { ConsoleRing::from_raw(page.0.as_mut_ptr()).unwrap() }
    }

    fn set_cons(page: &mut Page, cons: u32) {
        let off = core::mem::offset_of!(XenconsInterface, out_cons);
        page.0[off..off + 4].copy_from_slice(&cons.to_le_bytes());
    }

    #[test]
    fn writes_until_full_then_resumes_after_consumer() {
        let mut page = Page([0; 4096]);
        let mut r = ring(&mut page);
        assert_eq!(r.write(&[b'a'; 3000]), OUT_SIZE);
        assert_eq!(r.write(b"x"), 0);
        assert_eq!(r.unconsumed(), OUT_SIZE);
        set_cons(&mut page, 100);
        let mut r = ring(&mut page);
        assert_eq!(r.write(&[b'b'; 200]), 100);
        // bytes wrapped to the start of `out`
        let out = core::mem::offset_of!(XenconsInterface, out);
        assert_eq!(&page.0[out..out + 100], &[b'b'; 100][..]);
    }

    #[test]
    fn index_wraparound_at_u32_max() {
        let mut page = Page([0; 4096]);
        let p = core::mem::offset_of!(XenconsInterface, out_prod);
        page.0[p..p + 4].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
        set_cons(&mut page, u32::MAX - 1);
        let mut r = ring(&mut page);
        assert_eq!(r.write(b"hello"), 5);
        assert_eq!(r.unconsumed(), 5);
    }

    #[test]
    fn corrupt_consumer_index_takes_nothing() {
        let mut page = Page([0; 4096]);
        set_cons(&mut page, 5000); // consumer "ahead" of producer 0
        let mut r = ring(&mut page);
        assert_eq!(r.write(b"hello"), 0);
    }
}
