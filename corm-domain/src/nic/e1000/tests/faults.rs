//! A vanished device, a hung transmitter, a corrupt head, and recovery.

use crate::nic::{IrqMode, Nic, NicError, TxError};

use super::super::desc::RING_LEN;
use super::super::regs::{TDH, TDT};
use super::super::TX_WATCHDOG_TICKS;
use super::{drain, frame, rig, rig_with, MODELS};

#[test]
fn gone_device_is_fatal_and_nothing_panics() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        r.nic.transmit(&frame(1, 60)).unwrap();
        r.dev.dev().gone = true;
        assert!(r.nic.watchdog().fatal, "STATUS reads all-ones");
        assert!(r.nic.handle().fatal);
        assert!(r.nic.handle().fatal, "stays fatal until reinit");
        assert_eq!(r.nic.transmit(&frame(2, 60)), Err(TxError::NotReady));
        assert_eq!(drain(&mut r.nic, 8).0, 0);
        assert_eq!(r.nic.tx_space(), 0);
        assert!(!r.nic.link_up());
        assert_eq!(r.nic.reinit(), Err(NicError::Device));
        assert!(r.nic.handle().fatal);

        r.dev.dev().gone = false;
        r.nic.reinit().unwrap();
        r.nic.transmit(&frame(3, 60)).unwrap();
        assert_eq!(r.dev.dev().sent.last(), Some(&frame(3, 60)));
    }
}

/// TDH reads among the driver's register accesses since the last call.
fn tdh_reads(r: &super::Rig) -> usize {
    let mut d = r.dev.dev();
    let n = d.accesses.iter().filter(|a| **a == (TDH, false)).count();
    d.accesses.clear();
    n
}

#[test]
fn tx_watchdog_fires_after_the_documented_number_of_ticks() {
    for model in MODELS {
        let mut r = rig_with(model, IrqMode::Intx, |d| d.tx_auto = false);
        r.nic.transmit(&frame(1, 60)).unwrap();
        tdh_reads(&r);
        // The first call takes the completion baseline (no register), the
        // second the first TDH sample; then TICKS calls without progress.
        assert!(!r.nic.watchdog().fatal);
        assert_eq!(tdh_reads(&r), 0, "{model:?}: baseline without TDH");
        for call in 0..TX_WATCHDOG_TICKS {
            assert!(
                !r.nic.watchdog().fatal,
                "{model:?}: fatal early at call {call}"
            );
        }
        assert!(r.nic.watchdog().fatal);
        assert_eq!(tdh_reads(&r) as u32, TX_WATCHDOG_TICKS + 1);
        assert_eq!(r.nic.transmit(&frame(2, 60)), Err(TxError::NotReady));
    }
}

#[test]
fn handle_never_samples_the_transmitter() {
    for model in MODELS {
        let mut r = rig_with(model, IrqMode::Intx, |d| d.tx_auto = false);
        r.nic.transmit(&frame(1, 60)).unwrap();
        tdh_reads(&r);
        for _ in 0..1000 {
            r.dev.dev().inject(&frame(2, 60));
            assert!(!r.nic.handle().fatal);
            drain(&mut r.nic, 8);
        }
        assert_eq!(tdh_reads(&r), 0);
    }
}

#[test]
fn tx_watchdog_is_reset_by_progress_and_ignores_a_down_link() {
    let mut r = rig_with(super::MODELS[1], IrqMode::Intx, |d| d.tx_auto = false);
    r.nic.transmit(&frame(1, 60)).unwrap();
    for _ in 0..TX_WATCHDOG_TICKS {
        assert!(!r.nic.watchdog().fatal);
    }
    r.dev.dev().complete_tx();
    r.nic.transmit(&frame(2, 60)).unwrap();
    tdh_reads(&r);
    assert!(!r.nic.watchdog().fatal, "completions are progress");
    assert_eq!(tdh_reads(&r), 0, "seen in memory, no TDH read");
    for _ in 0..TX_WATCHDOG_TICKS {
        assert!(!r.nic.watchdog().fatal, "progress restarted the count");
    }
    r.dev.dev().set_link(false);
    for _ in 0..10 * TX_WATCHDOG_TICKS {
        assert!(!r.nic.watchdog().fatal, "a down link cannot transmit");
    }
    assert!(!r.nic.link_up(), "the watchdog saw the link go down");
}

#[test]
fn a_moving_head_is_progress() {
    let mut r = rig_with(super::MODELS[0], IrqMode::Intx, |d| d.tx_auto = false);
    r.nic.transmit(&frame(1, 60)).unwrap();
    r.nic.transmit(&frame(2, 60)).unwrap();
    for i in 0..10 {
        // The device works through a long frame: TDH moves, no DD yet.
        r.dev.dev().tdh_override = Some(i % 2);
        assert!(!r.nic.watchdog().fatal);
    }
}

#[test]
fn nothing_outstanding_never_trips_the_watchdog_nor_reads_tdh() {
    let mut r = rig(super::MODELS[0], IrqMode::Poll);
    r.nic.transmit(&frame(1, 60)).unwrap();
    tdh_reads(&r);
    for _ in 0..10 * TX_WATCHDOG_TICKS {
        assert!(!r.nic.watchdog().fatal);
    }
    assert_eq!(tdh_reads(&r), 0);
}

#[test]
fn the_watchdog_rings_a_forgotten_doorbell() {
    let mut r = rig(super::MODELS[1], IrqMode::Msi);
    r.nic
        .transmit_frame(&frame(1, 60)[..].into(), None)
        .unwrap();
    assert!(r.dev.dev().sent.is_empty(), "queued, not yet told");
    assert_eq!(r.dev.dev().reg(TDT), 0);
    for _ in 0..3 * TX_WATCHDOG_TICKS {
        assert!(!r.nic.watchdog().fatal, "an unpublished frame is no stall");
    }
    assert_eq!(r.dev.dev().sent, vec![frame(1, 60)]);
}

#[test]
fn corrupt_head_is_fatal() {
    let mut r = rig_with(super::MODELS[0], IrqMode::Intx, |d| d.tx_auto = false);
    r.nic.transmit(&frame(1, 60)).unwrap();
    r.dev.dev().tdh_override = Some(RING_LEN as u32 + 44);
    assert!(!r.nic.watchdog().fatal, "baseline");
    assert!(r.nic.watchdog().fatal);
}

#[test]
fn reinit_after_fatal_restores_traffic_on_the_same_pages() {
    for model in MODELS {
        let mut r = rig_with(model, IrqMode::Intx, |d| d.tx_auto = false);
        for i in 0..3 {
            r.nic.transmit(&frame(i, 60)).unwrap();
        }
        r.dev.dev().inject(&frame(50, 60));
        r.dev.dev().inject(&frame(51, 60));
        let fatal = (0..=TX_WATCHDOG_TICKS + 1).any(|_| r.nic.watchdog().fatal);
        assert!(fatal, "watchdog");
        let pages = r.dma.pages();

        r.dev.dev().tx_auto = true;
        r.nic.reinit().unwrap();
        assert_eq!(r.dma.pages(), pages, "no new DMA pages");
        let c = r.nic.counters();
        assert_eq!(c.resets, 1);
        assert_eq!((c.tx_dropped, c.rx_dropped), (3, 2), "lost frames counted");
        assert_eq!(r.dev.dev().resets, 2);
        assert_eq!(r.nic.tx_space(), RING_LEN - 1);

        for i in 0..600 {
            r.nic.transmit(&frame(100 + i, 80)).unwrap();
            assert!(r.dev.dev().inject(&frame(200 + i, 80)));
            assert_eq!(drain(&mut r.nic, 4).1, vec![frame(200 + i, 80)]);
        }
        assert!(!r.nic.handle().fatal);
        let sent = r.dev.dev().sent.clone();
        assert_eq!(sent.len(), 600, "nothing from before the reset leaked out");
        assert_eq!(sent[599], frame(699, 80));
    }
}
