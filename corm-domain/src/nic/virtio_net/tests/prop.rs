//! Random interleavings of transmit, device completion, wire injection,
//! receive and interrupt handling on a small ring, against a model: every
//! frame is delivered once, in order, intact, and `Full`/dropped happen
//! exactly when the ring is full.

use std::collections::VecDeque;
use std::vec::Vec;

use proptest::prelude::*;

use super::device::*;
use super::frame;
use crate::nic::{IrqMode, Nic, TxError, MAX_FRAME};

#[derive(Clone, Debug)]
enum Op {
    Transmit(usize),
    CompleteTx,
    Inject(usize),
    Receive(usize),
    Handle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (14..=MAX_FRAME).prop_map(Op::Transmit),
        1 => Just(Op::CompleteTx),
        3 => (14..=MAX_FRAME).prop_map(Op::Inject),
        2 => (0..12usize).prop_map(Op::Receive),
        1 => Just(Op::Handle),
    ]
}

fn irq() -> impl Strategy<Value = IrqMode> {
    prop_oneof![
        Just(IrqMode::Intx),
        Just(IrqMode::Msi),
        Just(IrqMode::Msix),
        Just(IrqMode::Poll)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_frame_once_in_order_intact(
        size in prop_oneof![Just(4u16), Just(8), Just(16)],
        irq in irq(),
        ops in proptest::collection::vec(op(), 1..400),
    ) {
        let mut fx = Fixture::with_layout(qemu_layout(), size);
        let mut nic = fx.nic(irq).unwrap();
        fx.state().auto_tx = false;
        let size = usize::from(size);
        let (mut sent, mut in_device) = (Vec::new(), 0usize);
        let (mut wire, mut expected) = (0u32, VecDeque::new());
        for (seq, op) in ops.into_iter().enumerate() {
            let seq = seq as u32;
            match op {
                Op::Transmit(len) => {
                    let f = frame(seq, len);
                    match nic.transmit(&f) {
                        Ok(()) => {
                            prop_assert!(in_device < size);
                            sent.push(f);
                            in_device += 1;
                        }
                        Err(e) => {
                            prop_assert_eq!(e, TxError::Full);
                            prop_assert_eq!(in_device, size);
                        }
                    }
                }
                Op::CompleteTx => {
                    fx.state().complete_tx();
                    in_device = 0;
                }
                Op::Inject(len) => {
                    let f = frame(seq, len);
                    let took = fx.inject(&f);
                    prop_assert_eq!(took, expected.len() < size);
                    if took {
                        expected.push_back(f);
                        wire += 1;
                    }
                }
                Op::Receive(budget) => {
                    let got = super::drain(&mut nic, budget);
                    prop_assert_eq!(got.len(), budget.min(expected.len()));
                    for f in got {
                        prop_assert_eq!(Some(f), expected.pop_front());
                    }
                }
                Op::Handle => {
                    let ev = nic.handle();
                    prop_assert!(!ev.fatal);
                    if ev.tx {
                        prop_assert_eq!(nic.tx_space(), size - in_device);
                    }
                }
            }
        }
        fx.state().complete_tx();
        let rest = super::drain(&mut nic, usize::MAX);
        prop_assert_eq!(rest, Vec::from(expected));
        let s = fx.state();
        prop_assert_eq!(&s.tx_frames, &sent);
        prop_assert_eq!(&s.errors, &Vec::<String>::new());
        let c = nic.counters();
        prop_assert_eq!(c.rx_frames, u64::from(wire));
        prop_assert_eq!(c.tx_frames, sent.len() as u64);
        prop_assert_eq!((c.rx_errors, nic.bad_completions()), (0, 0));
    }
}
