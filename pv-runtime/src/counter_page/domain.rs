//! The domain part: pages from the domain's RAM, granted read-only to
//! domain 0, their references advertised at [`XENSTORE_KEY`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::ops::{Deref, DerefMut};

use super::{CounterError, CounterTable, ENTRIES_PER_PAGE, MAX_PAGES, XENSTORE_KEY};
use crate::abi::GrantRef;
use crate::grant_table::GrantError;
use crate::mm::heap::{alloc_page, free_page};
use crate::mm::paging::PagingError;
use crate::runtime::Runtime;
use crate::shared_page::RawPage;
use crate::xenstore::XsError;

/// The domain the pages are granted to.
const DOM0: u16 = 0;

/// Why the pages could not be set up or withdrawn.
#[derive(Debug, thiserror::Error)]
pub enum CounterPageError {
    #[error("{0} counters need more than {MAX_PAGES} pages")]
    TooLarge(usize),
    #[error("no page for the counters: {0}")]
    Memory(#[from] PagingError),
    #[error("granting the counter page: {0}")]
    Grant(#[from] GrantError),
    #[error("advertising the counter page: {0}")]
    Xenstore(#[from] XsError),
    #[error(transparent)]
    Table(#[from] CounterError),
}

/// A [`CounterTable`] in pages granted read-only to dom0 and advertised in
/// xenstore. Dereferences to the table: `register`, `set`, … (module docs).
pub struct CounterPage {
    table: CounterTable<RawPage>,
    /// Per page: its address and grant reference.
    pages: Vec<(u64, GrantRef)>,
}

impl CounterPage {
    /// One page: room for 63 counters.
    pub fn new(rt: &mut Runtime) -> Result<CounterPage, CounterPageError> {
        Self::with_capacity(rt, ENTRIES_PER_PAGE)
    }

    /// Enough pages for `counters` counters (63 a page, at most [`MAX_PAGES`] pages).
    /// Writes the empty table, grants each page read-only to domain 0 and
    /// advertises the references; on error undoes what it did.
    pub fn with_capacity(
        rt: &mut Runtime,
        counters: usize,
    ) -> Result<CounterPage, CounterPageError> {
        let n = counters.div_ceil(ENTRIES_PER_PAGE).max(1);
        if n > MAX_PAGES {
            return Err(CounterPageError::TooLarge(counters));
        }
        // Per page: its address and, once granted, its reference.
        let mut pages: Vec<(u64, Option<GrantRef>)> = Vec::with_capacity(n);
        let r = Self::build(rt, n, &mut pages);
        if r.is_err() {
            for &(va, gref) in &pages {
                // Nobody has seen the references yet, so revoking cannot be refused.
                if gref.is_none_or(|g| rt.grants.end_access(g).is_ok()) {
                    let _ = free_page(va);
                }
            }
        }
        r
    }

    fn build(
        rt: &mut Runtime,
        n: usize,
        pages: &mut Vec<(u64, Option<GrantRef>)>,
    ) -> Result<CounterPage, CounterPageError> {
        let mut raw = Vec::with_capacity(n);
        let mut mfns = Vec::with_capacity(n);
        for _ in 0..n {
            let (va, mfn) = alloc_page()?;
            pages.push((va, None));
            // SAFETY: a fresh direct-mapped page of ours that stays mapped
            // (it is freed only by `withdraw`, after the table is dropped) and
            // is only accessed through the table's atomics.
            let page = unsafe { RawPage::new(va as *mut u8) };
            raw.push(page.ok_or(PagingError::NotDirectMapped(0))?);
            mfns.push(mfn);
        }
        // The table is written before the pages are granted.
        let table = CounterTable::new(raw)?;
        for (i, mfn) in mfns.into_iter().enumerate() {
            pages[i].1 = Some(rt.grants.grant(DOM0, mfn, true)?);
        }
        let granted: Vec<(u64, GrantRef)> =
            pages.iter().filter_map(|&(va, g)| Some((va, g?))).collect();
        let mut refs = String::new();
        for (i, (_, gref)) in granted.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(refs, "{sep}{gref}");
        }
        rt.xs.write(XENSTORE_KEY, &refs)?;
        pages.clear();
        Ok(CounterPage {
            table,
            pages: granted,
        })
    }

    /// The grant references, in page order (as advertised).
    pub fn refs(&self) -> impl Iterator<Item = GrantRef> + '_ {
        self.pages.iter().map(|&(_, g)| g)
    }

    /// Stops publishing: removes the xenstore key and revokes the grants.
    /// A page dom0 still has mapped cannot be revoked; it is left granted
    /// (and its memory not reused) and the error says so.
    pub fn withdraw(self, rt: &mut Runtime) -> Result<(), CounterPageError> {
        let xs = rt.xs.rm(XENSTORE_KEY);
        let CounterPage { table, pages } = self;
        drop(table);
        let mut busy = None;
        for (va, gref) in pages {
            match rt.grants.end_access(gref) {
                Ok(()) => {
                    let _ = free_page(va);
                }
                Err(e) => busy = busy.or(Some(e)),
            }
        }
        xs?;
        busy.map_or(Ok(()), |e| Err(e.into()))
    }
}

impl Deref for CounterPage {
    type Target = CounterTable<RawPage>;
    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

impl DerefMut for CounterPage {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.table
    }
}
