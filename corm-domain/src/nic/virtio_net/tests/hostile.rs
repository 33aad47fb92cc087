//! A device that lies in its used rings or stops working: bad elements are
//! counted and skipped without losing the ring; fatal states are reported
//! and `reinit` recovers on the same DMA pages.

use std::vec::Vec;

use super::device::*;
use super::{drain, frame, PAGES};
use crate::nic::virtio_net::common::{ISR_CONFIG, S_DRIVER_OK, S_NEEDS_RESET};
use crate::nic::{IrqMode, Nic, TxError};

/// Sends and injects 300 numbered frames from `from`, each arriving intact.
fn traffic_flows(fx: &Fixture, nic: &mut impl Nic, from: u32) {
    let frames: Vec<_> = (from..from + 300).map(|i| frame(i, 100)).collect();
    for f in &frames {
        nic.transmit(f).unwrap();
        assert!(fx.inject(f));
        assert_eq!(drain(nic, 4), std::slice::from_ref(f));
    }
    assert!(fx.state().tx_frames.ends_with(&frames));
}

#[test]
fn rx_id_out_of_range_is_counted_and_skipped() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    fx.state().hostile_rx = Some(Hostile::IdOutOfRange);
    assert!(fx.inject(&frame(1, 60)));
    assert_eq!(drain(&mut nic, 8), [frame(1, 60)]);
    assert_eq!((nic.counters().rx_errors, nic.bad_completions()), (1, 1));
    traffic_flows(&fx, &mut nic, 2);
    assert_eq!(fx.state().errors, Vec::<String>::new());
}

#[test]
fn rx_duplicate_id_is_counted_and_skipped() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    fx.state().hostile_rx = Some(Hostile::DuplicateId);
    assert!(fx.inject(&frame(1, 60)));
    assert_eq!(drain(&mut nic, 8), [frame(1, 60)]);
    assert_eq!((nic.counters().rx_frames, nic.bad_completions()), (1, 1));
    traffic_flows(&fx, &mut nic, 2);
    assert_eq!(fx.state().errors, Vec::<String>::new());
}

#[test]
fn rx_impossible_lengths_are_counted_and_buffers_reposted() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    for h in [Hostile::LenTooLarge, Hostile::LenTooSmall] {
        fx.state().hostile_rx = Some(h);
        assert!(fx.inject(&frame(1, 60)));
        assert!(drain(&mut nic, 8).is_empty());
    }
    assert_eq!(nic.counters().rx_errors, 2);
    assert_eq!(nic.counters().rx_frames, 0);
    // Every one of the 256 buffers still cycles: nothing was lost.
    for i in 0..600 {
        assert!(fx.inject(&frame(i, 60)));
        assert_eq!(drain(&mut nic, 1), [frame(i, 60)]);
    }
    let s = fx.state();
    assert_eq!(s.dma.read_u16(s.queues[0].driver + 2), Some(256 + 602));
}

#[test]
fn tx_bogus_completions_are_counted_and_skipped() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    for (i, h) in [Hostile::IdOutOfRange, Hostile::DuplicateId]
        .into_iter()
        .enumerate()
    {
        fx.state().hostile_tx = Some(h);
        nic.transmit(&frame(i as u32, 60)).unwrap();
        nic.handle();
        assert_eq!(nic.tx_space(), 256);
    }
    assert_eq!(nic.bad_completions(), 2);
    traffic_flows(&fx, &mut nic, 2);
}

#[test]
fn used_index_overrun_is_fatal_until_reinit() {
    for rx in [true, false] {
        let mut fx = Fixture::qemu();
        let mut nic = fx.nic(IrqMode::Msix).unwrap();
        if rx {
            fx.state().hostile_rx = Some(Hostile::Overrun);
            assert!(fx.inject(&frame(1, 60)));
            assert!(drain(&mut nic, 8).is_empty());
        } else {
            fx.state().hostile_tx = Some(Hostile::Overrun);
            nic.transmit(&frame(1, 60)).unwrap();
        }
        assert!(nic.handle().fatal);
        assert_eq!(nic.transmit(&frame(2, 60)), Err(TxError::NotReady));
        assert_eq!(nic.tx_space(), 0);
        assert_eq!(nic.bad_completions(), 1);
        nic.reinit().unwrap();
        assert!(!nic.handle().fatal);
        traffic_flows(&fx, &mut nic, 3);
    }
}

#[test]
fn needs_reset_is_fatal_and_reinit_recovers() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Intx).unwrap();
    // §2.1.2: the device sets DEVICE_NEEDS_RESET and signals a
    // configuration change, which INTx's ISR tells apart.
    fx.state().status |= S_NEEDS_RESET;
    fx.state().isr |= ISR_CONFIG;
    let ev = nic.handle();
    assert!(ev.ours && ev.fatal);
    assert_eq!(nic.transmit(&frame(0, 60)), Err(TxError::NotReady));
    nic.reinit().unwrap();
    assert_eq!(fx.state().status & S_NEEDS_RESET, 0);
    assert!(!nic.handle().fatal);
    traffic_flows(&fx, &mut nic, 0);

    // With MSI-X the watchdog finds it (a second later at most).
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    fx.state().status |= S_NEEDS_RESET;
    assert!(!nic.handle().fatal, "MSI-X: the cause is not read");
    assert!(nic.watchdog().fatal);
    assert!(nic.handle().fatal, "stays fatal until reinit");
    nic.reinit().unwrap();
    traffic_flows(&fx, &mut nic, 0);
}

#[test]
fn vanished_or_reset_device_is_fatal() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    fx.state().gone = true;
    assert!(nic.watchdog().fatal);
    assert!(nic.handle().fatal);
    assert_eq!(nic.reinit(), Err(crate::nic::NicError::ResetTimeout));
    assert!(nic.handle().fatal);
    fx.state().gone = false;
    nic.reinit().unwrap();
    traffic_flows(&fx, &mut nic, 0);

    fx.state().status &= !S_DRIVER_OK;
    assert!(nic.watchdog().fatal);
    assert!(nic.handle().fatal);
}

#[test]
fn reinit_restores_traffic_on_the_same_pages() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    traffic_flows(&fx, &mut nic, 0);
    fx.state().auto_tx = false;
    for i in 0..5 {
        nic.transmit(&frame(i, 60)).unwrap();
    }
    assert!(fx.inject(&frame(9, 60)));
    let resets = fx.state().resets;
    nic.reinit().unwrap();
    assert_eq!(fx.state().resets, resets + 1);
    assert_eq!(fx.dma.pages(), PAGES);
    let c = nic.counters();
    assert_eq!((c.resets, c.tx_dropped), (1, 5));
    assert_eq!(nic.tx_space(), 256);
    assert!(drain(&mut nic, 8).is_empty());
    fx.state().auto_tx = true;
    traffic_flows(&fx, &mut nic, 1000);
    nic.reinit().unwrap();
    traffic_flows(&fx, &mut nic, 2000);
    assert_eq!(fx.dma.pages(), PAGES);
    assert_eq!(nic.counters().resets, 2);
    assert_eq!(fx.state().errors, Vec::<String>::new());
}

#[test]
fn reinit_keeps_queues_within_what_was_allocated() {
    let mut fx = Fixture::with_layout(qemu_layout(), 64);
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    let pages = fx.dma.pages();
    for q in &mut fx.state().queues {
        q.max = 1024;
    }
    nic.reinit().unwrap();
    assert_eq!(fx.state().queues.map(|q| q.size), [64, 64]);
    assert_eq!(fx.dma.pages(), pages);
    traffic_flows(&fx, &mut nic, 0);
}
