//! Page tables of a PV domain. They are read-only to the guest: every change
//! goes through `mmu_update` with machine addresses (xen.h, "MMU_NORMAL_PT_UPDATE"),
//! and a frame becomes a page table only once no writable mapping of it is left.
//! Tables are reached through the direct map: table mfn → pfn by the read-only
//! M2P Xen maps at `MACH2PHYS_VIRT_START`, pfn → `VIRT_BASE + pfn * 4 KiB`.

use crate::abi::mmu::{self, MmuUpdate};
use crate::abi::{DomId, Mfn, Pfn, DOMID_SELF, PAGE_SIZE};
use crate::hypervisor::{self, XenError};
use crate::mm::frame::{FrameAllocator, FrameError, FrameLinks};
use crate::mm::layout::VIRT_BASE;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("page-table update refused: {0}")]
    Xen(#[from] XenError),
    #[error("frame {0} is outside the direct map")]
    NotDirectMapped(Pfn),
}

/// The domain's page tables and pfn ↔ mfn translation.
pub struct Paging {
    l4_mfn: Mfn,
    p2m: *const Mfn,
    nr_pages: u64,
}

// SAFETY: single vCPU; the raw pointer is the p2m list Xen placed in our bootstrap
// region, valid for the life of the domain.
unsafe impl Send for Paging {}

/// Frame links live in the first word of each free frame, via the direct map.
pub struct DirectMapLinks;

impl FrameLinks for DirectMapLinks {
    fn read_link(&self, pfn: Pfn) -> Pfn {
        // SAFETY: the allocator only links frames it owns, all of which are direct-mapped RAM.
        unsafe { (pfn_to_va(pfn) as *const Pfn).read_volatile() }
    }
    fn write_link(&mut self, pfn: Pfn, next: Pfn) {
        // SAFETY: as above; a free frame has no other user.
        unsafe { (pfn_to_va(pfn) as *mut Pfn).write_volatile(next) }
    }
}

pub const fn pfn_to_va(pfn: Pfn) -> u64 {
    VIRT_BASE + pfn * PAGE_SIZE as u64
}

pub const fn va_to_pfn(va: u64) -> Pfn {
    (va - VIRT_BASE) / PAGE_SIZE as u64
}

fn m2p(mfn: Mfn) -> Pfn {
    // SAFETY: Xen maps the machine-to-phys table read-only at this address in every
    // 64-bit PV guest; an entry for a frame we own is always readable.
    unsafe {
        (mmu::MACH2PHYS_VIRT_START as *const u64)
            .add(mfn as usize)
            .read_volatile()
    }
}

const fn index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * (level - 1))) & 511
}

impl Paging {
    /// # Safety
    /// `pt_base` and `mfn_list` are start_info's: the bootstrap L4 and p2m list.
    pub unsafe fn new(pt_base: u64, mfn_list: u64, nr_pages: u64) -> Self {
        let p2m = mfn_list as *const Mfn;
        // SAFETY: the bootstrap L4 is within the p2m's range by construction.
        let l4_mfn = unsafe { p2m.add(va_to_pfn(pt_base) as usize).read() };
        Self {
            l4_mfn,
            p2m,
            nr_pages,
        }
    }

    pub fn nr_pages(&self) -> u64 {
        self.nr_pages
    }

    /// Machine frame of one of our pfns.
    pub fn pfn_to_mfn(&self, pfn: Pfn) -> Option<Mfn> {
        // SAFETY: bounds-checked index into the p2m list of `nr_pages` entries.
        (pfn < self.nr_pages).then(|| unsafe { self.p2m.add(pfn as usize).read() })
    }

    pub fn va_to_mfn(&self, va: u64) -> Option<Mfn> {
        va.checked_sub(VIRT_BASE)
            .and_then(|o| self.pfn_to_mfn(o / PAGE_SIZE as u64))
    }

    fn table_va(&self, mfn: Mfn) -> Result<u64, PagingError> {
        let pfn = m2p(mfn);
        if pfn >= self.nr_pages {
            return Err(PagingError::NotDirectMapped(pfn));
        }
        Ok(pfn_to_va(pfn))
    }

    /// Reads the page-table entry at machine address `ma`.
    fn read_entry(&self, ma: u64) -> Result<u64, PagingError> {
        let va = self.table_va(ma >> 12)? + (ma & 0xfff);
        // SAFETY: `va` is inside a page table, mapped read-only in the direct map.
        Ok(unsafe { (va as *const u64).read_volatile() })
    }

    /// Machine address of the L1 entry for `va`, building missing tables from `frames`.
    pub fn pte_ma(&self, va: u64, frames: &mut FrameAllocator) -> Result<u64, PagingError> {
        let mut table_mfn = self.l4_mfn;
        for level in (2..=4).rev() {
            let idx = index(va, level);
            let entry = self.read_entry((table_mfn << 12) + idx * 8)?;
            table_mfn = if entry & mmu::PTE_PRESENT != 0 {
                (entry & mmu::PTE_ADDR_MASK) >> 12
            } else {
                let new = self.new_table(frames)?;
                let req = MmuUpdate {
                    ptr: (table_mfn << 12) + idx * 8,
                    val: (new << 12) | mmu::TABLE_PROT,
                };
                // SAFETY: installs a zeroed, read-only table in an empty slot.
                unsafe { hypervisor::mmu_update(&[req], DOMID_SELF)? };
                new
            };
        }
        Ok((table_mfn << 12) + index(va, 1) * 8)
    }

    /// A zeroed frame, mapped read-only so Xen accepts it as a page table.
    fn new_table(&self, frames: &mut FrameAllocator) -> Result<Mfn, PagingError> {
        let pfn = frames.alloc(&DirectMapLinks)?;
        if pfn >= self.nr_pages {
            return Err(PagingError::NotDirectMapped(pfn));
        }
        let va = pfn_to_va(pfn);
        // SAFETY: a freshly allocated, direct-mapped, writable frame nobody else uses.
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE_SIZE) };
        let mfn = self
            .pfn_to_mfn(pfn)
            .ok_or(PagingError::NotDirectMapped(pfn))?;
        // SAFETY: drops write access to our own frame before it becomes a table.
        unsafe {
            hypervisor::update_va_mapping(va, (mfn << 12) | mmu::L1_PROT_RO, mmu::UVMF_INVLPG)?
        };
        Ok(mfn)
    }

    /// Maps `mfn` at `va` with PTE bits `prot`; `foreign` is `DOMID_SELF`, or
    /// `DOMID_IO` for MMIO.
    ///
    /// # Safety
    /// `va` must not back anything still referenced.
    pub unsafe fn map(
        &self,
        va: u64,
        mfn: Mfn,
        prot: u64,
        foreign: DomId,
        frames: &mut FrameAllocator,
    ) -> Result<(), PagingError> {
        let ptr = self.pte_ma(va, frames)?;
        let req = MmuUpdate {
            ptr: ptr | mmu::MMU_NORMAL_PT_UPDATE,
            val: (mfn << 12) | prot,
        };
        // SAFETY: forwarded contract.
        unsafe { hypervisor::mmu_update(&[req], foreign)? };
        Ok(())
    }

    /// Removes the mapping at `va` (the L1 table must exist).
    ///
    /// # Safety
    /// Nothing may use `va` afterwards.
    pub unsafe fn unmap(&self, va: u64) -> Result<(), PagingError> {
        // SAFETY: forwarded contract.
        unsafe { hypervisor::update_va_mapping(va, 0, mmu::UVMF_INVLPG)? };
        Ok(())
    }

    /// Direct-maps every frame from `from` up to the end of RAM (or of the direct
    /// map), 512 PTEs per hypercall. Frames already mapped are left alone.
    pub fn extend_direct_map(
        &self,
        from: Pfn,
        frames: &mut FrameAllocator,
    ) -> Result<Pfn, PagingError> {
        let end = self.nr_pages.min(crate::mm::layout::DIRECT_MAP_MAX_PAGES);
        let mut batch: heapless::Vec<MmuUpdate, 512> = heapless::Vec::new();
        let mut pfn = from;
        while pfn < end {
            let va = pfn_to_va(pfn);
            let ptr = self.pte_ma(va, frames)?;
            if self.read_entry(ptr)? & mmu::PTE_PRESENT == 0 {
                let mfn = self
                    .pfn_to_mfn(pfn)
                    .ok_or(PagingError::NotDirectMapped(pfn))?;
                let req = MmuUpdate {
                    ptr: ptr | mmu::MMU_NORMAL_PT_UPDATE,
                    val: (mfn << 12) | mmu::L1_PROT,
                };
                if batch.push(req).is_err() {
                    // SAFETY: maps our own frames at their direct-map addresses, previously unmapped.
                    unsafe { hypervisor::mmu_update(&batch, DOMID_SELF)? };
                    batch.clear();
                    let _ = batch.push(req);
                }
            }
            pfn += 1;
        }
        if !batch.is_empty() {
            // SAFETY: as above.
            unsafe { hypervisor::mmu_update(&batch, DOMID_SELF)? };
        }
        Ok(end)
    }
}
