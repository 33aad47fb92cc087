//! ICR → Events, acknowledgement in every mode, MSI-X routing.

use crate::nic::{Events, IrqMode, Nic};

use super::super::regs::*;
use super::super::{Model, ITR_INTERVAL};
use super::{drain, frame, rig, rig_with, MODELS};

#[test]
fn icr_maps_to_events() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        assert_eq!(r.nic.handle(), Events::default(), "no cause: not ours");

        let cases = [
            (ICR_RXT0, true, false, false),
            (ICR_RXO, true, false, false),
            (ICR_RXDMT0, true, false, false),
            (ICR_TXDW, false, true, false),
            (ICR_TXQE, false, true, false),
            (ICR_LSC, false, false, true),
            (ICR_RXT0 | ICR_TXDW, true, true, false),
        ];
        for (cause, rx, tx, link) in cases {
            r.dev.dev().raise(cause);
            let ev = r.nic.handle();
            let want = Events {
                ours: true,
                rx,
                tx,
                link,
                fatal: false,
            };
            assert_eq!(ev, want, "{model:?} cause {cause:#x}");
        }
        assert_eq!(r.nic.counters().interrupts, cases.len() as u64);
    }
}

#[test]
fn lsc_updates_link_state() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Intx);
        assert!(r.nic.link_up());
        r.dev.dev().set_link(false);
        assert!(r.nic.link_up(), "cached until handle sees LSC");
        assert!(r.nic.handle().link);
        assert!(!r.nic.link_up());
        r.dev.dev().set_link(true);
        assert!(r.nic.handle().link);
        assert!(r.nic.link_up());
        r.dev.dev().raise(ICR_LSC);
        r.nic.handle();
        assert_eq!(r.nic.counters().link_changes, 2);
    }
}

#[test]
fn handle_acknowledges_causes_in_every_mode() {
    let modes = [
        (Model::I82540Em, IrqMode::Intx),
        (Model::I82540Em, IrqMode::Msi),
        (Model::I82574L, IrqMode::Intx),
        (Model::I82574L, IrqMode::Msi),
        (Model::I82574L, IrqMode::Msix),
    ];
    for (model, irq) in modes {
        let mut r = rig_with(model, irq, |d| d.msix = irq == IrqMode::Msix);
        r.dev.dev().inject(&frame(1, 60));
        r.nic.transmit(&frame(2, 60)).unwrap();
        r.dev.dev().set_link(false);
        assert!(r.dev.dev().irq_pending(), "{model:?} {irq:?}");
        let ev = r.nic.handle();
        assert!(
            ev.ours && ev.rx && ev.tx && ev.link,
            "{model:?} {irq:?}: {ev:?}"
        );
        let d = r.dev.dev();
        assert!(!d.irq_pending(), "{model:?} {irq:?}: cause left asserted");
        assert_eq!(d.reg(ICR), 0, "{model:?} {irq:?}");
    }
}

#[test]
fn msix_programs_ivar_and_queue_causes() {
    let mut r = rig_with(Model::I82574L, IrqMode::Msix, |d| d.msix = true);
    {
        let d = r.dev.dev();
        assert_eq!(
            d.reg(IVAR),
            0x0008_0808,
            "RXQ0, TXQ0, other -> vector 0, valid"
        );
        assert_eq!(d.reg(EITR0), ITR_INTERVAL);
        assert_eq!(d.reg(IMS), ICR_RXQ0 | ICR_OTHER | ICR_LSC | ICR_RXO);
        assert_eq!(d.reg(EIAC), 0);
        let ext = d.reg(CTRL_EXT);
        assert_ne!(ext & CTRL_EXT_PBA_CLR, 0);
        assert_eq!(ext & (CTRL_EXT_IAME | CTRL_EXT_EIAME), 0);
    }
    r.dev.dev().inject(&frame(1, 60));
    assert_eq!(r.dev.dev().reg(ICR), ICR_RXQ0);
    let ev = r.nic.handle();
    assert!(ev.rx && !ev.tx);
    assert_eq!(drain(&mut r.nic, 4).0, 1);

    r.nic.transmit(&frame(2, 60)).unwrap();
    assert_ne!(r.dev.dev().reg(ICR) & ICR_TXQ0, 0);
    assert!(r.nic.handle().tx);
    assert_eq!(r.nic.counters().tx_frames, 1);

    r.dev.dev().set_link(false);
    assert_eq!(r.dev.dev().reg(ICR), ICR_LSC | ICR_OTHER);
    assert!(r.nic.handle().link);
    assert!(!r.nic.link_up());
    assert_eq!(r.dev.dev().reg(ICR), 0);
}

#[test]
fn non_msix_modes_leave_ivar_clear() {
    let r = rig_with(Model::I82574L, IrqMode::Msi, |d| d.set(IVAR, 0x0008_0808));
    let d = r.dev.dev();
    assert_eq!(d.reg(IVAR), 0);
    assert_eq!(d.reg(CTRL_EXT) & CTRL_EXT_PBA_CLR, 0);
}

#[test]
fn transmit_completions_raise_no_interrupt_but_are_reclaimed() {
    let modes = [
        (Model::I82540Em, IrqMode::Intx),
        (Model::I82574L, IrqMode::Msi),
        (Model::I82574L, IrqMode::Msix),
    ];
    for (model, irq) in modes {
        let mut r = rig_with(model, irq, |d| d.msix = irq == IrqMode::Msix);
        for i in 0..300 {
            r.nic.transmit(&frame(i, 60)).unwrap();
            assert!(!r.dev.dev().irq_pending(), "{model:?} {irq:?}");
        }
        assert_eq!(r.nic.counters().tx_frames, 299, "reclaimed as it went");
        assert_eq!(r.nic.tx_space(), 255, "the last one counts as free");
    }
}

/// A lost interrupt message (seen after `xl pause` of a Corm on the 82574's
/// MSI-X) is never sent again while its cause stays latched; the watchdog
/// finds the cause, counts it and acknowledges it, and the next frame is
/// announced again.
#[test]
fn the_watchdog_recovers_a_lost_interrupt_message() {
    let modes = [
        (Model::I82540Em, IrqMode::Msi),
        (Model::I82574L, IrqMode::Msi),
        (Model::I82574L, IrqMode::Msix),
    ];
    for (model, irq) in modes {
        let mut r = rig_with(model, irq, |d| d.msix = irq == IrqMode::Msix);
        r.dev.dev().messages = 0;
        r.dev.dev().inject(&frame(1, 60));
        assert_eq!(r.dev.dev().messages, 1, "{model:?} {irq:?}");
        // That message is lost: nobody calls handle. More frames arrive.
        r.dev.dev().inject(&frame(2, 60));
        assert_eq!(
            r.dev.dev().messages,
            1,
            "{model:?} {irq:?}: latched, not sent again"
        );
        assert!(!r.nic.watchdog().fatal);
        assert_eq!(r.nic.counters().irq_latched, 1, "{model:?} {irq:?}");
        assert!(
            !r.dev.dev().irq_pending(),
            "{model:?} {irq:?}: acknowledged"
        );
        assert_eq!(drain(&mut r.nic, 8).0, 2);
        r.dev.dev().inject(&frame(3, 60));
        assert_eq!(
            r.dev.dev().messages,
            2,
            "{model:?} {irq:?}: announced again"
        );
        r.nic.handle();
        r.nic.watchdog();
        assert_eq!(
            r.nic.counters().irq_latched,
            1,
            "{model:?} {irq:?}: handled in time"
        );
        // Lost again: the main loop's reap finds it without the watchdog.
        drain(&mut r.nic, 8);
        r.dev.dev().inject(&frame(4, 60));
        let ev = r.nic.reap_latched();
        assert!(ev.rx && !ev.fatal, "{model:?} {irq:?}: {ev:?}");
        assert_eq!(r.nic.counters().irq_latched, 2, "{model:?} {irq:?}");
        assert!(!r.dev.dev().irq_pending());
        assert_eq!(r.nic.reap_latched(), Events::default(), "nothing latched");
    }
    let mut r = rig(Model::I82540Em, IrqMode::Poll);
    r.dev.dev().inject(&frame(1, 60));
    r.dev.dev().take_accesses();
    assert_eq!(r.nic.reap_latched(), Events::default());
    assert_eq!(
        r.dev.dev().take_accesses(),
        (0, 0),
        "polled: the poll tick reads ICR"
    );
}
