//! Register accesses per batch: the doorbell once per batch each way, the
//! cause registers only when `handle` is called (on an interrupt), nothing
//! per frame. The fake counts every access the driver makes.

use crate::nic::{IrqMode, Nic, TxFrame};

use super::super::desc::RING_LEN;
use super::super::regs::{ICR, RDT, TDT};
use super::super::Model;
use super::{drain, frame, rig, rig_with, MODELS};

/// (reads, writes) of register `reg` among `accesses`.
fn count(accesses: &[(usize, bool)], reg: usize) -> (usize, usize) {
    let r = accesses.iter().filter(|a| **a == (reg, false)).count();
    let w = accesses.iter().filter(|a| **a == (reg, true)).count();
    (r, w)
}

#[test]
fn a_64_frame_batch_costs_one_doorbell_each_way() {
    for (model, irq) in [
        (Model::I82540Em, IrqMode::Intx),
        (Model::I82574L, IrqMode::Msix),
    ] {
        let mut r = rig_with(model, irq, |d| d.msix = irq == IrqMode::Msix);
        for i in 0..64 {
            assert!(r.dev.dev().inject(&frame(i, 1514)));
        }
        r.dev.dev().take_accesses();
        // The interrupt: one ICR read (and write-back on the 82574).
        assert!(r.nic.handle().rx);
        let (reads, writes) = r.dev.dev().take_accesses();
        let icr_write = usize::from(model == Model::I82574L);
        assert_eq!((reads, writes), (1, icr_write), "{model:?} handle");
        // 64 frames received: one RDT write.
        assert_eq!(drain(&mut r.nic, 64).0, 64);
        let a = std::mem::take(&mut r.dev.dev().accesses);
        assert_eq!(a, vec![(RDT, true)], "{model:?} receive");
        // 64 frames queued: nothing; flushed: one TDT write.
        for i in 0..64 {
            let f = frame(100 + i, 1514);
            r.nic.transmit_frame(&TxFrame::from(&f[..]), None).unwrap();
        }
        assert_eq!(r.dev.dev().take_accesses(), (0, 0), "{model:?} queue");
        assert!(r.dev.dev().sent.is_empty(), "the device was not told yet");
        r.nic.flush_tx();
        let a = std::mem::take(&mut r.dev.dev().accesses);
        assert_eq!(a, vec![(TDT, true)], "{model:?} flush");
        assert_eq!(r.dev.dev().sent.len(), 64);
        assert_eq!(r.dev.dev().reg(TDT), 64);
        // An empty flush, an empty receive: nothing.
        r.nic.flush_tx();
        assert_eq!(drain(&mut r.nic, 64).0, 0);
        assert_eq!(r.dev.dev().take_accesses(), (0, 0), "{model:?} idle");
        // The next batch reclaims the first in memory, still one doorbell.
        for i in 0..64 {
            r.nic.transmit(&frame(200 + i, 60)).unwrap();
        }
        let a = std::mem::take(&mut r.dev.dev().accesses);
        assert_eq!(count(&a, TDT), (0, 64), "transmit() flushes each frame");
        assert_eq!(a.len(), 64);
        assert_eq!(r.nic.counters().tx_frames, 127);
    }
}

#[test]
fn a_full_ring_of_unpublished_frames_is_published_not_refused() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        r.dev.dev().take_accesses();
        for i in 0..2 * RING_LEN as u32 {
            let f = frame(i, 60);
            r.nic.transmit_frame(&TxFrame::from(&f[..]), None).unwrap();
        }
        r.nic.flush_tx();
        let d = r.dev.dev();
        assert_eq!(d.sent.len(), 2 * RING_LEN);
        assert_eq!(
            count(&d.accesses, TDT),
            (0, 3),
            "one doorbell per ring-full, then the flush"
        );
        assert_eq!(count(&d.accesses, ICR), (0, 0));
    }
}

#[test]
fn the_watchdog_reads_icr_and_status_only_while_nothing_is_stuck() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        r.nic.transmit(&frame(1, 60)).unwrap();
        r.nic.handle();
        r.dev.dev().take_accesses();
        for _ in 0..10 {
            assert!(!r.nic.watchdog().fatal);
        }
        assert_eq!(
            r.dev.dev().take_accesses(),
            (20, 0),
            "{model:?}: ICR (nothing latched: not written) and STATUS once a call"
        );
    }
    let mut r = rig(Model::I82540Em, IrqMode::Poll);
    r.dev.dev().take_accesses();
    r.nic.watchdog();
    assert_eq!(
        r.dev.dev().take_accesses(),
        (1, 0),
        "polled: the poll tick reads ICR, the watchdog only STATUS"
    );
}
