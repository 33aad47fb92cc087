//! The Spike's RX path (`Vif::rx_plan` / `Vif::rx_commit`) against a
//! hostile netfront: the fuzz input is a script of frontend moves on the RX
//! ring of `xen/include/public/io/netif.h` ("Guest receive") — requests with
//! any `id` and `gref`, raw slot scribbles, `req_prod` values that lie or
//! jump (backwards, past the ring), rewrites of the ring racing the grant
//! copy — interleaved with frames from the wire (any length, checksum and GSO
//! metadata) and commits whose copies fail as the input says.
//!
//! Asserted, besides "no panic":
//! * a commit publishes exactly the slots its planned frames need (one per
//!   4 KiB of data, plus one `netif_extra_info` after the first for GSO), and
//!   never more responses than requests the frontend published
//!   (`rsp_prod` never passes a `req_prod` value it wrote, `io/ring.h`);
//! * every data response sits in the slot of a request it answers: its `id`
//!   is one the frontend wrote into that very slot (netif.h: netfront finds
//!   rx responses by slot), its `offset` is 0, its `status` is the slot's byte
//!   count or `NETIF_RSP_ERROR`, `NETRXF_more_data` is set on all but the
//!   last slot, and `NETRXF_extra_info` is followed by the frame's GSO extra;
//! * an `Err` from the vif is always a recorded `Fatal`.
#![no_main]

use std::collections::VecDeque;
use std::rc::Rc;

use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use pv_runtime::abi::grant_table::GNTST_OKAY;
use spike_domain::netback::fake::{FakeFrontend, FakeSource, FakeXen, FrontRing};
use spike_domain::netback::netif::{
    RxRequest, EXTRA_TYPE_GSO, GSO_TYPE_TCPV4, GSO_TYPE_TCPV6, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA,
    PAGE_SIZE, RSP_ERROR, RX_RING_SIZE,
};
use spike_domain::netback::{
    CsumMeta, FrameMeta, FrontendFeatures, Gso, GsoKind, HeapPage, LocalPages, RxFrame, RxPlan,
    SharedPage, Vif, VifConfig,
};

const FE: u16 = 5;
/// The domain whose pages play the wire's ring toward the guest.
const RING_DOM: u16 = 3;
const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x12, 0x34, 0x56];
const REQ_PROD: usize = 0;
const RSP_PROD: usize = 8;
const MASK: u32 = RX_RING_SIZE - 1;
/// Script steps per input.
const MAX_STEPS: usize = 96;

/// A frame planned and not yet committed: its length and GSO.
struct Planned {
    len: usize,
    gso: Option<Gso>,
}

/// The frontend's side of the story, as the fuzz target keeps it.
struct Front {
    ring: FrontRing,
    /// Every id ever written into each slot (requests, scribbles, racing
    /// rewrites; the zeroed page's 0 to begin with).
    ids: Vec<Vec<u16>>,
    /// `req_prod` values published since the last commit.
    published: Vec<u32>,
}

impl Front {
    fn write(&mut self, idx: u32, req: RxRequest) {
        self.ring.write_slot(idx, req);
        let ids = &mut self.ids[(idx & MASK) as usize];
        if !ids.contains(&req.id) && ids.len() < 4096 {
            ids.push(req.id);
        }
    }

    /// Records each slot's current `id` bytes as written by the frontend.
    fn record_slots(&mut self) {
        for i in 0..RX_RING_SIZE {
            let r: RxRequest = self.ring.read_slot(i);
            let ids = &mut self.ids[i as usize];
            if !ids.contains(&r.id) && ids.len() < 4096 {
                ids.push(r.id);
            }
        }
    }

    fn publish(&mut self, prod: u32) {
        self.ring.set(REQ_PROD, prod);
        self.published.push(prod);
    }
}

fn frame_len(u: &mut Unstructured) -> AResult<usize> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => usize::from(u.int_in_range(0..=64u16)?),
        1..=3 => usize::from(u.int_in_range(14..=1518u16)?),
        4 => usize::from(u.int_in_range(4090..=4200u16)?),
        5 => usize::from(u.int_in_range(8000..=9100u16)?),
        _ => usize::from(u.arbitrary::<u16>()?) + usize::from(u.arbitrary::<bool>()?),
    })
}

/// Checks the responses one commit published against the frames it committed.
fn check_commit(front: &mut Front, before: u32, frames: &[Planned]) {
    let after = front.ring.get(RSP_PROD);
    let n = after.wrapping_sub(before);
    let need: usize = frames
        .iter()
        .map(|f| f.len.div_ceil(PAGE_SIZE) + usize::from(f.gso.is_some()))
        .sum();
    assert_eq!(n as usize, need, "responses published != slots planned");
    if n > 0 {
        assert!(
            front
                .published
                .iter()
                .any(|p| p.wrapping_sub(before) >= n && p.wrapping_sub(before) <= RX_RING_SIZE),
            "more responses than requests published"
        );
    }
    let rsps = front.ring.responses::<[u8; 8]>();
    assert_eq!(rsps.len() as u32, n);
    let mut at = 0usize;
    for f in frames {
        let pages = f.len.div_ceil(PAGE_SIZE);
        for j in 0..pages {
            let r = rsps[at];
            let slot = before.wrapping_add(at as u32);
            at += 1;
            let id = u16::from_ne_bytes([r[0], r[1]]);
            let offset = u16::from_ne_bytes([r[2], r[3]]);
            let flags = u16::from_ne_bytes([r[4], r[5]]);
            let status = i16::from_ne_bytes([r[6], r[7]]);
            assert!(
                front.ids[(slot & MASK) as usize].contains(&id),
                "response id {id} was never a request id in slot {}",
                slot & MASK
            );
            assert_eq!(offset, 0);
            let chunk = (f.len - j * PAGE_SIZE).min(PAGE_SIZE);
            assert!(
                status == RSP_ERROR || status as usize == chunk,
                "status {status}"
            );
            assert_eq!(flags & NETRXF_MORE_DATA != 0, j + 1 < pages);
            assert_eq!(flags & NETRXF_EXTRA_INFO != 0, j == 0 && f.gso.is_some());
            if j == 0 {
                if let Some(g) = f.gso {
                    let e = rsps[at];
                    at += 1;
                    assert_eq!(e[0], EXTRA_TYPE_GSO);
                    assert_eq!(u16::from_ne_bytes([e[2], e[3]]), g.size);
                    let t = match g.kind {
                        GsoKind::TcpV4 => GSO_TYPE_TCPV4,
                        GsoKind::TcpV6 => GSO_TYPE_TCPV6,
                    };
                    assert_eq!(e[4], t);
                }
            }
        }
    }
    front.published.clear();
    front.published.push(front.ring.get(REQ_PROD));
}

fn run(u: &mut Unstructured) -> AResult<()> {
    let start = match u.int_in_range(0..=3u8)? {
        0 => 0,
        1 => u32::MAX - u32::from(u.int_in_range(0..=8u8)?),
        _ => u.arbitrary()?,
    };
    let bits: u8 = u.arbitrary()?;
    let features = FrontendFeatures {
        rx_copy: true,
        rx_notify: true,
        sg: bits & 1 != 0,
        gso_tcpv4: bits & 2 != 0,
        gso_tcpv6: bits & 4 != 0,
        no_csum_offload: bits & 8 != 0,
        ipv6_csum_offload: bits & 16 != 0,
        malformed: 0,
    };
    let mut cfg = VifConfig::new(FE, 0, MAC, features);
    cfg.mtu = match bits >> 5 {
        0..=3 => 1500,
        4..=6 => 9000,
        _ => u.arbitrary()?,
    };

    let mut xen = FakeXen::new();
    let fe = FakeFrontend::new(FE, start);
    for g in 0..16 {
        xen.grant(FE, g);
    }
    let bounce = LocalPages::heap(usize::from(u.int_in_range(0..=9u8)?), 0x8000);
    // SAFETY: the bounce pool moves into the vif, which outlives every copy
    // below; moving a LocalPages does not move its pages.
    unsafe { xen.attach(&bounce) };
    let mut front = Front {
        ring: fe.rx.clone(),
        ids: vec![vec![0]; RX_RING_SIZE as usize],
        published: vec![start],
    };
    let mut prod = start;
    if u.ratio(1, 8)? {
        // A ring whose req_prod already lies at attach.
        prod = u.arbitrary()?;
        front.publish(prod);
    }
    let Ok(mut vif) = Vif::new(cfg, fe.tx.page.clone(), fe.rx.page.clone(), bounce) else {
        return Ok(());
    };

    let mut planned: Vec<Planned> = Vec::new();
    // Pages of the frames planned, kept in `xen` until their commit.
    let mut frame_grefs: Vec<Vec<u32>> = Vec::new();
    let mut next_gref = 10_000u32;
    let mut rsp_before = start;
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=9u8)? {
            // Post requests the way netfront does, ids and grefs as given.
            0..=2 => {
                let k = u.int_in_range(1..=64u8)?;
                for _ in 0..k {
                    let req = RxRequest {
                        id: if u.ratio(3, 4)? {
                            (prod & MASK) as u16
                        } else {
                            u.arbitrary()?
                        },
                        pad: u.arbitrary()?,
                        gref: if u.ratio(7, 8)? {
                            u32::from(u.int_in_range(0..=17u8)?)
                        } else {
                            u.arbitrary()?
                        },
                    };
                    front.write(prod, req);
                    prod = prod.wrapping_add(1);
                }
                front.publish(prod);
            }
            // A lying or jumping req_prod.
            3 => {
                prod = match u.int_in_range(0..=3u8)? {
                    0 => u.arbitrary()?,
                    1 => prod.wrapping_sub(u32::from(u.arbitrary::<u8>()?)),
                    _ => prod.wrapping_add(u32::from(u.arbitrary::<u16>()? % 600)),
                };
                front.publish(prod);
            }
            // Raw bytes over a slot.
            4 => {
                let idx: u32 = u.arbitrary()?;
                let raw: [u8; 8] = u.arbitrary()?;
                let req = RxRequest {
                    id: u16::from_ne_bytes([raw[0], raw[1]]),
                    pad: u16::from_ne_bytes([raw[2], raw[3]]),
                    gref: u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]),
                };
                front.write(idx, req);
            }
            // A frame from the wire.
            5..=7 => {
                let len = frame_len(u)?;
                let checksum = match u.int_in_range(0..=3u8)? {
                    0 => CsumMeta::None,
                    1 => CsumMeta::Validated,
                    _ => CsumMeta::Partial {
                        start: u.int_in_range(0..=200u16)?,
                        offset: u.int_in_range(0..=64u16)?,
                    },
                };
                let gso = if u.ratio(1, 3)? {
                    Some(Gso {
                        kind: if u.arbitrary()? {
                            GsoKind::TcpV4
                        } else {
                            GsoKind::TcpV6
                        },
                        size: u.arbitrary()?,
                    })
                } else {
                    None
                };
                let mut head = [0u8; 64];
                u.fill_buffer(&mut head)?;
                if u.arbitrary()? {
                    head[12..14].copy_from_slice(&[0x86, 0xdd]);
                }
                // Sometimes the source cannot place its last page.
                let short = u.ratio(1, 16)?;
                let pages = len.div_ceil(PAGE_SIZE).max(1) - usize::from(short);
                let mut grefs = Vec::new();
                for p in 0..pages {
                    let page = xen.grant(RING_DOM, next_gref);
                    for (i, b) in page.iter_mut().enumerate() {
                        *b = head[(i + p * 7) % head.len()];
                    }
                    grefs.push(next_gref);
                    next_gref += 1;
                }
                let frame = RxFrame {
                    len,
                    meta: FrameMeta { checksum, gso },
                };
                let mut src = FakeSource {
                    xen: &xen,
                    domid: RING_DOM,
                    grefs: &grefs,
                };
                match vif.rx_plan(&frame, &mut src) {
                    Ok(RxPlan::Planned) => {
                        planned.push(Planned { len, gso });
                        frame_grefs.push(grefs);
                    }
                    Ok(_) => {
                        for g in grefs {
                            xen.revoke(RING_DOM, g);
                        }
                    }
                    Err(_) => assert!(vif.fatal().is_some()),
                }
                assert_eq!(vif.rx_planned(), planned.len());
            }
            // A commit, its copies failing as told, the frontend racing it.
            8 => {
                let n = u.int_in_range(0..=16u8)?;
                xen.forced = (0..n)
                    .map(|_| {
                        Ok(match u.arbitrary::<u8>()? {
                            0..=159 => GNTST_OKAY,
                            b => -i16::from(b % 13),
                        })
                    })
                    .collect::<AResult<VecDeque<_>>>()?;
                xen.fail_hypercall = u.ratio(1, 16)?;
                xen.on_copy = if u.ratio(1, 4)? {
                    let page: Rc<HeapPage> = front.ring.page.clone();
                    let junk: [u8; 16] = u.arbitrary()?;
                    let at = usize::from(u.arbitrary::<u8>()?) * 8;
                    Some(Box::new(move || {
                        // The frontend rewrites requests (ours to answer now)
                        // while the backend copies: only responses matter.
                        let base = page.base().as_ptr();
                        for (i, b) in junk.iter().enumerate() {
                            let off = 64 + (at + i) % (PAGE_SIZE - 64);
                            // SAFETY: inside the fuzz-owned ring page, after
                            // the header; single thread, no live references.
                            unsafe { base.add(off).write_volatile(*b) };
                        }
                    }))
                } else {
                    None
                };
                match vif.rx_commit(&mut xen) {
                    Ok(p) => {
                        assert_eq!(p.delivered as usize, planned.len());
                        check_commit(&mut front, rsp_before, &planned);
                        rsp_before = front.ring.get(RSP_PROD);
                    }
                    Err(_) => {
                        assert!(vif.fatal().is_some());
                        assert_eq!(front.ring.get(RSP_PROD), rsp_before);
                    }
                }
                planned.clear();
                for g in frame_grefs.drain(..).flatten() {
                    xen.revoke(RING_DOM, g);
                }
                xen.on_copy = None;
                xen.fail_hypercall = false;
                // Whatever the slots hold now (a racing rewrite, our own
                // responses) is what a lying `req_prod` makes us read next.
                front.record_slots();
            }
            // Peeks and counters the Spike's loop uses.
            _ => {
                let _ = vif.rx_posted();
                vif.rx_dropped_no_buffers();
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
