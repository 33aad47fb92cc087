//! The domain part: a capture ring in pages of the domain's RAM, granted
//! read-only to domain 0 (the counter page's pattern; `banana capture`
//! maps them through gntdev).

use alloc::vec::Vec;

use super::{CaptureWriter, PAGES};
use crate::abi::GrantRef;
use crate::grant_table::GrantError;
use crate::mm::heap::{alloc_page, free_page};
use crate::mm::paging::PagingError;
use crate::runtime::Runtime;
use crate::shared_page::RawPage;

const DOM0: u16 = 0;

#[derive(Debug, thiserror::Error)]
pub enum CaptureRingError {
    #[error("no page for the capture ring: {0}")]
    Memory(#[from] PagingError),
    #[error("granting the capture ring: {0}")]
    Grant(#[from] GrantError),
}

/// A capture ring of [`PAGES`] pages granted read-only to dom0. Kept for
/// the domain's life once made (dom0 may hold a mapping at any time, so
/// the pages are never reused).
pub struct DomainCapture {
    pub writer: CaptureWriter<RawPage>,
    refs: Vec<GrantRef>,
}

impl DomainCapture {
    /// Allocates, writes the empty ring and grants every page; on error
    /// undoes what it did.
    pub fn new(rt: &mut Runtime) -> Result<Self, CaptureRingError> {
        let mut pages: Vec<(u64, Option<GrantRef>)> = Vec::with_capacity(PAGES);
        let r = Self::build(rt, &mut pages);
        if r.is_err() {
            for &(va, gref) in &pages {
                // Nobody has seen the references yet: revoking cannot fail.
                if gref.is_none_or(|g| rt.grants.end_access(g).is_ok()) {
                    let _ = free_page(va);
                }
            }
        }
        r
    }

    fn build(
        rt: &mut Runtime,
        pages: &mut Vec<(u64, Option<GrantRef>)>,
    ) -> Result<Self, CaptureRingError> {
        let mut raw = Vec::with_capacity(PAGES);
        let mut mfns = Vec::with_capacity(PAGES);
        for _ in 0..PAGES {
            let (va, mfn) = alloc_page()?;
            pages.push((va, None));
            // SAFETY: a fresh direct-mapped page of ours that is never freed
            // once granted (the ring lives as long as the domain) and is
            // only accessed through the ring's atomics.
            let page = unsafe { RawPage::new(va as *mut u8) };
            raw.push(page.ok_or(PagingError::NotDirectMapped(0))?);
            mfns.push(mfn);
        }
        let header = raw.remove(0);
        // The ring is written before the pages are granted.
        let writer = CaptureWriter::new(header, raw, crate::time::wallclock_base_ns());
        for (i, mfn) in mfns.into_iter().enumerate() {
            pages[i].1 = Some(rt.grants.grant(DOM0, mfn, true)?);
        }
        let refs = pages.iter().filter_map(|&(_, g)| g).collect();
        pages.clear();
        Ok(Self { writer, refs })
    }

    /// The grant references, header page first.
    pub fn refs(&self) -> &[GrantRef] {
        &self.refs
    }
}
