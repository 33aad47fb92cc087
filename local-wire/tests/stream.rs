//! Two threads, one per side, stream random-length records both ways with
//! batching, backpressure and a sometimes-slow consumer. The event channel
//! is a sticky pending flag plus a condvar; each side sleeps only after the
//! final checks, so a lost wake-up shows up as a wait that times out and
//! fails the test loudly instead of hanging it.

use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use local_wire::{HeapMemory, RingPages, SendError, WireEnd};

const WAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One end of the simulated event channel: Xen's sticky pending bit.
#[derive(Default)]
struct Port {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Port {
    fn kick(&self) {
        *self.pending.lock().unwrap() = true;
        self.cv.notify_one();
    }

    /// `false` when no kick came within the timeout.
    fn wait(&self) -> bool {
        let guard = self.pending.lock().unwrap();
        let (mut pending, _) = self
            .cv
            .wait_timeout_while(guard, WAKE_TIMEOUT, |p| !*p)
            .unwrap();
        std::mem::replace(&mut *pending, false)
    }
}

/// xorshift64*: cheap and deterministic, so the receiver regenerates exactly
/// what the sender sent.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The record stream of one direction.
struct Records {
    rng: Rng,
    max: usize,
}

impl Records {
    fn next(&mut self, out: &mut Vec<u8>) {
        let r = self.rng.next();
        // Mostly frame-sized, sometimes tiny or as large as allowed.
        // At least one byte, the first never 0 (a message kind; 0 is padding).
        let len = 1 + match r % 16 {
            0 => (r >> 8) as usize % 16,
            1 => self.max - 1,
            _ => (r >> 8) as usize % self.max.min(1600),
        };
        out.clear();
        while out.len() < len {
            out.extend_from_slice(&self.rng.next().to_le_bytes());
        }
        out.truncate(len);
        out[0] |= 1;
    }
}

struct Plan {
    bytes: u64,
    peer_bytes: u64,
    tx_seed: u64,
    rx_seed: u64,
    max: usize,
    slow: bool,
}

#[derive(Debug, Default)]
struct Report {
    records_sent: u64,
    records_received: u64,
    bytes_received: u64,
    checksum: u64,
    kicks: u64,
    sleeps: u64,
}

fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// One side's event loop: receive, send, flush, and sleep only when both
/// the final receive check and the sender's backpressure arming say so.
fn run(mut end: WireEnd<HeapMemory>, me: &Port, peer: &Port, plan: Plan) -> Report {
    let mut rep = Report {
        checksum: 0xcbf2_9ce4_8422_2325,
        ..Report::default()
    };
    let mut tx = Records {
        rng: Rng(plan.tx_seed),
        max: plan.max,
    };
    let mut expect = Records {
        rng: Rng(plan.rx_seed),
        max: plan.max,
    };
    let mut pace = Rng(plan.tx_seed ^ 0x5151);
    let (mut want, mut rec) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; plan.max];
    let (mut sent_bytes, mut peer_done) = (0u64, false);
    let mut have = false;
    loop {
        loop {
            while let Some(n) = end.rx().recv_record(&mut buf).expect("receive") {
                expect.next(&mut want);
                assert_eq!(&buf[..n], &want[..], "record {}", rep.records_received);
                rep.records_received += 1;
                rep.bytes_received += n as u64;
                rep.checksum = fnv(rep.checksum, &buf[..n]);
                if plan.slow && pace.next().is_multiple_of(64) {
                    thread::sleep(Duration::from_micros(200));
                }
            }
            let done = end.rx().rx_done();
            if done.notify {
                peer.kick();
                rep.kicks += 1;
            }
            if !done.more {
                break;
            }
        }
        peer_done |= rep.bytes_received >= plan.peer_bytes;

        let mut blocked = false;
        let batch = 1 + pace.next() % 32;
        for _ in 0..batch {
            if sent_bytes >= plan.bytes {
                break;
            }
            if !have {
                tx.next(&mut rec);
                have = true;
            }
            match end.tx().send_record(&rec) {
                Ok(()) => {
                    have = false;
                    sent_bytes += rec.len() as u64;
                    rep.records_sent += 1;
                }
                Err(SendError::Full) => {
                    blocked = true;
                    break;
                }
                Err(e) => panic!("send: {e}"),
            }
        }
        if end.tx().flush() {
            peer.kick();
            rep.kicks += 1;
        }
        let tx_done = sent_bytes >= plan.bytes;
        if tx_done && peer_done {
            return rep;
        }
        if !tx_done && !blocked {
            continue;
        }
        rep.sleeps += 1;
        assert!(
            me.wait(),
            "lost wake-up on {:?}: sent {sent_bytes}/{} bytes, received {}/{}, blocked {blocked}",
            end.side(),
            plan.bytes,
            rep.bytes_received,
            plan.peer_bytes,
        );
    }
}

fn stream(k: u32, (a_bytes, b_bytes): (u64, u64), max: usize, slow_a: bool, slow_b: bool) {
    let pages = RingPages::new(k).unwrap();
    let max = max.min(pages.max_record());
    let mem = HeapMemory::new(pages);
    let a = WireEnd::offer(mem.clone(), u32::MAX - 20_000).unwrap();
    let b = WireEnd::accept(mem).unwrap();
    let (pa, pb) = (Port::default(), Port::default());
    let (sa, sb) = (0x1234_5678_9abc_def1, 0x0fed_cba9_8765_4321);
    let t0 = Instant::now();
    let (ra, rb) = thread::scope(|s| {
        let ha = s.spawn(|| {
            let plan = Plan {
                bytes: a_bytes,
                peer_bytes: b_bytes,
                tx_seed: sa,
                rx_seed: sb,
                max,
                slow: slow_a,
            };
            run(a, &pa, &pb, plan)
        });
        let hb = s.spawn(|| {
            let plan = Plan {
                bytes: b_bytes,
                peer_bytes: a_bytes,
                tx_seed: sb,
                rx_seed: sa,
                max,
                slow: slow_b,
            };
            run(b, &pb, &pa, plan)
        });
        (ha.join().unwrap(), hb.join().unwrap())
    });
    eprintln!(
        "K={k} {a_bytes}/{b_bytes} B in {:?}: A {ra:?} B {rb:?}",
        t0.elapsed()
    );
    assert_eq!(ra.records_sent, rb.records_received);
    assert_eq!(rb.records_sent, ra.records_received);
    assert!(ra.bytes_received >= b_bytes && rb.bytes_received >= a_bytes);
    // Sender-side checksums, recomputed from the generators.
    for (seed, got, bytes) in [(sa, rb.checksum, a_bytes), (sb, ra.checksum, b_bytes)] {
        let mut g = Records {
            rng: Rng(seed),
            max,
        };
        let (mut h, mut total, mut r) = (0xcbf2_9ce4_8422_2325, 0u64, Vec::new());
        while total < bytes {
            g.next(&mut r);
            h = fnv(h, &r);
            total += r.len() as u64;
        }
        assert_eq!(h, got);
    }
    // Batching: fewer kicks than records; far fewer once the ring holds
    // many records.
    let (records, kicks) = (ra.records_sent + rb.records_sent, ra.kicks + rb.kicks);
    let per_kick = if k >= 16 { 3 } else { 1 };
    assert!(
        kicks * per_kick < records,
        "{kicks} kicks for {records} records"
    );
}

#[test]
fn fifty_megabytes_each_way_one_page_slow_consumer() {
    stream(1, (50 << 20, 50 << 20), 4092, false, true);
}

#[test]
fn both_slow_large_records_sixteen_pages() {
    stream(16, (16 << 20, 16 << 20), 65532, true, true);
}

#[test]
fn tiny_ring_heavy_backpressure() {
    stream(1, (4 << 20, 4 << 20), 4092, true, false);
}

/// One way only: the sender is woken only by "space is back" kicks and the
/// receiver only by "data" kicks, so each half of the scheme stands alone.
#[test]
fn one_way_streams_rely_on_each_kick_alone() {
    stream(1, (8 << 20, 0), 4092, false, true);
    stream(2, (0, 8 << 20), 4092, true, false);
    stream(4, (8 << 20, 0), 300, false, false);
}

/// Issue 9 (A.1): the largest frame either side may legally carry (65,535
/// bytes, netif's `XEN_NETIF_MAX_TX_SIZE`) with GSO metadata fits one record
/// of the rings the domains offer, and goes through.
#[test]
fn the_largest_frame_fits_the_offered_ring() {
    use wire_proto::{Checksum, Frame, Gso, GsoKind, Message, MAX_FRAME_LEN};
    let k = RingPages::FOR_FRAMES;
    assert!(k.max_record() >= wire_proto::MAX_MESSAGE_LEN);
    let mut payload = vec![0u8; MAX_FRAME_LEN];
    payload[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    payload[12..14].copy_from_slice(&[0x08, 0x00]);
    let msg = Message::Frame(
        Frame::new(&payload)
            .with_checksum(Checksum::Partial {
                start: 34,
                offset: 16,
            })
            .with_gso(Gso {
                kind: GsoKind::TcpV4,
                size: 1448,
            }),
    );
    let mut rec = vec![0u8; msg.encoded_len()];
    let n = msg.encode(&mut rec).unwrap();
    let mem = HeapMemory::new(k);
    let mut a = WireEnd::offer(mem.clone(), 0).unwrap();
    let mut b = WireEnd::accept(mem).unwrap();
    a.tx().send_record(&rec[..n]).unwrap();
    let _ = a.tx().flush();
    let mut buf = vec![0u8; k.max_record()];
    let got = b.rx().recv_record(&mut buf).unwrap().unwrap();
    let Message::Frame(f) = Message::decode(&buf[..got]).unwrap() else {
        panic!("not a frame");
    };
    assert_eq!(f.payload.len(), MAX_FRAME_LEN);
}
