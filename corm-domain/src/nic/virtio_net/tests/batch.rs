//! Register accesses, notifications and interrupts per batch: with MSI-X a
//! `handle` reads nothing, a batch each way costs one notification at most
//! (none while the device said it is still working, `EVENT_IDX`), the
//! receive queue interrupts once per drained batch, the transmit queue only
//! when it runs low.

use std::vec::Vec;

use super::device::*;
use super::{drain, frame};
use crate::nic::virtio_net::features::F_EVENT_IDX;
use crate::nic::{IrqMode, Nic, TxFrame};

#[test]
fn a_64_frame_batch_costs_one_notification_each_way_and_no_reads() {
    for event_idx in [true, false] {
        let mut fx = Fixture::qemu();
        if !event_idx {
            fx.state().offered &= !F_EVENT_IDX;
        }
        let mut nic = fx.nic(IrqMode::Msix).unwrap();
        for i in 0..64 {
            assert!(fx.inject(&frame(i, 1514)));
        }
        fx.take_accesses();
        let ev = nic.handle();
        assert!(ev.rx && ev.tx);
        assert_eq!(fx.take_accesses(), (0, 0), "handle with MSI-X");
        assert_eq!(drain(&mut nic, 64).len(), 64);
        assert_eq!(fx.take_accesses(), (0, 1), "receive: one notification");
        for i in 0..64 {
            let f = frame(100 + i, 1514);
            nic.transmit_frame(&TxFrame::from(&f[..]), None).unwrap();
        }
        assert_eq!(fx.take_accesses(), (0, 0), "queued");
        assert!(fx.state().tx_frames.is_empty());
        nic.flush_tx();
        assert_eq!(fx.take_accesses(), (0, 1), "flush: one notification");
        assert_eq!(fx.state().tx_frames.len(), 64);
        nic.flush_tx();
        assert_eq!(drain(&mut nic, 64).len(), 0);
        assert_eq!(fx.take_accesses(), (0, 0), "nothing to do, nothing done");
        assert_eq!(fx.state().errors, Vec::<String>::new());
    }
}

#[test]
fn no_notification_while_the_device_is_known_busy() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    fx.state().auto_tx = false;
    for i in 0..20 {
        nic.transmit(&frame(i, 60)).unwrap();
    }
    // The device has not looked at the queue since the first notification
    // (avail_event unchanged): the next 19 batches need none.
    assert_eq!(fx.state().notifies[1], 1);
    fx.state().complete_tx();
    assert_eq!(fx.state().tx_frames.len(), 20);
    nic.transmit(&frame(20, 60)).unwrap();
    assert_eq!(fx.state().notifies[1], 2, "it asked again after working");
    fx.state().complete_tx();
    assert_eq!(fx.state().tx_frames.len(), 21);
    assert_eq!(fx.state().errors, Vec::<String>::new());
}

#[test]
fn the_receive_queue_interrupts_once_per_drained_batch() {
    for event_idx in [true, false] {
        let mut fx = Fixture::qemu();
        if !event_idx {
            fx.state().offered &= !F_EVENT_IDX;
        }
        let mut nic = fx.nic(IrqMode::Msix).unwrap();
        assert!(fx.inject(&frame(0, 60)));
        assert_eq!(fx.state().interrupts[0], 1);
        if event_idx {
            // Until the driver drains the queue, no more interrupts.
            for i in 1..10 {
                assert!(fx.inject(&frame(i, 60)));
            }
            assert_eq!(fx.state().interrupts[0], 1);
            // A batch that stops at its budget does not re-arm...
            assert_eq!(drain(&mut nic, 4).len(), 4);
            assert!(fx.inject(&frame(10, 60)));
            assert_eq!(fx.state().interrupts[0], 1);
            // ...one that drains the queue does.
            assert_eq!(drain(&mut nic, 64).len(), 7);
            assert!(fx.inject(&frame(11, 60)));
            assert_eq!(fx.state().interrupts[0], 2);
            assert_eq!(drain(&mut nic, 64).len(), 1);
        } else {
            assert!(fx.inject(&frame(1, 60)));
            assert_eq!(fx.state().interrupts[0], 2, "flags: every frame");
            assert_eq!(drain(&mut nic, 64).len(), 2);
        }
        assert_eq!(fx.state().errors, Vec::<String>::new());
    }
}

#[test]
fn transmit_interrupts_only_when_the_ring_runs_low() {
    for event_idx in [true, false] {
        let mut fx = Fixture::qemu();
        if !event_idx {
            fx.state().offered &= !F_EVENT_IDX;
        }
        let mut nic = fx.nic(IrqMode::Msix).unwrap();
        for i in 0..1000 {
            nic.transmit(&frame(i, 60)).unwrap();
        }
        assert_eq!(fx.state().interrupts[1], 0, "completions found in memory");
        assert_eq!(nic.tx_space(), 256);
        // The device stalls; the ring fills up.
        fx.state().auto_tx = false;
        for i in 0..200 {
            let f = frame(i, 60);
            nic.transmit_frame(&TxFrame::from(&f[..]), None).unwrap();
        }
        nic.flush_tx();
        assert_eq!(nic.tx_space(), 56);
        fx.state().complete_tx();
        let want = if event_idx { 1 } else { 200 };
        assert_eq!(fx.state().interrupts[1], want, "event_idx {event_idx}");
        assert_eq!(nic.tx_space(), 256, "completed, not yet reclaimed");
        assert!(nic.handle().tx);
        nic.transmit(&frame(1, 60)).unwrap();
        assert_eq!(fx.state().interrupts[1], want, "room again: no interrupt");
    }
}
