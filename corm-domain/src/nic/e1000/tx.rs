//! The transmit ring (SDM §3.3, §3.4): filling descriptors, reclaiming the
//! ones the device has written back, and noticing when it stops doing so.
//! No register access happens here; the driver writes the TDT this module
//! publishes and feeds it the TDH it reads.
//!
//! `clean..tail` are the descriptors filled and not yet reclaimed; at most
//! `RING_LEN - 1` so that TDT never wraps onto TDH. `clean..published` are
//! the ones the device was told about (the TDT last written): frames are
//! queued by `push`/`push_offload` and published once per batch.
//!
//! A frame is a run of slots: one legacy descriptor, or an optional TCP/IP
//! context descriptor then data descriptors, one per 2 KiB buffer (SDM
//! §3.3.5). Only its last descriptor has RS, so DD there completes the
//! whole run; `ends` and `lens`, indexed by a frame's first slot, say where
//! it ends and how many bytes it carried.

use crate::nic::dma::{Dma, DmaPage};
use crate::nic::{NicCounters, NicError, TxError, TxFrame, BUF_SIZE};

use super::buf::Buffers;
use super::desc::{self, Context, RING_LEN, TXD_CMD_EOP, TXD_CMD_RS, TXD_CMD_TSE};
use super::offload::Plan;

/// Consecutive watchdog calls (about one a second, see `Nic::watchdog`)
/// that may find published transmit work with nothing completed and TDH
/// unmoved, the link up, before the transmitter is declared hung. With the
/// call that finds no completion and takes the first TDH sample, that is 3
/// to 4 s without progress. The longest legitimate stall, an 802.3x pause
/// at 1 Gb/s (65535 quanta x 512 bit times = 33.6 ms), is far shorter;
/// Linux's e1000 declares a hang after 1 s of no progress plus up to 2 s of
/// watchdog period, the same order. Between calls no register is read.
pub const TX_WATCHDOG_TICKS: u32 = 2;

/// What the watchdog concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    Healthy,
    /// No progress for `TX_WATCHDOG_TICKS` calls with work published.
    Hung,
    /// TDH names no descriptor of the ring: the device state is corrupt.
    BadHead,
    /// TDH read as all-ones: the device is gone.
    Gone,
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
    /// Next slot to fill.
    tail: usize,
    /// The TDT last written: slots before it are the device's to process.
    published: usize,
    /// Oldest slot not yet reclaimed.
    clean: usize,
    /// Descriptors reclaimed, ever (wrapping): progress without a register.
    completed: u32,
    /// `completed` at the previous watchdog call that found work published.
    seen: Option<u32>,
    /// TDH at the previous watchdog call that had to read it.
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
            published: 0,
            clean: 0,
            completed: 0,
            seen: None,
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
        self.published = 0;
        self.clean = 0;
        self.idle();
        lost
    }

    /// Slots filled and not yet reclaimed, published or not.
    pub fn in_flight(&self) -> usize {
        desc::distance(self.clean, self.tail)
    }

    /// Slots the device was told about and has not been seen to complete.
    pub fn published_in_flight(&self) -> usize {
        desc::distance(self.clean, self.published)
    }

    /// The TDT to write if frames were queued since the last call: they
    /// become the device's.
    pub fn publish(&mut self) -> Option<u32> {
        if self.published == self.tail {
            return None;
        }
        self.published = self.tail;
        Some(self.tail as u32)
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
                self.completed = self.completed.wrapping_add(1);
                if i == end {
                    break;
                }
            }
        }
    }

    /// Whether `slots` more slots are free right now (reclaimed ones).
    /// One slot always stays empty: TDT == TDH means "ring empty" (8254x
    /// SDM 3.4), so a full ring would be indistinguishable from an empty one.
    pub fn fits(&self, slots: usize) -> bool {
        self.in_flight() + slots < RING_LEN
    }

    /// Copies `frame` (length already checked, `fits(1)` checked) into the
    /// tail slot and queues it. `Err` (nothing queued) when the checksum it
    /// asks for cannot be completed.
    pub fn push(&mut self, frame: &TxFrame<'_>) -> Result<(), TxError> {
        if !self.fits(1) {
            return Err(TxError::Full);
        }
        let i = self.tail;
        let len = frame.len() as u16;
        self.bufs.fill(i, frame)?;
        self.lens[i] = u32::from(len);
        self.ends[i] = i as u16;
        desc::tx_fill(&self.ring, i, self.bufs.bus(i), len);
        self.tail = desc::next(i);
        Ok(())
    }

    /// Slots `frame` takes with `plan`: a context descriptor unless the
    /// device already holds an equal one, and one per `BUF_SIZE` bytes.
    pub fn slots_for(&self, frame: &TxFrame<'_>, plan: &Plan) -> usize {
        frame.len().div_ceil(BUF_SIZE) + usize::from(self.ctx != Some(plan.ctx))
    }

    /// Queues `frame` (checked by `offload::plan`) as a context descriptor,
    /// unless the device already holds an equal one, and one data descriptor
    /// per `BUF_SIZE` bytes, with `plan`'s fix-ups applied to the copy.
    /// `Err(Full)`, having written nothing, when the slots it needs
    /// ([`slots_for`](Self::slots_for)) are not free.
    pub fn push_offload(&mut self, frame: &TxFrame<'_>, plan: &Plan) -> Result<(), TxError> {
        let data = frame.len().div_ceil(BUF_SIZE);
        let with_ctx = self.ctx != Some(plan.ctx);
        if data == 0 || !self.fits(self.slots_for(frame, plan)) {
            return Err(TxError::Full);
        }
        let first = self.tail;
        let mut i = first;
        if with_ctx {
            desc::tx_context(&self.ring, i, &plan.ctx);
            self.ctx = Some(plan.ctx);
            i = desc::next(i);
        }
        let tse = if plan.tse { TXD_CMD_TSE } else { 0 };
        for k in 0..data {
            let chunk = (frame.len() - k * BUF_SIZE).min(BUF_SIZE);
            self.bufs.fill_part(i, frame, k * BUF_SIZE, chunk);
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
                chunk as u16,
                cmd,
                plan.popts,
            );
            i = desc::next(i);
        }
        self.lens[first] = frame.len() as u32;
        self.tail = i;
        Ok(())
    }

    /// Nothing is published, so nothing can be hung.
    fn idle(&mut self) {
        self.seen = None;
        self.last_head = None;
        self.stalled = 0;
    }

    /// One watchdog call (after `reclaim`). Completions since the previous
    /// call are progress, and need no register; only when there were none
    /// is TDH sampled through `read_head`, whose moving is progress too (a
    /// long TSO frame). The device is only expected to make progress while
    /// the link is up.
    pub fn watch(&mut self, link_up: bool, read_head: impl FnOnce() -> u32) -> Watch {
        if self.published_in_flight() == 0 {
            self.idle();
            return Watch::Healthy;
        }
        if self.seen != Some(self.completed) {
            self.seen = Some(self.completed);
            self.last_head = None;
            self.stalled = 0;
            return Watch::Healthy;
        }
        let head = read_head();
        if head == u32::MAX {
            return Watch::Gone;
        }
        let head = head as usize;
        if head >= RING_LEN {
            return Watch::BadHead;
        }
        if link_up && self.last_head == Some(head) {
            self.stalled += 1;
        } else {
            self.stalled = 0;
        }
        self.last_head = Some(head);
        if self.stalled >= TX_WATCHDOG_TICKS {
            Watch::Hung
        } else {
            Watch::Healthy
        }
    }
}
