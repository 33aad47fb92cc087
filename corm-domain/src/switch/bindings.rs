//! The dynamic IP bindings: `(segment, address) → (endpoint, MAC, until)`,
//! learned by DHCP snooping or first-come-first-served from an endpoint's own
//! claims (see [`super::ipguard`]). Bounded at a capacity fixed at
//! construction, allocated once and kept sorted by key, like the MAC table:
//! a lookup is a binary search, and nothing a frame says can grow it.
//!
//! A full table first forgets expired entries, then evicts the learned entry
//! closest to expiry; DHCP bindings give way only to other DHCP bindings.
//! Each endpoint holds at most [`LEARNED_PER_ENDPOINT`] learned addresses
//! and one DHCP address per MAC, so one guest cannot crowd out the others.

use alloc::vec::Vec;
use core::net::IpAddr;

use super::frame::Mac;
use super::table::Segment;
use super::Counters;

/// Addresses one endpoint may hold by first-come-first-served at once
/// (its own addresses on one interface: IPv4, link-local, a few global).
pub const LEARNED_PER_ENDPOINT: usize = 8;

/// How an address came to be an endpoint's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpSource {
    /// The controller's configuration (`wire/<id>/peer-ips`).
    Static,
    /// An IPv6 address whose interface identifier is the modified EUI-64 of
    /// one of the endpoint's MACs (RFC 4291 §2.5.1, appendix A).
    Eui64,
    /// A DHCPACK from the uplink answering the endpoint's request.
    Dhcp,
    /// The endpoint claimed it first (ARP, NA, NS, DAD) and nobody held it.
    Learned,
}

/// One dynamic binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBinding {
    /// `None` for the untagged segment.
    pub vlan: Option<u16>,
    pub ip: IpAddr,
    pub endpoint: u16,
    /// The MAC it was bound for (DHCP: `chaddr`; learned: the claim's).
    pub mac: Mac,
    /// [`IpSource::Dhcp`] or [`IpSource::Learned`].
    pub source: IpSource,
    /// When it lapses (`u64::MAX`: an infinite lease).
    pub expires_ns: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    key: (Segment, IpAddr),
    pub(crate) endpoint: u16,
    pub(crate) mac: Mac,
    pub(crate) dhcp: bool,
    expires_ns: u64,
}

#[derive(Debug)]
pub(crate) struct IpTable {
    /// Sorted by `key`, never longer than `capacity`.
    entries: Vec<Entry>,
    capacity: usize,
}

impl IpTable {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn find(&self, seg: Segment, ip: &IpAddr) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.key.cmp(&(seg, *ip)))
    }

    /// The live binding of `ip` in `seg`.
    pub(crate) fn get(&self, seg: Segment, ip: &IpAddr, now_ns: u64) -> Option<&Entry> {
        let e = &self.entries[self.find(seg, ip).ok()?];
        (now_ns < e.expires_ns).then_some(e)
    }

    /// Binds `ip` in `seg` to `(endpoint, mac)`, a DHCP client, until
    /// `expires_ns`, replacing whatever held it and the client's previous
    /// DHCP address (a client has one lease at a time).
    pub(crate) fn bind_dhcp(
        &mut self,
        seg: Segment,
        ip: IpAddr,
        (endpoint, mac): (u16, Mac),
        expires_ns: u64,
        now_ns: u64,
        c: &mut Counters,
    ) {
        self.entries
            .retain(|e| !(e.dhcp && e.endpoint == endpoint && e.mac == mac && e.key.1 != ip));
        self.put(seg, ip, endpoint, mac, true, expires_ns, now_ns, c);
    }

    /// Binds (or refreshes) `ip` in `seg` for `(endpoint, mac)`, learned
    /// from its own claim, until `expires_ns`. The caller checked nobody
    /// else holds it. Past [`LEARNED_PER_ENDPOINT`] the endpoint's oldest
    /// learned address goes.
    pub(crate) fn learn(
        &mut self,
        seg: Segment,
        ip: IpAddr,
        (endpoint, mac): (u16, Mac),
        expires_ns: u64,
        now_ns: u64,
        c: &mut Counters,
    ) {
        if let Ok(i) = self.find(seg, &ip) {
            let e = &mut self.entries[i];
            if e.endpoint == endpoint && now_ns < e.expires_ns {
                if !e.dhcp {
                    e.mac = mac;
                    e.expires_ns = e.expires_ns.max(expires_ns);
                }
                return;
            }
        }
        let mine = |e: &&Entry| !e.dhcp && e.endpoint == endpoint && e.key != (seg, ip);
        if self.entries.iter().filter(mine).count() >= LEARNED_PER_ENDPOINT {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| mine(e))
                .min_by_key(|(_, e)| e.expires_ns)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                self.entries.remove(i);
                c.ip_evicted += 1;
            }
        }
        if self.put(seg, ip, endpoint, mac, false, expires_ns, now_ns, c) {
            c.ip_learned += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        seg: Segment,
        ip: IpAddr,
        endpoint: u16,
        mac: Mac,
        dhcp: bool,
        expires_ns: u64,
        now_ns: u64,
        c: &mut Counters,
    ) -> bool {
        let entry = Entry {
            key: (seg, ip),
            endpoint,
            mac,
            dhcp,
            expires_ns,
        };
        if let Ok(i) = self.find(seg, &ip) {
            self.entries[i] = entry;
            return true;
        }
        if self.capacity == 0 {
            return false;
        }
        if self.entries.len() >= self.capacity {
            c.ip_aged_out += self.expire(now_ns) as u64;
        }
        if self.entries.len() >= self.capacity {
            // Learned entries go first; a learned one never evicts DHCP.
            let victim = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| dhcp || !e.dhcp)
                .min_by_key(|(_, e)| (e.dhcp, e.expires_ns))
                .map(|(i, _)| i);
            match victim {
                Some(i) => {
                    self.entries.remove(i);
                    c.ip_evicted += 1;
                }
                None => return false,
            }
        }
        let at = self.find(seg, &ip).unwrap_or_else(|at| at);
        self.entries.insert(at, entry);
        true
    }

    /// Forgets expired entries; returns how many.
    pub(crate) fn expire(&mut self, now_ns: u64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| now_ns < e.expires_ns);
        before - self.entries.len()
    }

    /// Keeps the entries `keep` accepts; returns how many went.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| keep(e));
        before - self.entries.len()
    }

    /// The bindings in `seg` made for one of `macs` now belong to endpoint
    /// `to`: the MACs moved there (the controller owns MACs, and a MAC has
    /// one endpoint per segment), so their guest did.
    pub(crate) fn follow_macs(&mut self, seg: Segment, macs: &[Mac], to: u16) {
        for e in self.entries.iter_mut() {
            if e.key.0 == seg && macs.contains(&e.mac) {
                e.endpoint = to;
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = IpBinding> + '_ {
        self.entries.iter().map(|e| IpBinding {
            vlan: (e.key.0 != 0).then_some(e.key.0),
            ip: e.key.1,
            endpoint: e.endpoint,
            mac: e.mac,
            source: if e.dhcp {
                IpSource::Dhcp
            } else {
                IpSource::Learned
            },
            expires_ns: e.expires_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn bounded_learned_gives_way_dhcp_one_per_client() {
        let mut c = Counters::default();
        let mut t = IpTable::new(4);
        let m = [2, 0, 0, 0, 0, 1];
        for n in 0..3 {
            t.learn(0, ip(n), (1, m), 100 + u64::from(n), 0, &mut c);
        }
        t.bind_dhcp(0, ip(10), (2, m), 1000, 0, &mut c);
        assert_eq!(t.len(), 4);
        // Full: a DHCP binding evicts the learned entry closest to expiry.
        t.bind_dhcp(0, ip(11), (3, m), 1000, 0, &mut c);
        assert_eq!((t.len(), c.ip_evicted), (4, 1));
        assert!(t.get(0, &ip(0), 0).is_none());
        // A learned one never evicts DHCP: learned go first.
        t.learn(0, ip(20), (4, m), 500, 0, &mut c);
        assert!(t.get(0, &ip(10), 0).is_some() && t.get(0, &ip(11), 0).is_some());
        // A new lease for the same client replaces its old one.
        t.bind_dhcp(0, ip(12), (3, m), 1000, 0, &mut c);
        assert!(t.get(0, &ip(11), 0).is_none());
        assert_eq!(t.get(0, &ip(12), 0).map(|e| e.endpoint), Some(3));
        // Expiry: a lookup ignores it, expire() frees it.
        assert!(t.get(0, &ip(20), 500).is_none());
        assert!(t.get(0, &ip(20), 499).is_some());
        assert_eq!(t.expire(1000), 4);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn learned_per_endpoint_cap() {
        let mut c = Counters::default();
        let mut t = IpTable::new(64);
        let m = [2, 0, 0, 0, 0, 1];
        for n in 0..20u8 {
            t.learn(0, ip(n), (7, m), 1000 + u64::from(n), 0, &mut c);
        }
        assert_eq!(t.len(), LEARNED_PER_ENDPOINT);
        assert!(t.get(0, &ip(19), 0).is_some() && t.get(0, &ip(0), 0).is_none());
        // Refreshing an address it holds is not a new one.
        t.learn(0, ip(19), (7, m), 5000, 0, &mut c);
        assert_eq!(t.len(), LEARNED_PER_ENDPOINT);
        assert_eq!(c.ip_learned, 20);
        // A table full of leases learns nothing (and says so).
        let mut full = IpTable::new(2);
        full.bind_dhcp(0, ip(1), (1, m), 100, 0, &mut c);
        full.bind_dhcp(0, ip(2), (2, m), 100, 0, &mut c);
        full.learn(0, ip(3), (3, m), 100, 0, &mut c);
        assert_eq!((full.len(), c.ip_learned), (2, 20));
    }
}
