//! Grant tables, v1 (grant_table.h): pages this domain shares with others, and
//! other domains' grants mapped or copied here.
//!
//! [`GrantTable`] keeps the bookkeeping of our own entries (which refs are free,
//! granted, still in use by the peer) over the shared entry array and is
//! host-tested; the domain target adds setup, map/unmap and batched copy.

use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU16, Ordering};

use crate::abi::grant_table::{self as gt, GrantEntryV1};
use crate::abi::{DomId, GrantRef, Mfn};

/// A `GNTST_*` status other than okay (grant_table.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantStatus {
    #[error("general error")]
    GeneralError,
    #[error("bad domain")]
    BadDomain,
    #[error("bad grant reference")]
    BadGntref,
    #[error("bad handle")]
    BadHandle,
    #[error("bad virtual address")]
    BadVirtAddr,
    #[error("permission denied")]
    PermissionDenied,
    #[error("bad page")]
    BadPage,
    #[error("copy crosses a page boundary")]
    BadCopyArg,
    #[error("try again")]
    Eagain,
    #[error("status {0}")]
    Other(i16),
}

impl GrantStatus {
    /// `Ok` for `GNTST_okay`, else the typed status.
    pub fn check(status: i16) -> Result<(), GrantStatus> {
        Err(match status {
            gt::GNTST_OKAY => return Ok(()),
            gt::GNTST_GENERAL_ERROR => Self::GeneralError,
            gt::GNTST_BAD_DOMAIN => Self::BadDomain,
            gt::GNTST_BAD_GNTREF => Self::BadGntref,
            gt::GNTST_BAD_HANDLE => Self::BadHandle,
            gt::GNTST_BAD_VIRT_ADDR => Self::BadVirtAddr,
            gt::GNTST_PERMISSION_DENIED => Self::PermissionDenied,
            gt::GNTST_BAD_PAGE => Self::BadPage,
            gt::GNTST_BAD_COPY_ARG => Self::BadCopyArg,
            gt::GNTST_EAGAIN => Self::Eagain,
            s => Self::Other(s),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("no free grant references")]
    Exhausted,
    #[error("frame {0:#x} does not fit a v1 grant entry")]
    FrameTooLarge(Mfn),
    #[error("grant {0} is still mapped or being copied by the peer")]
    InUse(GrantRef),
    #[error("grant {0} is not one of ours")]
    NotGranted(GrantRef),
    #[error("grant operation failed: {0}")]
    Status(#[from] GrantStatus),
    #[error("grant table hypercall failed: errno {0}")]
    Hypercall(i64),
    #[error("no address space left for a mapping")]
    NoAddressSpace,
}

/// Counters of what peers and Xen refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantCounters {
    pub granted: u64,
    pub revoked: u64,
    pub revoke_busy: u64,
    pub exhausted: u64,
}

/// Our grant entries: `len` v1 entries shared with Xen and the peers.
pub struct GrantTable {
    entries: NonNull<GrantEntryV1>,
    len: u32,
    free: Vec<GrantRef>,
    granted: Vec<u64>,
    pub counters: GrantCounters,
}

// SAFETY: reached only through `&mut self`; the entries are shared memory by design.
unsafe impl Send for GrantTable {}

impl GrantTable {
    /// # Safety
    /// `entries` points at `len` grant entries that stay mapped for the life of
    /// the table and that nothing else in this domain writes.
    pub unsafe fn from_raw(entries: *mut GrantEntryV1, len: u32) -> Option<Self> {
        let entries = NonNull::new(entries)?;
        // Handed out lowest first; the first refs are the toolstack's.
        let free = (gt::NR_RESERVED_ENTRIES..len).rev().collect();
        Some(Self {
            entries,
            len,
            free,
            granted: vec![0; (len as usize).div_ceil(64)],
            counters: GrantCounters::default(),
        })
    }

    fn entry(&self, gref: GrantRef) -> *mut GrantEntryV1 {
        // SAFETY: callers check gref < len; the array has `len` entries.
        unsafe { self.entries.as_ptr().add(gref as usize) }
    }

    fn flags(&self, gref: GrantRef) -> &AtomicU16 {
        // SAFETY: `flags` is the first u16 of an entry inside the mapped array; Xen
        // updates it with atomic operations, so we treat it as an AtomicU16.
        unsafe { &*(self.entry(gref) as *const AtomicU16) }
    }

    fn is_granted(&self, gref: GrantRef) -> bool {
        gref < self.len && self.granted[gref as usize / 64] & (1 << (gref % 64)) != 0
    }

    fn mark(&mut self, gref: GrantRef, on: bool) {
        let w = &mut self.granted[gref as usize / 64];
        if on {
            *w |= 1 << (gref % 64)
        } else {
            *w &= !(1 << (gref % 64))
        }
    }

    /// Lets `domid` map or copy frame `mfn` (read-only if `readonly`).
    pub fn grant(
        &mut self,
        domid: DomId,
        mfn: Mfn,
        readonly: bool,
    ) -> Result<GrantRef, GrantError> {
        let frame = u32::try_from(mfn).map_err(|_| GrantError::FrameTooLarge(mfn))?;
        let Some(gref) = self.free.pop() else {
            self.counters.exhausted += 1;
            return Err(GrantError::Exhausted);
        };
        let e = self.entry(gref);
        // SAFETY: an entry we own and that is currently invalid (flags 0).
        unsafe {
            core::ptr::addr_of_mut!((*e).domid).write_volatile(domid);
            core::ptr::addr_of_mut!((*e).frame).write_volatile(frame);
        }
        // Domid and frame must be visible before the entry becomes valid (grant_table.h).
        fence(Ordering::Release);
        let ro = if readonly { gt::GTF_READONLY } else { 0 };
        self.flags(gref)
            .store(gt::GTF_PERMIT_ACCESS | ro, Ordering::Release);
        self.mark(gref, true);
        self.counters.granted += 1;
        Ok(gref)
    }

    /// Whether the peer currently has the frame mapped or a copy is in flight.
    pub fn in_use(&self, gref: GrantRef) -> bool {
        self.is_granted(gref)
            && self.flags(gref).load(Ordering::Acquire) & (gt::GTF_READING | gt::GTF_WRITING) != 0
    }

    /// Revokes a grant, only if the peer no longer uses it: an atomic swap of
    /// the flags to 0 that fails while `GTF_reading`/`GTF_writing` is set.
    pub fn end_access(&mut self, gref: GrantRef) -> Result<(), GrantError> {
        if !self.is_granted(gref) {
            return Err(GrantError::NotGranted(gref));
        }
        let flags = self.flags(gref);
        let mut cur = flags.load(Ordering::Acquire);
        loop {
            if cur & (gt::GTF_READING | gt::GTF_WRITING) != 0 {
                self.counters.revoke_busy += 1;
                return Err(GrantError::InUse(gref));
            }
            match flags.compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.mark(gref, false);
        self.free.push(gref);
        self.counters.revoked += 1;
        Ok(())
    }

    /// Free references left.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(target_os = "none")]
pub use domain::{copy, map, map_range, setup, unmap, unmap_range, MappedRange, Mapping};

#[cfg(target_os = "none")]
mod domain {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::{GrantError, GrantStatus, GrantTable};
    use crate::abi::grant_table::{self as gt, GrantEntryV1};
    use crate::abi::mmu::{L1_PROT, UVMF_INVLPG};
    use crate::abi::{DomId, GrantRef, DOMID_SELF, PAGE_SIZE};
    use crate::hypervisor::{self, XenError};
    use crate::mm::heap;

    impl From<XenError> for GrantError {
        fn from(e: XenError) -> Self {
            GrantError::Hypercall(e.0)
        }
    }

    /// Sets up `nr_frames` frames of our grant table (capped at Xen's maximum)
    /// and maps them in the foreign window.
    pub fn setup(nr_frames: u32) -> Result<GrantTable, GrantError> {
        let (_, max) = hypervisor::grant_query_size()?;
        let n = nr_frames.min(max).max(1);
        let mut frames = vec![0u64; n as usize];
        let mut op = gt::SetupTable {
            dom: DOMID_SELF,
            nr_frames: n,
            status: 0,
            frame_list: frames.as_mut_ptr(),
        };
        // SAFETY: one live gnttab_setup_table whose frame_list has room for `n` entries.
        unsafe { hypervisor::grant_table_op(gt::GNTTABOP_SETUP_TABLE, &mut op, 1)? };
        GrantStatus::check(op.status)?;
        let va = heap::reserve_foreign(n as usize).map_err(|_| GrantError::NoAddressSpace)?;
        for (i, &mfn) in frames.iter().enumerate() {
            // SAFETY: freshly reserved window pages; the frames are our grant table.
            unsafe { heap::map_foreign(va + (i * PAGE_SIZE) as u64, mfn, L1_PROT, DOMID_SELF) }
                .map_err(|_| GrantError::NoAddressSpace)?;
        }
        let len = n * (PAGE_SIZE / core::mem::size_of::<GrantEntryV1>()) as u32;
        // SAFETY: `len` entries are now mapped at `va` for the life of the domain.
        unsafe { GrantTable::from_raw(va as *mut GrantEntryV1, len) }
            .ok_or(GrantError::NoAddressSpace)
    }

    /// A foreign grant mapped into our foreign window.
    #[derive(Debug)]
    pub struct Mapping {
        pub va: u64,
        handle: u32,
        pub domid: DomId,
        pub gref: GrantRef,
    }

    /// Maps `domid`'s grant `gref` (GNTTABOP_map_grant_ref with GNTMAP_host_map).
    pub fn map(domid: DomId, gref: GrantRef, readonly: bool) -> Result<Mapping, GrantError> {
        let va = heap::reserve_foreign(1).map_err(|_| GrantError::NoAddressSpace)?;
        let ro = if readonly { gt::GNTMAP_READONLY } else { 0 };
        let mut op = gt::MapGrantRef {
            host_addr: va,
            flags: gt::GNTMAP_HOST_MAP | ro,
            gref,
            dom: domid,
            ..Default::default()
        };
        // SAFETY: one live map op; `va` is a reserved window page whose L1 table exists.
        let rc = unsafe { hypervisor::grant_table_op(gt::GNTTABOP_MAP_GRANT_REF, &mut op, 1) };
        let res = rc
            .map_err(GrantError::from)
            .and_then(|_| GrantStatus::check(op.status).map_err(GrantError::from));
        if let Err(e) = res {
            heap::release_foreign(va, 1);
            return Err(e);
        }
        Ok(Mapping {
            va,
            handle: op.handle,
            domid,
            gref,
        })
    }

    /// Foreign grants mapped side by side in our foreign window.
    #[derive(Debug)]
    pub struct MappedRange {
        pub va: u64,
        pub domid: DomId,
        handles: Vec<u32>,
    }

    impl MappedRange {
        /// Pages mapped.
        pub fn len(&self) -> usize {
            self.handles.len()
        }

        /// Never: a range maps at least one page.
        pub fn is_empty(&self) -> bool {
            self.handles.is_empty()
        }
    }

    /// Maps `domid`'s grants `grefs` at consecutive pages, in one hypercall:
    /// a contiguous view of a peer's ring. All or nothing.
    pub fn map_range(
        domid: DomId,
        grefs: &[GrantRef],
        readonly: bool,
    ) -> Result<MappedRange, GrantError> {
        let n = grefs.len();
        let va = heap::reserve_foreign(n).map_err(|_| GrantError::NoAddressSpace)?;
        let ro = if readonly { gt::GNTMAP_READONLY } else { 0 };
        let mut ops: Vec<gt::MapGrantRef> = grefs
            .iter()
            .enumerate()
            .map(|(i, &gref)| gt::MapGrantRef {
                host_addr: va + (i * PAGE_SIZE) as u64,
                flags: gt::GNTMAP_HOST_MAP | ro,
                gref,
                dom: domid,
                ..Default::default()
            })
            .collect();
        // SAFETY: `n` live map ops; each `host_addr` is a reserved window page
        // whose L1 table exists.
        let rc =
            unsafe { hypervisor::grant_table_op(gt::GNTTABOP_MAP_GRANT_REF, ops.as_mut_ptr(), n) };
        let failed = rc.is_err() || ops.iter().any(|o| o.status != 0);
        if failed {
            for o in ops.iter().filter(|o| o.status == 0 && rc.is_ok()) {
                let _ = unmap_one(o.host_addr, o.handle);
            }
            heap::release_foreign(va, n);
            let status = ops.iter().map(|o| o.status).find(|&s| s != 0).unwrap_or(0);
            rc?;
            GrantStatus::check(status)?;
            return Err(GrantError::NoAddressSpace);
        }
        Ok(MappedRange {
            va,
            domid,
            handles: ops.iter().map(|o| o.handle).collect(),
        })
    }

    /// Unmaps a range from [`map_range`]; its pages must not be used
    /// afterwards.
    pub fn unmap_range(r: MappedRange) -> Result<(), GrantError> {
        let mut first = Ok(());
        for (i, &h) in r.handles.iter().enumerate() {
            let res = unmap_one(r.va + (i * PAGE_SIZE) as u64, h);
            if first.is_ok() {
                first = res;
            }
        }
        heap::release_foreign(r.va, r.handles.len());
        first
    }

    fn unmap_one(va: u64, handle: u32) -> Result<(), GrantError> {
        let mut op = gt::UnmapGrantRef {
            host_addr: va,
            dev_bus_addr: 0,
            handle,
            status: 0,
        };
        // SAFETY: one live unmap op for a mapping we made.
        unsafe { hypervisor::grant_table_op(gt::GNTTABOP_UNMAP_GRANT_REF, &mut op, 1)? };
        GrantStatus::check(op.status)?;
        // Make sure no stale TLB entry survives before the address is reused.
        // SAFETY: the PTE is already clear; this only flushes.
        let _ = unsafe { hypervisor::update_va_mapping(va, 0, UVMF_INVLPG) };
        Ok(())
    }

    /// Unmaps a grant mapping; the page must not be used afterwards.
    pub fn unmap(m: Mapping) -> Result<(), GrantError> {
        let mut op = gt::UnmapGrantRef {
            host_addr: m.va,
            dev_bus_addr: 0,
            handle: m.handle,
            status: 0,
        };
        // SAFETY: one live unmap op for a mapping we made.
        unsafe { hypervisor::grant_table_op(gt::GNTTABOP_UNMAP_GRANT_REF, &mut op, 1)? };
        GrantStatus::check(op.status)?;
        // Make sure no stale TLB entry survives before the address is reused.
        // SAFETY: the PTE is already clear; this only flushes.
        let _ = unsafe { hypervisor::update_va_mapping(m.va, 0, UVMF_INVLPG) };
        heap::release_foreign(m.va, 1);
        Ok(())
    }

    /// One `GNTTABOP_copy` hypercall for the whole batch. `Err` means the batch
    /// was not attempted; otherwise each op's own `status` says how it went
    /// (check with [`GrantStatus::check`]).
    pub fn copy(ops: &mut [gt::Copy]) -> Result<(), GrantError> {
        if ops.is_empty() {
            return Ok(());
        }
        // SAFETY: `ops` are live gnttab_copy structs; local frames in them are ours.
        unsafe { hypervisor::grant_table_op(gt::GNTTABOP_COPY, ops.as_mut_ptr(), ops.len())? };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: u32) -> (Vec<GrantEntryV1>, GrantTable) {
        let mut mem = vec![GrantEntryV1::default(); n as usize];
        // SAFETY: the Vec outlives the table in each test and is not moved.
        let t = unsafe { GrantTable::from_raw(mem.as_mut_ptr(), n) }.unwrap();
        (mem, t)
    }

    #[test]
    fn grant_writes_entry_and_skips_reserved_refs() {
        let (mem, mut t) = table(16);
        let r = t.grant(5, 0x1234, true).unwrap();
        assert_eq!(r, gt::NR_RESERVED_ENTRIES);
        let e = mem[r as usize];
        assert_eq!((e.domid, e.frame), (5, 0x1234));
        assert_eq!(e.flags, gt::GTF_PERMIT_ACCESS | gt::GTF_READONLY);
        assert_eq!(
            t.grant(5, 1 << 40, false),
            Err(GrantError::FrameTooLarge(1 << 40))
        );
    }

    #[test]
    fn revoke_only_when_peer_is_done() {
        let (mut mem, mut t) = table(16);
        let r = t.grant(5, 7, false).unwrap();
        // Xen marks the entry while the peer has it mapped.
        mem[r as usize].flags |= gt::GTF_READING;
        assert!(t.in_use(r));
        assert_eq!(t.end_access(r), Err(GrantError::InUse(r)));
        assert_eq!(t.counters.revoke_busy, 1);
        mem[r as usize].flags &= !gt::GTF_READING;
        t.end_access(r).unwrap();
        assert_eq!(mem[r as usize].flags, 0);
        assert_eq!(t.end_access(r), Err(GrantError::NotGranted(r)));
        assert_eq!(t.end_access(3), Err(GrantError::NotGranted(3)));
        assert_eq!(t.end_access(9999), Err(GrantError::NotGranted(9999)));
    }

    #[test]
    fn exhaustion_is_counted_and_refs_recycle() {
        let (_mem, mut t) = table(10);
        let a = t.grant(1, 1, false).unwrap();
        let _b = t.grant(1, 2, false).unwrap();
        assert_eq!(t.grant(1, 3, false), Err(GrantError::Exhausted));
        assert_eq!(t.counters.exhausted, 1);
        t.end_access(a).unwrap();
        assert_eq!(t.grant(1, 4, false), Ok(a));
    }

    #[test]
    fn status_codes_are_typed() {
        assert_eq!(GrantStatus::check(0), Ok(()));
        assert_eq!(GrantStatus::check(-3), Err(GrantStatus::BadGntref));
        assert_eq!(GrantStatus::check(-12), Err(GrantStatus::Eagain));
        assert_eq!(GrantStatus::check(-99), Err(GrantStatus::Other(-99)));
    }
}
