//! A counter page: a domain's named `u64` counters in pages it grants
//! read-only to dom0, so reading them costs the domain nothing and the
//! controller always sees current values: counters stay off the data path,
//! never a synchronous xenstore write from the forwarding loop
//! (docs/architecture.md, "How counters reach dom0").
//!
//! * [`CounterTable`] (sans-IO, host-tested) writes the layout below into 1 to
//!   [`MAX_PAGES`] [`SharedPage`](crate::shared_page::SharedPage)s;
//! * [`copy_consistent`] / [`snapshot`] take a stable copy of such pages (the
//!   read side of a seqlock) and [`parse`] validates a copy as hostile input;
//! * the domain part, `CounterPage` (only on `target_os = "none"`), allocates
//!   the pages, grants them read-only to domain 0 and advertises the grant
//!   references in xenstore.
//!
//! # How a domain uses it
//!
//! ```ignore
//! use pv_runtime::counter_page::CounterPage;
//! // At setup: room for 150 counters (3 pages), granted and advertised.
//! let mut page = CounterPage::with_capacity(rt, 150)?;
//! let nic = page.register_group("nic/counters", NicCounters::NAMES)?;
//! let drops = page.register("switch/counters/dropped_spoofed")?;
//! loop {
//!     // … forward a batch …
//!     page.set_group(&nic, nic_counters.iter().map(|(_, v)| v)); // plain stores
//!     page.set(drops, switch.dropped_spoofed);
//! }
//! // A vif or wire comes or goes: register or unregister its counters.
//! let vif = page.register_group("vif/5/0", VifCounters::NAMES)?;
//! page.unregister_group(vif);               // or page.unregister_prefix("vif/5/0")
//! ```
//!
//! * Register at setup and when something appears (a vif, a wire, an
//!   endpoint); unregister when it goes. Registration is rare: it scans the
//!   table, bumps the sequence word twice and may fail ([`CounterError`]:
//!   full, bad name, duplicate). It never touches xenstore.
//! * Set values from the forwarding loop as often as convenient (after every
//!   batch is fine): [`CounterTable::set`] is one generation compare and one
//!   aligned 8-byte store, no hypercall, no fence. Keeping the counters in the
//!   domain's own structs and copying them with `set_group` after a batch is
//!   the intended pattern.
//! * A [`CounterId`] is only good while its counter is registered: after
//!   `unregister`, setting a stale id is ignored (and counted in
//!   [`CounterTable::stale_sets`]), so it can never write another counter's
//!   value.
//! * Code that publishes counters can take a `&mut CounterTable<P>` (what
//!   `CounterPage` dereferences to, with `P = RawPage`) and so be host-tested
//!   over `CounterTable::new(vec![HeapPage::new()])`, reading back with
//!   [`snapshot`].
//! * A domain whose counters come and go with what it serves (the Corm's
//!   wires, the Spike's vifs) can instead rebuild the list every tick with a
//!   [`CounterMirror`]: `let mut r = mirror.round(&mut page); r.put(name,
//!   value); …; r.finish()` registers new names and drops vanished ones in
//!   one name change each, and otherwise only stores values (what
//!   `corm_domain::counters` and `spike_domain::counters` do).
//! * Names are the keys the counters had under `data/banana/` in xenstore:
//!   `vif/5/0/rx_packets`, `nic/counters/tx_frames`,
//!   `wire/1/counters/tx-frames` (the controller shows names under
//!   `wire/<id>/counters/` with that wire, the rest with the domain).
//!
//! # Where dom0 finds it
//!
//! The domain writes the grant references, in page order, as decimal numbers
//! separated by single spaces, to [`XENSTORE_KEY`] in its own tree:
//! `/local/domain/<domid>/data/banana/counters/page-refs = "8 9 10"`. Each
//! page is granted read-only to domain 0. The key is written once, when the
//! pages are set up, and removed by `CounterPage::withdraw`.
//!
//! # Layout (version 1)
//!
//! All numbers little-endian. Each page is 4096 bytes: a 64-byte header, then
//! [`ENTRIES_PER_PAGE`] (63) entries of 64 bytes.
//!
//! | offset | size | header field | |
//! |---|---|---|---|
//! | 0 | 4 | `magic` | [`MAGIC`], the bytes `BNCP` |
//! | 4 | 4 | `version` | [`VERSION`] (1) |
//! | 8 | 8 | `seq` | page 0: the sequence word of the whole set (below); other pages: 0 |
//! | 16 | 4 | `page` | index of this page in the set, 0.. |
//! | 20 | 4 | `pages` | pages in the set, 1..=[`MAX_PAGES`] |
//! | 24 | 4 | `capacity` | entries per page: 63 |
//! | 28 | 4 | `used` | entries `0..used` of this page may hold a counter; the rest are empty |
//! | 32 | 4 | `entry_len` | 64 |
//! | 36 | 4 | `name_len` | 56 |
//! | 40 | 24 | reserved | 0 |
//!
//! | entry offset | size | field |
//! |---|---|---|
//! | 0 | 8 | `value`: the counter (`u64`) |
//! | 8 | 56 | `name`: ASCII, NUL-padded; all zero for an empty entry |
//!
//! Entry `i` of page `p` is slot `p * 63 + i`; the writer fills the lowest free
//! slot first. The layout fields other than `seq` and `used` never change
//! after the pages are granted; a reader checks them all and refuses a page
//! that is not exactly this layout.
//!
//! Limits: names are 1 to [`NAME_LEN`] (56) bytes of `A-Z a-z 0-9 _ - . / :`
//! (a reader accepts any printable ASCII but space), at most 63 counters per
//! page and [`MAX_PAGES`] (32) pages, so [`MAX_COUNTERS`] (2016) per domain. A
//! full table refuses new names with [`CounterError::Full`]; nothing panics.
//! For scale (`corm_domain::counters::capacity`,
//! `spike_domain::counters::capacity`): a Corm has about 60 counters of its
//! own plus 15 a wire, so with the maximum 64 endpoints all wired about
//! 1020, i.e. 17 pages; a Spike has its ~40 own and wire counters plus about
//! 30 a vif.
//!
//! # Consistency: a seqlock over names, plain stores for values
//!
//! Names change rarely (registration); values change all the time. So only
//! name changes are guarded, by the `seq` word of page 0, a seqlock:
//!
//! * **writer, name change** (register/unregister, any page): `seq += 1` (odd),
//!   `fence(Release)`, write names, values and `used` words, then
//!   `fence(Release)` and `seq += 1` (even again). Every store is an aligned
//!   8-byte atomic store (`Relaxed`), i.e. a plain `mov` on x86.
//! * **writer, value update**: one `Relaxed` 8-byte store to the entry's
//!   `value`. No sequence bump, no fence: free on the forwarding path.
//! * **reader**: `s1 = seq` (`Relaxed` load, then `fence(Acquire)`); retry
//!   if `s1` is odd; copy every word of every page (`Relaxed` 8-byte loads);
//!   `fence(Acquire)`; `s2 = seq`; the copy is consistent iff `s1 == s2`.
//!
//! Why that suffices (the C++/Rust fence rules, as in Boehm, "Can seqlocks
//! get along with programming language memory models?", 2012): if any word
//! the reader copied came from a name change that started after `s1` was
//! written, the writer's first release fence synchronizes with the reader's
//! second acquire fence, so the reader's `s2` load sees at least the odd value
//! and the copy is discarded. If `s1` was the even value that ended a name
//! change, the reader's acquire fence after loading it makes every store of
//! that change visible, so each name is read as written, and each value is
//! the one the change wrote (0) or one of the value stores made after it — all
//! of them for that same name. Hence a reader never sees a torn table or a
//! name with another counter's value; it may see values a few increments
//! apart (each value is loaded at a slightly different moment), and values of
//! different counters are not a snapshot of one instant.
//!
//! Every access to the page is an atomic load or store of an aligned `u64`:
//! the pages are shared with another domain and are never reached through
//! Rust references. Only `Relaxed` loads are used on the read side, the kind
//! Rust allows on read-only memory (dom0 maps the pages read-only).

mod mirror;
mod read;
mod table;
#[cfg(test)]
mod tests;

#[cfg(target_os = "none")]
mod domain;

#[cfg(target_os = "none")]
pub use domain::{CounterPage, CounterPageError};
pub use mirror::{CounterMirror, Round};
pub use read::{
    copy_consistent, copy_shared, copy_with, parse, snapshot, Counter, ReadError, Snapshot,
};
pub use table::{CounterError, CounterGroup, CounterId, CounterTable};

use crate::abi::PAGE_SIZE;

/// `magic`: the bytes `BNCP` ("Banana counter page").
pub const MAGIC: u32 = u32::from_le_bytes(*b"BNCP");
/// The layout version this module writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the page header.
pub const HEADER_LEN: usize = 64;
/// Bytes of one entry.
pub const ENTRY_LEN: usize = 64;
/// Bytes of an entry's name field.
pub const NAME_LEN: usize = ENTRY_LEN - 8;
/// Entries in one page.
pub const ENTRIES_PER_PAGE: usize = (PAGE_SIZE - HEADER_LEN) / ENTRY_LEN;
/// Pages in one set.
pub const MAX_PAGES: usize = 32;
/// Counters one domain can publish.
pub const MAX_COUNTERS: usize = ENTRIES_PER_PAGE * MAX_PAGES;
/// Where a domain advertises its pages, relative to `/local/domain/<domid>/`:
/// the grant references, in page order, decimal, separated by one space.
pub const XENSTORE_KEY: &str = xs_schema::data::COUNTER_PAGE_REFS.from_home();
/// How many times [`copy_consistent`] tries before giving up.
pub const READ_TRIES: usize = 1000;

/// 64-bit words in a page.
const WORDS: usize = PAGE_SIZE / 8;

/// Byte offsets of the header fields.
pub mod offset {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const SEQ: usize = 8;
    pub const PAGE: usize = 16;
    pub const PAGES: usize = 20;
    pub const CAPACITY: usize = 24;
    pub const USED: usize = 28;
    pub const ENTRY_LEN: usize = 32;
    pub const NAME_LEN: usize = 36;
    /// Within an entry.
    pub const ENTRY_VALUE: usize = 0;
    /// Within an entry.
    pub const ENTRY_NAME: usize = 8;
}

/// Byte offset of entry `i` in its page.
pub const fn entry_offset(i: usize) -> usize {
    HEADER_LEN + i * ENTRY_LEN
}

/// A byte a writer may put in a name.
pub fn name_byte_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b':')
}

/// A name a writer accepts: 1..=[`NAME_LEN`] bytes of [`name_byte_ok`], not
/// starting or ending with `/` and without `//` (a relative xenstore-style path).
pub fn name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= NAME_LEN
        && b.iter().all(|&c| name_byte_ok(c))
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
}

/// Helpers for host tests of a domain's publisher (Corm, Spike): a table
/// over heap pages and what a reader in dom0 would see of it.
pub mod testing {
    use alloc::string::String;
    use alloc::vec::Vec;

    use super::{snapshot, CounterTable, ENTRIES_PER_PAGE, READ_TRIES};
    use crate::shared_page::HeapPage;

    /// Memory gauges as `Runtime::gauges` names them, with test values.
    pub const GAUGES: [(&str, u64); 3] =
        [("heap_bytes", 4096), ("frames_free", 7), ("grants_free", 9)];

    /// A table over enough heap pages for `entries` counters.
    pub fn heap_table(entries: usize) -> CounterTable<HeapPage> {
        let pages = entries.div_ceil(ENTRIES_PER_PAGE);
        CounterTable::new((0..pages).map(|_| HeapPage::new()).collect())
            .expect("a valid page count")
    }

    /// Every counter of the table, as dom0 reads it.
    pub fn read_all(t: &CounterTable<HeapPage>) -> Vec<(String, u64)> {
        snapshot(t.pages(), READ_TRIES)
            .expect("a consistent table")
            .counters
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect()
    }

    /// The value of `name` in what [`read_all`] returned.
    pub fn value(all: &[(String, u64)], name: &str) -> Option<u64> {
        all.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}
