//! One 4 KiB page shared with another domain (a ring page: xenstore's
//! interface, a netif TX/RX ring, a console page), behind a trait so the
//! protocol code over it runs on a heap page in host tests (the rust-vmm
//! `vm-memory` idea, at page granularity).
//!
//! Nothing may hold Rust references into such a page: the peer writes it
//! concurrently, so every access goes through atomics or volatile copies.

use alloc::rc::Rc;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::ptr::NonNull;

use crate::abi::PAGE_SIZE;

/// Memory holding one shared page.
///
/// # Safety
/// `base()` returns the same pointer for the life of the value, valid for
/// reads and writes of [`PAGE_SIZE`] bytes and aligned to [`PAGE_SIZE`]; only
/// the protocol's peer may write it concurrently and nothing in this domain
/// holds references into it.
pub unsafe trait SharedPage {
    /// The first byte of the page.
    fn base(&self) -> NonNull<u8>;
}

/// A page reached through a raw address: mapped by a domain (a grant mapping,
/// the store page from `start_info`).
#[derive(Debug)]
pub struct RawPage(NonNull<u8>);

// SAFETY: the page is memory shared with another domain; every access goes
// through atomics or volatile copies, so it may be used from any CPU.
unsafe impl Send for RawPage {}

impl RawPage {
    /// Wraps a mapped page; `None` if `page` is null or not page aligned.
    ///
    /// # Safety
    /// `page` stays mapped read-write for the life of the result (unmap only
    /// after dropping it) and is not accessed through references.
    pub unsafe fn new(page: *mut u8) -> Option<RawPage> {
        NonNull::new(page)
            .filter(|p| (p.as_ptr() as usize).is_multiple_of(PAGE_SIZE))
            .map(RawPage)
    }
}

// SAFETY: `new`'s contract is `SharedPage`'s contract.
unsafe impl SharedPage for RawPage {
    fn base(&self) -> NonNull<u8> {
        self.0
    }
}

#[repr(C, align(4096))]
struct PageCell(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: the bytes are only reached through `SharedPage::base`, i.e. with
// atomics or volatile copies, exactly like a page shared between domains.
unsafe impl Sync for PageCell {}

/// A zeroed heap page for tests and fuzzing; clones share it, so one clone
/// can play the peer (xenstored, a netfront) while the code under test owns
/// another.
#[derive(Clone)]
pub struct HeapPage(Arc<PageCell>);

impl HeapPage {
    /// A fresh zeroed page.
    pub fn new() -> HeapPage {
        HeapPage(Arc::new(PageCell(UnsafeCell::new([0; PAGE_SIZE]))))
    }
}

impl Default for HeapPage {
    fn default() -> Self {
        HeapPage::new()
    }
}

// SAFETY: the allocation is `PAGE_SIZE` bytes, `PAGE_SIZE`-aligned, lives as
// long as any clone, and is never referenced except through this pointer.
unsafe impl SharedPage for HeapPage {
    fn base(&self) -> NonNull<u8> {
        // SAFETY: `UnsafeCell::get` never returns null.
        unsafe { NonNull::new_unchecked(self.0 .0.get().cast::<u8>()) }
    }
}

// SAFETY: forwards to the inner page, which lives as long as any clone.
unsafe impl<T: SharedPage + ?Sized> SharedPage for Rc<T> {
    fn base(&self) -> NonNull<u8> {
        (**self).base()
    }
}
