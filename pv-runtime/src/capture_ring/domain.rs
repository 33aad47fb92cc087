//! The domain part: a capture ring in pages of the domain's RAM, granted
//! read-only to domain 0 ([`Dom0Shared`]; `banana capture` maps them
//! through gntdev).

use super::{CaptureWriter, PAGES};
use crate::dom0_share::Dom0Shared;
use crate::grant_table::GrantError;
use crate::mm::paging::PagingError;
use crate::runtime::Runtime;
use crate::shared_page::RawPage;

#[derive(Debug, thiserror::Error)]
pub enum CaptureRingError {
    #[error("no page for the capture ring: {0}")]
    Memory(#[from] PagingError),
    #[error("granting the capture ring: {0}")]
    Grant(#[from] GrantError),
}

/// A capture ring of [`PAGES`] pages granted read-only to dom0, header page
/// first. Keep it for the domain's life once made (`leak`): dom0 may hold a
/// mapping at any time, so the pages are never reused.
pub type DomainCapture = Dom0Shared<CaptureWriter<RawPage>>;

/// Allocates the ring, writes it empty and grants its pages.
pub fn domain_capture(rt: &mut Runtime) -> Result<DomainCapture, CaptureRingError> {
    Dom0Shared::new(rt, PAGES, |mut raw| {
        let header = raw.remove(0);
        Ok(CaptureWriter::new(
            header,
            raw,
            crate::time::wallclock_base_ns(),
        ))
    })
}
