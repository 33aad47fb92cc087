//! The shared `struct xenstore_domain_interface` page (`io/xs_wire.h`,
//! "XenStore wire protocol"; layout table in `docs/misc/xenstore-ring.txt`).
//!
//! Two 1 KiB byte rings, `req` (to xenstored) and `rsp` (from it), each with
//! free-running consumer/producer offsets, then three signalling words. The
//! peer writes this memory concurrently, so:
//!
//! * indices are read and written as aligned 32-bit atomics (a single `mov`
//!   on x86, like a volatile access, but also defined in Rust's memory model
//!   when another thread or domain writes concurrently);
//! * ring bytes are copied with volatile accesses, never through references;
//! * ordering follows `io/ring.h`'s barriers: read the peer's index,
//!   `fence(Acquire)`, copy bytes, `fence(Release)`, publish our index
//!   ("back sees requests /before/ updated producer index");
//! * a peer index claiming more than 1024 bytes in flight is refused
//!   ([`RingOverflow`], `RING_RESPONSE_PROD_OVERFLOW` in `io/ring.h`).
//!
//! The memory is reached through [`SharedPage`], so a domain hands in the
//! mapped page ([`RawPage`]) and host tests a heap page ([`HeapPage`]) that a
//! fake xenstored ([`ServerRing`]) shares.

use core::sync::atomic::{fence, AtomicU32, Ordering};

use crate::ring::{RingIdx, RingOverflow, RingSize};

/// The size and alignment of the interface page.
pub const PAGE_SIZE: usize = 4096;
/// `XENSTORE_RING_SIZE`.
pub const RING_SIZE: RingSize = RingSize::XENSTORE;
/// `XENSTORE_SERVER_FEATURE_RECONNECTION`.
pub const FEATURE_RECONNECTION: u32 = 1;
/// `XENSTORE_SERVER_FEATURE_ERROR`: the `error` word is meaningful.
pub const FEATURE_ERROR: u32 = 2;

/// The 32-bit words of the page, at their `xenstore_domain_interface` offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    /// `req_cons`, written by xenstored.
    ReqCons = 2048,
    /// `req_prod`, written by us.
    ReqProd = 2052,
    /// `rsp_cons`, written by us.
    RspCons = 2056,
    /// `rsp_prod`, written by xenstored.
    RspProd = 2060,
    /// `server_features`.
    ServerFeatures = 2064,
    /// `connection` (`XENSTORE_CONNECTED` / `XENSTORE_RECONNECT`).
    Connection = 2068,
    /// `error` (`XENSTORE_ERROR_*`).
    Error = 2072,
}

/// Offset of `req[]`.
pub const REQ_OFFSET: usize = 0;
/// Offset of `rsp[]`.
pub const RSP_OFFSET: usize = 1024;

pub use crate::shared_page::{HeapPage, RawPage, SharedPage};

/// One direction of the page: data array plus its index pair.
#[derive(Clone, Copy)]
struct Dir {
    data: usize,
    cons: Field,
    prod: Field,
}

const REQ: Dir = Dir {
    data: REQ_OFFSET,
    cons: Field::ReqCons,
    prod: Field::ReqProd,
};
const RSP: Dir = Dir {
    data: RSP_OFFSET,
    cons: Field::RspCons,
    prod: Field::RspProd,
};

fn load<M: SharedPage>(mem: &M, f: Field) -> u32 {
    // SAFETY: `f` is a 4-aligned offset below PAGE_SIZE in a page-aligned
    // page that is valid per `SharedPage`, and only accessed atomically.
    unsafe { AtomicU32::from_ptr(mem.base().as_ptr().add(f as usize).cast()) }
        .load(Ordering::Relaxed)
}

fn store<M: SharedPage>(mem: &M, f: Field, v: u32) {
    // SAFETY: as in `load`.
    unsafe { AtomicU32::from_ptr(mem.base().as_ptr().add(f as usize).cast()) }
        .store(v, Ordering::Relaxed)
}

/// Copies as much of `src` as fits into `dir`, then publishes it.
fn produce<M: SharedPage>(mem: &M, dir: Dir, src: &[u8]) -> Result<usize, RingOverflow> {
    let cons = load(mem, dir.cons);
    let prod: RingIdx = load(mem, dir.prod);
    let free = RING_SIZE.free(prod, cons)?;
    // Our writes below must not overtake the read of the consumer index that
    // told us these bytes are free.
    fence(Ordering::Acquire);
    let n = src.len().min(free as usize);
    for (i, &b) in src.iter().take(n).enumerate() {
        let at = dir.data + RING_SIZE.mask(prod.wrapping_add(i as u32));
        // SAFETY: `at` < dir.data + 1024 <= 2048 < PAGE_SIZE; valid per `SharedPage`.
        unsafe { mem.base().as_ptr().add(at).write_volatile(b) };
    }
    // The peer must see the bytes before the producer index that covers them.
    fence(Ordering::Release);
    store(mem, dir.prod, prod.wrapping_add(n as u32));
    Ok(n)
}

/// Copies up to `dst.len()` published bytes out of `dir`, then releases them.
fn consume<M: SharedPage>(mem: &M, dir: Dir, dst: &mut [u8]) -> Result<usize, RingOverflow> {
    let prod = load(mem, dir.prod);
    let cons: RingIdx = load(mem, dir.cons);
    let used = RING_SIZE.used(prod, cons)?;
    // Do not read bytes before the producer index that says they are there.
    fence(Ordering::Acquire);
    let n = dst.len().min(used as usize);
    for (i, b) in dst.iter_mut().take(n).enumerate() {
        let at = dir.data + RING_SIZE.mask(cons.wrapping_add(i as u32));
        // SAFETY: `at` < 2048 < PAGE_SIZE; valid per `SharedPage`.
        *b = unsafe { mem.base().as_ptr().add(at).read_volatile() };
    }
    // Our reads must be complete before the peer may overwrite the bytes.
    fence(Ordering::Release);
    store(mem, dir.cons, cons.wrapping_add(n as u32));
    Ok(n)
}

/// The guest (client) end of the page: writes `req`, reads `rsp`.
pub struct StoreRing<M: SharedPage = RawPage> {
    mem: M,
}

impl StoreRing<RawPage> {
    /// The guest end over the mapped page; `None` if `page` is null or not
    /// page aligned.
    ///
    /// # Safety
    /// As [`RawPage::new`].
    pub unsafe fn from_raw(page: *mut u8) -> Option<StoreRing<RawPage>> {
        // SAFETY: forwarded to our caller.
        unsafe { RawPage::new(page) }.map(StoreRing::new)
    }
}

impl<M: SharedPage> StoreRing<M> {
    /// The guest end over `mem`. Existing indices are kept: guests "must not
    /// assume that producer or consumer pointers start at zero".
    pub fn new(mem: M) -> StoreRing<M> {
        StoreRing { mem }
    }

    /// Appends as many bytes of `src` as fit to `req`; returns how many.
    pub fn write_request(&mut self, src: &[u8]) -> Result<usize, RingOverflow> {
        produce(&self.mem, REQ, src)
    }

    /// Takes up to `dst.len()` bytes from `rsp`; returns how many.
    pub fn read_response(&mut self, dst: &mut [u8]) -> Result<usize, RingOverflow> {
        consume(&self.mem, RSP, dst)
    }

    /// Reads a signalling word (`server_features`, `connection`, `error`, …).
    pub fn field(&self, f: Field) -> u32 {
        load(&self.mem, f)
    }

    /// The `error` word if xenstored advertises `XENSTORE_SERVER_FEATURE_ERROR`
    /// and has set it: the server has stopped talking to us.
    pub fn server_error(&self) -> Option<u32> {
        let advertised = self.field(Field::ServerFeatures) & FEATURE_ERROR != 0;
        Some(self.field(Field::Error)).filter(|&e| advertised && e != 0)
    }

    /// The underlying memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }
}

/// The xenstored end of the page: reads `req`, writes `rsp`. For host tests
/// and simulators; a domain never uses it.
pub struct ServerRing<M: SharedPage> {
    mem: M,
}

impl<M: SharedPage> ServerRing<M> {
    /// The server end over `mem`.
    pub fn new(mem: M) -> ServerRing<M> {
        ServerRing { mem }
    }

    /// Takes up to `dst.len()` request bytes.
    pub fn read_request(&mut self, dst: &mut [u8]) -> Result<usize, RingOverflow> {
        consume(&self.mem, REQ, dst)
    }

    /// Appends as many response bytes as fit.
    pub fn write_response(&mut self, src: &[u8]) -> Result<usize, RingOverflow> {
        produce(&self.mem, RSP, src)
    }

    /// Reads any word of the page.
    pub fn field(&self, f: Field) -> u32 {
        load(&self.mem, f)
    }

    /// Writes any word of the page (including indices, to test wrap-around
    /// and hostile values).
    pub fn set_field(&mut self, f: Field, v: u32) {
        store(&self.mem, f, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of `struct xenstore_domain_interface` as laid out by the C
    /// compiler for `io/xs_wire.h` (two `char[1024]`, then seven `uint32_t`),
    /// matching the table in `docs/misc/xenstore-ring.txt`.
    #[test]
    fn layout_matches_xs_wire_h() {
        assert_eq!((REQ_OFFSET, RSP_OFFSET), (0, 1024));
        let fields = [
            (Field::ReqCons, 2048),
            (Field::ReqProd, 2052),
            (Field::RspCons, 2056),
            (Field::RspProd, 2060),
            (Field::ServerFeatures, 2064),
            (Field::Connection, 2068),
            (Field::Error, 2072),
        ];
        for (f, off) in fields {
            assert_eq!(f as usize, off, "{f:?}");
        }
        assert_eq!(RING_SIZE.get(), 1024);
        assert_eq!((FEATURE_RECONNECTION, FEATURE_ERROR), (1, 2));
    }

    #[test]
    fn bytes_cross_the_wrap_point() {
        let page = HeapPage::new();
        let mut server = ServerRing::new(page.clone());
        for f in [
            Field::ReqCons,
            Field::ReqProd,
            Field::RspCons,
            Field::RspProd,
        ] {
            server.set_field(f, u32::MAX - 9);
        }
        let mut guest = StoreRing::new(page);
        let data: alloc::vec::Vec<u8> = (0..=255).cycle().take(1500).collect();
        assert_eq!(guest.write_request(&data), Ok(1024));
        assert_eq!(guest.write_request(&data), Ok(0));
        let mut buf = [0u8; 2000];
        assert_eq!(server.read_request(&mut buf), Ok(1024));
        assert_eq!(&buf[..1024], &data[..1024]);
        assert_eq!(server.field(Field::ReqCons), 1014);

        assert_eq!(server.write_response(&data[..700]), Ok(700));
        assert_eq!(guest.read_response(&mut buf[..300]), Ok(300));
        assert_eq!(guest.read_response(&mut buf[300..]), Ok(400));
        assert_eq!(&buf[..700], &data[..700]);
    }

    #[test]
    fn hostile_indices_rejected() {
        let page = HeapPage::new();
        let mut server = ServerRing::new(page.clone());
        let mut guest = StoreRing::new(page);
        server.set_field(Field::RspProd, 1025);
        let err = RingOverflow {
            used: 1025,
            size: 1024,
        };
        assert_eq!(guest.read_response(&mut [0; 8]), Err(err));
        server.set_field(Field::ReqCons, 5);
        assert!(guest.write_request(b"x").is_err());
        assert_eq!(guest.server_error(), None);
        server.set_field(Field::Error, 2);
        assert_eq!(guest.server_error(), None);
        server.set_field(Field::ServerFeatures, FEATURE_ERROR);
        assert_eq!(guest.server_error(), Some(2));
    }

    /// Both ends on real threads: the fences and atomics must deliver an
    /// unbroken byte stream in both directions.
    #[test]
    fn concurrent_stream_is_intact() {
        extern crate std;
        const N: usize = 200_000;
        let page = HeapPage::new();
        let mut server = ServerRing::new(page.clone());
        let echo = std::thread::spawn(move || {
            let (mut buf, mut moved) = ([0u8; 97], 0);
            while moved < N {
                let n = server.read_request(&mut buf).unwrap();
                let mut off = 0;
                while off < n {
                    off += server.write_response(&buf[off..n]).unwrap();
                }
                moved += n;
            }
        });
        let mut guest = StoreRing::new(page);
        let data: alloc::vec::Vec<u8> = (0..N).map(|i| (i * 7 % 251) as u8).collect();
        let (mut sent, mut got) = (0, alloc::vec::Vec::with_capacity(N));
        let mut buf = [0u8; 61];
        while got.len() < N {
            sent += guest
                .write_request(&data[sent..(sent + 333).min(N)])
                .unwrap();
            let n = guest.read_response(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        echo.join().unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn raw_page_rejects_bad_pointers() {
        // SAFETY: null and misaligned pointers are rejected before any use.
        unsafe {
            assert!(StoreRing::from_raw(core::ptr::null_mut()).is_none());
            assert!(StoreRing::from_raw(8 as *mut u8).is_none());
        }
    }
}
