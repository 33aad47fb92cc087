//! A local wire end inside a domain: carries out the [`setup`](crate::setup)
//! machines' [`Action`]s with pv-runtime's xenstore, grant table, event
//! channels and pages, and owns what they produce (granted or mapped pages,
//! the port). Domain target only; the logic it runs is the host-tested
//! machines'.
//!
//! Pages: the offerer allocates a control page and 2K data pages, grants the
//! control page and the b→a pages read-write, and the a→b pages *read-only*
//! (the acceptor reads them and grant-copies from them, never writes them),
//! so the offerer may build frames in place in its own ring. Each direction
//! is mapped contiguously: the offerer aliases its own pages side by side
//! in its foreign window, the acceptor maps the grants side by side.
//!
//! The connected [`WireEnd`] is lent to its owner (a
//! [`Channel`](crate::channel::Channel)) with [`Link::take_end`]; before the
//! pages can be unmapped the owner gives it back ([`Link::wants_end_back`],
//! [`Link::give_back`]), so no view of them outlives the mapping.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;

use pv_runtime::abi::{DomId, GrantRef, Mfn, Port};
use pv_runtime::grant_table::{self, GrantError, MappedRange, Mapping};
use pv_runtime::mm::heap::{alias, alloc_page, free_page, unalias};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::xenstore::{Access, Perm, WatchEvent, XsError};

use crate::page_ref::{PageRef, RingRefs};
use crate::setup::{
    key_path, wire_dir, Acceptor, Backoff, Offer, Offerer, WireId, KEY_MAX_PAGES, KEY_REQUEST,
    KEY_STATE,
};
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

/// A page of ours, granted to the peer.
#[derive(Clone, Copy)]
struct OwnPage {
    va: u64,
    mfn: Mfn,
    gref: GrantRef,
}

/// What this side holds for the current offer.
enum Held {
    Nothing,
    /// Our pages (control, then a→b, then b→a), their contiguous views, the
    /// unbound port.
    Offered {
        pages: Vec<OwnPage>,
        views: [u64; 2],
        port: Port,
    },
    /// The peer's pages mapped here, our bound port.
    Accepted {
        control: Mapping,
        views: [MappedRange; 2],
        port: Port,
    },
}

/// One wire end in this domain.
pub struct Link {
    /// What this link was started with.
    pub config: WireConfig,
    machine: Machine,
    held: Held,
    /// The end and the ring pages, from connection until the owner takes them.
    ready: Option<(WireEnd<RawMemory>, RingRefs)>,
    /// The owner holds the end.
    lent: bool,
    /// A teardown waits for the owner to give the end back.
    waiting: bool,
    peer_dir: String,
    token: String,
    connected: bool,
    backoff: Backoff,
    /// When the machine's `retry` is due ([`Action::RetryLater`]).
    retry_at: Option<u64>,
    /// When to read the peer again: a read failed for another reason than
    /// the peer's absence (xenstored stalled: a timeout), so the machine
    /// was not told anything, and the watch event that asked is spent.
    reread_at: Option<u64>,
}

/// How soon a peer whose keys could not be read is read again.
const REREAD_NS: u64 = 200_000_000;

/// Pages of offers whose wire is gone (link shut down, or torn down while
/// the peer still mapped them): freed once their grants can be ended. Kept
/// for the whole domain, so a link that goes away never leaks them; the
/// domain calls [`retry_retired`] from its housekeeping.
static RETIRED: spin::Mutex<Vec<(u64, GrantRef)>> = spin::Mutex::new(Vec::new());

/// Ends the grants of retired pages whose peer has let go and frees them;
/// returns how many are still waiting.
pub fn retry_retired(rt: &mut Runtime) -> usize {
    let mut r = RETIRED.lock();
    r.retain(|&(va, gref)| match rt.grants.end_access(gref) {
        Ok(()) | Err(GrantError::NotGranted(_)) => {
            let _ = free_page(va);
            false
        }
        Err(_) => true,
    });
    r.len()
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
            ready: None,
            lent: false,
            waiting: false,
            peer_dir,
            token,
            connected: false,
            backoff: Backoff::new(),
            retry_at: None,
            reread_at: None,
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

    /// The connected end and where its ring pages are, once: hand them to a
    /// channel.
    pub fn take_end(&mut self) -> Option<(WireEnd<RawMemory>, RingRefs)> {
        let r = self.ready.take();
        self.lent |= r.is_some();
        r
    }

    /// A teardown is waiting for the lent end: detach it from its channel
    /// and [`give_back`](Self::give_back).
    pub fn wants_end_back(&self) -> bool {
        self.waiting
    }

    /// The end is back from its owner (`None` if it was lost): the waiting
    /// teardown goes on.
    pub fn give_back(&mut self, rt: &mut Runtime, end: Option<WireEnd<RawMemory>>) {
        self.lent = false;
        if let Some(mut end) = end {
            if end.close() {
                if let Some(p) = self.port() {
                    let _ = rt.events.notify(p);
                }
            }
        }
        if self.waiting {
            self.waiting = false;
            let more = self.release(rt);
            self.run(rt, more);
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
        self.refresh(rt);
        retry_retired(rt);
        true
    }

    /// Reads the peer and runs what the machine answers. A teardown that
    /// restarts leaves the machine waiting for the peer's next move, which
    /// may already be in xenstore (the change that caused the restart): no
    /// new watch event would come. So the peer is read again until the
    /// machine has nothing more to do (bounded).
    fn refresh(&mut self, rt: &mut Runtime) {
        for _ in 0..4 {
            if self.waiting {
                break;
            }
            let actions = self.peer_update(rt);
            if actions.is_empty() {
                break;
            }
            self.run(rt, actions);
        }
    }

    /// The connected wire failed (the peer corrupted the ring, closed it,
    /// went silent, or negotiation failed): tear down and set the wire up
    /// again. Give the end back first.
    pub fn link_failed(&mut self, rt: &mut Runtime) {
        let actions = match &mut self.machine {
            Machine::Offerer(m) => m.link_failed(),
            Machine::Acceptor(m) => m.local_error(),
        };
        self.run(rt, actions);
    }

    /// When [`poll`](Self::poll) has work: the end of a backoff, or a
    /// peer to read again.
    pub fn deadline(&self) -> Option<u64> {
        self.retry_at.into_iter().chain(self.reread_at).min()
    }

    /// Sets the wire up again once its backoff is over, and reads a peer
    /// that could not be read. Call on every wake-up (cheap), and wake up by
    /// [`deadline`](Self::deadline).
    pub fn poll(&mut self, rt: &mut Runtime) {
        let now = pv_runtime::time::now_ns();
        let due = |t: Option<u64>| t.is_some_and(|t| t <= now);
        let mut look = due(self.reread_at);
        if look {
            self.reread_at = None;
        }
        if due(self.retry_at) {
            self.retry_at = None;
            let actions = match &mut self.machine {
                Machine::Offerer(m) => m.retry(),
                Machine::Acceptor(m) => m.retry(),
            };
            self.run(rt, actions);
            // What the peer did meanwhile may not have reached the machine
            // (its own teardown ignores the peer): read it now.
            look = true;
        }
        if look {
            self.refresh(rt);
        }
    }

    /// Leaves the wire for good (domain shutdown or wire removed).
    pub fn shutdown(&mut self, rt: &mut Runtime) {
        self.retry_at = None;
        let actions = match &mut self.machine {
            Machine::Offerer(m) => m.shutdown(),
            Machine::Acceptor(m) => m.shutdown(),
        };
        self.run(rt, actions);
        let _ = rt.xs.unwatch(&self.peer_dir.clone(), &self.token.clone());
        retry_retired(rt);
    }

    fn peer_key(&self, rt: &mut Runtime, key: &str) -> Result<Option<String>, XsError> {
        crate::setup::peer_value(rt.xs.read(&key_path(&self.peer_dir, key)))
    }

    /// Reads the peer's keys and tells the machine; nothing when a key
    /// could not be read (then the peer is read again in [`REREAD_NS`]).
    fn peer_update(&mut self, rt: &mut Runtime) -> Vec<Action> {
        match self.peer_update_or_err(rt) {
            Ok(actions) => actions,
            Err(e) => {
                if self.reread_at.is_none() {
                    println!(
                        "LOCAL-WIRE wire={} peer unreadable ({e}): reading it again in {} ms",
                        self.config.wire,
                        REREAD_NS / 1_000_000
                    );
                }
                self.reread_at = Some(pv_runtime::time::now_ns() + REREAD_NS);
                Vec::new()
            }
        }
    }

    fn peer_update_or_err(&mut self, rt: &mut Runtime) -> Result<Vec<Action>, XsError> {
        let wire = self.config.wire;
        let state = self.peer_key(rt, KEY_STATE)?;
        Ok(match &mut self.machine {
            Machine::Offerer(_) => {
                let request = self.peer_key(rt, KEY_REQUEST)?;
                let max = self.peer_key(rt, KEY_MAX_PAGES)?;
                let Machine::Offerer(m) = &mut self.machine else {
                    return Ok(Vec::new());
                };
                m.peer_max_pages(max.as_deref());
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
                let offer_for = self.peer_key(rt, "offer-for")?;
                let offer_id = self.peer_key(rt, "offer-id")?;
                let Machine::Acceptor(m) = &mut self.machine else {
                    return Ok(Vec::new());
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
        })
    }

    /// Runs actions in order; each may answer with more. A teardown that
    /// must wait for the lent end stops the run; [`give_back`](Self::give_back)
    /// resumes it.
    fn run(&mut self, rt: &mut Runtime, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        // Each machine step is finite; the bound only guards against a bug looping.
        let mut budget = 256;
        while let Some(action) = queue.pop_front() {
            budget -= 1;
            if budget == 0 {
                break;
            }
            if matches!(action, Action::TearDown) && self.lent {
                // Resumed by `give_back`; the actions after it are the
                // machine's answer to `torn_down`, which `release` produces.
                self.connected = false;
                self.waiting = true;
                return;
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
                self.backoff.connected(pv_runtime::time::now_ns());
                Vec::new()
            }
            Action::RetryLater => {
                let now = pv_runtime::time::now_ns();
                let wait = self.backoff.failed(now);
                println!(
                    "LOCAL-WIRE wire={} retry in {} ms",
                    self.config.wire,
                    wait / 1_000_000
                );
                self.retry_at = Some(now + wait);
                Vec::new()
            }
            Action::TearDown => {
                self.connected = false;
                if let Some((mut end, _)) = self.ready.take() {
                    if end.close() {
                        if let Some(p) = self.port() {
                            let _ = rt.events.notify(p);
                        }
                    }
                }
                self.release(rt)
            }
        }
    }

    /// Allocates, aliases and grants the pages of a fresh offer.
    fn allocate(&mut self, rt: &mut Runtime, pages: RingPages, peer: DomId) -> Vec<Action> {
        let k = pages.get() as usize;
        let mut own: Vec<OwnPage> = Vec::new();
        let mut ok = true;
        for i in 0..pages.total_pages() {
            // a→b pages (1..=K) are read-only to the peer.
            let readonly = (1..=k).contains(&i);
            let granted = alloc_page().ok().and_then(|(va, mfn)| {
                match rt.grants.grant(peer, mfn, readonly) {
                    Ok(gref) => Some(OwnPage { va, mfn, gref }),
                    Err(_) => {
                        let _ = free_page(va);
                        None
                    }
                }
            });
            match granted {
                Some(p) => own.push(p),
                None => {
                    ok = false;
                    break;
                }
            }
        }
        let mfns =
            |r: core::ops::Range<usize>| -> Vec<Mfn> { own[r].iter().map(|p| p.mfn).collect() };
        let views = if ok {
            let ab = alias(&mfns(1..1 + k)).ok();
            let ba = alias(&mfns(1 + k..1 + 2 * k)).ok();
            match (ab, ba) {
                (Some(ab), Some(ba)) => Some([ab, ba]),
                (ab, ba) => {
                    ab.into_iter().chain(ba).for_each(|v| unalias(v, k));
                    None
                }
            }
        } else {
            None
        };
        let port = views.and_then(|_| rt.events.alloc_unbound(peer).ok());
        let end = match (views, port) {
            (Some([ab, ba]), Some(_)) => {
                let ptr = |va: u64| NonNull::new(va as *mut u8);
                // SAFETY: our own zeroed pages, the two views mapped just
                // above; all stay until `release`, after the end is dropped
                // or given back.
                ptr(own[0].va)
                    .zip(ptr(ab).zip(ptr(ba)))
                    .and_then(|(c, (ab, ba))| unsafe { RawMemory::new(c, ab, ba, k) }.ok())
                    .and_then(|mem| WireEnd::offer(mem, 0).ok())
            }
            _ => None,
        };
        let (Some(views), Some(port), Some(end)) = (views, port, end) else {
            if let Some(p) = port {
                let _ = rt.events.close(p);
            }
            if let Some([ab, ba]) = views {
                unalias(ab, k);
                unalias(ba, k);
            }
            for p in own {
                let _ = rt.grants.end_access(p.gref);
                let _ = free_page(p.va);
            }
            let Machine::Offerer(m) = &mut self.machine else {
                return Vec::new();
            };
            return m.local_error();
        };
        let refs: Vec<GrantRef> = own.iter().map(|p| p.gref).collect();
        let ring = RingRefs {
            a_to_b: own[1..1 + k]
                .iter()
                .map(|p| PageRef::Local(p.mfn))
                .collect(),
            b_to_a: own[1 + k..].iter().map(|p| PageRef::Local(p.mfn)).collect(),
        };
        self.ready = Some((end, ring));
        self.held = Held::Offered {
            pages: own,
            views,
            port,
        };
        let Machine::Offerer(m) = &mut self.machine else {
            return Vec::new();
        };
        m.offer_ready(refs[0], &refs[1..], port)
    }

    /// Maps an offer: the control page and the b→a pages read-write, the
    /// a→b pages read-only, each direction side by side.
    fn map(&mut self, rt: &mut Runtime, offer: &Offer) -> Vec<Action> {
        let peer = self.config.peer;
        let k = offer.pages.get() as usize;
        let (ab_refs, ba_refs) = offer.data_refs.split_at(k.min(offer.data_refs.len()));
        let control = grant_table::map(peer, offer.control_ref, false);
        let ab = control
            .as_ref()
            .ok()
            .and_then(|_| grant_table::map_range(peer, ab_refs, true).ok());
        let ba = ab
            .as_ref()
            .and_then(|_| grant_table::map_range(peer, ba_refs, false).ok());
        let port = ba
            .as_ref()
            .and_then(|_| rt.events.bind_interdomain(peer, offer.event_channel).ok());
        let end = match (&control, &ab, &ba, port) {
            (Ok(c), Some(ab), Some(ba), Some(_)) => {
                let ptr = |va: u64| NonNull::new(va as *mut u8);
                // SAFETY: the peer's pages are mapped here until `release`,
                // after the end is dropped or given back.
                ptr(c.va)
                    .zip(ptr(ab.va).zip(ptr(ba.va)))
                    .and_then(|(c, (a, b))| unsafe { RawMemory::new(c, a, b, k) }.ok())
                    .and_then(|mem| WireEnd::accept(mem).ok())
            }
            _ => None,
        };
        match (control, ab, ba, port, end) {
            (Ok(control), Some(ab), Some(ba), Some(port), Some(end)) => {
                let granted = |r: &GrantRef| PageRef::Granted {
                    domid: peer,
                    gref: *r,
                };
                let ring = RingRefs {
                    a_to_b: ab_refs.iter().map(granted).collect(),
                    b_to_a: ba_refs.iter().map(granted).collect(),
                };
                self.ready = Some((end, ring));
                self.held = Held::Accepted {
                    control,
                    views: [ab, ba],
                    port,
                };
                let Machine::Acceptor(m) = &mut self.machine else {
                    return Vec::new();
                };
                m.mapped()
            }
            (control, ab, ba, port, _) => {
                if let Some(p) = port {
                    let _ = rt.events.close(p);
                }
                if let Ok(c) = control {
                    let _ = grant_table::unmap(c);
                }
                ab.into_iter().chain(ba).for_each(|r| {
                    let _ = grant_table::unmap_range(r);
                });
                let Machine::Acceptor(m) = &mut self.machine else {
                    return Vec::new();
                };
                m.local_error()
            }
        }
    }

    /// Unmaps or retires what the current offer holds (no view of it is
    /// left: the end was given back or never lent), and tells the machine.
    fn release(&mut self, rt: &mut Runtime) -> Vec<Action> {
        self.connected = false;
        self.ready = None;
        let k = self.config.pages.get() as usize;
        match core::mem::replace(&mut self.held, Held::Nothing) {
            Held::Nothing => {}
            Held::Offered { pages, views, port } => {
                let _ = rt.events.close(port);
                // The views go now; the pages once the peer has let go.
                unalias(views[0], k);
                unalias(views[1], k);
                RETIRED.lock().extend(pages.iter().map(|p| (p.va, p.gref)));
                retry_retired(rt);
            }
            Held::Accepted {
                control,
                views,
                port,
            } => {
                let _ = rt.events.close(port);
                let _ = grant_table::unmap(control);
                let [ab, ba] = views;
                let _ = grant_table::unmap_range(ab);
                let _ = grant_table::unmap_range(ba);
            }
        }
        match &mut self.machine {
            Machine::Offerer(m) => m.torn_down(),
            Machine::Acceptor(m) => m.torn_down(),
        }
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
    use xs_schema::config::{self, wire as key};
    let base = format!("{config_dir}/{}", config::WIRES);
    let Ok(ids) = rt.xs.directory(&base) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in ids {
        let side = rt.xs.read(&format!("{base}/{id}/{}", key::SIDE)).ok();
        let peer = rt.xs.read(&format!("{base}/{id}/{}", key::PEER_DOMID)).ok();
        let endpoint = rt.xs.read(&format!("{base}/{id}/{}", key::ENDPOINT)).ok();
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
