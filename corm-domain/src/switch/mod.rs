//! The Corm's sans-IO L2 switch: one uplink port (the physical NIC) and any
//! number of endpoints (each wired to a Spike, i.e. one guest's vif).
//!
//! The caller hands every received frame to [`Switch::ingress`] with the port
//! it came from and the current time; the switch validates it, learns its
//! source, and calls back once per copy to emit, saying how (see [`Egress`]).
//! It never reads a clock, never allocates per frame and never panics on
//! frame contents.
//!
//! Trust model: the uplink is an 802.1Q trunk carrying every VLAN (untagged
//! frames are the untagged segment); endpoints are untagged access ports
//! whose VLAN and MACs come from configuration (the Spike's wire hello), so a
//! guest can neither forge another MAC nor reach another VLAN. A frame never
//! crosses segments: each segment has its own MAC-table keys and flood set.
//!
//! An endpoint's registered MACs are *pinned*: frames to them go to that
//! endpoint without a table lookup, they never enter the (bounded, aged)
//! table, so a flood of forged sources cannot evict them, and a frame from
//! the uplink claiming one as its source is dropped and counted rather than
//! learned as a move (a remote host stealing a guest's traffic). Floods from
//! the uplink are limited per segment, so a storm on one VLAN cannot starve
//! ARP and DHCP on another.
//!
//! The same goes one layer up ([`ipguard`]): an endpoint's IP addresses
//! (configured, snooped from DHCP, or claimed first) can only be announced
//! by ARP or Neighbor Discovery for that endpoint's own MACs, so a forged
//! ARP reply or NA cannot divert guest-to-guest traffic out of the NIC.
#![forbid(unsafe_code)]

pub mod arp;
pub mod bindings;
mod config;
pub mod counters;
pub mod dhcp;
pub mod egress;
pub mod flood;
pub mod frame;
pub mod ipguard;
pub mod nd;
pub mod table;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use core::net::IpAddr;

pub use bindings::{IpBinding, IpSource};
pub use config::{ConfigError, EndpointConfig, SwitchConfig};
pub use counters::Counters;
pub use egress::Egress;
pub use flood::FloodLimit;
pub use frame::Mac;
pub use table::MacEntry;

use bindings::IpTable;
use flood::TokenBucket;
use frame::{is_group, is_tag, is_valid_source, l3, vlan_id, EthHeader, TPID_8021Q};
use table::{MacTable, Segment};

/// A switch port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Port {
    /// The physical NIC: a trunk carrying every VLAN.
    Uplink,
    /// The endpoint with this id (one Spike's vif).
    Endpoint(u16),
}

/// The highest VID a VLAN may have (4095 is reserved).
pub const MAX_VID: u16 = 4094;

/// MACs one endpoint may register.
pub const MAX_ENDPOINT_MACS: usize = 4;

/// IP addresses the controller may give one endpoint
/// ([`Switch::set_endpoint_ips`]).
pub const MAX_ENDPOINT_IPS: usize = 8;

/// Dynamic IP bindings (DHCP and learned) the switch holds at most: room
/// for 64 endpoints' worth of DHCP leases and learned addresses.
pub const IP_TABLE_CAPACITY: usize = 1024;

/// Why [`Switch::ingress`] dropped a frame (each has a counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Runt,
    /// An uplink frame whose source MAC a local endpoint owns.
    StolenMac,
    TaggedFromEndpoint,
    Spoofed,
    BadSource,
    BadVlan,
    /// An uplink frame with a second tag inside the 802.1Q one (Q-in-Q), or
    /// an outer 802.1ad/legacy tag: stripping one tag would hand a guest a
    /// tagged frame (VLAN hopping into a guest's own VLAN interfaces).
    DoubleTag,
    /// An uplink frame longer than a (tagged) 1500-byte-MTU frame.
    Giant,
    UnknownPort,
    FloodLimit,
    /// An ARP packet claiming an endpoint's IP address for a MAC that is not
    /// the endpoint's, or an endpoint's ARP for a MAC not its own.
    ArpSpoof,
    /// The same for an IPv6 Neighbor Solicitation or Advertisement.
    NdSpoof,
}

/// What [`Switch::ingress`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Sent to the one port its destination is on.
    Forwarded(Port),
    /// Flooded: this many copies emitted (at least one).
    Flooded(usize),
    /// Valid, but with nowhere to go (destination on the ingress port, or no
    /// other port in the VLAN).
    Filtered,
    Dropped(DropReason),
}

#[derive(Debug)]
struct Endpoint {
    cfg: EndpointConfig,
    bucket: TokenBucket,
    /// Its addresses by configuration ([`IpSource::Static`]).
    static_ips: heapless::Vec<IpAddr, MAX_ENDPOINT_IPS>,
    /// Its open DHCP transactions: (client MAC, xid, when requested).
    dhcp_pending: heapless::Vec<(Mac, u32, u64), MAX_ENDPOINT_MACS>,
    /// A remote segment's port (an encap wire to another host's switch or a
    /// standard VTEP): its sources are learned as on the uplink, and its
    /// ARP/ND/DHCP is judged as the uplink's, instead of being held to the
    /// MACs a Spike announced.
    learning: bool,
}

impl Endpoint {
    fn segment(&self) -> Segment {
        self.cfg.vlan.unwrap_or(0)
    }
}

/// The learning switch.
#[derive(Debug)]
pub struct Switch {
    cfg: SwitchConfig,
    table: MacTable,
    endpoints: BTreeMap<u16, Endpoint>,
    /// Flood buckets for uplink frames, one per segment that has endpoints
    /// (floods into other segments are filtered before they cost a token).
    uplink_buckets: BTreeMap<Segment, TokenBucket>,
    /// Dynamic IP bindings (DHCP snooped, learned).
    ips: IpTable,
    /// VLANs kept off the uplink ([`Switch::set_local_vlan`]).
    local: alloc::collections::BTreeSet<Segment>,
    counters: Counters,
}

impl Switch {
    /// A switch with no endpoints; allocates the whole MAC table now.
    pub fn new(cfg: SwitchConfig) -> Self {
        Self {
            cfg,
            table: MacTable::new(cfg.mac_capacity, cfg.aging_ns),
            endpoints: BTreeMap::new(),
            uplink_buckets: BTreeMap::new(),
            local: alloc::collections::BTreeSet::new(),
            ips: IpTable::new(IP_TABLE_CAPACITY),
            counters: Counters::default(),
        }
    }

    /// Keeps VLAN `vid` off the uplink (`local`) or trunks it again: a
    /// local VLAN is a segment of this Corm's endpoints only (a Spike's
    /// guest and the tunnel that relays it to another host's segment), so
    /// its floods never reach the physical network (where they would loop
    /// back through the remote Corm) and uplink frames tagged with it are
    /// dropped (`dropped_bad_vlan`).
    pub fn set_local_vlan(&mut self, vid: u16, local: bool) -> Result<(), ConfigError> {
        if !(1..=MAX_VID).contains(&vid) {
            return Err(ConfigError::BadVlan(vid));
        }
        if local {
            self.local.insert(vid);
        } else {
            self.local.remove(&vid);
        }
        Ok(())
    }

    pub fn config(&self) -> &SwitchConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Adds endpoint `id`.
    pub fn add_endpoint(&mut self, id: u16, cfg: EndpointConfig) -> Result<(), ConfigError> {
        if self.endpoints.contains_key(&id) {
            return Err(ConfigError::EndpointExists(id));
        }
        self.validate(id, &cfg)?;
        self.endpoints.insert(
            id,
            Endpoint {
                cfg,
                bucket: TokenBucket::default(),
                static_ips: heapless::Vec::new(),
                dhcp_pending: heapless::Vec::new(),
                learning: false,
            },
        );
        Ok(())
    }

    /// Makes endpoint `id` a learning port (a tunnel to a remote segment:
    /// `learning`) or a Spike's (only its announced MACs). Forgets what was
    /// learned on it either way.
    pub fn set_learning(&mut self, id: u16, learning: bool) -> Result<(), ConfigError> {
        let ep = self
            .endpoints
            .get_mut(&id)
            .ok_or(ConfigError::UnknownEndpoint(id))?;
        ep.learning = learning;
        self.table.flush_port(Port::Endpoint(id));
        Ok(())
    }

    /// Replaces endpoint `id`'s configuration and forgets the MACs learned on
    /// it (they may belong to another VLAN now, or no longer be its own). Its
    /// flood bucket is kept, so reconfiguring cannot refill it. Its dynamic
    /// IP bindings stay while its segment and their MACs do; withdrawing its
    /// MACs (a wire down) keeps them, so its addresses stay guarded while
    /// the guest is away.
    pub fn reconfigure_endpoint(
        &mut self,
        id: u16,
        cfg: EndpointConfig,
    ) -> Result<(), ConfigError> {
        if !self.endpoints.contains_key(&id) {
            return Err(ConfigError::UnknownEndpoint(id));
        }
        self.validate(id, &cfg)?;
        if let Some(ep) = self.endpoints.get_mut(&id) {
            let moved = ep.segment() != cfg.vlan.unwrap_or(0);
            let macs = cfg.macs.clone();
            ep.cfg = cfg;
            ep.dhcp_pending.clear();
            // A withdrawal (no MACs) keeps them; new MACs keep their own,
            // and take those they had on another endpoint (the guest moved).
            let keep = |mac: &Mac| !moved && (macs.is_empty() || macs.contains(mac));
            self.ips.retain(|b| b.endpoint != id || keep(&b.mac));
            self.ips.follow_macs(ep.segment(), &macs, id);
        }
        self.table.flush_port(Port::Endpoint(id));
        Ok(())
    }

    /// Removes endpoint `id` and forgets the MACs learned on it; returns its
    /// configuration.
    pub fn remove_endpoint(&mut self, id: u16) -> Result<EndpointConfig, ConfigError> {
        let ep = self
            .endpoints
            .remove(&id)
            .ok_or(ConfigError::UnknownEndpoint(id))?;
        self.table.flush_port(Port::Endpoint(id));
        self.ips.retain(|b| b.endpoint != id);
        Ok(ep.cfg)
    }

    pub fn endpoint(&self, id: u16) -> Option<&EndpointConfig> {
        self.endpoints.get(&id).map(|ep| &ep.cfg)
    }

    /// Every endpoint, by id.
    pub fn endpoints(&self) -> impl Iterator<Item = (u16, &EndpointConfig)> + '_ {
        self.endpoints.iter().map(|(id, ep)| (*id, &ep.cfg))
    }

    /// Checks a configuration for endpoint `id`: a valid VID, valid unicast
    /// MACs, none registered twice in the same segment (anti-spoof relies on
    /// each MAC having one owner).
    fn validate(&self, id: u16, cfg: &EndpointConfig) -> Result<(), ConfigError> {
        if let Some(v) = cfg.vlan {
            if !(1..=MAX_VID).contains(&v) {
                return Err(ConfigError::BadVlan(v));
            }
        }
        let seg = cfg.vlan.unwrap_or(0);
        for (i, mac) in cfg.macs.iter().enumerate() {
            if !is_valid_source(mac) {
                return Err(ConfigError::BadMac(*mac));
            }
            if cfg.macs[..i].contains(mac) {
                return Err(ConfigError::MacInUse {
                    mac: *mac,
                    endpoint: id,
                });
            }
            let owner = self.endpoints.iter().find(|(other, ep)| {
                **other != id && ep.segment() == seg && ep.cfg.macs.contains(mac)
            });
            if let Some((other, _)) = owner {
                return Err(ConfigError::MacInUse {
                    mac: *mac,
                    endpoint: *other,
                });
            }
        }
        // Its configured addresses follow it into a new segment.
        for ip in self.endpoint_ips(id) {
            if let Some(other) = self.static_owner(seg, ip, id) {
                return Err(ConfigError::IpInUse {
                    ip: *ip,
                    endpoint: other,
                });
            }
        }
        Ok(())
    }

    /// The port of `mac` in `vlan` (`None`: untagged segment): the endpoint
    /// that registered it, or where it was learned if that has not aged out
    /// by `now_ns`.
    pub fn lookup(&self, vlan: Option<u16>, mac: &Mac, now_ns: u64) -> Option<Port> {
        let seg = vlan.unwrap_or(0);
        self.owner(seg, mac)
            .map(Port::Endpoint)
            .or_else(|| self.table.lookup(seg, mac, now_ns))
    }

    /// Learned entries, sorted by (VLAN, MAC); may include aged ones not yet
    /// [`expire`](Self::expire)d.
    pub fn mac_table(&self) -> impl Iterator<Item = MacEntry> + '_ {
        self.table.iter()
    }

    pub fn mac_table_len(&self) -> usize {
        self.table.len()
    }

    pub fn mac_table_capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Forgets the MAC entries aged by `now_ns`, and the IP bindings lapsed
    /// by then; returns how many MAC entries. Lookups ignore aged entries
    /// anyway; call this now and then to free their slots early.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let n = self.table.expire(now_ns);
        self.counters.aged_out += n as u64;
        self.counters.ip_aged_out += self.ips.expire(now_ns) as u64;
        n
    }

    /// Switches one frame received on `from` at `now_ns`, calling `out` once
    /// per copy to emit (never for the ingress port). See the module docs.
    pub fn ingress(
        &mut self,
        from: Port,
        frame: &[u8],
        now_ns: u64,
        out: &mut impl FnMut(Port, Egress<'_>),
    ) -> Verdict {
        match self.classify(from, frame, now_ns) {
            Ok((seg, tagged, dst)) => self.forward(from, frame, seg, tagged, &dst, now_ns, out),
            Err(reason) => {
                let c = &mut self.counters;
                *match reason {
                    DropReason::Runt => &mut c.dropped_runt,
                    DropReason::StolenMac => &mut c.dropped_mac_steal,
                    DropReason::TaggedFromEndpoint => &mut c.dropped_tagged_from_endpoint,
                    DropReason::Spoofed => &mut c.dropped_spoofed,
                    DropReason::BadSource => &mut c.dropped_bad_source,
                    DropReason::BadVlan => &mut c.dropped_bad_vlan,
                    DropReason::DoubleTag => &mut c.dropped_double_tag,
                    DropReason::Giant => &mut c.dropped_giant,
                    DropReason::UnknownPort => &mut c.dropped_unknown_port,
                    DropReason::FloodLimit => &mut c.dropped_flood_limit,
                    DropReason::ArpSpoof => &mut c.dropped_arp_spoof,
                    DropReason::NdSpoof => &mut c.dropped_nd_spoof,
                } += 1;
                Verdict::Dropped(reason)
            }
        }
    }

    /// Validates a frame and learns its source: returns its segment, whether
    /// it carries an 802.1Q tag (uplink only) and its destination.
    fn classify(
        &mut self,
        from: Port,
        frame: &[u8],
        now_ns: u64,
    ) -> Result<(Segment, bool, Mac), DropReason> {
        let hdr = EthHeader::parse(frame);
        let mut learning = false;
        let (seg, tagged) = match from {
            Port::Endpoint(id) => {
                let ep = self.endpoints.get(&id).ok_or(DropReason::UnknownPort)?;
                let hdr = hdr.ok_or(DropReason::Runt)?;
                if is_tag(hdr.ethertype) {
                    return Err(DropReason::TaggedFromEndpoint);
                }
                learning = ep.learning;
                let seg = ep.segment();
                if learning {
                    // A remote segment: any unicast source, but never one
                    // of our endpoints' (as from the uplink).
                    if !is_valid_source(&hdr.src) {
                        return Err(DropReason::BadSource);
                    }
                    if self.owner(seg, &hdr.src).is_some() {
                        return Err(DropReason::StolenMac);
                    }
                } else if is_group(&hdr.src) || !ep.cfg.macs.contains(&hdr.src) {
                    return Err(DropReason::Spoofed);
                }
                (seg, false)
            }
            Port::Uplink => {
                let hdr = hdr.ok_or(DropReason::Runt)?;
                let (seg, tagged) = match hdr.ethertype {
                    // VID 0 is a priority tag: the frame is in the untagged segment.
                    TPID_8021Q => (vlan_id(frame).ok_or(DropReason::Runt)?, true),
                    t if is_tag(t) => return Err(DropReason::DoubleTag),
                    _ => (0, false),
                };
                if tagged && l3(frame).is_some_and(|(inner, _)| is_tag(inner)) {
                    return Err(DropReason::DoubleTag);
                }
                if frame.len() > netframe::mtu_frame_len(netframe::ETH_DATA_LEN, tagged) {
                    return Err(DropReason::Giant);
                }
                if seg > MAX_VID || self.local.contains(&seg) {
                    return Err(DropReason::BadVlan);
                }
                if !is_valid_source(&hdr.src) {
                    return Err(DropReason::BadSource);
                }
                if self.owner(seg, &hdr.src).is_some() {
                    return Err(DropReason::StolenMac);
                }
                (seg, tagged)
            }
        };
        // `hdr` is Some here: both arms returned on a runt.
        let hdr = hdr.ok_or(DropReason::Runt)?;
        // A remote segment's claims are judged as the uplink's: it may not
        // claim our endpoints' addresses, and its DHCP server is snooped.
        let judged_as = if learning { Port::Uplink } else { from };
        self.guard(judged_as, seg, hdr.src, frame, now_ns)?;
        // Pinned MACs are not learned: they have their endpoint for good.
        if learning || !matches!(from, Port::Endpoint(_)) {
            self.table
                .learn(seg, &hdr.src, from, now_ns, &mut self.counters);
        }
        Ok((seg, tagged, hdr.dst))
    }

    /// The endpoint of segment `seg` that registered `mac`, if any.
    fn owner(&self, seg: Segment, mac: &Mac) -> Option<u16> {
        self.endpoints
            .iter()
            .find(|(_, ep)| ep.segment() == seg && ep.cfg.macs.contains(mac))
            .map(|(id, _)| *id)
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        from: Port,
        frame: &[u8],
        seg: Segment,
        tagged: bool,
        dst: &Mac,
        now_ns: u64,
        out: &mut impl FnMut(Port, Egress<'_>),
    ) -> Verdict {
        let emit = |to: Port| match to {
            Port::Uplink if seg == 0 => Egress::AsIs(frame),
            Port::Uplink => Egress::Tagged { vid: seg, frame },
            Port::Endpoint(_) if tagged => Egress::Untagged { frame },
            Port::Endpoint(_) => Egress::AsIs(frame),
        };
        if !is_group(dst) {
            let pinned = self.owner(seg, dst).map(Port::Endpoint);
            let known = pinned
                .or_else(|| self.table.lookup(seg, dst, now_ns))
                .filter(|to| match to {
                    Port::Uplink => true,
                    // A stale entry (cannot happen: removal flushes) floods instead.
                    Port::Endpoint(id) => {
                        self.endpoints.get(id).is_some_and(|ep| ep.segment() == seg)
                    }
                });
            if let Some(to) = known {
                if to == from {
                    self.counters.filtered += 1;
                    return Verdict::Filtered;
                }
                out(to, emit(to));
                self.counters.forwarded += 1;
                return Verdict::Forwarded(to);
            }
        }
        let trunked = !self.local.contains(&seg);
        if flood_targets(&self.endpoints, from, seg, trunked)
            .next()
            .is_none()
        {
            self.counters.filtered += 1;
            return Verdict::Filtered;
        }
        let limit = self.cfg.flood;
        let bucket = match from {
            Port::Uplink => Some(self.uplink_buckets.entry(seg).or_default()),
            Port::Endpoint(id) => self.endpoints.get_mut(&id).map(|ep| &mut ep.bucket),
        };
        if !bucket.is_some_and(|b| b.take(limit, now_ns)) {
            self.counters.dropped_flood_limit += 1;
            return Verdict::Dropped(DropReason::FloodLimit);
        }
        let mut copies = 0;
        for to in flood_targets(&self.endpoints, from, seg, trunked) {
            out(to, emit(to));
            copies += 1;
        }
        self.counters.flooded += 1;
        Verdict::Flooded(copies)
    }
}

/// Every port of segment `seg` but `from`: the uplink (a trunk, in every
/// segment that is `trunked`, not local) and the endpoints of `seg`, in id
/// order.
fn flood_targets(
    endpoints: &BTreeMap<u16, Endpoint>,
    from: Port,
    seg: Segment,
    trunked: bool,
) -> impl Iterator<Item = Port> + '_ {
    let uplink = (trunked && from != Port::Uplink).then_some(Port::Uplink);
    let eps = endpoints
        .iter()
        .filter(move |(_, ep)| ep.segment() == seg)
        .map(|(id, _)| Port::Endpoint(*id))
        .filter(move |p| *p != from);
    uplink.into_iter().chain(eps)
}
