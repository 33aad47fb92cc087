//! `banana list` and `banana status`: the registry joined with what xl and
//! the domains themselves report. Counters are whatever numeric leaves a
//! domain publishes under `/local/domain/<domid>/data/banana/`: those under
//! `wire/<id>/` are shown with that wire, the rest (e.g. `vif/…`) with the domain.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Number;

use crate::app::App;
use crate::endpoint::{Endpoint, Kind};
use crate::error::Result;
use crate::registry::leaves;
use crate::schema::{data_path, find, DomState, DomainRecord, Side, WireRecord};
use crate::table::{opt, render};

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
    pub bdf: Option<String>,
    pub endpoints: u32,
    pub counters: Counters,
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
            let counters = d
                .domid
                .and_then(|id| published.get(&id))
                .map(|p| select(p, None))
                .unwrap_or_default();
            out.domains.push(DomainStatus {
                kind: d.kind,
                name: d.name.clone(),
                domid: d.domid,
                state: d.state,
                xl_state: xl.get(&d.name).cloned(),
                bdf: d.bdf.map(|b| b.to_string()),
                endpoints: d.endpoints,
                counters,
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
                // Domains publish a wire's counters beside its setup keys.
                let prefix = format!("wire/{}/counters/", w.id);
                Ok(SideStatus {
                    domid,
                    state: self.observed(&domains, w, s)?,
                    counters: domid
                        .and_then(|id| published.get(&id))
                        .map(|p| select(p, Some(&prefix)))
                        .unwrap_or_default(),
                })
            };
            out.wires.push(WireStatus {
                id: w.id,
                a: w.a.clone(),
                b: w.b.clone(),
                state: w.state.clone(),
                a_side: side(Side::A)?,
                b_side: side(Side::B)?,
            });
        }
        Ok(out)
    }

    fn published(&self, domid: u32) -> Result<Vec<(String, String)>> {
        Ok(leaves(
            self.local,
            &data_path(domid),
            MAX_DEPTH,
            MAX_LEAVES,
        )?)
    }
}

/// Numeric leaves under `prefix` (prefix stripped), or, without a prefix,
/// those outside any `wire/` subtree.
fn select(published: &[(String, String)], prefix: Option<&str>) -> Counters {
    published
        .iter()
        .filter_map(|(k, v)| {
            let k = match prefix {
                Some(p) => k.strip_prefix(p)?,
                None if k.starts_with("wire/") => return None,
                None => k,
            };
            Some((k.to_string(), v.trim().parse::<Number>().ok()?))
        })
        .collect()
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
                r
            })
            .collect();
        let header: &[&str] = if observed {
            &["WIRE", "A", "B", "STATE", "A-REPORTS", "B-REPORTS"]
        } else {
            &["WIRE", "A", "B", "STATE"]
        };
        render(header, &rows)
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
                    d.state.to_string(),
                    opt(d.xl_state.as_ref()),
                    opt(d.bdf.as_ref()),
                    d.endpoints.to_string(),
                ]
            })
            .collect();
        render(
            &["DOMAIN", "KIND", "DOMID", "STATE", "XL", "BDF", "ENDPOINTS"],
            &rows,
        )
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

    /// `banana list`.
    pub fn list_text(&self) -> String {
        format!("{}\n{}", self.endpoints_table(), self.wires_table(false))
    }

    /// `banana status`.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.domains_table(),
            self.endpoints_table(),
            self.wires_table(true),
            self.counters_table()
        )
    }
}
