//! Frame buffers for one queue: [`BUF_SIZE`] bytes each, two per DMA page.
//! Buffer `i` belongs to descriptor `i` for good, so a descriptor id from
//! the used ring names its buffer without any lookup table.

use alloc::vec::Vec;

use crate::nic::dma::PAGE_SIZE;
use crate::nic::{Dma, DmaPage, NicError, TxError, TxFrame, BUF_SIZE};

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

    /// Gathers `frame` into buffer `i` from byte `at` on, completing the
    /// checksum it asks for in the copy.
    pub(super) fn fill(&self, i: u16, at: usize, frame: &TxFrame<'_>) -> Result<(), TxError> {
        let n = frame.len();
        let (page, off) = self.slot(i).ok_or(TxError::Invalid)?;
        if at.checked_add(n).is_none_or(|e| e > BUF_SIZE) {
            return Err(TxError::Length(n));
        }
        // SAFETY: the queue hands out only free descriptors, whose buffers
        // the device does not own; nothing else views buffer `i`.
        let dst = unsafe { page.bytes_mut(off + at, n) }.ok_or(TxError::Length(n))?;
        let r = frame.copy_whole(dst);
        page.done_with();
        r
    }

    /// Gathers frame bytes `from..from + len` into buffer `i` at byte `at`
    /// (ignored past the buffer).
    pub(super) fn fill_part(
        &self,
        i: u16,
        at: usize,
        frame: &TxFrame<'_>,
        from: usize,
        len: usize,
    ) {
        let Some((page, off)) = self.slot(i) else {
            return;
        };
        if at.checked_add(len).is_none_or(|e| e > BUF_SIZE) {
            return;
        }
        // SAFETY: as in `fill`: a free descriptor's buffer, viewed only here.
        if let Some(dst) = unsafe { page.bytes_mut(off + at, len) } {
            frame.copy_to(from, dst);
            page.done_with();
        }
    }

    /// Lends bytes `at..at + len` of buffer `i` to `f`.
    ///
    /// # Safety
    /// The device does not own buffer `i` now (its completion was popped
    /// and it is not yet reposted).
    pub(super) unsafe fn lend(&self, i: u16, at: usize, len: usize, f: &mut dyn FnMut(&mut [u8])) {
        let Some((page, off)) = self.slot(i) else {
            return;
        };
        if at.checked_add(len).is_some_and(|e| e <= BUF_SIZE) {
            // SAFETY: the caller's contract; nothing else views the buffer.
            if let Some(b) = unsafe { page.bytes_mut(off + at, len) } {
                f(b);
                page.done_with();
            }
        }
    }
}
