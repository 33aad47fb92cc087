//! `banana repair`: one pass that brings every Corm and Spike banana knows
//! back to running, with its wires and its guests' vifs. `banana supervise`
//! runs it in a loop (crate::supervise).
//!
//! | found (after reconciliation) | done |
//! |---|---|
//! | `running` record, xl shows the domain crashed (`c`) | `xl destroy`, wait until Xen has let go of it, then as `dead` |
//! | `dead` record (its domain went away) | created again with the same name and parameters (`create` of a dead name): new domid, configs and peers' `peer-domid` rewritten, so its wires come back |
//! | Spike with `former-domids` | guests' vifs still naming one are moved to its domid (crate::reattach) |
//!
//! Domains stay under `on_crash = "preserve"` (images/xl/*.cfg) rather than
//! xl's `restart`: a crash stays visible (`banana status`, `xl list`) until
//! banana or the operator deals with it, and the new domain is made the way
//! banana makes one (paused, configured, then unpaused).

use std::fmt;

use crate::app::App;
use crate::domain::{CormSpec, SpikeSpec};
use crate::endpoint::Kind;
use crate::error::{Error, Result};
use crate::reattach::VifMove;
use crate::schema::{DomState, DomainRecord};
use crate::toolstack::DomainInfo;

/// Why a domain needed a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Listed by xl with the crashed flag; the xl state flags.
    Crashed(String),
    /// Gone from xl (`dead` in the registry).
    Gone,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Crashed(s) => write!(f, "crashed (xl state {s})"),
            Fault::Gone => f.write_str("gone"),
        }
    }
}

/// One thing a repair pass did or could not do.
#[derive(Debug)]
pub enum Repair {
    Restarted {
        kind: Kind,
        name: String,
        fault: Fault,
        domid: u32,
    },
    Vif {
        spike: String,
        vif: VifMove,
    },
    Failed {
        kind: Kind,
        name: String,
        why: String,
    },
}

impl Repair {
    pub fn failed(&self) -> bool {
        matches!(self, Repair::Failed { .. })
            || matches!(self, Repair::Vif { vif, .. } if vif.result.is_err())
    }

    /// The domain it is about, `kind/name`: what supervise backs off on.
    pub fn subject(&self) -> String {
        match self {
            Repair::Restarted { kind, name, .. } | Repair::Failed { kind, name, .. } => {
                format!("{kind}/{name}")
            }
            Repair::Vif { spike, .. } => format!("spike/{spike}"),
        }
    }
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::Restarted {
                kind,
                name,
                fault,
                domid,
            } => write!(f, "{kind} {name}: {fault}, restarted as domid {domid}"),
            Repair::Vif { spike, vif } => write!(f, "spike {spike}: {vif}"),
            Repair::Failed { kind, name, why } => write!(f, "{kind} {name}: {why}"),
        }
    }
}

/// What needs doing for one record, if anything.
pub fn fault_of(rec: &DomainRecord, xl: Option<&DomainInfo>) -> Option<Fault> {
    match (rec.state, xl) {
        (DomState::Running, Some(d)) if d.crashed() => Some(Fault::Crashed(d.state.clone())),
        (DomState::Dead, _) => Some(Fault::Gone),
        _ => None,
    }
}

impl App<'_> {
    /// One repair pass; call it after [`App::begin`] (which reconciled).
    /// `wanted` says which domains (`kind/name`) to look at this time
    /// (supervise leaves out the ones it backs off from).
    pub fn repair(&self, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Repair>> {
        let live = self.xl.list()?;
        let mut done = Vec::new();
        for rec in DomainRecord::load_all(self.reg)? {
            if !wanted(&format!("{}/{}", rec.kind, rec.name)) {
                continue;
            }
            let xl = live.iter().find(|d| d.name == rec.name);
            match fault_of(&rec, xl) {
                Some(fault) => done.extend(self.restart(&rec, fault)),
                None if rec.state == DomState::Running && rec.kind == Kind::Spike => {
                    match self.reattach_vifs(&rec) {
                        Ok(moves) => done.extend(moves.into_iter().map(|vif| Repair::Vif {
                            spike: rec.name.clone(),
                            vif,
                        })),
                        Err(e) => done.push(failed(&rec, format!("moving guests' vifs: {e}"))),
                    }
                }
                None => {}
            }
        }
        Ok(done)
    }

    /// Destroys a crashed domain (keeping its record, wires and PCI device)
    /// and creates it again as `create` of its dead name would.
    fn restart(&self, rec: &DomainRecord, fault: Fault) -> Vec<Repair> {
        if let Fault::Crashed(_) = fault {
            if let Err(e) = self.discard_crashed(rec) {
                return vec![failed(rec, format!("{fault}, cannot destroy it: {e}"))];
            }
        }
        let created = match rec.kind {
            Kind::Corm => CormSpec::of(rec)
                .and_then(|spec| self.create_corm(&spec))
                .map(|r| (r, Vec::new())),
            Kind::Spike => self
                .create_spike_from(&SpikeSpec {
                    name: rec.name.clone(),
                    memory: rec.memory,
                    macs: rec.macs.clone(),
                    ips: rec.ips.clone(),
                })
                .map(|c| (c.rec, c.vifs)),
        };
        match created {
            Ok((new, vifs)) => {
                let mut out = vec![Repair::Restarted {
                    kind: rec.kind,
                    name: rec.name.clone(),
                    fault,
                    domid: new.domid.unwrap_or_default(),
                }];
                out.extend(vifs.into_iter().map(|vif| Repair::Vif {
                    spike: rec.name.clone(),
                    vif,
                }));
                out
            }
            Err(e) => vec![failed(rec, format!("{fault}, restart failed: {e}"))],
        }
    }

    /// `xl destroy`, then waits until Xen no longer lists the domid (a
    /// passed-through device is not assignable before), then `dead`.
    fn discard_crashed(&self, rec: &DomainRecord) -> Result<()> {
        let domid = self.xl.find(&rec.name)?.map(|d| d.domid);
        self.xl.destroy(&rec.name)?;
        let gone = self.timing.until(self.timing.gone, || -> Result<bool> {
            Ok(!self.xl.list()?.iter().any(|d| Some(d.domid) == domid))
        })?;
        if !gone {
            tracing::warn!(
                "{} '{}': domid {} still listed {:.0} s after xl destroy; creating it again anyway",
                rec.kind,
                rec.name,
                domid.unwrap_or_default(),
                self.timing.gone.as_secs_f64()
            );
        }
        self.mark_dead(&DomainRecord {
            domid: rec.domid.or(domid),
            ..rec.clone()
        })
    }
}

fn failed(rec: &DomainRecord, why: String) -> Repair {
    Repair::Failed {
        kind: rec.kind,
        name: rec.name.clone(),
        why,
    }
}

/// The one-line error of a pass in which something could not be repaired.
pub fn incomplete(done: &[Repair]) -> Option<Error> {
    let failed: Vec<String> = done
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.to_string())
        .collect();
    (!failed.is_empty()).then(|| Error::RepairIncomplete(failed.join("; ")))
}
