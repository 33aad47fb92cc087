//! Packet buffers: `BUF_SIZE` bytes each, two per DMA page, one per
//! descriptor slot so a slot's buffer never changes and needs no tracking.

use alloc::vec::Vec;

use crate::nic::dma::{Dma, DmaPage, PAGE_SIZE};
use crate::nic::{NicError, TxError, TxFrame, BUF_SIZE};

const PER_PAGE: usize = PAGE_SIZE / BUF_SIZE;

pub struct Buffers {
    pages: Vec<DmaPage>,
}

impl Buffers {
    /// Allocates `count` buffers. On failure the pages already taken stay
    /// allocated (DMA pages are never given back, see [`Dma`]).
    pub fn alloc(dma: &mut impl Dma, count: usize) -> Result<Self, NicError> {
        let mut pages = Vec::new();
        pages
            .try_reserve_exact(count.div_ceil(PER_PAGE))
            .map_err(|_| NicError::NoMemory)?;
        for _ in 0..count.div_ceil(PER_PAGE) {
            pages.push(dma.alloc_page().ok_or(NicError::NoMemory)?);
        }
        Ok(Buffers { pages })
    }

    fn locate(&self, i: usize) -> Option<(&DmaPage, usize)> {
        let page = self.pages.get(i / PER_PAGE)?;
        Some((page, (i % PER_PAGE) * BUF_SIZE))
    }

    /// Bus address of buffer `i` (0 for an index past the end, which the
    /// rings never produce; the device skips null receive buffers).
    pub fn bus(&self, i: usize) -> u64 {
        self.locate(i).map_or(0, |(p, off)| p.bus() + off as u64)
    }

    /// Gathers a whole frame (at most `BUF_SIZE` bytes) into buffer `i`,
    /// completing the checksum it asks for in the copy.
    pub fn fill(&self, i: usize, frame: &TxFrame<'_>) -> Result<(), TxError> {
        let (p, off) = self.locate(i).ok_or(TxError::Invalid)?;
        let n = frame.len();
        if n > BUF_SIZE {
            return Err(TxError::Length(n));
        }
        // SAFETY: the transmit ring only fills slots it has reclaimed, whose
        // buffers no posted descriptor names; nothing else views buffer `i`.
        let dst = unsafe { p.bytes_mut(off, n) }.ok_or(TxError::Length(n))?;
        let r = frame.copy_whole(dst);
        p.done_with();
        r
    }

    /// Gathers frame bytes `at..at + len` (at most `BUF_SIZE`) into buffer `i`.
    pub fn fill_part(&self, i: usize, frame: &TxFrame<'_>, at: usize, len: usize) {
        if let Some((p, off)) = self.locate(i) {
            // SAFETY: as in `fill`.
            if let Some(dst) = unsafe { p.bytes_mut(off, len.min(BUF_SIZE)) } {
                frame.copy_to(at, dst);
                p.done_with();
            }
        }
    }

    /// Lends buffer `i`'s first `len` bytes (at most `BUF_SIZE`) to `f`.
    ///
    /// # Safety
    /// The device does not own buffer `i` now (its descriptor is done and
    /// not yet reposted).
    pub unsafe fn lend(&self, i: usize, len: usize, f: &mut dyn FnMut(&mut [u8])) {
        if let Some((p, off)) = self.locate(i) {
            // SAFETY: the caller's contract; nothing else views buffer `i`.
            if let Some(b) = unsafe { p.bytes_mut(off, len.min(BUF_SIZE)) } {
                f(b);
                p.done_with();
            }
        }
    }

    /// Copies `data` into buffer `i` from byte `off` on (clipped to the buffer).
    pub fn write_at(&self, i: usize, off: usize, data: &[u8]) {
        let n = data.len().min(BUF_SIZE.saturating_sub(off));
        if let Some((p, base)) = self.locate(i) {
            p.write(base + off, &data[..n]);
        }
    }
}
