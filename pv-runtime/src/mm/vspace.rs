//! A window of virtual address space handed out in page runs: where foreign
//! pages (grant maps, MMIO BARs, the grant table, shared_info) get mapped.
//! First fit over a bitmap; no I/O, the caller maps and unmaps.

use alloc::vec;
use alloc::vec::Vec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VspaceError {
    #[error("no run of {0} free pages in the window")]
    Exhausted(usize),
    #[error("range is not allocated")]
    NotAllocated,
}

/// `pages` pages starting at `base`.
pub struct Vspace {
    base: u64,
    used: Vec<u64>,
    pages: usize,
}

impl Vspace {
    pub fn new(base: u64, pages: usize) -> Self {
        Self {
            base,
            used: vec![0; pages.div_ceil(64)],
            pages,
        }
    }

    fn is_used(&self, i: usize) -> bool {
        self.used[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize, v: bool) {
        if v {
            self.used[i / 64] |= 1 << (i % 64);
        } else {
            self.used[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Reserves `n` contiguous pages; returns their first address.
    pub fn alloc(&mut self, n: usize) -> Result<u64, VspaceError> {
        if n == 0 || n > self.pages {
            return Err(VspaceError::Exhausted(n));
        }
        let mut run = 0;
        for i in 0..self.pages {
            run = if self.is_used(i) { 0 } else { run + 1 };
            if run == n {
                let start = i + 1 - n;
                (start..=i).for_each(|j| self.set(j, true));
                return Ok(self.base + (start as u64) * 4096);
            }
        }
        Err(VspaceError::Exhausted(n))
    }

    /// Returns `n` pages at `va`; all of them must be allocated.
    pub fn free(&mut self, va: u64, n: usize) -> Result<(), VspaceError> {
        let off = va.checked_sub(self.base).ok_or(VspaceError::NotAllocated)?;
        if off % 4096 != 0 {
            return Err(VspaceError::NotAllocated);
        }
        let start = (off / 4096) as usize;
        let end = start
            .checked_add(n)
            .filter(|&e| e <= self.pages)
            .ok_or(VspaceError::NotAllocated)?;
        if !(start..end).all(|i| self.is_used(i)) {
            return Err(VspaceError::NotAllocated);
        }
        (start..end).for_each(|i| self.set(i, false));
        Ok(())
    }

    pub fn contains(&self, va: u64) -> bool {
        va >= self.base && va < self.base + (self.pages as u64) * 4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_reuse_and_bounds() {
        let mut v = Vspace::new(0x1000_0000, 8);
        let a = v.alloc(3).unwrap();
        let b = v.alloc(2).unwrap();
        assert_eq!((a, b), (0x1000_0000, 0x1000_3000));
        v.free(a, 3).unwrap();
        // free: pages 0..3 and 5..8, no run of 4
        assert_eq!(v.alloc(4), Err(VspaceError::Exhausted(4)));
        assert_eq!(v.alloc(3).unwrap(), 0x1000_0000);
        assert_eq!(v.alloc(3).unwrap(), 0x1000_5000);
        assert!(v.contains(0x1000_7fff) && !v.contains(0x1000_8000));
    }

    #[test]
    fn free_checks_what_it_is_given() {
        let mut v = Vspace::new(0x1000_0000, 8);
        let a = v.alloc(2).unwrap();
        assert_eq!(v.free(a + 1, 1), Err(VspaceError::NotAllocated));
        assert_eq!(v.free(a, 3), Err(VspaceError::NotAllocated));
        assert_eq!(v.free(0x0fff_f000, 1), Err(VspaceError::NotAllocated));
        assert_eq!(v.free(a, 100), Err(VspaceError::NotAllocated));
        v.free(a, 2).unwrap();
        assert_eq!(v.free(a, 2), Err(VspaceError::NotAllocated));
        assert_eq!(v.alloc(0), Err(VspaceError::Exhausted(0)));
    }
}
