//! The transmit ring (SDM §3.3, §3.4): filling descriptors, reclaiming the
//! ones the device has written back, and noticing when it stops doing so.
//! No register access happens here; the driver writes the TDT this module
//! returns and feeds it the TDH it reads.
//!
//! `clean..tail` are the descriptors handed to the device and not yet
//! reclaimed; at most `RING_LEN - 1` so that TDT never wraps onto TDH.
//!
//! A frame is a run of slots: one legacy descriptor, or an optional TCP/IP
//! context descriptor then data descriptors, one per 2 KiB buffer (SDM
//! §3.3.5). Only its last descriptor has RS, so DD there completes the
//! whole run; `ends` and `lens`, indexed by a frame's first slot, say where
//! it ends and how many bytes it carried.

use crate::nic::dma::{Dma, DmaPage};
use crate::nic::{NicCounters, NicError, BUF_SIZE};

use super::buf::Buffers;
use super::desc::{self, Context, RING_LEN, TXD_CMD_EOP, TXD_CMD_RS, TXD_CMD_TSE};
use super::offload::Plan;

/// Consecutive `handle` calls that may see the device hold transmit work
/// without TDH moving before it is declared hung. Counted in calls because
/// the driver has no clock: interrupts are throttled to at most ~7.8k/s
/// (`ITR`), so 512 calls last at least 65 ms, longer than the longest
/// 802.3x pause at 1 Gb/s (65535 quanta x 512 bit times = 33.6 ms); a caller
/// polling every millisecond detects a hang within about half a second.
pub const TX_WATCHDOG_HANDLES: u32 = 512;

/// What the watchdog concluded from one TDH sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    Healthy,
    /// TDH has not moved for `TX_WATCHDOG_HANDLES` calls with work queued.
    Hung,
    /// TDH names no descriptor of the ring: the device state is corrupt.
    BadHead,
}

pub struct TxRing {
    ring: DmaPage,
    bufs: Buffers,
    /// Frame length, at each frame's first slot, for byte counts.
    lens: [u32; RING_LEN],
    /// Slot of the frame's last descriptor, at each frame's first slot.
    ends: [u16; RING_LEN],
    /// The context descriptor the device holds, when the last one written
    /// is known to be loaded (cleared by `reset`): an equal one is skipped.
    ctx: Option<Context>,
    /// Next slot to fill (the TDT we last wrote).
    tail: usize,
    /// Oldest slot not yet reclaimed.
    clean: usize,
    last_head: Option<usize>,
    stalled: u32,
}

impl TxRing {
    pub fn alloc(dma: &mut impl Dma) -> Result<Self, NicError> {
        let ring = dma.alloc_page().ok_or(NicError::NoMemory)?;
        let bufs = Buffers::alloc(dma, RING_LEN)?;
        Ok(TxRing {
            ring,
            bufs,
            lens: [0; RING_LEN],
            ends: [0; RING_LEN],
            ctx: None,
            tail: 0,
            clean: 0,
            last_head: None,
            stalled: 0,
        })
    }

    /// TDBAL/TDBAH value.
    pub fn base(&self) -> u64 {
        self.ring.bus()
    }

    /// Empties the ring for a fresh start at TDH = TDT = 0; returns how many
    /// frames were still in flight (lost with the reset).
    pub fn reset(&mut self) -> usize {
        let mut lost = 0;
        let mut i = self.clean;
        while i != self.tail {
            lost += 1;
            i = desc::next(self.end(i));
        }
        self.ctx = None;
        for i in 0..RING_LEN {
            desc::clear(&self.ring, i);
        }
        self.tail = 0;
        self.clean = 0;
        self.last_head = None;
        self.stalled = 0;
        lost
    }

    pub fn in_flight(&self) -> usize {
        desc::distance(self.clean, self.tail)
    }

    /// Slots free right now, counting completed but unreclaimed ones; reads
    /// descriptors only.
    pub fn space(&self) -> usize {
        let mut i = self.clean;
        while i != self.tail && desc::tx_done(&self.ring, self.end(i)) {
            i = desc::next(self.end(i));
        }
        RING_LEN - 1 - self.in_flight() + desc::distance(self.clean, i)
    }

    fn end(&self, first: usize) -> usize {
        usize::from(self.ends[first]) % RING_LEN
    }

    /// Takes back every frame whose last descriptor the device has written
    /// DD into, in order, and counts it as sent.
    pub fn reclaim(&mut self, counters: &mut NicCounters) {
        while self.clean != self.tail && desc::tx_done(&self.ring, self.end(self.clean)) {
            let end = self.end(self.clean);
            counters.tx_frames += 1;
            counters.tx_bytes += u64::from(self.lens[self.clean]);
            loop {
                desc::clear(&self.ring, self.clean);
                let i = self.clean;
                self.clean = desc::next(i);
                if i == end {
                    break;
                }
            }
        }
    }

    /// Copies `frame` (length already checked) into the tail slot and
    /// returns the new TDT, or `None` when no slot is free.
    pub fn push(&mut self, frame: &[u8]) -> Option<u32> {
        if self.in_flight() >= RING_LEN - 1 {
            return None;
        }
        let i = self.tail;
        let len = frame.len() as u16;
        self.bufs.write(i, frame);
        self.lens[i] = u32::from(len);
        self.ends[i] = i as u16;
        desc::tx_fill(&self.ring, i, self.bufs.bus(i), len);
        self.tail = desc::next(i);
        Some(self.tail as u32)
    }

    /// Queues `frame` (checked by `offload::plan`) as a context descriptor,
    /// unless the device already holds an equal one, and one data descriptor
    /// per `BUF_SIZE` bytes, with `plan`'s fix-ups applied to the copy.
    /// Returns the new TDT, or `None`, having written nothing, when the
    /// slots it needs are not free.
    pub fn push_offload(&mut self, frame: &[u8], plan: &Plan) -> Option<u32> {
        let data = frame.len().div_ceil(BUF_SIZE);
        let with_ctx = self.ctx != Some(plan.ctx);
        if data == 0 || self.in_flight() + data + usize::from(with_ctx) > RING_LEN - 1 {
            return None;
        }
        let first = self.tail;
        let mut i = first;
        if with_ctx {
            desc::tx_context(&self.ring, i, &plan.ctx);
            self.ctx = Some(plan.ctx);
            i = desc::next(i);
        }
        let tse = if plan.tse { TXD_CMD_TSE } else { 0 };
        for (k, chunk) in frame.chunks(BUF_SIZE).enumerate() {
            self.bufs.write(i, chunk);
            if k == 0 {
                for (off, v) in plan.patches.iter().flatten() {
                    self.bufs.write_at(i, *off, &v.to_be_bytes());
                }
            }
            let cmd = if k + 1 == data {
                self.ends[first] = i as u16;
                tse | TXD_CMD_EOP | TXD_CMD_RS
            } else {
                tse
            };
            desc::tx_data(
                &self.ring,
                i,
                self.bufs.bus(i),
                chunk.len() as u16,
                cmd,
                plan.popts,
            );
            i = desc::next(i);
        }
        self.lens[first] = frame.len() as u32;
        self.tail = i;
        Some(self.tail as u32)
    }

    /// Nothing is in flight, so nothing can be hung.
    pub fn idle(&mut self) {
        self.last_head = None;
        self.stalled = 0;
    }

    /// Feeds one TDH sample. The device has work while TDH != TDT; it is
    /// only expected to make progress while the link is up.
    pub fn watch(&mut self, head: u32, link_up: bool) -> Watch {
        let head = head as usize;
        if head >= RING_LEN {
            return Watch::BadHead;
        }
        if head != self.tail && link_up && self.last_head == Some(head) {
            self.stalled += 1;
        } else {
            self.stalled = 0;
        }
        self.last_head = Some(head);
        if self.stalled >= TX_WATCHDOG_HANDLES {
            Watch::Hung
        } else {
            Watch::Healthy
        }
    }
}
