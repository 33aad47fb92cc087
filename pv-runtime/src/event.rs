//! Event channels with upcalls masked (docs/architecture.md §3): nothing interrupts the
//! domain; the run loop blocks in `SCHEDOP_poll` on its bound ports and then
//! takes the pending bits from shared_info's 2-level bitmap (xen.h,
//! `evtchn_pending`; event_channel.h for the operations).
//!
//! [`PortSet`] and [`take_pending`] are plain logic over the bitmap words and are
//! host-tested; [`Events`] (domain target) adds the hypercalls.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::abi::shared_info::{EVTCHN_2L_NR_CHANNELS, EVTCHN_WORD_BITS};
use crate::abi::Port;

const WORDS: usize = EVTCHN_2L_NR_CHANNELS / EVTCHN_WORD_BITS;

/// A set of ports of the 2-level ABI (0..4096).
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    words: [u64; WORDS],
}

impl core::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Default for PortSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PortSet {
    pub const fn new() -> Self {
        Self { words: [0; WORDS] }
    }

    /// Returns false for a port the 2-level ABI cannot name.
    pub fn insert(&mut self, port: Port) -> bool {
        let p = port as usize;
        if p >= EVTCHN_2L_NR_CHANNELS {
            return false;
        }
        self.words[p / 64] |= 1 << (p % 64);
        true
    }

    pub fn remove(&mut self, port: Port) {
        if let Some(w) = self.words.get_mut(port as usize / 64) {
            *w &= !(1 << (port % 64));
        }
    }

    pub fn contains(&self, port: Port) -> bool {
        self.words
            .get(port as usize / 64)
            .is_some_and(|w| w & (1 << (port % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = Port> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            (0..64u32)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| (i as u32) * 64 + b)
        })
    }
}

/// What went wrong with events, counted rather than fatal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounters {
    /// Pending bits on ports nobody bound (or already closed): cleared and dropped.
    pub unknown_port: u64,
    /// Wake-ups handed to the domain.
    pub delivered: u64,
}

/// Clears every pending bit; ports in `known` go to the returned set, the rest
/// are counted as unknown.
pub fn take_pending(
    pending: &[AtomicU64],
    known: &PortSet,
    counters: &mut EventCounters,
) -> PortSet {
    let mut fired = PortSet::new();
    for (i, word) in pending.iter().enumerate().take(WORDS) {
        if word.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let bits = word.swap(0, Ordering::AcqRel);
        let ours = bits & known.words[i];
        fired.words[i] = ours;
        counters.unknown_port += u64::from((bits & !ours).count_ones());
        counters.delivered += u64::from(ours.count_ones());
    }
    fired
}

/// Test-and-clear of one port's pending bit.
pub fn clear_pending(pending: &[AtomicU64], port: Port) -> bool {
    let Some(word) = pending.get(port as usize / 64) else {
        return false;
    };
    let bit = 1u64 << (port % 64);
    word.fetch_and(!bit, Ordering::AcqRel) & bit != 0
}

#[cfg(target_os = "none")]
pub use domain::{pending_words, Events};

#[cfg(target_os = "none")]
mod domain {
    use core::sync::atomic::AtomicU64;

    use super::{clear_pending, take_pending, EventCounters, PortSet};
    use crate::abi::sched::SCHEDOP_POLL_MAX_PORTS;
    use crate::abi::{DomId, Port};
    use crate::hypervisor::{self, XenError};

    /// shared_info's `evtchn_pending` words, as atomics (Xen sets bits with
    /// locked operations; we clear them likewise).
    pub fn pending_words() -> &'static [AtomicU64] {
        match crate::runtime::shared_info() {
            // SAFETY: shared_info stays mapped; `evtchn_pending` is 64 aligned u64
            // words, which AtomicU64 matches in size and alignment.
            Some(si) => unsafe {
                core::slice::from_raw_parts(
                    core::ptr::addr_of!((*si).evtchn_pending).cast::<AtomicU64>(),
                    64,
                )
            },
            None => &[],
        }
    }

    /// The domain's event channels.
    #[derive(Default)]
    pub struct Events {
        bound: PortSet,
        pub counters: EventCounters,
    }

    impl Events {
        pub const fn new() -> Self {
            Self {
                bound: PortSet::new(),
                counters: EventCounters {
                    unknown_port: 0,
                    delivered: 0,
                },
            }
        }

        /// Takes a port bound elsewhere (start_info's store/console ports).
        pub fn adopt(&mut self, port: Port) {
            self.bound.insert(port);
        }

        /// A port `remote` can bind to (the offering side of a connection).
        pub fn alloc_unbound(&mut self, remote: DomId) -> Result<Port, XenError> {
            let p = hypervisor::evtchn_alloc_unbound(remote)?;
            self.bound.insert(p);
            Ok(p)
        }

        pub fn bind_interdomain(
            &mut self,
            remote: DomId,
            remote_port: Port,
        ) -> Result<Port, XenError> {
            let p = hypervisor::evtchn_bind_interdomain(remote, remote_port)?;
            self.bound.insert(p);
            Ok(p)
        }

        pub fn bind_virq(&mut self, virq: u32) -> Result<Port, XenError> {
            let p = hypervisor::evtchn_bind_virq(virq)?;
            self.bound.insert(p);
            Ok(p)
        }

        /// Binds a physical IRQ (see [`hypervisor::evtchn_bind_pirq`]).
        pub fn bind_pirq(&mut self, pirq: u32, share: bool) -> Result<Port, XenError> {
            let p = hypervisor::evtchn_bind_pirq(pirq, share)?;
            self.bound.insert(p);
            Ok(p)
        }

        /// Blocks until `port` alone fires or `deadline_ns` passes, clearing
        /// its pending bit; other ports' pending bits are left for the run
        /// loop. For request/response exchanges during set-up (pcifront ops).
        pub fn wait_one(&mut self, port: Port, deadline_ns: u64) -> bool {
            if self.clear(port) {
                return true;
            }
            let _ = hypervisor::poll(&[port], deadline_ns.max(1));
            self.clear(port)
        }

        pub fn notify(&self, port: Port) -> Result<(), XenError> {
            hypervisor::evtchn_send(port)
        }

        pub fn close(&mut self, port: Port) -> Result<(), XenError> {
            self.bound.remove(port);
            clear_pending(pending_words(), port);
            hypervisor::evtchn_close(port)
        }

        pub fn is_bound(&self, port: Port) -> bool {
            self.bound.contains(port)
        }

        /// Clears `port`'s pending bit; returns whether it was set. (Xen marks a
        /// freshly bound interdomain port pending, in case the peer kicked first.)
        pub fn clear(&mut self, port: Port) -> bool {
            clear_pending(pending_words(), port)
        }

        /// Takes what is pending without blocking.
        pub fn take(&mut self) -> PortSet {
            take_pending(pending_words(), &self.bound, &mut self.counters)
        }

        /// Blocks until a bound port fires or system time reaches `deadline_ns`
        /// (`None`: no deadline), then takes every pending port.
        pub fn wait(&mut self, deadline_ns: Option<u64>) -> PortSet {
            let fired = self.take();
            if !fired.is_empty() {
                return fired;
            }
            let mut ports: heapless::Vec<Port, SCHEDOP_POLL_MAX_PORTS> = heapless::Vec::new();
            for p in self.bound.iter() {
                if ports.push(p).is_err() {
                    break;
                }
            }
            // A deadline of 0 would mean "none" to Xen: clamp to 1 ns.
            let _ = hypervisor::poll(&ports, deadline_ns.map_or(0, |d| d.max(1)));
            self.take()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitmap() -> Vec<AtomicU64> {
        (0..WORDS).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn port_set_bounds_and_iteration() {
        let mut s = PortSet::new();
        assert!(s.insert(0) && s.insert(63) && s.insert(64) && s.insert(4095));
        assert!(!s.insert(4096));
        assert!(s.contains(64) && !s.contains(65) && !s.contains(100_000));
        s.remove(63);
        s.remove(100_000);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 64, 4095]);
    }

    #[test]
    fn pending_bits_are_taken_once_and_strays_counted() {
        let words = bitmap();
        let mut known = PortSet::new();
        known.insert(3);
        known.insert(130);
        words[0].store((1 << 3) | (1 << 5), Ordering::Relaxed);
        words[2].store(1 << 2, Ordering::Relaxed);
        let mut c = EventCounters::default();
        let fired = take_pending(&words, &known, &mut c);
        assert_eq!(fired.iter().collect::<Vec<_>>(), vec![3, 130]);
        assert_eq!(
            c,
            EventCounters {
                unknown_port: 1,
                delivered: 2
            }
        );
        assert!(take_pending(&words, &known, &mut c).is_empty());
        assert!(words.iter().all(|w| w.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn clear_one_port() {
        let words = bitmap();
        words[1].store(0b11, Ordering::Relaxed);
        assert!(clear_pending(&words, 64));
        assert!(!clear_pending(&words, 64));
        assert!(!clear_pending(&words, 9999));
        assert_eq!(words[1].load(Ordering::Relaxed), 0b10);
    }
}
