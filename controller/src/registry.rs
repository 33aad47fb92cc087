//! The controller's store: a tree of string leaves addressed by `/`-paths.
//!
//! On one host it is xenstore, reached through xenstored's socket
//! ([`crate::xs_socket::SocketRegistry`]) or the `xenstore-*` programs
//! ([`crate::xenstore::XenstoreRegistry`], `--xenstore-bin`); the
//! trait exists so a cluster store (etcd) can hold the same records later.
//! Changes go through [`Batch`]es so a store with transactions can apply a
//! record in one step, and a store without them at least in one call per kind
//! of operation.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("xenstore: {cmd} failed: {reason}")]
    Failed { cmd: String, reason: String },
    #[error("xenstore: cannot run {cmd}: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    /// A guard of the batch ([`Op::Expect`]) did not hold: another
    /// controller changed the record first, and nothing was applied.
    #[error("the registry changed under us at {path} (another controller at work?): nothing was applied, try again")]
    Conflict { path: String },
    /// The cluster store (etcd) refused or could not be reached.
    #[error("{0}")]
    Cluster(String),
    /// Neither xenstored's socket nor the xenbus device answers.
    #[error("not a Xen dom0: xenstored is not reachable at {places} ({source})")]
    Unreachable {
        places: String,
        #[source]
        source: std::io::Error,
    },
}

/// Who owns a subtree and who else may read it (nobody else may write it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// dom0's alone.
    #[default]
    Private,
    /// dom0's, readable by one domain.
    ReadableBy(u32),
    /// Another domain's, readable by one more: the two ends of a Xen device
    /// (libxl gives a backend directory to the backend domain, readable by
    /// the guest, and a device directory the other way round).
    Shared { owner: u32, reader: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(String, String),
    /// Removes a subtree; removing what is not there is not an error.
    Rm(String),
    /// Sets the access of a subtree, recursively.
    Restrict(String, Access),
    /// A guard, checked before any operation of the batch wherever it
    /// stands: the batch applies only if `path` holds this value (`None`:
    /// no such node); otherwise none of it does and `apply` fails with
    /// [`RegistryError::Conflict`]. Compare-and-swap, for records two
    /// controllers sharing a cluster store may change at once.
    Expect(String, Option<String>),
}

impl Op {
    /// The path it acts on.
    pub fn path(&self) -> &str {
        match self {
            Op::Put(p, _) | Op::Rm(p) | Op::Restrict(p, _) | Op::Expect(p, _) => p,
        }
    }

    /// The same operation on another path (a store that lays paths out
    /// elsewhere, [`crate::etcd::ClusterRegistry`]).
    pub fn with_path(&self, path: String) -> Op {
        match self {
            Op::Put(_, v) => Op::Put(path, v.clone()),
            Op::Rm(_) => Op::Rm(path),
            Op::Restrict(_, a) => Op::Restrict(path, *a),
            Op::Expect(_, v) => Op::Expect(path, v.clone()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch(pub Vec<Op>);

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put(&mut self, path: impl Into<String>, value: impl ToString) -> &mut Self {
        self.0.push(Op::Put(path.into(), value.to_string()));
        self
    }
    pub fn rm(&mut self, path: impl Into<String>) -> &mut Self {
        self.0.push(Op::Rm(path.into()));
        self
    }
    pub fn restrict(&mut self, path: impl Into<String>, access: Access) -> &mut Self {
        self.0.push(Op::Restrict(path.into(), access));
        self
    }
    pub fn expect(&mut self, path: impl Into<String>, value: Option<String>) -> &mut Self {
        self.0.push(Op::Expect(path.into(), value));
        self
    }
    /// The guards ([`Op::Expect`]), in order.
    pub fn guards(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().filter_map(|op| match op {
            Op::Expect(p, v) => Some((p.as_str(), v.as_deref())),
            _ => None,
        })
    }
    pub fn extend(&mut self, other: Batch) -> &mut Self {
        self.0.extend(other.0);
        self
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub trait Registry {
    /// The value at `path`, `None` if there is no such node.
    fn get(&self, path: &str) -> Result<Option<String>, RegistryError>;
    /// The names of `path`'s children; empty if `path` does not exist.
    fn list(&self, path: &str) -> Result<Vec<String>, RegistryError>;
    /// Applies the operations in order.
    fn apply(&self, batch: &Batch) -> Result<(), RegistryError>;

    /// The leaves under `base` (paths relative to it, with their values), at
    /// most `max_depth` levels down and `max_count` of them. The default walks
    /// with `list`/`get`; a store that can dump a subtree at once overrides it.
    fn tree(
        &self,
        base: &str,
        max_depth: usize,
        max_count: usize,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        walk(self, base, max_depth, max_count)
    }

    fn put(&self, path: &str, value: &str) -> Result<(), RegistryError> {
        self.apply(Batch::new().put(path, value))
    }
    fn rm(&self, path: &str) -> Result<(), RegistryError> {
        self.apply(Batch::new().rm(path))
    }
}

impl<T: Registry + ?Sized> Registry for Rc<T> {
    fn get(&self, path: &str) -> Result<Option<String>, RegistryError> {
        (**self).get(path)
    }
    fn list(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        (**self).list(path)
    }
    fn apply(&self, batch: &Batch) -> Result<(), RegistryError> {
        (**self).apply(batch)
    }
}

/// Checks a batch's guards ([`Op::Expect`]) by reading each with `get`: for
/// stores without transactions of their own, read just before applying.
pub fn check_guards<R: Registry + ?Sized>(reg: &R, batch: &Batch) -> Result<(), RegistryError> {
    for (p, want) in batch.guards() {
        if reg.get(p)?.as_deref() != want {
            return Err(RegistryError::Conflict { path: p.into() });
        }
    }
    Ok(())
}

/// Joins `base` and a relative `rest` with one `/`.
pub fn join(base: &str, rest: impl std::fmt::Display) -> String {
    format!("{}/{rest}", base.trim_end_matches('/'))
}

/// Leaves under `base` as (relative path, value), depth-first, bounded in
/// depth and count because the trees read this way are written by domains.
pub fn leaves(
    reg: &dyn Registry,
    base: &str,
    max_depth: usize,
    max_count: usize,
) -> Result<Vec<(String, String)>, RegistryError> {
    reg.tree(base, max_depth, max_count)
}

/// [`Registry::tree`] by `list` and `get`, one node at a time.
pub fn walk<R: Registry + ?Sized>(
    reg: &R,
    base: &str,
    max_depth: usize,
    max_count: usize,
) -> Result<Vec<(String, String)>, RegistryError> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), 0usize)];
    while let Some((rel, depth)) = stack.pop() {
        let path = if rel.is_empty() {
            base.to_string()
        } else {
            join(base, &rel)
        };
        let children = reg.list(&path)?;
        if children.is_empty() {
            if !rel.is_empty() {
                if let Some(v) = reg.get(&path)? {
                    out.push((rel, v));
                }
            }
        } else if depth < max_depth {
            for c in children.into_iter().rev() {
                let r = if rel.is_empty() {
                    c
                } else {
                    format!("{rel}/{c}")
                };
                stack.push((r, depth + 1));
            }
        }
        if out.len() >= max_count {
            break;
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default)]
struct Node {
    value: String,
    access: Access,
}

/// An in-memory store with xenstore's rules: writing a path creates its
/// missing parents (empty, inheriting the parent's access). Tests use it as
/// the fake xenstore; `fail_after` makes it refuse batches after N more.
#[derive(Debug, Default)]
pub struct MemRegistry {
    nodes: RefCell<BTreeMap<String, Node>>,
    fail_after: RefCell<Option<usize>>,
}

impl MemRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `n` more batches through, then fails every later one.
    pub fn fail_after(&self, n: Option<usize>) {
        *self.fail_after.borrow_mut() = n;
    }

    pub fn access(&self, path: &str) -> Option<Access> {
        self.nodes.borrow().get(path).map(|n| n.access)
    }

    /// Every node as `path=value`, sorted, for whole-store comparisons.
    pub fn dump(&self) -> Vec<String> {
        self.nodes
            .borrow()
            .iter()
            .map(|(k, n)| format!("{k}={}", n.value))
            .collect()
    }

    /// Nodes at or under `prefix`.
    pub fn dump_under(&self, prefix: &str) -> Vec<String> {
        self.dump()
            .into_iter()
            .filter(|l| {
                l.starts_with(&format!("{prefix}/")) || l.starts_with(&format!("{prefix}="))
            })
            .collect()
    }

    fn put_node(nodes: &mut BTreeMap<String, Node>, path: &str, value: &str) {
        let mut access = Access::Private;
        let mut cur = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur.push('/');
            cur.push_str(part);
            access = nodes
                .entry(cur.clone())
                .or_insert(Node {
                    value: String::new(),
                    access,
                })
                .access;
        }
        if let Some(n) = nodes.get_mut(path) {
            n.value = value.to_string();
        }
    }

    fn under(path: &str, key: &str) -> bool {
        key == path || key.strip_prefix(path).is_some_and(|r| r.starts_with('/'))
    }
}

impl Registry for MemRegistry {
    fn get(&self, path: &str) -> Result<Option<String>, RegistryError> {
        Ok(self.nodes.borrow().get(path).map(|n| n.value.clone()))
    }

    fn list(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        Ok(self
            .nodes
            .borrow()
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                k[prefix.len()..]
                    .split_once('/')
                    .map_or(Some(&k[prefix.len()..]), |_| None)
            })
            .map(str::to_string)
            .collect())
    }

    fn apply(&self, batch: &Batch) -> Result<(), RegistryError> {
        if let Some(n) = self.fail_after.borrow_mut().as_mut() {
            if *n == 0 {
                return Err(RegistryError::Failed {
                    cmd: "apply".into(),
                    reason: "injected failure".into(),
                });
            }
            *n -= 1;
        }
        check_guards(self, batch)?;
        let mut nodes = self.nodes.borrow_mut();
        for op in &batch.0 {
            match op {
                Op::Expect(..) => {}
                Op::Put(p, v) => Self::put_node(&mut nodes, p, v),
                Op::Rm(p) => nodes.retain(|k, _| !Self::under(p, k)),
                Op::Restrict(p, a) => nodes
                    .iter_mut()
                    .filter(|(k, _)| Self::under(p, k))
                    .for_each(|(_, n)| n.access = *a),
            }
        }
        Ok(())
    }
}
