//! The records under `/banana` and how they are read and written. The layout
//! is documented in `controller/README.md`; this module is its only writer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::endpoint::{Bdf, Endpoint, Kind, Mac};
use crate::flood::FloodLimit;
use crate::registry::{join, Access, Batch, Registry, RegistryError};
use crate::tunnel_key::TunnelKey;
use crate::underlay::Underlay;

/// A Corm record's WireGuard directory (`private-key`, `public-key`).
pub const WIREGUARD: &str = "wireguard";
use crate::vtep::{Encap, Vtep};
use xs_schema::config;

pub const ROOT: &str = "/banana";
pub const NEXT_WIRE: &str = "/banana/next-wire-id";

pub fn domain_path(kind: Kind, name: &str) -> String {
    format!("{ROOT}/{kind}/{name}")
}
pub fn wire_path(id: u32) -> String {
    format!("{ROOT}/wire/{id}")
}
/// A domain's configuration (`xs_schema::config`).
pub fn config_path(domid: u32) -> String {
    config::dir(domid)
}
/// Where a domain publishes its own status and counters (`xs_schema::data`).
pub fn data_path(domid: u32) -> String {
    xs_schema::data::dir(domid)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DomState {
    /// Intent written, domain not (yet) made: a crash leaves this behind.
    Creating,
    Running,
    /// Being destroyed: a crash leaves this behind.
    Destroying,
    /// Recorded as running but gone from xl; kept, with its wires, so that
    /// `create` can bring it back under a new domid.
    Dead,
}

impl DomState {
    pub fn as_str(self) -> &'static str {
        match self {
            DomState::Creating => "creating",
            DomState::Running => "running",
            DomState::Destroying => "destroying",
            DomState::Dead => "dead",
        }
    }
}

impl fmt::Display for DomState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DomState {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "creating" => DomState::Creating,
            "running" => DomState::Running,
            "destroying" => DomState::Destroying,
            "dead" => DomState::Dead,
            _ => return Err(()),
        })
    }
}

/// `/banana/<kind>/<name>/…`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRecord {
    pub kind: Kind,
    pub name: String,
    pub domid: Option<u32>,
    pub state: DomState,
    pub bdf: Option<Bdf>,
    /// Whether banana ran `xl pci-assignable-add` (and so must undo it).
    pub pci_added: bool,
    pub endpoints: u32,
    pub vlans: BTreeMap<u32, u16>,
    /// A Spike's guest MACs (`--mac`): what a Corm wired to it may carry.
    pub macs: Vec<Mac>,
    /// A Spike's guest IP addresses (`--ip`): a Corm wired to it drops ARP
    /// and ND claiming them for any other MAC.
    pub ips: Vec<std::net::IpAddr>,
    /// `--memory` as given at create (`None`: the template's), so that a
    /// restart makes the same domain.
    pub memory: Option<u32>,
    /// A Corm's `--flood` (`None`: its default).
    pub flood: Option<FloodLimit>,
    /// A Corm's `--underlay` and `--gateway` (`None`: it has no tunnels).
    pub underlay: Option<Underlay>,
    /// A Corm's `--local-vlan`s: VLANs it keeps off its NIC.
    pub local_vlans: BTreeSet<u16>,
    /// A Corm's WireGuard key (`--tunnel-key`), kept across its restarts.
    pub tunnel_key: Option<TunnelKey>,
    /// Domids this domain had before (newest last, at most
    /// [`MAX_FORMER_DOMIDS`]): guests' vifs still naming one of them as
    /// backend are moved to the current domid (`crate::reattach`).
    pub former_domids: Vec<u32>,
}

/// How many former domids a record remembers.
pub const MAX_FORMER_DOMIDS: usize = 8;

impl DomainRecord {
    pub fn path(&self) -> String {
        domain_path(self.kind, &self.name)
    }

    pub fn endpoint(&self, index: u32) -> Endpoint {
        match self.kind {
            Kind::Corm => Endpoint::Corm(self.name.clone(), index),
            Kind::Spike => Endpoint::Spike(self.name.clone()),
        }
    }

    /// The whole record, replacing whatever was there.
    pub fn write(&self) -> Batch {
        let p = self.path();
        let mut b = Batch::new();
        b.rm(&p).put(join(&p, "state"), self.state);
        if let Some(d) = self.domid {
            b.put(join(&p, "domid"), d);
        }
        if self.kind == Kind::Corm {
            b.put(join(&p, "endpoints"), self.endpoints);
            if let Some(bdf) = self.bdf {
                b.put(join(&p, "bdf"), bdf)
                    .put(join(&p, "pci-added"), u8::from(self.pci_added));
            }
            for (i, v) in &self.vlans {
                b.put(join(&p, format!("endpoint/{i}/vlan")), v);
            }
            if let Some(f) = self.flood {
                b.put(join(&p, "flood"), f);
            }
            if let Some(u) = self.underlay {
                b.put(join(&p, "underlay"), u.cidr);
                if let Some(g) = u.gateway {
                    b.put(join(&p, "gateway"), g);
                }
            }
            if !self.local_vlans.is_empty() {
                b.put(join(&p, "local-vlans"), join_vids(&self.local_vlans));
            }
            if let Some(k) = &self.tunnel_key {
                b.extend(k.record_entries(&join(&p, WIREGUARD)));
            }
        }
        if !self.macs.is_empty() {
            b.put(join(&p, "macs"), join_macs(&self.macs));
        }
        if !self.ips.is_empty() {
            b.put(join(&p, "ips"), join_ips(&self.ips));
        }
        if let Some(m) = self.memory {
            b.put(join(&p, "memory"), m);
        }
        if !self.former_domids.is_empty() {
            b.put(join(&p, "former-domids"), join_ids(&self.former_domids));
        }
        b
    }

    /// The former domids once `domid` is added to them (oldest dropped first).
    pub fn former_with(&self, domid: u32) -> Vec<u32> {
        let mut f: Vec<u32> = self
            .former_domids
            .iter()
            .copied()
            .filter(|&d| d != domid)
            .collect();
        f.push(domid);
        let excess = f.len().saturating_sub(MAX_FORMER_DOMIDS);
        f.drain(..excess);
        f
    }

    /// Reads a record; missing or garbled leaves read as the safest value
    /// (state `creating`, which reconciliation cleans up).
    pub fn load(reg: &dyn Registry, kind: Kind, name: &str) -> Result<Option<Self>, RegistryError> {
        let p = domain_path(kind, name);
        let Some(state) = reg.get(&join(&p, "state"))? else {
            if reg.get(&p)?.is_none() {
                return Ok(None);
            }
            return Ok(Some(Self::blank(kind, name, DomState::Creating)));
        };
        let num = |leaf: &str| -> Result<Option<u32>, RegistryError> {
            Ok(reg.get(&join(&p, leaf))?.and_then(|v| v.parse().ok()))
        };
        let mut r = Self::blank(kind, name, state.parse().unwrap_or(DomState::Creating));
        r.domid = num("domid")?;
        // Garbled MACs read as none: a Corm then refuses the Spike (fail closed).
        r.macs = reg
            .get(&join(&p, "macs"))?
            .and_then(|v| v.split(',').map(|m| m.parse().ok()).collect())
            .unwrap_or_default();
        // Garbled addresses read as none: the Corm still snoops DHCP.
        r.ips = reg
            .get(&join(&p, "ips"))?
            .and_then(|v| v.split(',').map(|m| m.parse().ok()).collect())
            .unwrap_or_default();
        r.memory = num("memory")?;
        // Garbled former domids read as none: nothing is moved (fail closed).
        r.former_domids = reg
            .get(&join(&p, "former-domids"))?
            .and_then(|v| v.split(',').map(|d| d.parse().ok()).collect())
            .unwrap_or_default();
        if kind == Kind::Corm {
            r.endpoints = num("endpoints")?.unwrap_or(0);
            r.bdf = reg.get(&join(&p, "bdf"))?.and_then(|v| v.parse().ok());
            r.pci_added = num("pci-added")? == Some(1);
            // A garbled limit reads as none: the Corm's default applies.
            r.flood = reg.get(&join(&p, "flood"))?.and_then(|v| v.parse().ok());
            // Garbled VIDs read as none: the Corm trunks every VLAN.
            r.local_vlans = reg
                .get(&join(&p, "local-vlans"))?
                .and_then(|v| v.split(',').map(|x| x.parse().ok()).collect())
                .unwrap_or_default();
            // A garbled key reads as none: the Corm starts without one and
            // says so; its peers' handshakes fail rather than use another.
            r.tunnel_key = reg
                .get(&join(&p, format!("{WIREGUARD}/private-key")))?
                .and_then(|t| TunnelKey::from_text(&t));
            r.underlay = Underlay::from_record(
                reg.get(&join(&p, "underlay"))?.as_deref(),
                reg.get(&join(&p, "gateway"))?.as_deref(),
            );
            for i in reg.list(&join(&p, "endpoint"))? {
                let vlan = reg.get(&join(&p, format!("endpoint/{i}/vlan")))?;
                if let (Ok(i), Some(Ok(v))) = (i.parse(), vlan.map(|v| v.parse())) {
                    r.vlans.insert(i, v);
                }
            }
        }
        Ok(Some(r))
    }

    pub fn blank(kind: Kind, name: &str, state: DomState) -> Self {
        DomainRecord {
            kind,
            name: name.to_string(),
            domid: None,
            state,
            bdf: None,
            pci_added: false,
            endpoints: if kind == Kind::Spike { 1 } else { 0 },
            vlans: BTreeMap::new(),
            macs: Vec::new(),
            ips: Vec::new(),
            memory: None,
            flood: None,
            underlay: None,
            local_vlans: BTreeSet::new(),
            tunnel_key: None,
            former_domids: Vec::new(),
        }
    }

    pub fn load_all(reg: &dyn Registry) -> Result<Vec<Self>, RegistryError> {
        let mut all = Vec::new();
        for kind in [Kind::Corm, Kind::Spike] {
            for name in reg.list(&format!("{ROOT}/{kind}"))? {
                all.extend(Self::load(reg, kind, &name)?);
            }
        }
        Ok(all)
    }

    /// This domain's own configuration tree, `/banana/config/<domid>`,
    /// written fresh and readable by the domain alone.
    pub fn config(&self, domid: u32, wires: &[WireRecord], domains: &[DomainRecord]) -> Batch {
        let p = config_path(domid);
        let mut b = Batch::new();
        b.rm(&p)
            .put(join(&p, config::NAME), &self.name)
            .put(join(&p, config::ROLE), self.kind);
        for (i, v) in &self.vlans {
            b.put(join(&p, config::endpoint_vlan(*i)), v);
        }
        if let Some(f) = self.flood {
            b.put(join(&p, config::FLOOD), f);
        }
        if let Some(u) = self.underlay {
            b.put(join(&p, config::UNDERLAY), u.cidr);
            if let Some(g) = u.gateway {
                b.put(join(&p, config::UNDERLAY_GATEWAY), g);
            }
        }
        if !self.local_vlans.is_empty() {
            b.put(join(&p, config::LOCAL_VLANS), join_vids(&self.local_vlans));
        }
        if self.tunnel_key.is_some() {
            b.put(
                join(&p, config::WIREGUARD_ADDRESS),
                crate::tunnel_key::tunnel_address(&self.name),
            );
        }
        for w in wires {
            let Some(side) = w.side_of(&self.kind, &self.name) else {
                continue;
            };
            if w.is_encap() {
                b.extend(w.tunnel_entries(domid, side, domains));
            } else {
                let peer = find(domains, w.end(side.other()));
                b.extend(w.config_entries(domid, side, peer));
            }
        }
        b.restrict(&p, Access::ReadableBy(domid));
        b
    }
}

/// `VID,VID,…` in order.
pub fn join_vids(vids: &BTreeSet<u16>) -> String {
    vids.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `aa:bb:cc:dd:ee:ff,…`
pub fn join_macs(macs: &[Mac]) -> String {
    macs.iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `10.0.0.2,fe80::2,…` (canonical forms).
pub fn join_ips(ips: &[std::net::IpAddr]) -> String {
    ips.iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `3,7,…`
pub fn join_ids(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The record of the domain an endpoint belongs to (none for a VTEP).
pub fn find<'a>(domains: &'a [DomainRecord], ep: &Endpoint) -> Option<&'a DomainRecord> {
    domains.iter().find(|d| ep.is_of(d.kind, &d.name))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
}

/// `/banana/wire/<id>/{a,b,state,encap}`; `a` offers the shared ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    pub id: u32,
    pub a: Endpoint,
    pub b: Endpoint,
    pub state: String,
    /// Set only on an encap wire between two Corms' endpoints (`--encap`):
    /// a VTEP end says its own encapsulation, and a local wire has none.
    pub encap: Option<Encap>,
    /// A tunnel wire (`--tunnel`): the encap wire's Geneve inside
    /// WireGuard between the two Corms' tunnel addresses.
    pub wireguard: bool,
    /// A VTEP end behind WireGuard (`--wireguard-peer`, `--wireguard-endpoint`).
    pub wg_vtep: Option<crate::tunnel_key::WgVtep>,
}

impl WireRecord {
    pub fn end(&self, side: Side) -> &Endpoint {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    pub fn has(&self, ep: &Endpoint) -> bool {
        &self.a == ep || &self.b == ep
    }

    /// Which side of this wire the domain is on, if any.
    pub fn side_of(&self, kind: &Kind, name: &str) -> Option<Side> {
        if self.a.is_of(*kind, name) {
            Some(Side::A)
        } else if self.b.is_of(*kind, name) {
            Some(Side::B)
        } else {
            None
        }
    }

    pub fn write(&self) -> Batch {
        let p = wire_path(self.id);
        let mut b = Batch::new();
        b.put(join(&p, "a"), &self.a)
            .put(join(&p, "b"), &self.b)
            .put(join(&p, "state"), &self.state);
        if let Some(e) = self.encap {
            b.put(join(&p, "encap"), e);
        }
        if self.wireguard {
            b.put(join(&p, "wireguard"), 1);
        }
        if let Some(w) = &self.wg_vtep {
            b.put(join(&p, "wireguard-peer"), w.public.to_base64().as_str())
                .put(join(&p, "wireguard-endpoint"), w.endpoint);
        }
        b
    }

    /// `wire/<id>/…` in the config of the domain on `side`. A Corm's end
    /// also gets `peer-macs`, the Spike's guest MACs: the only ones the Corm
    /// lets the Spike announce (the controller, not the Spike, owns them),
    /// and `peer-ips` when the Spike has `--ip` addresses: the guest's, which
    /// the Corm's switch guards against ARP/ND spoofing.
    pub fn config_entries(&self, domid: u32, side: Side, peer: Option<&DomainRecord>) -> Batch {
        use config::wire as key;
        let p = join(&config_path(domid), config::wire(self.id));
        let mut b = Batch::new();
        b.put(join(&p, key::SIDE), side.as_str())
            .put(join(&p, key::ENDPOINT), self.end(side).index())
            .put(join(&p, key::PEER_ENDPOINT), self.end(side.other()).index());
        if let Some(d) = peer.and_then(|p| p.domid) {
            b.put(join(&p, key::PEER_DOMID), d);
        }
        if matches!(self.end(side), Endpoint::Corm(..)) {
            let macs = peer.map_or(&[][..], |p| &p.macs[..]);
            b.put(join(&p, key::PEER_MACS), join_macs(macs));
            let ips = peer.map_or(&[][..], |p| &p.ips[..]);
            if !ips.is_empty() {
                b.put(join(&p, key::PEER_IPS), join_ips(ips));
            }
        }
        b
    }

    /// An encap wire's Corm end and remote VTEP; `None` for a local wire.
    /// The controller writes the Corm end as `a`, but either order is read.
    pub fn tunnel(&self) -> Option<(&Endpoint, &Vtep)> {
        match (&self.a, &self.b) {
            (c @ Endpoint::Corm(..), Endpoint::Vtep(v))
            | (Endpoint::Vtep(v), c @ Endpoint::Corm(..)) => Some((c, v)),
            _ => None,
        }
    }

    /// The encapsulation of a wire between two Corms' endpoints; `None`
    /// for any other wire.
    pub fn corm_encap(&self) -> Option<Encap> {
        let corm = |e: &Endpoint| matches!(e, Endpoint::Corm(..));
        self.encap.filter(|_| corm(&self.a) && corm(&self.b))
    }

    /// Whether the wire is carried over an underlay (to a VTEP, or between
    /// two Corms) rather than by a shared ring.
    pub fn is_encap(&self) -> bool {
        self.tunnel().is_some() || self.corm_encap().is_some()
    }

    /// Where the Corm on `side` encapsulates the wire's frames to: the
    /// VTEP end, or, between two Corms, the other Corm's underlay address
    /// with the wire id as VNI (unique, since ids are never reused) and the
    /// IANA port. `None` if that side is no Corm of an encap wire, or the
    /// other Corm has no underlay on record (then no tunnel: fail closed).
    pub fn remote_of(&self, side: Side, domains: &[DomainRecord]) -> Option<Vtep> {
        if !matches!(self.end(side), Endpoint::Corm(..)) {
            return None;
        }
        if let Endpoint::Vtep(v) = self.end(side.other()) {
            return Some(*v);
        }
        let encap = self.corm_encap()?;
        let peer = find(domains, self.end(side.other()))?;
        // A tunnel wire's Geneve goes to the peer's tunnel address (inside
        // WireGuard); the peer must have a key.
        let remote = if self.wireguard {
            peer.tunnel_key.as_ref()?;
            crate::tunnel_key::tunnel_address(&peer.name)
        } else {
            peer.underlay?.cidr.addr
        };
        Some(Vtep {
            encap,
            vni: Some(self.id).filter(|&id| id <= Vtep::MAX_VNI)?,
            remote,
            port: encap.default_port(),
        })
    }

    /// `tunnel/<id>/…` in the config of the Corm on `side`: its endpoint
    /// and where to encapsulate its frames to (the Corm's `tunnel` config
    /// parser). A wire to another Corm also gets `control` = `1`: the peer
    /// speaks Banana's in-band control, which a standard VTEP does not (its
    /// wires have no `control` key).
    pub fn tunnel_entries(&self, domid: u32, side: Side, domains: &[DomainRecord]) -> Batch {
        let mut b = Batch::new();
        let Some(v) = self.remote_of(side, domains) else {
            return b;
        };
        use config::tunnel as key;
        let p = join(&config_path(domid), self.config_dir());
        b.put(join(&p, key::ENDPOINT), self.end(side).index())
            .put(join(&p, key::ENCAP), v.encap)
            .put(join(&p, key::VNI), v.vni)
            .put(join(&p, key::REMOTE), v.remote)
            .put(join(&p, key::PORT), v.port);
        if self.corm_encap().is_some() {
            b.put(join(&p, key::CONTROL), 1);
        }
        if let Some(w) = &self.wg_vtep {
            b.put(join(&p, key::WIREGUARD_PEER), w.public.to_base64().as_str())
                .put(join(&p, key::WIREGUARD_ENDPOINT), w.endpoint);
        }
        if self.wireguard {
            let peer = find(domains, self.end(side.other()));
            if let Some((k, u)) = peer.and_then(|d| Some((d.tunnel_key.as_ref()?, d.underlay?))) {
                b.put(
                    join(&p, key::WIREGUARD_PEER),
                    k.public().to_base64().as_str(),
                )
                .put(
                    join(&p, key::WIREGUARD_ENDPOINT),
                    format!("{}:{}", u.cidr.addr, crate::tunnel_key::PORT),
                );
            }
        }
        b
    }

    /// Where the wire lives in a domain's config: `tunnel/<id>` for an
    /// encap wire, `wire/<id>` for a local one.
    pub fn config_dir(&self) -> String {
        if self.is_encap() {
            config::tunnel(self.id)
        } else {
            config::wire(self.id)
        }
    }

    /// Removes the wire and its entries in its domains' configs.
    pub fn unwire(&self, domains: &[DomainRecord]) -> Batch {
        let mut b = Batch::new();
        for side in [Side::A, Side::B] {
            if let Some(d) = find(domains, self.end(side)).and_then(|d| d.domid) {
                b.rm(join(&config_path(d), self.config_dir()));
            }
        }
        b.rm(wire_path(self.id));
        b
    }

    pub fn load_all(reg: &dyn Registry) -> Result<Vec<Self>, RegistryError> {
        let mut all = Vec::new();
        for id in reg.list(&format!("{ROOT}/wire"))? {
            let Ok(id) = id.parse() else { continue };
            let p = wire_path(id);
            let ep = |leaf: &str| -> Result<Option<Endpoint>, RegistryError> {
                Ok(reg.get(&join(&p, leaf))?.and_then(|v| v.parse().ok()))
            };
            // A garbled `encap` makes the record unreadable, not a local
            // wire: reconciliation then removes it (fail closed).
            let encap = match reg.get(&join(&p, "encap"))? {
                None => None,
                Some(e) => match e.parse() {
                    Ok(e) => Some(e),
                    Err(()) => continue,
                },
            };
            if let (Some(a), Some(b)) = (ep("a")?, ep("b")?) {
                let state = reg
                    .get(&join(&p, "state"))?
                    .unwrap_or_else(|| "connecting".into());
                let wireguard = reg.get(&join(&p, "wireguard"))?.as_deref() == Some("1");
                // A garbled VTEP key or endpoint reads as none: the Corm then
                // has no WireGuard peer for the wire and carries nothing.
                let wg_vtep = match (
                    reg.get(&join(&p, "wireguard-peer"))?,
                    reg.get(&join(&p, "wireguard-endpoint"))?,
                ) {
                    (Some(k), Some(e)) => crate::tunnel_key::WgVtep::parse(&k, &e).ok(),
                    _ => None,
                };
                all.push(WireRecord {
                    id,
                    a,
                    b,
                    state,
                    encap,
                    wireguard,
                    wg_vtep,
                });
            }
        }
        all.sort_by_key(|w| w.id);
        Ok(all)
    }
}
