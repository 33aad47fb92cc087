//! Single-threaded ring behaviour: wrap-around, notification hold-off,
//! backpressure, closing, and hostile control pages.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use local_wire::{
    Corruption, HeapMemory, RecvError, RingPages, SendError, WireEnd, WireError, WireMemory,
};
use proptest::prelude::*;

// Offsets from the crate-doc table; using literals here checks that table.
const MAGIC_OFF: usize = 0;
const VERSION_OFF: usize = 4;
const PAGES_OFF: usize = 8;
const AB_PROD: usize = 64;
const AB_CONS_EVENT: usize = 68;
const A_CLOSED: usize = 72;
const AB_CONS: usize = 128;
const AB_PROD_EVENT: usize = 132;
const BA_PROD: usize = 192;
const BA_CONS: usize = 256;

fn word(mem: &HeapMemory, off: usize) -> &AtomicU32 {
    // SAFETY: `off` is a 4-aligned offset inside the live control page, and
    // every access to control words in this crate is atomic.
    unsafe { AtomicU32::from_ptr(mem.control().as_ptr().add(off).cast()) }
}

fn peek(mem: &HeapMemory, off: usize) -> u32 {
    word(mem, off).load(Ordering::SeqCst)
}

fn poke(mem: &HeapMemory, off: usize, v: u32) {
    word(mem, off).store(v, Ordering::SeqCst)
}

fn pair(k: u32, start: u32) -> (WireEnd<HeapMemory>, WireEnd<HeapMemory>, HeapMemory) {
    let mem = HeapMemory::new(RingPages::new(k).unwrap());
    let a = WireEnd::offer(mem.clone(), start).unwrap();
    let b = WireEnd::accept(mem.clone()).unwrap();
    (a, b, mem)
}

/// A record body: its first byte (the message kind) is never 0, which
/// would make it padding.
fn record(seed: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as usize * 31 + i * 7) as u8 | u8::from(i == 0))
        .collect()
}

/// The length of the next record, put back for `next` to hand out again.
fn peek_len(end: &mut WireEnd<HeapMemory>) -> Result<Option<usize>, RecvError> {
    let r = end.rx().next().map(|r| r.map(|r| r.len()));
    end.rx().rewind();
    r
}

#[test]
fn layout_words_as_documented() {
    let (_a, _b, mem) = pair(2, 77);
    assert_eq!(peek(&mem, MAGIC_OFF).to_le_bytes(), *b"BnLw");
    assert_eq!(peek(&mem, VERSION_OFF), 2);
    assert_eq!(peek(&mem, PAGES_OFF), 2);
    // Indices start on a record boundary (77 rounded down to 8).
    assert_eq!(peek(&mem, AB_PROD), 72);
    assert_eq!(peek(&mem, AB_CONS), 72);
    assert_eq!(peek(&mem, AB_PROD_EVENT), 73);
    assert_eq!(peek(&mem, BA_PROD), 72);
}

#[test]
fn records_cross_u32_wrap_and_ring_end() {
    for k in [1, 2, 4] {
        let (mut a, mut b, mem) = pair(k, u32::MAX - 9_000);
        let max = a.tx().max_record();
        let mut buf = vec![0u8; max];
        let mut seed = 0u32;
        // Lengths chosen so records straddle page and ring boundaries at
        // many different offsets, over several laps and past 2^32.
        for round in 0..400usize {
            let batch = 1 + round % 5;
            let mut sent = Vec::new();
            for j in 0..batch {
                let len = 1 + (round * 977 + j * 131) % (max / 3);
                let r = record(seed, len);
                match a.tx().send_record(&r) {
                    Ok(()) => {
                        sent.push(r);
                        seed += 1;
                    }
                    Err(SendError::Full) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            let _ = a.tx().flush();
            for r in &sent {
                let n = b.rx().recv_record(&mut buf).unwrap().unwrap();
                assert_eq!(&buf[..n], &r[..]);
            }
            assert_eq!(b.rx().recv_record(&mut buf), Ok(None));
            let _ = b.rx().rx_done();
        }
        assert!(
            peek(&mem, AB_PROD) < u32::MAX - 9_000,
            "index wrapped past 2^32"
        );
        let (ca, cb) = (a.counters(), b.counters());
        assert_eq!(ca.records_sent, cb.records_received);
        assert_eq!(ca.bytes_sent, cb.bytes_received);
        assert_eq!(ca.corrupt + cb.corrupt, 0);
    }
}

#[test]
fn largest_record_fits_and_larger_is_refused() {
    let (mut a, mut b, _mem) = pair(1, 0);
    let max = 4096 - 4;
    assert_eq!(a.tx().max_record(), max);
    assert_eq!(
        a.tx().send_record(&vec![1; max + 1]),
        Err(SendError::TooLarge { len: max + 1, max })
    );
    assert_eq!(
        a.tx().send_record(&[]),
        Err(SendError::TooLarge { len: 0, max })
    );
    a.tx().send_record(&record(3, max)).unwrap();
    assert_eq!(a.tx().send_record(&[1]), Err(SendError::Full));
    assert!(a.tx().flush());
    let mut buf = vec![0; max];
    assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(max)));
    assert_eq!(buf, record(3, max));
    let done = b.rx().rx_done();
    assert!(done.notify, "the full sender asked for a kick");
    assert!(!done.more);
    a.tx().send_record(&[1]).unwrap();
}

#[test]
fn a_record_never_wraps_the_tail_is_padding() {
    // 16 bytes before the ring's end: a 100-byte record goes to its start.
    let (mut a, mut b, mem) = pair(1, 4096 - 16);
    let slot = a.tx().reserve(100).unwrap();
    assert_eq!(a.tx().body_offset(&slot), 4, "the body starts the ring");
    a.tx().write(&slot, 0, &record(5, 100));
    a.tx().commit(slot, 100);
    assert_eq!(a.tx().unflushed(), 16 + 104);
    let _ = a.tx().flush();
    let rec = b.rx().next().unwrap().unwrap();
    assert_eq!((rec.len(), b.rx().body_offset(&rec)), (100, 4));
    let mut got = vec![0; 100];
    b.rx().read(&rec, 0, &mut got);
    assert_eq!(got, record(5, 100));
    b.rx().release(&rec);
    let _ = b.rx().rx_done();
    assert_eq!(peek(&mem, AB_CONS), 4096 + 104);
    // A record as large as the ring waits for the padding to drain first.
    let (mut a, mut b, _mem) = pair(1, 4096 - 16);
    assert_eq!(a.tx().send_record(&record(1, 4092)), Err(SendError::Full));
    assert!(a.tx().flush(), "the tail padding is published");
    assert_eq!(b.rx().next(), Ok(None), "padding only");
    assert!(b.rx().rx_done().notify, "its room reaches the sender");
    a.tx().send_record(&record(1, 4092)).unwrap();
}

#[test]
fn commit_shrinks_the_latest_reservation_and_pads_an_earlier_one() {
    let (mut a, mut b, _mem) = pair(1, 0);
    let first = a.tx().reserve(1000).unwrap();
    let second = a.tx().reserve(500).unwrap();
    a.tx().write(&first, 0, &record(1, 10));
    a.tx().write(&second, 0, &record(2, 20));
    a.tx().commit(first, 10); // not the latest: the rest becomes padding
    a.tx().commit(second, 20); // the latest: its room is given back
    assert_eq!(a.tx().unflushed(), 1008 + 24);
    let third = a.tx().reserve(64).unwrap();
    a.tx().cancel(third);
    assert_eq!(a.tx().unflushed(), 1008 + 24);
    // Reserved and never committed: published as padding, never seen.
    let _fourth = a.tx().reserve(64).unwrap();
    let _ = a.tx().flush();
    let mut buf = [0u8; 64];
    assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(10)));
    assert_eq!(&buf[..10], &record(1, 10)[..]);
    assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(20)));
    assert_eq!(b.rx().recv_record(&mut buf), Ok(None));
}

#[test]
fn records_in_hand_stay_in_the_ring_until_released() {
    let (mut a, mut b, mem) = pair(1, 0);
    for i in 0..3 {
        a.tx().send_record(&record(i, 50)).unwrap();
    }
    let _ = a.tx().flush();
    let r0 = b.rx().next().unwrap().unwrap();
    let r1 = b.rx().next().unwrap().unwrap();
    b.rx().release(&r0);
    let done = b.rx().rx_done();
    assert!(done.more, "r2 is still to be handed out");
    assert_eq!(peek(&mem, AB_CONS), 56);
    // Put r1 back: it comes out again, then r2.
    b.rx().rewind();
    assert_eq!(b.rx().next().unwrap(), Some(r1));
    let r2 = b.rx().next().unwrap().unwrap();
    assert_eq!(b.rx().next(), Ok(None));
    b.rx().release(&r0); // backwards: ignored
    b.rx().release(&r2);
    let _ = b.rx().rx_done();
    assert_eq!(peek(&mem, AB_CONS), 3 * 56);
}

#[test]
fn batched_notifications_follow_event_indices() {
    let (mut a, mut b, _mem) = pair(1, 0);
    let mut buf = [0u8; 64];
    a.tx().send_record(b"one").unwrap();
    a.tx().send_record(b"two").unwrap();
    assert!(a.tx().flush(), "consumer armed prod_event at start");
    assert!(!a.tx().flush(), "nothing new: no kick");
    a.tx().send_record(b"three").unwrap();
    assert!(!a.tx().flush(), "consumer has not re-armed: no kick");
    for _ in 0..3 {
        assert!(b.rx().recv_record(&mut buf).unwrap().is_some());
    }
    let done = b.rx().rx_done();
    assert!(!done.notify && !done.more);
    a.tx().send_record(b"four").unwrap();
    assert!(a.tx().flush(), "re-armed by rx_done");
    assert_eq!(a.counters().notifies, 2);
}

#[test]
fn final_check_sees_data_published_before_rearming() {
    let (mut a, mut b, _mem) = pair(1, 5);
    let mut buf = [0u8; 64];
    a.tx().send_record(b"x").unwrap();
    let _ = a.tx().flush();
    assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(1)));
    // The producer publishes while the consumer's prod_event is stale.
    a.tx().send_record(b"y").unwrap();
    assert!(!a.tx().flush());
    let done = b.rx().rx_done();
    assert!(done.more, "without this the consumer would sleep on data");
    assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(1)));
}

#[test]
fn full_sender_is_kicked_only_once_enough_is_free() {
    let start = u32::MAX - 4095;
    let (mut a, mut b, mem) = pair(1, start);
    for i in 0..4 {
        a.tx().send_record(&record(i, 1000)).unwrap();
    }
    // 4 x 1008 used, 64 free: the 64-byte tail becomes padding, and the
    // 3000-byte record (3008 with header and padding) then needs three
    // records consumed.
    assert_eq!(a.tx().send_record(&record(9, 3000)), Err(SendError::Full));
    assert_eq!(a.counters().full_events, 1);
    let mark = peek(&mem, AB_CONS_EVENT);
    assert_eq!(mark, start.wrapping_add(4096 + 3008 - 4096));
    let _ = a.tx().flush();
    let mut buf = vec![0; 4096];
    let mut kicks = Vec::new();
    for _ in 0..4 {
        b.rx().recv_record(&mut buf).unwrap().unwrap();
        kicks.push(b.rx().rx_done().notify);
    }
    assert_eq!(kicks, [false, false, true, false]);
    a.tx().send_record(&record(9, 3000)).unwrap();
}

#[test]
fn recv_buffer_too_small_keeps_the_record() {
    let (mut a, mut b, _mem) = pair(1, 0);
    a.tx().send_record(&record(1, 100)).unwrap();
    let _ = a.tx().flush();
    let mut small = [0u8; 99];
    assert_eq!(
        b.rx().recv_record(&mut small),
        Err(RecvError::BufferTooSmall { need: 100 })
    );
    assert_eq!(peek_len(&mut b), Ok(Some(100)));
    let mut buf = [0u8; 100];
    assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(100)));
    assert_eq!(buf.to_vec(), record(1, 100));
}

#[test]
fn close_drains_then_reports() {
    let (mut a, mut b, mem) = pair(1, 0);
    a.tx().send_record(b"last words").unwrap();
    assert!(a.close(), "close always asks for a kick");
    assert_ne!(peek(&mem, A_CLOSED), 0);
    assert!(b.peer_closed() && !a.peer_closed());
    let mut buf = [0u8; 16];
    assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(10)));
    let closed = Err(RecvError::Wire(WireError::PeerClosed));
    assert_eq!(b.rx().recv_record(&mut buf), closed);
    assert_eq!(
        b.tx().send_record(b"hello?"),
        Err(SendError::Wire(WireError::PeerClosed))
    );
    assert_eq!(
        a.tx().send_record(b"more"),
        Err(SendError::Wire(WireError::Closed))
    );
    assert_eq!(
        a.rx().recv_record(&mut buf),
        Err(RecvError::Wire(WireError::Closed))
    );
}

fn corrupt(c: Corruption) -> Result<Option<usize>, RecvError> {
    Err(RecvError::Wire(WireError::Corrupt(c)))
}

/// Found by the `ring_race` fuzz target: a producer that moved `prod` back
/// behind records the consumer had taken (but not released) made the
/// distance from the cursor wrap: the consumer went on handing out records
/// past `prod`, and a ring of padding would have been walked for 4 GiB.
#[test]
fn prod_moved_back_behind_the_cursor_is_corrupt() {
    let (mut a, mut b, mem) = pair(1, 64);
    for i in 0..3 {
        a.tx().send_record(&record(i, 4)).unwrap();
    }
    assert!(a.tx().flush());
    let first = b.rx().next().unwrap().unwrap();
    b.rx().next().unwrap().unwrap();
    // Back to just after the first record: at or ahead of `cons`, behind the cursor.
    poke(&mem, AB_PROD, 64 + 8);
    assert!(matches!(
        b.rx().next(),
        Err(RecvError::Wire(WireError::Corrupt(
            Corruption::ProdOverflow(_)
        )))
    ));
    b.rx().release(&first);
    assert!(b.rx().next().is_err(), "poisoned for good");
}

#[test]
fn hostile_indices_and_lengths_are_corrupt() {
    let mut buf = vec![0u8; 8192];
    // prod claims more than the ring.
    let (_a, mut b, mem) = pair(1, 96);
    poke(&mem, AB_PROD, 96 + 4104);
    assert!(matches!(
        b.rx().recv_record(&mut buf),
        Err(RecvError::Wire(WireError::Corrupt(
            Corruption::ProdOverflow(_)
        )))
    ));
    // Poisoned: stays corrupt even after the index is repaired.
    poke(&mem, AB_PROD, 96);
    assert!(b.rx().recv_record(&mut buf).is_err());
    assert_eq!(b.counters().corrupt, 1);
    assert!(b.error().is_some());

    // prod behind cons.
    let (_a, mut b, mem) = pair(1, 96);
    poke(&mem, AB_PROD, 95);
    assert!(b.rx().recv_record(&mut buf).is_err());

    // Fewer bytes than a record.
    let (_a, mut b, mem) = pair(1, 0);
    poke(&mem, AB_PROD, 3);
    assert_eq!(
        b.rx().recv_record(&mut buf),
        corrupt(Corruption::HeaderTruncated { available: 3 })
    );

    // A length beyond the ring, and one beyond what was published.
    for (len, published, want) in [
        (
            u32::MAX,
            8,
            Corruption::RecordTooLong {
                len: u32::MAX,
                max: 4092,
            },
        ),
        (
            4093,
            8,
            Corruption::RecordTooLong {
                len: 4093,
                max: 4092,
            },
        ),
        (0, 8, Corruption::RecordTooLong { len: 0, max: 4092 }),
        (
            5,
            8,
            Corruption::RecordTruncated {
                len: 5,
                available: 4,
            },
        ),
        (4, 12, Corruption::HeaderTruncated { available: 12 }),
    ] {
        let (mut a, mut b, mem) = pair(1, 0);
        a.tx().send_record(&[1; 4]).unwrap();
        let _ = a.tx().flush();
        let page = mem.data(local_wire::Direction::AtoB).as_ptr();
        // SAFETY: the data page is live and nothing else touches it now.
        unsafe { page.cast::<[u8; 4]>().write_volatile(len.to_le_bytes()) };
        poke(&mem, AB_PROD, published);
        assert_eq!(b.rx().recv_record(&mut buf), corrupt(want));
        assert_eq!(peek_len(&mut b), corrupt(want));
    }

    // A record running past the ring's end (producers pad instead).
    let (_a, mut b, mem) = pair(1, 4096 - 8);
    let page = mem.data(local_wire::Direction::AtoB).as_ptr();
    // SAFETY: as above; offset 4088 + 8 is inside the page.
    unsafe {
        page.add(4088)
            .cast::<[u8; 4]>()
            .write_volatile(20u32.to_le_bytes())
    };
    poke(&mem, AB_PROD, 4096 - 8 + 32);
    assert_eq!(
        b.rx().recv_record(&mut buf),
        corrupt(Corruption::RecordWraps { len: 20 })
    );

    // The consumer claims to have consumed what was never published.
    let (mut a, _b, mem) = pair(1, 0);
    a.tx().send_record(b"abc").unwrap();
    poke(&mem, AB_CONS, 8);
    assert!(matches!(
        a.tx().send_record(b"d"),
        Err(SendError::Wire(WireError::Corrupt(
            Corruption::ConsOverflow(_)
        )))
    ));
    assert!(!a.tx().flush(), "a poisoned producer publishes nothing");

    // Garbage magic seen while idle.
    let (_a, mut b, mem) = pair(1, 0);
    poke(&mem, MAGIC_OFF, 0);
    assert_eq!(
        b.rx().recv_record(&mut buf),
        corrupt(Corruption::BadMagic(0))
    );
}

#[test]
fn accept_refuses_bad_control_pages() {
    let cases: [(usize, u32, Corruption); 4] = [
        (MAGIC_OFF, 0x1234, Corruption::BadMagic(0x1234)),
        (VERSION_OFF, 1, Corruption::BadVersion(1)),
        (
            PAGES_OFF,
            4,
            Corruption::PagesMismatch {
                found: 4,
                mapped: 2,
            },
        ),
        (BA_PROD, 9, Corruption::NotFresh),
    ];
    for (off, v, want) in cases {
        let mem = HeapMemory::new(RingPages::new(2).unwrap());
        let _a = WireEnd::offer(mem.clone(), 0).unwrap();
        poke(&mem, off, v);
        assert_eq!(WireEnd::accept(mem).err(), Some(WireError::Corrupt(want)));
    }
    let mem = HeapMemory::new(RingPages::ONE);
    let _a = WireEnd::offer(mem.clone(), 0).unwrap();
    poke(&mem, AB_PROD, 5000);
    assert!(matches!(
        WireEnd::accept(mem).err(),
        Some(WireError::Corrupt(Corruption::ProdOverflow(_)))
    ));
    // An all-zero (never offered) page.
    let mem = HeapMemory::new(RingPages::ONE);
    assert_eq!(
        WireEnd::accept(mem).err(),
        Some(WireError::Corrupt(Corruption::BadMagic(0)))
    );
}

/// Drives every operation of one end a bounded number of times; returns
/// how many records it received.
fn exercise(end: &mut WireEnd<HeapMemory>, sends: &[u16]) -> usize {
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    // Each record takes at least 8 bytes, so a ring of K pages can yield
    // at most K*512 records before it must report empty or an error.
    let bound = end.pages().get() as usize * 512 + 1;
    for _ in 0..=bound {
        match end.rx().recv_record(&mut buf) {
            Ok(Some(_)) => got += 1,
            Ok(None) | Err(_) => return got + finish(end, sends),
        }
    }
    panic!("recv_record did not terminate within {bound} calls");
}

fn finish(end: &mut WireEnd<HeapMemory>, sends: &[u16]) -> usize {
    let _ = peek_len(end);
    let _ = end.rx().rx_done();
    for &len in sends {
        let _ = end.tx().send_record(&vec![0xa5; len as usize]);
    }
    let _ = end.tx().flush();
    let _ = end.counters();
    let _ = end.close();
    0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the peer writes into the control page and the data, no
    /// operation panics or loops.
    #[test]
    fn random_control_pages_never_panic(
        k_shift in 0u32..3,
        words in proptest::collection::vec((0usize..1024, any::<u32>()), 0..24),
        hot in proptest::collection::vec((0usize..10, any::<u32>()), 0..10),
        data in proptest::collection::vec(any::<u8>(), 0..256),
        sends in proptest::collection::vec(0u16..9000, 0..6),
    ) {
        let k = RingPages::new(1 << k_shift).unwrap();
        let mem = HeapMemory::new(k);
        let mut a = WireEnd::offer(mem.clone(), 0).unwrap();
        let hot_offs = [AB_PROD, AB_CONS, AB_PROD_EVENT, AB_CONS_EVENT, A_CLOSED,
                        BA_PROD, BA_CONS, MAGIC_OFF, VERSION_OFF, PAGES_OFF];
        let nearby = |v: u32| v % 8192;
        for (i, v) in hot {
            poke(&mem, hot_offs[i], if v & 1 == 0 { nearby(v) } else { v });
        }
        for (w, v) in words {
            poke(&mem, w * 4, v);
        }
        let page = mem.data(local_wire::Direction::AtoB).as_ptr();
        for (i, b) in data.iter().enumerate() {
            // SAFETY: i < 256 < PAGE_SIZE, the page is live, single thread.
            unsafe { page.add(i).write_volatile(*b) };
        }
        if let Ok(mut b) = WireEnd::accept(mem.clone()) {
            exercise(&mut b, &sends);
        }
        exercise(&mut a, &sends);
    }
}

/// Memory that runs `hook` just before its `at`-th control-word access, to
/// put the peer's whole step between any two of our shared accesses.
struct Hooked {
    inner: HeapMemory,
    calls: Cell<usize>,
    at: usize,
    hook: RefCell<Option<Box<dyn FnOnce()>>>,
}

// SAFETY: every pointer comes unchanged from `inner`, which upholds the
// contract; the hook never touches `Hooked` itself.
unsafe impl WireMemory for Hooked {
    fn control(&self) -> std::ptr::NonNull<u8> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        if n == self.at {
            let hook = self.hook.borrow_mut().take();
            if let Some(hook) = hook {
                hook();
            }
        }
        self.inner.control()
    }

    fn data(&self, dir: local_wire::Direction) -> std::ptr::NonNull<u8> {
        self.inner.data(dir)
    }

    fn pages_per_dir(&self) -> usize {
        self.inner.pages_per_dir()
    }
}

/// Counting starts when the test resets `calls` to 0.
fn hooked(inner: &HeapMemory, at: usize, hook: impl FnOnce() + 'static) -> Hooked {
    Hooked {
        inner: inner.clone(),
        calls: Cell::new(usize::MAX / 2),
        at,
        hook: RefCell::new(Some(Box::new(hook))),
    }
}

/// A sender that finds the ring full must either get the space or be
/// promised a kick, whichever of its shared accesses the consumer's whole
/// receive step lands between (the exhaustive form of the final check).
#[test]
fn full_sender_never_misses_space_at_any_interleaving() {
    let mut fired = 0;
    for at in 0..24 {
        let mem = HeapMemory::new(RingPages::ONE);
        let kicked = Rc::new(Cell::new(None));
        let (k2, peer) = (kicked.clone(), mem.clone());
        let hook = move || {
            let mut b = WireEnd::accept(peer).unwrap();
            let mut buf = vec![0; 4096];
            while let Ok(Some(_)) = b.rx().recv_record(&mut buf) {}
            k2.set(Some(b.rx().rx_done().notify));
        };
        let mut a = WireEnd::offer(hooked(&mem, at, hook), u32::MAX - 2).unwrap();
        for i in 0..4 {
            a.tx().send_record(&record(i, 1000)).unwrap();
        }
        let _ = a.tx().flush();
        a.memory().calls.set(0);
        let r = a.tx().send_record(&record(9, 2000));
        match (r, kicked.get()) {
            (Ok(()), Some(_)) => fired += 1,
            (Ok(()), None) => panic!("at {at}: space appeared without the consumer"),
            (Err(SendError::Full), Some(true)) => fired += 1,
            (Err(SendError::Full), None) => {}
            (r, k) => panic!("at {at}: {r:?} with consumer kick {k:?}: lost wake-up"),
        }
    }
    assert!(
        fired >= 4,
        "the hook landed inside send_record {fired} times"
    );
}

/// A receiver that re-arms and then sleeps must either see the new data
/// (`more`) or be promised a kick by the producer's flush, wherever the
/// producer's whole send step lands inside `rx_done`.
#[test]
fn idle_receiver_never_misses_data_at_any_interleaving() {
    let mut fired = 0;
    for at in 0..24 {
        let mem = HeapMemory::new(RingPages::ONE);
        let mut a = WireEnd::offer(mem.clone(), 3).unwrap();
        a.tx().send_record(b"first").unwrap();
        let _ = a.tx().flush();
        let kicked = Rc::new(Cell::new(None));
        let k2 = kicked.clone();
        let hook = move || {
            a.tx().send_record(b"second").unwrap();
            k2.set(Some(a.tx().flush()));
        };
        let mut b = WireEnd::accept(hooked(&mem, at, hook)).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.rx().recv_record(&mut buf), Ok(Some(5)));
        b.memory().calls.set(0);
        let done = b.rx().rx_done();
        match kicked.get() {
            None => {}
            Some(kick) => {
                fired += 1;
                assert!(done.more || kick, "at {at}: asleep with data and no kick");
            }
        }
    }
    assert!(fired >= 4, "the hook landed inside rx_done {fired} times");
}
