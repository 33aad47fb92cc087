//! The cluster registry: a host's records in etcd, its domains' configs in
//! its own xenstore, and the hosts' liveness as etcd leases.
//!
//! Where each path goes:
//!
//! | path | store | key |
//! |---|---|---|
//! | `/banana/config/…` (what a domain reads at boot) | this host's xenstore | the path |
//! | `/banana/next-wire-id` (wire ids are VNIs: one space for the cluster) | etcd | `/banana/next-wire-id` |
//! | every other `/banana/…` record | etcd | `/banana/host/<host>/…` |
//! | anything else (`/local/domain/…`) | this host's xenstore | the path |
//! | a live host | etcd, on the host's lease | `/banana/hosts/<host>` |
//!
//! A batch touching both stores applies its etcd part (one transaction,
//! with the guards) first, then its xenstore part: a conflict leaves both
//! untouched. The controller's commands keep their own undo for a failure
//! after that point, as they do on one host.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::etcd::client::{Client, EtcdError, TxnOp};
use crate::etcd::store::EtcdRegistry;
use crate::registry::{Batch, Registry, RegistryError};
use crate::schema::{NEXT_WIRE, ROOT};

/// Where hosts announce themselves, each on its lease.
pub const HOSTS: &str = "/banana/hosts";
/// Where each host's records live: `/banana/host/<host>/…`.
pub const HOST_RECORDS: &str = "/banana/host";
/// How long a host counts as alive after its last renewal, at least
/// (`banana supervise` renews every pass: three passes, if longer).
pub const HOST_TTL_S: i64 = 10;

/// A host name as a path component: what a DNS label allows.
pub fn check_host(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad host name '{name}': 1 to 63 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// A registry for one host's records: its own (with its xenstore), or a
/// read-only view of another host's (`local: None`: configs are that
/// host's xenstore's, out of reach).
pub struct ClusterRegistry<'a> {
    etcd: &'a EtcdRegistry,
    host: String,
    local: Option<&'a dyn Registry>,
}

enum Route {
    Local(String),
    Etcd(String),
}

impl<'a> ClusterRegistry<'a> {
    pub fn new(etcd: &'a EtcdRegistry, host: &str, local: Option<&'a dyn Registry>) -> Self {
        ClusterRegistry {
            etcd,
            host: host.to_string(),
            local,
        }
    }

    fn route(&self, path: &str) -> Route {
        let path = path.trim_end_matches('/');
        let under = |base: &str| path == base || path.starts_with(&format!("{base}/"));
        if under(xs_schema::config::ROOT) || !under(ROOT) {
            Route::Local(path.to_string())
        } else if path == NEXT_WIRE {
            Route::Etcd(path.to_string())
        } else {
            Route::Etcd(format!(
                "{HOST_RECORDS}/{}{}",
                self.host,
                &path[ROOT.len()..]
            ))
        }
    }

    fn local(&self) -> Result<&'a dyn Registry, RegistryError> {
        self.local.ok_or_else(|| {
            RegistryError::Cluster(format!(
                "host {}'s xenstore is out of reach from here",
                self.host
            ))
        })
    }

    fn split(&self, batch: &Batch) -> (Batch, Batch) {
        let (mut etcd, mut local) = (Batch::new(), Batch::new());
        for op in &batch.0 {
            match self.route(op.path()) {
                Route::Etcd(k) => etcd.0.push(op.with_path(k)),
                Route::Local(k) => local.0.push(op.with_path(k)),
            }
        }
        (etcd, local)
    }
}

impl Registry for ClusterRegistry<'_> {
    fn get(&self, path: &str) -> Result<Option<String>, RegistryError> {
        match self.route(path) {
            Route::Local(p) => match self.local {
                Some(l) => l.get(&p),
                None => Ok(None),
            },
            Route::Etcd(k) => self.etcd.get(&k),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        let mut names = match self.route(path) {
            Route::Local(p) => match self.local {
                Some(l) => l.list(&p)?,
                None => Vec::new(),
            },
            Route::Etcd(k) => self.etcd.list(&k)?,
        };
        // `/banana` itself: this host's records, the cluster's wire-id
        // counter and the configs (in xenstore).
        if path.trim_end_matches('/') == ROOT {
            if let Some(l) = self.local {
                names.extend(l.list(ROOT)?.into_iter().filter(|n| n == "config"));
            }
            if self.etcd.get(NEXT_WIRE)?.is_some() {
                names.push(NEXT_WIRE[ROOT.len() + 1..].to_string());
            }
            names.sort();
            names.dedup();
        }
        Ok(names)
    }

    fn apply(&self, batch: &Batch) -> Result<(), RegistryError> {
        let (etcd, local) = self.split(batch);
        if !etcd.is_empty() {
            self.etcd.apply(&etcd)?;
        }
        if !local.is_empty() {
            self.local()?.apply(&local)?;
        }
        Ok(())
    }

    fn tree(
        &self,
        base: &str,
        max_depth: usize,
        max_count: usize,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        match self.route(base) {
            Route::Local(p) => match self.local {
                Some(l) => l.tree(&p, max_depth, max_count),
                None => Ok(Vec::new()),
            },
            Route::Etcd(k) => self.etcd.tree(&k, max_depth, max_count),
        }
    }
}

/// A host's announcement, renewed by `banana supervise`.
pub struct HostLease<'a> {
    client: &'a Client,
    host: String,
    id: i64,
    ttl_s: i64,
}

/// What a host says about itself (the value of its key under [`HOSTS`]).
pub fn host_value(host: &str) -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("up since {since} pid {} host {host}", std::process::id())
}

impl<'a> HostLease<'a> {
    /// Puts `/banana/hosts/<host>` on a fresh lease of `ttl_s` seconds.
    pub fn announce(client: &'a Client, host: &str, ttl_s: i64) -> Result<Self, EtcdError> {
        let id = client.grant(ttl_s)?;
        client.txn(
            &[],
            &[TxnOp::Put {
                key: format!("{HOSTS}/{host}"),
                value: host_value(host),
                lease: Some(id),
            }],
        )?;
        Ok(HostLease {
            client,
            host: host.to_string(),
            id,
            ttl_s,
        })
    }

    /// Renews the lease; announces again if it expired meanwhile (the
    /// host was cut off, or etcd lost it): a host heals its own entry.
    pub fn renew(&mut self) -> Result<(), EtcdError> {
        if self.client.keep_alive(self.id)? > 0 {
            return Ok(());
        }
        tracing::warn!(
            "host lease {} expired: announcing {} again",
            self.id,
            self.host
        );
        *self = HostLease::announce(self.client, &self.host, self.ttl_s)?;
        Ok(())
    }

    /// Leaves the cluster view now (the key goes with the lease).
    pub fn withdraw(self) -> Result<(), EtcdError> {
        self.client.revoke(self.id)
    }
}

/// One host as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostEntry {
    pub name: String,
    /// Its lease is live (`banana supervise` runs there).
    pub alive: bool,
    /// What it announced, if alive.
    pub announced: Option<String>,
}

/// Every host that is alive or has records, by name.
pub fn hosts(etcd: &EtcdRegistry) -> Result<Vec<HostEntry>, RegistryError> {
    let mut out: Vec<HostEntry> = Vec::new();
    for name in etcd.list(HOSTS)? {
        let announced = etcd.get(&format!("{HOSTS}/{name}"))?;
        out.push(HostEntry {
            name,
            alive: true,
            announced,
        });
    }
    for name in etcd.list(HOST_RECORDS)? {
        if !out.iter().any(|h| h.name == name) {
            out.push(HostEntry {
                name,
                alive: false,
                announced: None,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
