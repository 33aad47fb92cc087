//! The two sans-IO wire setup machines (`local_wire::setup::{Offerer,
//! Acceptor}`) against a hostile peer. Each run drives one offerer and one
//! acceptor, each facing a peer whose xenstore directory the fuzz input
//! writes: `state`, `request`, `max-ring-pages`, `offer-for`, `offer-id`,
//! `ring-pages`, `control-ref`, `data-refs`, `event-channel` with
//! canonical numbers, near misses (`"01"`, `" 1"`, `"-1"`,
//! `"18446744073709551616"`, ...) or arbitrary bytes (the state values are
//! `io/xenbus.h`'s `XenbusState`s), interleaved with the domain's local
//! events: `offer_ready` (with any number of refs), `mapped`, `local_error`,
//! `torn_down`, `retry`, `link_failed`, `shutdown`, `peer_vanished`, and
//! `offer_read` whenever the input says (the store may change between
//! `ReadOffer` and the read).
//!
//! Asserted, besides "no panic":
//! * every action list is short, and a `WriteAll` holds at most an offer's
//!   keys; every path written lies in the machine's own directory and every
//!   value written is a canonical decimal number (`data-refs`: such numbers
//!   separated by single spaces);
//! * the acceptor emits `Map` only from `offer_read`, only for an offer
//!   whose keys all parse strictly (`Offer::parse` of the very store it read
//!   gives that offer, and each key's text is the canonical decimal of the
//!   value), only for its current request, never while a `Map` is pending;
//!   `Connect` only after `mapped` of that `Map`;
//! * the offerer emits `Allocate` only for a request the peer published in
//!   canonical decimal with `state` = 1, never twice while one is pending,
//!   never for the request it answered last, and of its own size or the
//!   peer's smaller valid `max-ring-pages` (32 when that is hostile); its
//!   offer keys parse back to the offer, of the size allocated; offer ids
//!   never repeat; `Connect` only when the peer said `state` = 4 with the
//!   offered request;
//! * `Closed`/`Failed` are final: no action ever follows.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use local_wire::setup::{wire_dir, Acceptor, AcceptorState, Action, Offer, Offerer, OffererState};
use local_wire::{RingPages, MAX_PAGES_PER_DIR};

const A: u16 = 1;
const B: u16 = 2;
const WIRE: u32 = 9;
const MAX_STEPS: usize = 128;
/// The longest action list either machine may return for one event.
const MAX_ACTIONS: usize = 4;
/// An offer's keys plus `state`.
const MAX_WRITE_ALL: usize = 5 + 2 * MAX_PAGES_PER_DIR as usize + 1;

/// Near misses of strict decimal and xenbus states.
const TEXTS: &[&str] = &[
    "",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "00",
    "01",
    "04",
    " 1",
    "1 ",
    "+1",
    "-1",
    "1\0",
    "0x10",
    "1e3",
    "٤",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "131071",
    "131072",
    "7",
    "8",
    "64",
    "128",
];

fn canonical(v: &str) -> bool {
    let b = v.as_bytes();
    matches!(b, [b'0']) || (!b.is_empty() && b[0] != b'0' && b.iter().all(u8::is_ascii_digit))
}

/// What a machine may write at `path`: a canonical decimal, or for the
/// offer's `data-refs` a list of them separated by single spaces.
fn canonical_at(path: &str, v: &str) -> bool {
    if path.ends_with("/data-refs") {
        v.split(' ').all(canonical)
    } else {
        canonical(v)
    }
}

/// A hostile value: a near miss, a canonical number or arbitrary text.
fn text(u: &mut Unstructured, near: Option<u64>) -> AResult<String> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 | 1 => TEXTS[u.choose_index(TEXTS.len())?].to_string(),
        2 => {
            let d = u64::from(u.int_in_range(0..=2u8)?);
            near.map_or(0, |n| n.wrapping_add(d)).to_string()
        }
        3 => u.arbitrary::<u64>()?.to_string(),
        4 => u.int_in_range(0..=300u32)?.to_string(),
        _ => {
            let n = u.int_in_range(0..=24usize)?;
            String::from_utf8_lossy(u.bytes(n)?).into_owned()
        }
    })
}

/// Checks what every action list must satisfy, for a machine writing in `dir`.
fn check_common(dir: &str, out: &[Action]) {
    assert!(out.len() <= MAX_ACTIONS, "{out:?}");
    let prefix = format!("{dir}/");
    for a in out {
        match a {
            Action::CreateDir { path, .. } => assert_eq!(path, dir),
            Action::Write { path, value } => {
                assert!(path.starts_with(&prefix) && canonical_at(path, value), "{a:?}");
            }
            Action::WriteAll(kv) => {
                assert!(!kv.is_empty() && kv.len() <= MAX_WRITE_ALL);
                for (p, v) in kv {
                    assert!(p.starts_with(&prefix) && canonical_at(p, v), "{p} = {v:?}");
                }
            }
            _ => {}
        }
    }
}

/// The offerer, its hostile acceptor's keys, and what the harness saw.
struct OffererSide {
    m: Offerer,
    peer: BTreeMap<&'static str, String>,
    allocating: bool,
    /// The K of the last `Allocate`.
    allocated: RingPages,
    last_offered: Option<u64>,
    offered: Option<u64>,
    offer_ids: Vec<u64>,
    pages: RingPages,
}

impl OffererSide {
    fn handle(&mut self, out: Vec<Action>, closed: bool) {
        if closed {
            assert!(out.is_empty(), "action after the end: {out:?}");
        }
        check_common(&wire_dir(A, WIRE), &out);
        for a in &out {
            match a {
                Action::Allocate { pages, peer } => {
                    assert!(!self.allocating, "Allocate twice");
                    assert_eq!(*peer, B);
                    // Ours, or the acceptor's `max-ring-pages` if smaller and
                    // valid (strict decimal, a power of two), else 32.
                    let max = self
                        .peer
                        .get("max-ring-pages")
                        .filter(|t| canonical(t))
                        .and_then(|t| t.parse().ok())
                        .and_then(RingPages::new)
                        .unwrap_or(RingPages::FOR_FRAMES);
                    assert_eq!(pages.get(), self.pages.get().min(max.get()));
                    self.allocated = *pages;
                    assert_eq!(self.peer.get("state").map(String::as_str), Some("1"));
                    let req = self.peer.get("request").expect("a request");
                    assert!(canonical(req));
                    let n: u64 = req.parse().unwrap();
                    assert_ne!(self.last_offered, Some(n), "request answered twice");
                    self.allocating = true;
                }
                Action::WriteAll(kv) => {
                    let dir = wire_dir(A, WIRE);
                    let store: BTreeMap<_, _> = kv.iter().cloned().collect();
                    // The harness hands out valid refs and ports: the offer
                    // must read back as written.
                    let o = Offer::parse(&dir, |p| store.get(p).cloned()).expect("offer parses");
                    assert_eq!(
                        o.pages, self.allocated,
                        "offer of another size than allocated"
                    );
                    assert_eq!(o.entries(&dir)[..], kv[..kv.len() - 1]);
                    assert!(!self.offer_ids.contains(&o.offer_id), "offer id reused");
                    self.offer_ids.push(o.offer_id);
                    assert_ne!(self.last_offered, Some(o.offer_for));
                    self.last_offered = Some(o.offer_for);
                    self.offered = Some(o.offer_for);
                    assert_eq!(kv.last().unwrap(), &(format!("{dir}/state"), "2".into()));
                }
                Action::Connect => {
                    assert_eq!(self.peer.get("state").map(String::as_str), Some("4"));
                    let req = self.peer.get("request").unwrap();
                    assert_eq!(req.parse::<u64>().ok(), self.offered);
                    assert!(canonical(req));
                }
                Action::TearDown => {
                    self.allocating = false;
                    self.offered = None;
                }
                Action::CreateDir { .. } | Action::Write { .. } | Action::RetryLater => {}
                Action::ReadOffer | Action::Map(_) => panic!("offerer asked for {a:?}"),
            }
        }
    }

    fn step(&mut self, u: &mut Unstructured) -> AResult<()> {
        let closed = matches!(self.m.state(), OffererState::Closed | OffererState::Failed);
        let out = match u.int_in_range(0..=11u8)? {
            0 => self.m.start(),
            1..=4 => {
                let near = self.last_offered;
                match u.int_in_range(0..=4u8)? {
                    0 => self.peer.insert("state", text(u, None)?),
                    4 => self.peer.insert("max-ring-pages", text(u, None)?),
                    1 => self.peer.insert("request", text(u, near)?),
                    2 => self
                        .peer
                        .remove(if u.arbitrary()? { "state" } else { "request" }),
                    _ => {
                        // A well-behaved acceptor's next move: a new request,
                        // or connecting to the offer it got.
                        let (n, s) = match near {
                            Some(n) if u.arbitrary()? => (n, "4"),
                            _ => (near.map_or(7, |n| n.wrapping_add(1)), "1"),
                        };
                        self.peer.insert("request", n.to_string());
                        self.peer.insert("state", s.into())
                    }
                };
                let (s, r) = (
                    self.peer.get("state").cloned(),
                    self.peer.get("request").cloned(),
                );
                // As the Corm reads them: max-ring-pages first.
                self.m
                    .peer_max_pages(self.peer.get("max-ring-pages").map(String::as_str));
                self.m.peer_changed(s.as_deref(), r.as_deref())
            }
            5 => {
                let k = self.allocated.get() as usize;
                let n = if u.ratio(7, 8)? {
                    2 * k
                } else {
                    u.int_in_range(0..=2 * k + 2)?
                };
                let refs: Vec<u32> = (0..n as u32).map(|i| 100 + i).collect();
                self.allocating = false;
                self.m.offer_ready(99, &refs, u.int_in_range(1..=200)?)
            }
            6 => self.m.torn_down(),
            7 => self.m.link_failed(),
            8 => self.m.retry(),
            9 => {
                self.allocating = false;
                self.m.local_error()
            }
            10 => self.m.shutdown(),
            _ => {
                self.peer.clear();
                self.m.peer_vanished()
            }
        };
        self.handle(out, closed);
        Ok(())
    }
}

/// The acceptor, its hostile offerer's keys, and what the harness saw.
struct AcceptorSide {
    m: Acceptor,
    peer: BTreeMap<String, String>,
    nonce: Option<u64>,
    mapping: Option<Offer>,
    mapped: Option<Offer>,
}

impl AcceptorSide {
    fn peer_key(&self, key: &str) -> String {
        format!("{}/{key}", self.m.peer_dir())
    }

    fn get(&self, key: &str) -> Option<String> {
        self.peer.get(&self.peer_key(key)).cloned()
    }

    fn handle(&mut self, out: Vec<Action>, closed: bool, from_read: bool) {
        if closed {
            assert!(out.is_empty(), "action after the end: {out:?}");
        }
        check_common(&wire_dir(B, WIRE), &out);
        for a in &out {
            match a {
                Action::WriteAll(kv) => {
                    let req = kv.iter().find(|(p, _)| p.ends_with("/request")).unwrap();
                    self.nonce = req.1.parse().ok();
                }
                Action::Map(o) => {
                    assert!(from_read, "Map outside offer_read");
                    assert!(self.mapping.is_none() && self.mapped.is_none(), "Map twice");
                    let parsed = Offer::parse(self.m.peer_dir(), |p| self.peer.get(p).cloned());
                    assert_eq!(
                        parsed.as_ref(),
                        Ok(o),
                        "Map of an offer that does not parse"
                    );
                    for (p, v) in o.entries(self.m.peer_dir()) {
                        assert_eq!(self.peer.get(&p), Some(&v), "{p} not canonical");
                    }
                    assert_eq!(Some(o.offer_for), self.nonce, "Map for another request");
                    self.mapping = Some(o.clone());
                }
                Action::Connect => {
                    assert!(self.mapped.is_some(), "Connect without a mapped offer");
                }
                Action::TearDown => {
                    self.mapping = None;
                    self.mapped = None;
                }
                Action::CreateDir { .. }
                | Action::Write { .. }
                | Action::ReadOffer
                | Action::RetryLater => {}
                Action::Allocate { .. } => panic!("acceptor asked for {a:?}"),
            }
        }
    }

    /// A plausible offer for the current request, then hostile edits.
    fn write_offer(&mut self, u: &mut Unstructured) -> AResult<()> {
        let k = 1u32 << u.int_in_range(0..=6u8)?;
        let o = Offer {
            pages: RingPages::new(k).unwrap(),
            control_ref: u.int_in_range(0..=20)?,
            data_refs: (0..2 * k).map(|i| 21 + i).collect(),
            event_channel: u.int_in_range(0..=10)?,
            offer_for: self.nonce.unwrap_or(0),
            offer_id: u.int_in_range(0..=3)?,
        };
        for (p, v) in o.entries(self.m.peer_dir()) {
            self.peer.insert(p, v);
        }
        self.peer.insert(self.peer_key("state"), "2".into());
        Ok(())
    }

    fn edit(&mut self, u: &mut Unstructured) -> AResult<()> {
        const KEYS: &[&str] = &[
            "state",
            "offer-for",
            "offer-id",
            "ring-pages",
            "control-ref",
            "data-refs",
            "event-channel",
        ];
        let key = KEYS[u.choose_index(KEYS.len())?];
        let p = self.peer_key(key);
        if u.ratio(1, 8)? {
            self.peer.remove(&p);
        } else if key == "data-refs" && u.arbitrary()? {
            // A near miss of the list: one ref replaced by a hostile text,
            // dropped, repeated, or its separator doubled.
            let list = self.peer.get(&p).cloned().unwrap_or_default();
            let mut refs: Vec<String> = list.split(' ').map(String::from).collect();
            let i = u.choose_index(refs.len())?;
            match u.int_in_range(0..=3u8)? {
                0 => refs[i] = text(u, None)?,
                1 => drop(refs.remove(i)),
                2 => refs.insert(i, refs[i].clone()),
                _ => refs[i].push(' '),
            }
            self.peer.insert(p, refs.join(" "));
        } else {
            let near = (key == "offer-for").then_some(self.nonce).flatten();
            self.peer.insert(p, text(u, near)?);
        }
        Ok(())
    }

    fn step(&mut self, u: &mut Unstructured) -> AResult<()> {
        let closed = self.m.state() == AcceptorState::Closed;
        let mut from_read = false;
        let out = match u.int_in_range(0..=11u8)? {
            0 => self.m.start(u.arbitrary()?),
            1 | 2 => {
                if u.arbitrary()? {
                    self.write_offer(u)?;
                } else {
                    self.edit(u)?;
                }
                let (s, f, i) = (
                    self.get("state"),
                    self.get("offer-for"),
                    self.get("offer-id"),
                );
                self.m
                    .peer_changed(s.as_deref(), f.as_deref(), i.as_deref())
            }
            3 => {
                // The store changes without a watch firing yet.
                self.edit(u)?;
                Vec::new()
            }
            4 | 5 => {
                from_read = true;
                let peer = self.peer.clone();
                self.m.offer_read(|p| peer.get(p).cloned())
            }
            6 => {
                if self.mapping.is_some() {
                    self.mapped = self.mapping.take();
                }
                self.m.mapped()
            }
            7 => {
                self.mapping = None;
                self.m.local_error()
            }
            8 => self.m.torn_down(),
            9 => self.m.retry(),
            10 => self.m.shutdown(),
            _ => {
                self.peer.clear();
                self.m.peer_vanished()
            }
        };
        self.handle(out, closed, from_read);
        Ok(())
    }
}

fn run(u: &mut Unstructured) -> AResult<()> {
    let pages = RingPages::new(1 << u.int_in_range(0..=6u8)?).unwrap();
    let mut a = OffererSide {
        m: Offerer::new(WIRE, A, B, pages, u.arbitrary()?),
        peer: BTreeMap::new(),
        allocating: false,
        allocated: pages,
        last_offered: None,
        offered: None,
        offer_ids: Vec::new(),
        pages,
    };
    let mut b = AcceptorSide {
        m: Acceptor::new(WIRE, B, A),
        peer: BTreeMap::new(),
        nonce: None,
        mapping: None,
        mapped: None,
    };
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        if u.arbitrary()? {
            a.step(u)?;
        } else {
            b.step(u)?;
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
