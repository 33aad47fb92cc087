//! Dynamic ARP inspection and its IPv6 counterpart: who may say where an
//! endpoint's IP address is.
//!
//! A learning switch that only pins MACs still lets any host on the uplink
//! answer an ARP request (or send a gratuitous ARP, RFC 826/5227) with "the
//! guest's IP is at *my* MAC": the other guests' caches follow, and their
//! traffic to that guest leaves through the NIC. A default Linux bridge has
//! the same hole. Here an address an endpoint owns can only be claimed for
//! that endpoint's own MACs: an ARP packet (request, reply or gratuitous)
//! whose sender address is owned, or a Neighbor Solicitation/Advertisement
//! (RFC 4861) whose source/target is, is dropped and counted
//! (`dropped_arp_spoof`, `dropped_nd_spoof`) when the MAC it gives is not one
//! of the owner's.
//!
//! Where ownership comes from, most trusted first:
//! 1. [`IpSource::Static`]: the controller's configuration (`banana spike
//!    create --ip`, `wire/<id>/peer-ips` in the Corm's config), as the vif's
//!    `ip=` key says for a Linux netback's hotplug script.
//! 2. [`IpSource::Eui64`]: an IPv6 address whose interface identifier is the
//!    modified EUI-64 of one of the endpoint's (controller-given) MACs: a
//!    host elsewhere could only use it with that MAC.
//! 3. [`IpSource::Dhcp`]: DHCP snooping. A DHCPACK from the uplink (RFC 2131)
//!    answering a request the endpoint made (same `xid` and `chaddr`, within
//!    [`DHCP_XID_TTL_NS`]) binds `yiaddr` to it for the lease.
//! 4. [`IpSource::Learned`]: first come, first served (in the spirit of
//!    RFC 6620): an endpoint's own ARP, NA or NS (DAD included) for an
//!    address nobody holds binds it to that endpoint for
//!    [`LEARNED_TTL_NS`], refreshed by each claim.
//!
//! All four are enforced between endpoints: a guest cannot take another's
//! address, and its ARP/ND must give its own MAC. Toward the uplink only the
//! first three are: an endpoint's own word is no evidence against a host on
//! the network (a guest that claimed the gateway's address first would
//! otherwise have the Corm drop the gateway's replies). DAD probes are never
//! dropped: the owner must see them to defend its address.

use core::net::IpAddr;

use super::bindings::IpBinding;
use super::bindings::IpSource;
use super::dhcp::Dhcp;
use super::frame::{l3, Mac, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::nd::NdClaim;
use super::table::Segment;
use super::{arp, dhcp, nd, ConfigError, DropReason, Port, Switch, MAX_ENDPOINT_IPS};

/// How long an address an endpoint claimed first stays its without a new
/// claim (an active host re-ARPs its neighbours far more often).
pub const LEARNED_TTL_NS: u64 = 600_000_000_000;
/// How long after an endpoint's DHCP request its server's ACK still counts.
pub const DHCP_XID_TTL_NS: u64 = 60_000_000_000;
/// The lease assumed for an ACK without a lease-time option.
pub const DHCP_DEFAULT_LEASE_S: u64 = 3600;

/// Whether `ip` can be a host's own address (not unspecified, broadcast,
/// multicast or loopback).
pub fn bindable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
        }
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast() || a.is_loopback()),
    }
}

/// The modified EUI-64 interface identifier of `mac` (RFC 4291 appendix A).
pub fn eui64(mac: &Mac) -> [u8; 8] {
    [
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]
}

impl Switch {
    /// Sets the IP addresses endpoint `id` owns by configuration (the
    /// controller's `peer-ips`; empty: none). Refused if one is not a host
    /// address, is listed twice or is configured for another endpoint of
    /// its segment.
    pub fn set_endpoint_ips(&mut self, id: u16, ips: &[IpAddr]) -> Result<(), ConfigError> {
        let seg = self
            .endpoints
            .get(&id)
            .ok_or(ConfigError::UnknownEndpoint(id))?
            .segment();
        if ips.len() > MAX_ENDPOINT_IPS {
            return Err(ConfigError::TooManyIps(ips.len()));
        }
        for (i, ip) in ips.iter().enumerate() {
            if !bindable(ip) {
                return Err(ConfigError::BadIp(*ip));
            }
            if ips[..i].contains(ip) {
                return Err(ConfigError::IpInUse {
                    ip: *ip,
                    endpoint: id,
                });
            }
            if let Some(other) = self.static_owner(seg, ip, id) {
                return Err(ConfigError::IpInUse {
                    ip: *ip,
                    endpoint: other,
                });
            }
        }
        if let Some(ep) = self.endpoints.get_mut(&id) {
            ep.static_ips = ips.iter().copied().take(MAX_ENDPOINT_IPS).collect();
        }
        Ok(())
    }

    /// The endpoint other than `id` of segment `seg` configured with `ip`.
    pub(super) fn static_owner(&self, seg: Segment, ip: &IpAddr, id: u16) -> Option<u16> {
        self.endpoints
            .iter()
            .find(|(o, ep)| **o != id && ep.segment() == seg && ep.static_ips.contains(ip))
            .map(|(o, _)| *o)
    }

    /// Endpoint `id`'s configured IP addresses.
    pub fn endpoint_ips(&self, id: u16) -> &[IpAddr] {
        self.endpoints
            .get(&id)
            .map_or(&[][..], |ep| ep.static_ips.as_slice())
    }

    /// The endpoint owning `ip` in `vlan` (`None`: untagged) at `now_ns`, and
    /// why (see the module docs).
    pub fn ip_owner(&self, vlan: Option<u16>, ip: &IpAddr, now_ns: u64) -> Option<(u16, IpSource)> {
        self.ip_owner_in(vlan.unwrap_or(0), ip, now_ns)
    }

    /// The dynamic IP bindings, sorted by (VLAN, address); may include
    /// lapsed ones not yet [`expire`](Self::expire)d.
    pub fn ip_bindings(&self) -> impl Iterator<Item = IpBinding> + '_ {
        self.ips.iter()
    }

    pub fn ip_bindings_len(&self) -> usize {
        self.ips.len()
    }

    /// The endpoint owning `ip` in `seg` at `now_ns`, and why.
    pub(super) fn ip_owner_in(
        &self,
        seg: Segment,
        ip: &IpAddr,
        now_ns: u64,
    ) -> Option<(u16, IpSource)> {
        let in_seg = || {
            self.endpoints
                .iter()
                .filter(move |(_, ep)| ep.segment() == seg)
        };
        if let Some((id, _)) = in_seg().find(|(_, ep)| ep.static_ips.contains(ip)) {
            return Some((*id, IpSource::Static));
        }
        if let IpAddr::V6(a) = ip {
            let iid = &a.octets()[8..];
            if let Some((id, _)) =
                in_seg().find(|(_, ep)| ep.cfg.macs.iter().any(|m| eui64(m) == iid))
            {
                return Some((*id, IpSource::Eui64));
            }
        }
        let e = self.ips.get(seg, ip, now_ns)?;
        self.endpoints
            .get(&e.endpoint)
            .filter(|ep| ep.segment() == seg)?;
        let source = if e.dhcp {
            IpSource::Dhcp
        } else {
            IpSource::Learned
        };
        Some((e.endpoint, source))
    }

    /// Inspects the ARP, ND and DHCP a valid frame from `from` in `seg`
    /// carries: drops a spoofed claim, learns and snoops the rest.
    pub(super) fn guard(
        &mut self,
        from: Port,
        seg: Segment,
        eth_src: Mac,
        frame: &[u8],
        now_ns: u64,
    ) -> Result<(), DropReason> {
        match l3(frame).map(|(t, _)| t) {
            Some(ETHERTYPE_ARP) => {
                if let Some(a) = arp::parse(frame) {
                    let ip = a.claim().map(IpAddr::V4);
                    self.check_claim(from, seg, ip, a.sha, now_ns)
                        .map_err(|()| DropReason::ArpSpoof)?;
                }
            }
            Some(ETHERTYPE_IPV6) => match nd::parse(frame).map(|n| n.claim(eth_src)) {
                Some(NdClaim::Binds { ip, mac }) => self
                    .check_claim(from, seg, Some(IpAddr::V6(ip)), mac, now_ns)
                    .map_err(|()| DropReason::NdSpoof)?,
                Some(NdClaim::Tentative(ip)) => {
                    if let Port::Endpoint(e) = from {
                        let ip = IpAddr::V6(ip);
                        if bindable(&ip) && self.ip_owner_in(seg, &ip, now_ns).is_none() {
                            self.learn_ip(seg, ip, e, eth_src, now_ns);
                        }
                    }
                }
                None => {}
            },
            Some(ETHERTYPE_IPV4) => {
                if let Some(d) = dhcp::parse(frame) {
                    self.snoop(from, seg, d, now_ns);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A frame from `from` says "`ip` is at `mac`" (`ip` `None`: an ARP
    /// probe, which claims no address). `Err` if that is a spoof.
    fn check_claim(
        &mut self,
        from: Port,
        seg: Segment,
        ip: Option<IpAddr>,
        mac: Mac,
        now_ns: u64,
    ) -> Result<(), ()> {
        let ip = ip.filter(bindable);
        match from {
            Port::Endpoint(e) => {
                // Its ARP/ND must point at itself, like its frames' source.
                let own = self
                    .endpoints
                    .get(&e)
                    .is_some_and(|ep| ep.cfg.macs.contains(&mac));
                if !own {
                    return Err(());
                }
                let Some(ip) = ip else { return Ok(()) };
                match self.ip_owner_in(seg, &ip, now_ns) {
                    Some((owner, _)) if owner != e => Err(()),
                    Some((_, IpSource::Static | IpSource::Eui64 | IpSource::Dhcp)) => Ok(()),
                    Some((_, IpSource::Learned)) | None => {
                        self.learn_ip(seg, ip, e, mac, now_ns);
                        Ok(())
                    }
                }
            }
            Port::Uplink => {
                let Some(ip) = ip else { return Ok(()) };
                match self.ip_owner_in(seg, &ip, now_ns) {
                    Some((_, IpSource::Learned)) | None => Ok(()),
                    Some((owner, _)) => {
                        let theirs = self
                            .endpoints
                            .get(&owner)
                            .is_some_and(|ep| ep.cfg.macs.contains(&mac));
                        if theirs {
                            Ok(())
                        } else {
                            Err(())
                        }
                    }
                }
            }
        }
    }

    fn learn_ip(&mut self, seg: Segment, ip: IpAddr, e: u16, mac: Mac, now_ns: u64) {
        let until = now_ns.saturating_add(LEARNED_TTL_NS);
        self.ips
            .learn(seg, ip, (e, mac), until, now_ns, &mut self.counters);
    }

    /// DHCP snooping: an endpoint's request opens a transaction, the
    /// uplink's ACK or NAK for it binds or releases the client's address.
    fn snoop(&mut self, from: Port, seg: Segment, msg: Dhcp, now_ns: u64) {
        match (from, msg) {
            (Port::Endpoint(e), Dhcp::Request { xid, chaddr }) => {
                let Some(ep) = self.endpoints.get_mut(&e) else {
                    return;
                };
                if !ep.cfg.macs.contains(&chaddr) {
                    return;
                }
                ep.dhcp_pending.retain(|(m, _, _)| *m != chaddr);
                let _ = ep.dhcp_pending.push((chaddr, xid, now_ns));
            }
            (
                Port::Uplink,
                Dhcp::Ack {
                    xid,
                    chaddr,
                    yiaddr,
                    lease_s,
                },
            ) => {
                let ip = IpAddr::V4(yiaddr);
                let owner = self.ip_owner_in(seg, &ip, now_ns);
                let client = self.dhcp_client(seg, xid, &chaddr, now_ns);
                let Some(e) = client.filter(|e| {
                    bindable(&ip) && !matches!(owner, Some((o, IpSource::Static)) if o != *e)
                }) else {
                    self.counters.dhcp_ignored += 1;
                    return;
                };
                let until = match lease_s {
                    Some(u32::MAX) => u64::MAX,
                    Some(s) => now_ns.saturating_add(u64::from(s) * 1_000_000_000),
                    None => now_ns.saturating_add(DHCP_DEFAULT_LEASE_S * 1_000_000_000),
                };
                self.ips
                    .bind_dhcp(seg, ip, (e, chaddr), until, now_ns, &mut self.counters);
                self.counters.dhcp_bound += 1;
            }
            (Port::Uplink, Dhcp::Nak { xid, chaddr }) => {
                match self.dhcp_client(seg, xid, &chaddr, now_ns) {
                    Some(e) => {
                        self.ips
                            .retain(|b| !(b.dhcp && b.endpoint == e && b.mac == chaddr));
                    }
                    None => self.counters.dhcp_ignored += 1,
                }
            }
            // Replies from an endpoint (a DHCP server in a guest) and
            // requests from the uplink bind nothing.
            _ => {}
        }
    }

    /// The endpoint of `seg` whose client `chaddr` has transaction `xid`
    /// open at `now_ns`.
    fn dhcp_client(&self, seg: Segment, xid: u32, chaddr: &Mac, now_ns: u64) -> Option<u16> {
        self.endpoints
            .iter()
            .find(|(_, ep)| {
                ep.segment() == seg
                    && ep.cfg.macs.contains(chaddr)
                    && ep.dhcp_pending.iter().any(|(m, x, at)| {
                        m == chaddr && *x == xid && now_ns.saturating_sub(*at) <= DHCP_XID_TTL_NS
                    })
            })
            .map(|(id, _)| *id)
    }
}
