//! TX (guest → world) tests.

use super::*;
use crate::netback::netif::*;
use crate::netback::tx::MAX_TX_SLOTS;

fn ok(ids: &[u16]) -> Vec<TxResponse> {
    ids.iter()
        .map(|&id| TxResponse {
            id,
            status: RSP_OKAY,
        })
        .collect()
}

fn all(ids: &[u16], status: i16) -> Vec<TxResponse> {
    ids.iter().map(|&id| TxResponse { id, status }).collect()
}

#[test]
fn single_slot_frame_is_delivered_and_answered() {
    let mut w = World::new();
    let f = eth(100);
    let ids = w.send(&f, &[100], 0, &[]);
    let pass = w.tx().unwrap();
    assert_eq!(
        pass,
        TxPass {
            consumed: 1,
            delivered: 1,
            notify: true,
            more: false,
            blocked: false,
            credit_wait: None,
        }
    );
    assert_eq!(w.sent, vec![(f, CsumMeta::None, None)]);
    assert_eq!(w.tx_rsps(), ok(&ids));
    let c = w.vif.counters();
    assert_eq!((c.tx_packets, c.tx_bytes, c.tx_requests), (1, 100, 1));
    assert_eq!(w.xen.calls, 1, "one batched copy per pass");
}

#[test]
fn multi_slot_frame_with_split_headers_is_linearised() {
    let mut w = World::new();
    let f = eth(1000);
    // Ethernet header split 10 + 4 across slots (XSA-423), a zero-size slot.
    let ids = w.send(&f, &[10, 4, 0, 586, 400], 0, &[]);
    let pass = w.tx().unwrap();
    assert_eq!((pass.consumed, pass.delivered), (5, 1));
    assert_eq!(w.sent[0].0, f);
    assert_eq!(w.tx_rsps(), ok(&ids));
}

#[test]
fn jumbo_frame_over_several_local_pages() {
    let mut cfg = config();
    cfg.mtu = 9000;
    let mut w = World::with(cfg, 0);
    let f = eth(9014);
    let ids =
        w.fe.queue_tx(&mut w.xen, &f, &[3000, 4000, 2014], 96, 0, &[]);
    w.fe.tx.push();
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(w.sent[0].0, f);
    assert_eq!(w.tx_rsps(), ok(&ids));
}

#[test]
fn eighteen_slots_accepted_longer_chains_bounded() {
    let mut w = World::new();
    let f = eth(18 * 60);
    let ids = w.send(&f, &[60; NR_SLOTS_MIN], 0, &[]);
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(w.tx_rsps(), ok(&ids));

    let n = MAX_TX_SLOTS + 1;
    let f = eth(n * 20);
    w.send(&f, &vec![20; n], 0, &[]);
    assert_eq!(w.tx(), Err(Fatal::ChainTooLong { max: MAX_TX_SLOTS }));
    assert_eq!(
        w.vif.fatal(),
        Some(Fatal::ChainTooLong { max: MAX_TX_SLOTS })
    );
    assert_eq!(
        w.tx(),
        Err(Fatal::ChainTooLong { max: MAX_TX_SLOTS }),
        "stays disconnected"
    );
    assert_eq!(w.vif.counters().fatal_errors, 1);
}

#[test]
fn req_prod_overflow_is_fatal() {
    let mut w = World::new();
    w.fe.tx.set(0, TX_RING_SIZE + 1);
    assert!(matches!(w.tx(), Err(Fatal::TxRingOverflow(_))));
    assert_eq!(w.xen.calls, 0);
    assert_eq!(
        w.rx_plan(&eth(60), CsumMeta::None, None),
        Ok(RxPlan::Dropped(RxDrop::Disconnected))
    );
}

#[test]
fn requests_are_fetched_once() {
    let mut w = World::new();
    let f = eth(100);
    let ids = w.send(&f, &[100], 0, &[]);
    let ring = w.fe.tx.clone();
    // After the backend read the request, the frontend rewrites it into
    // something fatal; nothing about the result may change.
    w.xen.on_copy = Some(Box::new(move || {
        ring.write_slot(
            0,
            TxRequest {
                gref: 9999,
                offset: 4000,
                flags: 0xffff,
                id: 77,
                size: 4000,
            },
        );
    }));
    let pass = w.tx().unwrap();
    assert_eq!(pass.delivered, 1);
    assert_eq!(w.sent[0].0, f);
    assert_eq!(w.tx_rsps(), ok(&ids));
}

#[test]
fn slot_crossing_its_page_is_fatal() {
    let mut w = World::new();
    let gref = w.fe.grant_data(&mut w.xen, 0, &eth(200));
    w.fe.tx.queue(TxRequest {
        gref,
        offset: 4000,
        flags: 0,
        id: 1,
        size: 200,
    });
    w.fe.tx.push();
    assert_eq!(
        w.tx(),
        Err(Fatal::SlotCrossesPage {
            offset: 4000,
            size: 200
        })
    );

    let mut w = World::new();
    w.fe.tx.queue(TxRequest {
        gref,
        offset: 0,
        flags: NETTXF_MORE_DATA,
        id: 1,
        size: 300,
    });
    w.fe.tx.queue(TxRequest {
        gref,
        offset: 4090,
        flags: 0,
        id: 2,
        size: 100,
    });
    w.fe.tx.push();
    assert_eq!(
        w.tx(),
        Err(Fatal::SlotCrossesPage {
            offset: 4090,
            size: 100
        })
    );
}

#[test]
fn first_size_below_sum_of_rest_is_an_error_not_fatal() {
    let mut w = World::new();
    let gref = w.fe.grant_data(&mut w.xen, 0, &eth(300));
    w.fe.tx.queue(TxRequest {
        gref,
        offset: 0,
        flags: NETTXF_MORE_DATA,
        id: 1,
        size: 100,
    });
    w.fe.tx.queue(TxRequest {
        gref,
        offset: 0,
        flags: 0,
        id: 2,
        size: 200,
    });
    w.fe.tx.push();
    let good = w.send(&eth(64), &[64], 0, &[]);
    let pass = w.tx().unwrap();
    assert_eq!((pass.consumed, pass.delivered), (3, 1));
    let mut expect = all(&[1, 2], RSP_ERROR);
    expect.extend(ok(&good));
    assert_eq!(w.tx_rsps(), expect);
    assert_eq!(w.vif.counters().tx_bad_request, 1);
    assert_eq!(w.sent.len(), 1);
}

#[test]
fn unknown_flags_and_runt_frames_are_errors() {
    let mut w = World::new();
    let a = w.send(&eth(100), &[60, 40], 0x40, &[]);
    let b = w.send(&eth(14)[..10], &[10], 0, &[]);
    let pass = w.tx().unwrap();
    assert_eq!((pass.consumed, pass.delivered), (3, 0));
    let mut expect = all(&a, RSP_ERROR);
    expect.extend(all(&b, RSP_ERROR));
    assert_eq!(w.tx_rsps(), expect);
    assert_eq!(w.vif.counters().tx_bad_request, 2);
}

#[test]
fn unknown_extra_types_are_fatal() {
    for ty in [EXTRA_TYPE_NONE, EXTRA_TYPE_MAX, 0xff] {
        let mut w = World::new();
        let e = ExtraInfo {
            ty,
            ..Default::default()
        };
        w.send(&eth(60), &[60], 0, &[e]);
        assert_eq!(w.tx(), Err(Fatal::BadExtraType(ty)));
    }
    let mut w = World::new();
    let gref = w.fe.grant_data(&mut w.xen, 0, &eth(60));
    w.fe.tx.queue(TxRequest {
        gref,
        offset: 0,
        flags: NETTXF_EXTRA_INFO,
        id: 1,
        size: 60,
    });
    w.fe.tx.push();
    assert_eq!(w.tx(), Err(Fatal::MissingExtra));

    let mut w = World::new();
    let e = ExtraInfo {
        ty: EXTRA_TYPE_HASH,
        ..Default::default()
    };
    w.send(&eth(60), &[60], 0, &[e; 5]);
    assert_eq!(w.tx(), Err(Fatal::TooManyExtras { max: 4 }));
}

#[test]
fn multicast_control_extras_are_accepted_and_ignored() {
    let mut w = World::new();
    let e = ExtraInfo {
        ty: EXTRA_TYPE_MCAST_ADD,
        flags: 0,
        u: [1, 0, 0x5e, 0, 0, 1],
    };
    let ids = w.send(&eth(60), &[60], 0, &[e]);
    let pass = w.tx().unwrap();
    assert_eq!((pass.consumed, pass.delivered), (2, 0));
    assert_eq!(
        w.tx_rsps(),
        vec![
            TxResponse {
                id: ids[0],
                status: RSP_OKAY
            },
            TxResponse {
                id: 0,
                status: RSP_NULL
            }
        ]
    );
    assert_eq!(w.vif.counters().tx_mcast_ignored, 1);
}

#[test]
fn gso_only_when_offered() {
    let (f, _) = partial_frame(false, checksum::IPPROTO_TCP, 3000);
    let sizes = [1000, f.len() - 1000];
    let gso = ExtraInfo::gso(1448, GSO_TYPE_TCPV4);

    let mut w = World::new();
    let ids = w.send(&f, &sizes, NETTXF_CSUM_BLANK, &[gso]);
    assert_eq!(w.tx().unwrap().delivered, 0);
    let r = w.tx_rsps();
    assert_eq!(r.len(), 3);
    assert_eq!(
        (r[0], r[1].status, r[2]),
        (
            TxResponse {
                id: ids[0],
                status: RSP_ERROR
            },
            RSP_NULL,
            TxResponse {
                id: ids[1],
                status: RSP_ERROR
            }
        )
    );
    assert_eq!(w.vif.counters().tx_gso_not_offered, 1);

    let mut cfg = config();
    cfg.offered.gso_tcpv4 = true;
    cfg.offered.gso_tcpv6 = true;
    let mut w = World::with(cfg, 0);
    w.send(&f, &sizes, NETTXF_CSUM_BLANK, &[gso]);
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(
        w.sent[0],
        (
            f.clone(),
            CsumMeta::Partial {
                start: 34,
                offset: 16
            },
            Some(Gso {
                kind: GsoKind::TcpV4,
                size: 1448
            })
        )
    );

    // A GSO frame without csum_blank gets its pseudo-header sum (Linux fix-up).
    let mut raw = f.clone();
    raw[50..52].copy_from_slice(&[0, 0]);
    w.send(&raw, &sizes, 0, &[gso]);
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(w.sent[1].0, f);

    // GSO kind must match the headers.
    w.send(
        &f,
        &sizes,
        NETTXF_CSUM_BLANK,
        &[ExtraInfo::gso(1448, GSO_TYPE_TCPV6)],
    );
    assert_eq!(w.tx().unwrap().delivered, 0);
    assert_eq!(w.vif.counters().tx_bad_gso, 1);

    w.send(
        &f,
        &sizes,
        NETTXF_CSUM_BLANK,
        &[ExtraInfo::gso(0, GSO_TYPE_TCPV4)],
    );
    assert_eq!(w.tx(), Err(Fatal::GsoSizeZero));
    let mut w = World::new();
    w.send(&f, &sizes, NETTXF_CSUM_BLANK, &[ExtraInfo::gso(1448, 9)]);
    assert_eq!(w.tx(), Err(Fatal::BadGsoType(9)));
}

#[test]
fn bad_gref_is_answered_with_error() {
    let mut w = World::new();
    let ids = w.send(&eth(100), &[50, 50], 0, &[]);
    w.xen.revoke(FE, 101);
    let good = w.send(&eth(80), &[80], 0, &[]);
    let pass = w.tx().unwrap();
    assert_eq!((pass.consumed, pass.delivered), (3, 1));
    let mut expect = all(&ids, RSP_ERROR);
    expect.extend(ok(&good));
    assert_eq!(w.tx_rsps(), expect);
    assert_eq!(w.vif.counters().tx_copy_failed, 1);
}

#[test]
fn failed_hypercall_errors_the_pass() {
    let mut w = World::new();
    let ids = w.send(&eth(100), &[100], 0, &[]);
    w.xen.fail_hypercall = true;
    assert_eq!(w.tx().unwrap().delivered, 0);
    assert_eq!(w.tx_rsps(), all(&ids, RSP_ERROR));
    assert_eq!(w.vif.counters().copy_hypercall_failed, 1);
}

#[test]
fn spoofed_source_mac_is_dropped_and_counted() {
    let mut w = World::new();
    let mut f = eth(100);
    f[11] ^= 1;
    let ids = w.send(&f, &[100], 0, &[]);
    assert_eq!(w.tx().unwrap().delivered, 0);
    assert_eq!(w.tx_rsps(), all(&ids, RSP_DROPPED));
    assert_eq!(w.vif.counters().tx_spoofed_mac, 1);
    assert!(w.sent.is_empty());
}

#[test]
fn mtu_with_and_without_vlan_tag() {
    let mut w = World::new();
    let big = eth(1515);
    let a = w.send(&big, &[1515], 0, &[]);
    let mut tagged = eth(1518);
    tagged[12..14].copy_from_slice(&[0x81, 0x00]);
    let b = w.send(&tagged, &[1518], 0, &[]);
    let c = w.send(&eth(1519), &[1519], 0, &[]);
    assert_eq!(w.tx().unwrap().delivered, 1);
    let mut expect = all(&a, RSP_ERROR);
    expect.extend(ok(&b));
    expect.extend(all(&c, RSP_ERROR));
    assert_eq!(w.tx_rsps(), expect);
    assert_eq!(w.vif.counters().tx_oversize, 2);
}

#[test]
fn checksum_flags_become_metadata() {
    let mut w = World::new();
    let (udp, meta) = partial_frame(false, checksum::IPPROTO_UDP, 100);
    w.send(
        &udp,
        &[udp.len()],
        NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED,
        &[],
    );
    w.send(&udp, &[udp.len()], NETTXF_DATA_VALIDATED, &[]);
    let (tcp6, meta6) = partial_frame(true, checksum::IPPROTO_TCP, 10);
    w.send(&tcp6, &[30, tcp6.len() - 30], NETTXF_CSUM_BLANK, &[]);
    let ids = w.send(&eth(100), &[100], NETTXF_CSUM_BLANK, &[]);
    assert_eq!(w.tx().unwrap().delivered, 3);
    assert_eq!(
        meta,
        CsumMeta::Partial {
            start: 34,
            offset: 6
        }
    );
    assert_eq!(w.sent[0].1, meta);
    assert_eq!(w.sent[1].1, CsumMeta::Validated);
    assert_eq!(w.sent[2].1, meta6);
    assert_eq!(w.tx_rsps()[4..], all(&ids, RSP_ERROR)[..]);
    assert_eq!(w.vif.counters().tx_csum_setup_failed, 1);
}

#[test]
fn incomplete_chain_is_fatal() {
    let mut w = World::new();
    let gref = w.fe.grant_data(&mut w.xen, 0, &eth(100));
    w.fe.tx.queue(TxRequest {
        gref,
        offset: 0,
        flags: NETTXF_MORE_DATA,
        id: 1,
        size: 100,
    });
    w.fe.tx.push();
    assert_eq!(w.tx(), Err(Fatal::IncompleteChain));
}

#[test]
fn notify_and_req_event() {
    let mut w = World::new();
    w.send(&eth(60), &[60], 0, &[]);
    let p = w.tx().unwrap();
    assert!(p.notify && !p.more);
    assert_eq!(
        w.fe.tx.req_event(),
        2,
        "final check armed req_event = req_cons + 1"
    );
    w.send(&eth(60), &[60], 0, &[]);
    assert!(
        !w.tx().unwrap().notify,
        "frontend has not re-armed rsp_event"
    );
    w.tx_rsps();
    w.send(&eth(60), &[60], 0, &[]);
    assert!(w.tx().unwrap().notify);
    assert!(!w.fe.tx.push(), "nothing new to push");
    w.fe.queue_tx(&mut w.xen, &eth(60), &[60], 0, 0, &[]);
    assert!(
        w.fe.tx.push(),
        "req_event armed by the backend makes the frontend notify"
    );
    assert!(w.vif.tx_final_check());
}

#[test]
fn indices_wrap_around_u32_max() {
    let mut w = World::with(config(), u32::MAX - 3);
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.extend(w.send(&eth(60 + i), &[30, 30 + i], 0, &[]));
    }
    let p = w.tx().unwrap();
    assert_eq!((p.consumed, p.delivered), (16, 8));
    assert_eq!(w.tx_rsps(), ok(&ids));
    assert_eq!(w.sent.len(), 8);
    assert_eq!(w.sent[7].0, eth(67));
}

#[test]
fn budget_and_pool_bound_each_pass() {
    let mut cfg = config();
    cfg.limits.tx_budget = 4;
    let mut w = World::with(cfg, 0);
    for _ in 0..10 {
        w.send(&eth(100), &[100], 0, &[]);
    }
    assert_eq!(
        w.tx().unwrap(),
        TxPass {
            consumed: 4,
            delivered: 4,
            notify: true,
            more: true,
            blocked: false,
            credit_wait: None,
        }
    );
    assert_eq!(w.tx().unwrap().delivered, 4);
    assert_eq!(
        w.tx().unwrap(),
        TxPass {
            consumed: 2,
            delivered: 2,
            notify: false,
            more: false,
            blocked: false,
            credit_wait: None,
        }
    );

    // One header page holds 16 packets' headers: a pass takes no more.
    let mut cfg = config();
    cfg.limits.tx_budget = 64;
    let mut w = World::build(cfg, 0, 1, 4);
    for _ in 0..20 {
        w.send(&eth(100), &[100], 0, &[]);
    }
    let p = w.tx().unwrap();
    assert_eq!((p.delivered, p.more), (16, true));
    assert_eq!(w.tx().unwrap().delivered, 4);
    assert_eq!(w.tx_rsps().len(), 20);
}

/// The wire is full: frames stay on the guest's ring (backpressure, not a
/// drop) and go once it has room.
#[test]
fn a_full_sink_leaves_frames_on_the_ring() {
    let mut w = World::new();
    w.sink_full = true;
    let ids = w.send(&eth(100), &[100], 0, &[]);
    let p = w.tx().unwrap();
    assert_eq!(
        (p.consumed, p.delivered, p.blocked, p.more),
        (0, 0, true, false)
    );
    assert!(w.tx_rsps().is_empty());
    assert_eq!(w.vif.counters().tx_sink_full, 0);
    w.sink_full = false;
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(w.tx_rsps(), ok(&ids));
}

#[test]
fn a_refusing_sink_drops_and_counts() {
    let mut w = World::new();
    w.sink.refused = true;
    let ids = w.send(&eth(100), &[100], 0, &[]);
    assert_eq!(w.tx().unwrap().delivered, 0);
    assert_eq!(w.tx_rsps(), all(&ids, RSP_DROPPED));
    assert_eq!(w.vif.counters().tx_sink_full, 1);
}

/// Where the bytes go: the header privately (then into the ring by the
/// Spike), the rest straight from the guest's pages into the ring's.
#[test]
fn a_frame_moves_once_guest_to_ring() {
    let mut cfg = config();
    cfg.mtu = 9000;
    let mut w = World::with(cfg, 0);
    let f = eth(9000);
    w.send(&f, &[4000, 4000, 1000], 0, &[]);
    let before = w.xen.bytes;
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(w.xen.bytes - before, 9000, "every byte copied once by Xen");
    assert_eq!(w.sent[0].0, f);
}

#[test]
fn hostile_vif_does_not_disturb_another_sharing_the_copier() {
    let mut xen = FakeXen::new();
    let mut good = World::new();
    let mut bad_cfg = config();
    bad_cfg.frontend_domid = 9;
    let mut bad = World::with(bad_cfg, 0);
    // SAFETY: both worlds outlive the shared copier's use below.
    unsafe {
        xen.attach(&good.pool);
        xen.attach(&bad.pool);
    }
    core::mem::swap(&mut xen, &mut good.xen);
    let f = eth(200);
    let ids = good.send(&f, &[100, 100], 0, &[]);
    let g2 = bad.fe.grant_data(&mut good.xen, 0, &eth(100));
    bad.fe.tx.queue(TxRequest {
        gref: g2,
        offset: 0,
        flags: NETTXF_MORE_DATA,
        id: 1,
        size: 100,
    });
    bad.fe.tx.push();
    assert_eq!(
        bad.vif
            .process_tx(&mut good.xen, &mut bad.pool, &mut bad.sink, 0),
        Err(Fatal::IncompleteChain)
    );
    bad.fe.tx.set(0, 1000);
    assert!(bad
        .vif
        .process_tx(&mut good.xen, &mut bad.pool, &mut bad.sink, 0)
        .is_err());
    assert_eq!(good.tx().unwrap().delivered, 1);
    assert_eq!(good.sent[0].0, f);
    assert_eq!(good.tx_rsps(), ok(&ids));
    assert_eq!(good.vif.key(), (FE, 0));
    assert_eq!(bad.vif.key(), (9, 0));
}

/// Issue 9 B.8: a GSO size below TCP's minimum MSS asks for unbounded
/// segmentation work from whoever segments the frame: refused.
#[test]
fn tiny_gso_sizes_are_refused() {
    let (f, _) = partial_frame(false, checksum::IPPROTO_TCP, 3000);
    let mut cfg = config();
    cfg.offered.gso_tcpv4 = true;
    let mut w = World::with(cfg, 0);
    for (size, delivered) in [(1, 0), (87, 0), (88, 1)] {
        let ids = w.send(
            &f,
            &[1514, 1514, f.len() - 3028],
            NETTXF_CSUM_BLANK,
            &[ExtraInfo::gso(size, GSO_TYPE_TCPV4)],
        );
        assert_eq!(w.tx().unwrap().delivered, delivered, "gso_size {size}");
        let status = w.tx_rsps()[0].status;
        assert_eq!(status, if delivered == 1 { RSP_OKAY } else { RSP_ERROR });
        let _ = ids;
    }
    assert_eq!(w.vif.counters().tx_bad_request, 2);
}
