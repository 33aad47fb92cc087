//! The cluster registry in etcd (docs/cluster.md): hosts share their
//! records there, so a controller on one host can see and wire another's
//! Corms and Spikes; each host's xenstore stays its domains' config channel.
//!
//! * [`client`]: etcd's v3 API over its JSON gateway;
//! * [`store`]: [`crate::registry::Registry`] over etcd (one transaction per batch);
//! * [`cluster`]: which path goes to which store, and host liveness leases.

pub mod client;
pub mod cluster;
pub mod store;

use std::fmt::Write as _;

use serde::Serialize;

use crate::registry::RegistryError;
use crate::schema::{DomainRecord, WireRecord};
use crate::table::{opt, render};

pub use client::{Client, EtcdError};
pub use cluster::{ClusterRegistry, HostEntry, HostLease};
pub use store::EtcdRegistry;

/// The cluster a controller belongs to: etcd and this host's name in it.
pub struct Cluster {
    pub etcd: EtcdRegistry,
    pub host: String,
}

impl Cluster {
    /// `url`: `etcd://HOST:PORT[,…]`; `host`: this host's name in the cluster.
    pub fn connect(url: &str, host: &str) -> Result<Cluster, String> {
        cluster::check_host(host)?;
        let client = Client::new(url).map_err(|e| e.to_string())?;
        Ok(Cluster {
            etcd: EtcdRegistry::new(client),
            host: host.to_string(),
        })
    }

    /// Every host with its records (`banana status --cluster`).
    pub fn view(&self) -> Result<ClusterView, RegistryError> {
        let mut hosts = Vec::new();
        for entry in cluster::hosts(&self.etcd)? {
            let reg = ClusterRegistry::new(&self.etcd, &entry.name, None);
            hosts.push(HostView {
                domains: DomainRecord::load_all(&reg)?
                    .into_iter()
                    .map(|d| DomainView {
                        kind: d.kind.to_string(),
                        name: d.name,
                        domid: d.domid,
                        state: format!("{:?}", d.state).to_lowercase(),
                    })
                    .collect(),
                wires: WireRecord::load_all(&reg)?
                    .into_iter()
                    .map(|w| WireView {
                        id: w.id,
                        a: w.a.to_string(),
                        b: w.b.to_string(),
                    })
                    .collect(),
                this: entry.name == self.host,
                entry,
            });
        }
        Ok(ClusterView { hosts })
    }
}

#[derive(Debug, Serialize)]
pub struct ClusterView {
    pub hosts: Vec<HostView>,
}

#[derive(Debug, Serialize)]
pub struct HostView {
    #[serde(flatten)]
    pub entry: HostEntry,
    /// The host this controller runs on.
    pub this: bool,
    pub domains: Vec<DomainView>,
    pub wires: Vec<WireView>,
}

#[derive(Debug, Serialize)]
pub struct DomainView {
    pub kind: String,
    pub name: String,
    pub domid: Option<u32>,
    pub state: String,
}

#[derive(Debug, Serialize)]
pub struct WireView {
    pub id: u32,
    pub a: String,
    pub b: String,
}

impl ClusterView {
    /// Three tables: hosts, their domains, their wires.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let hosts: Vec<Vec<String>> = self
            .hosts
            .iter()
            .map(|h| {
                vec![
                    format!("{}{}", h.entry.name, if h.this { " (this)" } else { "" }),
                    if h.entry.alive { "alive" } else { "silent" }.to_string(),
                    h.domains.len().to_string(),
                    h.wires.len().to_string(),
                    opt(h.entry.announced.clone()),
                ]
            })
            .collect();
        s.push_str(&render(
            &["HOST", "LEASE", "DOMAINS", "WIRES", "ANNOUNCED"],
            &hosts,
        ));
        let domains: Vec<Vec<String>> = self
            .hosts
            .iter()
            .flat_map(|h| {
                h.domains.iter().map(|d| {
                    vec![
                        h.entry.name.clone(),
                        d.kind.clone(),
                        d.name.clone(),
                        opt(d.domid),
                        d.state.clone(),
                    ]
                })
            })
            .collect();
        if !domains.is_empty() {
            let _ = writeln!(s);
            s.push_str(&render(
                &["HOST", "KIND", "NAME", "DOMID", "STATE"],
                &domains,
            ));
        }
        let wires: Vec<Vec<String>> = self
            .hosts
            .iter()
            .flat_map(|h| {
                h.wires.iter().map(|w| {
                    vec![
                        h.entry.name.clone(),
                        w.id.to_string(),
                        w.a.clone(),
                        w.b.clone(),
                    ]
                })
            })
            .collect();
        if !wires.is_empty() {
            let _ = writeln!(s);
            s.push_str(&render(&["HOST", "WIRE", "A", "B"], &wires));
        }
        s
    }
}
