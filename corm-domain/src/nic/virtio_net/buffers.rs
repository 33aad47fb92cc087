//! Frame buffers for one queue: [`BUF_SIZE`] bytes each, two per DMA page.
//! Buffer `i` belongs to descriptor `i` for good, so a descriptor id from
//! the used ring names its buffer without any lookup table.

use alloc::vec::Vec;

use crate::nic::dma::PAGE_SIZE;
use crate::nic::{Dma, DmaPage, NicError, BUF_SIZE};

const PER_PAGE: usize = PAGE_SIZE / BUF_SIZE;

pub(super) struct Buffers {
    pages: Vec<DmaPage>,
}

impl Buffers {
    /// At least `count` buffers.
    pub(super) fn alloc(dma: &mut impl Dma, count: u16) -> Result<Self, NicError> {
        let n = usize::from(count).div_ceil(PER_PAGE);
        let mut pages = Vec::new();
        pages.try_reserve_exact(n).map_err(|_| NicError::NoMemory)?;
        for _ in 0..n {
            pages.push(dma.alloc_page().ok_or(NicError::NoMemory)?);
        }
        Ok(Buffers { pages })
    }

    fn slot(&self, i: u16) -> Option<(&DmaPage, usize)> {
        let i = usize::from(i);
        let page = self.pages.get(i / PER_PAGE)?;
        Some((page, (i % PER_PAGE) * BUF_SIZE))
    }

    /// Bus address of buffer `i` (0 for a buffer that does not exist, which
    /// callers never ask for: ids are below the queue size).
    pub(super) fn bus(&self, i: u16) -> u64 {
        self.slot(i).map_or(0, |(p, off)| p.bus() + off as u64)
    }

    /// Copies `data` to byte `at` of buffer `i`; ignored past the buffer.
    pub(super) fn write(&self, i: u16, at: usize, data: &[u8]) {
        if let Some((page, off)) = self.slot(i) {
            if at.checked_add(data.len()).is_some_and(|e| e <= BUF_SIZE) {
                page.write(off + at, data);
            }
        }
    }

    /// Copies bytes from byte `at` of buffer `i`; zeros past the buffer.
    pub(super) fn read(&self, i: u16, at: usize, out: &mut [u8]) {
        match self.slot(i) {
            Some((page, off)) if at.checked_add(out.len()).is_some_and(|e| e <= BUF_SIZE) => {
                page.read(off + at, out)
            }
            _ => out.fill(0),
        }
    }
}
