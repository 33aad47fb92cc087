//! How a grant copy names the pages of a ring, so a domain can move frame
//! bytes between a ring and a third domain (a guest's netfront buffers) with
//! one `GNTTABOP_copy` (`xen/include/public/grant_table.h`: `gnttab_copy`,
//! `GNTCOPY_source_gref`/`GNTCOPY_dest_gref`), never through its own memory.

use alloc::vec::Vec;

use pv_runtime::abi::grant_table::CopyPtr;
use pv_runtime::abi::{DomId, GrantRef, Mfn, DOMID_SELF, PAGE_SIZE};

use crate::layout::Direction;

/// One ring page as a grant copy names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageRef {
    /// A page of ours (the offerer's own ring): by machine frame.
    Local(Mfn),
    /// A page the peer granted us (the acceptor's view): by grant reference.
    Granted {
        /// The granting domain.
        domid: DomId,
        /// Its grant reference.
        gref: GrantRef,
    },
}

impl PageRef {
    /// The `gnttab_copy` end for byte `offset` of this page, and whether it
    /// names a grant (set `GNTCOPY_source_gref` or `GNTCOPY_dest_gref`).
    pub fn copy_ptr(&self, offset: u16) -> (CopyPtr, bool) {
        match *self {
            PageRef::Local(mfn) => (
                CopyPtr {
                    u: mfn,
                    domid: DOMID_SELF,
                    offset,
                },
                false,
            ),
            PageRef::Granted { domid, gref } => (
                CopyPtr {
                    u: u64::from(gref),
                    domid,
                    offset,
                },
                true,
            ),
        }
    }
}

/// Both rings' pages, in ring order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RingRefs {
    /// The a→b ring's pages.
    pub a_to_b: Vec<PageRef>,
    /// The b→a ring's pages.
    pub b_to_a: Vec<PageRef>,
}

/// A point in a ring for a grant copy: the page, the offset in it, and how
/// many bytes from there stay in that page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyEnd {
    /// The `gnttab_copy` end.
    pub ptr: CopyPtr,
    /// It names a grant.
    pub gref: bool,
    /// Bytes from `ptr` to the end of its page.
    pub room: usize,
}

impl RingRefs {
    /// The pages of direction `dir`.
    pub fn pages(&self, dir: Direction) -> &[PageRef] {
        match dir {
            Direction::AtoB => &self.a_to_b,
            Direction::BtoA => &self.b_to_a,
        }
    }

    /// Byte `offset` of direction `dir`'s data area as a grant copy end;
    /// `None` past the ring.
    pub fn at(&self, dir: Direction, offset: usize) -> Option<CopyEnd> {
        let page = self.pages(dir).get(offset / PAGE_SIZE)?;
        let within = offset % PAGE_SIZE;
        let (ptr, gref) = page.copy_ptr(within as u16);
        Some(CopyEnd {
            ptr,
            gref,
            room: PAGE_SIZE - within,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_pages() {
        let refs = RingRefs {
            a_to_b: alloc::vec![PageRef::Local(100), PageRef::Local(7)],
            b_to_a: alloc::vec![
                PageRef::Granted { domid: 3, gref: 40 },
                PageRef::Granted { domid: 3, gref: 41 }
            ],
        };
        let e = refs.at(Direction::AtoB, 4096 + 10).unwrap();
        assert_eq!((e.ptr.u, e.ptr.domid, e.ptr.offset), (7, DOMID_SELF, 10));
        assert!(!e.gref);
        assert_eq!(e.room, 4086);
        let e = refs.at(Direction::BtoA, 4095).unwrap();
        assert_eq!(
            (e.ptr.u, e.ptr.domid, e.ptr.offset, e.room),
            (40, 3, 4095, 1)
        );
        assert!(e.gref);
        assert_eq!(refs.at(Direction::BtoA, 8192), None);
    }
}
