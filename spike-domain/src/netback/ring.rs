//! The back end of an `io/ring.h` shared ring (`DEFINE_RING_TYPES`,
//! `BACK_RING_ATTACH`, `RING_COPY_REQUEST`, `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`,
//! `RING_FINAL_CHECK_FOR_REQUESTS`) over a page the frontend shares with us.
//!
//! Everything in that page is written by an untrusted peer at any time. So:
//! * the four indices are read and written as `AtomicU32` (the page is 4 KiB
//!   aligned), never through references to plain integers;
//! * `req_prod` is read once per pass ([`BackRing::begin`]) and a value claiming
//!   more requests than the ring holds is refused (`RING_REQUEST_PROD_OVERFLOW`);
//! * each request is copied out with one volatile read ([`BackRing::read`],
//!   `RING_COPY_REQUEST`) and only the copy is ever looked at (XSA-155).

use core::marker::PhantomData;
use core::mem::{offset_of, size_of};
use core::sync::atomic::{fence, AtomicU32, Ordering};

use pv_runtime::ring::{RingOverflow, RingSize};

use super::netif::{self, RxRequest, SringHeader, TxRequest, PAGE_SIZE, SRING_ENTRIES_OFFSET};

pub use pv_runtime::shared_page::{HeapPage, RawPage, SharedPage};

/// Which ring: the request type, the slot size and the ring size.
pub trait RingKind {
    type Req: Copy;
    /// `sizeof(union *_sring_entry)`.
    const ENTRY: usize;
    const SIZE: u32;
}

/// `netif_tx` ring: `netif_tx_request` in, `netif_tx_response` out.
pub enum Tx {}
/// `netif_rx` ring: `netif_rx_request` in, `netif_rx_response` or extra info out.
pub enum Rx {}

impl RingKind for Tx {
    type Req = TxRequest;
    const ENTRY: usize = netif::TX_ENTRY_SIZE;
    const SIZE: u32 = netif::TX_RING_SIZE;
}

impl RingKind for Rx {
    type Req = RxRequest;
    const ENTRY: usize = netif::RX_ENTRY_SIZE;
    const SIZE: u32 = netif::RX_RING_SIZE;
}

/// Our private half of the ring (`*_back_ring`: `rsp_prod_pvt`, `req_cons`).
pub struct BackRing<P: SharedPage, K: RingKind> {
    page: P,
    size: RingSize,
    req_cons: u32,
    rsp_prod_pvt: u32,
    /// Number of requests published at the last [`begin`](Self::begin).
    avail_end: u32,
    _kind: PhantomData<K>,
}

impl<P: SharedPage, K: RingKind> BackRing<P, K> {
    /// `BACK_RING_ATTACH` at the frontend's current `rsp_prod` (as Linux
    /// `xenvif_map_frontend_data_rings` does), refusing a page whose `req_prod`
    /// is already impossible.
    pub fn attach(page: P) -> Result<Self, RingOverflow> {
        let size = RingSize::new(K::SIZE).unwrap_or(RingSize::XENSTORE);
        let mut ring = Self {
            page,
            size,
            req_cons: 0,
            rsp_prod_pvt: 0,
            avail_end: 0,
            _kind: PhantomData,
        };
        let start = ring
            .index(offset_of!(SringHeader, rsp_prod))
            .load(Ordering::Acquire);
        ring.req_cons = start;
        ring.rsp_prod_pvt = start;
        ring.avail_end = start;
        let prod = ring
            .index(offset_of!(SringHeader, req_prod))
            .load(Ordering::Acquire);
        size.used(prod, start)?;
        Ok(ring)
    }

    fn index(&self, field: usize) -> &AtomicU32 {
        // SAFETY: `field` is one of the four u32 index offsets of the header,
        // inside the page, and the page is 4096-aligned (SharedPage contract);
        // the peer only ever writes these words, so atomics are the right view.
        unsafe { &*(self.page.base().as_ptr().add(field) as *const AtomicU32) }
    }

    fn slot(&self, idx: u32) -> *mut u8 {
        let off = SRING_ENTRIES_OFFSET + self.size.mask(idx) * K::ENTRY;
        debug_assert!(off + K::ENTRY <= PAGE_SIZE);
        // SAFETY: `mask` keeps the slot inside the `SIZE` entries, which fit
        // in the page after the header (`ring_entries`).
        unsafe { self.page.base().as_ptr().add(off) }
    }

    /// Starts a pass: reads `req_prod` once and returns how many requests may
    /// be taken (`XEN_RING_NR_UNCONSUMED_REQUESTS`), or the overflow that
    /// marks the frontend as hostile (`RING_REQUEST_PROD_OVERFLOW`).
    pub fn begin(&mut self) -> Result<u32, RingOverflow> {
        let prod = self
            .index(offset_of!(SringHeader, req_prod))
            .load(Ordering::Relaxed);
        self.size.used(prod, self.rsp_prod_pvt)?;
        // rmb(): see the requests only after the producer index that covers them.
        fence(Ordering::Acquire);
        let req = prod.wrapping_sub(self.req_cons);
        let room = self.size.get() - self.req_cons.wrapping_sub(self.rsp_prod_pvt);
        let n = req.min(room);
        self.avail_end = self.req_cons.wrapping_add(n);
        Ok(n)
    }

    /// Requests left in this pass.
    pub fn remaining(&self) -> u32 {
        self.avail_end.wrapping_sub(self.req_cons)
    }

    /// `RING_COPY_REQUEST` of the `nth` request after `req_cons`: one volatile
    /// read into a private copy, which is all the caller gets to look at.
    pub fn read(&self, nth: u32) -> K::Req {
        const { assert!(size_of::<K::Req>() <= K::ENTRY) };
        let p = self.slot(self.req_cons.wrapping_add(nth)) as *const K::Req;
        // SAFETY: the slot is inside the page and aligned for the request
        // (entry offsets are multiples of the entry size from a 64-byte
        // boundary); a volatile read copies whatever the peer wrote, and every
        // bit pattern is a valid request.
        unsafe { p.read_volatile() }
    }

    /// Marks `n` requests consumed.
    pub fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.remaining());
        self.req_cons = self.req_cons.wrapping_add(n.min(self.remaining()));
    }

    /// Writes the next response slot (`RING_GET_RESPONSE(rsp_prod_pvt++)`).
    /// Only consumed requests get responses, so the slot is ours to overwrite.
    pub fn respond<T: Copy>(&mut self, rsp: T) {
        const { assert!(size_of::<T>() <= K::ENTRY && core::mem::align_of::<T>() <= 4) };
        debug_assert!(self.req_cons.wrapping_sub(self.rsp_prod_pvt) > 0);
        let p = self.slot(self.rsp_prod_pvt) as *mut T;
        // SAFETY: in-page, suitably aligned slot (see `read`); the request it
        // held was already copied out.
        unsafe { p.write_volatile(rsp) };
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
    }

    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`: publishes the responses and says
    /// whether the frontend asked (through `rsp_event`) to be notified.
    pub fn push_responses(&mut self) -> bool {
        let rsp_prod = self.index(offset_of!(SringHeader, rsp_prod));
        let old = rsp_prod.load(Ordering::Relaxed);
        let new = self.rsp_prod_pvt;
        if old == new {
            return false;
        }
        // wmb(): responses before the index that publishes them.
        rsp_prod.store(new, Ordering::Release);
        // mb(): the new index before reading rsp_event.
        fence(Ordering::SeqCst);
        let event = self
            .index(offset_of!(SringHeader, rsp_event))
            .load(Ordering::Relaxed);
        new.wrapping_sub(event) < new.wrapping_sub(old)
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: true if requests are waiting; otherwise
    /// arms `req_event` so the next request notifies us, and checks again to
    /// close the race. A hostile `req_prod` reports work, so the next
    /// [`begin`](Self::begin) sees (and refuses) it.
    pub fn final_check(&mut self) -> bool {
        if self.unconsumed() {
            return true;
        }
        self.set_req_event(self.req_cons.wrapping_add(1));
        self.unconsumed()
    }

    /// Asks for a notification once `req_prod` passes `at - 1` (the rx side
    /// waiting for enough buffers, as Linux `xenvif_rx_ring_slots_available`).
    pub fn set_req_event(&mut self, at: u32) {
        self.index(offset_of!(SringHeader, req_event))
            .store(at, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    fn unconsumed(&self) -> bool {
        self.index(offset_of!(SringHeader, req_prod))
            .load(Ordering::Relaxed)
            != self.req_cons
    }

    /// The published `req_prod`, for callers that only peek (no pass).
    pub fn peek_req_prod(&self) -> u32 {
        self.index(offset_of!(SringHeader, req_prod))
            .load(Ordering::Relaxed)
    }

    pub fn req_cons(&self) -> u32 {
        self.req_cons
    }

    pub fn rsp_prod_pvt(&self) -> u32 {
        self.rsp_prod_pvt
    }

    pub fn size(&self) -> u32 {
        self.size.get()
    }

    pub fn page(&self) -> &P {
        &self.page
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netback::netif::TxResponse;
    use alloc::rc::Rc;

    fn set(page: &HeapPage, field: usize, v: u32) {
        // SAFETY: test-owned page, aligned index word.
        unsafe { (page.base().as_ptr().add(field) as *mut u32).write_volatile(v) }
    }
    fn get(page: &HeapPage, field: usize) -> u32 {
        // SAFETY: as above.
        unsafe { (page.base().as_ptr().add(field) as *const u32).read_volatile() }
    }

    #[test]
    fn attach_at_frontend_indices_and_refuse_overflow() {
        let page = Rc::new(HeapPage::new());
        set(&page, 8, 7);
        set(&page, 0, 9);
        let mut r = BackRing::<_, Tx>::attach(page.clone()).unwrap();
        assert_eq!((r.req_cons(), r.rsp_prod_pvt()), (7, 7));
        assert_eq!(r.begin(), Ok(2));
        set(&page, 0, 7 + 257);
        assert!(r.begin().is_err());
        set(&page, 0, 6);
        assert!(
            r.begin().is_err(),
            "a producer moving backwards is an overflow"
        );
        set(&page, 0, 7 + 300);
        assert!(BackRing::<_, Rx>::attach(page).is_err());
    }

    #[test]
    fn notify_follows_rsp_event() {
        let page = Rc::new(HeapPage::new());
        set(&page, 0, 3);
        set(&page, 12, 1);
        let mut r = BackRing::<_, Tx>::attach(page.clone()).unwrap();
        assert_eq!(r.begin(), Ok(3));
        r.consume(3);
        r.respond(TxResponse::default());
        assert!(r.push_responses(), "rsp_event 1 is crossed by 0 -> 1");
        r.respond(TxResponse::default());
        r.respond(TxResponse::default());
        assert!(!r.push_responses(), "rsp_event 1 already passed");
        assert_eq!(get(&page, 8), 3);
        assert!(!r.push_responses(), "nothing new, no notify");
        set(&page, 12, 5);
        set(&page, 0, 5);
        assert_eq!(r.begin(), Ok(2));
        r.consume(2);
        r.respond(TxResponse::default());
        assert!(!r.push_responses());
        r.respond(TxResponse::default());
        assert!(r.push_responses(), "4 -> 5 crosses rsp_event 5");
    }

    #[test]
    fn final_check_arms_req_event() {
        let page = Rc::new(HeapPage::new());
        let mut r = BackRing::<_, Rx>::attach(page.clone()).unwrap();
        assert!(!r.final_check());
        assert_eq!(get(&page, 4), 1);
        set(&page, 0, 1);
        assert!(r.final_check());
    }

    #[test]
    fn indices_wrap_at_u32_max() {
        let page = Rc::new(HeapPage::new());
        let start = u32::MAX - 1;
        set(&page, 8, start);
        set(&page, 0, start.wrapping_add(4));
        let mut r = BackRing::<_, Rx>::attach(page.clone()).unwrap();
        assert_eq!(r.begin(), Ok(4));
        r.consume(4);
        for _ in 0..4 {
            r.respond(netif::RxResponse::default());
        }
        r.push_responses();
        assert_eq!(get(&page, 8), 2);
        assert!(!r.final_check());
        assert_eq!(get(&page, 4), 3);
    }
}
