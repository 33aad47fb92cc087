//! RX (world → guest) tests: frames sit in the wire's ring (fake pages) and
//! are grant-copied straight into the guest's buffers.

use super::*;
use crate::netback::netif::*;

fn rsps(w: &mut World) -> Vec<RxResponse> {
    w.fe.rx.responses()
}

fn guest_page(w: &World, gref: u32) -> &[u8; 4096] {
    w.xen.granted(FE, gref).unwrap()
}

fn tcp_gso(size: u16) -> Option<Gso> {
    Some(Gso {
        kind: GsoKind::TcpV4,
        size,
    })
}

#[test]
fn single_frame_delivered_into_posted_buffer() {
    let mut w = World::new();
    let grefs = w.fe.post_rx(&mut w.xen, 4);
    let f = eth(100);
    assert_eq!(w.rx_plan(&f, CsumMeta::None, None), Ok(RxPlan::Planned));
    assert_eq!(w.vif.rx_planned(), 1);
    let before = w.xen.bytes;
    let p = w.rx_commit().unwrap();
    assert_eq!(
        p,
        RxPass {
            delivered: 1,
            notify: true,
        }
    );
    assert_eq!(w.xen.bytes - before, 100, "one copy, ring to guest");
    assert_eq!(
        rsps(&mut w),
        vec![RxResponse {
            id: 0,
            offset: 0,
            flags: 0,
            status: 100
        }]
    );
    assert_eq!(&guest_page(&w, grefs[0])[..100], &f[..]);
    let c = w.vif.counters();
    assert_eq!((c.rx_packets, c.rx_bytes), (1, 100));
    assert!(
        !w.rx_commit().unwrap().notify,
        "nothing planned: nothing to do"
    );
}

#[test]
fn multi_slot_needs_feature_sg() {
    let mut cfg = config();
    cfg.mtu = 9000;
    let mut w = World::with(cfg, 0);
    let grefs = w.fe.post_rx(&mut w.xen, 4);
    let f = eth(9014);
    assert_eq!(w.rx_plan(&f, CsumMeta::None, None), Ok(RxPlan::Planned));
    assert_eq!(w.rx_commit().unwrap().delivered, 1);
    let r = rsps(&mut w);
    let flags: Vec<_> = r.iter().map(|r| (r.id, r.flags, r.status)).collect();
    assert_eq!(
        flags,
        vec![
            (0, NETRXF_MORE_DATA, 4096),
            (1, NETRXF_MORE_DATA, 4096),
            (2, 0, 822)
        ]
    );
    let mut got = Vec::new();
    for (g, r) in grefs.iter().zip(&r) {
        got.extend_from_slice(&guest_page(&w, *g)[..r.status as usize]);
    }
    assert_eq!(got, f);

    let mut cfg = config();
    cfg.mtu = 9000;
    cfg.features.sg = false;
    let mut w = World::with(cfg, 0);
    w.fe.post_rx(&mut w.xen, 4);
    assert_eq!(
        w.rx_plan(&f, CsumMeta::None, None),
        Ok(RxPlan::Dropped(RxDrop::Oversize))
    );
    assert_eq!(w.vif.counters().rx_oversize, 1);
    assert_eq!(
        w.rx_plan(&eth(9015), CsumMeta::None, None),
        Ok(RxPlan::Dropped(RxDrop::Oversize)),
        "over the MTU"
    );
}

#[test]
fn gso_frames_get_an_extra_slot_only_if_wanted() {
    let (f, csum) = partial_frame(false, checksum::IPPROTO_TCP, 6000);

    let mut w = World::new();
    w.fe.post_rx(&mut w.xen, 8);
    assert_eq!(
        w.rx_plan(&f, csum, tcp_gso(1448)),
        Ok(RxPlan::Dropped(RxDrop::GsoUnsupported))
    );
    assert_eq!(w.vif.counters().rx_gso_unsupported, 1);

    let mut cfg = config();
    cfg.features.gso_tcpv4 = true;
    let mut w = World::with(cfg, 0);
    let grefs = w.fe.post_rx(&mut w.xen, 8);
    assert_eq!(w.rx_plan(&f, csum, tcp_gso(1448)), Ok(RxPlan::Planned));
    assert_eq!(w.rx_commit().unwrap().delivered, 1);
    let r = rsps(&mut w);
    assert_eq!(r.len(), 3);
    let first = NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED | NETRXF_EXTRA_INFO | NETRXF_MORE_DATA;
    assert_eq!((r[0].id, r[0].flags, r[0].status), (0, first, 4096));
    let extra: ExtraInfo = w.fe.rx.read_slot(1);
    assert_eq!(
        (extra.ty, extra.flags, extra.gso_type(), extra.gso_size()),
        (EXTRA_TYPE_GSO, 0, GSO_TYPE_TCPV4, 1448)
    );
    assert_eq!(
        (r[2].id, r[2].flags, r[2].status as usize),
        (2, 0, f.len() - 4096)
    );
    assert_eq!(&guest_page(&w, grefs[2])[..f.len() - 4096], &f[4096..]);

    assert_eq!(
        w.rx_plan(&f, CsumMeta::None, tcp_gso(1448)),
        Ok(RxPlan::Dropped(RxDrop::BadFrame)),
        "GSO needs a partial checksum"
    );
    assert_eq!(
        w.rx_plan(&f, csum, tcp_gso(0)),
        Ok(RxPlan::Dropped(RxDrop::BadFrame))
    );
}

/// No queue in the Spike: a guest without buffers leaves its frames in the
/// wire's ring, and is asked to kick once the head frame fits.
#[test]
fn a_guest_without_buffers_leaves_frames_in_the_ring() {
    let mut w = World::new();
    let f = eth(60);
    assert_eq!(w.rx_plan(&f, CsumMeta::None, None), Ok(RxPlan::NoRoom));
    assert_eq!(
        w.fe.rx.req_event(),
        1,
        "armed for the head frame's one slot"
    );
    assert!(!w.vif.rx_posted());
    assert_eq!(w.rx_commit().unwrap(), RxPass::default());
    w.fe.post_rx(&mut w.xen, 2);
    assert!(w.vif.rx_posted());
    assert_eq!(w.rx_plan(&f, CsumMeta::None, None), Ok(RxPlan::Planned));
    assert_eq!(w.rx_plan(&f, CsumMeta::None, None), Ok(RxPlan::Planned));
    assert_eq!(w.rx_plan(&f, CsumMeta::None, None), Ok(RxPlan::NoRoom));
    assert_eq!(w.rx_commit().unwrap().delivered, 2);
    // A 9000-byte frame needs three buffers: armed for three.
    let mut cfg = config();
    cfg.mtu = 9000;
    let mut w = World::with(cfg, 0);
    w.fe.post_rx(&mut w.xen, 2);
    assert_eq!(
        w.rx_plan(&eth(9014), CsumMeta::None, None),
        Ok(RxPlan::NoRoom)
    );
    assert_eq!(w.fe.rx.req_event(), 3);
}

#[test]
fn partial_checksum_completed_for_frontends_without_offload() {
    let (f, csum) = partial_frame(false, checksum::IPPROTO_UDP, 200);
    let (f6, csum6) = partial_frame(true, checksum::IPPROTO_TCP, 200);

    let mut w = World::new();
    let g = w.fe.post_rx(&mut w.xen, 3);
    for (data, c) in [(&f, csum), (&f, CsumMeta::Validated), (&f6, csum6)] {
        assert_eq!(w.rx_plan(data, c, None), Ok(RxPlan::Planned));
    }
    w.rx_commit().unwrap();
    let r = rsps(&mut w);
    assert_eq!(r[0].flags, NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED);
    assert_eq!(r[1].flags, NETRXF_DATA_VALIDATED);
    assert_eq!(r[2].flags, NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED);
    assert_eq!(
        &guest_page(&w, g[0])[..f.len()],
        &f[..],
        "left for the guest to finish"
    );

    let mut cfg = config();
    cfg.features.no_csum_offload = true;
    cfg.features.ipv6_csum_offload = false;
    let mut w = World::build(cfg, 0, 4, 1);
    let g = w.fe.post_rx(&mut w.xen, 2);
    assert_eq!(w.rx_plan(&f, csum, None), Ok(RxPlan::Planned));
    // One private page for software checksums: the next waits for a commit.
    assert_eq!(w.rx_plan(&f6, csum6, None), Ok(RxPlan::Later));
    w.rx_commit().unwrap();
    assert_eq!(w.rx_plan(&f6, csum6, None), Ok(RxPlan::Planned));
    w.rx_commit().unwrap();
    let r = rsps(&mut w);
    assert_eq!((r[0].flags, r[1].flags), (0, 0));
    assert!(checksum::verify_l4(&guest_page(&w, g[0])[..f.len()]).unwrap());
    assert!(checksum::verify_l4(&guest_page(&w, g[1])[..f6.len()]).unwrap());
    assert_eq!(w.vif.counters().rx_csum_completed, 2);

    let bad = CsumMeta::Partial {
        start: 34,
        offset: 1000,
    };
    assert_eq!(
        w.rx_plan(&f, bad, None),
        Ok(RxPlan::Dropped(RxDrop::BadFrame))
    );
    assert_eq!(
        w.rx_plan(&f[..10], CsumMeta::None, None),
        Ok(RxPlan::Dropped(RxDrop::BadFrame))
    );
}

#[test]
fn rx_req_prod_overflow_is_fatal() {
    let mut w = World::new();
    w.fe.rx.set(0, 5000);
    assert!(matches!(
        w.rx_plan(&eth(60), CsumMeta::None, None),
        Err(Fatal::RxRingOverflow(_))
    ));
    assert!(w.tx().is_err(), "whole vif is down");
    assert!(w.rx_commit().is_err());
}

#[test]
fn bad_rx_gref_is_answered_with_error() {
    let mut w = World::new();
    let g = w.fe.post_rx(&mut w.xen, 2);
    w.xen.revoke(FE, g[0]);
    w.rx_plan(&eth(60), CsumMeta::None, None).unwrap();
    w.rx_plan(&eth(70), CsumMeta::None, None).unwrap();
    assert_eq!(w.rx_commit().unwrap().delivered, 2);
    let r = rsps(&mut w);
    assert_eq!((r[0].status, r[1].status), (RSP_ERROR, 70));
    assert_eq!(w.vif.counters().rx_copy_failed, 1);
    assert_eq!(w.vif.counters().rx_packets, 1);
}

#[test]
fn rx_wraps_around_u32_max_and_keeps_slot_order() {
    let mut w = World::with(config(), u32::MAX - 1);
    let grefs = w.fe.post_rx(&mut w.xen, 6);
    for n in [60, 61, 62, 63] {
        w.rx_plan(&eth(n), CsumMeta::None, None).unwrap();
    }
    let p = w.rx_commit().unwrap();
    assert_eq!(p.delivered, 4);
    let r = rsps(&mut w);
    let ids: Vec<_> = r.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        vec![254, 255, 0, 1],
        "response in the request's slot, id echoed"
    );
    for (i, g) in grefs.iter().take(4).enumerate() {
        assert_eq!(&guest_page(&w, *g)[..60 + i], &eth(60 + i)[..]);
    }
}
