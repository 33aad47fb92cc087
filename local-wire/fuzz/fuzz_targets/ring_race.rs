//! The local wire's consumer (`ring::Consumer`) against a producer that
//! races it: the fuzz input is a script interleaving the hostile peer's
//! moves on the shared pages — well-formed records, raw bytes over headers
//! and bodies (including records already handed out), `prod` moved forward,
//! backward or anywhere, the closed flag, the magic — with every consumer
//! call (`next`, `read`, `release`, `release_all`, `rewind`, `rx_done`,
//! `recv_record`). The ring is the wire's own layout (crate docs), the
//! index discipline that of `xen/include/public/io/ring.h`.
//!
//! Asserted, besides "no panic":
//! * every record handed out lies inside the ring, 8-aligned, with a length
//!   in `1..=max_record`, and reads of it stay within it;
//! * between two moves of `prod` (or after a rewind) no more records come
//!   out than the published bytes can hold;
//! * a corrupt ring poisons the consumer for good, and a poisoned consumer
//!   publishes nothing;
//! * the `cons` published at `rx_done` only moves forward, and never past
//!   every `prod` the producer published (room is never handed back unread);
//! * `recv_record` fills at most the buffer it is given.
#![no_main]

use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use local_wire::{
    Direction, HeapMemory, RecvError, RingPages, WireEnd, WireError, WireMemory, RECORD_HEADER_LEN,
};
use wire_proto::PAD_KIND;

/// Control-page words of the a→b direction: the producer's, then the
/// consumer's line.
const PROD: usize = 64;
const CLOSED: usize = 72;
const CONS: usize = 128;
const MAX_STEPS: usize = 200;

fn poke(mem: &HeapMemory, off: usize, v: u32) {
    // SAFETY: a 4-aligned word of the live control page; single thread.
    unsafe {
        mem.control()
            .as_ptr()
            .add(off)
            .cast::<u32>()
            .write_volatile(v)
    }
}

fn peek(mem: &HeapMemory, off: usize) -> u32 {
    // SAFETY: as in `poke`.
    unsafe {
        mem.control()
            .as_ptr()
            .add(off)
            .cast::<u32>()
            .read_volatile()
    }
}

/// Writes `bytes` into the a→b data area at ring offset `off` (wrapping).
fn put(mem: &HeapMemory, size: usize, off: usize, bytes: &[u8]) {
    let base = mem.data(Direction::AtoB).as_ptr();
    for (i, b) in bytes.iter().enumerate() {
        // SAFETY: `(off + i) % size` is inside the data area; single thread.
        unsafe { base.add((off + i) % size).write_volatile(*b) };
    }
}

fn run(u: &mut Unstructured) -> AResult<()> {
    let k = RingPages::new(1 << u.int_in_range(0..=2u8)?).unwrap();
    let size = k.get() as usize * 4096;
    let mem = HeapMemory::new(k);
    let start: u32 = if u.arbitrary()? {
        (u32::MAX - 8 * u32::from(u.int_in_range(0..=8u8)?)) & !7
    } else {
        u.arbitrary::<u32>()? & !7
    };
    let a = WireEnd::offer(mem.clone(), start).unwrap();
    let Ok(mut b) = WireEnd::accept(mem.clone()) else {
        return Ok(());
    };
    drop(a);
    let max = k.max_record();
    // The producer's own index, and the `prod` values it published that are
    // not behind the published `cons`.
    let mut p = start;
    let mut published = vec![start];
    let mut cons = peek(&mem, CONS);
    let mut poisoned = false;
    let mut taken = 0usize;
    let mut held = Vec::new();
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=13u8)? {
            // An honest record of `len` bytes (padding first if it would wrap).
            0 | 1 => {
                let len = u.int_in_range(1..=max.min(600))?;
                let total = (RECORD_HEADER_LEN + len).next_multiple_of(8);
                let off = p as usize % size;
                if off + total > size {
                    let pad = size - off;
                    let mut h = ((pad - RECORD_HEADER_LEN) as u32).to_le_bytes().to_vec();
                    h.push(PAD_KIND);
                    put(&mem, size, off, &h);
                    p = p.wrapping_add(pad as u32);
                }
                let mut rec = (len as u32).to_le_bytes().to_vec();
                let fill: u8 = u.arbitrary()?;
                rec.resize(RECORD_HEADER_LEN + len, fill);
                rec[RECORD_HEADER_LEN] = u.arbitrary()?;
                put(&mem, size, p as usize % size, &rec);
                p = p.wrapping_add(total as u32);
                if u.ratio(3, 4)? {
                    poke(&mem, PROD, p);
                    published.push(p);
                    taken = 0;
                }
            }
            // Raw bytes anywhere, headers and handed-out records included.
            2 => {
                let off = u.int_in_range(0..=size - 1)?;
                let n = u.int_in_range(1..=8usize)?;
                let mut bytes = vec![0u8; n];
                u.fill_buffer(&mut bytes)?;
                put(&mem, size, off, &bytes);
            }
            // `prod` moved: back, forward, anywhere.
            3 => {
                let v = match u.int_in_range(0..=3u8)? {
                    0 => p.wrapping_sub(8 * u32::from(u.arbitrary::<u8>()?)),
                    1 => p.wrapping_add(u32::from(u.arbitrary::<u16>()?)),
                    2 => u.arbitrary()?,
                    _ => cons.wrapping_add(size as u32 + 8),
                };
                poke(&mem, PROD, v);
                published.push(v);
                taken = 0;
            }
            4 => poke(&mem, CLOSED, u32::from(u.arbitrary::<bool>()?)),
            5 => poke(&mem, 0, u.arbitrary()?),
            // The consumer.
            6..=8 => match b.rx().next() {
                Ok(Some(rec)) => {
                    assert!(!poisoned, "a record after poison");
                    taken += 1;
                    assert!(taken <= size / 8 + 1, "more records than published");
                    assert!(!rec.is_empty() && rec.len() <= max);
                    let off = b.rx().body_offset(&rec);
                    assert_eq!((off - RECORD_HEADER_LEN) % 8, 0);
                    assert!(off + rec.len() <= size, "record past the ring");
                    let at = u.int_in_range(0..=rec.len() - 1)?;
                    let mut buf = vec![0u8; (rec.len() - at).min(64)];
                    b.rx().read(&rec, at, &mut buf);
                    held.push(rec);
                }
                Ok(None) => assert!(!poisoned),
                Err(RecvError::Wire(WireError::Corrupt(_))) => poisoned = true,
                Err(_) => {}
            },
            9 => {
                if let Some(i) = (!held.is_empty())
                    .then(|| u.choose_index(held.len()))
                    .transpose()?
                {
                    let rec = held[i];
                    b.rx().release(&rec);
                }
            }
            10 => {
                if u.arbitrary()? {
                    b.rx().release_all();
                } else {
                    b.rx().rewind();
                    taken = 0;
                }
                held.clear();
            }
            11 => {
                let mut buf = vec![0u8; u.int_in_range(0..=700usize)?];
                match b.rx().recv_record(&mut buf) {
                    Ok(Some(n)) => {
                        assert!(!poisoned);
                        taken += 1;
                        assert!(n >= 1 && n <= buf.len());
                    }
                    Err(RecvError::BufferTooSmall { need }) => assert!(need > buf.len()),
                    Err(RecvError::Wire(WireError::Corrupt(_))) => poisoned = true,
                    _ => {}
                }
            }
            _ => {
                let done = b.rx().rx_done();
                let now = peek(&mem, CONS);
                if poisoned {
                    assert!(!done.notify && !done.more && now == cons);
                }
                let moved = now.wrapping_sub(cons);
                // (More than a ring's worth may pass between two calls: the
                // consumer takes what was published within a ring of its
                // private `cons`, and the peer may publish that far.)
                assert!(moved < 1 << 31, "cons moved back");
                if moved > 0 {
                    assert!(
                        published.iter().any(|v| v.wrapping_sub(now) <= size as u32),
                        "cons passed every prod published"
                    );
                }
                cons = now;
                // Records taken under an older `prod` may be released later:
                // keep every value not behind the new `cons`.
                published.retain(|v| v.wrapping_sub(cons) <= size as u32);
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
