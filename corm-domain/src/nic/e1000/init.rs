//! Bring-up, shared by `new` and `reinit`: SDM §14 ("General Initialization
//! and Reset Operation": §14.3 general configuration, §14.4 receive, §14.5
//! transmit) and 82574 §4.6 ("Software Initialization Sequence").
//!
//! Every register the datapath depends on is written explicitly, never
//! left at its reset value: QEMU 7.2's CTRL.RST only self-clears the bit
//! (and, on the e1000e, reloads RAL/RAH) without resetting the rest, so a
//! previous user's RFCTL.EXTEN, IAME or ring registers would survive it.

use crate::nic::{IrqMode, Mmio, NicError, SPIN_LIMIT};

use super::desc::RING_BYTES;
use super::irq;
use super::model::Model;
use super::regs::*;
use super::rx::RxRing;
use super::tx::TxRing;

/// What bring-up learnt from the device, and what emptying the rings cost.
pub struct Up {
    pub mac: [u8; 6],
    pub link: bool,
    /// Received frames the caller had not read yet.
    pub lost_rx: usize,
    /// Transmit descriptors not yet written back.
    pub lost_tx: usize,
}

pub fn bring_up(
    mmio: &impl Mmio,
    model: Model,
    irq: IrqMode,
    rx: &mut RxRing,
    tx: &mut TxRing,
) -> Result<Up, NicError> {
    quiesce(mmio);
    reset(mmio, model)?;
    mask_and_clear(mmio);
    let mac = read_mac(mmio, model)?;
    link(mmio);
    filters(mmio, model);
    interrupts(mmio, model, irq);
    let lost_rx = receive(mmio, rx);
    let lost_tx = transmit(mmio, model, tx);
    let status = mmio.read32(STATUS);
    if status == ALL_ONES {
        return Err(NicError::Device);
    }
    mmio.write32(IMS, irq::ims(irq));
    Ok(Up {
        mac,
        link: status & STATUS_LU != 0,
        lost_rx,
        lost_tx,
    })
}

/// Stops interrupts and both DMA engines before anything is rewritten, so
/// the device never fetches a half-programmed ring; this matters most on
/// QEMU, whose reset does not stop the engines.
fn quiesce(mmio: &impl Mmio) {
    mmio.write32(IMC, ALL_ONES);
    mmio.write32(RCTL, 0);
    mmio.write32(TCTL, TCTL_PSP);
    // Reading a register flushes the posted writes above (PCI ordering).
    mmio.read32(STATUS);
}

/// Polls `reg` until `done` holds, at most `SPIN_LIMIT` reads. Each read
/// is an uncached bus transaction (hundreds of ns on hardware), which is
/// also the settling delay the datasheets ask for after a reset. An
/// all-ones read means the device is gone.
fn poll(mmio: &impl Mmio, reg: usize, done: impl Fn(u32) -> bool) -> Result<Option<u32>, NicError> {
    for _ in 0..SPIN_LIMIT {
        let v = mmio.read32(reg);
        if v == ALL_ONES {
            return Err(NicError::Device);
        }
        if done(v) {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// Global reset (SDM §13.4.1 "RST"; 82574 §10.2.2, CTRL).
pub fn reset(mmio: &impl Mmio, model: Model) -> Result<(), NicError> {
    if model.is_pcie() {
        // 82574: stop new master requests and wait for outstanding ones; the
        // reset terminates any that remain, so a timeout is not an error.
        mmio.write32(CTRL, mmio.read32(CTRL) | CTRL_GIO_MASTER_DISABLE);
        poll(mmio, STATUS, |s| s & STATUS_GIO_MASTER_EN == 0)?;
    }
    mmio.write32(CTRL, mmio.read32(CTRL) | CTRL_RST);
    poll(mmio, CTRL, |c| c & CTRL_RST == 0)?.ok_or(NicError::ResetTimeout)?;
    if model.is_pcie() {
        poll(mmio, EECD, |e| e & EECD_AUTO_RD != 0)?.ok_or(NicError::ResetTimeout)?;
    }
    Ok(())
}

/// Masks again (a reset re-enables nothing, but QEMU's leaves IMS as it
/// was) and clears causes left over from before.
pub fn mask_and_clear(mmio: &impl Mmio) {
    mmio.write32(IMC, ALL_ONES);
    let stale = mmio.read32(ICR);
    mmio.write32(ICR, stale);
}

/// The permanent address: RAL0/RAH0, which the device loads from the
/// EEPROM at reset (SDM §5, EEPROM address map, words 00h-02h); if
/// RAH0.AV is clear, those words read through EERD and written back into
/// RAL0/RAH0 with AV set.
fn read_mac(mmio: &impl Mmio, model: Model) -> Result<[u8; 6], NicError> {
    let (ral, rah) = (mmio.read32(RAL0), mmio.read32(RAH0));
    if ral == ALL_ONES && rah == ALL_ONES {
        return Err(NicError::Device);
    }
    let mut mac = [0u8; 6];
    if rah & RAH_AV != 0 {
        mac[..4].copy_from_slice(&ral.to_le_bytes());
        mac[4..].copy_from_slice(&rah.to_le_bytes()[..2]);
        return Ok(mac);
    }
    for (word, pair) in mac.chunks_exact_mut(2).enumerate() {
        pair.copy_from_slice(&eeprom_word(mmio, model, word as u32)?.to_le_bytes());
    }
    mmio.write32(RAL0, u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
    mmio.write32(RAH0, u32::from_le_bytes([mac[4], mac[5], 0, 0]) | RAH_AV);
    Ok(mac)
}

/// One EEPROM word through EERD (SDM §13.4.4; 82574 §10.2.2, EERD).
fn eeprom_word(mmio: &impl Mmio, model: Model, word: u32) -> Result<u16, NicError> {
    let layout = model.eerd();
    mmio.write32(EERD, EERD_START | (word << layout.addr_shift));
    let v = poll(mmio, EERD, |v| v & layout.done != 0)?.ok_or(NicError::Device)?;
    Ok((v >> EERD_DATA_SHIFT) as u16)
}

/// Link up with auto-speed detection and no forced speed/duplex (SDM
/// §14.3: SLU and ASDE set, LRST/ILOS/FRCSPD/FRCDPX/PHY_RST clear, VME
/// clear so VLAN tags reach us intact); flow control unused (SDM §14.3:
/// FCAL/FCAH/FCT/FCTTV zero).
fn link(mmio: &impl Mmio) {
    let clear = CTRL_LRST
        | CTRL_ILOS
        | CTRL_FRCSPD
        | CTRL_FRCDPX
        | CTRL_VME
        | CTRL_PHY_RST
        | CTRL_RST
        | CTRL_GIO_MASTER_DISABLE;
    let ctrl = mmio.read32(CTRL);
    mmio.write32(CTRL, (ctrl & !clear) | CTRL_SLU | CTRL_ASDE);
    for reg in [FCAL, FCAH, FCT, FCTTV] {
        mmio.write32(reg, 0);
    }
}

/// Empty multicast table (promiscuous mode makes it moot, but SDM §14.4
/// asks for it), no receive checksum offload, and on the 82574 legacy
/// descriptors and a single queue.
fn filters(mmio: &impl Mmio, model: Model) {
    for i in 0..MTA_WORDS {
        mmio.write32(MTA + 4 * i, 0);
    }
    mmio.write32(RXCSUM, 0);
    if model.is_pcie() {
        mmio.write32(RFCTL, 0);
        mmio.write32(MRQC, 0);
    }
}

/// Moderation by ITR only (delay timers zero); on the 82574 no auto-clear
/// or auto-mask and, for MSI-X, every cause on vector 0 (see `irq`).
fn interrupts(mmio: &impl Mmio, model: Model, irq_mode: IrqMode) {
    for reg in [RDTR, RADV, TIDV, TADV] {
        mmio.write32(reg, 0);
    }
    mmio.write32(ITR, irq::ITR_INTERVAL);
    if model.is_pcie() {
        mmio.write32(CTRL_EXT, irq::ctrl_ext(irq_mode, mmio.read32(CTRL_EXT)));
        mmio.write32(IAM, 0);
        mmio.write32(EIAC, 0);
        if irq_mode == IrqMode::Msix {
            mmio.write32(IVAR, irq::ivar());
            mmio.write32(EITR0, irq::ITR_INTERVAL);
        } else {
            mmio.write32(IVAR, 0);
        }
    }
}

/// Receive ring and RCTL (SDM §14.4): promiscuous for unicast and
/// multicast (the Corm switches frames for every guest's MAC), broadcast
/// accepted, CRC stripped, 2048-byte buffers (BSIZE=00, BSEX=0), no long
/// packets, no VLAN filter. Returns the unread frames dropped.
fn receive(mmio: &impl Mmio, rx: &mut RxRing) -> usize {
    let lost = rx.pending();
    let tail = rx.reset();
    let base = rx.base();
    mmio.write32(RDBAL, base as u32);
    mmio.write32(RDBAH, (base >> 32) as u32);
    mmio.write32(RDLEN, RING_BYTES);
    mmio.write32(RDH, 0);
    super::doorbell(mmio, RDT, tail);
    mmio.write32(RCTL, RCTL_EN | RCTL_UPE | RCTL_MPE | RCTL_BAM | RCTL_SECRC);
    lost
}

/// Transmit ring, TIPG and TCTL (SDM §14.5): enabled, short frames padded,
/// collision parameters per model. Returns the frames in flight dropped.
fn transmit(mmio: &impl Mmio, model: Model, tx: &mut TxRing) -> usize {
    let lost = tx.reset();
    let base = tx.base();
    mmio.write32(TDBAL, base as u32);
    mmio.write32(TDBAH, (base >> 32) as u32);
    mmio.write32(TDLEN, RING_BYTES);
    mmio.write32(TDH, 0);
    mmio.write32(TDT, 0);
    if model.is_pcie() {
        mmio.write32(TARC0, mmio.read32(TARC0) | TARC_ENABLE);
    }
    mmio.write32(TIPG, TIPG_COPPER);
    mmio.write32(TCTL, TCTL_EN | TCTL_PSP | model.tctl_collision());
    lost
}
