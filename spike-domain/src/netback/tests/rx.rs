//! RX (world → guest) tests.

use super::*;
use crate::netback::netif::*;

fn rx(data: &[u8]) -> RxFrame<'_> {
    RxFrame {
        data,
        csum: CsumMeta::None,
        gso: None,
    }
}

fn rsps(w: &mut World) -> Vec<RxResponse> {
    w.fe.rx.responses()
}

fn guest_page(w: &World, gref: u32) -> &[u8; 4096] {
    w.xen.granted(FE, gref).unwrap()
}

#[test]
fn single_frame_delivered_into_posted_buffer() {
    let mut w = World::new();
    let grefs = w.fe.post_rx(&mut w.xen, 4);
    let f = eth(100);
    w.vif.queue_rx(rx(&f)).unwrap();
    let p = w.vif.flush_rx(&mut w.xen).unwrap();
    assert_eq!(
        p,
        RxPass {
            delivered: 1,
            notify: true,
            more: false
        }
    );
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
        !w.vif.flush_rx(&mut w.xen).unwrap().notify,
        "empty queue: nothing to do"
    );
}

#[test]
fn multi_slot_needs_feature_sg() {
    let mut cfg = config();
    cfg.mtu = 9000;
    let mut w = World::with(cfg, 0);
    let grefs = w.fe.post_rx(&mut w.xen, 4);
    let f = eth(9014);
    w.vif.queue_rx(rx(&f)).unwrap();
    assert_eq!(w.vif.flush_rx(&mut w.xen).unwrap().delivered, 1);
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
    assert_eq!(w.vif.queue_rx(rx(&f)), Err(RxDrop::Oversize));
    assert_eq!(w.vif.counters().rx_oversize, 1);
    assert_eq!(
        w.vif.queue_rx(rx(&eth(9015))),
        Err(RxDrop::Oversize),
        "over the MTU"
    );
}

#[test]
fn gso_frames_get_an_extra_slot_only_if_wanted() {
    let (f, csum) = partial_frame(false, checksum::IPPROTO_TCP, 6000);
    let frame = RxFrame {
        data: &f,
        csum,
        gso: Some((GsoKind::TcpV4, 1448)),
    };

    let mut w = World::new();
    w.fe.post_rx(&mut w.xen, 8);
    assert_eq!(w.vif.queue_rx(frame), Err(RxDrop::GsoUnsupported));
    assert_eq!(w.vif.counters().rx_gso_unsupported, 1);

    let mut cfg = config();
    cfg.features.gso_tcpv4 = true;
    let mut w = World::with(cfg, 0);
    let grefs = w.fe.post_rx(&mut w.xen, 8);
    w.vif.queue_rx(frame).unwrap();
    assert_eq!(w.vif.flush_rx(&mut w.xen).unwrap().delivered, 1);
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

    let bad = RxFrame {
        data: &f,
        csum: CsumMeta::None,
        gso: Some((GsoKind::TcpV4, 1448)),
    };
    assert_eq!(
        w.vif.queue_rx(bad),
        Err(RxDrop::BadFrame),
        "GSO needs a partial checksum"
    );
    let zero = RxFrame {
        gso: Some((GsoKind::TcpV4, 0)),
        ..frame
    };
    assert_eq!(w.vif.queue_rx(zero), Err(RxDrop::BadFrame));
}

#[test]
fn guest_without_buffers_bounds_the_queue() {
    let mut cfg = config();
    cfg.limits.rx_queue_frames = 8;
    let mut w = World::with(cfg, 0);
    let f = eth(60);
    for _ in 0..8 {
        w.vif.queue_rx(rx(&f)).unwrap();
    }
    for _ in 0..5 {
        assert_eq!(w.vif.queue_rx(rx(&f)), Err(RxDrop::NoBuffers));
    }
    assert_eq!(w.vif.counters().rx_no_buffers, 5);
    let p = w.vif.flush_rx(&mut w.xen).unwrap();
    assert_eq!(
        p,
        RxPass {
            delivered: 0,
            notify: false,
            more: false
        }
    );
    assert_eq!(
        w.fe.rx.req_event(),
        1,
        "armed for the head frame's one slot"
    );

    w.fe.post_rx(&mut w.xen, 3);
    assert_eq!(
        w.vif.queue_rx(rx(&f)),
        Err(RxDrop::QueueFull),
        "buffers posted: queue full"
    );
    let p = w.vif.flush_rx(&mut w.xen).unwrap();
    assert_eq!(p.delivered, 3);
    assert_eq!(w.vif.rx_queued(), 5);
    assert_eq!(w.vif.purge_rx(), 5);
    assert_eq!(w.vif.counters().rx_no_buffers, 10);
    assert_eq!(w.vif.counters().rx_queue_full, 1);
}

#[test]
fn pool_pages_bound_the_queue() {
    let mut w = World::build(config(), 0, 4, 3);
    let mut cfg_big = config();
    cfg_big.mtu = 9000;
    let mut big = World::build(cfg_big, 0, 4, 3);
    let f = eth(9014);
    big.vif.queue_rx(rx(&f)).unwrap();
    assert_eq!(big.vif.queue_rx(rx(&f)), Err(RxDrop::NoBuffers));
    for _ in 0..3 {
        w.vif.queue_rx(rx(&eth(60))).unwrap();
    }
    assert_eq!(w.vif.queue_rx(rx(&eth(60))), Err(RxDrop::NoBuffers));
    w.fe.post_rx(&mut w.xen, 1);
    assert_eq!(
        w.vif.flush_rx(&mut w.xen).unwrap(),
        RxPass {
            delivered: 1,
            notify: true,
            more: false
        }
    );
    w.vif.queue_rx(rx(&eth(60))).unwrap();
}

#[test]
fn partial_checksum_completed_for_frontends_without_offload() {
    let (f, csum) = partial_frame(false, checksum::IPPROTO_UDP, 200);
    let (f6, csum6) = partial_frame(true, checksum::IPPROTO_TCP, 200);

    let mut w = World::new();
    let g = w.fe.post_rx(&mut w.xen, 3);
    w.vif
        .queue_rx(RxFrame {
            data: &f,
            csum,
            gso: None,
        })
        .unwrap();
    w.vif
        .queue_rx(RxFrame {
            data: &f,
            csum: CsumMeta::Validated,
            gso: None,
        })
        .unwrap();
    w.vif
        .queue_rx(RxFrame {
            data: &f6,
            csum: csum6,
            gso: None,
        })
        .unwrap();
    w.vif.flush_rx(&mut w.xen).unwrap();
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
    let mut w = World::with(cfg, 0);
    let g = w.fe.post_rx(&mut w.xen, 2);
    w.vif
        .queue_rx(RxFrame {
            data: &f,
            csum,
            gso: None,
        })
        .unwrap();
    w.vif
        .queue_rx(RxFrame {
            data: &f6,
            csum: csum6,
            gso: None,
        })
        .unwrap();
    w.vif.flush_rx(&mut w.xen).unwrap();
    let r = rsps(&mut w);
    assert_eq!((r[0].flags, r[1].flags), (0, 0));
    assert!(checksum::verify_l4(&guest_page(&w, g[0])[..f.len()]).unwrap());
    assert!(checksum::verify_l4(&guest_page(&w, g[1])[..f6.len()]).unwrap());
    assert_eq!(w.vif.counters().rx_csum_completed, 2);

    let bad = RxFrame {
        data: &f,
        csum: CsumMeta::Partial {
            start: 34,
            offset: 1000,
        },
        gso: None,
    };
    assert_eq!(w.vif.queue_rx(bad), Err(RxDrop::BadFrame));
    assert_eq!(w.vif.queue_rx(rx(&f[..10])), Err(RxDrop::BadFrame));
}

#[test]
fn rx_req_prod_overflow_is_fatal() {
    let mut w = World::new();
    w.vif.queue_rx(rx(&eth(60))).unwrap();
    w.fe.rx.set(0, 5000);
    assert!(matches!(
        w.vif.flush_rx(&mut w.xen),
        Err(Fatal::RxRingOverflow(_))
    ));
    let mut sink = |_: TxFrame<'_>| true;
    assert!(
        w.vif
            .process_tx(&mut w.xen, &mut w.pool, &mut sink)
            .is_err(),
        "whole vif is down"
    );
}

#[test]
fn bad_rx_gref_is_answered_with_error() {
    let mut w = World::new();
    let g = w.fe.post_rx(&mut w.xen, 2);
    w.xen.revoke(FE, g[0]);
    w.vif.queue_rx(rx(&eth(60))).unwrap();
    w.vif.queue_rx(rx(&eth(70))).unwrap();
    assert_eq!(w.vif.flush_rx(&mut w.xen).unwrap().delivered, 2);
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
        w.vif.queue_rx(rx(&eth(n))).unwrap();
    }
    let p = w.vif.flush_rx(&mut w.xen).unwrap();
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
