//! Repairing what an interrupted command or a vanished domain left behind;
//! run (under the lock) at the start of every command.
//!
//! | found | done |
//! |---|---|
//! | `creating` record | the create is rolled back (domain destroyed if xl has it, PCI device released, record removed; kept as `dead` if wires name it) |
//! | `destroying` record | the destroy is finished |
//! | `running` record, xl has no such domain | marked `dead`: its config is removed, the record and wires stay for a later `create` |
//! | `running` record, xl shows another domid | the new domid is adopted: config rewritten, peers' `peer-domid` updated |
//! | wire naming a domain with no record, or unreadable | removed |
//! | wire both of whose ends report `connected` | `state=connected` (else `connecting`) |

use std::collections::BTreeMap;

use crate::app::App;
use crate::error::Result;
use crate::registry::{join, Batch};
use crate::schema::{data_path, find, wire_path, DomState, DomainRecord, Side, WireRecord, ROOT};
use crate::wire::{CONNECTED, CONNECTING};

impl App<'_> {
    pub fn reconcile(&self) -> Result<()> {
        let live: BTreeMap<String, u32> = self
            .xl
            .list()?
            .into_iter()
            .map(|d| (d.name, d.domid))
            .collect();
        for rec in DomainRecord::load_all(self.reg)? {
            let what = format!("{} '{}'", rec.kind, rec.name);
            match (rec.state, live.get(&rec.name)) {
                (DomState::Creating, _) => {
                    tracing::warn!("{what}: rolling back an unfinished create");
                    self.rollback(&rec);
                }
                (DomState::Destroying, running) => {
                    tracing::warn!("{what}: finishing an unfinished destroy");
                    if running.is_some() {
                        self.xl.destroy(&rec.name)?;
                    }
                    self.finish_destroy(&rec)?;
                }
                (DomState::Running, None) => {
                    tracing::warn!(
                        "{what}: gone from xl, marked dead (create it again to restore its wires)"
                    );
                    self.mark_dead(&rec)?;
                }
                (DomState::Running, Some(&domid)) if rec.domid != Some(domid) => {
                    tracing::warn!("{what}: now domid {domid}, rewriting its configuration");
                    self.reg.apply(&self.adoption(&rec, domid)?)?;
                }
                _ => {}
            }
        }
        self.reconcile_wires()
    }

    fn reconcile_wires(&self) -> Result<()> {
        let domains = DomainRecord::load_all(self.reg)?;
        let wires = WireRecord::load_all(self.reg)?;
        let mut b = Batch::new();
        for id in self.reg.list(&format!("{ROOT}/wire"))? {
            if !wires.iter().any(|w| w.id.to_string() == id) {
                tracing::warn!("wire {id}: unreadable record removed");
                b.rm(format!("{ROOT}/wire/{id}"));
            }
        }
        for w in &wires {
            if find(&domains, &w.a).is_none() || find(&domains, &w.b).is_none() {
                tracing::warn!("wire {}: an end's domain has no record, removed", w.id);
                b.extend(w.unwire(&domains));
                continue;
            }
            let up = [Side::A, Side::B].iter().all(|&s| {
                self.observed(&domains, w, s).ok().flatten().as_deref() == Some(CONNECTED)
            });
            let state = if up { CONNECTED } else { CONNECTING };
            if w.state != state {
                b.put(join(&wire_path(w.id), "state"), state);
            }
        }
        if !b.is_empty() {
            self.reg.apply(&b)?;
        }
        Ok(())
    }

    /// What the domain on `side` of the wire publishes as the wire's state.
    pub fn observed(
        &self,
        domains: &[DomainRecord],
        w: &WireRecord,
        side: Side,
    ) -> Result<Option<String>> {
        let Some(domid) = find(domains, w.end(side)).and_then(|d| d.domid) else {
            return Ok(None);
        };
        Ok(self
            .local
            .get(&join(&data_path(domid), format!("wire/{}/state", w.id)))?
            .map(|raw| crate::wire::reported_state(&raw)))
    }
}
