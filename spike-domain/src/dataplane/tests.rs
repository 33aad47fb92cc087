//! The Spike's data plane over a real wire ring in heap memory (the Corm's
//! end played by a channel), a fake netfront and a fake Xen whose grant
//! copies reach the ring's pages: frames both ways, one copy each, and the
//! waits (a full wire, a guest without buffers).

use std::vec::Vec;

use local_wire::channel::{Channel, Identity};
use local_wire::{HeapMemory, PageRef, RingPages, RingRefs, Side, WireEnd};
use pv_runtime::abi::DomId;
use wire_proto::{Checksum, Features, Gso, GsoKind, Role};

use super::*;
use crate::netback::fake::{FakeFrontend, FakeXen};
use crate::netback::netif::{RxResponse, NETRXF_DATA_VALIDATED};
use crate::netback::{FrontendFeatures, HeapPage, VifConfig};

const FE: DomId = 7;
const CORM: DomId = 1;
const MAC: [u8; 6] = [0, 0x16, 0x3e, 0, 0, 1];
const ALL: Features = Features(Features::CSUM.0 | Features::GSO_TCPV4.0 | Features::GSO_TCPV6.0);

struct Lab {
    xen: FakeXen,
    fe: FakeFrontend,
    vif: Vif<std::rc::Rc<HeapPage>>,
    pool: LocalPages,
    stalled: Option<u64>,
    up: Uplink<HeapMemory>,
    corm: Channel<HeapMemory>,
    _mem: HeapMemory,
    now: u64,
}

impl Lab {
    fn new(k: RingPages) -> Lab {
        Self::with_rate(k, None)
    }

    /// The same, the guest's vif limited to `rate`.
    fn with_rate(k: RingPages, rate: Option<crate::netback::TxRate>) -> Lab {
        let mem = HeapMemory::new(k);
        let a = WireEnd::offer(mem.clone(), 0).unwrap();
        let b = WireEnd::accept(mem.clone()).unwrap();
        let mut xen = FakeXen::new();
        // The Corm granted its ring pages; the Spike grant-copies to/from them.
        let pages = k.get() as usize;
        let mut refs = RingRefs::default();
        for (dir, base, list) in [
            (local_wire::Direction::AtoB, 100u32, &mut refs.a_to_b),
            (local_wire::Direction::BtoA, 200u32, &mut refs.b_to_a),
        ] {
            for i in 0..pages {
                let gref = base + i as u32;
                // SAFETY: the ring's memory lives in `_mem` for the lab's life.
                let p = unsafe {
                    core::ptr::NonNull::new_unchecked(mem.data(dir).as_ptr().add(i * 4096))
                };
                // SAFETY: as above; no reference covers it during a copy.
                unsafe { xen.attach_foreign(CORM, gref, p) };
                list.push(PageRef::Granted { domid: CORM, gref });
            }
        }
        let mut corm = Channel::new(
            1,
            Identity {
                role: Role::Corm,
                endpoint: 0,
                features: ALL,
                mtu: 9000,
            },
        );
        corm.attach(a, 0);
        let mut ch = Channel::new(
            1,
            Identity {
                role: Role::Spike,
                endpoint: 0,
                features: ALL,
                mtu: 9000,
            },
        );
        ch.attach(b, 0);
        ch.announce(&[MAC]);
        let mut up = Uplink::new(ch, Side::B);
        up.refs = Some(refs);
        for _ in 0..6 {
            corm.poll(1);
            up.channel.poll(1);
        }
        assert!(up.channel.is_established() && corm.is_established());
        let fe = FakeFrontend::new(FE, 0);
        let features = FrontendFeatures {
            rx_copy: true,
            rx_notify: true,
            sg: true,
            gso_tcpv4: true,
            ipv6_csum_offload: true,
            ..Default::default()
        };
        let mut cfg = VifConfig::new(FE, 0, MAC, features);
        cfg.mtu = 9000;
        cfg.offered.gso_tcpv4 = true;
        cfg.rate = rate;
        let pool = LocalPages::heap(4, 0x1000);
        let bounce = LocalPages::heap(8, 0x2000);
        // SAFETY: the pools live as long as the lab.
        unsafe {
            xen.attach(&pool);
            xen.attach(&bounce);
        }
        let vif = Vif::new(cfg, fe.tx.page.clone(), fe.rx.page.clone(), bounce).unwrap();
        Lab {
            xen,
            fe,
            vif,
            pool,
            stalled: None,
            up,
            corm,
            _mem: mem,
            now: 2,
        }
    }

    fn guest(&mut self) -> Guest<'_, std::rc::Rc<HeapPage>> {
        Guest {
            vif: &mut self.vif,
            mac: MAC,
            pool: &mut self.pool,
            stalled_since: &mut self.stalled,
            kick: false,
            fatal: None,
        }
    }

    fn tx(&mut self) -> Work {
        let mut g = Guest {
            vif: &mut self.vif,
            mac: MAC,
            pool: &mut self.pool,
            stalled_since: &mut self.stalled,
            kick: false,
            fatal: None,
        };
        let work = guest_to_wire(&mut self.up, &mut g, &mut self.xen, 8, self.now);
        assert!(g.fatal.is_none());
        let _ = self.up.channel.tx_flush(self.now);
        work
    }

    fn rx(&mut self) {
        let mut g = [Guest {
            vif: &mut self.vif,
            mac: MAC,
            pool: &mut self.pool,
            stalled_since: &mut self.stalled,
            kick: false,
            fatal: None,
        }];
        wire_to_guests(&mut self.up, &mut g, &mut self.xen, self.now, 64);
        assert!(g[0].fatal.is_none());
    }

    /// What the Corm received.
    fn at_corm(&mut self) -> Vec<(Vec<u8>, FrameMeta)> {
        let mut out = Vec::new();
        while let Some(f) = self.corm.recv(self.now) {
            let mut b = vec![0; f.len()];
            self.corm.rx_read(&f, 0, &mut b);
            self.corm.rx_release(&f);
            out.push((b, f.meta));
        }
        let _ = self.corm.rx_finish();
        out
    }
}

fn frame(len: usize, src: [u8; 6]) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i * 11 + 7) as u8).collect();
    f[..6].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 9]);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

#[test]
fn guest_frames_reach_the_wire_with_one_copy() {
    let mut lab = Lab::new(RingPages::FOR_FRAMES);
    let f = frame(9014, MAC);
    lab.fe
        .queue_tx(&mut lab.xen, &f, &[4000, 4000, 1014], 0, 0, &[]);
    let small = frame(60, MAC);
    lab.fe.queue_tx(&mut lab.xen, &small, &[60], 0, 0, &[]);
    lab.fe.tx.push();
    let before = lab.xen.bytes;
    lab.tx();
    assert_eq!(
        lab.xen.bytes - before,
        9014 + 60,
        "each byte copied once, guest page to ring page"
    );
    let got = lab.at_corm();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], (f, FrameMeta::NONE));
    assert_eq!(got[1].0, small);
    assert_eq!(lab.vif.counters().tx_packets, 2);
}

#[test]
fn wire_frames_reach_the_guest_with_one_copy() {
    let mut lab = Lab::new(RingPages::FOR_FRAMES);
    let grefs = lab.fe.post_rx(&mut lab.xen, 8);
    let f = frame(6000, [0x52, 0x54, 0, 0, 0, 9]);
    let mut to_guest = f.clone();
    to_guest[..6].copy_from_slice(&MAC);
    let meta = FrameMeta {
        checksum: Checksum::Validated,
        gso: None,
    };
    lab.corm.send(&to_guest, meta).unwrap();
    // A frame for someone else is counted, not delivered.
    let mut other = to_guest.clone();
    other[5] = 0x77;
    lab.corm.send(&other[..100], FrameMeta::NONE).unwrap();
    let _ = lab.corm.tx_flush(2);
    let before = lab.xen.bytes;
    lab.rx();
    assert_eq!(
        lab.xen.bytes - before,
        6000,
        "one copy, ring page to guest page"
    );
    let r: Vec<RxResponse> = lab.fe.rx.responses();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].flags & NETRXF_DATA_VALIDATED, NETRXF_DATA_VALIDATED);
    let mut got = lab.xen.granted(FE, grefs[0]).unwrap().to_vec();
    got.extend_from_slice(&lab.xen.granted(FE, grefs[1]).unwrap()[..6000 - 4096]);
    assert_eq!(got, to_guest);
    assert_eq!(lab.up.counters.rx_no_vif, 1);
    assert!(lab.corm.recv(2).is_none());
}

#[test]
fn a_gso_frame_crosses_with_its_metadata() {
    let mut lab = Lab::new(RingPages::FOR_FRAMES);
    let grefs = lab.fe.post_rx(&mut lab.xen, 20);
    // A TCP/IPv4 super-frame with its pseudo-header sum (partial).
    let mut f = frame(14, MAC);
    f[..6].copy_from_slice(&MAC);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let payload = 30_000;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((20 + 20 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&[
        0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 1, 0, 0, 0, 0, 0,
    ]);
    f.extend((0..payload).map(|i| i as u8));
    let loc = net_offload::checksum::locate(&f).unwrap();
    net_offload::checksum::set_pseudo(&mut f, &loc).unwrap();
    let meta = FrameMeta {
        checksum: Checksum::Partial {
            start: loc.start,
            offset: loc.offset,
        },
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            size: 1448,
        }),
    };
    lab.corm.send(&f, meta).unwrap();
    let _ = lab.corm.tx_flush(2);
    lab.rx();
    let r: Vec<RxResponse> = lab.fe.rx.responses();
    let pages = f.len().div_ceil(4096);
    assert_eq!(r.len(), pages + 1, "data slots and the GSO extra");
    // Slot 1 is the GSO extra (its request's buffer unused); the data
    // slots are 0, 2, 3, ..., each in the buffer of its own request.
    let mut got = Vec::new();
    for (i, (x, g)) in r.iter().zip(&grefs).enumerate() {
        if i != 1 {
            got.extend_from_slice(&lab.xen.granted(FE, *g).unwrap()[..x.status as usize]);
        }
    }
    assert!(
        got == f,
        "the frame arrived intact ({} of {} bytes)",
        got.len(),
        f.len()
    );
}

#[test]
fn a_full_wire_holds_guest_frames_on_their_ring() {
    let mut lab = Lab::new(RingPages::new(4).unwrap());
    for _ in 0..20 {
        lab.fe
            .queue_tx(&mut lab.xen, &frame(1500, MAC), &[1500], 0, 0, &[]);
    }
    lab.fe.tx.push();
    lab.tx();
    let first = lab.at_corm().len();
    assert!(first < 20, "the 16 KiB wire holds {first}");
    assert_eq!(lab.vif.counters().tx_sink_full, 0, "nothing dropped");
    let mut total = first;
    for _ in 0..10 {
        lab.tx();
        total += lab.at_corm().len();
    }
    assert_eq!(total, 20, "every frame went, in turn");
}

#[test]
fn a_guest_without_buffers_waits_then_loses_frames() {
    let mut lab = Lab::new(RingPages::FOR_FRAMES);
    let mut f = frame(100, [0x52, 0x54, 0, 0, 0, 9]);
    f[..6].copy_from_slice(&MAC);
    for _ in 0..3 {
        lab.corm.send(&f, FrameMeta::NONE).unwrap();
    }
    let _ = lab.corm.tx_flush(2);
    lab.rx();
    assert_eq!(lab.up.counters.rx_waits, 1);
    assert_eq!(lab.vif.counters().rx_no_buffers, 0);
    // The guest posts two buffers: two frames go, the third waits again.
    lab.fe.post_rx(&mut lab.xen, 2);
    lab.rx();
    assert_eq!(lab.vif.counters().rx_packets, 2);
    // It posts nothing for longer than the stall bound: the frame is dropped.
    lab.now += RX_STALL_NS + 1;
    lab.rx();
    lab.rx();
    assert_eq!(lab.vif.counters().rx_no_buffers, 1);
    assert!(lab.up.channel.recv(lab.now).is_none(), "the ring drained");
    let _ = lab.guest();
}

/// The vif `rate`: the guest's frames leave at the credit's pace, each wait
/// ending at a time the data plane reports (`Work::wake_at`, the domain's
/// timer), never in a busy loop.
#[test]
fn a_rate_limited_guest_sends_at_its_credits_pace() {
    use crate::netback::TxRate;
    const MS: u64 = 1_000_000;
    let rate = TxRate {
        bytes: 3000,
        usecs: 1000,
    };
    let mut lab = Lab::with_rate(RingPages::FOR_FRAMES, Some(rate));
    for _ in 0..7 {
        lab.fe
            .queue_tx(&mut lab.xen, &frame(1500, MAC), &[1500], 0, 0, &[]);
    }
    lab.fe.tx.push();
    let work = lab.tx();
    assert_eq!(
        work,
        Work {
            more: false,
            wake_at: Some(MS)
        }
    );
    assert_eq!(lab.at_corm().len(), 2);
    let mut got = 2;
    let mut wakes = 0;
    while got < 7 {
        let w = lab.tx();
        got += lab.at_corm().len();
        if let Some(t) = w.wake_at {
            assert!(t > lab.now, "no busy loop");
            lab.now = t;
        }
        wakes += 1;
        assert!(wakes < 10);
    }
    // 3000 bytes at once and per millisecond: two frames a window.
    assert_eq!(lab.now, 3 * MS);
    let mut all = Work::default();
    all.merge(Work {
        more: false,
        wake_at: Some(5),
    });
    all.merge(Work {
        more: true,
        wake_at: Some(3),
    });
    all.merge(Work::default());
    assert_eq!(
        all,
        Work {
            more: true,
            wake_at: Some(3)
        }
    );
}
