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

pub mod counters;
pub mod egress;
pub mod flood;
pub mod frame;
pub mod table;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use thiserror::Error;

pub use counters::Counters;
pub use egress::Egress;
pub use flood::FloodLimit;
pub use frame::Mac;
pub use table::MacEntry;

use flood::TokenBucket;
use frame::{is_group, is_tag, is_valid_source, vlan_id, EthHeader, TPID_8021Q};
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

/// An endpoint's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The VLAN (`1..=4094`) the endpoint is an access port of; `None` for the
    /// untagged segment.
    pub vlan: Option<u16>,
    /// The source MACs the endpoint may use (the Spike's wire hello). Frames
    /// from any other source are dropped.
    pub macs: heapless::Vec<Mac, MAX_ENDPOINT_MACS>,
}

/// The switch's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchConfig {
    /// MAC-table entries, allocated at construction (0: never learn, flood
    /// everything).
    pub mac_capacity: usize,
    /// An entry not seen as a source for longer than this is forgotten
    /// (`u64::MAX`: never).
    pub aging_ns: u64,
    /// Floods allowed per ingress port.
    pub flood: FloodLimit,
}

impl Default for SwitchConfig {
    /// 1024 entries, 802.1D's default 300 s aging, 1000 floods/s with a burst
    /// of 256 per port (ARP/ND and DHCP fit easily; a storm does not).
    fn default() -> Self {
        Self {
            mac_capacity: 1024,
            aging_ns: 300_000_000_000,
            flood: FloodLimit {
                rate: 1000,
                burst: 256,
            },
        }
    }
}

/// A refused endpoint (re)configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("VLAN id {0} is outside 1..=4094")]
    BadVlan(u16),
    #[error("MAC {0:02x?} is a group or all-zero address")]
    BadMac(Mac),
    #[error("MAC {mac:02x?} is already registered to endpoint {endpoint} in that VLAN")]
    MacInUse { mac: Mac, endpoint: u16 },
    #[error("endpoint {0} already exists")]
    EndpointExists(u16),
    #[error("no endpoint {0}")]
    UnknownEndpoint(u16),
}

/// Why [`Switch::ingress`] dropped a frame (each has a counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Runt,
    TaggedFromEndpoint,
    Spoofed,
    BadSource,
    BadVlan,
    UnknownPort,
    FloodLimit,
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
    uplink_bucket: TokenBucket,
    counters: Counters,
}

impl Switch {
    /// A switch with no endpoints; allocates the whole MAC table now.
    pub fn new(cfg: SwitchConfig) -> Self {
        Self {
            cfg,
            table: MacTable::new(cfg.mac_capacity, cfg.aging_ns),
            endpoints: BTreeMap::new(),
            uplink_bucket: TokenBucket::default(),
            counters: Counters::default(),
        }
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
            },
        );
        Ok(())
    }

    /// Replaces endpoint `id`'s configuration and forgets the MACs learned on
    /// it (they may belong to another VLAN now, or no longer be its own). Its
    /// flood bucket is kept, so reconfiguring cannot refill it.
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
            ep.cfg = cfg;
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
        Ok(())
    }

    /// The port `mac` was learned on in `vlan` (`None`: untagged segment), if
    /// it has not aged out by `now_ns`.
    pub fn lookup(&self, vlan: Option<u16>, mac: &Mac, now_ns: u64) -> Option<Port> {
        self.table.lookup(vlan.unwrap_or(0), mac, now_ns)
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

    /// Forgets the entries aged by `now_ns`; returns how many. Lookups ignore
    /// aged entries anyway; call this now and then to free their slots early.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let n = self.table.expire(now_ns);
        self.counters.aged_out += n as u64;
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
                    DropReason::TaggedFromEndpoint => &mut c.dropped_tagged_from_endpoint,
                    DropReason::Spoofed => &mut c.dropped_spoofed,
                    DropReason::BadSource => &mut c.dropped_bad_source,
                    DropReason::BadVlan => &mut c.dropped_bad_vlan,
                    DropReason::UnknownPort => &mut c.dropped_unknown_port,
                    DropReason::FloodLimit => &mut c.dropped_flood_limit,
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
        let (seg, tagged) = match from {
            Port::Endpoint(id) => {
                let ep = self.endpoints.get(&id).ok_or(DropReason::UnknownPort)?;
                let hdr = hdr.ok_or(DropReason::Runt)?;
                if is_tag(hdr.ethertype) {
                    return Err(DropReason::TaggedFromEndpoint);
                }
                if is_group(&hdr.src) || !ep.cfg.macs.contains(&hdr.src) {
                    return Err(DropReason::Spoofed);
                }
                (ep.segment(), false)
            }
            Port::Uplink => {
                let hdr = hdr.ok_or(DropReason::Runt)?;
                let (seg, tagged) = if hdr.ethertype == TPID_8021Q {
                    // VID 0 is a priority tag: the frame is in the untagged segment.
                    (vlan_id(frame).ok_or(DropReason::Runt)?, true)
                } else {
                    (0, false)
                };
                if seg > MAX_VID {
                    return Err(DropReason::BadVlan);
                }
                if !is_valid_source(&hdr.src) {
                    return Err(DropReason::BadSource);
                }
                (seg, tagged)
            }
        };
        // `hdr` is Some here: both arms returned on a runt.
        let hdr = hdr.ok_or(DropReason::Runt)?;
        self.table
            .learn(seg, &hdr.src, from, now_ns, &mut self.counters);
        Ok((seg, tagged, hdr.dst))
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
            let known = self.table.lookup(seg, dst, now_ns).filter(|to| match to {
                Port::Uplink => true,
                // A stale entry (cannot happen: removal flushes) floods instead.
                Port::Endpoint(id) => self.endpoints.get(id).is_some_and(|ep| ep.segment() == seg),
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
        if flood_targets(&self.endpoints, from, seg).next().is_none() {
            self.counters.filtered += 1;
            return Verdict::Filtered;
        }
        let limit = self.cfg.flood;
        let bucket = match from {
            Port::Uplink => Some(&mut self.uplink_bucket),
            Port::Endpoint(id) => self.endpoints.get_mut(&id).map(|ep| &mut ep.bucket),
        };
        if !bucket.is_some_and(|b| b.take(limit, now_ns)) {
            self.counters.dropped_flood_limit += 1;
            return Verdict::Dropped(DropReason::FloodLimit);
        }
        let mut copies = 0;
        for to in flood_targets(&self.endpoints, from, seg) {
            out(to, emit(to));
            copies += 1;
        }
        self.counters.flooded += 1;
        Verdict::Flooded(copies)
    }
}

/// Every port of segment `seg` but `from`: the uplink (a trunk, in every
/// segment) and the endpoints of `seg`, in id order.
fn flood_targets(
    endpoints: &BTreeMap<u16, Endpoint>,
    from: Port,
    seg: Segment,
) -> impl Iterator<Item = Port> + '_ {
    let uplink = (from != Port::Uplink).then_some(Port::Uplink);
    let eps = endpoints
        .iter()
        .filter(move |(_, ep)| ep.segment() == seg)
        .map(|(id, _)| Port::Endpoint(*id))
        .filter(move |p| *p != from);
    uplink.into_iter().chain(eps)
}
