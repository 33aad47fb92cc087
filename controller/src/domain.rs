//! Creating and destroying Corms and Spikes.
//!
//! Create writes the intent (`state=creating`) first, then assigns the PCI
//! device, creates the domain paused, writes its configuration, unpauses it
//! and flips the state to `running`; any failure undoes what was done so far.
//! Creating a name that exists is an error ("already exists"), except for a
//! `dead` record, which is brought back under a new domid with its wires.

use std::collections::BTreeMap;

use crate::app::App;
use crate::config::{self, DomainConfig};
use crate::endpoint::{check_name, Bdf, Kind};
use crate::error::{Error, Result};
use crate::registry::{join, Batch};
use crate::schema::{config_path, find, DomState, DomainRecord, WireRecord};
use crate::toolstack::ToolError;

const MAX_ENDPOINTS: u32 = 64;

impl App<'_> {
    pub fn create_corm(
        &self,
        name: &str,
        bdf: &str,
        endpoints: u32,
        vlans: &[String],
        memory: Option<u32>,
    ) -> Result<DomainRecord> {
        let bad = |why: String| Error::BadCorm {
            name: name.to_string(),
            why,
        };
        let prior = self.check_new(Kind::Corm, name)?;
        if !(1..=MAX_ENDPOINTS).contains(&endpoints) {
            return Err(bad(format!("--endpoints must be 1..={MAX_ENDPOINTS}")));
        }
        let bdf: Bdf = bdf.parse()?;
        let vlans = parse_vlans(vlans, endpoints)?;
        let domains = DomainRecord::load_all(self.reg)?;
        if let Some(p) = &prior {
            if p.bdf != Some(bdf) || p.endpoints != endpoints {
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
            });
        }
        let need_add = !self.xl.pci_assignable_list()?.contains(&bdf);
        let rec = DomainRecord {
            bdf: Some(bdf),
            pci_added: need_add || prior.as_ref().is_some_and(|p| p.pci_added),
            endpoints,
            vlans,
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
        self.launch(rec, memory)
    }

    pub fn create_spike(&self, name: &str, memory: Option<u32>) -> Result<DomainRecord> {
        self.check_new(Kind::Spike, name)?;
        let rec = DomainRecord::blank(Kind::Spike, name, DomState::Creating);
        self.reg.apply(&rec.write())?;
        self.launch(rec, memory)
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
    fn launch(&self, mut rec: DomainRecord, memory: Option<u32>) -> Result<DomainRecord> {
        let steps = |rec: &mut DomainRecord| -> Result<()> {
            let cfg = DomainConfig::new(rec.kind, &rec.name, memory, rec.bdf, rec.endpoints);
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
        if let Some(old) = self
            .record(rec.kind, &rec.name)?
            .and_then(|r| r.domid)
            .filter(|&d| d != domid)
        {
            b.rm(config_path(old));
        }
        b.put(join(&rec.path(), "domid"), domid);
        b.extend(rec.config(domid, &wires, &domains));
        for w in &wires {
            let Some(side) = w.side_of(&rec.kind, &rec.name) else {
                continue;
            };
            if let Some(peer) = find(&domains, w.end(side.other())).and_then(|d| d.domid) {
                b.put(
                    join(&config_path(peer), format!("wire/{}/peer-domid", w.id)),
                    domid,
                );
            }
        }
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
            if let Err(e) = self.xl.destroy(name) {
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
