//! Repairing what an interrupted command or a vanished domain left behind;
//! run (under the lock) at the start of every command.
//!
//! | found | done |
//! |---|---|
//! | `creating` record | the create is rolled back (domain destroyed if xl has it, PCI device released, record removed; kept as `dead` if wires name it) |
//! | `destroying` record | the destroy is finished |
//! | `running` record, xl has no such domain | marked `dead`: its config is removed, the record and wires stay for a later `create` |
//! | `running` record, xl shows another domid | the new domid is adopted: config rewritten, peers' `peer-domid` updated (a Spike's old domid joins its `former-domids`) |
//! | `running` record, xl shows it crashed (`c`) | said on stderr; `banana repair` restarts it (crate::repair) |
//! | wire naming a domain with no record, or unreadable (e.g. a garbled `encap`) | removed, with its entries in the running domains' configs |
//! | wire with a VTEP end whose other end is not a Corm's | removed |
//! | wire both of whose ends report `connected` | `state=connected` (else `connecting`) |
//! | wire with an `encap` key whose ends are not both Corm endpoints | removed |
//! | encap wire (a Corm endpoint and a VTEP, or two Corm endpoints) | `state=configured` |

use std::collections::BTreeMap;

use crate::app::App;
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::registry::{join, Batch};
use crate::schema::{
    config_path, data_path, find, wire_path, DomState, DomainRecord, Side, WireRecord, ROOT,
};
use crate::toolstack::DomainInfo;
use crate::wire::{CONFIGURED, CONNECTED, CONNECTING};

impl App<'_> {
    pub fn reconcile(&self) -> Result<()> {
        let listed: BTreeMap<String, DomainInfo> = self
            .xl
            .list()?
            .into_iter()
            .map(|d| (d.name.clone(), d))
            .collect();
        let live: BTreeMap<&str, u32> = listed.iter().map(|(n, d)| (n.as_str(), d.domid)).collect();
        for rec in DomainRecord::load_all(self.reg)? {
            let what = format!("{} '{}'", rec.kind, rec.name);
            if let Some(d) = listed.get(&rec.name).filter(|d| d.crashed()) {
                if rec.state == DomState::Running {
                    tracing::warn!(
                        "{what}: crashed (xl state {}): `banana repair` restarts it",
                        d.state
                    );
                }
            }
            match (rec.state, live.get(rec.name.as_str())) {
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
                b.extend(stray_entries(&domains, &id));
            }
        }
        for w in &wires {
            if let Some(why) = broken(&domains, w) {
                tracing::warn!("wire {}: {why}, removed", w.id);
                b.extend(w.unwire(&domains));
                continue;
            }
            let state = if w.is_encap() {
                CONFIGURED
            } else if self.both_connected(&domains, w) {
                CONNECTED
            } else {
                CONNECTING
            };
            if w.state != state {
                b.put(join(&wire_path(w.id), "state"), state);
            }
        }
        if !b.is_empty() {
            self.reg.apply(&b)?;
        }
        Ok(())
    }

    /// Whether both ends of a local wire report it connected.
    fn both_connected(&self, domains: &[DomainRecord], w: &WireRecord) -> bool {
        [Side::A, Side::B]
            .iter()
            .all(|&s| self.observed(domains, w, s).ok().flatten().as_deref() == Some(CONNECTED))
    }

    /// What the domain on `side` of the wire publishes as the wire's state
    /// (`wire/<id>/state`, or a Corm's `tunnel/<id>/state` for an encap
    /// wire); nothing for a VTEP end, which is no domain.
    pub fn observed(
        &self,
        domains: &[DomainRecord],
        w: &WireRecord,
        side: Side,
    ) -> Result<Option<String>> {
        let Some(domid) = find(domains, w.end(side)).and_then(|d| d.domid) else {
            return Ok(None);
        };
        let raw = self.local.get(&join(
            &data_path(domid),
            xs_schema::data::wire_state(w.is_encap(), w.id),
        ))?;
        Ok(raw.map(|raw| match w.is_encap() {
            true => crate::wire::reported_tunnel_state(&raw),
            false => crate::wire::reported_state(&raw),
        }))
    }
}

/// Whatever a record that cannot be read anymore may have put in the
/// running domains' configs (`wire/<id>`, `tunnel/<id>`): with the record
/// gone nothing else would remove it.
fn stray_entries(domains: &[DomainRecord], id: &str) -> Batch {
    let mut b = Batch::new();
    let configs = domains.iter().filter_map(|d| d.domid).map(config_path);
    for c in configs {
        b.rm(join(&c, format!("{}/{id}", xs_schema::config::WIRES)))
            .rm(join(&c, format!("{}/{id}", xs_schema::config::TUNNELS)));
    }
    b
}

/// Why a wire cannot stand: an end's domain has no record, or a VTEP end
/// (written by hand, or by an older banana) is not wired to a Corm.
fn broken(domains: &[DomainRecord], w: &WireRecord) -> Option<&'static str> {
    let orphan = |ep: &Endpoint| ep.owner().is_some() && find(domains, ep).is_none();
    if orphan(&w.a) || orphan(&w.b) {
        return Some("an end's domain has no record");
    }
    let has_vtep = w.a.vtep().is_some() || w.b.vtep().is_some();
    if has_vtep && w.tunnel().is_none() {
        return Some("a VTEP end not wired to a Corm endpoint");
    }
    if w.encap.is_some() && w.corm_encap().is_none() {
        return Some("an encap key on a wire that is not between two Corm endpoints");
    }
    None
}
