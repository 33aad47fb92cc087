extern crate std;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::abi::PAGE_SIZE;
use crate::shared_page::{HeapPage, SharedPage};

fn table(pages: usize) -> (Vec<HeapPage>, CounterTable<HeapPage>) {
    let p: Vec<HeapPage> = (0..pages).map(|_| HeapPage::new()).collect();
    let t = CounterTable::new(p.clone()).unwrap();
    (p, t)
}

fn image(pages: &[HeapPage]) -> Vec<u8> {
    let ptrs: Vec<*const u8> = pages
        .iter()
        .map(|p| p.base().as_ptr().cast_const())
        .collect();
    // SAFETY: the pages live for the test and are only written through atomics.
    unsafe { copy_consistent(&ptrs, READ_TRIES) }.unwrap()
}

fn names(s: &Snapshot) -> Vec<(&str, u64)> {
    s.counters
        .iter()
        .map(|c| (c.name.as_str(), c.value))
        .collect()
}

fn put32(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn layout_constants() {
    assert_eq!(ENTRIES_PER_PAGE, 63);
    assert_eq!(NAME_LEN, 56);
    assert_eq!(MAX_COUNTERS, 2016);
    assert_eq!(entry_offset(62) + ENTRY_LEN, PAGE_SIZE);
    assert_eq!(&MAGIC.to_le_bytes(), b"BNCP");
}

#[test]
fn a_fresh_table_has_the_documented_header() {
    let (p, _t) = table(2);
    let img = image(&p);
    let page1 = &img[PAGE_SIZE..];
    assert_eq!(&img[0..4], b"BNCP");
    let h = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    for (i, b) in [&img[..PAGE_SIZE], page1].into_iter().enumerate() {
        assert_eq!(h(b, offset::VERSION), 1);
        assert_eq!(h(b, offset::PAGE), i as u32);
        assert_eq!(h(b, offset::PAGES), 2);
        assert_eq!(h(b, offset::CAPACITY), 63);
        assert_eq!(h(b, offset::USED), 0);
        assert_eq!(h(b, offset::ENTRY_LEN), 64);
        assert_eq!(h(b, offset::NAME_LEN), 56);
        assert!(b[40..].iter().all(|&x| x == 0));
    }
    let s = parse(&img).unwrap();
    assert_eq!((s.seq, s.pages, s.counters.len()), (0, 2, 0));
}

#[test]
fn register_set_and_read_back() {
    let (p, mut t) = table(1);
    let a = t.register("vif/5/0/rx_packets").unwrap();
    let b = t.register("wire/1/tx-frames").unwrap();
    assert_eq!(t.seq(), 4, "each registration is one name change");
    t.set(a, 47);
    t.set(b, u64::MAX);
    t.add(a, 3);
    assert_eq!(t.seq(), 4, "values do not touch seq");
    let s = snapshot(&p, READ_TRIES).unwrap();
    assert_eq!(
        names(&s),
        [("vif/5/0/rx_packets", 50), ("wire/1/tx-frames", u64::MAX)]
    );
    assert_eq!(s.seq, 4);
    assert_eq!(t.get(a), Some(50));
    assert_eq!(t.id("wire/1/tx-frames"), Some(b));
    assert_eq!(t.name(b), Some("wire/1/tx-frames"));
    assert_eq!(t.iter().collect::<Vec<_>>(), names(&s));
    // The entry bytes are the documented ones.
    let img = image(&p);
    let e = entry_offset(0);
    assert_eq!(&img[e..e + 8], &50u64.to_le_bytes());
    assert_eq!(&img[e + 8..e + 8 + 18], b"vif/5/0/rx_packets");
    assert!(img[e + 8 + 18..e + 64].iter().all(|&x| x == 0));
}

#[test]
fn refusals_are_typed_and_write_nothing() {
    let (p, mut t) = table(1);
    t.register("a").unwrap();
    let before = image(&p);
    let long = "x".repeat(57);
    for bad in [
        "",
        "/a",
        "a/",
        "a//b",
        "sp ace",
        "nul\0",
        "é",
        long.as_str(),
    ] {
        assert_eq!(t.register(bad), Err(CounterError::BadName(bad.to_string())));
    }
    assert!(t.register(&"x".repeat(56)).is_ok());
    assert_eq!(
        t.register("a"),
        Err(CounterError::Duplicate("a".to_string()))
    );
    assert_eq!(
        t.register_group("g", &["x", "x"]),
        Err(CounterError::Duplicate("g/x".to_string()))
    );
    // Only the 56-byte name went in; once it is gone the entries are as before.
    t.unregister(t.id(&"x".repeat(56)).unwrap());
    let after = image(&p);
    assert_eq!(after[HEADER_LEN..], before[HEADER_LEN..]);
    assert!(matches!(
        CounterTable::new(Vec::<HeapPage>::new()),
        Err(CounterError::PageCount(0))
    ));
    let many: Vec<HeapPage> = (0..33).map(|_| HeapPage::new()).collect();
    assert!(matches!(
        CounterTable::new(many),
        Err(CounterError::PageCount(33))
    ));
}

#[test]
fn a_full_table_refuses_new_names_and_groups_are_all_or_nothing() {
    let (p, mut t) = table(1);
    let names: Vec<String> = (0..62).map(|i| format!("c/{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let g = t.register_group("", &refs).unwrap();
    assert_eq!(g.len(), 62);
    let seq = t.seq();
    assert_eq!(
        t.register_group("more", &["a", "b"]),
        Err(CounterError::Full {
            needed: 2,
            capacity: 63
        })
    );
    assert_eq!(t.seq(), seq, "a refused group changed nothing");
    assert_eq!(t.len(), 62);
    let last = t.register("last").unwrap();
    assert!(matches!(t.register("over"), Err(CounterError::Full { .. })));
    assert_eq!(snapshot(&p, READ_TRIES).unwrap().counters.len(), 63);
    assert!(t.unregister(last));
    assert!(t.register("over").is_ok());
}

#[test]
fn counters_spill_into_later_pages() {
    let (p, mut t) = table(2);
    assert_eq!(t.capacity(), 126);
    let names: Vec<String> = (0..70).map(|i| format!("fill/{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let g = t.register_group("selftest", &refs).unwrap();
    t.set_group(&g, 0..);
    let s = snapshot(&p, READ_TRIES).unwrap();
    assert_eq!(s.counters.len(), 70);
    assert_eq!(s.counters[69].name, "selftest/fill/69");
    assert_eq!(s.counters[69].value, 69);
    let img = image(&p);
    let used = |page: usize| {
        u32::from_le_bytes(
            img[page * PAGE_SIZE + offset::USED..][..4]
                .try_into()
                .unwrap(),
        )
    };
    assert_eq!((used(0), used(1)), (63, 7));
}

#[test]
fn unregistering_frees_slots_and_stale_ids_write_nothing() {
    let (p, mut t) = table(1);
    let a = t.register("a").unwrap();
    let b = t.register("b").unwrap();
    t.set(b, 9);
    assert!(t.unregister(b));
    assert!(!t.unregister(b));
    let c = t.register("c").unwrap();
    assert_ne!(b, c, "same slot, new generation");
    t.set(b, 1234);
    assert_eq!(t.stale_sets(), 1);
    assert_eq!(t.get(b), None);
    t.set(a, 1);
    let s = snapshot(&p, READ_TRIES).unwrap();
    assert_eq!(names(&s), [("a", 1), ("c", 0)]);
    assert!(t.unregister(c));
    assert!(t.unregister(a));
    let img = image(&p);
    assert_eq!(
        &img[offset::USED..offset::USED + 4],
        &[0; 4],
        "used shrinks"
    );
    assert!(img[HEADER_LEN..].iter().all(|&x| x == 0), "entries cleared");
}

#[test]
fn unregister_prefix_takes_a_subtree_only() {
    let (p, mut t) = table(1);
    let names = ["rx_packets", "tx_packets"];
    t.register_group("vif/5/0", &names).unwrap();
    let keep = t.register_group("vif/5/01", &names).unwrap();
    t.register("vif/5/0").unwrap();
    t.register("vif/5/0x").unwrap();
    let seq = t.seq();
    assert_eq!(t.unregister_prefix("vif/5/0/"), 3);
    assert_eq!(t.seq(), seq + 2, "one name change");
    let s = snapshot(&p, READ_TRIES).unwrap();
    assert_eq!(
        names_of(&s),
        ["vif/5/01/rx_packets", "vif/5/01/tx_packets", "vif/5/0x"]
    );
    assert_eq!(t.unregister_group(keep), 2);
    assert_eq!(t.unregister_prefix("nothing"), 0);
}

fn names_of(s: &Snapshot) -> Vec<&str> {
    s.counters.iter().map(|c| c.name.as_str()).collect()
}

#[test]
fn a_reader_never_takes_a_copy_made_during_a_name_change() {
    let (p, mut t) = table(1);
    t.register("a").unwrap();
    t.begin_change();
    assert_eq!(
        snapshot(&p, 5),
        Err(ReadError::Unstable { tries: 5, seq: 3 })
    );
    t.end_change();
    assert_eq!(snapshot(&p, 5).unwrap().seq, 4);
}

// ---- hostile pages ---------------------------------------------------------

fn valid_image() -> Vec<u8> {
    let (p, mut t) = table(2);
    let a = t.register("a/b").unwrap();
    t.set(a, 7);
    image(&p)
}

#[test]
fn hostile_headers_are_refused_with_the_reason() {
    let check = |f: &dyn Fn(&mut Vec<u8>), want: ReadError| {
        let mut img = valid_image();
        f(&mut img);
        assert_eq!(parse(&img), Err(want));
    };
    check(
        &|i| put32(i, PAGE_SIZE, 0),
        ReadError::BadMagic { page: 1, found: 0 },
    );
    check(
        &|i| put32(i, offset::VERSION, 2),
        ReadError::Version { page: 0, found: 2 },
    );
    check(
        &|i| put32(i, offset::CAPACITY, 64),
        ReadError::Layout {
            page: 0,
            field: "capacity",
            found: 64,
            expected: 63,
        },
    );
    check(
        &|i| put32(i, offset::NAME_LEN, 1000),
        ReadError::Layout {
            page: 0,
            field: "name_len",
            found: 1000,
            expected: 56,
        },
    );
    check(
        &|i| put32(i, PAGE_SIZE + offset::PAGE, 0),
        ReadError::PageIndex {
            page: 1,
            index: 0,
            pages: 2,
            expected: 2,
        },
    );
    check(
        &|i| put32(i, offset::USED, 64),
        ReadError::Used { page: 0, used: 64 },
    );
    check(
        &|i| put32(i, offset::USED, u32::MAX),
        ReadError::Used {
            page: 0,
            used: u32::MAX,
        },
    );
    check(&|i| i[offset::SEQ] = 5, ReadError::Changing(5));
    let name = entry_offset(0) + offset::ENTRY_NAME;
    for bad in [b'\n', b' ', 0x7f, 0xc3] {
        check(
            &|i| i[name + 1] = bad,
            ReadError::BadName { page: 0, entry: 0 },
        );
    }
    check(
        &|i| i[name + 10] = b'x',
        ReadError::BadName { page: 0, entry: 0 },
    );
    // A second "a/b" in entry 1 (used raised to cover it).
    check(
        &|i| {
            let e = entry_offset(1) + offset::ENTRY_NAME;
            i[e..e + 3].copy_from_slice(b"a/b");
            put32(i, offset::USED, 2);
        },
        ReadError::Duplicate("a/b".to_string()),
    );
    assert_eq!(parse(&[]), Err(ReadError::ImageSize(0)));
    assert_eq!(parse(&[0; 100]), Err(ReadError::ImageSize(100)));
    assert_eq!(
        parse(&vec![0; 33 * PAGE_SIZE]),
        Err(ReadError::PageCount(33))
    );
    // A page image given as the wrong number of pages.
    assert!(matches!(
        parse(&valid_image()[..PAGE_SIZE]),
        Err(ReadError::PageIndex { page: 0, .. })
    ));
    // An empty slot below `used` is skipped; names may use any printable ASCII.
    let mut img = valid_image();
    let e = entry_offset(2) + offset::ENTRY_NAME;
    img[e..e + 4].copy_from_slice(b"!~#$");
    put32(&mut img, offset::USED, 3);
    assert_eq!(names_of(&parse(&img).unwrap()), ["a/b", "!~#$"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Junk never panics the parser.
    #[test]
    fn parse_survives_junk(junk in proptest::collection::vec(any::<u8>(), 0..3 * PAGE_SIZE)) {
        let _ = parse(&junk);
    }

    /// Nor does a valid image with some bytes changed; whatever it accepts
    /// has only printable, unique names.
    #[test]
    fn parse_survives_mutations(edits in proptest::collection::vec((0..2 * PAGE_SIZE, any::<u8>()), 1..16)) {
        let mut img = valid_image();
        for (at, b) in edits {
            img[at] = b;
        }
        if let Ok(s) = parse(&img) {
            let mut seen = BTreeSet::new();
            for c in &s.counters {
                prop_assert!(c.name.bytes().all(|b| (0x21..=0x7e).contains(&b)));
                prop_assert!(seen.insert(c.name.clone()));
            }
        }
    }
}

// ---- torn reads --------------------------------------------------------------

/// A writer step: on counter `k` (named `t/<k>`), whose values carry `k + 1`
/// in their upper half so a reader can tell whose value it holds.
#[derive(Clone, Debug)]
enum Op {
    Register(u16),
    Unregister(u16),
    Set(u16, u32),
    Group(u16, u16),
    DropPrefix,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..140u16).prop_map(Op::Register),
        2 => (0..140u16).prop_map(Op::Unregister),
        4 => (0..140u16, any::<u32>()).prop_map(|(k, v)| Op::Set(k, v)),
        1 => (0..140u16, 1..20u16).prop_map(|(k, n)| Op::Group(k, n)),
        1 => Just(Op::DropPrefix),
    ]
}

fn name(k: u16) -> String {
    format!("t/{k}")
}

fn apply(t: &mut CounterTable<HeapPage>, op: &Op) {
    match *op {
        Op::Register(k) => {
            let _ = t.register(&name(k));
        }
        Op::Unregister(k) => {
            if let Some(id) = t.id(&name(k)) {
                t.unregister(id);
            }
        }
        Op::Set(k, v) => {
            if let Some(id) = t.id(&name(k)) {
                t.set(id, (k as u64 + 1) << 32 | v as u64);
            }
        }
        Op::Group(k, n) => {
            let names: Vec<String> = (k..k + n).map(|i| i.to_string()).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let _ = t.register_group("t", &refs);
        }
        Op::DropPrefix => {
            t.unregister_prefix("t");
        }
    }
}

/// The reader's invariant: the names are exactly those registered at the
/// copy's `seq`, and each value is 0 or one that was set for that name.
fn consistent(s: &Snapshot, history: &BTreeMap<u64, BTreeSet<String>>) -> Result<(), String> {
    let want = history
        .get(&s.seq)
        .ok_or(format!("seq {} never existed", s.seq))?;
    let got: BTreeSet<String> = s.counters.iter().map(|c| c.name.clone()).collect();
    if &got != want {
        return Err(format!("seq {}: names {got:?}, writer had {want:?}", s.seq));
    }
    for c in &s.counters {
        let k: u64 = c.name[2..].parse().map_err(|_| c.name.clone())?;
        if c.value != 0 && c.value >> 32 != k + 1 {
            return Err(format!(
                "{} holds {:#x}, another counter's value",
                c.name, c.value
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Writer steps land between any two of the reader's word loads (and
    /// before and after its sequence loads): every copy the reader accepts
    /// is a table the writer really had, with no value under a wrong name.
    #[test]
    fn a_reader_never_sees_a_torn_table(
        setup in proptest::collection::vec(op(), 0..40),
        during in proptest::collection::vec((0..2 * WORDS + 4, op()), 0..12),
    ) {
        let (p, mut t) = table(2);
        let mut history = BTreeMap::new();
        let record = |t: &CounterTable<HeapPage>, h: &mut BTreeMap<u64, BTreeSet<String>>| {
            if t.seq().is_multiple_of(2) {
                h.insert(t.seq(), t.iter().map(|(n, _)| n.to_string()).collect());
            }
        };
        record(&t, &mut history);
        for o in &setup {
            apply(&mut t, o);
            record(&t, &mut history);
        }
        let mut step = 0;
        let copy = copy_with(2, 4, |page, w| {
            for (_, o) in during.iter().filter(|(at, _)| *at == step) {
                apply(&mut t, o);
                record(&t, &mut history);
            }
            step += 1;
            let ptr = p[page].base().as_ptr();
            // SAFETY: a word of a live test page, only accessed atomically.
            unsafe { core::sync::atomic::AtomicU64::from_ptr(ptr.add(w * 8).cast()) }
                .load(core::sync::atomic::Ordering::Relaxed)
        });
        match copy {
            Ok(img) => {
                let s = parse(&img).map_err(|e| TestCaseError::fail(e.to_string()))?;
                consistent(&s, &history).map_err(TestCaseError::fail)?;
            }
            Err(ReadError::Unstable { .. }) => {}
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        }
    }
}

/// The same with a real concurrent writer thread (on x86 this exercises the
/// compiler's side of the fences; the hardware is TSO).
#[test]
fn concurrent_reader_and_writer() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let (p, mut t) = table(2);
    let history = Arc::new(Mutex::new(BTreeMap::new()));
    history.lock().unwrap().insert(0u64, BTreeSet::new());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (history, stop) = (history.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            while !stop.load(Ordering::Relaxed) {
                let r = next();
                let k = (r % 140) as u16;
                let o = match r >> 60 {
                    0..=3 => Op::Register(k),
                    4..=6 => Op::Unregister(k),
                    7 => Op::Group(k, (r >> 20) as u16 % 20 + 1),
                    8 => Op::DropPrefix,
                    _ => Op::Set(k, (r >> 8) as u32),
                };
                // Record the names before the change becomes visible as even.
                let mut h = history.lock().unwrap();
                apply(&mut t, &o);
                if t.seq().is_multiple_of(2) {
                    h.insert(t.seq(), t.iter().map(|(n, _)| n.to_string()).collect());
                }
            }
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(400);
    let mut taken = 0;
    while std::time::Instant::now() < deadline {
        match snapshot(&p, READ_TRIES) {
            Ok(s) => {
                // The writer may still hold the lock on the history entry of this seq.
                let h = history.lock().unwrap();
                consistent(&s, &h).unwrap();
                taken += 1;
            }
            Err(ReadError::Unstable { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(taken > 10, "only {taken} snapshots");
}
