//! The receive ring (SDM §3.2): which descriptors to read, what to pass up,
//! what to drop, and where the tail goes. No register access happens here;
//! the driver writes the tail this module returns.
//!
//! Invariant: every descriptor except the one just before `next` is posted
//! to the device, and RDT names that one. The device owns `[RDH, RDT)`, so
//! one batch can find at most `RING_LEN - 1` completed descriptors, and
//! after it the ring is empty: a batch that passes fewer frames than its
//! budget has drained the ring.

use crate::nic::dma::{Dma, DmaPage};
use crate::nic::{NicCounters, NicError, MAX_FRAME};

use super::buf::Buffers;
use super::desc::{self, RING_LEN, RXD_ERR_FRAME, RXD_STAT_DD, RXD_STAT_EOP};

/// Shortest frame we pass up: an Ethernet header.
pub const MIN_FRAME: usize = 14;

pub struct RxRing {
    ring: DmaPage,
    bufs: Buffers,
    /// Next descriptor to look at.
    next: usize,
    /// Inside a frame that spans several descriptors: drop until its EOP.
    /// Kept across calls because such a frame can straddle two batches.
    discarding: bool,
}

impl RxRing {
    pub fn alloc(dma: &mut impl Dma) -> Result<Self, NicError> {
        let ring = dma.alloc_page().ok_or(NicError::NoMemory)?;
        let bufs = Buffers::alloc(dma, RING_LEN)?;
        Ok(RxRing {
            ring,
            bufs,
            next: 0,
            discarding: false,
        })
    }

    /// RDBAL/RDBAH value.
    pub fn base(&self) -> u64 {
        self.ring.bus()
    }

    /// Posts every buffer and forgets any half-read state; returns the RDT
    /// to program alongside RDH = 0.
    pub fn reset(&mut self) -> u32 {
        for i in 0..RING_LEN {
            desc::rx_post(&self.ring, i, self.bufs.bus(i));
        }
        self.next = 0;
        self.discarding = false;
        desc::prev(0) as u32
    }

    /// Completed descriptors not yet read (lost if the device is reset now).
    pub fn pending(&self) -> usize {
        let mut i = self.next;
        let mut n = 0;
        while n < RING_LEN - 1 && desc::rx_writeback(&self.ring, i).status & RXD_STAT_DD != 0 {
            n += 1;
            i = desc::next(i);
        }
        n
    }

    /// Passes up to `budget` good frames to `sink`, dropping and counting
    /// bad ones, and re-posts every descriptor it reads. Returns the frames
    /// passed and the new RDT if any descriptor was re-posted.
    pub fn receive(
        &mut self,
        budget: usize,
        counters: &mut NicCounters,
        sink: &mut dyn FnMut(&mut [u8]),
    ) -> (usize, Option<u32>) {
        let mut passed = 0;
        let mut reposted = 0;
        while passed < budget && reposted < RING_LEN - 1 {
            let i = self.next;
            let wb = desc::rx_writeback(&self.ring, i);
            if wb.status & RXD_STAT_DD == 0 {
                break;
            }
            if let Some(len) = self.accept(wb, counters) {
                counters.rx_frames += 1;
                counters.rx_bytes += len as u64;
                passed += 1;
                // SAFETY: the device wrote DD: the buffer is ours until
                // `rx_post` below hands it back.
                unsafe { self.bufs.lend(i, len, sink) };
            }
            desc::rx_post(&self.ring, i, self.bufs.bus(i));
            self.next = desc::next(i);
            reposted += 1;
        }
        let tail = (reposted > 0).then(|| desc::prev(self.next) as u32);
        (passed, tail)
    }

    /// The frame length if this completed descriptor holds a whole, good
    /// frame; otherwise counts why not. Every field is the device's word and
    /// is checked before use.
    fn accept(&mut self, wb: desc::RxWriteBack, counters: &mut NicCounters) -> Option<usize> {
        let eop = wb.status & RXD_STAT_EOP != 0;
        if self.discarding || !eop {
            if !self.discarding {
                counters.rx_dropped += 1;
            }
            self.discarding = !eop;
            return None;
        }
        let len = usize::from(wb.length);
        if wb.errors & RXD_ERR_FRAME != 0 || !(MIN_FRAME..=MAX_FRAME).contains(&len) {
            counters.rx_errors += 1;
            return None;
        }
        Some(len)
    }
}
