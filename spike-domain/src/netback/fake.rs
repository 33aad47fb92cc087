//! A fake Xen for host tests and fuzzing: guest pages reachable by
//! `(domid, gref)`, our pool pages by MFN, and a [`GrantCopier`] that performs
//! the copies with `GNTTABOP_copy`'s checks and statuses; plus a fake netfront
//! that drives the shared rings the way Linux netfront does.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::ptr::NonNull;

use pv_runtime::abi::grant_table::{self as gt, Copy as GrantCopy, CopyPtr};
use pv_runtime::abi::{DomId, GrantRef, Mfn, DOMID_SELF};

use super::netif::*;
use super::pages::Page;
use super::ring::{HeapPage, SharedPage};
use super::{CopyEnd, CopyFailed, FrameMeta, GrantCopier, LocalPages, RxSource, SinkError, TxSink};

/// Guest memory, local frames and the copy hypercall.
#[derive(Default)]
pub struct FakeXen {
    grants: BTreeMap<(DomId, GrantRef), Box<Page>>,
    /// Pages another domain granted us, living elsewhere (a wire's ring).
    foreign: BTreeMap<(DomId, GrantRef), NonNull<u8>>,
    local: BTreeMap<Mfn, NonNull<Page>>,
    /// Fail the whole hypercall.
    pub fail_hypercall: bool,
    /// Statuses forced onto the next ops, in order (a non-`GNTST_okay` value
    /// skips that copy); used by the fuzz target.
    pub forced: VecDeque<i16>,
    /// Runs at the start of every copy, i.e. after the backend has read its
    /// requests: lets a test rewrite shared memory behind the backend's back.
    pub on_copy: Option<Box<dyn FnMut()>>,
    pub calls: usize,
    pub ops: usize,
    /// Bytes copied by successful ops (the copy accounting of the tests).
    pub bytes: usize,
}

impl FakeXen {
    pub fn new() -> Self {
        Self::default()
    }

    /// `domid` grants page `gref` (zeroed) and returns it.
    pub fn grant(&mut self, domid: DomId, gref: GrantRef) -> &mut Page {
        self.grants
            .entry((domid, gref))
            .or_insert_with(|| Box::new([0; PAGE_SIZE]))
    }

    pub fn revoke(&mut self, domid: DomId, gref: GrantRef) {
        self.grants.remove(&(domid, gref));
    }

    pub fn granted(&self, domid: DomId, gref: GrantRef) -> Option<&Page> {
        self.grants.get(&(domid, gref)).map(|b| &**b)
    }

    /// Makes `pages` reachable by MFN.
    ///
    /// # Safety
    /// `pages` must outlive every later copy, and no reference into them may
    /// be live during a copy (as with the real hypercall).
    pub unsafe fn attach(&mut self, pages: &LocalPages) {
        self.local.extend(pages.raw());
    }

    /// Makes the page at `page` reachable as `domid`'s grant `gref`.
    ///
    /// # Safety
    /// `page` points to 4096 bytes that outlive every later copy and that no
    /// reference covers during a copy.
    pub unsafe fn attach_foreign(&mut self, domid: DomId, gref: GrantRef, page: NonNull<u8>) {
        self.foreign.insert((domid, gref), page);
    }

    fn resolve(&mut self, p: &CopyPtr, is_gref: bool) -> Result<*mut u8, i16> {
        if is_gref {
            let gref = GrantRef::try_from(p.u).map_err(|_| gt::GNTST_BAD_GNTREF)?;
            if let Some(page) = self.foreign.get(&(p.domid, gref)) {
                return Ok(page.as_ptr());
            }
            self.grants
                .get_mut(&(p.domid, gref))
                .map(|b| b.as_mut_ptr())
                .ok_or(gt::GNTST_BAD_GNTREF)
        } else if p.domid != DOMID_SELF {
            Err(gt::GNTST_BAD_DOMAIN)
        } else {
            self.local
                .get(&p.u)
                .map(|p| p.as_ptr() as *mut u8)
                .ok_or(gt::GNTST_BAD_PAGE)
        }
    }

    fn one(&mut self, op: &GrantCopy) -> i16 {
        let len = usize::from(op.len);
        if usize::from(op.source.offset) + len > PAGE_SIZE
            || usize::from(op.dest.offset) + len > PAGE_SIZE
        {
            return gt::GNTST_BAD_COPY_ARG;
        }
        let src = match self.resolve(&op.source, op.flags & gt::GNTCOPY_SOURCE_GREF != 0) {
            Ok(p) => p,
            Err(s) => return s,
        };
        let dst = match self.resolve(&op.dest, op.flags & gt::GNTCOPY_DEST_GREF != 0) {
            Ok(p) => p,
            Err(s) => return s,
        };
        // SAFETY: both are live 4 KiB pages (boxed grants, or attached pool
        // pages with no references outstanding) and offset + len <= 4096 was
        // checked; `copy` allows overlap.
        unsafe {
            core::ptr::copy(
                src.add(op.source.offset.into()),
                dst.add(op.dest.offset.into()),
                len,
            );
        }
        gt::GNTST_OKAY
    }
}

impl GrantCopier for FakeXen {
    fn copy(&mut self, ops: &mut [GrantCopy]) -> Result<(), CopyFailed> {
        self.calls += 1;
        if let Some(hook) = self.on_copy.as_mut() {
            hook();
        }
        if self.fail_hypercall {
            return Err(CopyFailed);
        }
        for op in ops.iter_mut() {
            self.ops += 1;
            op.status = match self.forced.pop_front() {
                Some(s) if s != gt::GNTST_OKAY => s,
                _ => self.one(op),
            };
            if op.status == gt::GNTST_OKAY {
                self.bytes += usize::from(op.len);
            }
        }
        Ok(())
    }
}

const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 4;
const RSP_PROD: usize = 8;
const RSP_EVENT: usize = 12;

/// A raw view of a shared ring page from the frontend's side.
#[derive(Clone)]
pub struct FrontRing {
    pub page: Rc<HeapPage>,
    entry: usize,
    size: u32,
    pub req_prod_pvt: u32,
    pub rsp_cons: u32,
}

impl FrontRing {
    fn new(entry: usize, size: u32, start: u32) -> Self {
        let r = Self {
            page: Rc::new(HeapPage::new()),
            entry,
            size,
            req_prod_pvt: start,
            rsp_cons: start,
        };
        r.set(REQ_PROD, start);
        r.set(RSP_PROD, start);
        r.set(REQ_EVENT, start.wrapping_add(1));
        r.set(RSP_EVENT, start.wrapping_add(1));
        r
    }

    fn ptr(&self, off: usize) -> *mut u8 {
        // SAFETY: callers stay within the page.
        unsafe { self.page.base().as_ptr().add(off) }
    }

    pub fn set(&self, field: usize, v: u32) {
        // SAFETY: an aligned index word of our page.
        unsafe { (self.ptr(field) as *mut u32).write_volatile(v) }
    }

    pub fn get(&self, field: usize) -> u32 {
        // SAFETY: as above.
        unsafe { (self.ptr(field) as *const u32).read_volatile() }
    }

    pub fn req_event(&self) -> u32 {
        self.get(REQ_EVENT)
    }

    fn slot(&self, idx: u32) -> *mut u8 {
        self.ptr(SRING_ENTRIES_OFFSET + (idx & (self.size - 1)) as usize * self.entry)
    }

    /// Writes raw bytes into ring slot `idx` (anything, for hostile tests).
    pub fn write_slot<T: Copy>(&self, idx: u32, v: T) {
        assert!(core::mem::size_of::<T>() <= self.entry);
        // SAFETY: in-page slot, aligned for the ring's entry types.
        unsafe { (self.slot(idx) as *mut T).write_volatile(v) }
    }

    pub fn read_slot<T: Copy>(&self, idx: u32) -> T {
        assert!(core::mem::size_of::<T>() <= self.entry);
        // SAFETY: as above.
        unsafe { (self.slot(idx) as *const T).read_volatile() }
    }

    /// Queues a request privately (`RING_GET_REQUEST(req_prod_pvt++)`).
    pub fn queue<T: Copy>(&mut self, v: T) {
        self.write_slot(self.req_prod_pvt, v);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
    }

    /// `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`.
    pub fn push(&mut self) -> bool {
        let old = self.get(REQ_PROD);
        let new = self.req_prod_pvt;
        self.set(REQ_PROD, new);
        new.wrapping_sub(self.get(REQ_EVENT)) < new.wrapping_sub(old)
    }

    /// Takes every published response and re-arms `rsp_event`
    /// (`RING_FINAL_CHECK_FOR_RESPONSES`).
    pub fn responses<T: Copy>(&mut self) -> Vec<T> {
        let prod = self.get(RSP_PROD);
        let mut v = Vec::new();
        while self.rsp_cons != prod && v.len() <= self.size as usize {
            v.push(self.read_slot(self.rsp_cons));
            self.rsp_cons = self.rsp_cons.wrapping_add(1);
        }
        self.set(RSP_EVENT, self.rsp_cons.wrapping_add(1));
        v
    }
}

/// A netfront: both rings, its grants in a [`FakeXen`].
pub struct FakeFrontend {
    pub domid: DomId,
    pub tx: FrontRing,
    pub rx: FrontRing,
    next_gref: GrantRef,
}

impl FakeFrontend {
    /// Rings initialised by `SHARED_RING_INIT`, indices starting at `start`.
    pub fn new(domid: DomId, start: u32) -> Self {
        Self {
            domid,
            tx: FrontRing::new(TX_ENTRY_SIZE, TX_RING_SIZE, start),
            rx: FrontRing::new(RX_ENTRY_SIZE, RX_RING_SIZE, start),
            next_gref: 100,
        }
    }

    /// Grants a fresh page holding `data` at `offset`.
    pub fn grant_data(&mut self, xen: &mut FakeXen, offset: usize, data: &[u8]) -> GrantRef {
        let gref = self.next_gref;
        self.next_gref += 1;
        xen.grant(self.domid, gref)[offset..offset + data.len()].copy_from_slice(data);
        gref
    }

    /// Queues `frame` split into slots of the given sizes (which must add up),
    /// each slot in its own granted page at `offset`; `extras` follow the
    /// first slot. Returns the ids used (the slot index). Not yet published.
    pub fn queue_tx(
        &mut self,
        xen: &mut FakeXen,
        frame: &[u8],
        sizes: &[usize],
        offset: usize,
        flags: u16,
        extras: &[ExtraInfo],
    ) -> Vec<u16> {
        let mut ids = Vec::new();
        let mut at = 0;
        for (i, &n) in sizes.iter().enumerate() {
            let gref = self.grant_data(xen, offset, &frame[at..at + n]);
            at += n;
            let id = (self.tx.req_prod_pvt % TX_RING_SIZE) as u16;
            let mut f = if i + 1 < sizes.len() {
                NETTXF_MORE_DATA
            } else {
                0
            };
            let size = if i == 0 {
                f |= flags;
                if !extras.is_empty() {
                    f |= NETTXF_EXTRA_INFO;
                }
                frame.len() as u16
            } else {
                n as u16
            };
            self.tx.queue(TxRequest {
                gref,
                offset: offset as u16,
                flags: f,
                id,
                size,
            });
            ids.push(id);
            if i == 0 {
                for (j, e) in extras.iter().enumerate() {
                    let mut e = *e;
                    if j + 1 < extras.len() {
                        e.flags |= EXTRA_FLAG_MORE;
                    }
                    self.tx.queue(e);
                }
            }
        }
        ids
    }

    /// Posts `n` rx buffers (fresh grants); returns their grefs.
    pub fn post_rx(&mut self, xen: &mut FakeXen, n: usize) -> Vec<GrantRef> {
        let grefs: Vec<_> = (0..n)
            .map(|_| {
                let g = self.grant_data(xen, 0, &[]);
                let id = (self.rx.req_prod_pvt % RX_RING_SIZE) as u16;
                self.rx.queue(RxRequest {
                    id,
                    pad: 0,
                    gref: g,
                });
                g
            })
            .collect();
        self.rx.push();
        grefs
    }
}

/// A [`TxSink`] that plays the wire's ring: a fixed set of pages of
/// `domid` in a [`FakeXen`], handed out per reservation (the frame's bytes
/// are grant-copied into them); a commit reads the frame back, header
/// written over its start, into `sent`.
pub struct FakeSink {
    domid: DomId,
    free: Vec<GrantRef>,
    /// Say "full" to every reservation (backpressure).
    pub full: bool,
    /// Refuse every reservation (a wire that is down).
    pub refused: bool,
    /// Committed frames.
    pub sent: Vec<(Vec<u8>, FrameMeta)>,
    pages: BTreeMap<GrantRef, *mut Page>,
}

/// A [`FakeSink`] reservation: the pages it took.
pub struct FakeSlot(Vec<GrantRef>);

impl FakeSink {
    /// `pages` pages granted by `domid` as `first_gref..`.
    pub fn new(xen: &mut FakeXen, domid: DomId, first_gref: GrantRef, pages: u32) -> Self {
        let mut map = BTreeMap::new();
        for g in first_gref..first_gref + pages {
            map.insert(g, xen.grant(domid, g) as *mut Page);
        }
        FakeSink {
            domid,
            free: (first_gref..first_gref + pages).rev().collect(),
            full: false,
            refused: false,
            sent: Vec::new(),
            pages: map,
        }
    }
}

impl TxSink for FakeSink {
    type Slot = FakeSlot;

    fn reserve(&mut self, len: usize) -> Result<FakeSlot, SinkError> {
        if self.refused {
            return Err(SinkError::Refused);
        }
        let n = len.div_ceil(PAGE_SIZE);
        if self.full || n > self.free.len() {
            return Err(SinkError::Full);
        }
        Ok(FakeSlot(self.free.split_off(self.free.len() - n)))
    }

    fn target(&mut self, slot: &FakeSlot, at: usize) -> Option<CopyEnd> {
        let gref = *slot.0.get(at / PAGE_SIZE)?;
        let off = at % PAGE_SIZE;
        Some(CopyEnd {
            ptr: CopyPtr {
                u: u64::from(gref),
                domid: self.domid,
                offset: off as u16,
            },
            gref: true,
            room: PAGE_SIZE - off,
        })
    }

    fn commit(&mut self, slot: FakeSlot, header: &[u8], len: usize, meta: FrameMeta) -> bool {
        let mut f = Vec::with_capacity(len);
        for g in &slot.0 {
            // SAFETY: a page boxed in the FakeXen, alive as long as it; no
            // copy is running.
            f.extend_from_slice(unsafe { &*self.pages[g] });
        }
        f.truncate(len);
        f[..header.len()].copy_from_slice(header);
        self.sent.push((f, meta));
        self.free.extend(slot.0);
        true
    }

    fn cancel(&mut self, slot: FakeSlot) {
        self.free.extend(slot.0);
    }
}

/// An [`RxSource`] that plays the wire's ring toward the guest: one frame's
/// bytes in pages `grefs` of `domid`.
pub struct FakeSource<'a> {
    pub xen: &'a FakeXen,
    pub domid: DomId,
    pub grefs: &'a [GrantRef],
}

impl RxSource for FakeSource<'_> {
    fn origin(&mut self, at: usize) -> Option<CopyEnd> {
        let gref = *self.grefs.get(at / PAGE_SIZE)?;
        let off = at % PAGE_SIZE;
        Some(CopyEnd {
            ptr: CopyPtr {
                u: u64::from(gref),
                domid: self.domid,
                offset: off as u16,
            },
            gref: true,
            room: PAGE_SIZE - off,
        })
    }

    fn read(&mut self, at: usize, dst: &mut [u8]) {
        for (i, b) in dst.iter_mut().enumerate() {
            let p = at + i;
            *b = self
                .grefs
                .get(p / PAGE_SIZE)
                .and_then(|g| self.xen.granted(self.domid, *g))
                .map_or(0, |page| page[p % PAGE_SIZE]);
        }
    }
}
