//! Transmit offloads: checksum insertion, TSO over IPv4/IPv6, multi-slot
//! frames at the ring's end, a ring too full for a frame, refused requests,
//! the context cache across a reinit.

use std::vec::Vec;

use net_offload::checksum::verify_l4;

use crate::nic::{IrqMode, Nic, TxError, TxOffload};

use super::super::desc::{
    RING_LEN, TUCMD_IP, TUCMD_TCP, TUCMD_TSE, TXD_CMD_DEXT, TXD_CMD_EOP, TXD_CMD_IFCS, TXD_CMD_RS,
    TXD_CMD_TSE,
};
use super::super::regs::TDT;
use super::super::{Model, MAX_TSO_FRAME};
use super::{frame, rig, rig_with, MODELS};
use crate::nic::fake_frames::*;

#[test]
fn capabilities_per_model() {
    let r = rig(Model::I82540Em, IrqMode::Intx);
    let o = r.nic.tx_offloads();
    assert!(o.csum && o.tso_v4 && !o.tso_v6);
    let r = rig(Model::I82574L, IrqMode::Intx);
    let o = r.nic.tx_offloads();
    assert!(o.csum && o.tso_v4 && o.tso_v6);
}

#[test]
fn checksum_insertion_tcp_udp_v4_v6_vlan() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        for (v6, vlan, udp, payload) in [
            (false, false, false, 100),
            (false, true, true, 1),
            (true, false, false, 1400),
            (true, true, true, 0),
            (false, false, true, 3),
        ] {
            let s = Shape {
                v6,
                vlan,
                udp,
                payload,
                ..tcp4(0)
            };
            let (f, req) = build(s, None);
            assert_eq!(verify_l4(&f), Ok(false));
            r.nic.transmit_offload(&f, req).unwrap();
            let out = r.dev.dev().sent.pop().unwrap();
            assert_eq!(verify_l4(&out), Ok(true), "{model:?} v6={v6} udp={udp}");
            let at = usize::from(req.l4_start + req.csum_offset);
            assert_eq!((&out[..at], &out[at + 2..]), (&f[..at], &f[at + 2..]));
        }
        r.nic.handle();
        let c = r.nic.counters();
        assert_eq!((c.tx_frames, c.tx_dropped), (5, 0));
        assert_eq!(r.nic.tx_space(), RING_LEN - 1);
    }
}

#[test]
fn tso_v4_60k_is_segmented_and_reassembles() {
    for model in MODELS {
        for vlan in [false, true] {
            let mut r = rig(model, IrqMode::Intx);
            let s = Shape {
                vlan,
                opts: 12,
                payload: 60 * 1024,
                ..tcp4(0)
            };
            let (f, req) = build(s, Some(1448));
            r.nic.transmit_offload(&f, req).unwrap();
            let d = r.dev.dev();
            check_segments(s, &f, &req, &d.sent);
            let data = f.len().div_ceil(2048);
            let dcmd = TXD_CMD_DEXT | TXD_CMD_IFCS | TXD_CMD_TSE;
            let mut cmds = vec![TUCMD_TSE | TUCMD_TCP | TUCMD_IP | TXD_CMD_DEXT];
            cmds.extend(std::iter::repeat_n(dcmd, data - 1));
            cmds.push(dcmd | TXD_CMD_EOP | TXD_CMD_RS);
            assert_eq!(d.tx_cmds, cmds);
            assert_eq!(d.reg(TDT) as usize, 1 + data);
            drop(d);
            r.nic.handle();
            let c = r.nic.counters();
            assert_eq!((c.tx_frames, c.tx_bytes), (1, f.len() as u64));
            assert_eq!(r.nic.tx_space(), RING_LEN - 1);
        }
    }
}

#[test]
fn tso_v6_on_82574_only() {
    let s = Shape {
        v6: true,
        payload: 20000,
        ..tcp4(0)
    };
    let (f, req) = build(s, Some(1440));
    let mut r = rig(Model::I82540Em, IrqMode::Intx);
    assert_eq!(r.nic.transmit_offload(&f, req), Err(TxError::Unsupported));
    assert!(r.dev.dev().sent.is_empty());
    assert_eq!(r.nic.counters().tx_dropped, 0);
    let mut r = rig(Model::I82574L, IrqMode::Intx);
    r.nic.transmit_offload(&f, req).unwrap();
    check_segments(s, &f, &req, &r.dev.dev().sent);
}

#[test]
fn tso_of_a_single_segment_and_of_a_short_last_one() {
    for (payload, mss) in [(1, 1460), (1460, 1460), (1461, 1460), (5000, 536)] {
        let mut r = rig(Model::I82574L, IrqMode::Msix);
        let s = tcp4(payload);
        let (f, req) = build(s, Some(mss));
        r.nic.transmit_offload(&f, req).unwrap();
        check_segments(s, &f, &req, &r.dev.dev().sent);
    }
}

#[test]
fn multi_slot_frames_wrap_around_the_ring_end() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        for i in 0..250 {
            r.nic.transmit(&frame(i, 60)).unwrap();
        }
        r.dev.dev().sent.clear();
        let mut bytes = 0;
        for round in 0..20usize {
            let s = tcp4(3000 + round * 2917);
            let (f, req) = build(s, Some(1000));
            r.nic.transmit_offload(&f, req).unwrap();
            let segs = std::mem::take(&mut r.dev.dev().sent);
            check_segments(s, &f, &req, &segs);
            r.nic.transmit(&frame(round as u32, 70)).unwrap();
            assert_eq!(r.dev.dev().sent, vec![frame(round as u32, 70)]);
            r.dev.dev().sent.clear();
            bytes += f.len() + 70;
        }
        assert!(!r.nic.handle().fatal);
        let c = r.nic.counters();
        assert_eq!((c.tx_frames, c.tx_bytes), (290, (250 * 60 + bytes) as u64));
        assert_eq!(r.nic.tx_space(), RING_LEN - 1);
    }
}

#[test]
fn deferred_completion_reclaims_whole_frames() {
    let mut r = rig_with(Model::I82540Em, IrqMode::Intx, |d| d.tx_auto = false);
    let s = tcp4(20000);
    let (f, req) = build(s, Some(1460));
    let data = f.len().div_ceil(2048);
    let mut queued = 0;
    while r.nic.transmit_offload(&f, req).is_ok() {
        queued += 1;
    }
    // Equal frames share the one context descriptor the first one wrote.
    assert_eq!(queued, (RING_LEN - 2) / data);
    assert_eq!(r.nic.tx_space(), RING_LEN - 2 - queued * data);
    r.dev.dev().complete_tx();
    assert_eq!(r.nic.tx_space(), RING_LEN - 1);
    r.nic.handle();
    let c = r.nic.counters();
    assert_eq!((c.tx_frames, c.tx_full), (queued as u64, 1));
    assert_eq!(r.dev.dev().sent.len(), queued * 14);
}

#[test]
fn full_ring_refuses_before_writing_anything() {
    for model in MODELS {
        let mut r = rig_with(model, IrqMode::Intx, |d| d.tx_auto = false);
        for i in 0..RING_LEN as u32 - 1 - 31 {
            r.nic.transmit(&frame(i, 60)).unwrap();
        }
        let (f, req) = build(tcp4(60 * 1024), Some(1448));
        assert_eq!(f.len().div_ceil(2048), 31, "31 data slots plus a context");
        let tdt = r.dev.dev().reg(TDT);
        assert_eq!(r.nic.transmit_offload(&f, req), Err(TxError::Full));
        assert_eq!(r.dev.dev().reg(TDT), tdt);
        assert_eq!(r.nic.counters().tx_full, 1);
        r.dev.dev().complete_tx();
        assert_eq!(r.dev.dev().sent.len(), RING_LEN - 32);
        assert!(r.dev.dev().tx.contexts.is_empty());
        r.nic.transmit_offload(&f, req).unwrap();
        r.dev.dev().complete_tx();
        assert_eq!(
            r.dev.dev().sent.len(),
            RING_LEN - 32 + (60 * 1024usize).div_ceil(1448)
        );
    }
}

#[test]
fn bad_requests_are_refused_and_nothing_is_written() {
    let (f, good) = build(tcp4(4000), Some(1460));
    let (small, csum) = build(tcp4(10), None);
    let (udp, udp_req) = build(
        Shape {
            udp: true,
            ..tcp4(10)
        },
        None,
    );
    let long_ip = {
        let mut g = small.clone();
        g[16..18].copy_from_slice(&500u16.to_be_bytes());
        g
    };
    let (empty, empty_req) = build(tcp4(0), Some(1460));
    let with = |m: fn(&mut TxOffload)| {
        let mut r = good;
        m(&mut r);
        r
    };
    let big = vec![0u8; MAX_TSO_FRAME + 1];
    let cases: Vec<(&[u8], TxOffload, TxError)> = vec![
        (&f, with(|r| r.tso_mss = Some(0)), TxError::Invalid),
        (&f, with(|r| r.tso_mss = Some(1500)), TxError::Invalid),
        (&f, with(|r| r.l4_len = 24), TxError::Invalid),
        (&f, with(|r| r.l4_len = 64), TxError::Invalid),
        (&f, with(|r| r.csum_offset = 3), TxError::Invalid),
        (&f, with(|r| r.csum_offset = 6), TxError::Invalid),
        (&f, with(|r| r.l3_start = 10), TxError::Invalid),
        (&f, with(|r| r.l4_start = 30), TxError::Invalid),
        (&f, with(|r| r.l4_start = 300), TxError::Invalid),
        (&f, with(|r| r.l4_start = u16::MAX), TxError::Invalid),
        (&f[..40], good, TxError::Invalid),
        (&small, TxOffload { ipv6: true, ..csum }, TxError::Invalid),
        (&long_ip, csum, TxError::Invalid),
        (
            &udp,
            TxOffload {
                tso_mss: Some(100),
                ..udp_req
            },
            TxError::Invalid,
        ),
        (&empty, empty_req, TxError::Invalid),
        (&big, good, TxError::Length(MAX_TSO_FRAME + 1)),
        (&f[..1519], csum, TxError::Length(1519)),
        (&f[..13], csum, TxError::Length(13)),
    ];
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        for (k, (frame, req, err)) in cases.iter().enumerate() {
            assert_eq!(r.nic.transmit_offload(frame, *req), Err(*err), "case {k}");
        }
        let d = r.dev.dev();
        assert_eq!((d.reg(TDT), d.sent.len()), (0, 0));
        drop(d);
        assert_eq!(r.nic.counters().tx_dropped, cases.len() as u64);
        r.nic.transmit_offload(&f, good).unwrap();
        r.nic.transmit_offload(&udp, udp_req).unwrap();
        assert_eq!(r.dev.dev().sent.len(), 4);
    }
}

#[test]
fn link_down_is_not_ready() {
    let mut r = rig(Model::I82574L, IrqMode::Intx);
    r.dev.dev().set_link(false);
    r.nic.handle();
    let (f, req) = build(tcp4(100), None);
    assert_eq!(r.nic.transmit_offload(&f, req), Err(TxError::NotReady));
}

#[test]
fn equal_contexts_are_written_once() {
    let mut r = rig(Model::I82540Em, IrqMode::Intx);
    let (a, csum) = build(tcp4(100), None);
    let (b, _) = build(tcp4(700), None);
    let (t, tso) = build(tcp4(9000), Some(1460));
    for (f, req) in [(&a, csum), (&b, csum), (&t, tso), (&t, tso), (&a, csum)] {
        r.nic.transmit_offload(f, req).unwrap();
    }
    let d = r.dev.dev();
    let tses: Vec<bool> = d.tx.contexts.iter().map(|c| c.tse()).collect();
    assert_eq!(tses, vec![false, true, false]);
    assert!(d.sent.iter().all(|s| verify_l4(s) == Ok(true)));
    assert_eq!(d.sent.len(), 3 + 2 * 9000usize.div_ceil(1460));
}

#[test]
fn reinit_mid_flight_drops_whole_frames_and_forgets_the_context() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        let (c, csum) = build(tcp4(100), None);
        let (t, tso) = build(tcp4(30000), Some(1460));
        r.nic.transmit_offload(&c, csum).unwrap();
        r.dev.dev().tx_auto = false;
        r.nic.transmit_offload(&t, tso).unwrap();
        r.nic.transmit_offload(&c, csum).unwrap();
        r.nic.transmit(&frame(1, 60)).unwrap();
        r.nic.reinit().unwrap();
        assert_eq!(r.nic.counters().tx_dropped, 3, "frames, not slots");
        assert_eq!(r.nic.tx_space(), RING_LEN - 1);
        r.dev.dev().tx_auto = true;
        r.dev.dev().sent.clear();
        // The reset dropped the device's context: the driver must send it again.
        r.nic.transmit_offload(&c, csum).unwrap();
        r.nic.transmit_offload(&t, tso).unwrap();
        let d = r.dev.dev();
        assert_eq!(d.tx.contexts.len(), 1 + 2);
        assert_eq!(d.sent.len(), 1 + 30000usize.div_ceil(1460));
        assert!(d.sent.iter().all(|s| verify_l4(s) == Ok(true)));
    }
}
