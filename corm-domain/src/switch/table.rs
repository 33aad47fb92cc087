//! The MAC table: `(segment, MAC) → (port, last seen)`, bounded at a capacity
//! fixed at construction. Its storage is allocated once, up front, and kept
//! sorted by key, so a lookup is a binary search and learning never allocates;
//! only inserting a new MAC moves entries. A full table first forgets aged
//! entries, then evicts the least recently seen one: a flood of forged source
//! MACs from the uplink can churn the table but never grow it.

use alloc::vec::Vec;

use super::frame::Mac;
use super::{Counters, Port};

/// A segment: `0` is the untagged segment, `1..=4094` a VLAN.
pub(crate) type Segment = u16;

/// One learned MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacEntry {
    /// The VLAN the MAC was seen in; `None` for the untagged segment.
    pub vlan: Option<u16>,
    pub mac: Mac,
    pub port: Port,
    /// When the MAC was last seen as a source.
    pub seen_ns: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: (Segment, Mac),
    port: Port,
    seen_ns: u64,
}

#[derive(Debug)]
pub(crate) struct MacTable {
    /// Sorted by `key`, never longer than `capacity`.
    entries: Vec<Entry>,
    capacity: usize,
    aging_ns: u64,
}

impl MacTable {
    pub(crate) fn new(capacity: usize, aging_ns: u64) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
            capacity,
            aging_ns,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn expired(&self, e: &Entry, now_ns: u64) -> bool {
        now_ns.saturating_sub(e.seen_ns) > self.aging_ns
    }

    fn find(&self, seg: Segment, mac: &Mac) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.key.cmp(&(seg, *mac)))
    }

    /// The port `mac` was last seen on in `seg`, unless that has aged out.
    pub(crate) fn lookup(&self, seg: Segment, mac: &Mac, now_ns: u64) -> Option<Port> {
        let e = &self.entries[self.find(seg, mac).ok()?];
        (!self.expired(e, now_ns)).then_some(e.port)
    }

    /// Records that `mac` was seen as a source on `port` in `seg` at `now_ns`.
    pub(crate) fn learn(
        &mut self,
        seg: Segment,
        mac: &Mac,
        port: Port,
        now_ns: u64,
        c: &mut Counters,
    ) {
        if self.capacity == 0 {
            return;
        }
        match self.find(seg, mac) {
            Ok(i) => {
                let aged = self.expired(&self.entries[i], now_ns);
                let e = &mut self.entries[i];
                if aged {
                    // Forgotten, then learned afresh: not a move.
                    c.aged_out += 1;
                    c.learned += 1;
                } else if e.port != port {
                    c.moved += 1;
                }
                e.port = port;
                e.seen_ns = e.seen_ns.max(now_ns);
            }
            Err(_) => {
                if self.entries.len() >= self.capacity {
                    c.aged_out += self.expire(now_ns) as u64;
                }
                if self.entries.len() >= self.capacity {
                    self.evict_oldest();
                    c.evicted += 1;
                }
                // Recomputed: expiry or eviction may have shifted entries.
                let at = self.find(seg, mac).unwrap_or_else(|at| at);
                self.entries.insert(
                    at,
                    Entry {
                        key: (seg, *mac),
                        port,
                        seen_ns: now_ns,
                    },
                );
                c.learned += 1;
            }
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.seen_ns)
            .map(|(i, _)| i);
        if let Some(i) = oldest {
            self.entries.remove(i);
        }
    }

    /// Forgets every entry not seen for longer than the aging time; returns
    /// how many.
    pub(crate) fn expire(&mut self, now_ns: u64) -> usize {
        let before = self.entries.len();
        let aging = self.aging_ns;
        self.entries
            .retain(|e| now_ns.saturating_sub(e.seen_ns) <= aging);
        before - self.entries.len()
    }

    /// Forgets every entry on `port`; returns how many.
    pub(crate) fn flush_port(&mut self, port: Port) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| e.port != port);
        before - self.entries.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = MacEntry> + '_ {
        self.entries.iter().map(|e| MacEntry {
            vlan: (e.key.0 != 0).then_some(e.key.0),
            mac: e.key.1,
            port: e.port,
            seen_ns: e.seen_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        [2, 0, 0, 0, 0, n]
    }

    #[test]
    fn bounded_sorted_evicts_oldest() {
        let mut c = Counters::default();
        let mut t = MacTable::new(3, 1_000);
        for n in [5, 1, 3] {
            t.learn(0, &mac(n), Port::Uplink, u64::from(n), &mut c);
        }
        t.learn(0, &mac(4), Port::Endpoint(1), 10, &mut c);
        assert_eq!(t.len(), 3);
        assert_eq!(c.evicted, 1);
        assert_eq!(t.lookup(0, &mac(1), 10), None, "the oldest went");
        let keys: Vec<_> = t.entries.iter().map(|e| e.key.1[5]).collect();
        assert_eq!(keys, [3, 4, 5]);
        assert_eq!(t.lookup(0, &mac(4), 1_010), Some(Port::Endpoint(1)));
        assert_eq!(t.lookup(0, &mac(4), 1_011), None);
        assert_eq!(t.lookup(7, &mac(4), 10), None, "segments are separate");
    }
}
