//! [`Registry`] over etcd: xenstore's tree of string leaves laid onto etcd's
//! flat key space, one key per node, the path as the key.
//!
//! xenstore creates a node's parents when it writes it; etcd has no parents.
//! A node here exists if its key does or if any key lies under it, so code
//! written against xenstore (`get` of a record's directory) reads the same
//! answers. A batch is one etcd transaction: its guards ([`Op::Expect`]) are
//! the transaction's comparisons, its puts and removals the operations, so
//! a batch applies entirely or not at all, on every member. Access
//! ([`Op::Restrict`]) is xenstore's per-domain permission and means nothing
//! to etcd, whose readers are the hosts' controllers (etcd's own
//! authentication guards the cluster).

use std::collections::BTreeMap;

use crate::etcd::client::{Client, Compare, EtcdError, TxnOp};
use crate::registry::{Batch, Op, Registry, RegistryError};

/// etcd refuses transactions of more operations than this (its
/// `--max-txn-ops` default).
pub const MAX_TXN_OPS: usize = 128;

pub struct EtcdRegistry {
    client: Client,
}

impl EtcdRegistry {
    pub fn new(client: Client) -> Self {
        EtcdRegistry { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

pub fn cluster_error(e: EtcdError) -> RegistryError {
    RegistryError::Cluster(e.to_string())
}

fn dir_prefix(path: &str) -> String {
    format!("{}/", path.trim_end_matches('/'))
}

impl EtcdRegistry {
    /// A batch as one transaction: (comparisons, operations). etcd refuses
    /// a transaction that names a key twice, or puts a key inside a range it
    /// deletes ("duplicate key given in txn request"), and a batch often
    /// removes a record and writes it again. So the batch is replayed here
    /// to its final effect, one operation per key; a removal becomes the
    /// deletion of each key under it now (this host's records are written
    /// by this host's controller alone, under its lock).
    pub fn transaction(&self, batch: &Batch) -> Result<(Vec<Compare>, Vec<TxnOp>), RegistryError> {
        let mut compares = Vec::new();
        let mut last: BTreeMap<String, Option<String>> = BTreeMap::new();
        for op in &batch.0 {
            match op {
                Op::Expect(p, Some(v)) => compares.push(Compare::Value(p.clone(), v.clone())),
                Op::Expect(p, None) => compares.push(Compare::Absent(p.clone())),
                Op::Put(p, v) => {
                    last.insert(p.clone(), Some(v.clone()));
                }
                Op::Rm(p) => {
                    let prefix = dir_prefix(p);
                    let stored = self
                        .client
                        .prefix(&prefix, true, 0)
                        .map_err(cluster_error)?;
                    let planned: Vec<String> = last
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .map(|(k, _)| k.clone())
                        .collect();
                    let gone = stored.into_iter().map(|kv| kv.key).chain(planned);
                    for k in gone.chain(std::iter::once(p.trim_end_matches('/').to_string())) {
                        last.insert(k, None);
                    }
                }
                Op::Restrict(..) => {}
            }
        }
        let ops = last
            .into_iter()
            .map(|(key, v)| match v {
                Some(value) => TxnOp::Put {
                    key,
                    value,
                    lease: None,
                },
                None => TxnOp::Delete(key),
            })
            .collect();
        Ok((compares, ops))
    }
}

impl Registry for EtcdRegistry {
    fn get(&self, path: &str) -> Result<Option<String>, RegistryError> {
        if let Some(kv) = self.client.get(path).map_err(cluster_error)? {
            return Ok(Some(kv.value));
        }
        // A directory xenstore would have made for its children.
        let under = self
            .client
            .prefix(&dir_prefix(path), true, 1)
            .map_err(cluster_error)?;
        Ok((!under.is_empty()).then(String::new))
    }

    fn list(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        let prefix = dir_prefix(path);
        let keys = self
            .client
            .prefix(&prefix, true, 0)
            .map_err(cluster_error)?;
        let mut out: Vec<String> = Vec::new();
        for kv in keys {
            let rest = &kv.key[prefix.len()..];
            let child = rest.split('/').next().unwrap_or("");
            if !child.is_empty() && out.last().map(String::as_str) != Some(child) {
                out.push(child.to_string());
            }
        }
        Ok(out)
    }

    fn apply(&self, batch: &Batch) -> Result<(), RegistryError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (compares, ops) = self.transaction(batch)?;
        if ops.len() + compares.len() > MAX_TXN_OPS {
            return Err(RegistryError::Cluster(format!(
                "a record change of {} operations is more than etcd takes in one transaction ({MAX_TXN_OPS})",
                ops.len() + compares.len()
            )));
        }
        if self.client.txn(&compares, &ops).map_err(cluster_error)? {
            return Ok(());
        }
        let path = batch
            .guards()
            .map(|(p, _)| p.to_string())
            .next()
            .unwrap_or_default();
        Err(RegistryError::Conflict { path })
    }

    /// One range read instead of a walk.
    fn tree(
        &self,
        base: &str,
        max_depth: usize,
        max_count: usize,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        let prefix = dir_prefix(base);
        let kvs = self
            .client
            .prefix(&prefix, false, 0)
            .map_err(cluster_error)?;
        // A leaf is a key with nothing under it (xenstore's rule in `walk`).
        let parents: std::collections::HashSet<&str> = kvs
            .iter()
            .flat_map(|kv| kv.key.match_indices('/').map(|(i, _)| &kv.key[..i]))
            .collect();
        let mut out = Vec::new();
        for kv in &kvs {
            let rel = &kv.key[prefix.len()..];
            if rel.is_empty()
                || parents.contains(kv.key.as_str())
                || rel.split('/').count() > max_depth
            {
                continue;
            }
            out.push((rel.to_string(), kv.value.clone()));
            if out.len() >= max_count {
                break;
            }
        }
        Ok(out)
    }
}
