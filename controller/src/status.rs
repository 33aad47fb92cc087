//! `banana list`, `banana status` and `banana counters`: the registry joined
//! with what xl and the domains themselves report. Counters come from a
//! domain's counter page if it advertises one, plus the numeric leaves it
//! publishes under `/local/domain/<domid>/data/banana/` ([`crate::counters`]):
//! those named `wire/<id>/counters/…` (and a Corm's `tunnel/<id>/counters/…`)
//! are shown with that wire, the rest (e.g. `vif/…`) with the domain. A
//! wire's VTEP end is no domain: it has no domid, report or counters.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Number;

use crate::app::App;
use crate::counters::{from_page, gather, page_refs_key, PageInfo, Published, Source};
use crate::endpoint::{Endpoint, Kind};
use crate::error::{Error, Result};
use crate::registry::leaves;
use crate::schema::{data_path, find, DomState, DomainRecord, Side, WireRecord};
use crate::table::{opt, render};
use crate::vtep::Encap;

/// A domain's published tree is read at most this deep and this large.
const MAX_DEPTH: usize = 6;
const MAX_LEAVES: usize = 2048;

pub type Counters = BTreeMap<String, Number>;

#[derive(Debug, Serialize)]
pub struct Status {
    pub domains: Vec<DomainStatus>,
    pub endpoints: Vec<EndpointStatus>,
    pub wires: Vec<WireStatus>,
}

#[derive(Debug, Serialize)]
pub struct DomainStatus {
    pub kind: Kind,
    pub name: String,
    pub domid: Option<u32>,
    pub state: DomState,
    /// xl's state flags (`r`unning, `b`locked, `p`aused, `s`hutdown, `c`rashed, `d`ying).
    pub xl_state: Option<String>,
    /// Xen says it crashed (`c`): `banana repair` restarts it.
    pub crashed: bool,
    pub bdf: Option<String>,
    pub endpoints: u32,
    pub counters: Counters,
    /// Where the counters came from: `page`, `xenstore`, or null (none published).
    pub counter_source: Option<Source>,
    /// Why the domain's counter page could not be read (its xenstore counters
    /// are still shown).
    pub counter_error: Option<String>,
    /// A Corm's WireGuard public key (`--tunnel-key`), base64 as `wg` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wireguard_public_key: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EndpointStatus {
    pub endpoint: Endpoint,
    pub vlan: Option<u16>,
    pub wire: Option<u32>,
    pub peer: Option<Endpoint>,
}

#[derive(Debug, Serialize)]
pub struct WireStatus {
    pub id: u32,
    pub a: Endpoint,
    pub b: Endpoint,
    pub state: String,
    /// An encap wire's encapsulation (absent for a local wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encap: Option<Encap>,
    pub a_side: SideStatus,
    pub b_side: SideStatus,
}

#[derive(Debug, Serialize)]
pub struct SideStatus {
    pub domid: Option<u32>,
    /// The state the domain itself reports for the wire.
    pub state: Option<String>,
    pub counters: Counters,
}

impl App<'_> {
    /// `with_counters: false` skips reading the domains' trees (`list`).
    pub fn status(&self, with_counters: bool) -> Result<Status> {
        let domains = DomainRecord::load_all(self.reg)?;
        let wires = WireRecord::load_all(self.reg)?;
        let xl: BTreeMap<String, String> = self
            .xl
            .list()?
            .into_iter()
            .map(|d| (d.name, d.state))
            .collect();
        let mut published = BTreeMap::new();
        if with_counters {
            for d in &domains {
                if let Some(id) = d.domid {
                    published.insert(id, self.published(id)?);
                }
            }
        }
        let mut out = Status {
            domains: Vec::new(),
            endpoints: Vec::new(),
            wires: Vec::new(),
        };
        for d in &domains {
            let p = d.domid.and_then(|id| published.get(&id));
            let counters = p.map(|p| select(p, None)).unwrap_or_default();
            out.domains.push(DomainStatus {
                kind: d.kind,
                name: d.name.clone(),
                domid: d.domid,
                state: d.state,
                xl_state: xl.get(&d.name).cloned(),
                crashed: xl.get(&d.name).is_some_and(|s| s.contains('c')),
                bdf: d.bdf.map(|b| b.to_string()),
                endpoints: d.endpoints,
                counters,
                counter_source: p.and_then(|p| p.source),
                counter_error: p.and_then(|p| p.error.clone()),
                wireguard_public_key: d
                    .tunnel_key
                    .as_ref()
                    .map(|k| k.public().to_base64().as_str().to_string()),
            });
            for i in 0..d.endpoints {
                let ep = d.endpoint(i);
                let w = wires.iter().find(|w| w.has(&ep));
                out.endpoints.push(EndpointStatus {
                    vlan: d.vlans.get(&i).copied(),
                    wire: w.map(|w| w.id),
                    peer: w.map(|w| if w.a == ep { w.b.clone() } else { w.a.clone() }),
                    endpoint: ep,
                });
            }
        }
        for w in &wires {
            let side = |s: Side| -> Result<SideStatus> {
                let domid = find(&domains, w.end(s)).and_then(|d| d.domid);
                Ok(SideStatus {
                    domid,
                    state: self.observed(&domains, w, s)?,
                    counters: domid
                        .and_then(|id| published.get(&id))
                        .map(|p| wire_counters(p, w))
                        .unwrap_or_default(),
                })
            };
            out.wires.push(WireStatus {
                id: w.id,
                a: w.a.clone(),
                b: w.b.clone(),
                state: w.state.clone(),
                encap: w.encap.or(w.tunnel().map(|(_, v)| v.encap)),
                a_side: side(Side::A)?,
                b_side: side(Side::B)?,
            });
        }
        Ok(out)
    }

    /// A domain's counters: its page if it advertises one (one xenstore read
    /// and the grant device: dom0's xenstored is slow when loaded), else the
    /// numeric leaves of its `data/banana/` tree.
    pub fn published(&self, domid: u32) -> Result<Published> {
        let refs_key = format!("{}/{}", data_path(domid), page_refs_key());
        if let Some(refs) = self.local.get(&refs_key)? {
            return Ok(from_page(self.pages, domid, &refs));
        }
        let leaves = leaves(self.local, &data_path(domid), MAX_DEPTH, MAX_LEAVES)?;
        Ok(gather(&leaves, self.pages, domid))
    }

    /// `banana counter DOMAIN NAME`: one counter's value.
    pub fn counter(&self, domain: &str, name: &str) -> Result<Number> {
        let c = self.counters(domain)?;
        c.counters
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NoCounter {
                domain: c.label(),
                counter: name.to_string(),
            })
    }

    /// A domid as given (no `xl list`: it reads xenstore for every domain),
    /// or an xl name's domid.
    fn resolve(&self, domain: &str) -> Result<(u32, Option<String>)> {
        if let Some(domid) = as_domid(domain) {
            return Ok((domid, None));
        }
        let d = self
            .xl
            .list()?
            .into_iter()
            .find(|d| d.name == domain)
            .ok_or_else(|| Error::UnknownXlDomain(domain.to_string()))?;
        Ok((d.domid, Some(d.name)))
    }

    /// `banana counters DOMAIN`: any domain's counters, by domid or xl name;
    /// an error if it advertises a counter page that cannot be read.
    pub fn counters(&self, domain: &str) -> Result<DomainCounters> {
        let (domid, name) = self.resolve(domain)?;
        let p = self.published(domid)?;
        // A domid nobody checked: publishing nothing is fine, not existing is not.
        if name.is_none()
            && p.source.is_none()
            && self
                .local
                .list(&format!("/local/domain/{domid}"))?
                .is_empty()
        {
            return Err(Error::UnknownXlDomain(domain.to_string()));
        }
        let c = DomainCounters {
            domid,
            name,
            source: p.source,
            page: p.page,
            counters: p.counters.into_iter().collect(),
        };
        if let Some(why) = p.error {
            return Err(Error::CounterPage {
                domain: c.label(),
                why,
            });
        }
        Ok(c)
    }
}

fn as_domid(domain: &str) -> Option<u32> {
    if domain.is_empty() || !domain.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    domain.parse().ok()
}

/// `banana counters`.
#[derive(Debug, Serialize)]
pub struct DomainCounters {
    pub domid: u32,
    /// The xl name when the domain was named by it (null when given a domid).
    pub name: Option<String>,
    pub source: Option<Source>,
    pub page: Option<PageInfo>,
    pub counters: Counters,
}

impl DomainCounters {
    /// `domain 2 (s1)`, or `domain 2` when named by domid.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("domain {} ({n})", self.domid),
            None => format!("domain {}", self.domid),
        }
    }

    pub fn text(&self) -> String {
        let from = match (&self.source, &self.page) {
            (Some(Source::Page), Some(p)) => format!(
                "counter page (grant refs {}, seq {})",
                p.refs
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                p.seq
            ),
            (Some(s), _) => s.to_string(),
            (None, _) => "nothing published".to_string(),
        };
        let rows: Vec<Vec<String>> = self
            .counters
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect();
        format!(
            "{}: {from}\n{}",
            self.label(),
            render(&["COUNTER", "VALUE"], &rows)
        )
    }
}

/// Counters named `prefix…` (prefix stripped), or, without a prefix, those
/// that are no wire's ([`per_wire`]).
fn select(published: &Published, prefix: Option<&str>) -> Counters {
    published
        .counters
        .iter()
        .filter_map(|(k, v)| {
            let k = match prefix {
                Some(p) => k.strip_prefix(p)?,
                None if per_wire(k) => return None,
                None => k,
            };
            Some((k.to_string(), v.clone()))
        })
        .collect()
}

/// Whether a counter belongs to one wire: anything under `wire/`, and a
/// Corm's `tunnel/<id>/counters/…`.
fn per_wire(name: &str) -> bool {
    let mut parts = name.splitn(4, '/');
    name.starts_with("wire/")
        || (parts.next() == Some("tunnel") && parts.nth(1) == Some("counters"))
}

/// A domain's counters for one wire: domains publish them beside its setup
/// keys, `wire/<id>/counters/`; a Corm may keep an encap wire's under
/// `tunnel/<id>/counters/` too, and both are shown.
fn wire_counters(published: &Published, w: &WireRecord) -> Counters {
    let group = |g: String| format!("{g}/");
    let mut c = select(published, Some(&group(xs_schema::groups::wire(w.id))));
    if w.is_encap() {
        c.extend(select(
            published,
            Some(&group(xs_schema::groups::tunnel(w.id))),
        ));
    }
    c
}

impl DomainStatus {
    /// The registry's state, except that a running domain Xen says crashed
    /// is `crashed`.
    pub fn shown_state(&self) -> &'static str {
        if self.crashed && self.state == DomState::Running {
            "crashed"
        } else {
            self.state.as_str()
        }
    }
}

impl Status {
    pub fn endpoints_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    e.endpoint.to_string(),
                    opt(e.vlan),
                    opt(e.wire),
                    opt(e.peer.as_ref()),
                ]
            })
            .collect();
        render(&["ENDPOINT", "VLAN", "WIRE", "PEER"], &rows)
    }

    pub fn wires_table(&self, observed: bool) -> String {
        let rows: Vec<Vec<String>> = self
            .wires
            .iter()
            .map(|w| {
                let mut r = vec![
                    w.id.to_string(),
                    w.a.to_string(),
                    w.b.to_string(),
                    w.state.clone(),
                ];
                if observed {
                    r.push(opt(w.a_side.state.as_ref()));
                    r.push(opt(w.b_side.state.as_ref()));
                }
                r.push(opt(w.encap));
                r
            })
            .collect();
        let header: &[&str] = if observed {
            &["WIRE", "A", "B", "STATE", "A-REPORTS", "B-REPORTS", "ENCAP"]
        } else {
            &["WIRE", "A", "B", "STATE", "ENCAP"]
        };
        render(header, &rows)
    }

    /// The Corms' WireGuard public keys, if any has one.
    pub fn keys_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .domains
            .iter()
            .filter_map(|d| Some(vec![d.name.clone(), d.wireguard_public_key.clone()?]))
            .collect();
        if rows.is_empty() {
            return String::new();
        }
        format!("{}\n", render(&["CORM", "WIREGUARD-PUBLIC-KEY"], &rows))
    }

    pub fn domains_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .domains
            .iter()
            .map(|d| {
                vec![
                    d.name.clone(),
                    d.kind.to_string(),
                    opt(d.domid),
                    d.shown_state().to_string(),
                    opt(d.xl_state.as_ref()),
                    opt(d.bdf.as_ref()),
                    d.endpoints.to_string(),
                    match (&d.counter_error, d.counter_source) {
                        (Some(_), _) => "error".to_string(),
                        (None, s) => opt(s),
                    },
                ]
            })
            .collect();
        render(
            &[
                "DOMAIN",
                "KIND",
                "DOMID",
                "STATE",
                "XL",
                "BDF",
                "ENDPOINTS",
                "COUNTERS",
            ],
            &rows,
        )
    }

    /// Domains whose counter page could not be read; empty if none.
    pub fn counter_errors_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .domains
            .iter()
            .filter_map(|d| Some(vec![d.name.clone(), d.counter_error.clone()?]))
            .collect();
        if rows.is_empty() {
            return String::new();
        }
        format!("\n{}", render(&["DOMAIN", "COUNTER-ERROR"], &rows))
    }

    pub fn counters_table(&self) -> String {
        let mut rows = Vec::new();
        let mut add = |who: String, c: &Counters| {
            for (k, v) in c {
                rows.push(vec![who.clone(), k.clone(), v.to_string()]);
            }
        };
        for d in &self.domains {
            add(format!("{} {}", d.kind, d.name), &d.counters);
        }
        for w in &self.wires {
            add(format!("wire {} a {}", w.id, w.a), &w.a_side.counters);
            add(format!("wire {} b {}", w.id, w.b), &w.b_side.counters);
        }
        render(&["WHERE", "COUNTER", "VALUE"], &rows)
    }

    /// `banana list`: endpoints and wires, then any domain that is not
    /// running.
    pub fn list_text(&self) -> String {
        let mut text = format!("{}\n{}", self.endpoints_table(), self.wires_table(false));
        for d in self.domains.iter().filter(|d| d.shown_state() != "running") {
            text.push_str(&format!(
                "\n{} {} is {}{}",
                d.kind,
                d.name,
                d.shown_state(),
                match d.shown_state() {
                    "crashed" | "dead" => ": `banana repair` restarts it",
                    _ => "",
                }
            ));
        }
        if text.ends_with(|c| c != '\n') {
            text.push('\n');
        }
        text
    }

    /// `banana status`.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}{}\n{}\n{}{}",
            self.domains_table(),
            self.keys_table(),
            self.endpoints_table(),
            self.wires_table(true),
            self.counters_table(),
            self.counter_errors_table()
        )
    }
}
