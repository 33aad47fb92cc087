//! The domain part: pages from the domain's RAM, granted read-only to
//! domain 0, their references advertised at [`XENSTORE_KEY`].

use core::ops::{Deref, DerefMut};

use super::{CounterError, CounterTable, ENTRIES_PER_PAGE, MAX_PAGES, XENSTORE_KEY};
use crate::abi::GrantRef;
use crate::dom0_share::Dom0Shared;
use crate::grant_table::GrantError;
use crate::mm::paging::PagingError;
use crate::runtime::Runtime;
use crate::shared_page::RawPage;
use crate::xenstore::XsError;

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

/// A [`CounterTable`] in pages granted read-only to dom0 ([`Dom0Shared`])
/// and advertised in xenstore. Dereferences to the table: `register`,
/// `set`, … (module docs).
pub struct CounterPage {
    shared: Dom0Shared<CounterTable<RawPage>>,
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
        let shared = Dom0Shared::new(rt, n, |raw| {
            CounterTable::new(raw).map_err(CounterPageError::from)
        })?;
        if let Err(e) = rt.xs.write(XENSTORE_KEY, &shared.refs_text()) {
            // Nobody has seen the references: revoking cannot be refused.
            let _ = shared.withdraw(rt);
            return Err(e.into());
        }
        Ok(CounterPage { shared })
    }

    /// The grant references, in page order (as advertised).
    pub fn refs(&self) -> impl Iterator<Item = GrantRef> + '_ {
        self.shared.refs()
    }

    /// Stops publishing: removes the xenstore key and revokes the grants.
    /// A page dom0 still has mapped cannot be revoked; it is left granted
    /// (and its memory not reused) and the error says so.
    pub fn withdraw(self, rt: &mut Runtime) -> Result<(), CounterPageError> {
        let xs = rt.xs.rm(XENSTORE_KEY);
        self.shared.withdraw(rt)?;
        xs?;
        Ok(())
    }
}

impl Deref for CounterPage {
    type Target = CounterTable<RawPage>;
    fn deref(&self) -> &Self::Target {
        &self.shared
    }
}

impl DerefMut for CounterPage {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.shared
    }
}
