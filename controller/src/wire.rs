//! Connecting and disconnecting wires. A wire is one registry record plus one
//! entry in each end's configuration, all written in one batch; the domains
//! watch their configuration and make (or tear down) the shared ring.

use crate::app::App;
use crate::endpoint::{Endpoint, Kind};
use crate::error::{Error, Result};
use crate::registry::{Access, Batch};
use crate::schema::{config_path, find, DomState, DomainRecord, Side, WireRecord, NEXT_WIRE};

pub const CONNECTING: &str = "connecting";
pub const CONNECTED: &str = "connected";

/// A domain's own report of a wire: local-wire publishes the xenbus state
/// numbers of its setup handshake (local-wire crate docs, "Setup over
/// xenstore"); anything else is shown as written.
pub fn reported_state(raw: &str) -> String {
    match raw {
        "1" => "requesting",
        "2" => "offered",
        "4" => CONNECTED,
        "5" => "closing",
        "6" => "closed",
        other => other,
    }
    .to_string()
}

impl App<'_> {
    pub fn connect(&self, first: &str, second: &str) -> Result<WireRecord> {
        let (x, y): (Endpoint, Endpoint) = (first.parse()?, second.parse()?);
        if x == y {
            return Err(Error::SelfWire(x.to_string()));
        }
        if x.kind() == y.kind() && x.domain() == y.domain() {
            return Err(Error::SameDomain(format!("{} '{}'", x.kind(), x.domain())));
        }
        let domains = DomainRecord::load_all(self.reg)?;
        let dx = resolve(&domains, &x)?;
        let dy = resolve(&domains, &y)?;
        let wires = WireRecord::load_all(self.reg)?;
        for ep in [&x, &y] {
            if let Some(w) = wires.iter().find(|w| w.has(ep)) {
                return Err(Error::AlreadyWired {
                    endpoint: ep.clone(),
                    wire: w.id,
                });
            }
        }
        let id = self.next_wire_id(&wires)?;
        // The Corm offers the ring: it is up for as long as its NIC is.
        let (a, b, da, db) = if y.kind() == Kind::Corm && x.kind() != Kind::Corm {
            (y, x, dy, dx)
        } else {
            (x, y, dx, dy)
        };
        let wire = WireRecord {
            id,
            a,
            b,
            state: CONNECTING.into(),
        };
        let (ida, idb) = (da.domid.unwrap_or_default(), db.domid.unwrap_or_default());
        let mut batch = Batch::new();
        batch.put(NEXT_WIRE, id + 1);
        batch.extend(wire.write());
        batch.extend(wire.config_entries(ida, Side::A, Some(idb)));
        batch.extend(wire.config_entries(idb, Side::B, Some(ida)));
        batch.restrict(config_path(ida), Access::ReadableBy(ida));
        batch.restrict(config_path(idb), Access::ReadableBy(idb));
        if let Err(e) = self.reg.apply(&batch) {
            let _ = self.reg.apply(&wire.unwire(&domains));
            return Err(e.into());
        }
        Ok(wire)
    }

    /// Disconnects by wire id or by either of its endpoints.
    pub fn disconnect(&self, what: &str) -> Result<WireRecord> {
        let wires = WireRecord::load_all(self.reg)?;
        let wire = if let Ok(id) = what.parse::<u32>() {
            wires
                .into_iter()
                .find(|w| w.id == id)
                .ok_or_else(|| Error::UnknownWire(what.into()))?
        } else {
            let ep: Endpoint = what.parse().map_err(|_| Error::UnknownWire(what.into()))?;
            wires
                .into_iter()
                .find(|w| w.has(&ep))
                .ok_or(Error::NotWired(ep))?
        };
        self.reg
            .apply(&wire.unwire(&DomainRecord::load_all(self.reg)?))?;
        Ok(wire)
    }

    /// Ids are never reused while the store lives, so a domain slow to see a
    /// removal cannot mistake a new wire for the old one.
    fn next_wire_id(&self, wires: &[WireRecord]) -> Result<u32> {
        let stored = self
            .reg
            .get(NEXT_WIRE)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        Ok(wires
            .iter()
            .map(|w| w.id + 1)
            .max()
            .unwrap_or(1)
            .max(stored))
    }
}

/// The running domain that has `ep`.
fn resolve<'a>(domains: &'a [DomainRecord], ep: &Endpoint) -> Result<&'a DomainRecord> {
    let unknown = |why: String| Error::UnknownEndpoint {
        endpoint: ep.clone(),
        why,
    };
    let d = find(domains, ep)
        .ok_or_else(|| unknown(format!("no {} named '{}'", ep.kind(), ep.domain())))?;
    if d.state != DomState::Running || d.domid.is_none() {
        return Err(unknown(format!("{} '{}' is {}", d.kind, d.name, d.state)));
    }
    if ep.index() >= d.endpoints {
        return Err(unknown(format!(
            "corm '{}' has endpoints 0..={}",
            d.name,
            d.endpoints.saturating_sub(1)
        )));
    }
    Ok(d)
}
