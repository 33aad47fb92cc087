//! A capture ring: frames a domain copies (truncated to a snap length) into
//! pages it grants read-only to dom0, where `banana capture` reads them and
//! writes a pcap. There is no Linux vif to `tcpdump` on in a driver domain;
//! this is the tap instead (docs/capture.md).
//!
//! The reader cannot write, so it can never slow the writer down: the ring
//! overwrites its oldest bytes, and the reader notices when it fell behind
//! or when a record it copied may have been overwritten while it copied
//! (then it drops that copy and counts it, the read side of a seqlock on a
//! byte ring). Everything the reader takes from the pages is hostile input
//! (the domain may be compromised): every length is checked.
//!
//! # Layout
//!
//! Page 0 is the header, eight little-endian `u64` words:
//!
//! ```text
//! 0 magic "BNCAPRNG"     4 wall-clock base: Unix ns at Xen system time 0
//! 1 version (1)          5 snap length (bytes of a frame kept)
//! 2 data pages N         6 endpoint captured (the domain's own numbering)
//! 3 head: bytes written  7 records written
//! ```
//!
//! Pages 1..=N are one byte ring of `C = N * 4096` bytes; logical offset
//! `x` is at `x % C`. `head` only grows and is stored (Release) after the
//! record it ends. A record is 8-aligned and never wraps: one that does not
//! fit before the end of the ring is preceded by a pad word (`u64::MAX`)
//! that sends the reader to offset 0.
//!
//! ```text
//! word 0: captured length (bits 0-31) | original length (bits 32-63)
//! word 1: Xen system time, ns
//! word 2: direction (bit 0: 0 = from the endpoint, 1 = to it) | endpoint << 16
//! then the captured bytes, zero padded to a multiple of 8
//! ```

use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU64, Ordering};

use crate::abi::PAGE_SIZE;
use crate::shared_page::SharedPage;

#[cfg(target_os = "none")]
mod domain;
#[cfg(target_os = "none")]
pub use domain::{domain_capture, CaptureRingError, DomainCapture};

#[cfg(test)]
mod tests;

pub const MAGIC: u64 = u64::from_le_bytes(*b"BNCAPRNG");
pub const VERSION: u64 = 1;
/// Pages in a ring, the header included: one gntdev map request (32).
pub const PAGES: usize = 32;
/// The largest snap length: a jumbo frame. The reader must stay two
/// records behind the writer's head (below), so a larger one would leave
/// it little of the ring.
pub const MAX_SNAPLEN: u32 = 9_216;
/// The default snap length: an untagged 1500-byte frame with a tag.
pub const DEFAULT_SNAPLEN: u32 = 1_518;
const RECORD_HEADER: u64 = 24;
const PAD: u64 = u64::MAX;

const W_MAGIC: usize = 0;
const W_VERSION: usize = 1;
const W_DATA_PAGES: usize = 2;
const W_HEAD: usize = 3;
const W_WALL_BASE: usize = 4;
const W_SNAPLEN: usize = 5;
const W_ENDPOINT: usize = 6;
const W_RECORDS: usize = 7;

/// Which way a frame crossed the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the endpoint's peer into the domain.
    FromEndpoint,
    /// Delivered by the domain to the endpoint.
    ToEndpoint,
}

fn word<P: SharedPage>(page: &P, index: usize) -> &AtomicU64 {
    debug_assert!(index < PAGE_SIZE / 8);
    // SAFETY: `SharedPage` promises a page-aligned, page-sized mapping that
    // lives as long as `page` and is only accessed through atomics; the
    // index is inside the page (every caller computes it modulo the page).
    unsafe { AtomicU64::from_ptr(page.base().as_ptr().cast::<u64>().add(index)) }
}

/// The writing side, over the header page and `N` data pages.
pub struct CaptureWriter<P: SharedPage> {
    header: P,
    data: Vec<P>,
    capacity: u64,
    head: u64,
    records: u64,
    snaplen: u32,
    endpoint: u16,
}

impl<P: SharedPage> CaptureWriter<P> {
    /// Writes the header (nothing captured yet); `wall_base_ns` is the Unix
    /// time at Xen system time 0. `data` must not be empty.
    pub fn new(header: P, data: Vec<P>, wall_base_ns: u64) -> Self {
        assert!(!data.is_empty(), "a capture ring needs a data page");
        let capacity = (data.len() * PAGE_SIZE) as u64;
        let w = |i, v| word(&header, i).store(v, Ordering::Relaxed);
        w(W_VERSION, VERSION);
        w(W_DATA_PAGES, data.len() as u64);
        w(W_HEAD, 0);
        w(W_WALL_BASE, wall_base_ns);
        w(W_SNAPLEN, u64::from(DEFAULT_SNAPLEN));
        w(W_ENDPOINT, 0);
        w(W_RECORDS, 0);
        fence(Ordering::Release);
        w(W_MAGIC, MAGIC);
        Self {
            header,
            data,
            capacity,
            head: 0,
            records: 0,
            snaplen: DEFAULT_SNAPLEN,
            endpoint: 0,
        }
    }

    /// What is captured from now on: `endpoint`'s frames, `snaplen` bytes
    /// of each (clamped to 1..=[`MAX_SNAPLEN`], and so that a record takes
    /// at most a quarter of the ring: the reader needs two of slack).
    pub fn target(&mut self, endpoint: u16, snaplen: u32) {
        let ring_max = (self.capacity / 4).saturating_sub(RECORD_HEADER) as u32;
        self.endpoint = endpoint;
        self.snaplen = snaplen.clamp(1, MAX_SNAPLEN.min(ring_max).max(1));
        word(&self.header, W_ENDPOINT).store(u64::from(endpoint), Ordering::Relaxed);
        word(&self.header, W_SNAPLEN).store(u64::from(self.snaplen), Ordering::Relaxed);
    }

    pub fn endpoint(&self) -> u16 {
        self.endpoint
    }

    fn store(&self, offset: u64, value: u64) {
        let page = (offset / PAGE_SIZE as u64) as usize;
        let index = (offset % PAGE_SIZE as u64) as usize / 8;
        word(&self.data[page], index).store(value, Ordering::Relaxed);
    }

    /// Appends a frame (`first` then `rest`, as the data plane holds it),
    /// keeping at most the snap length; overwrites the oldest records.
    pub fn record(&mut self, dir: Direction, first: &[u8], rest: &[u8], now_ns: u64) {
        // The seqlock's writer side: a reader that sees any byte of this
        // record also sees the head published before it (its acquire fence
        // pairs with this one), so its overrun check covers this write.
        fence(Ordering::Release);
        let orig = first.len() + rest.len();
        let caplen = orig.min(self.snaplen as usize);
        let len = RECORD_HEADER + (caplen as u64).next_multiple_of(8);
        let mut at = self.head % self.capacity;
        if self.capacity - at < len {
            self.store(at, PAD);
            self.head += self.capacity - at;
            at = 0;
        }
        let orig32 = u32::try_from(orig).unwrap_or(u32::MAX);
        self.store(at, caplen as u64 | (u64::from(orig32) << 32));
        self.store(at + 8, now_ns);
        let dir_bit = u64::from(dir == Direction::ToEndpoint);
        self.store(at + 16, dir_bit | (u64::from(self.endpoint) << 16));
        let mut bytes = first.iter().chain(rest.iter()).take(caplen);
        let mut off = at + RECORD_HEADER;
        loop {
            let mut w = [0u8; 8];
            let mut n = 0;
            for (slot, b) in w.iter_mut().zip(&mut bytes) {
                *slot = *b;
                n += 1;
            }
            if n == 0 {
                break;
            }
            self.store(off, u64::from_le_bytes(w));
            off += 8;
        }
        self.head += len;
        self.records += 1;
        fence(Ordering::Release);
        word(&self.header, W_HEAD).store(self.head, Ordering::Relaxed);
        word(&self.header, W_RECORDS).store(self.records, Ordering::Relaxed);
    }
}

/// Read access to a ring's pages: word `word` of page `page`, an atomic
/// `Relaxed` load (dom0's gntdev mapping; the writer's pages in tests).
pub trait RingWords {
    fn pages(&self) -> usize;
    fn load(&self, page: usize, word: usize) -> u64;
}

/// Why a ring could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaptureReadError {
    #[error("not a capture ring (magic {0:#018x})")]
    Magic(u64),
    #[error("capture ring version {0}, this reader knows {VERSION}")]
    Version(u64),
    #[error("capture ring says {said} data pages, {mapped} pages are mapped")]
    Pages { said: u64, mapped: usize },
}

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// Unix time, ns (the ring's wall-clock base plus the record's time).
    pub unix_ns: u64,
    pub dir: Direction,
    pub endpoint: u16,
    /// The frame's length before the snap length cut it.
    pub orig_len: u32,
    pub bytes: Vec<u8>,
}

/// What [`CaptureReader::next`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Frame(Captured),
    /// Nothing new.
    Empty,
    /// The writer overwrote records before they were read (or while one
    /// was being copied), or wrote garbage: the reader skipped to the
    /// newest record boundary.
    Lost,
}

/// The reading side: where it is in the ring, what it lost.
#[derive(Debug)]
pub struct CaptureReader {
    tail: u64,
    capacity: u64,
    wall_base_ns: u64,
    /// Times [`Next::Lost`] was returned.
    pub lost: u64,
}

impl CaptureReader {
    /// Checks the header and starts at the current head: only frames
    /// recorded from now on are read.
    pub fn open(m: &(impl RingWords + ?Sized)) -> Result<Self, CaptureReadError> {
        let magic = m.load(0, W_MAGIC);
        if magic != MAGIC {
            return Err(CaptureReadError::Magic(magic));
        }
        fence(Ordering::Acquire);
        let version = m.load(0, W_VERSION);
        if version != VERSION {
            return Err(CaptureReadError::Version(version));
        }
        let said = m.load(0, W_DATA_PAGES);
        let mapped = m.pages();
        if said == 0 || said + 1 != mapped as u64 {
            return Err(CaptureReadError::Pages { said, mapped });
        }
        Ok(Self {
            tail: m.load(0, W_HEAD),
            capacity: said * PAGE_SIZE as u64,
            wall_base_ns: m.load(0, W_WALL_BASE),
            lost: 0,
        })
    }

    /// The endpoint and snap length the header names now.
    pub fn target(m: &(impl RingWords + ?Sized)) -> (u64, u64) {
        (m.load(0, W_ENDPOINT), m.load(0, W_SNAPLEN))
    }

    fn head(m: &(impl RingWords + ?Sized)) -> u64 {
        let h = m.load(0, W_HEAD);
        fence(Ordering::Acquire);
        h
    }

    fn load(&self, m: &(impl RingWords + ?Sized), offset: u64) -> u64 {
        let page = 1 + (offset / PAGE_SIZE as u64) as usize;
        m.load(page, (offset % PAGE_SIZE as u64) as usize / 8)
    }

    /// Skips to the newest record boundary and says so.
    fn lose(&mut self, head: u64) -> Next {
        self.tail = head;
        self.lost += 1;
        Next::Lost
    }

    /// Whether what lies at `tail` may have been overwritten, given the
    /// writer's `head`: while it writes its next record it may skip up to a
    /// record's length (the pad before a wrap) and then write a record, so
    /// bytes within two records of `head - C` are not safe.
    fn overrun(&self, m: &(impl RingWords + ?Sized), head: u64) -> bool {
        let snaplen = m.load(0, W_SNAPLEN).min(u64::from(MAX_SNAPLEN));
        let record = RECORD_HEADER + snaplen.next_multiple_of(8);
        head < self.tail || head - self.tail > self.capacity.saturating_sub(2 * record)
    }

    /// The next frame, if any.
    pub fn next(&mut self, m: &(impl RingWords + ?Sized)) -> Next {
        loop {
            let head = Self::head(m);
            if head == self.tail {
                return Next::Empty;
            }
            if self.overrun(m, head) {
                return self.lose(head);
            }
            let at = self.tail % self.capacity;
            let w0 = self.load(m, at);
            if w0 == PAD {
                self.tail += self.capacity - at;
                continue;
            }
            let caplen = w0 & 0xFFFF_FFFF;
            let orig = w0 >> 32;
            let len = RECORD_HEADER + caplen.next_multiple_of(8);
            let sane = caplen <= u64::from(MAX_SNAPLEN)
                && orig >= caplen
                && at + len <= self.capacity
                && self.tail + len <= head;
            if !sane {
                return self.lose(head);
            }
            let ts = self.load(m, at + 8);
            let w2 = self.load(m, at + 16);
            let mut bytes = Vec::with_capacity(caplen.next_multiple_of(8) as usize);
            let mut off = at + RECORD_HEADER;
            while (bytes.len() as u64) < caplen {
                bytes.extend_from_slice(&self.load(m, off).to_le_bytes());
                off += 8;
            }
            bytes.truncate(caplen as usize);
            // The copy is good only if the writer did not reach it meanwhile.
            fence(Ordering::Acquire);
            let after = Self::head(m);
            if self.overrun(m, after) {
                return self.lose(after);
            }
            self.tail += len;
            return Next::Frame(Captured {
                unix_ns: self.wall_base_ns.wrapping_add(ts),
                dir: if w2 & 1 == 1 {
                    Direction::ToEndpoint
                } else {
                    Direction::FromEndpoint
                },
                endpoint: (w2 >> 16) as u16,
                orig_len: orig as u32,
                bytes,
            });
        }
    }
}

/// Reads a writer's own pages (tests, and a domain checking itself).
impl<P: SharedPage> RingWords for CaptureWriter<P> {
    fn pages(&self) -> usize {
        1 + self.data.len()
    }
    fn load(&self, page: usize, index: usize) -> u64 {
        let p = if page == 0 {
            &self.header
        } else {
            &self.data[page - 1]
        };
        word(p, index % (PAGE_SIZE / 8)).load(Ordering::Relaxed)
    }
}

/// Reads pages the caller holds, header first (a domain reading its own
/// ring; tests over heap pages).
impl<P: SharedPage> RingWords for [P] {
    fn pages(&self) -> usize {
        self.len()
    }
    fn load(&self, page: usize, index: usize) -> u64 {
        word(&self[page], index % (PAGE_SIZE / 8)).load(Ordering::Relaxed)
    }
}
