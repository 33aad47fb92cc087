//! The writer: names and values into the pages (layout and protocol in the
//! module docs). One writer per table; the `&mut self` receivers make that so.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU64, Ordering};

use super::{
    entry_offset, name_ok, offset, ENTRIES_PER_PAGE, ENTRY_LEN, MAGIC, MAX_PAGES, NAME_LEN,
    VERSION, WORDS,
};
use crate::shared_page::SharedPage;

/// Why a table refused something. Nothing is written when one is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    /// Every slot is taken (`capacity` counters); unregister some or set up
    /// the table with more pages.
    #[error("counter table full: {needed} more counters do not fit ({capacity} in all)")]
    Full { needed: usize, capacity: usize },
    /// Not 1..=56 bytes of `A-Z a-z 0-9 _ - . / :`, or starts/ends with `/`, or has `//`.
    #[error("bad counter name {0:?}: use 1-56 of A-Z a-z 0-9 _ - . / : as a relative path")]
    BadName(String),
    /// The name is registered already (or twice in one group).
    #[error("counter {0:?} is registered already")]
    Duplicate(String),
    /// A table has 1 to [`MAX_PAGES`] pages.
    #[error("a counter table has 1 to {MAX_PAGES} pages, not {0}")]
    PageCount(usize),
}

/// A registered counter. Valid until it is unregistered; a stale id is
/// ignored by [`CounterTable::set`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CounterId {
    slot: u16,
    generation: u32,
}

/// Counters registered together (e.g. one vif's), in the order of their names.
#[derive(Debug, PartialEq, Eq)]
pub struct CounterGroup {
    ids: Vec<CounterId>,
}

impl CounterGroup {
    /// The ids, in the order the names were given.
    pub fn ids(&self) -> &[CounterId] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The writer's side of a set of counter pages.
pub struct CounterTable<P: SharedPage> {
    pages: Vec<P>,
    /// Our copy of page 0's `seq` (we are its only writer).
    seq: u64,
    /// Per slot: odd while registered; bumped at register and unregister.
    generations: Vec<u32>,
    names: Vec<Option<String>>,
    /// Registered counters.
    count: usize,
    /// Per page: the `used` word.
    used: Vec<u32>,
    stale_sets: u64,
}

fn word<P: SharedPage>(page: &P, byte: usize) -> &AtomicU64 {
    debug_assert!(byte.is_multiple_of(8) && byte < WORDS * 8);
    // SAFETY: `byte` is a multiple of 8 below PAGE_SIZE (every caller passes a
    // layout offset) in a page-aligned page valid for reads and writes per
    // `SharedPage`; the page is only ever accessed through atomics.
    unsafe { AtomicU64::from_ptr(page.base().as_ptr().add(byte).cast()) }
}

/// The name field's 7 words: ASCII, NUL-padded.
fn name_words(name: &str) -> [u64; NAME_LEN / 8] {
    let mut bytes = [0u8; NAME_LEN];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    let mut w = [0u64; NAME_LEN / 8];
    for (i, chunk) in bytes.chunks_exact(8).enumerate() {
        w[i] = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    }
    w
}

impl<P: SharedPage> CounterTable<P> {
    /// Writes an empty table (header and zeroed entries) into `pages`. Do
    /// this before the pages are shared: a reader must never see a
    /// half-written header.
    pub fn new(pages: Vec<P>) -> Result<Self, CounterError> {
        let n = pages.len();
        if n == 0 || n > MAX_PAGES {
            return Err(CounterError::PageCount(n));
        }
        for (i, p) in pages.iter().enumerate() {
            let pair = |lo: usize, hi: usize| lo as u64 | (hi as u64) << 32;
            let header = [
                pair(MAGIC as usize, VERSION as usize),
                0,
                pair(i, n),
                pair(ENTRIES_PER_PAGE, 0),
                pair(ENTRY_LEN, NAME_LEN),
                0,
                0,
                0,
            ];
            for (w, v) in header.iter().enumerate() {
                word(p, w * 8).store(*v, Ordering::Relaxed);
            }
            for w in header.len()..WORDS {
                word(p, w * 8).store(0, Ordering::Relaxed);
            }
        }
        // Whoever is handed the pages next (a grant, another thread) must see
        // all of the above first.
        fence(Ordering::Release);
        let slots = n * ENTRIES_PER_PAGE;
        Ok(Self {
            pages,
            seq: 0,
            generations: vec![0; slots],
            names: vec![None; slots],
            count: 0,
            used: vec![0; n],
            stale_sets: 0,
        })
    }

    /// The pages, in set order.
    pub fn pages(&self) -> &[P] {
        &self.pages
    }

    /// Counters the table can hold.
    pub fn capacity(&self) -> usize {
        self.names.len()
    }

    /// Counters registered.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The current value of page 0's sequence word (even: no change under way).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// `set`s ignored because their id had been unregistered.
    pub fn stale_sets(&self) -> u64 {
        self.stale_sets
    }

    /// The id of a registered name.
    pub fn id(&self, name: &str) -> Option<CounterId> {
        self.slot_of(name).map(|slot| CounterId {
            slot: slot as u16,
            generation: self.generations[slot],
        })
    }

    /// A linear scan: at most 2016 slots, and only registration looks names up.
    fn slot_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    /// The name of a registered counter.
    pub fn name(&self, id: CounterId) -> Option<&str> {
        if self.live(id) {
            self.names[id.slot as usize].as_deref()
        } else {
            None
        }
    }

    /// Registers one counter, with value 0.
    pub fn register(&mut self, name: &str) -> Result<CounterId, CounterError> {
        let g = self.register_names([name.to_string()].into_iter())?;
        Ok(g.ids[0])
    }

    /// Registers `prefix/name` for each of `names` (just `name` if `prefix` is
    /// empty), all or none, in one name change. Pairs with the
    /// [`counters!`](macro@xs_schema::counters) macro's `NAMES` and `iter()`.
    pub fn register_group(
        &mut self,
        prefix: &str,
        names: &[&str],
    ) -> Result<CounterGroup, CounterError> {
        let prefix = prefix.trim_end_matches('/');
        self.register_names(names.iter().map(|n| {
            if prefix.is_empty() {
                n.to_string()
            } else {
                format!("{prefix}/{n}")
            }
        }))
    }

    fn register_names(
        &mut self,
        names: impl Iterator<Item = String>,
    ) -> Result<CounterGroup, CounterError> {
        let names: Vec<String> = names.collect();
        for (i, n) in names.iter().enumerate() {
            if !name_ok(n) {
                return Err(CounterError::BadName(n.clone()));
            }
            if self.slot_of(n).is_some() || names[..i].contains(n) {
                return Err(CounterError::Duplicate(n.clone()));
            }
        }
        let free: Vec<usize> = (0..self.capacity())
            .filter(|&s| self.names[s].is_none())
            .take(names.len())
            .collect();
        if free.len() < names.len() {
            return Err(CounterError::Full {
                needed: names.len(),
                capacity: self.capacity(),
            });
        }
        self.begin_change();
        let mut ids = Vec::with_capacity(names.len());
        for (slot, name) in free.into_iter().zip(names) {
            let (p, e) = (slot / ENTRIES_PER_PAGE, slot % ENTRIES_PER_PAGE);
            let page = &self.pages[p];
            let at = entry_offset(e);
            word(page, at + offset::ENTRY_VALUE).store(0, Ordering::Relaxed);
            for (i, w) in name_words(&name).iter().enumerate() {
                word(page, at + offset::ENTRY_NAME + i * 8).store(*w, Ordering::Relaxed);
            }
            if self.used[p] <= e as u32 {
                self.used[p] = e as u32 + 1;
                self.store_used(p);
            }
            self.generations[slot] = self.generations[slot].wrapping_add(1);
            self.names[slot] = Some(name);
            self.count += 1;
            ids.push(CounterId {
                // Slots are < MAX_COUNTERS (2016).
                slot: slot as u16,
                generation: self.generations[slot],
            });
        }
        self.end_change();
        Ok(CounterGroup { ids })
    }

    /// Removes a counter; false if `id` was not registered (any more).
    pub fn unregister(&mut self, id: CounterId) -> bool {
        if !self.live(id) {
            return false;
        }
        self.begin_change();
        self.clear(id.slot as usize);
        self.end_change();
        true
    }

    /// Removes a group's counters (those still registered) in one name change.
    pub fn unregister_group(&mut self, group: CounterGroup) -> usize {
        self.unregister_slots(
            group
                .ids
                .iter()
                .filter(|&&id| self.live(id))
                .map(|id| id.slot as usize)
                .collect(),
        )
    }

    /// Removes the counters of `ids` that are still registered, in one name
    /// change; how many went.
    pub fn unregister_many(&mut self, ids: impl IntoIterator<Item = CounterId>) -> usize {
        let mut slots: Vec<usize> = ids
            .into_iter()
            .filter(|&id| self.live(id))
            .map(|id| id.slot as usize)
            .collect();
        slots.sort_unstable();
        slots.dedup();
        self.unregister_slots(slots)
    }

    /// Removes `prefix` and every counter under `prefix/` (e.g. `vif/5/0`) in
    /// one name change; how many went.
    pub fn unregister_prefix(&mut self, prefix: &str) -> usize {
        let prefix = prefix.trim_end_matches('/');
        let under = format!("{prefix}/");
        let slots = (0..self.capacity())
            .filter(|&s| {
                self.names[s]
                    .as_deref()
                    .is_some_and(|n| n == prefix || n.starts_with(&under))
            })
            .collect();
        self.unregister_slots(slots)
    }

    fn unregister_slots(&mut self, slots: Vec<usize>) -> usize {
        if slots.is_empty() {
            return 0;
        }
        self.begin_change();
        for &s in &slots {
            self.clear(s);
        }
        self.end_change();
        slots.len()
    }

    /// Sets a counter: one aligned 8-byte store, nothing else. A stale id
    /// (its counter was unregistered) is ignored and counted.
    #[inline]
    pub fn set(&mut self, id: CounterId, value: u64) {
        if self.live(id) {
            self.value_word(id.slot as usize)
                .store(value, Ordering::Relaxed);
        } else {
            self.stale_sets += 1;
        }
    }

    /// Adds to a counter (wrapping), as [`set`](Self::set) of its value plus `delta`.
    #[inline]
    pub fn add(&mut self, id: CounterId, delta: u64) {
        if let Some(v) = self.get(id) {
            self.set(id, v.wrapping_add(delta));
        } else {
            self.stale_sets += 1;
        }
    }

    /// Sets a group's counters from `values`, in the group's order (extra
    /// values are ignored, missing ones leave counters as they are).
    #[inline]
    pub fn set_group(&mut self, group: &CounterGroup, values: impl IntoIterator<Item = u64>) {
        for (&id, v) in group.ids.iter().zip(values) {
            self.set(id, v);
        }
    }

    /// Sets several counters.
    #[inline]
    pub fn set_many(&mut self, pairs: impl IntoIterator<Item = (CounterId, u64)>) {
        for (id, v) in pairs {
            self.set(id, v);
        }
    }

    /// The value last set (what a reader sees).
    pub fn get(&self, id: CounterId) -> Option<u64> {
        self.live(id)
            .then(|| self.value_word(id.slot as usize).load(Ordering::Relaxed))
    }

    /// Registered `(name, value)` pairs in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.names.iter().enumerate().filter_map(|(s, n)| {
            let n = n.as_deref()?;
            Some((n, self.value_word(s).load(Ordering::Relaxed)))
        })
    }

    #[inline]
    fn live(&self, id: CounterId) -> bool {
        self.generations.get(id.slot as usize) == Some(&id.generation)
            && !id.generation.is_multiple_of(2)
    }

    #[inline]
    fn value_word(&self, slot: usize) -> &AtomicU64 {
        let (p, e) = (slot / ENTRIES_PER_PAGE, slot % ENTRIES_PER_PAGE);
        word(&self.pages[p], entry_offset(e) + offset::ENTRY_VALUE)
    }

    fn store_used(&self, p: usize) {
        let w = word(&self.pages[p], offset::CAPACITY);
        w.store(
            ENTRIES_PER_PAGE as u64 | (self.used[p] as u64) << 32,
            Ordering::Relaxed,
        );
    }

    /// Empties a slot; inside a name change.
    fn clear(&mut self, slot: usize) {
        let (p, e) = (slot / ENTRIES_PER_PAGE, slot % ENTRIES_PER_PAGE);
        let at = entry_offset(e);
        for i in 0..ENTRY_LEN / 8 {
            word(&self.pages[p], at + i * 8).store(0, Ordering::Relaxed);
        }
        if self.names[slot].take().is_some() {
            self.count -= 1;
        }
        self.generations[slot] = self.generations[slot].wrapping_add(1);
        let base = p * ENTRIES_PER_PAGE;
        let mut used = self.used[p] as usize;
        while used > 0 && self.names[base + used - 1].is_none() {
            used -= 1;
        }
        if used as u32 != self.used[p] {
            self.used[p] = used as u32;
            self.store_used(p);
        }
    }

    /// Makes `seq` odd: readers that overlap what follows will retry.
    pub(super) fn begin_change(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        word(&self.pages[0], offset::SEQ).store(self.seq, Ordering::Relaxed);
        // The odd seq must be visible before any store of the change.
        fence(Ordering::Release);
    }

    /// Makes `seq` even again, after every store of the change.
    pub(super) fn end_change(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        // Every store of the change must be visible before the even seq.
        fence(Ordering::Release);
        word(&self.pages[0], offset::SEQ).store(self.seq, Ordering::Relaxed);
    }
}
