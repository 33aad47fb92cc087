//! A local wire end inside a domain: carries out the [`setup`](crate::setup)
//! machines' [`Action`]s with pv-runtime's xenstore, grant table, event
//! channels and pages, and owns what they produce (granted or mapped pages, the
//! port, the [`WireEnd`]). Domain target only; the logic it runs is the
//! host-tested machines'.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;

use pv_runtime::abi::{DomId, GrantRef, Port};
use pv_runtime::grant_table::{self, GrantError, Mapping};
use pv_runtime::mm::heap::{alloc_page, free_page};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::xenstore::{Access, Perm, WatchEvent, XsError};

use crate::setup::{key_path, wire_dir, Acceptor, Offer, Offerer, WireId, KEY_REQUEST, KEY_STATE};
use crate::{Action, RawMemory, RingPages, Side, WireEnd};

/// Which end of which wire, from the controller's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireConfig {
    /// The controller's wire id.
    pub wire: WireId,
    /// A offers the pages, B maps them.
    pub side: Side,
    /// The other end's domain.
    pub peer: DomId,
    /// K pages per direction (the offerer's choice).
    pub pages: RingPages,
}

enum Machine {
    Offerer(Offerer),
    Acceptor(Acceptor),
}

/// What this side holds for the current offer.
enum Held {
    Nothing,
    /// Our pages (va, granted ref), the unbound port.
    Offered {
        pages: Vec<(u64, GrantRef)>,
        port: Port,
    },
    /// The peer's pages mapped here, our bound port.
    Accepted {
        maps: Vec<Mapping>,
        port: Port,
    },
}

/// One wire end in this domain.
pub struct Link {
    /// What this link was started with.
    pub config: WireConfig,
    machine: Machine,
    held: Held,
    end: Option<WireEnd<RawMemory>>,
    /// Pages granted for an earlier offer whose peer still maps them: freed
    /// once the grant can be ended (the peer unmapped or died).
    retired: Vec<(u64, GrantRef)>,
    peer_dir: String,
    token: String,
    connected: bool,
}

fn absent_ok(r: Result<String, XsError>) -> Option<String> {
    // A peer that is gone reads as ENOENT, or EACCES once its whole domain
    // directory is gone (we may not read /local/domain).
    r.ok()
}

impl Link {
    /// Starts the machine for `config` and watches the peer's wire directory.
    pub fn start(rt: &mut Runtime, config: WireConfig) -> Link {
        let own = rt.domid();
        let nonce = pv_runtime::time::now_ns();
        let (machine, mut actions) = match config.side {
            Side::A => {
                let mut m = Offerer::new(config.wire, own, config.peer, config.pages, nonce);
                let a = m.start();
                (Machine::Offerer(m), a)
            }
            Side::B => {
                let mut m = Acceptor::new(config.wire, own, config.peer);
                let a = m.start(nonce);
                (Machine::Acceptor(m), a)
            }
        };
        let peer_dir = wire_dir(config.peer, config.wire);
        let token = format!("local-wire/{}", config.wire);
        let mut link = Link {
            config,
            machine,
            held: Held::Nothing,
            end: None,
            retired: Vec::new(),
            peer_dir,
            token,
            connected: false,
        };
        let _ = rt.xs.watch(&link.peer_dir.clone(), &link.token.clone());
        actions.extend(link.peer_update(rt));
        link.run(rt, actions);
        link
    }

    /// The port to poll for this wire, once there is one.
    pub fn port(&self) -> Option<Port> {
        match self.held {
            Held::Offered { port, .. } | Held::Accepted { port, .. } => Some(port),
            Held::Nothing => None,
        }
    }

    /// The connected wire end, if the wire is up.
    pub fn end(&mut self) -> Option<&mut WireEnd<RawMemory>> {
        if self.connected {
            self.end.as_mut()
        } else {
            None
        }
    }

    /// Whether records can flow.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Feeds a watch event; returns whether it was this link's.
    pub fn on_watch(&mut self, rt: &mut Runtime, ev: &WatchEvent) -> bool {
        if ev.token != self.token {
            return false;
        }
        // A teardown that restarts leaves the machine waiting for the peer's
        // next move, which may already be in xenstore (the change that caused
        // the restart): no new watch event would come. Read the peer again
        // until the machine has nothing more to do (bounded).
        for _ in 0..4 {
            let actions = self.peer_update(rt);
            if actions.is_empty() {
                break;
            }
            self.run(rt, actions);
        }
        self.retry_retired(rt);
        true
    }

    /// The connected wire end failed (the peer corrupted the ring or closed
    /// it): tear down and set the wire up again.
    pub fn link_failed(&mut self, rt: &mut Runtime) {
        let actions = match &mut self.machine {
            Machine::Offerer(m) => m.link_failed(),
            Machine::Acceptor(m) => m.local_error(),
        };
        self.run(rt, actions);
    }

    /// Leaves the wire for good (domain shutdown or wire removed).
    pub fn shutdown(&mut self, rt: &mut Runtime) {
        let actions = match &mut self.machine {
            Machine::Offerer(m) => m.shutdown(),
            Machine::Acceptor(m) => m.shutdown(),
        };
        self.run(rt, actions);
        let _ = rt.xs.unwatch(&self.peer_dir.clone(), &self.token.clone());
        self.retry_retired(rt);
    }

    fn peer_key(&self, rt: &mut Runtime, key: &str) -> Option<String> {
        absent_ok(rt.xs.read(&key_path(&self.peer_dir, key)))
    }

    fn peer_update(&mut self, rt: &mut Runtime) -> Vec<Action> {
        let wire = self.config.wire;
        let state = self.peer_key(rt, KEY_STATE);
        match &mut self.machine {
            Machine::Offerer(_) => {
                let request = self.peer_key(rt, KEY_REQUEST);
                let Machine::Offerer(m) = &mut self.machine else {
                    return Vec::new();
                };
                let before = m.state();
                let actions = m.peer_changed(state.as_deref(), request.as_deref());
                if m.state() != before {
                    println!(
                        "LOCAL-WIRE wire={wire} offerer {before:?} -> {:?} (peer state={state:?})",
                        m.state()
                    );
                }
                actions
            }
            Machine::Acceptor(_) => {
                let offer_for = self.peer_key(rt, "offer-for");
                let offer_id = self.peer_key(rt, "offer-id");
                let Machine::Acceptor(m) = &mut self.machine else {
                    return Vec::new();
                };
                let before = m.state();
                let actions =
                    m.peer_changed(state.as_deref(), offer_for.as_deref(), offer_id.as_deref());
                if m.state() != before {
                    println!(
                        "LOCAL-WIRE wire={wire} acceptor {before:?} -> {:?} (peer state={state:?})",
                        m.state()
                    );
                }
                actions
            }
        }
    }

    /// Runs actions in order; each may answer with more.
    fn run(&mut self, rt: &mut Runtime, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        // Each machine step is finite; the bound only guards against a bug looping.
        let mut budget = 256;
        while let Some(action) = queue.pop_front() {
            budget -= 1;
            if budget == 0 {
                break;
            }
            queue.extend(self.execute(rt, action));
        }
    }

    fn execute(&mut self, rt: &mut Runtime, action: Action) -> Vec<Action> {
        match action {
            Action::CreateDir { path, reader } => {
                let own = rt.domid();
                let perms = [
                    Perm {
                        domid: own,
                        access: Access::None,
                    },
                    Perm {
                        domid: reader,
                        access: Access::Read,
                    },
                ];
                // Start from an empty directory: keys left by an earlier
                // incarnation keep the permissions they were created with
                // (readable by the old peer's domid only), and new keys
                // inherit the directory's.
                let _ = rt.xs.rm(&path);
                let _ = rt
                    .xs
                    .mkdir(&path)
                    .and_then(|()| rt.xs.set_perms(&path, &perms));
                Vec::new()
            }
            Action::Write { path, value } => {
                let _ = rt.xs.write(&path, &value);
                Vec::new()
            }
            Action::WriteAll(keys) => {
                let _ = rt
                    .xs
                    .transaction(|tx| keys.iter().try_for_each(|(p, v)| tx.write(p, v)));
                Vec::new()
            }
            Action::Allocate { pages, peer } => self.allocate(rt, pages, peer),
            Action::ReadOffer => {
                let Machine::Acceptor(m) = &mut self.machine else {
                    return Vec::new();
                };
                m.offer_read(|path| rt.xs.read(path).ok())
            }
            Action::Map(offer) => self.map(rt, &offer),
            Action::Connect => {
                self.connected = true;
                Vec::new()
            }
            Action::TearDown => self.tear_down(rt),
        }
    }

    fn allocate(&mut self, rt: &mut Runtime, pages: RingPages, peer: DomId) -> Vec<Action> {
        let mut held: Vec<(u64, GrantRef)> = Vec::new();
        let mut ok = true;
        for _ in 0..pages.total_pages() {
            let granted =
                alloc_page()
                    .ok()
                    .and_then(|(va, mfn)| match rt.grants.grant(peer, mfn, false) {
                        Ok(r) => Some((va, r)),
                        Err(_) => {
                            let _ = free_page(va);
                            None
                        }
                    });
            match granted {
                Some(p) => held.push(p),
                None => {
                    ok = false;
                    break;
                }
            }
        }
        let port = if ok {
            rt.events.alloc_unbound(peer).ok()
        } else {
            None
        };
        let end = port.and_then(|_| {
            let k = pages.get() as usize;
            let ptr = |va: u64| NonNull::new(va as *mut u8);
            let control = ptr(held[0].0)?;
            let a_to_b: Option<Vec<_>> = held[1..1 + k].iter().map(|p| ptr(p.0)).collect();
            let b_to_a: Option<Vec<_>> = held[1 + k..].iter().map(|p| ptr(p.0)).collect();
            // SAFETY: the pages are ours, zeroed, page-sized and stay allocated
            // until teardown, after the end is dropped.
            let mem = unsafe { RawMemory::new(control, &a_to_b?, &b_to_a?) }.ok()?;
            WireEnd::offer(mem, 0).ok()
        });
        let (Some(port), Some(end)) = (port, end) else {
            if let Some(p) = port {
                let _ = rt.events.close(p);
            }
            for (va, r) in held {
                let _ = rt.grants.end_access(r);
                let _ = free_page(va);
            }
            let Machine::Offerer(m) = &mut self.machine else {
                return Vec::new();
            };
            return m.local_error();
        };
        let refs: Vec<GrantRef> = held.iter().map(|p| p.1).collect();
        self.end = Some(end);
        self.held = Held::Offered { pages: held, port };
        let Machine::Offerer(m) = &mut self.machine else {
            return Vec::new();
        };
        m.offer_ready(refs[0], &refs[1..], port)
    }

    fn map(&mut self, rt: &mut Runtime, offer: &Offer) -> Vec<Action> {
        let peer = self.config.peer;
        let mut maps = Vec::new();
        let refs = core::iter::once(offer.control_ref).chain(offer.data_refs.iter().copied());
        let mut failed: Option<GrantError> = None;
        for r in refs {
            match grant_table::map(peer, r, false) {
                Ok(m) => maps.push(m),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let port = if failed.is_none() {
            rt.events.bind_interdomain(peer, offer.event_channel).ok()
        } else {
            None
        };
        let end = port.and_then(|_| {
            let k = offer.pages.get() as usize;
            let ptr = |m: &Mapping| NonNull::new(m.va as *mut u8);
            let control = ptr(&maps[0])?;
            let a_to_b: Option<Vec<_>> = maps[1..1 + k].iter().map(ptr).collect();
            let b_to_a: Option<Vec<_>> = maps[1 + k..].iter().map(ptr).collect();
            // SAFETY: the peer's pages are mapped here until teardown, after the end is dropped.
            let mem = unsafe { RawMemory::new(control, &a_to_b?, &b_to_a?) }.ok()?;
            WireEnd::accept(mem).ok()
        });
        let Machine::Acceptor(_) = &self.machine else {
            return Vec::new();
        };
        match (port, end) {
            (Some(port), Some(end)) => {
                self.end = Some(end);
                self.held = Held::Accepted { maps, port };
                let Machine::Acceptor(m) = &mut self.machine else {
                    return Vec::new();
                };
                m.mapped()
            }
            (port, _) => {
                if let Some(p) = port {
                    let _ = rt.events.close(p);
                }
                for m in maps {
                    let _ = grant_table::unmap(m);
                }
                let Machine::Acceptor(m) = &mut self.machine else {
                    return Vec::new();
                };
                m.local_error()
            }
        }
    }

    fn tear_down(&mut self, rt: &mut Runtime) -> Vec<Action> {
        self.connected = false;
        if let Some(mut end) = self.end.take() {
            let kick = end.close();
            if let (true, Some(p)) = (kick, self.port()) {
                let _ = rt.events.notify(p);
            }
        }
        match core::mem::replace(&mut self.held, Held::Nothing) {
            Held::Nothing => {}
            Held::Offered { pages, port } => {
                let _ = rt.events.close(port);
                self.retired.extend(pages);
                self.retry_retired(rt);
            }
            Held::Accepted { maps, port } => {
                let _ = rt.events.close(port);
                for m in maps {
                    let _ = grant_table::unmap(m);
                }
            }
        }
        match &mut self.machine {
            Machine::Offerer(m) => m.torn_down(),
            Machine::Acceptor(m) => m.torn_down(),
        }
    }

    /// Ends the grants of pages from earlier offers whose peer has let go;
    /// called on every event of this link (a dead peer's mappings vanish with it).
    pub fn retry_retired(&mut self, rt: &mut Runtime) {
        self.retired
            .retain(|&(va, r)| match rt.grants.end_access(r) {
                Ok(()) | Err(GrantError::NotGranted(_)) => {
                    let _ = free_page(va);
                    false
                }
                Err(_) => true,
            });
    }

    /// Grant refs still waiting for the peer to unmap.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }
}

/// One `wire/<id>` entry of a domain's controller configuration
/// (`/banana/config/<domid>/wire/<id>/{side,peer-domid,endpoint}`,
/// controller/README.md), parsed strictly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfiguredWire {
    /// The wire id (the entry's name).
    pub id: WireId,
    /// `None`: the entry is malformed (e.g. half-written); reported.
    pub config: Option<WireConfig>,
    /// Our endpoint index on this wire (a Corm's port), when given.
    pub endpoint: Option<u32>,
}

/// Every wire in `<config_dir>/wire`, with `pages` per direction when we are
/// side A. Values are hostile text: a malformed entry is kept as `config:
/// None` and printed with `tag`.
pub fn configured_wires(
    rt: &mut Runtime,
    config_dir: &str,
    pages: RingPages,
    tag: &str,
) -> Vec<ConfiguredWire> {
    use pv_runtime::abi::DOMID_SELF;
    use pv_runtime::xenstore::parse_decimal;
    let base = format!("{config_dir}/wire");
    let Ok(ids) = rt.xs.directory(&base) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in ids {
        let side = rt.xs.read(&format!("{base}/{id}/side")).ok();
        let peer = rt.xs.read(&format!("{base}/{id}/peer-domid")).ok();
        let endpoint = rt.xs.read(&format!("{base}/{id}/endpoint")).ok();
        let Some(wire) = parse_decimal(&id) else {
            pv_runtime::println!("{tag}-CONFIG-ERROR wire id {id:?}");
            continue;
        };
        let me = rt.domid();
        let config = (|| {
            let side = match side.as_deref()? {
                "a" => Side::A,
                "b" => Side::B,
                _ => return None,
            };
            let peer = DomId::try_from(parse_decimal(peer.as_deref()?)?)
                .ok()
                .filter(|&d| d < DOMID_SELF && d != me)?;
            Some(WireConfig {
                wire,
                side,
                peer,
                pages,
            })
        })();
        if config.is_none() {
            pv_runtime::println!(
                "{tag}-CONFIG-ERROR wire {id:?}: side={side:?} peer-domid={peer:?}"
            );
        }
        out.push(ConfiguredWire {
            id: wire,
            config,
            endpoint: endpoint.as_deref().and_then(parse_decimal),
        });
    }
    out
}
