//! A memory BAR mapped into our address space. PV guests map device memory
//! with `mmu_update` naming `DOMID_IO` as the owner, uncached (PCD|PWT), as
//! Mini-OS `ioremap` does; Xen checks the range against the iomem permission
//! libxl granted for the BARs of `pci=[...]`.

use crate::abi::mmu::{PTE_ACCESSED, PTE_DIRTY, PTE_PCD, PTE_PRESENT, PTE_PWT, PTE_RW};
use crate::abi::{DOMID_IO, PAGE_SIZE};
use crate::mm::heap::{map_foreign, reserve_foreign};
use crate::mm::paging::PagingError;

/// BARs larger than this are mapped only up to it (NIC register windows are
/// 16–128 KiB; the limit keeps a hostile size from exhausting the window).
pub const MAX_MAP: u64 = 1 << 20;

/// A mapped BAR; accesses outside `len` read all-ones and write nothing.
#[derive(Debug)]
pub struct MmioRegion {
    va: u64,
    len: usize,
}

impl MmioRegion {
    /// Maps `size` bytes of device memory at machine address `base`
    /// (page-aligned; sizes below a page map one page).
    pub fn map(base: u64, size: u64) -> Result<MmioRegion, PagingError> {
        let len = size.clamp(PAGE_SIZE as u64, MAX_MAP) as usize;
        let pages = len.div_ceil(PAGE_SIZE);
        let va = reserve_foreign(pages)?;
        let prot = PTE_PRESENT | PTE_RW | PTE_ACCESSED | PTE_DIRTY | PTE_PCD | PTE_PWT;
        for i in 0..pages as u64 {
            // SAFETY: `va` was just reserved for `pages` pages and nothing is
            // mapped there; the frames are the device's, owned by DOMID_IO.
            unsafe { map_foreign(va + i * PAGE_SIZE as u64, (base >> 12) + i, prot, DOMID_IO)? };
        }
        Ok(MmioRegion { va, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at<T>(&self, off: usize) -> Option<*mut T> {
        let n = core::mem::size_of::<T>();
        (off.is_multiple_of(n) && off.checked_add(n).is_some_and(|e| e <= self.len))
            .then(|| (self.va as usize + off) as *mut T)
    }

    pub fn read<T: Copy + From<u8> + core::ops::Not<Output = T>>(&self, off: usize) -> T {
        match self.at::<T>(off) {
            // SAFETY: in bounds and aligned (checked), mapped uncached for our lifetime.
            Some(p) => unsafe { p.read_volatile() },
            None => !T::from(0),
        }
    }

    pub fn write<T: Copy>(&self, off: usize, v: T) {
        if let Some(p) = self.at::<T>(off) {
            // SAFETY: in bounds and aligned (checked), mapped uncached for our lifetime.
            unsafe { p.write_volatile(v) }
        }
    }
}
