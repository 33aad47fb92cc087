//! A split virtqueue, driver side (Virtio 1.2 §2.7), sans-IO over three DMA
//! pages: descriptor table, driver area (available ring), device area (used
//! ring). With at most [`MAX_SIZE`] entries each fits one page (§2.7.5:
//! 16·256 bytes; §2.7.6: 6+2·256; §2.7.8: 6+8·256), and a page is aligned
//! beyond the 16/2/4 bytes §2.7 requires.
//!
//! Ring indices are free-running `u16`s (§2.7.6, §2.7.8); the slot is the
//! index modulo the size, which is a power of two so the modulo stays right
//! when the index wraps at 65536.
//!
//! Everything read from the device area is untrusted: a used element naming
//! a descriptor that is out of range or not currently given to the device is
//! reported as [`Completion::Bogus`] and otherwise ignored; a used index more
//! than a ring ahead of ours is [`Completion::Overrun`].

use core::sync::atomic::{fence, Ordering};

use crate::nic::dma::PAGE_SIZE;
use crate::nic::{Dma, DmaPage, NicError};

/// Largest queue the driver sets up, whatever the device offers.
pub(super) const MAX_SIZE: u16 = 256;

/// §2.7.5 `VIRTQ_DESC_F_WRITE`: the device writes this buffer.
pub(super) const DESC_F_WRITE: u16 = 2;
const DESC_LEN: usize = 16;
/// §2.7.7 `VIRTQ_AVAIL_F_NO_INTERRUPT`, §2.7.10 `VIRTQ_USED_F_NO_NOTIFY`.
const AVAIL_F_NO_INTERRUPT: u16 = 1;
const USED_F_NO_NOTIFY: u16 = 1;
/// `flags` at 0 and `idx` at 2 in both rings; entries from 4.
const RING_IDX: usize = 2;
const RING: usize = 4;
const USED_ELEM_LEN: usize = 8;

/// What the next used element says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Completion {
    /// The device has not used any more buffers.
    Empty,
    /// Descriptor `id` is back with the driver; the device wrote `len` bytes.
    Done { id: u16, len: u32 },
    /// An element naming no outstanding descriptor; skipped.
    Bogus,
    /// The used index claims more than a ring of elements; nothing consumed.
    Overrun,
}

pub(super) struct SplitQueue {
    desc: DmaPage,
    avail: DmaPage,
    used: DmaPage,
    capacity: u16,
    size: u16,
    next_avail: u16,
    last_used: u16,
    outstanding: [u64; MAX_SIZE as usize / 64],
    free: heapless::Vec<u16, { MAX_SIZE as usize }>,
}

/// The largest power of two not above `n` (which is at least 1).
pub(super) fn pow2_floor(n: u16) -> u16 {
    1 << (15 - n.max(1).leading_zeros())
}

impl SplitQueue {
    /// A queue of `capacity` (1..=[`MAX_SIZE`], rounded down to a power of
    /// two) entries, reset to that size.
    pub(super) fn alloc(dma: &mut impl Dma, capacity: u16) -> Result<Self, NicError> {
        let mut page = || dma.alloc_page().ok_or(NicError::NoMemory);
        let (desc, avail, used) = (page()?, page()?, page()?);
        let capacity = pow2_floor(capacity.min(MAX_SIZE));
        let mut q = SplitQueue {
            desc,
            avail,
            used,
            capacity,
            size: capacity,
            next_avail: 0,
            last_used: 0,
            outstanding: [0; MAX_SIZE as usize / 64],
            free: heapless::Vec::new(),
        };
        q.reset(capacity);
        Ok(q)
    }

    /// Forgets all state, as after a device reset (§2.7: both indices start
    /// at 0), with `size` entries (clamped to the capacity, rounded down to
    /// a power of two), all free.
    pub(super) fn reset(&mut self, size: u16) {
        for page in [&self.desc, &self.avail, &self.used] {
            for off in (0..PAGE_SIZE).step_by(8) {
                page.write_u64(off, 0);
            }
        }
        self.size = pow2_floor(size.min(self.capacity));
        self.next_avail = 0;
        self.last_used = 0;
        self.outstanding = [0; MAX_SIZE as usize / 64];
        self.free.clear();
        for id in (0..self.size).rev() {
            let _ = self.free.push(id);
        }
    }

    pub(super) fn capacity(&self) -> u16 {
        self.capacity
    }

    pub(super) fn size(&self) -> u16 {
        self.size
    }

    /// Bus addresses of the descriptor table, driver area and device area.
    pub(super) fn areas(&self) -> (u64, u64, u64) {
        (self.desc.bus(), self.avail.bus(), self.used.bus())
    }

    /// Asks the device not to interrupt for this queue (§2.7.7); a hint only.
    pub(super) fn set_no_interrupt(&self, quiet: bool) {
        let flags = if quiet { AVAIL_F_NO_INTERRUPT } else { 0 };
        self.avail.write_u16(0, flags);
    }

    fn is_outstanding(&self, id: u16) -> bool {
        let id = usize::from(id);
        self.outstanding
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn mark(&mut self, id: u16, on: bool) {
        let id = usize::from(id);
        if let Some(w) = self.outstanding.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
            }
        }
    }

    /// Descriptors given to the device and not yet returned.
    pub(super) fn outstanding(&self) -> usize {
        self.outstanding
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    /// Takes a descriptor no one is using, if any.
    pub(super) fn take_free(&mut self) -> Option<u16> {
        self.free.pop()
    }

    /// Returns descriptor `id`, just handed back by [`pop`](Self::pop), to
    /// the free list.
    pub(super) fn put_free(&mut self, id: u16) {
        if id < self.size && !self.is_outstanding(id) {
            let _ = self.free.push(id);
        }
    }

    pub(super) fn free_count(&self) -> usize {
        self.free.len()
    }

    /// Writes descriptor `id` for one buffer and appends it to the available
    /// ring (§2.7.13.1–2), not yet visible: see [`publish`](Self::publish).
    /// Returns `false` (nothing written) if `id` is out of range or already
    /// with the device.
    pub(super) fn push(&mut self, id: u16, addr: u64, len: u32, flags: u16) -> bool {
        if id >= self.size || self.is_outstanding(id) {
            return false;
        }
        let d = usize::from(id) * DESC_LEN;
        self.desc.write_u64(d, addr);
        self.desc.write_u32(d + 8, len);
        self.desc.write_u16(d + 12, flags);
        self.desc.write_u16(d + 14, 0);
        let slot = usize::from(self.next_avail % self.size);
        self.avail.write_u16(RING + 2 * slot, id);
        self.next_avail = self.next_avail.wrapping_add(1);
        self.mark(id, true);
        true
    }

    /// Makes pushed entries visible (§2.7.13.3): the release fence orders the
    /// descriptor and ring-slot stores before the store of `idx`, so the
    /// device never sees an index covering an entry not yet written.
    pub(super) fn publish(&self) {
        fence(Ordering::Release);
        self.avail.write_u16(RING_IDX, self.next_avail);
    }

    /// Whether the device wants an available-buffer notification
    /// (§2.7.13.4 without `VIRTIO_F_EVENT_IDX`). The full fence orders the
    /// `idx` store before the `flags` load; otherwise the device could miss
    /// the new entries while we miss its cleared flag.
    pub(super) fn needs_notify(&self) -> bool {
        fence(Ordering::SeqCst);
        self.used.read_u16(0) & USED_F_NO_NOTIFY == 0
    }

    /// Consumes the next used element (§2.7.14).
    pub(super) fn pop(&mut self) -> Completion {
        let used_idx = self.used.read_u16(RING_IDX);
        let pending = used_idx.wrapping_sub(self.last_used);
        if pending == 0 {
            return Completion::Empty;
        }
        if pending > self.size {
            return Completion::Overrun;
        }
        fence(Ordering::Acquire);
        let e = RING + USED_ELEM_LEN * usize::from(self.last_used % self.size);
        let id = self.used.read_u32(e);
        let len = self.used.read_u32(e + 4);
        self.last_used = self.last_used.wrapping_add(1);
        match u16::try_from(id) {
            Ok(id) if id < self.size && self.is_outstanding(id) => {
                self.mark(id, false);
                Completion::Done { id, len }
            }
            _ => Completion::Bogus,
        }
    }

    /// Starts both indices at `idx` instead of 0, so tests reach the `u16`
    /// wrap quickly; the device side must start there too.
    #[cfg(test)]
    pub(super) fn start_at(&mut self, idx: u16) {
        self.next_avail = idx;
        self.last_used = idx;
        self.avail.write_u16(RING_IDX, idx);
        self.used.write_u16(RING_IDX, idx);
    }
}
