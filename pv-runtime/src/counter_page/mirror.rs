//! [`CounterMirror`]: keeps a [`CounterTable`] equal to a list of
//! `(name, value)` pairs produced afresh each round, for domains whose
//! counters come and go with what they serve (a Corm's wires, a Spike's
//! vifs): new names are registered, vanished ones unregistered, values set.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{CounterError, CounterId, CounterTable};
use crate::shared_page::SharedPage;

/// A name's id and the round it was last put in.
struct Slot {
    id: CounterId,
    round: u64,
}

/// Mirrors each round's counters into a table (at most two name changes a
/// round: one for the names that went, one for those that came). Use:
///
/// ```ignore
/// let mut r = mirror.round(&mut table);
/// r.put("nic/counters/rx_frames", nic.rx_frames);
/// r.put_under("wire/3/counters", wire.counters.iter());
/// r.finish(); // registers new names (one name change), drops vanished ones (one more)
/// ```
///
/// A round costs one map lookup and one 8-byte store per counter; the table
/// changes names only when the set of names does. Names the table refuses
/// (full, bad) are counted in [`refused`](Self::refused) and retried next
/// round.
#[derive(Default)]
pub struct CounterMirror {
    ids: BTreeMap<String, Slot>,
    round: u64,
    refused: u64,
    last_error: Option<CounterError>,
}

impl CounterMirror {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a round over `table`; finish it with [`Round::finish`].
    pub fn round<'a, P: SharedPage>(&'a mut self, table: &'a mut CounterTable<P>) -> Round<'a, P> {
        self.round = self.round.wrapping_add(1);
        Round {
            mirror: self,
            table,
            new: Vec::new(),
        }
    }

    /// Names the table refused, over all rounds (each refusal of each round).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Why the last refused name was refused.
    pub fn last_error(&self) -> Option<&CounterError> {
        self.last_error.as_ref()
    }

    /// Names currently mirrored.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// One round of a [`CounterMirror`].
pub struct Round<'a, P: SharedPage> {
    mirror: &'a mut CounterMirror,
    table: &'a mut CounterTable<P>,
    /// Names not yet in the table, with their values.
    new: Vec<(String, u64)>,
}

impl<P: SharedPage> Round<'_, P> {
    /// Counter `name` has `value` this round.
    pub fn put(&mut self, name: &str, value: u64) {
        let round = self.mirror.round;
        match self.mirror.ids.get_mut(name) {
            Some(slot) => {
                slot.round = round;
                self.table.set(slot.id, value);
            }
            None => self.new.push((name.to_string(), value)),
        }
    }

    /// `prefix/name = value` for each pair.
    pub fn put_under<'n>(&mut self, prefix: &str, pairs: impl IntoIterator<Item = (&'n str, u64)>) {
        let mut name = String::new();
        for (k, v) in pairs {
            name.clear();
            name.push_str(prefix);
            name.push('/');
            name.push_str(k);
            self.put(&name, v);
        }
    }

    /// Registers this round's new names and unregisters the names not put
    /// this round.
    pub fn finish(self) {
        let Round { mirror, table, new } = self;
        let round = mirror.round;
        // Vanished names first: their slots are free for the new ones.
        let mut gone = Vec::new();
        mirror.ids.retain(|_, s| {
            let keep = s.round == round;
            if !keep {
                gone.push(s.id);
            }
            keep
        });
        table.unregister_many(gone);
        if new.is_empty() {
            return;
        }
        let names: Vec<&str> = new.iter().map(|(n, _)| n.as_str()).collect();
        match table.register_group("", &names) {
            Ok(group) => {
                for (&id, (name, value)) in group.ids().iter().zip(new) {
                    table.set(id, value);
                    mirror.ids.insert(name, Slot { id, round });
                }
            }
            // One bad or surplus name must not keep the others out.
            Err(_) => {
                for (name, value) in new {
                    if let Some(slot) = mirror.ids.get(&name) {
                        // Put twice this round.
                        table.set(slot.id, value);
                        continue;
                    }
                    match table.register(&name) {
                        Ok(id) => {
                            table.set(id, value);
                            mirror.ids.insert(name, Slot { id, round });
                        }
                        Err(e) => {
                            mirror.refused += 1;
                            mirror.last_error = Some(e);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter_page::{snapshot, CounterError, ENTRIES_PER_PAGE, READ_TRIES};
    use crate::shared_page::HeapPage;
    use alloc::vec;

    fn read(t: &CounterTable<HeapPage>) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = snapshot(t.pages(), READ_TRIES)
            .unwrap()
            .counters
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect();
        v.sort();
        v
    }

    fn pairs(p: &[(&str, u64)]) -> Vec<(String, u64)> {
        p.iter().map(|&(n, v)| (n.to_string(), v)).collect()
    }

    #[test]
    fn rounds_register_set_and_drop_names() {
        let mut t = CounterTable::new(vec![HeapPage::new()]).unwrap();
        let mut m = CounterMirror::new();
        let mut r = m.round(&mut t);
        r.put("a", 1);
        r.put_under("wire/3/counters", [("rx", 5), ("tx", 6)]);
        r.finish();
        assert_eq!(
            read(&t),
            pairs(&[
                ("a", 1),
                ("wire/3/counters/rx", 5),
                ("wire/3/counters/tx", 6)
            ])
        );
        let seq = t.seq();
        // Same names: values only, no name change.
        let mut r = m.round(&mut t);
        r.put("a", 2);
        r.put_under("wire/3/counters", [("rx", 7), ("tx", 8)]);
        r.finish();
        assert_eq!(t.seq(), seq, "no name change when the names stay");
        assert_eq!(
            read(&t),
            pairs(&[
                ("a", 2),
                ("wire/3/counters/rx", 7),
                ("wire/3/counters/tx", 8)
            ])
        );
        // The wire goes, another comes.
        let mut r = m.round(&mut t);
        r.put("a", 3);
        r.put_under("wire/4/counters", [("rx", 1)]);
        r.finish();
        assert_eq!(read(&t), pairs(&[("a", 3), ("wire/4/counters/rx", 1)]));
        assert_eq!(
            t.seq(),
            seq + 4,
            "one name change for the names that went, one for the new"
        );
        assert_eq!(m.len(), 2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.stale_sets(), 0);
    }

    #[test]
    fn a_full_table_keeps_what_fits_and_counts_the_rest() {
        let mut t = CounterTable::new(vec![HeapPage::new()]).unwrap();
        let mut m = CounterMirror::new();
        let names: Vec<String> = (0..ENTRIES_PER_PAGE + 2)
            .map(|i| alloc::format!("c{i}"))
            .collect();
        let mut r = m.round(&mut t);
        for n in &names {
            r.put(n, 9);
        }
        r.put("bad name", 1);
        r.finish();
        assert_eq!(t.len(), ENTRIES_PER_PAGE);
        assert_eq!(m.refused(), 3);
        assert!(matches!(
            m.last_error(),
            Some(CounterError::Full { .. } | CounterError::BadName(_))
        ));
        // Room appears: the refused names get in next round.
        let mut r = m.round(&mut t);
        for n in &names[2..] {
            r.put(n, 10);
        }
        r.finish();
        assert_eq!(t.len(), ENTRIES_PER_PAGE);
        assert!(read(&t).iter().all(|(_, v)| *v == 10));
    }

    #[test]
    fn a_name_put_twice_in_its_first_round_is_one_counter() {
        let mut t = CounterTable::new(vec![HeapPage::new()]).unwrap();
        let mut m = CounterMirror::new();
        let mut r = m.round(&mut t);
        r.put("a", 1);
        r.put("a", 2);
        r.finish();
        assert_eq!(read(&t), pairs(&[("a", 2)]));
        assert_eq!(m.refused(), 0);
    }
}
