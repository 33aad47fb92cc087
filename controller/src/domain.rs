//! Creating and destroying Corms and Spikes.
//!
//! Create writes the intent (`state=creating`) first, then assigns the PCI
//! device, creates the domain paused, writes its configuration, unpauses it
//! and flips the state to `running`; any failure undoes what was done so far.
//! Creating a name that exists is an error ("already exists"), except for a
//! `dead` record, which is brought back under a new domid with its wires.

use std::collections::{BTreeMap, BTreeSet};

use crate::app::App;
use crate::config::{self, DomainConfig};
use crate::endpoint::{check_name, parse_ips, parse_macs, Bdf, Kind, Mac};
use crate::error::{Error, Result};
use crate::flood::FloodLimit;
use crate::reattach::VifMove;
use crate::registry::{join, Batch};
use crate::schema::{config_path, find, join_ids, DomState, DomainRecord, Side, WireRecord};
use crate::toolstack::ToolError;
use crate::tunnel_key::TunnelKey;
use crate::underlay::Underlay;

const MAX_ENDPOINTS: u32 = 64;
pub const MIN_MEMORY: u32 = 4;
pub const MAX_MEMORY: u32 = 65536;

/// A Corm as `banana corm create` describes it, parsed.
#[derive(Debug, Clone)]
pub struct CormSpec {
    pub name: String,
    pub bdf: Bdf,
    pub endpoints: u32,
    pub vlans: BTreeMap<u32, u16>,
    pub memory: Option<u32>,
    /// `--flood` (`None`: the Corm's default, or what a dead one had).
    pub flood: Option<FloodLimit>,
    /// `--underlay` and `--gateway` (`None`: none, or what a dead one had).
    pub underlay: Option<Underlay>,
    /// `--local-vlan` (empty: none, or what a dead one had).
    pub local_vlans: BTreeSet<u16>,
    /// `--tunnel-key`: give it a WireGuard key (a dead one keeps its own).
    pub tunnel_key: bool,
}

impl CormSpec {
    /// Checks the command line's values; nothing is touched yet.
    pub fn parse(
        name: &str,
        bdf: &str,
        endpoints: u32,
        vlans: &[String],
        memory: Option<u32>,
        flood: Option<&str>,
    ) -> Result<Self> {
        check_name(name)?;
        if !(1..=MAX_ENDPOINTS).contains(&endpoints) {
            return Err(Error::BadCorm {
                name: name.to_string(),
                why: format!("--endpoints must be 1..={MAX_ENDPOINTS}"),
            });
        }
        Ok(CormSpec {
            name: name.to_string(),
            bdf: bdf.parse()?,
            endpoints,
            vlans: parse_vlans(vlans, endpoints)?,
            memory: check_memory(memory)?,
            flood: flood
                .map(|f| f.parse().map_err(|e| Error::BadFlood(f.to_string(), e)))
                .transpose()?,
            underlay: None,
            local_vlans: BTreeSet::new(),
            tunnel_key: false,
        })
    }

    /// Adds `--local-vlan VID` (each 1..=4094): VLANs the Corm keeps off its
    /// NIC.
    pub fn with_local_vlans(self, vids: &[String]) -> Result<Self> {
        let local_vlans = vids
            .iter()
            .map(|v| {
                v.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|v| (1..=4094).contains(v))
                    .ok_or_else(|| Error::BadLocalVlan(v.clone()))
            })
            .collect::<Result<_>>()?;
        Ok(CormSpec {
            local_vlans,
            ..self
        })
    }

    /// Adds `--underlay IP/PREFIX` and `--gateway IP`, checked against each
    /// other: a gateway must be on the underlay's link, so it cannot come
    /// alone (not even for a dead Corm that had an underlay: the two are
    /// given, or kept, together).
    pub fn with_underlay(self, underlay: Option<&str>, gateway: Option<&str>) -> Result<Self> {
        let bad_gw = |g: &str, e| Error::BadGateway(g.to_string(), e);
        let underlay = match (underlay, gateway) {
            (None, None) => None,
            (None, Some(g)) => return Err(Error::GatewayWithoutUnderlay(g.to_string())),
            (Some(u), g) => {
                let cidr = u
                    .parse()
                    .map_err(|e| Error::BadUnderlay(u.to_string(), e))?;
                Some(match g {
                    Some(g) => Underlay::with_gateway(cidr, g).map_err(|e| bad_gw(g, e))?,
                    None => Underlay {
                        cidr,
                        gateway: None,
                    },
                })
            }
        };
        Ok(CormSpec { underlay, ..self })
    }

    /// The Corm a record describes: what a restart creates again.
    pub fn of(rec: &DomainRecord) -> Result<Self> {
        let bdf = rec.bdf.ok_or_else(|| Error::BadCorm {
            name: rec.name.clone(),
            why: "its record has no BDF".into(),
        })?;
        Ok(CormSpec {
            name: rec.name.clone(),
            bdf,
            endpoints: rec.endpoints,
            vlans: rec.vlans.clone(),
            memory: rec.memory,
            flood: rec.flood,
            underlay: rec.underlay,
            local_vlans: rec.local_vlans.clone(),
            tunnel_key: rec.tunnel_key.is_some(),
        })
    }
}

/// A Spike as `banana spike create` describes it, parsed.
#[derive(Debug, Clone)]
pub struct SpikeSpec {
    pub name: String,
    pub memory: Option<u32>,
    pub macs: Vec<Mac>,
    pub ips: Vec<std::net::IpAddr>,
}

impl SpikeSpec {
    pub fn parse(name: &str, memory: Option<u32>, macs: &[String], ips: &[String]) -> Result<Self> {
        check_name(name)?;
        Ok(SpikeSpec {
            name: name.to_string(),
            memory: check_memory(memory)?,
            macs: parse_macs(macs)?,
            ips: parse_ips(ips)?,
        })
    }
}

/// A Spike just created, and what became of the guests' vifs it serves again
/// (empty unless it came back from the dead).
#[derive(Debug)]
pub struct SpikeCreated {
    pub rec: DomainRecord,
    pub vifs: Vec<VifMove>,
}

impl App<'_> {
    /// Creates a Corm, or brings a `dead` one back (then `--bdf` and
    /// `--endpoints` must be what they were; an omitted `--memory`,
    /// `--flood` or `--underlay` is what it was, so its tunnels keep their
    /// source address).
    pub fn create_corm(&self, spec: &CormSpec) -> Result<DomainRecord> {
        let name = spec.name.as_str();
        let bad = |why: String| Error::BadCorm {
            name: name.to_string(),
            why,
        };
        let prior = self.check_new(Kind::Corm, name)?;
        let bdf = spec.bdf;
        let domains = DomainRecord::load_all(self.reg)?;
        if let Some(p) = &prior {
            if p.bdf != Some(bdf) || p.endpoints != spec.endpoints {
                return Err(bad(format!(
                    "exists (dead) with --bdf {} --endpoints {}: recreate it so, or destroy it first",
                    p.bdf.map_or("?".into(), |b| b.to_string()),
                    p.endpoints
                )));
            }
        }
        if let Some(owner) = domains
            .iter()
            .find(|d| d.bdf == Some(bdf) && d.name != name)
        {
            return Err(Error::BdfInUse {
                bdf: bdf.to_string(),
                corm: owner.name.clone(),
                dead: owner.state == DomState::Dead,
            });
        }
        // A dead Corm keeps its key, so its peers need no new configuration.
        let tunnel_key = match prior.as_ref().and_then(|p| p.tunnel_key.clone()) {
            Some(k) => Some(k),
            None if spec.tunnel_key => Some(TunnelKey::generate()?),
            None => None,
        };
        if tunnel_key.is_some() {
            let mine = crate::tunnel_key::tunnel_address(name);
            let clash = domains.iter().find(|d| {
                d.name != name
                    && d.tunnel_key.is_some()
                    && crate::tunnel_key::tunnel_address(&d.name) == mine
            });
            if let Some(other) = clash {
                return Err(Error::TunnelAddressInUse {
                    corm: name.to_string(),
                    other: other.name.clone(),
                    addr: mine,
                });
            }
        }
        let need_add = !self.xl.pci_assignable_list()?.contains(&bdf);
        let rec = DomainRecord {
            bdf: Some(bdf),
            pci_added: need_add || prior.as_ref().is_some_and(|p| p.pci_added),
            endpoints: spec.endpoints,
            vlans: spec.vlans.clone(),
            memory: spec.memory.or(prior.as_ref().and_then(|p| p.memory)),
            flood: spec.flood.or(prior.as_ref().and_then(|p| p.flood)),
            underlay: spec.underlay.or(prior.as_ref().and_then(|p| p.underlay)),
            local_vlans: if spec.local_vlans.is_empty() {
                prior
                    .as_ref()
                    .map(|p| p.local_vlans.clone())
                    .unwrap_or_default()
            } else {
                spec.local_vlans.clone()
            },
            tunnel_key,
            ..DomainRecord::blank(Kind::Corm, name, DomState::Creating)
        };
        self.reg.apply(&rec.write())?;
        if need_add {
            if let Err(e) = self.xl.pci_assignable_add(&bdf) {
                self.rollback(&DomainRecord {
                    pci_added: rec.pci_added && !need_add,
                    ..rec
                });
                return Err(Error::UnknownBdf {
                    bdf: bdf.to_string(),
                    reason: e.to_string(),
                });
            }
        }
        self.launch(rec)
    }

    pub fn create_spike(
        &self,
        name: &str,
        memory: Option<u32>,
        macs: &[String],
        ips: &[String],
    ) -> Result<SpikeCreated> {
        check_name(name)?;
        self.create_spike_from(&SpikeSpec::parse(name, memory, macs, ips)?)
    }

    /// Creates a Spike, or brings a `dead` one back: omitted `--mac`s and
    /// `--memory` are what they were, and the guests' vifs it served are
    /// moved to the new domain (`crate::reattach`). A vif that does not come
    /// back is reported, not an error: the Spike runs, `banana repair` retries.
    pub fn create_spike_from(&self, spec: &SpikeSpec) -> Result<SpikeCreated> {
        let prior = self.check_new(Kind::Spike, &spec.name)?;
        let rec = DomainRecord {
            macs: match (&prior, spec.macs.is_empty()) {
                (Some(p), true) => p.macs.clone(),
                _ => spec.macs.clone(),
            },
            ips: match (&prior, spec.ips.is_empty()) {
                (Some(p), true) => p.ips.clone(),
                _ => spec.ips.clone(),
            },
            memory: spec.memory.or(prior.as_ref().and_then(|p| p.memory)),
            former_domids: prior.map(|p| p.former_domids).unwrap_or_default(),
            ..DomainRecord::blank(Kind::Spike, &spec.name, DomState::Creating)
        };
        self.reg.apply(&rec.write())?;
        let rec = self.launch(rec)?;
        let vifs = self.reattach_vifs(&rec).unwrap_or_else(|e| {
            tracing::warn!(
                "spike '{}': guests' vifs not moved yet ({e}): `banana repair` retries",
                rec.name
            );
            Vec::new()
        });
        Ok(SpikeCreated { rec, vifs })
    }

    /// Refuses names in use; returns the `dead` record being recreated, if any.
    fn check_new(&self, kind: Kind, name: &str) -> Result<Option<DomainRecord>> {
        check_name(name)?;
        let mut prior = None;
        for k in [Kind::Corm, Kind::Spike] {
            if let Some(r) = self.record(k, name)? {
                if k != kind || r.state != DomState::Dead {
                    let state = r
                        .domid
                        .map_or(r.state.to_string(), |d| format!("{}, domid {d}", r.state));
                    return Err(Error::AlreadyExists {
                        kind: k.as_str(),
                        name: name.into(),
                        state,
                    });
                }
                prior = Some(r);
            }
        }
        if self.xl.find(name)?.is_some() {
            return Err(Error::NameTaken(name.into()));
        }
        Ok(prior)
    }

    /// From a `creating` record to a running domain, or back to nothing.
    fn launch(&self, mut rec: DomainRecord) -> Result<DomainRecord> {
        let steps = |rec: &mut DomainRecord| -> Result<()> {
            let cfg = DomainConfig::new(rec.kind, &rec.name, rec.memory, rec.bdf, rec.endpoints);
            let file = config::write(&self.images, &self.run_dir, &cfg)?;
            self.xl.create(&file)?;
            let domid = self.xl.find(&rec.name)?.ok_or_else(|| ToolError::Failed {
                cmd: format!("xl create {}", file.display()),
                reason: format!("no domain '{}' listed afterwards", rec.name),
            })?;
            rec.domid = Some(domid.domid);
            self.reg.apply(&self.adoption(rec, domid.domid)?)?;
            self.xl.unpause(&rec.name)?;
            rec.state = DomState::Running;
            self.reg
                .put(&join(&rec.path(), "state"), rec.state.as_str())?;
            Ok(())
        };
        match steps(&mut rec) {
            Ok(()) => Ok(rec),
            Err(e) => {
                self.rollback(&rec);
                Err(e)
            }
        }
    }

    /// Records `domid` as the domain's and writes its configuration, and the
    /// new `peer-domid` into the configs of the domains wired to it.
    pub(crate) fn adoption(&self, rec: &DomainRecord, domid: u32) -> Result<Batch> {
        let mut domains = DomainRecord::load_all(self.reg)?;
        domains.retain(|d| !(d.kind == rec.kind && d.name == rec.name));
        domains.push(DomainRecord {
            domid: Some(domid),
            ..rec.clone()
        });
        let wires = WireRecord::load_all(self.reg)?;
        let mut b = Batch::new();
        let stored = self.record(rec.kind, &rec.name)?;
        if let Some((stored, old)) = stored
            .as_ref()
            .and_then(|r| Some((r, r.domid?)))
            .filter(|&(_, d)| d != domid)
        {
            b.rm(config_path(old));
            b.extend(remember_domid(stored, old));
        }
        b.put(join(&rec.path(), "domid"), domid);
        b.extend(rec.config(domid, &wires, &domains));
        if let Some(k) = &rec.tunnel_key {
            b.extend(k.config_entries(&config_path(domid), domid)?);
        }
        for w in &wires {
            let Some(side) = w.side_of(&rec.kind, &rec.name) else {
                continue;
            };
            let Some(peer) = find(&domains, w.end(side.other())).and_then(|d| d.domid) else {
                continue;
            };
            if w.is_encap() {
                b.extend(self.peer_tunnel(w, side.other(), peer, &domains)?);
            } else {
                b.put(
                    join(
                        &config_path(peer),
                        format!(
                            "{}/{}",
                            xs_schema::config::wire(w.id),
                            xs_schema::config::wire::PEER_DOMID
                        ),
                    ),
                    domid,
                );
            }
        }
        Ok(b)
    }

    /// The tunnel entries of the other Corm of an encap wire (on `side`,
    /// domid `peer`), written again only if its `remote` is not what it
    /// should be: a Corm recreated with another `--underlay`. A Corm that
    /// comes back at the same address leaves its peer's config untouched,
    /// so the peer's tunnel is not disturbed.
    fn peer_tunnel(
        &self,
        w: &WireRecord,
        side: Side,
        peer: u32,
        domains: &[DomainRecord],
    ) -> Result<Batch> {
        let want = w.remote_of(side, domains).map(|v| v.remote.to_string());
        let key = join(&config_path(peer), format!("{}/remote", w.config_dir()));
        if want.is_none() || self.reg.get(&key)? == want {
            return Ok(Batch::new());
        }
        let mut b = Batch::new();
        b.rm(join(&config_path(peer), w.config_dir()));
        b.extend(w.tunnel_entries(peer, side, domains));
        Ok(b)
    }

    /// Undoes a create, best effort: every step is tried and failures are
    /// logged. If the domain cannot be destroyed the record stays `creating`,
    /// so the next command retries.
    pub(crate) fn rollback(&self, rec: &DomainRecord) {
        match self.xl.find(&rec.name) {
            Ok(Some(_)) => {
                if let Err(e) = self.xl.destroy(&rec.name) {
                    tracing::warn!("rollback: {e}; the next banana command retries");
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("rollback: {e}; the next banana command retries");
                return;
            }
        }
        let _ = std::fs::remove_file(self.config_file(&rec.name));
        if let Err(e) = self.abandon(rec) {
            tracing::warn!("rollback: {e}");
        }
    }

    /// Drops the record of a domain that is not there: a `dead` mark when
    /// wires still name it (so recreating restores them), else nothing.
    fn abandon(&self, rec: &DomainRecord) -> Result<()> {
        let wired = WireRecord::load_all(self.reg)?
            .iter()
            .any(|w| w.side_of(&rec.kind, &rec.name).is_some());
        if wired {
            return self.mark_dead(rec);
        }
        let mut b = Batch::new();
        if let Some(d) = rec.domid {
            b.rm(config_path(d));
        }
        self.reg.apply(&b)?;
        self.release_pci(rec);
        self.reg.rm(&rec.path())?;
        Ok(())
    }

    pub(crate) fn mark_dead(&self, rec: &DomainRecord) -> Result<()> {
        let mut b = Batch::new();
        if let Some(d) = rec.domid {
            b.rm(config_path(d));
            b.extend(remember_domid(rec, d));
        }
        b.rm(join(&rec.path(), "domid"))
            .put(join(&rec.path(), "state"), DomState::Dead.as_str());
        Ok(self.reg.apply(&b)?)
    }

    fn release_pci(&self, rec: &DomainRecord) {
        if let (true, Some(bdf)) = (rec.pci_added, rec.bdf) {
            if let Err(e) = self.xl.pci_assignable_remove(&bdf) {
                tracing::warn!("{e}");
            }
        }
    }

    /// Destroys a domain and drops its record and wires. If `xl destroy`
    /// fails the record is left as it was.
    pub fn destroy(&self, kind: Kind, name: &str) -> Result<DomainRecord> {
        let rec = self
            .record(kind, name)?
            .ok_or_else(|| Error::UnknownDomain {
                kind: kind.as_str(),
                name: name.into(),
            })?;
        let state = join(&rec.path(), "state");
        self.reg.put(&state, DomState::Destroying.as_str())?;
        if self.xl.find(name)?.is_some() {
            let stopped = match kind {
                Kind::Corm => self.xl.stop(name),
                Kind::Spike => self.xl.destroy(name),
            };
            if let Err(e) = stopped {
                self.reg.put(&state, rec.state.as_str())?;
                return Err(e.into());
            }
        }
        self.finish_destroy(&rec)?;
        Ok(rec)
    }

    /// Everything after `xl destroy`: wires, configs, the PCI device, the record.
    pub(crate) fn finish_destroy(&self, rec: &DomainRecord) -> Result<()> {
        let domains = DomainRecord::load_all(self.reg)?;
        let mut b = Batch::new();
        for w in WireRecord::load_all(self.reg)? {
            if w.side_of(&rec.kind, &rec.name).is_some() {
                b.extend(w.unwire(&domains));
            }
        }
        if let Some(d) = rec.domid {
            b.rm(config_path(d));
        }
        self.reg.apply(&b)?;
        self.release_pci(rec);
        self.reg.rm(&rec.path())?;
        let _ = std::fs::remove_file(self.config_file(&rec.name));
        Ok(())
    }
}

/// A Spike's domid that is going away joins its `former-domids`: guests'
/// vifs still naming it as backend are moved to the Spike's next domid.
/// Corms serve no vifs: nothing to remember.
fn remember_domid(rec: &DomainRecord, domid: u32) -> Batch {
    let mut b = Batch::new();
    if rec.kind == Kind::Spike {
        b.put(
            join(&rec.path(), "former-domids"),
            join_ids(&rec.former_with(domid)),
        );
    }
    b
}

/// `--memory`: Xen's PV builder needs 4 MiB at least (docs/xen-interfaces.md, "PV boot, memory").
fn check_memory(memory: Option<u32>) -> Result<Option<u32>> {
    match memory {
        Some(m) if !(MIN_MEMORY..=MAX_MEMORY).contains(&m) => Err(Error::BadMemory(m)),
        m => Ok(m),
    }
}

/// `--vlan ENDPOINT=VID` arguments, each endpoint below `endpoints`.
fn parse_vlans(args: &[String], endpoints: u32) -> Result<BTreeMap<u32, u16>> {
    args.iter()
        .map(|a| {
            let bad = || Error::BadVlan(a.clone());
            let (i, v) = a.split_once('=').ok_or_else(bad)?;
            let i: u32 = i.trim().parse().map_err(|_| bad())?;
            let v: u16 = v.trim().parse().map_err(|_| bad())?;
            if i >= endpoints || !(1..=4094).contains(&v) {
                return Err(bad());
            }
            Ok((i, v))
        })
        .collect()
}
