//! A fixed pool of local 4 KiB pages with their machine frame numbers: the
//! grant-copy targets for TX and sources for RX. A PV domain is not
//! auto-translated, so `GNTTABOP_copy` names local frames by MFN (docs/xen-interfaces.md
//! "PV boot, memory"); in the domain the pages come from
//! `pv_runtime::mm::heap::alloc_page()`.
//!
//! Xen writes these pages during a copy hypercall, behind the compiler's back,
//! so the pool keeps raw pointers and only lends out references between copies.

#[cfg(any(test, feature = "fake"))]
use alloc::alloc::alloc_zeroed;
use alloc::alloc::{dealloc, Layout};
use alloc::vec::Vec;
use core::ptr::NonNull;

use pv_runtime::abi::Mfn;

use super::netif::PAGE_SIZE;

/// One page of the pool.
pub type Page = [u8; PAGE_SIZE];

pub struct LocalPages {
    pages: Vec<(NonNull<Page>, Mfn)>,
    owned: bool,
}

const LAYOUT: Layout = match Layout::from_size_align(PAGE_SIZE, PAGE_SIZE) {
    Ok(l) => l,
    Err(_) => panic!("page layout"),
};

impl LocalPages {
    /// A pool over pages this domain owns, as `(virtual address, mfn)` pairs.
    /// `None` if an address is null or not page-aligned.
    ///
    /// # Safety
    /// Each address maps the given machine frame read-write, stays mapped for
    /// the life of the pool, and nothing else uses it; no two entries overlap.
    pub unsafe fn from_raw(pages: impl IntoIterator<Item = (*mut u8, Mfn)>) -> Option<Self> {
        let mut v = Vec::new();
        for (va, mfn) in pages {
            let p = NonNull::new(va as *mut Page)
                .filter(|p| (p.as_ptr() as usize).is_multiple_of(PAGE_SIZE))?;
            v.push((p, mfn));
        }
        Some(Self {
            pages: v,
            owned: false,
        })
    }

    /// `n` zeroed heap pages with made-up frame numbers `first_mfn..`, for
    /// tests and fuzzing against a fake copier.
    #[cfg(any(test, feature = "fake"))]
    pub fn heap(n: usize, first_mfn: Mfn) -> Self {
        let pages = (0..n)
            .map(|i| {
                // SAFETY: non-zero-sized layout.
                let p = unsafe { alloc_zeroed(LAYOUT) } as *mut Page;
                let p = NonNull::new(p).unwrap_or_else(|| alloc::alloc::handle_alloc_error(LAYOUT));
                (p, first_mfn + i as Mfn)
            })
            .collect();
        Self { pages, owned: true }
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    pub fn mfn(&self, i: usize) -> Mfn {
        self.pages[i].1
    }

    pub fn page(&self, i: usize) -> &Page {
        // SAFETY: a pool page (from_raw/heap contract); the shared borrow of
        // the pool keeps `page_mut` away, and copies only run while no
        // reference is lent out (they take the pool by `&mut` or not at all).
        unsafe { self.pages[i].0.as_ref() }
    }

    pub fn page_mut(&mut self, i: usize) -> &mut Page {
        // SAFETY: as in `page`, with exclusivity from `&mut self`.
        unsafe { self.pages[i].0.as_mut() }
    }

    /// Raw `(mfn, page)` entries for a fake copier that plays Xen.
    #[cfg(any(test, feature = "fake"))]
    pub(crate) fn raw(&self) -> impl Iterator<Item = (Mfn, NonNull<Page>)> + '_ {
        self.pages.iter().map(|&(p, m)| (m, p))
    }
}

impl Drop for LocalPages {
    fn drop(&mut self) {
        if self.owned {
            for (p, _) in self.pages.drain(..) {
                // SAFETY: allocated by `heap` with this layout, freed once.
                unsafe { dealloc(p.as_ptr() as *mut u8, LAYOUT) }
            }
        }
    }
}
