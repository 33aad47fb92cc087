//! The memory seam: where the control page and the data pages are, and the
//! only code that touches them.
//!
//! The peer writes these pages while we run, so nothing here ever forms a
//! Rust reference to them. Index words are accessed as `AtomicU32` through
//! [`AtomicU32::from_ptr`] with `Relaxed` ordering plus explicit fences: on
//! x86 that is the same single `mov` as Linux's `READ_ONCE`/`WRITE_ONCE`, and
//! unlike a volatile access it lets the host tests share a page between
//! threads without a data race in Rust's memory model. Data bytes are copied
//! with volatile accesses, into or out of private memory only, so a value is
//! read from shared memory exactly once (no double fetch).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::layout::{Direction, RingPages, PAGE_SIZE};

/// Where a wire's shared pages are mapped in this domain.
///
/// Each direction's K data pages are mapped *contiguously* (the domain maps
/// granted pages, or aliases its own, side by side in its address space), so
/// every record, which never wraps, is one contiguous run of bytes: a NIC
/// driver, a receive coalescer or a checksum routine can work on it in place.
///
/// # Safety
///
/// An implementation promises, for as long as the value lives:
/// * `control()` points to `PAGE_SIZE` bytes, aligned to at least 64, valid
///   for reads and writes;
/// * `pages_per_dir()` returns the same value every time, and for each
///   direction `data(dir)` returns the same pointer every time, to
///   `pages_per_dir() * PAGE_SIZE` bytes aligned to `PAGE_SIZE`, valid for
///   reads (and for writes by the side that produces into `dir`);
/// * none of these areas overlap, and nothing else in this domain forms a
///   Rust reference to them (the peer domain may write them at any time,
///   unless the producer's pages are granted to it read-only, which lets the
///   producer lend out its unpublished bytes: [`Producer::body_mut`](crate::Producer::body_mut)).
pub unsafe trait WireMemory {
    /// The control page.
    fn control(&self) -> NonNull<u8>;
    /// The data area of direction `dir`: K contiguous pages.
    fn data(&self, dir: Direction) -> NonNull<u8>;
    /// K, as mapped.
    fn pages_per_dir(&self) -> usize;
}

/// A `PAGE_SIZE` block the peer may write at any time.
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: a `Page` is only reached through raw pointers handed out by
// `HeapMemory`, and the wire protocol orders every access to it with atomics
// and fences (see the module doc), exactly as for memory shared with a peer
// domain.
unsafe impl Sync for Page {}

impl Page {
    fn zeroed() -> Page {
        Page(UnsafeCell::new([0; PAGE_SIZE]))
    }
}

struct HeapPages {
    control: Box<Page>,
    /// K pages per direction, one allocation each (contiguous).
    data: [Box<[Page]>; 2],
}

/// Pages on the heap, shared by cloning: one clone per side, e.g. one per
/// thread in tests.
#[derive(Clone)]
pub struct HeapMemory(Arc<HeapPages>);

impl HeapMemory {
    /// A zeroed control page and `2 * pages` data pages.
    pub fn new(pages: RingPages) -> HeapMemory {
        let k = pages.get() as usize;
        let dir = || {
            (0..k)
                .map(|_| Page::zeroed())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        };
        HeapMemory(Arc::new(HeapPages {
            control: Box::new(Page::zeroed()),
            data: [dir(), dir()],
        }))
    }
}

// SAFETY: every area is a live, 4096-aligned allocation owned by the `Arc`
// (a direction's pages are one boxed slice), never referenced except through
// these pointers, and never resized after `new`.
unsafe impl WireMemory for HeapMemory {
    fn control(&self) -> NonNull<u8> {
        NonNull::from(&self.0.control.0).cast::<u8>()
    }

    fn data(&self, dir: Direction) -> NonNull<u8> {
        NonNull::from(&*self.0.data[dir as usize]).cast::<u8>()
    }

    fn pages_per_dir(&self) -> usize {
        self.0.data[0].len()
    }
}

/// A geometry the memory seam cannot describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    /// K is not a power of two in `1..=MAX_PAGES_PER_DIR`.
    #[error("{0} data pages per direction is not a power of two in 1..=64")]
    PagesPerDir(usize),
    /// A pointer is not page-aligned.
    #[error("a shared area is not page-aligned")]
    Misaligned,
}

/// Pages the domain has mapped (acceptor) or allocated and granted (offerer),
/// described by their addresses in this domain.
pub struct RawMemory {
    control: NonNull<u8>,
    data: [NonNull<u8>; 2],
    pages: RingPages,
}

impl RawMemory {
    /// Describes a control page and each direction's `k` data pages, mapped
    /// contiguously from `a_to_b` (the first K grants of `data-refs`) and `b_to_a`
    /// (the last K).
    ///
    /// # Safety
    ///
    /// Every pointer must satisfy the [`WireMemory`] contract (mapped, sized,
    /// not overlapping, not referenced elsewhere) until the returned value and
    /// every `WireEnd` built on it are dropped; the acceptor must not unmap the
    /// grants before then.
    pub unsafe fn new(
        control: NonNull<u8>,
        a_to_b: NonNull<u8>,
        b_to_a: NonNull<u8>,
        k: usize,
    ) -> Result<RawMemory, GeometryError> {
        let pages = u32::try_from(k)
            .ok()
            .and_then(RingPages::new)
            .ok_or(GeometryError::PagesPerDir(k))?;
        let aligned = |p: &NonNull<u8>| (p.as_ptr() as usize).is_multiple_of(PAGE_SIZE);
        if ![control, a_to_b, b_to_a].iter().all(aligned) {
            return Err(GeometryError::Misaligned);
        }
        Ok(RawMemory {
            control,
            data: [a_to_b, b_to_a],
            pages,
        })
    }
}

// SAFETY: `RawMemory::new`'s caller promised the contract for every pointer;
// the pointers are stored unchanged and never handed out for other uses.
unsafe impl WireMemory for RawMemory {
    fn control(&self) -> NonNull<u8> {
        self.control
    }

    fn data(&self, dir: Direction) -> NonNull<u8> {
        self.data[dir as usize]
    }

    fn pages_per_dir(&self) -> usize {
        self.pages.get() as usize
    }
}

/// The control word at byte offset `off` (a layout constant).
pub(crate) fn word<M: WireMemory>(mem: &M, off: usize) -> &AtomicU32 {
    debug_assert!(off.is_multiple_of(4) && off + 4 <= PAGE_SIZE);
    // SAFETY: `off` is one of the 4-aligned layout offsets inside the page,
    // the page is valid and 64-aligned for the life of `mem` (WireMemory
    // contract), and every access to control words goes through atomics.
    unsafe { AtomicU32::from_ptr(mem.control().as_ptr().add(off).cast::<u32>()) }
}

pub(crate) fn load<M: WireMemory>(mem: &M, off: usize) -> u32 {
    word(mem, off).load(Ordering::Relaxed)
}

pub(crate) fn store<M: WireMemory>(mem: &M, off: usize, v: u32) {
    word(mem, off).store(v, Ordering::Relaxed)
}

/// A pointer to byte `pos` of direction `dir`'s data area, valid for `len`
/// bytes (checked: the caller's range lies inside the area).
fn at<M: WireMemory>(mem: &M, dir: Direction, pos: usize, len: usize) -> *mut u8 {
    let size = mem.pages_per_dir() * PAGE_SIZE;
    assert!(
        pos.checked_add(len).is_some_and(|end| end <= size),
        "ring range beyond the data area"
    );
    // SAFETY: `pos + len <= size`, so the pointer stays inside the area
    // (WireMemory contract).
    unsafe { mem.data(dir).as_ptr().add(pos) }
}

/// A pointer to ring bytes `pos..pos + len` of `dir` (checked), not read.
pub(crate) fn data_ptr<M: WireMemory>(
    mem: &M,
    dir: Direction,
    pos: usize,
    len: usize,
) -> core::ptr::NonNull<u8> {
    let p = at(mem, dir, pos, len);
    // SAFETY: `at` offsets the area's non-null base within the area.
    unsafe { core::ptr::NonNull::new_unchecked(p) }
}

/// Copies ring bytes `pos..pos + dst.len()` of `dir` into private memory.
pub(crate) fn read_data<M: WireMemory>(mem: &M, dir: Direction, pos: usize, dst: &mut [u8]) {
    let src = at(mem, dir, pos, dst.len());
    // SAFETY: `src` is valid for `dst.len()` bytes (`at`), `dst` is private.
    unsafe { copy_from_shared(src, dst) }
}

/// Copies `src` into ring bytes `pos..pos + src.len()` of `dir`.
pub(crate) fn write_data<M: WireMemory>(mem: &M, dir: Direction, pos: usize, src: &[u8]) {
    let dst = at(mem, dir, pos, src.len());
    // SAFETY: `dst` is valid for `src.len()` bytes (`at`), `src` is private.
    unsafe { copy_to_shared(src, dst) }
}

/// Ring bytes `pos..pos + len` of `dir` as a mutable slice.
///
/// # Safety
/// The peer cannot write these bytes (this side produces into `dir` and
/// granted its pages read-only), nothing else reads or writes them while the
/// slice lives, and the producer has not yet published them.
#[allow(clippy::mut_from_ref)] // exclusivity is the documented contract
pub(crate) unsafe fn data_mut<M: WireMemory>(
    mem: &M,
    dir: Direction,
    pos: usize,
    len: usize,
) -> &mut [u8] {
    let p = at(mem, dir, pos, len);
    // SAFETY: in bounds (`at`); exclusivity is the caller's contract.
    unsafe { core::slice::from_raw_parts_mut(p, len) }
}

/// Volatile copy out of shared memory, 8 bytes at a time where the shared
/// side is aligned (`core` has no stable volatile memcpy).
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes.
unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8]) {
    let head = src.align_offset(8).min(dst.len());
    let (first, rest) = dst.split_at_mut(head);
    for (i, b) in first.iter_mut().enumerate() {
        // SAFETY: `i < dst.len()`, inside the caller's range.
        *b = unsafe { src.add(i).read_volatile() };
    }
    // SAFETY: `head <= dst.len()`.
    let src = unsafe { src.add(head) };
    let mut chunks = rest.chunks_exact_mut(8);
    let mut off = 0;
    for c in &mut chunks {
        // SAFETY: `src + off` is 8-aligned and 8 bytes of the caller's range.
        let v = unsafe { src.add(off).cast::<u64>().read_volatile() };
        c.copy_from_slice(&v.to_ne_bytes());
        off += 8;
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        // SAFETY: inside the caller's range.
        *b = unsafe { src.add(off + i).read_volatile() };
    }
}

/// Volatile copy into shared memory; see [`copy_from_shared`].
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes.
unsafe fn copy_to_shared(src: &[u8], dst: *mut u8) {
    let head = dst.align_offset(8).min(src.len());
    let (first, rest) = src.split_at(head);
    for (i, &b) in first.iter().enumerate() {
        // SAFETY: `i < src.len()`, inside the caller's range.
        unsafe { dst.add(i).write_volatile(b) };
    }
    // SAFETY: `head <= src.len()`.
    let dst = unsafe { dst.add(head) };
    let mut chunks = rest.chunks_exact(8);
    let mut off = 0;
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // SAFETY: `dst + off` is 8-aligned and 8 bytes of the caller's range.
        unsafe { dst.add(off).cast::<u64>().write_volatile(v) };
        off += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        // SAFETY: inside the caller's range.
        unsafe { dst.add(off + i).write_volatile(b) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_roundtrip_at_any_alignment() {
        let k = RingPages::new(4).unwrap();
        let mem = HeapMemory::new(k);
        let src: Vec<u8> = (0..9000u32).map(|i| (i * 7 + 3) as u8).collect();
        for pos in [0, 1, 4093, 4096, 7, 16384 - 9000] {
            write_data(&mem, Direction::BtoA, pos, &src);
            let mut dst = std::vec![0u8; src.len()];
            read_data(&mem, Direction::BtoA, pos, &mut dst);
            assert_eq!(dst, src, "pos {pos}");
        }
        let mut other = [0u8; 64];
        read_data(&mem, Direction::AtoB, 0, &mut other);
        assert_eq!(other, [0; 64]);
    }

    #[test]
    #[should_panic(expected = "beyond the data area")]
    fn a_range_past_the_area_is_caught() {
        let mem = HeapMemory::new(RingPages::new(1).unwrap());
        let mut dst = [0u8; 8];
        read_data(&mem, Direction::AtoB, PAGE_SIZE - 4, &mut dst);
    }

    #[test]
    fn heap_directions_are_contiguous_and_aligned() {
        let mem = HeapMemory::new(RingPages::new(2).unwrap());
        let a = mem.data(Direction::AtoB).as_ptr() as usize;
        let b = mem.data(Direction::BtoA).as_ptr() as usize;
        assert_eq!(a % PAGE_SIZE, 0);
        assert_eq!(b % PAGE_SIZE, 0);
        assert!(a + 2 * PAGE_SIZE <= b || b + 2 * PAGE_SIZE <= a);
        assert_eq!(mem.pages_per_dir(), 2);
    }

    #[test]
    fn raw_memory_checks_geometry() {
        let mem = HeapMemory::new(RingPages::new(2).unwrap());
        let c = mem.control();
        let (ab, ba) = (mem.data(Direction::AtoB), mem.data(Direction::BtoA));
        // SAFETY: the pointers come from `mem`, which outlives `raw`.
        let raw = unsafe { RawMemory::new(c, ab, ba, 2) }.unwrap();
        assert_eq!(raw.data(Direction::BtoA), ba);
        assert_eq!(raw.pages_per_dir(), 2);
        // SAFETY: as above; these calls fail before storing anything.
        unsafe {
            assert_eq!(
                RawMemory::new(c, ab, ba, 3).err(),
                Some(GeometryError::PagesPerDir(3))
            );
            let odd = NonNull::new(c.as_ptr().add(1)).unwrap();
            assert_eq!(
                RawMemory::new(odd, ab, ba, 2).err(),
                Some(GeometryError::Misaligned)
            );
        }
    }
}
