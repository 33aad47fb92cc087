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

use crate::layout::{Direction, RingPages, MAX_PAGES_PER_DIR, PAGE_SIZE};

/// Where a wire's shared pages are mapped in this domain.
///
/// # Safety
///
/// An implementation promises, for as long as the value lives:
/// * `control()` points to `PAGE_SIZE` bytes, aligned to at least 64, valid
///   for reads and writes;
/// * `pages_per_dir()` returns the same value every time, and for every
///   `i < pages_per_dir()`, `data_page(dir, i)` returns the same pointer
///   every time, to `PAGE_SIZE` bytes aligned to at least 8, valid for reads
///   and writes;
/// * none of these pages overlap, and nothing else in this domain forms a
///   Rust reference to them (the peer domain may write them at any time).
pub unsafe trait WireMemory {
    /// The control page.
    fn control(&self) -> NonNull<u8>;
    /// Data page `i` (`0..pages_per_dir()`) of direction `dir`.
    fn data_page(&self, dir: Direction, i: usize) -> NonNull<u8>;
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
    fn new() -> Box<Page> {
        Box::new(Page(UnsafeCell::new([0; PAGE_SIZE])))
    }

    fn ptr(&self) -> NonNull<u8> {
        NonNull::from(&self.0).cast::<u8>()
    }
}

struct HeapPages {
    control: Box<Page>,
    data: [Vec<Box<Page>>; 2],
}

/// Pages on the heap, shared by cloning: one clone per side, e.g. one per
/// thread in tests. Each page is its own allocation, so the data of one
/// direction is not contiguous, as with granted pages.
#[derive(Clone)]
pub struct HeapMemory(Arc<HeapPages>);

impl HeapMemory {
    /// A zeroed control page and `2 * pages` data pages.
    pub fn new(pages: RingPages) -> HeapMemory {
        let k = pages.get() as usize;
        let mut data = [Vec::with_capacity(k), Vec::with_capacity(k)];
        for _ in 0..k {
            for dir in &mut data {
                dir.push(Page::new());
            }
        }
        HeapMemory(Arc::new(HeapPages {
            control: Page::new(),
            data,
        }))
    }
}

// SAFETY: every page is a separate live, 4096-aligned allocation owned by the
// `Arc`, never referenced except through these pointers, and the vectors are
// never resized after `new`.
unsafe impl WireMemory for HeapMemory {
    fn control(&self) -> NonNull<u8> {
        self.0.control.ptr()
    }

    fn data_page(&self, dir: Direction, i: usize) -> NonNull<u8> {
        self.0.data[dir as usize][i].ptr()
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
    /// The two directions were given different page counts.
    #[error("directions have {a_to_b} and {b_to_a} pages")]
    Unequal {
        /// Pages given for a→b.
        a_to_b: usize,
        /// Pages given for b→a.
        b_to_a: usize,
    },
    /// A page pointer is not aligned as [`WireMemory`] requires.
    #[error("a shared page is misaligned")]
    Misaligned,
}

/// Pages the domain has mapped (acceptor) or allocated and granted (offerer),
/// described by their addresses in this domain.
pub struct RawMemory {
    control: NonNull<u8>,
    data: [heapless::Vec<NonNull<u8>, { MAX_PAGES_PER_DIR as usize }>; 2],
}

impl RawMemory {
    /// Describes pages at these addresses; `a_to_b[i]` is data page `i` of
    /// the a→b ring (grant `data-ref-<i>`), `b_to_a[i]` of the b→a ring
    /// (grant `data-ref-<K+i>`).
    ///
    /// # Safety
    ///
    /// Every pointer must satisfy the [`WireMemory`] contract (mapped, page
    /// sized, writable, not overlapping, not referenced elsewhere) until the
    /// returned value and every `WireEnd` built on it are dropped; the
    /// acceptor must not unmap the grants before then.
    pub unsafe fn new(
        control: NonNull<u8>,
        a_to_b: &[NonNull<u8>],
        b_to_a: &[NonNull<u8>],
    ) -> Result<RawMemory, GeometryError> {
        if a_to_b.len() != b_to_a.len() {
            return Err(GeometryError::Unequal {
                a_to_b: a_to_b.len(),
                b_to_a: b_to_a.len(),
            });
        }
        let k = a_to_b.len();
        if u32::try_from(k).ok().and_then(RingPages::new).is_none() {
            return Err(GeometryError::PagesPerDir(k));
        }
        let aligned = |p: &NonNull<u8>| (p.as_ptr() as usize).is_multiple_of(PAGE_SIZE);
        if !aligned(&control) || !a_to_b.iter().chain(b_to_a).all(aligned) {
            return Err(GeometryError::Misaligned);
        }
        let mut data = [heapless::Vec::new(), heapless::Vec::new()];
        for (dst, src) in data.iter_mut().zip([a_to_b, b_to_a]) {
            dst.extend_from_slice(src)
                .map_err(|()| GeometryError::PagesPerDir(k))?;
        }
        Ok(RawMemory { control, data })
    }
}

// SAFETY: `RawMemory::new`'s caller promised the contract for every pointer;
// the pointers are stored unchanged and never handed out for other uses.
unsafe impl WireMemory for RawMemory {
    fn control(&self) -> NonNull<u8> {
        self.control
    }

    fn data_page(&self, dir: Direction, i: usize) -> NonNull<u8> {
        self.data[dir as usize][i]
    }

    fn pages_per_dir(&self) -> usize {
        self.data[0].len()
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

/// Calls `f(page pointer, bytes)` for each page-bounded piece of
/// `len` bytes starting at ring byte offset `pos` (which, with `len`, stays
/// inside the ring: the caller splits at the ring end).
fn for_each_piece<M: WireMemory>(
    mem: &M,
    dir: Direction,
    mut pos: usize,
    len: usize,
    mut f: impl FnMut(*mut u8, core::ops::Range<usize>),
) {
    let mut done = 0;
    while done < len {
        let page = pos / PAGE_SIZE;
        let at = pos % PAGE_SIZE;
        let n = (PAGE_SIZE - at).min(len - done);
        assert!(
            page < mem.pages_per_dir(),
            "ring offset beyond the data area"
        );
        // SAFETY: `page < pages_per_dir()` and `at < PAGE_SIZE`, so the
        // pointer stays inside data page `page` (WireMemory contract).
        let p = unsafe { mem.data_page(dir, page).as_ptr().add(at) };
        f(p, done..done + n);
        done += n;
        pos += n;
    }
}

/// Copies ring bytes `pos..pos + dst.len()` of `dir` into private memory.
pub(crate) fn read_data<M: WireMemory>(mem: &M, dir: Direction, pos: usize, dst: &mut [u8]) {
    for_each_piece(mem, dir, pos, dst.len(), |src, range| {
        // SAFETY: `src` is valid for `range.len()` bytes inside one shared
        // page (for_each_piece) and `dst[range]` is private memory.
        unsafe { copy_from_shared(src, &mut dst[range]) }
    });
}

/// Copies `src` into ring bytes `pos..pos + src.len()` of `dir`.
pub(crate) fn write_data<M: WireMemory>(mem: &M, dir: Direction, pos: usize, src: &[u8]) {
    for_each_piece(mem, dir, pos, src.len(), |dst, range| {
        // SAFETY: `dst` is valid for `range.len()` bytes inside one shared
        // page (for_each_piece) and `src[range]` is private memory.
        unsafe { copy_to_shared(&src[range], dst) }
    });
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
    fn pieces_cross_pages_and_roundtrip() {
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
    fn heap_pages_are_separate_and_aligned() {
        let mem = HeapMemory::new(RingPages::new(2).unwrap());
        let a = mem.data_page(Direction::AtoB, 0).as_ptr() as usize;
        let b = mem.data_page(Direction::AtoB, 1).as_ptr() as usize;
        assert_eq!(a % PAGE_SIZE, 0);
        assert_ne!(a + PAGE_SIZE, b);
        assert_eq!(mem.pages_per_dir(), 2);
    }

    #[test]
    fn raw_memory_checks_geometry() {
        let mem = HeapMemory::new(RingPages::new(2).unwrap());
        let c = mem.control();
        let p = |d, i| mem.data_page(d, i);
        let ab = [p(Direction::AtoB, 0), p(Direction::AtoB, 1)];
        let ba = [p(Direction::BtoA, 0), p(Direction::BtoA, 1)];
        // SAFETY: the pointers come from `mem`, which outlives `raw`.
        let raw = unsafe { RawMemory::new(c, &ab, &ba) }.unwrap();
        assert_eq!(raw.data_page(Direction::BtoA, 1), ba[1]);
        // SAFETY: as above; these calls fail before storing anything.
        unsafe {
            assert!(matches!(
                RawMemory::new(c, &ab, &ba[..1]),
                Err(GeometryError::Unequal { .. })
            ));
            assert_eq!(
                RawMemory::new(c, &[ab[0]; 3], &[ba[0]; 3]).err(),
                Some(GeometryError::PagesPerDir(3))
            );
            let odd = NonNull::new(c.as_ptr().add(1)).unwrap();
            assert_eq!(
                RawMemory::new(odd, &ab, &ba).err(),
                Some(GeometryError::Misaligned)
            );
        }
    }
}
