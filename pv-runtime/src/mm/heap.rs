//! The `alloc` heap and the domain-wide memory state.
//!
//! The heap lives in its own virtual window and grows on demand: when an
//! allocation fails it takes free frames and maps them at the heap's top, so all
//! of RAM is usable by either the heap or page-sized users (DMA, grants).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use linked_list_allocator::Heap;

use crate::abi::mmu::L1_PROT;
use crate::abi::{Mfn, DOMID_SELF, PAGE_SIZE};
use crate::mm::frame::FrameAllocator;
use crate::mm::layout::{FOREIGN_BASE, FOREIGN_PAGES, HEAP_BASE};
use crate::mm::paging::{pfn_to_va, DirectMapLinks, Paging, PagingError};
use crate::mm::vspace::Vspace;

/// Frames, page tables and the foreign window, behind one lock (one vCPU, no
/// interrupts: the lock only guards against re-entry bugs).
pub struct Memory {
    pub paging: Paging,
    pub frames: FrameAllocator,
    pub foreign: Option<Vspace>,
}

pub static MEMORY: spin::Mutex<Option<Memory>> = spin::Mutex::new(None);

/// Smallest growth step, to keep hypercalls per allocation low.
const GROW_MIN: usize = 256 * 1024;

pub struct GrowingHeap {
    heap: spin::Mutex<Heap>,
    top: spin::Mutex<u64>,
}

#[global_allocator]
static HEAP: GrowingHeap = GrowingHeap {
    heap: spin::Mutex::new(Heap::empty()),
    top: spin::Mutex::new(HEAP_BASE),
};

impl GrowingHeap {
    fn grow(&self, heap: &mut Heap, want: usize) -> bool {
        let bytes = want.max(GROW_MIN).next_multiple_of(PAGE_SIZE);
        let mut top = self.top.lock();
        let mut mem = MEMORY.lock();
        let Some(m) = mem.as_mut() else { return false };
        if m.frames.available() < (bytes / PAGE_SIZE) as u64 + 4 {
            return false;
        }
        for i in 0..bytes / PAGE_SIZE {
            let va = *top + (i * PAGE_SIZE) as u64;
            let ok = m
                .frames
                .alloc(&DirectMapLinks)
                .ok()
                .and_then(|pfn| m.paging.pfn_to_mfn(pfn))
                .map(|mfn| {
                    // SAFETY: `va` is above the heap's current top: nothing uses it.
                    unsafe { m.paging.map(va, mfn, L1_PROT, DOMID_SELF, &mut m.frames) }
                });
            if !matches!(ok, Some(Ok(()))) {
                return false;
            }
        }
        if heap.size() == 0 {
            // SAFETY: [HEAP_BASE, +bytes) was just mapped and is used by nothing else.
            unsafe { heap.init(HEAP_BASE as *mut u8, bytes) };
        } else {
            // SAFETY: the pages directly above the heap's top were just mapped.
            unsafe { heap.extend(bytes) };
        }
        *top += bytes as u64;
        true
    }

    /// Bytes the heap holds (used + free).
    pub fn size(&self) -> usize {
        self.heap.lock().size()
    }
}

// SAFETY: allocations come from linked_list_allocator over memory that stays mapped
// for the life of the domain; growth only appends freshly mapped pages.
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.heap.lock();
        if let Ok(p) = heap.allocate_first_fit(layout) {
            return p.as_ptr();
        }
        if !self.grow(&mut heap, layout.size() + layout.align()) {
            return core::ptr::null_mut();
        }
        heap.allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout (GlobalAlloc contract).
            unsafe { self.heap.lock().deallocate(p, layout) };
        }
    }
}

/// Bytes currently held by the heap.
pub fn heap_size() -> usize {
    HEAP.size()
}

/// One zeroed page of RAM, direct-mapped: (virtual address, machine frame).
pub fn alloc_page() -> Result<(u64, Mfn), PagingError> {
    let mut mem = MEMORY.lock();
    let m = mem.as_mut().ok_or(PagingError::NotDirectMapped(0))?;
    let pfn = m.frames.alloc(&DirectMapLinks)?;
    let mfn = m
        .paging
        .pfn_to_mfn(pfn)
        .ok_or(PagingError::NotDirectMapped(pfn))?;
    let va = pfn_to_va(pfn);
    // SAFETY: a freshly allocated, direct-mapped frame with no other user.
    unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE_SIZE) };
    Ok((va, mfn))
}

/// Returns a page from [`alloc_page`].
pub fn free_page(va: u64) -> Result<(), PagingError> {
    let mut mem = MEMORY.lock();
    let m = mem.as_mut().ok_or(PagingError::NotDirectMapped(0))?;
    m.frames
        .free(crate::mm::paging::va_to_pfn(va), &mut DirectMapLinks)?;
    Ok(())
}

/// Reserves `n` pages of the foreign window with their page tables built, so
/// Xen can write the PTEs (grant maps) or the caller can (`map_foreign`).
pub fn reserve_foreign(n: usize) -> Result<u64, PagingError> {
    let mut mem = MEMORY.lock();
    let m = mem.as_mut().ok_or(PagingError::NotDirectMapped(0))?;
    if m.foreign.is_none() {
        drop(mem);
        let v = Vspace::new(FOREIGN_BASE, FOREIGN_PAGES);
        mem = MEMORY.lock();
        if let Some(m) = mem.as_mut() {
            m.foreign.get_or_insert(v);
        }
    }
    let m = mem.as_mut().ok_or(PagingError::NotDirectMapped(0))?;
    let va = m
        .foreign
        .as_mut()
        .and_then(|v| v.alloc(n).ok())
        .ok_or(PagingError::NotDirectMapped(0))?;
    for i in 0..n as u64 {
        m.paging.pte_ma(va + i * PAGE_SIZE as u64, &mut m.frames)?;
    }
    Ok(va)
}

/// Gives back foreign-window pages whose mappings are already gone.
pub fn release_foreign(va: u64, n: usize) {
    if let Some(v) = MEMORY.lock().as_mut().and_then(|m| m.foreign.as_mut()) {
        let _ = v.free(va, n);
    }
}

/// Maps machine frame `mfn` (of `foreign`: `DOMID_SELF`, or `DOMID_IO` for MMIO)
/// at a reserved foreign-window address.
///
/// # Safety
/// `va` must come from [`reserve_foreign`] and not be mapped.
pub unsafe fn map_foreign(
    va: u64,
    mfn: Mfn,
    prot: u64,
    foreign: crate::abi::DomId,
) -> Result<(), PagingError> {
    let mut mem = MEMORY.lock();
    let m = mem.as_mut().ok_or(PagingError::NotDirectMapped(0))?;
    // SAFETY: forwarded contract.
    unsafe { m.paging.map(va, mfn, prot, foreign, &mut m.frames) }
}

/// Maps our own frames `mfns` side by side in the foreign window, read-write:
/// a contiguous view of pages that are not contiguous in the direct map (a
/// wire ring's data pages, which records must see as one run of bytes).
/// Returns the view's address; undo with [`unalias`].
pub fn alias(mfns: &[Mfn]) -> Result<u64, PagingError> {
    let va = reserve_foreign(mfns.len())?;
    for (i, &mfn) in mfns.iter().enumerate() {
        let at = va + (i * PAGE_SIZE) as u64;
        // SAFETY: a freshly reserved, unmapped window page; `mfn` is ours.
        let r = unsafe { map_foreign(at, mfn, L1_PROT, DOMID_SELF) };
        if let Err(e) = r {
            unalias(va, i);
            release_foreign(va + (i * PAGE_SIZE) as u64, mfns.len() - i);
            return Err(e);
        }
    }
    Ok(va)
}

/// Removes the first `n` pages of a view made by [`alias`] and gives the
/// window back. The frames themselves are the caller's.
pub fn unalias(va: u64, n: usize) {
    let mut mem = MEMORY.lock();
    if let Some(m) = mem.as_mut() {
        for i in 0..n {
            // SAFETY: an alias mapping of ours that nothing uses any more.
            let _ = unsafe { m.paging.unmap(va + (i * PAGE_SIZE) as u64) };
        }
        if let Some(v) = m.foreign.as_mut() {
            let _ = v.free(va, n);
        }
    }
}

/// Frames still free (heap growth and page users share them).
pub fn frames_available() -> u64 {
    MEMORY.lock().as_ref().map_or(0, |m| m.frames.available())
}
