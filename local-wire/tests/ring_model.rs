//! The ring's in-place API against a model: any interleaving of
//! reservations (committed whole, shrunk, or cancelled), publications,
//! takes, releases and rewinds delivers exactly the committed records, in
//! order, with their bytes, and never reports corruption.

use std::collections::VecDeque;

use local_wire::{HeapMemory, RingPages, SendError, Slot, WireEnd};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Reserve `len`, fill it, then commit `keep` of it (0: cancel).
    Send {
        len: usize,
        keep: usize,
    },
    /// Reserve two, commit the second first (the first becomes shorter).
    Pair {
        a: usize,
        b: usize,
    },
    Flush,
    /// Take up to `n` records; release the first `release` of them.
    Take {
        n: usize,
        release: usize,
    },
    Rewind,
    RxDone,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..2500, 0usize..2600).prop_map(|(len, keep)| Op::Send { len, keep }),
        1 => (1usize..1500, 1usize..1500).prop_map(|(a, b)| Op::Pair { a, b }),
        3 => Just(Op::Flush),
        4 => (1usize..6, 0usize..6).prop_map(|(n, release)| Op::Take { n, release }),
        1 => Just(Op::Rewind),
        2 => Just(Op::RxDone),
    ]
}

fn body(seq: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            if i == 0 {
                0x80 | (seq as u8 & 0x7f)
            } else {
                (seq as usize * 7 + i) as u8
            }
        })
        .collect()
}

fn fill(a: &mut WireEnd<HeapMemory>, slot: &Slot, data: &[u8]) {
    a.tx().write(slot, 0, data);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn committed_records_arrive_in_order_with_their_bytes(
        k in 0u32..3,
        start in prop_oneof![Just(0u32), Just(u32::MAX - 4095), any::<u32>()],
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mem = HeapMemory::new(RingPages::new(1 << k).unwrap());
        let mut a = WireEnd::offer(mem.clone(), start).unwrap();
        let mut b = WireEnd::accept(mem).unwrap();
        // Committed and published / committed, not yet published.
        let mut published: VecDeque<Vec<u8>> = VecDeque::new();
        let mut unpublished: Vec<Vec<u8>> = Vec::new();
        // Taken by the consumer but not released (come back on rewind).
        let mut held: VecDeque<Vec<u8>> = VecDeque::new();
        let mut seq = 0u32;
        for op in ops {
            match op {
                Op::Send { len, keep } => {
                    match a.tx().reserve(len) {
                        Ok(slot) => {
                            seq += 1;
                            let data = body(seq, len);
                            fill(&mut a, &slot, &data);
                            let keep = keep.min(len);
                            if keep == 0 {
                                a.tx().cancel(slot);
                            } else {
                                a.tx().commit(slot, keep);
                                unpublished.push(data[..keep].to_vec());
                            }
                        }
                        Err(SendError::Full) => {}
                        Err(e) => prop_assert!(false, "reserve: {e}"),
                    }
                }
                Op::Pair { a: la, b: lb } => {
                    let s1 = match a.tx().reserve(la) {
                        Ok(s) => s,
                        Err(SendError::Full) => continue,
                        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                    };
                    seq += 1;
                    let d1 = body(seq, la);
                    fill(&mut a, &s1, &d1);
                    match a.tx().reserve(lb) {
                        Ok(s2) => {
                            seq += 1;
                            let d2 = body(seq, lb);
                            fill(&mut a, &s2, &d2);
                            let keep1 = la.div_ceil(2);
                            a.tx().commit(s1, keep1);
                            a.tx().commit(s2, lb);
                            unpublished.push(d1[..keep1].to_vec());
                            unpublished.push(d2);
                        }
                        Err(_) => {
                            a.tx().commit(s1, la);
                            unpublished.push(d1);
                        }
                    }
                }
                Op::Flush => {
                    let _ = a.tx().flush();
                    published.extend(unpublished.drain(..));
                }
                Op::Take { n, release } => {
                    let mut taken = Vec::new();
                    for _ in 0..n {
                        match b.rx().next() {
                            Ok(Some(rec)) => {
                                let mut got = vec![0u8; rec.len()];
                                b.rx().read(&rec, 0, &mut got);
                                let want = published.pop_front();
                                prop_assert_eq!(Some(&got), want.as_ref());
                                held.push_back(got);
                                taken.push(rec);
                            }
                            Ok(None) => break,
                            Err(e) => prop_assert!(false, "next: {e}"),
                        }
                    }
                    let r = release.min(taken.len());
                    if r > 0 {
                        b.rx().release(&taken[r - 1]);
                        // Everything held up to it is released.
                        let total = held.len() - (taken.len() - r);
                        held.drain(..total);
                    }
                }
                Op::Rewind => {
                    b.rx().rewind();
                    while let Some(h) = held.pop_back() {
                        published.push_front(h);
                    }
                }
                Op::RxDone => {
                    let _ = b.rx().rx_done();
                }
            }
        }
        // Drain: everything committed arrives.
        let _ = a.tx().flush();
        published.extend(unpublished.drain(..));
        b.rx().rewind();
        while let Some(h) = held.pop_back() {
            published.push_front(h);
        }
        while let Some(rec) = b.rx().next().unwrap() {
            let mut got = vec![0u8; rec.len()];
            b.rx().read(&rec, 0, &mut got);
            prop_assert_eq!(Some(got), published.pop_front());
            b.rx().release(&rec);
        }
        prop_assert!(published.is_empty());
        prop_assert_eq!(a.counters().corrupt + b.counters().corrupt, 0);
    }
}
