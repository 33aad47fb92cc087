//! Pages of the domain's own RAM shared read-only with domain 0, for data
//! dom0 reads without asking the domain anything: the counter page and the
//! capture ring. The pages are allocated, their content is built (so dom0
//! never sees them half-written), then each is granted read-only to dom0
//! (`gnttab_grant_foreign_access` with `GTF_readonly`, grant_table.h); dom0
//! maps them through gntdev. A failure on the way undoes what was done.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::ops::{Deref, DerefMut};

use crate::abi::GrantRef;
use crate::grant_table::GrantError;
use crate::mm::heap::{alloc_page, free_page};
use crate::mm::paging::PagingError;
use crate::runtime::Runtime;
use crate::shared_page::RawPage;

/// The domain the pages are granted to.
const DOM0: u16 = 0;

/// A `T` built on pages granted read-only to dom0. Dereferences to `T`.
pub struct Dom0Shared<T> {
    value: T,
    /// Per page, in order: its address and grant reference.
    pages: Vec<(u64, GrantRef)>,
}

impl<T> Dom0Shared<T> {
    /// Allocates `n` pages, lets `build` lay `T` out on them, then grants
    /// every page read-only to dom0; on error frees and revokes what it
    /// made (nobody has seen the references yet, so revoking cannot be
    /// refused).
    pub fn new<E>(
        rt: &mut Runtime,
        n: usize,
        build: impl FnOnce(Vec<RawPage>) -> Result<T, E>,
    ) -> Result<Self, E>
    where
        E: From<PagingError> + From<GrantError>,
    {
        // Per page: its address and, once granted, its reference.
        let mut pages: Vec<(u64, Option<GrantRef>)> = Vec::with_capacity(n);
        let r = Self::share(rt, n, build, &mut pages);
        if r.is_err() {
            for &(va, gref) in &pages {
                if gref.is_none_or(|g| rt.grants.end_access(g).is_ok()) {
                    let _ = free_page(va);
                }
            }
        }
        r
    }

    fn share<E>(
        rt: &mut Runtime,
        n: usize,
        build: impl FnOnce(Vec<RawPage>) -> Result<T, E>,
        pages: &mut Vec<(u64, Option<GrantRef>)>,
    ) -> Result<Self, E>
    where
        E: From<PagingError> + From<GrantError>,
    {
        let mut raw = Vec::with_capacity(n);
        let mut mfns = Vec::with_capacity(n);
        for _ in 0..n {
            let (va, mfn) = alloc_page()?;
            pages.push((va, None));
            // SAFETY: a fresh direct-mapped page of ours. It is freed only
            // by `withdraw`, after `value` (the only holder of the view) is
            // dropped, or by `new` when `build` failed and dropped it;
            // `leak` never frees it.
            let page = unsafe { RawPage::new(va as *mut u8) };
            raw.push(page.ok_or(PagingError::NotDirectMapped(0))?);
            mfns.push(mfn);
        }
        // Built before the pages are granted.
        let value = build(raw)?;
        for (i, mfn) in mfns.into_iter().enumerate() {
            pages[i].1 = Some(rt.grants.grant(DOM0, mfn, true)?);
        }
        let granted = pages.iter().filter_map(|&(va, g)| Some((va, g?))).collect();
        pages.clear();
        Ok(Dom0Shared {
            value,
            pages: granted,
        })
    }

    /// The grant references, in page order.
    pub fn refs(&self) -> impl Iterator<Item = GrantRef> + '_ {
        self.pages.iter().map(|&(_, g)| g)
    }

    /// The references as a domain advertises them in xenstore: decimal,
    /// space-separated, in page order ("8 9 10").
    pub fn refs_text(&self) -> String {
        let mut text = String::new();
        for (i, gref) in self.refs().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(text, "{sep}{gref}");
        }
        text
    }

    /// The value, its pages granted for the rest of the domain's life:
    /// for data dom0 may map at any time, whose pages must never be reused.
    pub fn leak(self) -> T {
        self.value
    }

    /// Drops the value and revokes the grants. A page dom0 still has mapped
    /// cannot be revoked: it stays granted (its memory is not reused) and
    /// the first such error is returned.
    pub fn withdraw(self, rt: &mut Runtime) -> Result<(), GrantError> {
        let Dom0Shared { value, pages } = self;
        drop(value);
        let mut busy = None;
        for (va, gref) in pages {
            match rt.grants.end_access(gref) {
                Ok(()) => {
                    let _ = free_page(va);
                }
                Err(e) => busy = busy.or(Some(e)),
            }
        }
        busy.map_or(Ok(()), Err)
    }
}

impl<T> Deref for Dom0Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Dom0Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
