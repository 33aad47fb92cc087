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
//!
//! A buffer may be a chain of descriptors (§2.7.5 `VIRTQ_DESC_F_NEXT`): the
//! device names its head in the used ring, and the driver frees the whole
//! chain from its own record of the links, never from the descriptor table.
//!
//! Notifications both ways (§2.7.7, §2.7.10): without `VIRTIO_F_EVENT_IDX`
//! the ring flags say "do not notify me" as a whole; with it, `used_event`
//! (after the available ring) names the used index the driver wants an
//! interrupt at, and `avail_event` (after the used ring) the available index
//! the device wants a notification at, so each side is notified once per
//! batch it did not already see coming.

use core::sync::atomic::{fence, Ordering};

use crate::nic::dma::PAGE_SIZE;
use crate::nic::{Dma, DmaPage, NicError};

/// Largest queue the driver sets up, whatever the device offers.
pub(super) const MAX_SIZE: u16 = 256;

/// §2.7.5 `VIRTQ_DESC_F_NEXT`: the buffer continues in `next`.
pub(super) const DESC_F_NEXT: u16 = 1;
/// §2.7.5 `VIRTQ_DESC_F_WRITE`: the device writes this buffer.
pub(super) const DESC_F_WRITE: u16 = 2;
/// No next descriptor in a chain (a private marker).
const END: u16 = u16::MAX;
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
    /// `next_avail` when the device was last considered for a notification.
    kicked: u16,
    last_used: u16,
    /// `VIRTIO_F_EVENT_IDX` negotiated.
    event_idx: bool,
    /// No interrupts wanted at all (polling).
    quiet: bool,
    /// Heads of chains given to the device.
    outstanding: [u64; MAX_SIZE as usize / 64],
    /// The chain links as written (`END` after a chain's last descriptor).
    links: [u16; MAX_SIZE as usize],
    free: heapless::Vec<u16, { MAX_SIZE as usize }>,
}

/// §2.7.7.2 `vring_need_event`: whether moving an index from `old` to `new`
/// crossed `event`, i.e. `event` is in `old..new` (mod 2^16).
pub(super) fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
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
            kicked: 0,
            last_used: 0,
            event_idx: false,
            quiet: false,
            outstanding: [0; MAX_SIZE as usize / 64],
            links: [END; MAX_SIZE as usize],
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
        self.kicked = 0;
        self.last_used = 0;
        self.event_idx = false;
        self.quiet = false;
        self.outstanding = [0; MAX_SIZE as usize / 64];
        self.links = [END; MAX_SIZE as usize];
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

    /// Sets how notifications are suppressed (after `reset`, before the
    /// queue is enabled): with `event_idx` through the event fields, else
    /// through the flags; `quiet` asks for no interrupts at all (a hint).
    pub(super) fn set_mode(&mut self, event_idx: bool, quiet: bool) {
        self.event_idx = event_idx;
        self.quiet = quiet;
        if quiet {
            self.interrupt_at(None);
        } else {
            self.interrupt_at(Some(self.last_used));
        }
    }

    /// Offset of `used_event` in the driver area, `avail_event` in the
    /// device area (§2.7.6, §2.7.8).
    fn used_event_at(&self) -> usize {
        RING + 2 * usize::from(self.size)
    }
    fn avail_event_at(&self) -> usize {
        RING + USED_ELEM_LEN * usize::from(self.size)
    }

    /// Asks for an interrupt once the device has used the element at index
    /// `at` (`None`: no interrupt). Without `EVENT_IDX` only "every
    /// element" or "none" can be said (§2.7.7.1: the flags must then stay
    /// 0 with `EVENT_IDX`, and `used_event` says it).
    pub(super) fn interrupt_at(&self, at: Option<u16>) {
        let at = if self.quiet { None } else { at };
        if self.event_idx {
            // Half the index space away: the device's index cannot reach it
            // before we write this again.
            let far = self.last_used.wrapping_add(0x8000);
            self.avail
                .write_u16(self.used_event_at(), at.unwrap_or(far));
        } else {
            let flags = if at.is_some() {
                0
            } else {
                AVAIL_F_NO_INTERRUPT
            };
            self.avail.write_u16(0, flags);
        }
    }

    /// Re-arms the interrupt for the next element after the ones consumed
    /// and returns whether the device has used more meanwhile (they would
    /// raise no interrupt: consume them too). The full fence orders the
    /// `used_event` store before the `idx` load (§2.7.10: the device may
    /// have checked the old value just before we wrote the new one).
    pub(super) fn rearm(&self) -> bool {
        self.interrupt_at(Some(self.last_used));
        fence(Ordering::SeqCst);
        self.used.read_u16(RING_IDX) != self.last_used
    }

    /// Used index minus ours: elements the device has used and we have not
    /// consumed (more than the ring is a lie `pop` reports).
    pub(super) fn used_pending(&self) -> u16 {
        self.used.read_u16(RING_IDX).wrapping_sub(self.last_used)
    }

    pub(super) fn last_used(&self) -> u16 {
        self.last_used
    }

    /// Descriptors the chains whose heads the device has used, and we have
    /// not consumed, hold: room `pop` will give back. Memory reads only.
    pub(super) fn completed_descriptors(&self) -> usize {
        let pending = self.used_pending().min(self.size);
        let mut n = 0;
        for k in 0..pending {
            let e = RING + USED_ELEM_LEN * usize::from(self.last_used.wrapping_add(k) % self.size);
            match u16::try_from(self.used.read_u32(e)) {
                Ok(id) if id < self.size && self.is_outstanding(id) => n += self.chain_len(id),
                _ => {}
            }
        }
        n
    }

    fn chain_len(&self, head: u16) -> usize {
        let mut n = 1;
        let mut id = head;
        while let Some(&next) = self.links.get(usize::from(id)) {
            if next == END || n >= usize::from(self.size) {
                break;
            }
            n += 1;
            id = next;
        }
        n
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

    /// Returns the chain headed by `id`, just handed back by
    /// [`pop`](Self::pop) (or never pushed), to the free list.
    pub(super) fn put_free(&mut self, id: u16) {
        if id >= self.size || self.is_outstanding(id) {
            return;
        }
        let mut id = id;
        for _ in 0..self.size {
            let _ = self.free.push(id);
            let next = core::mem::replace(&mut self.links[usize::from(id)], END);
            if next == END || next >= self.size {
                break;
            }
            id = next;
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
        self.push_chain(&[(id, addr, len)], flags)
    }

    /// Writes one buffer made of the descriptors `parts` (id, address,
    /// length: ids taken from the free list, in chain order), each with
    /// `flags` and all but the last with `NEXT`, and appends its head to the
    /// available ring. `false`, nothing written, if `parts` is empty or an
    /// id is out of range or already with the device.
    pub(super) fn push_chain(&mut self, parts: &[(u16, u64, u32)], flags: u16) -> bool {
        let Some(&(head, _, _)) = parts.first() else {
            return false;
        };
        if parts
            .iter()
            .any(|&(id, _, _)| id >= self.size || self.is_outstanding(id))
        {
            return false;
        }
        for (k, &(id, addr, len)) in parts.iter().enumerate() {
            let next = parts.get(k + 1).map_or(END, |p| p.0);
            let d = usize::from(id) * DESC_LEN;
            self.desc.write_u64(d, addr);
            self.desc.write_u32(d + 8, len);
            let more = if next == END { 0 } else { DESC_F_NEXT };
            self.desc.write_u16(d + 12, flags | more);
            self.desc
                .write_u16(d + 14, if next == END { 0 } else { next });
            self.links[usize::from(id)] = next;
        }
        let slot = usize::from(self.next_avail % self.size);
        self.avail.write_u16(RING + 2 * slot, head);
        self.next_avail = self.next_avail.wrapping_add(1);
        self.mark(head, true);
        true
    }

    /// Makes pushed entries visible (§2.7.13.3): the release fence orders the
    /// descriptor and ring-slot stores before the store of `idx`, so the
    /// device never sees an index covering an entry not yet written.
    pub(super) fn publish(&self) {
        fence(Ordering::Release);
        self.avail.write_u16(RING_IDX, self.next_avail);
    }

    /// Whether the device wants an available-buffer notification for what
    /// was published since the last call (§2.7.13.4): with `EVENT_IDX`, if
    /// the published entries cross `avail_event`, else unless the device
    /// set `NO_NOTIFY`. The full fence orders the `idx` store before the
    /// load; otherwise the device could miss the new entries while we miss
    /// its request.
    pub(super) fn needs_notify(&mut self) -> bool {
        fence(Ordering::SeqCst);
        let (old, new) = (self.kicked, self.next_avail);
        self.kicked = new;
        if old == new {
            return false;
        }
        if self.event_idx {
            need_event(self.used.read_u16(self.avail_event_at()), new, old)
        } else {
            self.used.read_u16(0) & USED_F_NO_NOTIFY == 0
        }
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
        self.kicked = idx;
        self.last_used = idx;
        self.avail.write_u16(RING_IDX, idx);
        self.used.write_u16(RING_IDX, idx);
    }
}
