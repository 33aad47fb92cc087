//! Interrupt causes: which to enable per mode, where MSI-X sends them, and
//! what a cause word means for the caller.
//!
//! Acknowledging. On the 82574 the driver reads ICR and then writes the
//! value read back to ICR, which clears exactly those bits
//! (write-1-to-clear, 82574 §10.2.4, ICR; QEMU e1000e `set_icr`). That one
//! sequence is right in every mode:
//! * 82540EM: ICR clears on read (SDM §13.4.17), so reading is the whole
//!   acknowledgement and nothing is written.
//! * 82574L INTx/MSI: QEMU 7.2 clears ICR on read only when IMS is 0 or
//!   CTRL_EXT.IAME is set; without the write-back the level interrupt stays
//!   asserted and MSI is never re-sent for a cause still set.
//! * 82574L MSI-X: RXQ0/TXQ0/OTHER stay set unless EIAC auto-clears them,
//!   and QEMU's EIAC auto-clear also masks the cause in IMS unless
//!   CTRL_EXT.IAME is set. We leave EIAC, IAM, IAME and EIAME at 0 (no
//!   auto-clear, no auto-mask, so nothing to re-arm) and clear by
//!   write-back; writing OTHER also clears the causes it summarises (LSC,
//!   RXO). CTRL_EXT.PBA_CLR is set so that re-enabling causes at (re)init
//!   drops stale MSI-X pending bits (82574 §10.2.2, CTRL_EXT).
//! * Poll: IMS is 0, ICR is read (and cleared) the same way.
//!
//! A cause that fires again between the read and the write-back is merged
//! into the acknowledged one; its frames are already in the ring, and the
//! caller drains the ring after `handle`, so nothing is lost.

use crate::nic::{Events, IrqMode};

use super::regs::*;

/// ITR, and EITR0 for MSI-X on the 82574, in 256 ns units: 976 x 256 ns =
/// 250 us between interrupts, at most ~4000 interrupts/s.
///
/// SDM §13.4.18 (ITR): "a guaranteed inter-interrupt delay ... regardless
/// of network traffic conditions", interrupts/s = 1 / (256 ns x interval),
/// "an initial suggested range is 651-5580"; the 82574's ITR and EITR
/// (82574 §10.2.4) count in the same unit (QEMU's e1000 and e1000e raise
/// anything below 500 to 500). Why 4000/s rather than the 8000 we had:
/// * Each interrupt is the Corm's most expensive event: Xen delivers it as
///   an event channel, the Corm wakes, reads ICR (and on the 82574 writes
///   it back) and EOIs the pirq, all emulated in the lab's QEMU TCG. Frames
///   are found by `receive` with memory reads alone, so fewer interrupts
///   only means bigger batches.
/// * The Corm polls while busy (it loops while a receive batch fills its
///   budget) and transmit completions raise no interrupt (see `ims`), so
///   the throttle only matters when the ring drains between interrupts.
/// * 250 us is well inside the receive ring: 255 x 1518-byte frames take
///   3 ms to arrive at 1 Gb/s, so nothing is lost waiting.
/// * It is the rate Linux's e1000/e1000e settle at for bulk traffic in
///   their default dynamic mode ("bulk latency": 4000 interrupts/s), and the
///   initial value Intel suggests for the 82575's EITR; a single interrupt
///   after an idle period is not delayed at all (the throttle only spaces
///   interrupts), so a ping's latency does not change.
pub const ITR_INTERVAL: u32 = 976;

/// Causes a frame arrival or shortage raises.
const RX_CAUSES: u32 = ICR_RXT0 | ICR_RXO | ICR_RXDMT0 | ICR_RXQ0;
/// Causes a transmit write-back raises (TXQE: the queue ran empty, which
/// also means descriptors completed).
const TX_CAUSES: u32 = ICR_TXDW | ICR_TXQ0 | ICR_TXQE;

/// IMS for a mode: frame arrival, receive shortage and link changes, but
/// no transmit cause. Completed transmits are found in the descriptors
/// (DD): `tx_space` counts them as free and the next transmit reclaims
/// them; the watchdog watches for a hang, and a caller that found the ring
/// full looks again on a timer. A TXDW interrupt would only add a wake-up
/// (and an ICR read and write) per batch. In MSI-X mode the 82574 raises RXQ0 instead of RXT0
/// and signals LSC/RXO through OTHER, each of which needs its IMS bit
/// (82574 §7.4.2, §10.2.4). Masked causes still latch in ICR and are
/// acknowledged with the rest.
pub fn ims(irq: IrqMode) -> u32 {
    match irq {
        IrqMode::Intx | IrqMode::Msi => ICR_RXT0 | ICR_RXO | ICR_RXDMT0 | ICR_LSC,
        IrqMode::Msix => ICR_RXQ0 | ICR_OTHER | ICR_LSC | ICR_RXO,
        IrqMode::Poll => 0,
    }
}

/// IVAR routing RX queue 0, TX queue 0 and "other" to MSI-X vector 0, each
/// entry marked valid (82574 §10.2.4, IVAR).
pub fn ivar() -> u32 {
    let vector0 = IVAR_VALID;
    (vector0 << IVAR_RXQ0_SHIFT) | (vector0 << IVAR_TXQ0_SHIFT) | (vector0 << IVAR_OTHER_SHIFT)
}

/// CTRL_EXT for a mode on the 82574 (the 82540EM's CTRL_EXT has none of
/// these bits and is left alone).
pub fn ctrl_ext(irq: IrqMode, current: u32) -> u32 {
    let cleared = current & !(CTRL_EXT_IAME | CTRL_EXT_EIAME | CTRL_EXT_PBA_CLR);
    let pba = if irq == IrqMode::Msix {
        CTRL_EXT_PBA_CLR
    } else {
        0
    };
    cleared | CTRL_EXT_DRV_LOAD | pba
}

/// What a (non-all-ones) cause word tells the caller; link state and the
/// watchdog are the driver's to add.
pub fn events(icr: u32) -> Events {
    Events {
        ours: icr != 0,
        rx: icr & RX_CAUSES != 0,
        tx: icr & TX_CAUSES != 0,
        link: icr & ICR_LSC != 0,
        fatal: false,
    }
}
