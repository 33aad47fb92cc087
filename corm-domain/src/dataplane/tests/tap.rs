//! The capture tap sees every frame crossing its endpoint, both ways, and
//! nothing else; through a real capture ring, the frames read back whole.

use std::boxed::Box;
use std::cell::RefCell;
use std::rc::Rc;
use std::vec::Vec;

use pv_runtime::capture_ring::{CaptureReader, CaptureWriter, Next};
use pv_runtime::shared_page::HeapPage;

use super::*;
use crate::dataplane::tap::Tap;

type Seen = Rc<RefCell<Vec<(Direction, Vec<u8>, u64)>>>;

struct ListTap {
    endpoint: u16,
    seen: Seen,
}

impl Tap for ListTap {
    fn target(&mut self, endpoint: u16, _snaplen: u32) {
        self.endpoint = endpoint;
    }
    fn endpoint(&self) -> u16 {
        self.endpoint
    }
    fn record(&mut self, dir: Direction, first: &[u8], rest: &[u8], now_ns: u64) {
        let mut f = first.to_vec();
        f.extend_from_slice(rest);
        self.seen.borrow_mut().push((dir, f, now_ns));
    }
}

#[test]
fn the_tap_sees_its_endpoint_both_ways_and_nothing_else() {
    let mut lab = Lab::new(&[None, None]);
    let seen = Seen::default();
    let tap = ListTap {
        endpoint: 0,
        seen: seen.clone(),
    };
    assert!(lab.dp.set_tap(Box::new(tap)).is_none());
    assert_eq!(lab.dp.tapped(), Some(0));
    lab.now = 77;
    let to0 = eth(GUEST[0], PEER, 0x0800, 100);
    let to1 = eth(GUEST[1], PEER, 0x0800, 100);
    lab.nic.rx.push_back(to0.clone());
    lab.nic.rx.push_back(to1);
    lab.pump_from_nic();
    let from0 = eth(PEER, GUEST[0], 0x0800, 300);
    lab.spike_sends(0, &from0, FrameMeta::default());
    lab.spike_sends(1, &eth(PEER, GUEST[1], 0x0800, 300), FrameMeta::default());
    lab.pump_to_nic();
    // Endpoint 1 to endpoint 0: delivered to 0, so tapped as to 0.
    let one_to_zero = eth(GUEST[0], GUEST[1], 0x0800, 64);
    lab.spike_sends(1, &one_to_zero, FrameMeta::default());
    lab.pump_to_nic();
    let seen = seen.borrow();
    let got: Vec<(Direction, &[u8])> = seen.iter().map(|(d, f, _)| (*d, &f[..])).collect();
    assert_eq!(
        got,
        [
            (Direction::ToEndpoint, &to0[..]),
            (Direction::FromEndpoint, &from0[..]),
            (Direction::ToEndpoint, &one_to_zero[..]),
        ]
    );
    assert_eq!(seen[0].2, 77, "stamped with the batch's time");
    drop(seen);
    let back = lab.dp.take_tap().expect("the tap comes back");
    assert_eq!(back.endpoint(), 0);
    assert_eq!(lab.dp.tapped(), None);
}

#[test]
fn frames_read_back_from_a_capture_ring() {
    let mut lab = Lab::new(&[None]);
    // The reader's view shares the pages (heap pages: clones share memory).
    let pages: Vec<HeapPage> = (0..5).map(|_| HeapPage::new()).collect();
    let mut writer = CaptureWriter::new(pages[0].clone(), pages[1..].to_vec(), 1_000);
    writer.target(0, 128);
    let mut reader = CaptureReader::open(&pages[..]).unwrap();
    lab.dp.set_tap(Box::new(writer));
    lab.now = 5;
    let big = eth(GUEST[0], PEER, 0x0800, 1000);
    lab.nic.rx.push_back(big.clone());
    lab.pump_from_nic();
    let Next::Frame(c) = reader.next(&pages[..]) else {
        panic!("no frame in the ring");
    };
    assert_eq!(c.bytes, big[..128], "cut at the snap length");
    assert_eq!((c.orig_len as usize, c.unix_ns), (big.len(), 1_005));
    assert_eq!(reader.next(&pages[..]), Next::Empty);
}

#[test]
fn received_segments_are_tapped_one_by_one_not_merged() {
    let mut lab = Lab::new(&[None]);
    let seen = Seen::default();
    lab.dp.set_tap(Box::new(ListTap {
        endpoint: 0,
        seen: seen.clone(),
    }));
    let mut sent = Vec::new();
    let mut seq = 1u32;
    for k in 0..4u8 {
        let f = super::routes::tcp4(GUEST[0], PEER, seq, &[k; 1000], false);
        seq += 1000;
        lab.nic.rx.push_back(f.clone());
        sent.push(f);
    }
    lab.pump_from_nic();
    assert_eq!(lab.received(0).len(), 1, "merged for the guest");
    let seen = seen.borrow();
    let got: Vec<&[u8]> = seen.iter().map(|(_, f, _)| &f[..]).collect();
    let want: Vec<&[u8]> = sent.iter().map(|f| &f[..]).collect();
    assert_eq!(got, want, "each segment as it came");
}
