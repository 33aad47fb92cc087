//! An in-memory xenstored for host tests, speaking through a [`HeapPage`].
//!
//! It runs inside [`FakeIo::wait`], in the client's thread: each wait lets
//! it consume requests and produce replies, and advances a fake clock. When
//! it has nothing to do, `wait` jumps the clock to the deadline and reports
//! a timeout, so tests of "peer never answers" run instantly.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use super::client::StoreIo;
use super::codec::{Header, MsgType};
use super::decoder::{Decoder, Message};
use super::path::is_child;
use super::perms::{Access, Perm};
use super::ring::{HeapPage, ServerRing};

type Tree = BTreeMap<String, (Vec<u8>, Vec<Perm>)>;

/// Builds a message with any header values, valid or not.
pub fn raw(ty: u32, req_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [ty, req_id, 0, payload.len() as u32] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(payload);
    v
}

struct Transaction {
    tree: Tree,
    generation: u64,
    touched: Vec<(String, bool)>,
}

pub struct FakeXenstored {
    ring: ServerRing<HeapPage>,
    decoder: Decoder,
    outbox: VecDeque<u8>,
    tree: Tree,
    generation: u64,
    txs: BTreeMap<u32, Transaction>,
    next_tx: u32,
    watches: Vec<(String, String)>,
    /// The home of the client domain, for relative paths.
    pub home: String,
    /// Consume requests but never answer.
    pub mute: bool,
    /// Do not even read the request ring.
    pub stall: bool,
    /// Keep replies in `held` instead of sending them.
    pub hold: bool,
    pub held: Vec<u8>,
    /// Answer this many commits with `EAGAIN`.
    pub fail_commits: u32,
    /// Raw bytes sent just before the next reply.
    pub inject: Vec<u8>,
    /// Produces the raw bytes sent instead of the next reply, given its req_id.
    pub replace_reply: Option<Box<dyn FnMut(u32) -> Vec<u8>>>,
    /// At most this many response bytes per step.
    pub chunk: usize,
    /// Headers of every request received.
    pub log: Vec<Header>,
    /// Writes another domain makes, one each time the server is otherwise idle.
    pub later: VecDeque<(String, Vec<u8>)>,
    /// Nodes the client may not read: a missing node below one of them is
    /// `EACCES`, not `ENOENT`, as xenstored answers when the nearest existing
    /// ancestor is unreadable (e.g. `/local/domain` after a peer died).
    pub unreadable: Vec<String>,
}

impl FakeXenstored {
    pub fn new(page: HeapPage) -> FakeXenstored {
        let mut tree = Tree::new();
        tree.insert("/".into(), (Vec::new(), vec![Perm::new(0, Access::None)]));
        FakeXenstored {
            ring: ServerRing::new(page),
            decoder: Decoder::new(),
            outbox: VecDeque::new(),
            tree,
            generation: 0,
            txs: BTreeMap::new(),
            next_tx: 1,
            watches: Vec::new(),
            home: "/local/domain/1".into(),
            mute: false,
            stall: false,
            hold: false,
            held: Vec::new(),
            fail_commits: 0,
            inject: Vec::new(),
            replace_reply: None,
            chunk: 1024,
            log: Vec::new(),
            later: VecDeque::new(),
            unreadable: Vec::new(),
        }
    }

    pub fn ring(&mut self) -> &mut ServerRing<HeapPage> {
        &mut self.ring
    }

    pub fn node(&self, path: &str) -> Option<&[u8]> {
        self.tree.get(path).map(|(v, _)| &v[..])
    }

    /// Modifies the store as another domain would, firing watches.
    pub fn external_write(&mut self, path: &str, value: &[u8]) {
        let mut tree = core::mem::take(&mut self.tree);
        put(&mut tree, path, value.to_vec());
        self.tree = tree;
        self.generation += 1;
        self.fire(path, false);
    }

    pub fn external_rm(&mut self, path: &str) {
        remove(&mut self.tree, path);
        self.generation += 1;
        self.fire(path, true);
    }

    fn hidden(&self, path: &str) -> bool {
        let mut p = path;
        while !self.tree.contains_key(p) && p != "/" {
            p = parent(p);
        }
        self.unreadable.iter().any(|u| u == p)
    }

    /// Queues a message for the client outside any reply.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.outbox.extend(bytes);
    }

    /// One round of work; returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let mut progress = false;
        let mut buf = [0u8; 1024];
        while !self.stall {
            let Ok(n @ 1..) = self.ring.read_request(&mut buf) else {
                break;
            };
            progress = true;
            let mut input = &buf[..n];
            while let Ok(Some(m)) = self.decoder.decode(&mut input) {
                self.log.push(m.header);
                if !self.mute {
                    self.handle(m);
                }
            }
        }
        let n = self.chunk.min(self.outbox.len());
        let (a, b) = self.outbox.as_slices();
        let pending: Vec<u8> = a.iter().chain(b).take(n).copied().collect();
        if let Ok(sent @ 1..) = self.ring.write_response(&pending) {
            self.outbox.drain(..sent);
            progress = true;
        }
        if !progress && self.outbox.is_empty() {
            if let Some((path, value)) = self.later.pop_front() {
                self.external_write(&path, &value);
                progress = true;
            }
        }
        progress
    }

    fn abs(&self, p: &str) -> String {
        if p.starts_with('/') || p.starts_with('@') {
            p.into()
        } else {
            format!("{}/{}", self.home, p)
        }
    }

    fn fire(&mut self, abs_path: &str, removed: bool) {
        for (w, t) in self.watches.clone() {
            let abs_w = self.abs(&w);
            let epath = if is_child(abs_path, &abs_w) {
                match (
                    w.starts_with('/'),
                    abs_path.strip_prefix(&format!("{}/", self.home)),
                ) {
                    (false, Some(rel)) => rel.into(),
                    _ => String::from(abs_path),
                }
            } else if removed && is_child(&abs_w, abs_path) {
                w.clone()
            } else {
                continue;
            };
            self.event(&epath, &t);
        }
    }

    fn event(&mut self, path: &str, token: &str) {
        let msg = raw(
            MsgType::WatchEvent as u32,
            0,
            format!("{path}\0{token}\0").as_bytes(),
        );
        self.outbox.extend(msg);
    }

    fn reply(&mut self, h: &Header, ty: MsgType, payload: &[u8]) {
        let inject = core::mem::take(&mut self.inject);
        self.outbox.extend(inject);
        let mut msg = raw(ty as u32, h.req_id, payload);
        msg[8..12].copy_from_slice(&h.tx_id.to_le_bytes());
        if let Some(mut f) = self.replace_reply.take() {
            msg = f(h.req_id);
        }
        if self.hold {
            self.held.extend(msg);
        } else {
            self.outbox.extend(msg);
        }
    }

    fn handle(&mut self, m: Message) {
        let h = m.header;
        let mut parts = m.payload.splitn(2, |&b| b == 0);
        let first = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let rest = parts.next().unwrap_or_default().to_vec();
        let path = self.abs(&first);
        let result = match h.ty {
            MsgType::TransactionStart => {
                let id = self.next_tx;
                self.next_tx += 1;
                let tx = Transaction {
                    tree: self.tree.clone(),
                    generation: self.generation,
                    touched: Vec::new(),
                };
                self.txs.insert(id, tx);
                Ok(format!("{id}\0").into_bytes())
            }
            MsgType::TransactionEnd => self.end_tx(h.tx_id, first == "T"),
            MsgType::Watch => {
                let token =
                    String::from_utf8_lossy(rest.split(|&b| b == 0).next().unwrap_or_default());
                self.watches.push((first.clone(), token.into_owned()));
                let (w, t) = self.watches.last().cloned().unwrap_or_default();
                self.reply(&h, h.ty, b"OK\0");
                self.event(&w, &t);
                return;
            }
            MsgType::Unwatch => {
                let token =
                    String::from_utf8_lossy(rest.split(|&b| b == 0).next().unwrap_or_default());
                let before = self.watches.len();
                self.watches.retain(|(w, t)| *w != first || *t != token);
                if before == self.watches.len() {
                    Err("ENOENT")
                } else {
                    Ok(b"OK\0".to_vec())
                }
            }
            _ if h.tx_id != 0 => match self.txs.remove(&h.tx_id) {
                Some(mut tx) => {
                    let r = node_op(&mut tx.tree, h.ty, &path, &rest);
                    if r.is_ok()
                        && matches!(
                            h.ty,
                            MsgType::Write | MsgType::Mkdir | MsgType::Rm | MsgType::SetPerms
                        )
                    {
                        tx.touched.push((path.clone(), h.ty == MsgType::Rm));
                    }
                    self.txs.insert(h.tx_id, tx);
                    r
                }
                None => Err("ENOENT"),
            },
            MsgType::Read if self.hidden(&path) => Err("EACCES"),
            _ => {
                let r = node_op(&mut self.tree, h.ty, &path, &rest);
                if r.is_ok()
                    && matches!(
                        h.ty,
                        MsgType::Write | MsgType::Mkdir | MsgType::Rm | MsgType::SetPerms
                    )
                {
                    self.generation += 1;
                    self.reply(&h, h.ty, b"OK\0");
                    self.fire(&path, h.ty == MsgType::Rm);
                    return;
                }
                r
            }
        };
        match result {
            Ok(p) => self.reply(&h, h.ty, &p),
            Err(e) => self.reply(&h, MsgType::Error, format!("{e}\0").as_bytes()),
        }
    }

    fn end_tx(&mut self, id: u32, commit: bool) -> Result<Vec<u8>, &'static str> {
        let tx = self.txs.remove(&id).ok_or("ENOENT")?;
        if !commit {
            return Ok(b"OK\0".to_vec());
        }
        if self.fail_commits > 0 || tx.generation != self.generation {
            self.fail_commits = self.fail_commits.saturating_sub(1);
            return Err("EAGAIN");
        }
        self.tree = tx.tree;
        self.generation += 1;
        for (p, removed) in tx.touched {
            self.fire(&p, removed);
        }
        Ok(b"OK\0".to_vec())
    }
}

fn parent(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) => "/",
        Some(i) => &p[..i],
        None => "/",
    }
}

fn put(tree: &mut Tree, path: &str, value: Vec<u8>) {
    let mut p = parent(path);
    while !tree.contains_key(p) {
        tree.insert(p.into(), (Vec::new(), vec![Perm::new(0, Access::None)]));
        p = parent(p);
    }
    let perms = tree
        .get(path)
        .map(|n| n.1.clone())
        .unwrap_or(vec![Perm::new(0, Access::None)]);
    tree.insert(path.into(), (value, perms));
}

fn remove(tree: &mut Tree, path: &str) {
    let prefix = format!("{path}/");
    tree.retain(|k, _| k != path && !k.starts_with(&prefix));
}

fn node_op(tree: &mut Tree, ty: MsgType, path: &str, rest: &[u8]) -> Result<Vec<u8>, &'static str> {
    let ok = || Ok(b"OK\0".to_vec());
    match ty {
        MsgType::Read => tree.get(path).map(|n| n.0.clone()).ok_or("ENOENT"),
        MsgType::Write => {
            put(tree, path, rest.to_vec());
            ok()
        }
        MsgType::Mkdir => {
            if !tree.contains_key(path) {
                put(tree, path, Vec::new());
            }
            ok()
        }
        MsgType::Rm => {
            if !tree.contains_key(parent(path)) {
                return Err("ENOENT");
            }
            remove(tree, path);
            ok()
        }
        MsgType::Directory => {
            tree.get(path).ok_or("ENOENT")?;
            let mut out = Vec::new();
            for k in tree.keys().filter(|k| *k != "/" && parent(k) == path) {
                out.extend_from_slice(k.rsplit('/').next().unwrap_or_default().as_bytes());
                out.push(0);
            }
            Ok(out)
        }
        MsgType::GetPerms => {
            let (_, perms) = tree.get(path).ok_or("ENOENT")?;
            Ok(perms
                .iter()
                .flat_map(|p| format!("{p}\0").into_bytes())
                .collect())
        }
        MsgType::SetPerms => {
            let perms: Result<Vec<Perm>, _> = rest
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(Perm::parse)
                .collect();
            let perms = perms.map_err(|_| "EINVAL")?;
            let node = tree.get_mut(path).ok_or("ENOENT")?;
            node.1 = perms;
            ok()
        }
        _ => Err("ENOSYS"),
    }
}

/// The client's [`StoreIo`]: runs the fake server and a fake clock.
pub struct FakeIo {
    pub server: FakeXenstored,
    pub now: u64,
    pub notifies: u64,
}

impl StoreIo for FakeIo {
    fn notify(&mut self) {
        self.notifies += 1;
    }

    fn wait(&mut self, deadline_ns: u64) -> bool {
        if self.server.step() {
            self.now = self.now.saturating_add(1_000);
            true
        } else {
            self.now = self.now.max(deadline_ns);
            false
        }
    }

    fn now_ns(&self) -> u64 {
        self.now
    }
}
