//! The records under `/banana` and how they are read and written. The layout
//! is documented in `controller/README.md`; this module is its only writer.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::endpoint::{Bdf, Endpoint, Kind};
use crate::registry::{join, Access, Batch, Registry, RegistryError};

pub const ROOT: &str = "/banana";
pub const NEXT_WIRE: &str = "/banana/next-wire-id";

pub fn domain_path(kind: Kind, name: &str) -> String {
    format!("{ROOT}/{kind}/{name}")
}
pub fn wire_path(id: u32) -> String {
    format!("{ROOT}/wire/{id}")
}
pub fn config_path(domid: u32) -> String {
    format!("{ROOT}/config/{domid}")
}
/// Where a domain publishes its own status and counters.
pub fn data_path(domid: u32) -> String {
    format!("/local/domain/{domid}/data/banana")
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
}

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
        }
        b
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
        if kind == Kind::Corm {
            r.endpoints = num("endpoints")?.unwrap_or(0);
            r.bdf = reg.get(&join(&p, "bdf"))?.and_then(|v| v.parse().ok());
            r.pci_added = num("pci-added")? == Some(1);
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
            .put(join(&p, "name"), &self.name)
            .put(join(&p, "role"), self.kind);
        for (i, v) in &self.vlans {
            b.put(join(&p, format!("endpoint/{i}/vlan")), v);
        }
        for w in wires {
            if let Some(side) = w.side_of(&self.kind, &self.name) {
                let peer = w.end(side.other());
                let peer_domid = find(domains, peer).and_then(|d| d.domid);
                b.extend(w.config_entries(domid, side, peer_domid));
            }
        }
        b.restrict(&p, Access::ReadableBy(domid));
        b
    }
}

/// The record of the domain an endpoint belongs to.
pub fn find<'a>(domains: &'a [DomainRecord], ep: &Endpoint) -> Option<&'a DomainRecord> {
    domains
        .iter()
        .find(|d| d.kind == ep.kind() && d.name == ep.domain())
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

/// `/banana/wire/<id>/{a,b,state}`; `a` offers the shared ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    pub id: u32,
    pub a: Endpoint,
    pub b: Endpoint,
    pub state: String,
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
        let on = |e: &Endpoint| e.kind() == *kind && e.domain() == name;
        if on(&self.a) {
            Some(Side::A)
        } else if on(&self.b) {
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
        b
    }

    /// `wire/<id>/…` in the config of the domain on `side`.
    pub fn config_entries(&self, domid: u32, side: Side, peer_domid: Option<u32>) -> Batch {
        let p = join(&config_path(domid), format!("wire/{}", self.id));
        let mut b = Batch::new();
        b.put(join(&p, "side"), side.as_str())
            .put(join(&p, "endpoint"), self.end(side).index())
            .put(join(&p, "peer-endpoint"), self.end(side.other()).index());
        if let Some(d) = peer_domid {
            b.put(join(&p, "peer-domid"), d);
        }
        b
    }

    /// Removes the wire and its entries in both domains' configs.
    pub fn unwire(&self, domains: &[DomainRecord]) -> Batch {
        let mut b = Batch::new();
        for side in [Side::A, Side::B] {
            if let Some(d) = find(domains, self.end(side)).and_then(|d| d.domid) {
                b.rm(join(&config_path(d), format!("wire/{}", self.id)));
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
            if let (Some(a), Some(b)) = (ep("a")?, ep("b")?) {
                let state = reg
                    .get(&join(&p, "state"))?
                    .unwrap_or_else(|| "connecting".into());
                all.push(WireRecord { id, a, b, state });
            }
        }
        all.sort_by_key(|w| w.id);
        Ok(all)
    }
}
