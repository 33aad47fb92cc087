//! The datapath: round trips, budgets, wrap-around, a full ring, bad frames.

use crate::nic::{IrqMode, Nic, TxError, MAX_FRAME};

use super::super::desc::{RING_LEN, TXD_CMD_EOP, TXD_CMD_IFCS, TXD_CMD_RS};
use super::super::regs::{RDH, RDT, TDT};
use super::fake_device::RxOpts;
use super::{drain, frame, rig, rig_with, MODELS};

#[test]
fn tx_rx_round_trip() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        let out = frame(7, 100);
        r.nic.transmit(&out).unwrap();
        {
            let d = r.dev.dev();
            assert_eq!(d.sent, vec![out.clone()]);
            assert_eq!(d.tx_cmds, vec![TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS]);
        }
        let ev = r.nic.handle();
        assert!(ev.tx);
        let c = r.nic.counters();
        assert_eq!((c.tx_frames, c.tx_bytes), (1, 100));

        let inbound = frame(8, 1518);
        assert!(r.dev.dev().inject(&inbound));
        assert!(r.nic.handle().rx);
        let (n, got) = drain(&mut r.nic, 16);
        assert_eq!((n, got), (1, vec![inbound]));
        let c = r.nic.counters();
        assert_eq!((c.rx_frames, c.rx_bytes), (1, 1518));
    }
}

#[test]
fn receive_honours_budget_and_reports_drained() {
    let mut r = rig(super::MODELS[1], IrqMode::Msi);
    for i in 0..10 {
        assert!(r.dev.dev().inject(&frame(i, 64)));
    }
    let mut all = Vec::new();
    for want in [4, 4, 2] {
        let (n, got) = drain(&mut r.nic, 4);
        assert_eq!(n, want);
        all.extend(got);
    }
    assert_eq!(drain(&mut r.nic, 4).0, 0);
    assert_eq!(all, (0..10).map(|i| frame(i, 64)).collect::<Vec<_>>());
    let d = r.dev.dev();
    assert_eq!(d.reg(RDH), 10);
    assert_eq!(d.reg(RDT), 9, "RDT trails the next descriptor by one");
}

#[test]
fn budget_zero_touches_nothing() {
    let mut r = rig(super::MODELS[0], IrqMode::Intx);
    r.dev.dev().inject(&frame(1, 64));
    let rdt = r.dev.dev().reg(RDT);
    assert_eq!(drain(&mut r.nic, 0).0, 0);
    assert_eq!(r.dev.dev().reg(RDT), rdt);
    assert_eq!(drain(&mut r.nic, 1).0, 1);
}

#[test]
fn a_full_receive_ring_holds_255_frames_and_drains_in_one_batch() {
    let mut r = rig(super::MODELS[0], IrqMode::Intx);
    for i in 0..RING_LEN as u32 - 1 {
        assert!(r.dev.dev().inject(&frame(i, 60)));
    }
    assert!(!r.dev.dev().inject(&frame(999, 60)), "one slot stays empty");
    assert_eq!(r.dev.dev().rx_missed, 1);
    let (n, got) = drain(&mut r.nic, 1000);
    assert_eq!(n, RING_LEN - 1);
    assert_eq!(got.last(), Some(&frame(254, 60)));
    assert!(r.dev.dev().inject(&frame(1000, 60)));
    assert_eq!(drain(&mut r.nic, 1000).1, vec![frame(1000, 60)]);
}

#[test]
fn ring_wraparound_over_1200_frames_both_directions() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        let mut received = Vec::new();
        for i in 0..1200u32 {
            let len = 14 + (i as usize * 37) % (MAX_FRAME - 13);
            r.nic.transmit(&frame(i, len)).unwrap();
            assert!(r.dev.dev().inject(&frame(i + 5000, len)));
            if i % 97 == 0 {
                r.nic.handle();
                while let (1.., got) = drain(&mut r.nic, 64) {
                    received.extend(got);
                }
            }
        }
        while let (n @ 1.., got) = drain(&mut r.nic, 64) {
            assert!(n <= 64);
            received.extend(got);
        }
        r.nic.handle();
        let expect = |base| {
            (0..1200u32)
                .map(|i| frame(i + base, 14 + (i as usize * 37) % (MAX_FRAME - 13)))
                .collect::<Vec<_>>()
        };
        assert_eq!(r.dev.dev().sent, expect(0));
        assert_eq!(received, expect(5000));
        let c = r.nic.counters();
        assert_eq!((c.tx_frames, c.rx_frames), (1200, 1200));
        assert_eq!(r.nic.tx_space(), RING_LEN - 1);
    }
}

#[test]
fn tx_ring_full_then_recovers() {
    for model in MODELS {
        let mut r = rig_with(model, IrqMode::Intx, |d| d.tx_auto = false);
        for i in 0..RING_LEN as u32 - 1 {
            r.nic.transmit(&frame(i, 60)).unwrap();
        }
        assert_eq!(r.nic.tx_space(), 0);
        assert_eq!(r.nic.transmit(&frame(999, 60)), Err(TxError::Full));
        assert_eq!(r.nic.counters().tx_full, 1);
        assert_eq!(r.dev.dev().reg(TDT), RING_LEN as u32 - 1);

        r.dev.dev().complete_tx();
        assert_eq!(
            r.nic.tx_space(),
            RING_LEN - 1,
            "completed slots count as free"
        );
        r.nic.transmit(&frame(1000, 60)).unwrap();
        r.dev.dev().complete_tx();
        assert!(r.nic.handle().tx);
        let sent = r.dev.dev().sent.clone();
        assert_eq!(sent.len(), RING_LEN);
        assert_eq!(sent.last(), Some(&frame(1000, 60)));
        assert_eq!(r.nic.counters().tx_frames, RING_LEN as u64);
    }
}

#[test]
fn bad_lengths_are_refused() {
    let mut r = rig(super::MODELS[0], IrqMode::Intx);
    assert_eq!(r.nic.transmit(&frame(0, 13)), Err(TxError::Length(13)));
    assert_eq!(r.nic.transmit(&frame(0, 1519)), Err(TxError::Length(1519)));
    assert_eq!(r.nic.transmit(&[]), Err(TxError::Length(0)));
    assert_eq!(r.nic.counters().tx_dropped, 3);
    r.nic.transmit(&frame(1, 14)).unwrap();
    r.nic.transmit(&frame(2, 1518)).unwrap();
    assert_eq!(r.dev.dev().sent, vec![frame(1, 14), frame(2, 1518)]);
}

#[test]
fn transmit_while_link_down_is_not_ready() {
    let mut r = rig(super::MODELS[1], IrqMode::Intx);
    r.dev.dev().set_link(false);
    assert!(r.nic.handle().link);
    assert_eq!(r.nic.transmit(&frame(1, 60)), Err(TxError::NotReady));
    assert!(r.dev.dev().sent.is_empty());
}

#[test]
fn bad_receive_descriptors_are_dropped_without_desync() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        let ce = RxOpts {
            errors: 0x01,
            ..RxOpts::default()
        };
        let rxe = RxOpts {
            errors: 0x80,
            ..RxOpts::default()
        };
        let checksum_only = RxOpts {
            errors: 0x20 | 0x40,
            ..RxOpts::default()
        };
        let split = RxOpts {
            split: Some(700),
            ..RxOpts::default()
        };
        let lie = |len| RxOpts {
            length: Some(len),
            ..RxOpts::default()
        };
        let mut d = r.dev.dev();
        d.inject(&frame(0, 60));
        d.inject_with(&frame(1, 60), ce);
        d.inject(&frame(2, 60));
        d.inject_with(&frame(3, 1500), split);
        d.inject(&frame(4, 60));
        d.inject_with(&frame(5, 60), lie(0));
        d.inject_with(&frame(6, 60), lie(13));
        d.inject_with(&frame(7, 60), lie(1519));
        d.inject_with(&frame(8, 60), lie(0xFFFF));
        d.inject_with(&frame(9, 60), rxe);
        d.inject_with(&frame(10, 60), checksum_only);
        d.inject(&frame(11, 60));
        drop(d);
        let (_, got) = drain(&mut r.nic, 64);
        let want: Vec<_> = [0, 2, 4, 10, 11].iter().map(|&i| frame(i, 60)).collect();
        assert_eq!(got, want);
        let c = r.nic.counters();
        assert_eq!((c.rx_errors, c.rx_dropped, c.rx_frames), (6, 1, 5));
        // Every descriptor was re-posted: the device can fill the ring again.
        for i in 0..RING_LEN as u32 - 1 {
            assert!(r.dev.dev().inject(&frame(100 + i, 60)));
        }
        assert_eq!(drain(&mut r.nic, 1000).0, RING_LEN - 1);
    }
}

#[test]
fn split_frames_back_to_back_and_at_the_ring_edge() {
    let mut r = rig(super::MODELS[0], IrqMode::Intx);
    let split = RxOpts {
        split: Some(20),
        ..RxOpts::default()
    };
    for round in 0..300u32 {
        let mut d = r.dev.dev();
        d.inject_with(&frame(round, 100), split);
        d.inject_with(&frame(round, 100), split);
        d.inject(&frame(round, 61));
        drop(d);
        assert_eq!(drain(&mut r.nic, 8).1, vec![frame(round, 61)]);
    }
    assert_eq!(r.nic.counters().rx_dropped, 600);
}
