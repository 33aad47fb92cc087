//! A hostile peer's ring: the fuzz input becomes the producer's index words
//! and the bytes of its data pages, then the consumer side (the raw ring and
//! the wire-proto channel over it) takes, reads, releases and rewinds
//! records. Never a panic, never a loop without end, and every record handed
//! out lies inside the ring, aligned, and within what was published.
#![no_main]

use libfuzzer_sys::fuzz_target;
use local_wire::channel::{Channel, Identity};
use local_wire::{Direction, HeapMemory, RingPages, WireEnd, WireMemory};
use wire_proto::{Features, Role};

/// Control-page offsets the producer (side A) owns for a→b.
const AB_PROD: usize = 64;
const AB_CONS_EVENT: usize = 68;
const A_CLOSED: usize = 72;

fn poke(mem: &HeapMemory, off: usize, v: u32) {
    // SAFETY: a 4-aligned word of the live control page; the test is the
    // only thread.
    unsafe {
        mem.control()
            .as_ptr()
            .add(off)
            .cast::<u32>()
            .write_volatile(v)
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let k = RingPages::new(1 << (data[0] % 3)).unwrap();
    let mem = HeapMemory::new(k);
    let start = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
    let a = WireEnd::offer(mem.clone(), start).unwrap();
    let Ok(b) = WireEnd::accept(mem.clone()) else {
        return;
    };
    drop(a);
    let size = k.get() as usize * 4096;
    let bytes = &data[12..];
    let base = mem.data(Direction::AtoB).as_ptr();
    for (i, v) in bytes.iter().enumerate().take(size) {
        // SAFETY: inside the a→b data area; single thread.
        unsafe { base.add(i).write_volatile(*v) };
    }
    let aligned = start & !7;
    let prod = aligned
        .wrapping_add(u32::from_le_bytes([data[5], data[6], data[7], data[8]]) % (2 * size as u32));
    poke(&mem, AB_PROD, prod);
    poke(&mem, AB_CONS_EVENT, u32::from(data[9]));
    poke(&mem, A_CLOSED, u32::from(data[10] & 1));
    let ops = data[11];

    if ops & 1 == 0 {
        // The raw consumer.
        let mut b = b;
        // Records taken since the last rewind (which hands the unreleased
        // ones out again): never more than the ring can hold.
        let mut taken = 0usize;
        for step in 0..(size / 8 + 2) {
            match b.rx().next() {
                Ok(Some(rec)) => {
                    taken += 1;
                    assert!(taken <= size / 8 + 1, "more records than the ring holds");
                    assert!(!rec.is_empty() && rec.len() <= k.max_record());
                    let off = b.rx().body_offset(&rec);
                    assert!(off + rec.len() <= size);
                    let mut buf = vec![0u8; rec.len().min(64)];
                    b.rx().read(&rec, 0, &mut buf);
                    match (ops >> 1) % 3 {
                        0 => b.rx().release(&rec),
                        1 if step % 3 == 0 => {
                            b.rx().rewind();
                            taken = 0;
                        }
                        _ => {}
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        let _ = b.rx().rx_done();
    } else {
        // The channel: frames and control records from a hostile peer.
        let mut ch = Channel::new(
            1,
            Identity {
                role: Role::Spike,
                endpoint: 0,
                features: Features::KNOWN,
                mtu: 1500,
            },
        );
        ch.attach(b, 0);
        ch.announce(&[[0, 0x16, 0x3e, 0, 0, 1]]);
        for now in 0..4u64 {
            let _ = ch.poll(now * 1_000_000_000);
            while let Some(f) = ch.recv(now) {
                assert!(f.len() >= 14 && f.len() <= wire_proto::MAX_FRAME_LEN);
                let mut head = [0u8; 14];
                ch.rx_read(&f, 0, &mut head);
                ch.rx_release(&f);
            }
            let _ = ch.rx_finish();
        }
    }
});
