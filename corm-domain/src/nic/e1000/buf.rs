//! Packet buffers: `BUF_SIZE` bytes each, two per DMA page, one per
//! descriptor slot so a slot's buffer never changes and needs no tracking.

use alloc::vec::Vec;

use crate::nic::dma::{Dma, DmaPage, PAGE_SIZE};
use crate::nic::{NicError, BUF_SIZE};

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

    /// Copies `data` (at most `BUF_SIZE` bytes) into buffer `i`.
    pub fn write(&self, i: usize, data: &[u8]) {
        if let Some((p, off)) = self.locate(i) {
            p.write(off, &data[..data.len().min(BUF_SIZE)]);
        }
    }

    /// Copies `data` into buffer `i` from byte `off` on (clipped to the buffer).
    pub fn write_at(&self, i: usize, off: usize, data: &[u8]) {
        let n = data.len().min(BUF_SIZE.saturating_sub(off));
        if let Some((p, base)) = self.locate(i) {
            p.write(base + off, &data[..n]);
        }
    }

    /// Copies the first `out.len()` (at most `BUF_SIZE`) bytes of buffer `i`.
    pub fn read(&self, i: usize, out: &mut [u8]) {
        let n = out.len().min(BUF_SIZE);
        if let Some((p, off)) = self.locate(i) {
            p.read(off, &mut out[..n]);
        }
    }
}
