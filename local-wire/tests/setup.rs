//! Both setup machines driven against a fake xenstore and a fake grant
//! table, with every watch delivered after every step (so spurious watch
//! firings are exercised too).

use std::collections::BTreeMap;

use local_wire::setup::{
    wire_dir, Acceptor, AcceptorState, Action, Key, Offerer, OffererState, Refusal, Then,
};
use local_wire::{HeapMemory, RingPages, WireEnd, WireMemory};

const A: u16 = 1;
const B: u16 = 2;
const WIRE: u32 = 9;

struct World {
    xs: BTreeMap<String, String>,
    a: Offerer,
    b: Acceptor,
    next_ref: u32,
    /// grant ref -> (pages, index: 0 control, 1.. data in ring order)
    grants: BTreeMap<u32, (HeapMemory, usize)>,
    a_end: Option<WireEnd<HeapMemory>>,
    b_end: Option<WireEnd<HeapMemory>>,
    a_connects: usize,
    b_connects: usize,
    offers: usize,
    hold_alloc: bool,
    pending_alloc: bool,
    pending_map: Option<local_wire::setup::Offer>,
    defer_map: bool,
    a_dead: bool,
    b_dead: bool,
    hostile: Option<(String, String)>,
    /// A machine asked for `retry` after a backoff.
    a_retry: bool,
    b_retry: bool,
}

fn a_dir() -> String {
    wire_dir(A, WIRE)
}

fn b_dir() -> String {
    wire_dir(B, WIRE)
}

impl World {
    fn new(k: u32) -> World {
        World {
            xs: BTreeMap::new(),
            a: Offerer::new(WIRE, A, B, RingPages::new(k).unwrap(), 1_000),
            b: Acceptor::new(WIRE, B, A),
            next_ref: 8,
            grants: BTreeMap::new(),
            a_end: None,
            b_end: None,
            a_connects: 0,
            b_connects: 0,
            offers: 0,
            hold_alloc: false,
            pending_alloc: false,
            pending_map: None,
            defer_map: false,
            a_dead: false,
            b_dead: false,
            hostile: None,
            a_retry: false,
            b_retry: false,
        }
    }

    fn get(&self, dir: &str, key: &str) -> Option<String> {
        self.xs.get(&format!("{dir}/{key}")).cloned()
    }

    fn remove_dir(&mut self, dir: &str) {
        self.xs.retain(|k, _| !k.starts_with(dir));
    }

    fn exec_a(&mut self, actions: Vec<Action>) {
        for act in actions {
            match act {
                Action::CreateDir { path, reader } => {
                    assert_eq!((path.as_str(), reader), (a_dir().as_str(), B));
                }
                Action::Write { path, value } => {
                    self.xs.insert(path, value);
                }
                Action::WriteAll(kv) => {
                    self.xs.extend(kv);
                    self.offers += 1;
                    if let Some((k, v)) = self.hostile.clone() {
                        self.xs.insert(format!("{}/{k}", a_dir()), v);
                    }
                }
                Action::Allocate { pages, peer } => {
                    assert_eq!(peer, B);
                    assert!(self.a_end.is_none(), "allocating twice");
                    if self.hold_alloc {
                        self.pending_alloc = true;
                    } else {
                        self.allocate(pages);
                    }
                }
                Action::Connect => {
                    assert!(self.a_end.is_some());
                    self.a_connects += 1;
                }
                Action::RetryLater => self.a_retry = true,
                Action::TearDown => {
                    if let Some(mut end) = self.a_end.take() {
                        let _ = end.close();
                        let ctl = end.memory().control();
                        self.grants.retain(|_, (m, _)| m.control() != ctl);
                    }
                    let next = self.a.torn_down();
                    self.exec_a(next);
                }
                other => panic!("offerer asked for {other:?}"),
            }
        }
    }

    fn allocate(&mut self, pages: RingPages) {
        let mem = HeapMemory::new(pages);
        self.a_end = Some(WireEnd::offer(mem.clone(), u32::MAX - 10).unwrap());
        let refs: Vec<u32> = (0..pages.total_pages() as u32)
            .map(|i| self.next_ref + i)
            .collect();
        self.next_ref += refs.len() as u32;
        for (i, r) in refs.iter().enumerate() {
            self.grants.insert(*r, (mem.clone(), i));
        }
        let next = self.a.offer_ready(refs[0], &refs[1..], 40);
        self.exec_a(next);
    }

    fn exec_b(&mut self, actions: Vec<Action>) {
        for act in actions {
            match act {
                Action::CreateDir { path, reader } => {
                    assert_eq!((path.as_str(), reader), (b_dir().as_str(), A));
                }
                Action::Write { path, value } => {
                    self.xs.insert(path, value);
                }
                Action::WriteAll(kv) => self.xs.extend(kv),
                Action::ReadOffer => {
                    let xs = self.xs.clone();
                    let next = self.b.offer_read(|p| xs.get(p).cloned());
                    self.exec_b(next);
                }
                Action::Map(offer) => {
                    assert!(
                        self.pending_map.is_none() && self.b_end.is_none(),
                        "mapping twice"
                    );
                    self.pending_map = Some(offer);
                    if !self.defer_map {
                        self.finish_map();
                    }
                }
                Action::Connect => {
                    assert!(self.b_end.is_some());
                    self.b_connects += 1;
                }
                Action::RetryLater => self.b_retry = true,
                Action::TearDown => {
                    if let Some(mut end) = self.b_end.take() {
                        let _ = end.close();
                    }
                    let next = self.b.torn_down();
                    self.exec_b(next);
                }
                other => panic!("acceptor asked for {other:?}"),
            }
        }
    }

    /// The acceptor's `Map`: resolve each grant, then `accept`.
    fn finish_map(&mut self) {
        let offer = self.pending_map.take().expect("a pending map");
        let refs: Vec<u32> = std::iter::once(offer.control_ref)
            .chain(offer.data_refs.iter().copied())
            .collect();
        let mapped: Option<Vec<(HeapMemory, usize)>> =
            refs.iter().map(|r| self.grants.get(r).cloned()).collect();
        let ok = mapped.filter(|m| {
            m.iter()
                .enumerate()
                .all(|(i, (mem, idx))| *idx == i && mem.control() == m[0].0.control())
        });
        let next = match ok.map(|m| WireEnd::accept(m[0].0.clone())) {
            Some(Ok(end)) => {
                self.b_end = Some(end);
                self.b.mapped()
            }
            _ => self.b.local_error(),
        };
        self.exec_b(next);
    }

    /// Delivers watches until neither machine has anything to do.
    fn settle(&mut self) {
        for _ in 0..50 {
            let (s, r) = (self.get(&b_dir(), "state"), self.get(&b_dir(), "request"));
            let max = self.get(&b_dir(), "max-ring-pages");
            let acts_a = match self.a_dead {
                false => {
                    self.a.peer_max_pages(max.as_deref());
                    self.a.peer_changed(s.as_deref(), r.as_deref())
                }
                true => Vec::new(),
            };
            let busy_a = !acts_a.is_empty();
            self.exec_a(acts_a);
            let a = a_dir();
            let (s, f, i) = (
                self.get(&a, "state"),
                self.get(&a, "offer-for"),
                self.get(&a, "offer-id"),
            );
            let acts_b = match self.b_dead {
                false => self
                    .b
                    .peer_changed(s.as_deref(), f.as_deref(), i.as_deref()),
                true => Vec::new(),
            };
            let busy_b = !acts_b.is_empty();
            self.exec_b(acts_b);
            if !busy_a && !busy_b {
                return;
            }
        }
        panic!(
            "setup did not settle: {:?} / {:?}",
            self.a.state(),
            self.b.state()
        );
    }

    /// The domains' backoffs end: each machine that asked retries.
    fn backoff_over(&mut self) {
        if std::mem::take(&mut self.a_retry) {
            let next = self.a.retry();
            self.exec_a(next);
        }
        if std::mem::take(&mut self.b_retry) {
            let next = self.b.retry();
            self.exec_b(next);
        }
        self.settle();
    }

    fn start(&mut self, nonce: u64) {
        let a = self.a.start();
        self.exec_a(a);
        let b = self.b.start(nonce);
        self.exec_b(b);
        self.settle();
    }

    fn connected(&self) -> bool {
        matches!(self.a.state(), OffererState::Connected { .. })
            && matches!(self.b.state(), AcceptorState::Connected { .. })
            && self.get(&a_dir(), "state").as_deref() == Some("4")
            && self.get(&b_dir(), "state").as_deref() == Some("4")
    }

    /// Both ends exchange a record, proving they share one control page.
    fn exchange(&mut self) {
        let (a, b) = (self.a_end.as_mut().unwrap(), self.b_end.as_mut().unwrap());
        assert_eq!(a.memory().control(), b.memory().control());
        a.tx().send_record(b"ping").unwrap();
        assert!(a.tx().flush());
        let mut buf = [0u8; 8];
        assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(4)));
        b.tx().send_record(b"pong!").unwrap();
        assert!(b.tx().flush());
        assert_eq!(a.rx().recv_record(&mut buf), Ok(Some(5)));
        assert_eq!(&buf[..5], b"pong!");
    }
}

#[test]
fn normal_connect() {
    let mut w = World::new(2);
    w.start(500);
    assert!(w.connected());
    assert_eq!((w.offers, w.a_connects, w.b_connects), (1, 1, 1));
    assert_eq!(w.get(&a_dir(), "ring-pages").as_deref(), Some("2"));
    assert_eq!(w.get(&a_dir(), "offer-for").as_deref(), Some("500"));
    assert_eq!(
        w.get(&a_dir(), "data-refs").map(|v| v.split(' ').count()),
        Some(4)
    );
    assert_eq!(w.get(&a_dir(), "event-channel").as_deref(), Some("40"));
    assert_eq!(w.get(&b_dir(), "request").as_deref(), Some("500"));
    w.exchange();
    w.settle();
    assert!(w.connected());
}

#[test]
fn acceptor_starting_first_is_fine() {
    let mut w = World::new(1);
    let b = w.b.start(7);
    w.exec_b(b);
    w.settle();
    assert_eq!(w.b.state(), AcceptorState::AwaitOffer { nonce: 7 });
    let a = w.a.start();
    w.exec_a(a);
    w.settle();
    assert!(w.connected());
    w.exchange();
}

#[test]
fn acceptor_restart_in_place_gets_fresh_pages() {
    let mut w = World::new(1);
    w.start(500);
    // Keep the old pages alive, so a new allocation cannot reuse their address.
    let old_mem = w.a_end.as_ref().unwrap().memory().clone();
    let old = old_mem.control();
    // The acceptor's wire logic restarts: its old mapping is gone, a new
    // machine requests with a new nonce.
    w.b_end = None;
    w.b = Acceptor::new(WIRE, B, A);
    let b = w.b.start(900);
    w.exec_b(b);
    w.settle();
    // The offerer tore the old offer down: its next one waits for the backoff.
    assert!(w.a_retry && !w.connected());
    w.backoff_over();
    assert!(w.connected());
    assert_eq!(w.offers, 2);
    assert_ne!(w.a_end.as_ref().unwrap().memory().control(), old);
    w.exchange();
}

#[test]
fn acceptor_domain_destroyed_then_recreated() {
    let mut w = World::new(1);
    w.start(500);
    w.b_end = None;
    w.b_dead = true;
    w.remove_dir(&b_dir());
    w.settle();
    assert_eq!(w.a.state(), OffererState::AwaitRequest);
    assert!(w.a_end.is_none(), "the old pages were released");
    assert_eq!(w.get(&a_dir(), "state").as_deref(), Some("1"));
    w.b = Acceptor::new(WIRE, B, A);
    w.b_dead = false;
    let b = w.b.start(501);
    w.exec_b(b);
    w.settle();
    w.backoff_over();
    assert!(w.connected());
    w.exchange();
}

#[test]
fn offerer_restart() {
    let mut w = World::new(4);
    w.start(500);
    // The offerer's domain dies: its keys and grants disappear.
    w.a_end = None;
    w.grants.clear();
    w.a_dead = true;
    w.remove_dir(&a_dir());
    w.settle();
    assert_eq!(w.b.state(), AcceptorState::AwaitOffer { nonce: 501 });
    assert!(w.b_end.is_none(), "acceptor unmapped the old pages");
    assert_eq!(w.get(&b_dir(), "request").as_deref(), Some("501"));
    w.a = Offerer::new(WIRE, A, B, RingPages::new(4).unwrap(), 5_000);
    w.a_dead = false;
    let a = w.a.start();
    w.exec_a(a);
    w.settle();
    assert!(w.connected());
    assert_eq!(w.get(&a_dir(), "offer-for").as_deref(), Some("501"));
    w.exchange();
}

#[test]
fn acceptor_vanishes_while_offerer_allocates() {
    let mut w = World::new(1);
    w.hold_alloc = true;
    w.start(500);
    assert_eq!(w.a.state(), OffererState::Allocating { request: 500 });
    assert!(w.pending_alloc);
    w.b_dead = true;
    w.remove_dir(&b_dir());
    w.settle();
    w.hold_alloc = false;
    w.allocate(RingPages::ONE);
    // The offer is never published; the pages are released.
    assert_eq!(w.offers, 0);
    assert!(w.a_end.is_none());
    assert_eq!(w.a.state(), OffererState::AwaitRequest);
    assert_eq!(w.get(&a_dir(), "state").as_deref(), Some("1"));
}

#[test]
fn offerer_withdraws_while_acceptor_maps() {
    let mut w = World::new(1);
    w.hold_alloc = true;
    let a = w.a.start();
    w.exec_a(a);
    let b = w.b.start(500);
    w.exec_b(b);
    w.settle();
    w.hold_alloc = false;
    w.defer_map = true;
    w.allocate(RingPages::ONE);
    w.settle();
    assert!(matches!(
        w.b.state(),
        AcceptorState::Mapping { stale: false, .. }
    ));
    // The offerer re-offers (new offer id) before the acceptor finishes.
    w.xs.insert(format!("{}/offer-id", a_dir()), "77".into());
    w.settle();
    assert!(matches!(
        w.b.state(),
        AcceptorState::Mapping { stale: true, .. }
    ));
    w.finish_map();
    assert!(matches!(
        w.b.state(),
        AcceptorState::AwaitOffer { nonce: 501 }
    ));
    assert!(w.b_end.is_none());
}

#[test]
fn hostile_offers_are_refused() {
    let cases = [
        ("ring-pages", "3", Refusal::RingPages(3)),
        ("ring-pages", "128", Refusal::RingPages(128)),
        ("control-ref", "eight", Refusal::NotNumeric(Key::ControlRef)),
        ("data-refs", "", Refusal::NotNumeric(Key::DataRefs)),
        (
            "event-channel",
            "99999999999",
            Refusal::NotNumeric(Key::EventChannel),
        ),
    ];
    for (key, value, want) in cases {
        let mut w = World::new(1);
        w.hostile = Some((key.into(), value.into()));
        w.start(500);
        assert!(
            matches!(w.b.state(), AcceptorState::Waiting { nonce: 500 }),
            "{key}={value}"
        );
        assert!(w.b_retry, "a new request only after the backoff");
        assert_eq!(w.b.refusal(), Some(want));
        assert_eq!(w.get(&b_dir(), "state").as_deref(), Some("6"));
        assert!(w.b_end.is_none());
        // The offerer saw the acceptor leave and released its pages.
        assert_eq!(w.a.state(), OffererState::AwaitRequest);
        assert!(w.a_end.is_none());
        // A fixed offerer (the hostile value gone) heals the wire.
        w.hostile = None;
        w.backoff_over();
        w.backoff_over();
        assert!(
            w.connected(),
            "{key}={value}: {:?} / {:?}",
            w.a.state(),
            w.b.state()
        );
    }
}

/// A broken offer (or a failed map) never makes the acceptor give up: it
/// tears down and asks again, each time after the domain's backoff, and
/// connects once the offerer is sane.
#[test]
fn garbage_magic_makes_accept_fail_and_acceptor_retries_after_backoff() {
    let mut w = World::new(1);
    w.hold_alloc = true;
    let a = w.a.start();
    w.exec_a(a);
    let b = w.b.start(500);
    w.exec_b(b);
    w.settle();
    for attempt in 0..5 {
        w.hold_alloc = false;
        w.pending_alloc = false;
        w.allocate(RingPages::ONE);
        // Scribble on the magic before the acceptor maps.
        let mem = w.a_end.as_ref().unwrap().memory().clone();
        // SAFETY: the control page is live (held by `a_end`) and only
        // accessed atomically by this single-threaded test.
        unsafe { mem.control().cast::<u32>().write_volatile(0xdead_beef) };
        w.hold_alloc = true;
        w.settle();
        assert!(
            matches!(w.b.state(), AcceptorState::Waiting { .. }),
            "{attempt}: {:?}",
            w.b.state()
        );
        assert!(
            w.b_retry && w.a_retry,
            "{attempt}: both wait for their backoff"
        );
        assert!(
            !w.pending_alloc,
            "{attempt}: no new offer before the backoff"
        );
        w.backoff_over();
        assert!(w.pending_alloc, "{attempt}: the next request is answered");
    }
    w.hold_alloc = false;
    w.allocate(RingPages::ONE);
    w.settle();
    assert!(w.connected());
}

/// The offerer offers its preferred K, or less when the acceptor says it
/// maps less; hostile or missing text reads as the size every acceptor maps.
#[test]
fn ring_size_is_negotiated() {
    let mut w = World::new(64);
    w.start(500);
    assert!(w.connected());
    assert_eq!(w.get(&b_dir(), "max-ring-pages").as_deref(), Some("64"));
    assert_eq!(w.get(&a_dir(), "ring-pages").as_deref(), Some("64"));
    let mut a = Offerer::new(WIRE, A, B, RingPages::new(64).unwrap(), 1);
    for (said, k) in [
        (Some("16"), 16),
        (Some("64"), 64),
        (None, 32),
        (Some("48"), 32),
        (Some("128"), 32),
        (Some("0"), 32),
        (Some("-1"), 32),
        (Some("064"), 32),
    ] {
        a.peer_max_pages(said);
        assert_eq!(a.offered_pages().get(), k, "{said:?}");
    }
}

#[test]
fn shutdown_from_both_sides() {
    let mut w = World::new(1);
    w.start(500);
    let b = w.b.shutdown();
    w.exec_b(b);
    assert_eq!(w.b.state(), AcceptorState::Closed);
    w.settle();
    assert_eq!(w.a.state(), OffererState::AwaitRequest);
    let a = w.a.shutdown();
    w.exec_a(a);
    assert_eq!(w.a.state(), OffererState::Closed);
    assert_eq!(w.get(&a_dir(), "state").as_deref(), Some("6"));
    // Nothing more happens, whatever the watches say.
    w.settle();
    assert!(w.a.start().is_empty());
}

#[test]
fn offerer_local_error_stops_it() {
    let mut w = World::new(1);
    w.hold_alloc = true;
    w.start(500);
    let next = w.a.local_error();
    assert_eq!(w.a.state(), OffererState::TearingDown(Then::Fail));
    w.exec_a(next);
    assert_eq!(w.a.state(), OffererState::Failed);
    w.settle();
    assert_eq!(w.a.state(), OffererState::Failed);
    assert_eq!(w.get(&a_dir(), "state").as_deref(), Some("6"));
}

#[test]
fn stale_acceptor_keys_do_not_connect() {
    let mut w = World::new(1);
    w.hold_alloc = true;
    w.start(500);
    // A hostile or stale acceptor claims Connected for a request never offered.
    w.xs.insert(format!("{}/state", b_dir()), "4".into());
    w.xs.insert(format!("{}/request", b_dir()), "12".into());
    w.settle();
    w.hold_alloc = false;
    w.allocate(RingPages::ONE);
    w.settle();
    assert!(w.a_connects == 0 && w.offers == 0);
    // Garbage state text is not Connected either.
    w.xs.insert(format!("{}/state", b_dir()), "04".into());
    w.settle();
    assert_eq!(w.a.state(), OffererState::AwaitRequest);
}
