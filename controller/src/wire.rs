//! Connecting and disconnecting wires. A local wire is one registry record
//! plus one entry in each end's configuration, all written in one batch; the
//! domains watch their configuration and make (or tear down) the shared ring.
//!
//! An encap wire joins a Corm endpoint to a remote VTEP ([`crate::vtep`]):
//! one record plus a `tunnel/<id>` entry in the Corm's configuration, again
//! in one batch. The Corm encapsulates the endpoint's frames to the VTEP
//! from its underlay address ([`crate::underlay`]). With `--encap`, an
//! encap wire joins two Corms' endpoints instead (on two hosts, or two
//! Corms of one host): each Corm's config gets a `tunnel/<id>` entry whose
//! remote is the other Corm's underlay address.

use crate::app::App;
use crate::endpoint::{Endpoint, Kind};
use crate::error::{Error, Result};
use crate::registry::{Access, Batch};
use crate::schema::{config_path, find, DomState, DomainRecord, Side, WireRecord, NEXT_WIRE};
use crate::tunnel_key::WgVtep;
use crate::underlay::Underlay;
use crate::vtep::{Encap, Vtep};

pub const CONNECTING: &str = "connecting";
pub const CONNECTED: &str = "connected";
/// An encap wire's state: written to the Corm, which has no handshake with
/// a standard VTEP to report (it publishes `tunnel/<id>/state` = `up`).
pub const CONFIGURED: &str = "configured";

/// A domain's own report of a wire: local-wire publishes the xenbus state
/// numbers of its setup handshake (local-wire crate docs, "Setup over
/// xenstore"). The domain writes that key, so anything else is shown as
/// `invalid`, never echoed to a terminal or stored.
pub fn reported_state(raw: &str) -> String {
    match raw {
        "1" => "requesting",
        "2" => "offered",
        "4" => CONNECTED,
        "5" => "closing",
        "6" => "closed",
        _ => "invalid",
    }
    .to_string()
}

impl App<'_> {
    /// Wires two endpoints: two domains' (a local wire), a Corm's and a
    /// remote VTEP (an encap wire), or, with `encap`, two Corms' (an encap
    /// wire between Corms).
    pub fn connect(
        &self,
        first: &str,
        second: &str,
        encap: Option<&str>,
        tunnel: bool,
        wg_vtep: Option<WgVtep>,
    ) -> Result<WireRecord> {
        let (x, y): (Endpoint, Endpoint) = (first.parse()?, second.parse()?);
        if let Some(w) = wg_vtep {
            return match (x.vtep(), y.vtep(), encap, tunnel) {
                (None, Some(&v), None, false) => self.connect_tunnel(x, v, Some(w)),
                (Some(&v), None, None, false) => self.connect_tunnel(y, v, Some(w)),
                _ => Err(Error::WireguardVtepOptions),
            };
        }
        // A tunnel wire is Geneve inside WireGuard (docs/tunnel.md).
        let encap = match (encap, tunnel) {
            (None, true) => Some("geneve"),
            (Some(e), true) if e != "geneve" => {
                return Err(Error::TunnelNeedsGeneve(e.to_string()))
            }
            (e, _) => e,
        };
        if let Some(e) = encap {
            let e = e.parse().map_err(|()| Error::BadEncap(e.to_string()))?;
            return self.connect_corms(x, y, e, tunnel);
        }
        match (x.vtep(), y.vtep()) {
            (Some(_), Some(_)) => Err(Error::TwoVteps(x, y)),
            (Some(&v), None) => self.connect_tunnel(y, v, None),
            (None, Some(&v)) => self.connect_tunnel(x, v, None),
            (None, None) => self.connect_local(x, y),
        }
    }

    fn connect_local(&self, x: Endpoint, y: Endpoint) -> Result<WireRecord> {
        distinct_domains(&x, &y)?;
        let domains = DomainRecord::load_all(self.reg)?;
        let (dx, idx) = resolve(&domains, &x)?;
        let (dy, idy) = resolve(&domains, &y)?;
        let wires = WireRecord::load_all(self.reg)?;
        for ep in [&x, &y] {
            unwired(&wires, ep)?;
        }
        for (d, other) in [(dx, dy), (dy, dx)] {
            if d.kind == Kind::Spike && other.kind == Kind::Corm && d.macs.is_empty() {
                return Err(Error::NoMacs(d.name.clone()));
            }
        }
        let (id, seen) = self.next_wire_id(&wires)?;
        // The Corm offers the ring: it is up for as long as its NIC is.
        let y_offers = dy.kind == Kind::Corm && dx.kind != Kind::Corm;
        let ((a, da, ida), (b, db, idb)) = if y_offers {
            ((y, dy, idy), (x, dx, idx))
        } else {
            ((x, dx, idx), (y, dy, idy))
        };
        let wire = WireRecord {
            id,
            a,
            b,
            state: CONNECTING.into(),
            encap: None,
            wireguard: false,
            wg_vtep: None,
        };
        let mut batch = Batch::new();
        claim_wire_id(&mut batch, id, seen);
        batch.extend(wire.write());
        batch.extend(wire.config_entries(ida, Side::A, Some(db)));
        batch.extend(wire.config_entries(idb, Side::B, Some(da)));
        batch.restrict(config_path(ida), Access::ReadableBy(ida));
        batch.restrict(config_path(idb), Access::ReadableBy(idb));
        self.apply_wire(&wire, &batch, &domains)
    }

    /// An encap wire: `ep` must be a running Corm's free endpoint, the Corm
    /// must have an underlay to send from, and no other tunnel of that
    /// Corm may have the same VNI and remote (the Corm could not tell their
    /// incoming frames apart). The Corm end is `a`, the VTEP `b`.
    /// With `wg`: the VTEP is behind WireGuard (Geneve only; the Corm needs
    /// a key; its WireGuard endpoint is what must be reachable).
    fn connect_tunnel(&self, ep: Endpoint, vtep: Vtep, wg: Option<WgVtep>) -> Result<WireRecord> {
        if !matches!(ep, Endpoint::Corm(..)) {
            return Err(Error::TunnelNeedsCorm { endpoint: ep, vtep });
        }
        let domains = DomainRecord::load_all(self.reg)?;
        let (corm, domid) = resolve(&domains, &ep)?;
        match &wg {
            None => check_reachable(corm, &vtep)?,
            Some(w) => {
                if vtep.encap != Encap::Geneve {
                    return Err(Error::TunnelNeedsGeneve(vtep.encap.to_string()));
                }
                if corm.tunnel_key.is_none() {
                    return Err(Error::NoTunnelKey(corm.name.clone()));
                }
                check_reachable(
                    corm,
                    &Vtep {
                        remote: *w.endpoint.ip(),
                        ..vtep
                    },
                )?;
            }
        }
        let wires = WireRecord::load_all(self.reg)?;
        unwired(&wires, &ep)?;
        no_clash(&wires, &domains, corm, &vtep)?;
        let (id, seen) = self.next_wire_id(&wires)?;
        let wire = WireRecord {
            id,
            a: ep,
            b: Endpoint::Vtep(vtep),
            state: CONFIGURED.into(),
            encap: None,
            wireguard: false,
            wg_vtep: wg,
        };
        let mut batch = Batch::new();
        claim_wire_id(&mut batch, id, seen);
        batch.extend(wire.write());
        batch.extend(wire.tunnel_entries(domid, Side::A, &domains));
        batch.restrict(config_path(domid), Access::ReadableBy(domid));
        self.apply_wire(&wire, &batch, &domains)
    }

    /// An encap wire between two running Corms' free endpoints: each Corm
    /// needs an underlay from which it reaches the other's (a distinct
    /// address), and the wire id, its VNI, must fit in 24 bits and not be a
    /// VNI either Corm already uses to the other. `x` is `a`, `y` is `b`.
    fn connect_corms(
        &self,
        x: Endpoint,
        y: Endpoint,
        encap: Encap,
        tunnel: bool,
    ) -> Result<WireRecord> {
        encap_ends(&x, &y, encap)?;
        distinct_domains(&x, &y)?;
        let domains = DomainRecord::load_all(self.reg)?;
        let (da, ida) = resolve(&domains, &x)?;
        let (db, idb) = resolve(&domains, &y)?;
        check_underlays(da, db)?;
        if tunnel {
            for d in [da, db] {
                if d.tunnel_key.is_none() {
                    return Err(Error::NoTunnelKey(d.name.clone()));
                }
            }
        }
        let wires = WireRecord::load_all(self.reg)?;
        for ep in [&x, &y] {
            unwired(&wires, ep)?;
        }
        let (id, seen) = self.next_wire_id(&wires)?;
        if id > Vtep::MAX_VNI {
            return Err(Error::VniExhausted(id));
        }
        let wire = WireRecord {
            id,
            a: x,
            b: y,
            state: CONFIGURED.into(),
            encap: Some(encap),
            wireguard: tunnel,
            wg_vtep: None,
        };
        for (side, corm) in [(Side::A, da), (Side::B, db)] {
            if let Some(to) = wire.remote_of(side, &domains) {
                no_clash(&wires, &domains, corm, &to)?;
            }
        }
        let mut batch = Batch::new();
        claim_wire_id(&mut batch, id, seen);
        batch.extend(wire.write());
        batch.extend(wire.tunnel_entries(ida, Side::A, &domains));
        batch.extend(wire.tunnel_entries(idb, Side::B, &domains));
        batch.restrict(config_path(ida), Access::ReadableBy(ida));
        batch.restrict(config_path(idb), Access::ReadableBy(idb));
        self.apply_wire(&wire, &batch, &domains)
    }

    /// Writes a new wire's batch; on failure removes whatever of it a store
    /// without transactions may have kept.
    fn apply_wire(
        &self,
        wire: &WireRecord,
        batch: &Batch,
        domains: &[DomainRecord],
    ) -> Result<WireRecord> {
        if let Err(e) = self.reg.apply(batch) {
            let _ = self.reg.apply(&wire.unwire(domains));
            return Err(e.into());
        }
        Ok(wire.clone())
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
            let mut found: Vec<WireRecord> = wires.into_iter().filter(|w| w.has(&ep)).collect();
            match found.len() {
                0 => return Err(Error::NotWired(ep)),
                1 => found.remove(0),
                // Only a VTEP can be in several wires (of different Corms).
                _ => {
                    let ids = found.iter().map(|w| w.id).collect::<Vec<_>>();
                    return Err(Error::AmbiguousEndpoint {
                        endpoint: ep,
                        wires: crate::schema::join_ids(&ids),
                    });
                }
            }
        };
        self.reg
            .apply(&wire.unwire(&DomainRecord::load_all(self.reg)?))?;
        Ok(wire)
    }

    /// Ids are never reused while the store lives, so a domain slow to see a
    /// removal cannot mistake a new wire for the old one.
    /// The next wire id, and the counter as it was read (for
    /// [`claim_wire_id`]).
    fn next_wire_id(&self, wires: &[WireRecord]) -> Result<(u32, Option<String>)> {
        let seen = self.reg.get(NEXT_WIRE)?;
        let stored = seen.as_deref().and_then(|v| v.parse().ok()).unwrap_or(1);
        let id = wires
            .iter()
            .map(|w| w.id + 1)
            .max()
            .unwrap_or(1)
            .max(stored);
        Ok((id, seen))
    }
}

/// Moves the wire-id counter past `id`, if it still says what we read: in
/// a cluster registry two hosts' controllers share it (wire ids are VNIs),
/// and the one that loses the race fails with a conflict, nothing made.
fn claim_wire_id(batch: &mut Batch, id: u32, seen: Option<String>) {
    batch.expect(NEXT_WIRE, seen);
    batch.put(NEXT_WIRE, id + 1);
}

/// What a Corm's tunnel state key may say (anything else the domain wrote
/// is shown as `invalid`).
pub fn reported_tunnel_state(raw: &str) -> String {
    match raw {
        "up" | "down" => raw,
        _ => "invalid",
    }
    .to_string()
}

/// The running domain that has `ep`, and its domid.
fn resolve<'a>(domains: &'a [DomainRecord], ep: &Endpoint) -> Result<(&'a DomainRecord, u32)> {
    let unknown = |why: String| Error::UnknownEndpoint {
        endpoint: ep.clone(),
        why,
    };
    let Some((kind, name)) = ep.owner() else {
        return Err(unknown("a VTEP is no domain's endpoint".into()));
    };
    let d = find(domains, ep).ok_or_else(|| unknown(format!("no {kind} named '{name}'")))?;
    let Some(domid) = d.domid.filter(|_| d.state == DomState::Running) else {
        return Err(unknown(format!("{} '{}' is {}", d.kind, d.name, d.state)));
    };
    if ep.index() >= d.endpoints {
        return Err(unknown(format!(
            "corm '{}' has endpoints 0..={}",
            d.name,
            d.endpoints.saturating_sub(1)
        )));
    }
    Ok((d, domid))
}

/// Refuses an endpoint that is already in a wire.
fn unwired(wires: &[WireRecord], ep: &Endpoint) -> Result<()> {
    match wires.iter().find(|w| w.has(ep)) {
        Some(w) => Err(Error::AlreadyWired {
            endpoint: ep.clone(),
            wire: w.id,
        }),
        None => Ok(()),
    }
}

/// Refuses a wire between an endpoint and itself, or two endpoints of one
/// domain.
fn distinct_domains(x: &Endpoint, y: &Endpoint) -> Result<()> {
    if x == y {
        return Err(Error::SelfWire(x.to_string()));
    }
    if let (Some((kind, name)), true) = (x.owner(), x.owner() == y.owner()) {
        return Err(Error::SameDomain(format!("{kind} '{name}'")));
    }
    Ok(())
}

/// `--encap` names the encapsulation of a wire between two Corms: a VTEP
/// end already says its own, and a Spike terminates no tunnel.
fn encap_ends(x: &Endpoint, y: &Endpoint, encap: Encap) -> Result<()> {
    if let Some(v) = [x, y].into_iter().find(|e| e.vtep().is_some()) {
        return Err(Error::EncapWithVtep {
            encap,
            vtep: v.clone(),
        });
    }
    if let Some(e) = [x, y]
        .into_iter()
        .find(|e| !matches!(e, Endpoint::Corm(..)))
    {
        return Err(Error::EncapNeedsCorms {
            encap,
            endpoint: e.clone(),
        });
    }
    Ok(())
}

/// Refuses a tunnel of `corm` to the same VNI and remote address as `to`
/// (whatever its encapsulation and port): the Corm could not tell their
/// incoming frames apart.
fn no_clash(
    wires: &[WireRecord],
    domains: &[DomainRecord],
    corm: &DomainRecord,
    to: &Vtep,
) -> Result<()> {
    for w in wires {
        let Some(side) = w.side_of(&corm.kind, &corm.name) else {
            continue;
        };
        if let Some(v) = w.remote_of(side, domains) {
            if v.vni == to.vni && v.remote == to.remote {
                return Err(Error::DuplicateTunnel {
                    corm: corm.name.clone(),
                    vni: to.vni,
                    remote: to.remote,
                    wire: w.id,
                });
            }
        }
    }
    Ok(())
}

/// The Corm's underlay, or the error that says it has none.
fn underlay_of(corm: &DomainRecord) -> Result<Underlay> {
    corm.underlay
        .ok_or_else(|| Error::NoUnderlay(corm.name.clone()))
}

/// Why the underlay cannot send to `remote`, if it cannot: a remote that is
/// its own address would loop its frames back to itself, and one off its
/// link needs a gateway.
fn unreachable(u: Underlay, remote: std::net::Ipv4Addr) -> Option<String> {
    if remote == u.cidr.addr {
        return Some("that is the Corm's own underlay address".into());
    }
    if u.gateway.is_none() && !u.cidr.contains(remote) {
        return Some(format!(
            "outside its underlay {} and it has no --gateway",
            u.cidr.network()
        ));
    }
    None
}

/// The Corm must have an underlay, and a route to the VTEP from it: on its
/// link, or through its gateway.
fn check_reachable(corm: &DomainRecord, vtep: &Vtep) -> Result<()> {
    match unreachable(underlay_of(corm)?, vtep.remote) {
        Some(why) => Err(Error::UnreachableVtep {
            vtep: *vtep,
            corm: corm.name.clone(),
            why,
        }),
        None => Ok(()),
    }
}

/// Two Corms with underlays at different addresses, each reaching the
/// other's (on its link or through its gateway): the tunnel runs both ways.
fn check_underlays(a: &DomainRecord, b: &DomainRecord) -> Result<()> {
    let (ua, ub) = (underlay_of(a)?, underlay_of(b)?);
    if ua.cidr.addr == ub.cidr.addr {
        return Err(Error::SameUnderlay {
            a: a.name.clone(),
            b: b.name.clone(),
            addr: ua.cidr.addr,
        });
    }
    for (from, u, to, addr) in [(a, ua, b, ub.cidr.addr), (b, ub, a, ua.cidr.addr)] {
        if let Some(why) = unreachable(u, addr) {
            return Err(Error::UnreachableCorm {
                corm: from.name.clone(),
                peer: to.name.clone(),
                addr,
                why,
            });
        }
    }
    Ok(())
}
