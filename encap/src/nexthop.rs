//! The underlay next-hop table: IPv4 address (the remote VTEP, or the
//! gateway toward it) → MAC, bounded, aged, and never in the fast path's
//! way. A lookup answers at once: a MAC, or a miss the caller drops and
//! counts while it sends an ARP request (RFC 826) the table asked for. The
//! ARP exchange itself will be smoltcp's on the Corm's underlay interface
//! (a later step); this is the table and its rules.
//!
//! * **Entries only from replies to our own requests**: a reply is taken
//!   only for an address with a request in flight (sent less than
//!   [`REQUEST_TIMEOUT_NS`] ago). Unsolicited replies and gratuitous ARP
//!   cannot plant or move an entry, so an underlay host cannot redirect a
//!   wire by shouting; it could still race the real owner's answer to our
//!   request (ARP has no authentication; a static entry is the answer to that).
//! * **Aging**: an entry is used as is for [`REACHABLE_NS`] (Linux's
//!   `base_reachable_time`, 30 s), then used while a refresh request goes
//!   out, and dropped after [`EXPIRE_NS`] without a reply.
//! * **Bounded**: `N` slots (64 by default). A new address takes a free
//!   slot, else the oldest unresolved one, else the least recently confirmed.
//! * **Rate-limited**: at most one request per address per [`RETRY_NS`].

use core::net::Ipv4Addr;

use netframe::{eth, Mac};

/// The default number of slots.
pub const CAPACITY: usize = 64;
/// An entry is trusted without a refresh this long after its reply.
pub const REACHABLE_NS: u64 = 30_000_000_000;
/// An entry no reply refreshed for this long is gone.
pub const EXPIRE_NS: u64 = 60_000_000_000;
/// A request is answered within this long, or its reply is unsolicited.
pub const REQUEST_TIMEOUT_NS: u64 = 3_000_000_000;
/// At most one request per address this often.
pub const RETRY_NS: u64 = 1_000_000_000;

/// A lookup's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Use this MAC.
    Hit(Mac),
    /// Use this MAC, and send an ARP request for the address (refresh).
    HitRefresh(Mac),
    /// No MAC: drop (and count) the frame; if `request`, send an ARP request
    /// for the address now.
    Miss {
        /// Whether to send a request now (rate-limited).
        request: bool,
    },
}

/// The table's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NextHopCounters {
    /// Lookups answered with a MAC.
    pub hits: u64,
    /// Lookups without one (the frame was dropped).
    pub misses: u64,
    /// Requests asked for.
    pub requests: u64,
    /// Replies taken.
    pub replies: u64,
    /// Replies without a request in flight (ignored).
    pub unsolicited: u64,
    /// Replies with a group or zero MAC (ignored).
    pub bad_mac: u64,
    /// Slots taken from another address.
    pub evictions: u64,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    ip: Ipv4Addr,
    mac: Option<Mac>,
    confirmed_ns: u64,
    requested_ns: Option<u64>,
}

/// A bounded next-hop table of `N` slots.
#[derive(Clone, Debug)]
pub struct NextHopTable<const N: usize = CAPACITY> {
    slots: [Option<Slot>; N],
    /// The counters.
    pub counters: NextHopCounters,
}

impl<const N: usize> Default for NextHopTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> NextHopTable<N> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            slots: [None; N],
            counters: NextHopCounters {
                hits: 0,
                misses: 0,
                requests: 0,
                replies: 0,
                unsolicited: 0,
                bad_mac: 0,
                evictions: 0,
            },
        }
    }

    fn find(&mut self, ip: Ipv4Addr) -> Option<&mut Slot> {
        self.slots.iter_mut().flatten().find(|s| s.ip == ip)
    }

    /// The MAC for `ip` at `now_ns`, or a miss. Never waits.
    pub fn lookup(&mut self, ip: Ipv4Addr, now_ns: u64) -> Lookup {
        let answer = match self.find(ip) {
            Some(slot) => {
                let age = now_ns.saturating_sub(slot.confirmed_ns);
                if slot.mac.is_some() && age >= EXPIRE_NS {
                    slot.mac = None;
                }
                let may_request = slot
                    .requested_ns
                    .is_none_or(|t| now_ns.saturating_sub(t) >= RETRY_NS);
                match slot.mac {
                    Some(mac) if age < REACHABLE_NS => Lookup::Hit(mac),
                    Some(mac) if may_request => {
                        slot.requested_ns = Some(now_ns);
                        Lookup::HitRefresh(mac)
                    }
                    Some(mac) => Lookup::Hit(mac),
                    None => {
                        if may_request {
                            slot.requested_ns = Some(now_ns);
                        }
                        Lookup::Miss {
                            request: may_request,
                        }
                    }
                }
            }
            None => {
                self.insert(Slot {
                    ip,
                    mac: None,
                    confirmed_ns: now_ns,
                    requested_ns: Some(now_ns),
                });
                Lookup::Miss { request: true }
            }
        };
        match answer {
            Lookup::Hit(_) => self.counters.hits += 1,
            Lookup::HitRefresh(_) => {
                self.counters.hits += 1;
                self.counters.requests += 1;
            }
            Lookup::Miss { request } => {
                self.counters.misses += 1;
                self.counters.requests += u64::from(request);
            }
        }
        answer
    }

    fn insert(&mut self, slot: Slot) {
        let victim = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                // The oldest unresolved slot, else the least recently confirmed.
                let key = |s: &Option<Slot>| s.map(|s| (s.mac.is_some(), s.confirmed_ns));
                let Some(i) = (0..N).min_by_key(|&i| key(&self.slots[i])) else {
                    return; // N == 0: a table that holds nothing.
                };
                self.counters.evictions += 1;
                i
            }
        };
        self.slots[victim] = Some(slot);
    }

    /// An ARP reply: `ip` is at `mac`. Taken only if we asked (a request in
    /// flight); returns whether it was taken.
    pub fn on_reply(&mut self, ip: Ipv4Addr, mac: Mac, now_ns: u64) -> bool {
        if !eth::is_valid_source(&mac) {
            self.counters.bad_mac += 1;
            return false;
        }
        let taken = match self.find(ip) {
            Some(slot)
                if slot
                    .requested_ns
                    .is_some_and(|t| now_ns.saturating_sub(t) < REQUEST_TIMEOUT_NS) =>
            {
                slot.mac = Some(mac);
                slot.confirmed_ns = now_ns;
                slot.requested_ns = None;
                true
            }
            _ => false,
        };
        if taken {
            self.counters.replies += 1;
        } else {
            self.counters.unsolicited += 1;
        }
        taken
    }

    /// Forgets `ip` (its wire was removed, or the operator flushed it).
    pub fn forget(&mut self, ip: Ipv4Addr) {
        for s in self.slots.iter_mut() {
            if s.is_some_and(|s| s.ip == ip) {
                *s = None;
            }
        }
    }

    /// Addresses with a slot.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether no address has a slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
    const MAC: Mac = [0x52, 0x54, 0, 0, 0, 1];

    fn ip(i: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, i)
    }

    #[test]
    fn miss_request_reply_hit() {
        let mut t = NextHopTable::<4>::new();
        assert_eq!(t.lookup(GW, 0), Lookup::Miss { request: true });
        assert_eq!(
            t.lookup(GW, S / 2),
            Lookup::Miss { request: false },
            "rate-limited"
        );
        assert_eq!(t.lookup(GW, S), Lookup::Miss { request: true });
        assert!(t.on_reply(GW, MAC, S + 1));
        assert_eq!(t.lookup(GW, 2 * S), Lookup::Hit(MAC));
        assert_eq!(t.counters.misses, 3);
        assert_eq!(t.counters.requests, 2);
        assert_eq!((t.counters.hits, t.counters.replies), (1, 1));
    }

    #[test]
    fn only_replies_to_our_requests() {
        let mut t = NextHopTable::<4>::new();
        // Unsolicited: no slot at all.
        assert!(!t.on_reply(GW, MAC, 0));
        assert!(t.is_empty());
        t.lookup(GW, 0);
        // Too late for the request.
        assert!(!t.on_reply(GW, MAC, REQUEST_TIMEOUT_NS));
        // A second reply after the first was taken: no request in flight.
        t.lookup(GW, 4 * S);
        assert!(t.on_reply(GW, MAC, 4 * S + 1));
        assert!(
            !t.on_reply(GW, [0x52, 0x54, 0, 0, 0, 2], 4 * S + 2),
            "no move by reply storm"
        );
        assert_eq!(t.lookup(GW, 5 * S), Lookup::Hit(MAC));
        // Group or zero MACs are never taken.
        t.lookup(ip(1), 6 * S);
        assert!(!t.on_reply(ip(1), [0xFF; 6], 6 * S));
        assert!(!t.on_reply(ip(1), [0; 6], 6 * S));
        assert_eq!((t.counters.unsolicited, t.counters.bad_mac), (3, 2));
    }

    #[test]
    fn aging() {
        let mut t = NextHopTable::<4>::new();
        t.lookup(GW, 0);
        t.on_reply(GW, MAC, 0);
        assert_eq!(t.lookup(GW, REACHABLE_NS - 1), Lookup::Hit(MAC));
        // Stale: still used, one refresh request per second.
        assert_eq!(t.lookup(GW, REACHABLE_NS), Lookup::HitRefresh(MAC));
        assert_eq!(t.lookup(GW, REACHABLE_NS + 1), Lookup::Hit(MAC));
        assert_eq!(t.lookup(GW, REACHABLE_NS + S), Lookup::HitRefresh(MAC));
        // The refresh answered: fresh again.
        assert!(t.on_reply(GW, MAC, REACHABLE_NS + S + 1));
        assert_eq!(t.lookup(GW, 2 * REACHABLE_NS), Lookup::Hit(MAC));
        // Never answered again: expired, a miss.
        let late = REACHABLE_NS + S + 1 + EXPIRE_NS;
        assert_eq!(t.lookup(GW, late), Lookup::Miss { request: true });
    }

    #[test]
    fn bounded_with_eviction() {
        let mut t = NextHopTable::<3>::new();
        for i in 1..=3 {
            t.lookup(ip(i), u64::from(i));
            assert!(t.on_reply(ip(i), MAC, u64::from(i)));
        }
        t.lookup(ip(1), 10); // hits do not refresh the confirmation
                             // Full: the least recently confirmed (ip 1) goes.
        assert_eq!(t.lookup(ip(4), 20), Lookup::Miss { request: true });
        assert_eq!(t.len(), 3);
        assert_eq!(t.counters.evictions, 1);
        assert_eq!(t.lookup(ip(2), 21), Lookup::Hit(MAC));
        // Full again: the unresolved ip 4 goes before resolved ones.
        t.lookup(ip(5), 22);
        assert_eq!(t.lookup(ip(2), 23), Lookup::Hit(MAC));
        assert_eq!(t.lookup(ip(3), 23), Lookup::Hit(MAC));
        t.forget(ip(2));
        assert_eq!(t.len(), 2);
        let mut empty = NextHopTable::<0>::new();
        assert_eq!(empty.lookup(GW, 0), Lookup::Miss { request: true });
        assert!(empty.is_empty());
    }
}
