//! The split virtqueue on its own, the test playing the device through
//! `FakeDma`: index wrap at 65536, and untrusted used elements.

use std::vec::Vec;

use crate::nic::fake::FakeDma;
use crate::nic::virtio_net::queue::*;

struct Rings {
    dma: FakeDma,
    desc: u64,
    avail: u64,
    used: u64,
}

impl Rings {
    fn of(q: &SplitQueue, dma: &FakeDma) -> Self {
        let (desc, avail, used) = q.areas();
        Rings {
            dma: dma.clone(),
            desc,
            avail,
            used,
        }
    }

    fn avail_idx(&self) -> u16 {
        self.dma.read_u16(self.avail + 2).unwrap()
    }

    fn avail_slot(&self, slot: u16) -> u16 {
        self.dma
            .read_u16(self.avail + 4 + 2 * u64::from(slot))
            .unwrap()
    }

    fn used(&self, idx: u16, size: u16, id: u32, len: u32) {
        let e = self.used + 4 + 8 * u64::from(idx % size);
        self.dma.write_u32(e, id).unwrap();
        self.dma.write_u32(e + 4, len).unwrap();
        self.dma
            .write_u16(self.used + 2, idx.wrapping_add(1))
            .unwrap();
    }
}

#[test]
fn pow2_floor_rounds_down() {
    let cases = [
        (1, 1),
        (2, 2),
        (3, 2),
        (100, 64),
        (256, 256),
        (1024, 1024),
        (u16::MAX, 32768),
    ];
    for (n, want) in cases {
        assert_eq!(pow2_floor(n), want);
    }
}

#[test]
fn indices_wrap_at_65536() {
    let mut dma = FakeDma::new();
    let mut q = SplitQueue::alloc(&mut dma, 8).unwrap();
    let rings = Rings::of(&q, &dma);
    let start = 65530u16;
    q.start_at(start);
    let mut idx = start;
    for round in 0..40u32 {
        let id = q.take_free().unwrap();
        assert!(q.push(id, 0x1000 * u64::from(id), 100 + round, 0));
        q.publish();
        assert_eq!(rings.avail_idx(), idx.wrapping_add(1));
        assert_eq!(rings.avail_slot(idx % 8), id);
        let d = rings.desc + 16 * u64::from(id);
        assert_eq!(dma.read_u32(d + 8), Some(100 + round));
        rings.used(idx, 8, id.into(), round);
        assert_eq!(q.pop(), Completion::Done { id, len: round });
        assert_eq!(q.pop(), Completion::Empty);
        q.put_free(id);
        idx = idx.wrapping_add(1);
    }
    assert!(idx < start);
    assert_eq!(q.free_count(), 8);
}

#[test]
fn untrusted_used_elements() {
    let mut dma = FakeDma::new();
    let mut q = SplitQueue::alloc(&mut dma, 4).unwrap();
    let rings = Rings::of(&q, &dma);
    for id in [0, 1] {
        assert_eq!(q.take_free(), Some(id));
        assert!(q.push(id, 0x1000, 64, DESC_F_WRITE));
    }
    assert!(!q.push(1, 0x1000, 64, 0), "already with the device");
    assert!(!q.push(9, 0x1000, 64, 0), "out of range");
    q.publish();
    assert_eq!(q.outstanding(), 2);

    rings.used(0, 4, 7, 0);
    assert_eq!(q.pop(), Completion::Bogus);
    rings.used(1, 4, 1 << 16, 0);
    assert_eq!(q.pop(), Completion::Bogus);
    rings.used(2, 4, 3, 0);
    assert_eq!(q.pop(), Completion::Bogus, "id 3 never given out");
    rings.used(3, 4, 1, 5);
    assert_eq!(q.pop(), Completion::Done { id: 1, len: 5 });
    rings.used(4, 4, 1, 5);
    assert_eq!(q.pop(), Completion::Bogus, "id 1 already returned");
    assert_eq!(q.outstanding(), 1);

    dma.write_u16(rings.used + 2, 5 + 5).unwrap();
    assert_eq!(q.pop(), Completion::Overrun);
    assert_eq!(q.pop(), Completion::Overrun, "nothing consumed");

    q.reset(4);
    assert_eq!((q.outstanding(), q.free_count()), (0, 4));
    assert_eq!(rings.avail_idx(), 0);
    assert_eq!(q.pop(), Completion::Empty);
}

#[test]
fn reset_clamps_to_capacity() {
    let mut dma = FakeDma::new();
    let mut q = SplitQueue::alloc(&mut dma, 300).unwrap();
    assert_eq!((q.capacity(), q.size()), (MAX_SIZE, MAX_SIZE));
    q.reset(1000);
    assert_eq!(q.size(), MAX_SIZE);
    q.reset(12);
    assert_eq!((q.size(), q.free_count()), (8, 8));
    assert_eq!(dma.pages(), 3);
}

#[test]
fn need_event_is_the_specs_vring_need_event() {
    // §2.7.7.2: notify iff `event` is in old..new (mod 2^16).
    assert!(need_event(5, 6, 5));
    assert!(!need_event(6, 6, 5));
    assert!(need_event(0, 256, 0));
    assert!(!need_event(0, 264, 256));
    assert!(need_event(65535, 2, 65534), "across the wrap");
    assert!(!need_event(3, 2, 65534));
    assert!(!need_event(7, 7, 7), "nothing new");
}

#[test]
fn rearming_catches_an_element_used_meanwhile() {
    let mut dma = FakeDma::new();
    let mut q = SplitQueue::alloc(&mut dma, 8).unwrap();
    q.set_mode(true, false);
    let rings = Rings::of(&q, &dma);
    let ids: Vec<u16> = (0..3).map(|_| q.take_free().unwrap()).collect();
    for &id in &ids {
        assert!(q.push(id, 0x1000, 64, DESC_F_WRITE));
    }
    q.publish();
    rings.used(0, 8, ids[0].into(), 60);
    assert_eq!(
        q.pop(),
        Completion::Done {
            id: ids[0],
            len: 60
        }
    );
    assert_eq!(q.pop(), Completion::Empty);
    // The device uses another before seeing the request for an interrupt.
    rings.used(1, 8, ids[1].into(), 60);
    assert!(q.rearm(), "the driver must look again");
    assert_eq!(dma.read_u16(rings.avail + 4 + 2 * 8), Some(1), "used_event");
    assert_eq!(
        q.pop(),
        Completion::Done {
            id: ids[1],
            len: 60
        }
    );
    assert!(!q.rearm());
    assert_eq!(dma.read_u16(rings.avail + 4 + 2 * 8), Some(2));
}

#[test]
fn a_chain_goes_out_whole_and_comes_back_whole() {
    let mut dma = FakeDma::new();
    let mut q = SplitQueue::alloc(&mut dma, 8).unwrap();
    let rings = Rings::of(&q, &dma);
    let ids: Vec<u16> = (0..3).map(|_| q.take_free().unwrap()).collect();
    let parts: Vec<(u16, u64, u32)> = ids
        .iter()
        .map(|&i| (i, 0x1000 * u64::from(i), 100))
        .collect();
    assert!(q.push_chain(&parts, 0));
    q.publish();
    assert_eq!(rings.avail_slot(0), ids[0], "the head only");
    for (k, &id) in ids.iter().enumerate() {
        let d = rings.desc + 16 * u64::from(id);
        let flags = dma.read_u16(d + 12).unwrap();
        let next = dma.read_u16(d + 14).unwrap();
        if k + 1 < ids.len() {
            assert_eq!((flags, next), (DESC_F_NEXT, ids[k + 1]));
        } else {
            assert_eq!(flags, 0);
        }
    }
    assert_eq!((q.free_count(), q.outstanding()), (5, 1));
    rings.used(0, 8, u32::from(ids[1]), 0);
    assert_eq!(q.pop(), Completion::Bogus, "a chain's middle is no head");
    assert_eq!(q.completed_descriptors(), 0);
    rings.used(1, 8, u32::from(ids[0]), 0);
    assert_eq!(q.completed_descriptors(), 3, "the whole chain, before pop");
    assert_eq!(q.pop(), Completion::Done { id: ids[0], len: 0 });
    q.put_free(ids[0]);
    assert_eq!((q.free_count(), q.outstanding()), (8, 0));
}
