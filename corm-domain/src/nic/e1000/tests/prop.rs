//! Random interleavings of driver calls and device activity against a model:
//! every accepted frame comes out exactly once, in order, intact, in both
//! directions, and bad deliveries never desynchronise the receive ring.

use std::vec::Vec;

use proptest::prelude::*;

use crate::nic::{IrqMode, Nic, TxError, MAX_FRAME};

use super::super::desc::{distance, RING_LEN};
use super::super::regs::{TDH, TDT};
use super::super::Model;
use super::fake_device::RxOpts;
use super::{drain, frame, rig_with};

#[derive(Clone, Debug)]
enum Op {
    Transmit(usize),
    /// Queued without a doorbell, published by a later `Flush` (or by a
    /// full ring).
    Queue(usize),
    Flush,
    Inject(usize),
    /// A delivery the driver must drop: errors byte, split, or bad length.
    InjectBad(u8),
    Receive(usize),
    Handle,
    /// The device works through its transmit ring.
    Complete,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (14..=MAX_FRAME).prop_map(Op::Transmit),
        3 => (14..=MAX_FRAME).prop_map(Op::Queue),
        1 => Just(Op::Flush),
        4 => (14..=MAX_FRAME).prop_map(Op::Inject),
        1 => (0u8..4).prop_map(Op::InjectBad),
        3 => (0usize..300).prop_map(Op::Receive),
        2 => Just(Op::Handle),
        2 => Just(Op::Complete),
    ]
}

fn mode() -> impl Strategy<Value = (Model, IrqMode)> {
    prop_oneof![
        Just((Model::I82540Em, IrqMode::Intx)),
        Just((Model::I82574L, IrqMode::Msi)),
        Just((Model::I82574L, IrqMode::Msix)),
        Just((Model::I82574L, IrqMode::Poll)),
    ]
}

proptest! {
    // Failing cases are kept next to this file (prop.regressions), inside
    // the driver's own folder.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn frames_come_out_once_in_order_intact(
        (model, irq) in mode(),
        ops in proptest::collection::vec(op(), 1..400),
    ) {
        let mut r = rig_with(model, irq, |d| {
            d.tx_auto = false;
            d.msix = irq == IrqMode::Msix;
        });
        let mut want_tx = Vec::new();
        let mut want_rx = Vec::new();
        let mut got_rx = Vec::new();
        let mut n = 0u32;
        for op in ops {
            n += 1;
            match op {
                Op::Transmit(len) => {
                    let f = frame(n, len);
                    match r.nic.transmit(&f) {
                        Ok(()) => want_tx.push(f),
                        Err(TxError::Full) => {
                            let d = r.dev.dev();
                            let queued = distance(d.reg(TDH) as usize, d.reg(TDT) as usize);
                            prop_assert_eq!(queued, RING_LEN - 1, "Full with free slots");
                        }
                        Err(e) => prop_assert!(false, "transmit: {:?}", e),
                    }
                }
                Op::Queue(len) => {
                    let f = frame(n, len);
                    match r.nic.transmit_frame(&crate::nic::TxFrame::from(&f[..]), None) {
                        Ok(()) => want_tx.push(f),
                        Err(TxError::Full) => {
                            let d = r.dev.dev();
                            let queued = distance(d.reg(TDH) as usize, d.reg(TDT) as usize);
                            prop_assert_eq!(queued, RING_LEN - 1, "Full with free slots");
                        }
                        Err(e) => prop_assert!(false, "transmit: {:?}", e),
                    }
                }
                Op::Flush => r.nic.flush_tx(),
                Op::Inject(len) => {
                    let f = frame(n, len);
                    if r.dev.dev().inject(&f) {
                        want_rx.push(f);
                    }
                }
                Op::InjectBad(kind) => {
                    let opts = match kind {
                        0 => RxOpts { errors: 0x01, ..RxOpts::default() },
                        1 => RxOpts { split: Some(30), ..RxOpts::default() },
                        2 => RxOpts { length: Some(9), ..RxOpts::default() },
                        _ => RxOpts { length: Some(3000), ..RxOpts::default() },
                    };
                    r.dev.dev().inject_with(&frame(n, 100), opts);
                }
                Op::Receive(budget) => {
                    let (k, got) = drain(&mut r.nic, budget);
                    prop_assert!(k <= budget);
                    got_rx.extend(got);
                }
                Op::Handle => prop_assert!(!r.nic.handle().fatal),
                Op::Complete => r.dev.dev().complete_tx(),
            }
            prop_assert!(r.nic.tx_space() < RING_LEN);
            prop_assert!(want_tx.starts_with(&r.dev.dev().sent));
            prop_assert!(want_rx.starts_with(&got_rx));
        }
        r.nic.flush_tx();
        r.dev.dev().complete_tx();
        loop {
            let (k, got) = drain(&mut r.nic, 64);
            got_rx.extend(got);
            if k < 64 {
                break;
            }
        }
        prop_assert!(!r.nic.handle().fatal);
        prop_assert_eq!(&r.dev.dev().sent, &want_tx);
        prop_assert_eq!(&got_rx, &want_rx);
        prop_assert_eq!(r.nic.tx_space(), RING_LEN - 1);
        let c = r.nic.counters();
        prop_assert_eq!(c.tx_frames, want_tx.len() as u64);
        prop_assert_eq!(c.rx_frames, want_rx.len() as u64);
    }
}
