//! The reader: a consistent copy of the pages (the seqlock's read side), then
//! validation of that copy. The pages come from another domain: [`parse`]
//! accepts any bytes and either returns a well-formed [`Snapshot`] or says
//! what is wrong; it never panics.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU64, Ordering};

use super::{
    entry_offset, offset, ENTRIES_PER_PAGE, ENTRY_LEN, MAGIC, MAX_PAGES, NAME_LEN, VERSION, WORDS,
};
use crate::abi::PAGE_SIZE;
use crate::shared_page::SharedPage;

/// One counter as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    pub name: String,
    pub value: u64,
}

/// A validated table: every counter of every page, in slot order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Page 0's sequence word when the copy was taken (even).
    pub seq: u64,
    /// Pages in the set.
    pub pages: usize,
    pub counters: Vec<Counter>,
}

/// Why pages could not be read. `page`/`entry` are indices in the set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("{0} pages: a counter table has 1 to {MAX_PAGES}")]
    PageCount(usize),
    #[error("{0} bytes is not a whole number of 4096-byte pages")]
    ImageSize(usize),
    #[error("page {page} is not 8-byte aligned")]
    Misaligned { page: usize },
    #[error("no consistent copy in {tries} tries (seq {seq}): the domain keeps changing names, or died in the middle of a change")]
    Unstable { tries: usize, seq: u64 },
    #[error("seq {0} is odd: copied in the middle of a name change")]
    Changing(u64),
    #[error("page {page}: bad magic {found:#010x} (not a counter page)")]
    BadMagic { page: usize, found: u32 },
    #[error("page {page}: layout version {found}, this reader knows {VERSION}")]
    Version { page: usize, found: u32 },
    #[error("page {page}: {field} is {found}, layout {VERSION} has {expected}")]
    Layout {
        page: usize,
        field: &'static str,
        found: u32,
        expected: u32,
    },
    #[error(
        "page {page}: header says page {index} of {pages}, but it is page {page} of {expected}"
    )]
    PageIndex {
        page: usize,
        index: u32,
        pages: u32,
        expected: usize,
    },
    #[error("page {page}: {used} entries in use, a page has {ENTRIES_PER_PAGE}")]
    Used { page: usize, used: u32 },
    #[error("page {page} entry {entry}: name is not printable ASCII followed by NUL padding")]
    BadName { page: usize, entry: usize },
    #[error("counter {0:?} appears twice")]
    Duplicate(String),
}

/// The seqlock read over any word source: `load(page, word)` must return
/// word `word` (0..512) of page `page` with an aligned 8-byte `Relaxed`
/// atomic load. The fences are here, between the loads. Retries up to
/// `tries` times while a name change is under way; the result is the raw
/// image (`pages` × 4096 bytes), still to be [`parse`]d.
pub fn copy_with(
    pages: usize,
    tries: usize,
    mut load: impl FnMut(usize, usize) -> u64,
) -> Result<Vec<u8>, ReadError> {
    if pages == 0 || pages > MAX_PAGES {
        return Err(ReadError::PageCount(pages));
    }
    let seq_word = offset::SEQ / 8;
    let mut image = vec![0u8; pages * PAGE_SIZE];
    let mut seq = 0;
    for _ in 0..tries {
        let s1 = load(0, seq_word);
        // Pairs with the writer's fence before its even seq store: if s1 is
        // that even value, every store of the change is visible below.
        fence(Ordering::Acquire);
        seq = s1;
        if !s1.is_multiple_of(2) {
            core::hint::spin_loop();
            continue;
        }
        for (i, chunk) in image.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&load(i / WORDS, i % WORDS).to_le_bytes());
        }
        // Pairs with the writer's fence after its odd seq store: if any word
        // above came from a later change, s2 sees that change's odd seq.
        fence(Ordering::Acquire);
        let s2 = load(0, seq_word);
        if s1 == s2 {
            return Ok(image);
        }
        seq = s2;
        core::hint::spin_loop();
    }
    Err(ReadError::Unstable { tries, seq })
}

/// [`copy_with`] over mapped pages.
///
/// # Safety
/// Each pointer is valid for reads of 4096 bytes for the whole call (the
/// mapping stays in place; it may be read-only), and the memory is written
/// only with aligned 8-byte atomic stores (by [`super::CounterTable`] in the
/// domain that owns it). Only `Relaxed` 8-byte atomic loads are made, which
/// Rust permits on read-only memory.
pub unsafe fn copy_consistent(pages: &[*const u8], tries: usize) -> Result<Vec<u8>, ReadError> {
    if let Some(page) = pages.iter().position(|p| !(*p as usize).is_multiple_of(8)) {
        return Err(ReadError::Misaligned { page });
    }
    copy_with(pages.len(), tries, |p, w| {
        // SAFETY: `w` < 512, so the 8-byte word is inside page `p`, which is
        // 8-aligned and readable per this function's contract; the page is
        // only written atomically and we only load atomically (Relaxed).
        unsafe { AtomicU64::from_ptr(pages[p].add(w * 8).cast_mut().cast()) }
            .load(Ordering::Relaxed)
    })
}

/// A consistent copy (not yet [`parse`]d) of pages this process can reach as
/// [`SharedPage`]s (host tests; a domain reading its own table).
pub fn copy_shared<P: SharedPage>(pages: &[P], tries: usize) -> Result<Vec<u8>, ReadError> {
    let ptrs: Vec<*const u8> = pages
        .iter()
        .map(|p| p.base().as_ptr().cast_const())
        .collect();
    // SAFETY: a `SharedPage` is valid for reads of a whole page for as long as
    // it lives (`pages` is borrowed for the call), and counter pages are only
    // written through atomics.
    unsafe { copy_consistent(&ptrs, tries) }
}

/// A consistent, validated snapshot of pages this process can reach as
/// [`SharedPage`]s (host tests; a domain reading its own table).
pub fn snapshot<P: SharedPage>(pages: &[P], tries: usize) -> Result<Snapshot, ReadError> {
    parse(&copy_shared(pages, tries)?)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Validates a copied image (a whole number of pages, in set order) and
/// returns its counters. Any layout other than exactly version 1 as written
/// by [`super::CounterTable`] is refused with the reason.
pub fn parse(image: &[u8]) -> Result<Snapshot, ReadError> {
    if image.is_empty() || !image.len().is_multiple_of(PAGE_SIZE) {
        return Err(ReadError::ImageSize(image.len()));
    }
    let pages = image.len() / PAGE_SIZE;
    if pages > MAX_PAGES {
        return Err(ReadError::PageCount(pages));
    }
    let mut counters = Vec::new();
    let mut seen = BTreeSet::new();
    for (page, p) in image.chunks_exact(PAGE_SIZE).enumerate() {
        let magic = u32_at(p, offset::MAGIC);
        if magic != MAGIC {
            return Err(ReadError::BadMagic { page, found: magic });
        }
        let version = u32_at(p, offset::VERSION);
        if version != VERSION {
            return Err(ReadError::Version {
                page,
                found: version,
            });
        }
        for (field, at, expected) in [
            ("capacity", offset::CAPACITY, ENTRIES_PER_PAGE),
            ("entry_len", offset::ENTRY_LEN, ENTRY_LEN),
            ("name_len", offset::NAME_LEN, NAME_LEN),
        ] {
            let found = u32_at(p, at);
            if found as usize != expected {
                return Err(ReadError::Layout {
                    page,
                    field,
                    found,
                    expected: expected as u32,
                });
            }
        }
        let (index, count) = (u32_at(p, offset::PAGE), u32_at(p, offset::PAGES));
        if index as usize != page || count as usize != pages {
            return Err(ReadError::PageIndex {
                page,
                index,
                pages: count,
                expected: pages,
            });
        }
        let used = u32_at(p, offset::USED);
        if used as usize > ENTRIES_PER_PAGE {
            return Err(ReadError::Used { page, used });
        }
        for entry in 0..used as usize {
            let at = entry_offset(entry);
            let raw = &p[at + offset::ENTRY_NAME..at + offset::ENTRY_NAME + NAME_LEN];
            let len = raw.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
            let (name, pad) = raw.split_at(len);
            if !name.iter().all(|b| (0x21..=0x7e).contains(b)) || pad.iter().any(|&b| b != 0) {
                return Err(ReadError::BadName { page, entry });
            }
            if name.is_empty() {
                continue;
            }
            let mut v = [0u8; 8];
            v.copy_from_slice(&p[at + offset::ENTRY_VALUE..at + offset::ENTRY_VALUE + 8]);
            // Checked above: printable ASCII is UTF-8.
            let name = String::from(core::str::from_utf8(name).unwrap_or_default());
            if !seen.insert(name.clone()) {
                return Err(ReadError::Duplicate(name));
            }
            counters.push(Counter {
                name,
                value: u64::from_le_bytes(v),
            });
        }
    }
    let seq = u64::from_le_bytes(
        image[offset::SEQ..offset::SEQ + 8]
            .try_into()
            .unwrap_or([0; 8]),
    );
    if !seq.is_multiple_of(2) {
        return Err(ReadError::Changing(seq));
    }
    Ok(Snapshot {
        seq,
        pages,
        counters,
    })
}
