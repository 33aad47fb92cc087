//! Bring-up: what `new` programs, where the MAC comes from, how it fails.

use crate::nic::fake::FakeDma;
use crate::nic::{IrqMode, Nic, NicError};

use super::super::desc::RING_LEN;
use super::super::model::{Model, INTEL};
use super::super::regs::*;
use super::super::{E1000, ITR_INTERVAL};
use super::fake_device::{FakeE1000, TEST_MAC};
use super::{rig, rig_with, try_rig, MODELS};

#[test]
fn model_from_ids() {
    assert_eq!(Model::from_ids(INTEL, 0x100E), Some(Model::I82540Em));
    assert_eq!(Model::from_ids(INTEL, 0x10D3), Some(Model::I82574L));
    assert_eq!(Model::from_ids(INTEL, 0x1004), None);
    assert_eq!(Model::from_ids(0x1AF4, 0x100E), None);
}

#[test]
fn init_programs_rings_and_controls() {
    for model in MODELS {
        let r = rig(model, IrqMode::Intx);
        let d = r.dev.dev();
        let rx_base = (u64::from(d.reg(RDBAH)) << 32) | u64::from(d.reg(RDBAL));
        let tx_base = (u64::from(d.reg(TDBAH)) << 32) | u64::from(d.reg(TDBAL));
        assert_eq!(rx_base % 4096, 0);
        assert_eq!(tx_base % 4096, 0);
        assert_ne!(rx_base, tx_base);
        assert_eq!(
            (d.reg(RDLEN), d.reg(RDH), d.reg(RDT)),
            (4096, 0, RING_LEN as u32 - 1)
        );
        assert_eq!((d.reg(TDLEN), d.reg(TDH), d.reg(TDT)), (4096, 0, 0));
        let mut bufs = std::collections::BTreeSet::new();
        for i in 0..RING_LEN as u64 {
            let buf = r
                .dma
                .read_u64(rx_base + 16 * i)
                .expect("ring inside DMA pages");
            let mut byte = [0u8; 2048];
            r.dma
                .read(buf, &mut byte)
                .expect("RX buffer inside DMA pages");
            assert_eq!(r.dma.read_u64(rx_base + 16 * i + 8), Some(0));
            assert!(bufs.insert(buf));
        }

        let rctl = d.reg(RCTL);
        let want = RCTL_EN | RCTL_UPE | RCTL_MPE | RCTL_BAM | RCTL_SECRC;
        assert_eq!(rctl & want, want, "RCTL {rctl:#x}");
        assert_eq!(
            rctl & (RCTL_BSIZE_MASK | RCTL_BSEX | RCTL_LPE | RCTL_VFE),
            0
        );
        let tctl = d.reg(TCTL);
        assert_eq!(tctl, TCTL_EN | TCTL_PSP | model.tctl_collision());
        assert_eq!(d.reg(TIPG), TIPG_COPPER);

        let ctrl = d.reg(CTRL);
        assert_eq!(ctrl & (CTRL_SLU | CTRL_ASDE), CTRL_SLU | CTRL_ASDE);
        assert_eq!(
            ctrl & (CTRL_LRST | CTRL_RST | CTRL_VME | CTRL_GIO_MASTER_DISABLE),
            0
        );
        for i in 0..MTA_WORDS {
            assert_eq!(d.reg(MTA + 4 * i), 0, "MTA[{i}] not cleared");
        }
        assert_eq!(d.reg(RXCSUM), 0);
        assert_eq!(d.reg(ITR), ITR_INTERVAL);
        assert_eq!(
            d.reg(IMS),
            ICR_RXT0 | ICR_RXO | ICR_RXDMT0 | ICR_LSC,
            "no transmit cause"
        );
        assert_eq!(d.resets, 1);
        if model == Model::I82574L {
            assert_ne!(d.reg(TARC0) & TARC_ENABLE, 0);
            assert_eq!(d.reg(CTRL_EXT) & (CTRL_EXT_IAME | CTRL_EXT_EIAME), 0);
            assert_eq!((d.reg(RFCTL), d.reg(IAM), d.reg(EIAC)), (0, 0, 0));
        }
        drop(d);
        assert!(r.nic.link_up());
        assert_eq!(r.nic.tx_space(), RING_LEN - 1);
    }
}

#[test]
fn reinit_state_left_by_a_previous_user_is_overwritten() {
    // QEMU's CTRL.RST keeps registers: the driver must not rely on resets.
    let r = rig_with(Model::I82574L, IrqMode::Msi, |d| {
        d.set(RFCTL, 1 << 15);
        d.set(CTRL_EXT, CTRL_EXT_IAME);
        d.set(EIAC, ICR_RXQ0);
        d.set(RCTL, RCTL_LPE | RCTL_VFE | (3 << 16));
        d.set(IMS, ALL_ONES);
        d.set(ICR, ICR_RXT0 | ICR_LSC);
    });
    let d = r.dev.dev();
    assert_eq!((d.reg(RFCTL), d.reg(EIAC)), (0, 0));
    assert_eq!(d.reg(CTRL_EXT) & CTRL_EXT_IAME, 0);
    assert_eq!(d.reg(RCTL) & (RCTL_LPE | RCTL_VFE | RCTL_BSIZE_MASK), 0);
    assert_eq!(d.reg(IMS), ICR_RXT0 | ICR_RXO | ICR_RXDMT0 | ICR_LSC);
    assert_eq!(d.reg(ICR), 0, "stale causes cleared");
}

#[test]
fn mac_from_ral_rah() {
    for model in MODELS {
        assert_eq!(rig(model, IrqMode::Intx).nic.mac(), TEST_MAC);
    }
}

#[test]
fn mac_from_eeprom_when_rah_not_valid() {
    let other = [0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE];
    for model in MODELS {
        let r = rig_with(model, IrqMode::Intx, |d| {
            d.set(RAL0, 0);
            d.set(RAH0, 0);
            for (w, pair) in other.chunks_exact(2).enumerate() {
                d.eeprom[w] = u16::from_le_bytes([pair[0], pair[1]]);
            }
        });
        assert_eq!(r.nic.mac(), other, "{model:?}");
        let d = r.dev.dev();
        assert_eq!(d.reg(RAL0), u32::from_le_bytes([0x02, 0xAA, 0xBB, 0xCC]));
        assert_eq!(d.reg(RAH0), 0xEEDD | RAH_AV);
    }
}

#[test]
fn reset_that_never_completes_is_a_timeout_not_a_hang() {
    for model in MODELS {
        let (nic, dev, _) = try_rig(model, IrqMode::Intx, |d| d.reset_reads = None);
        assert_eq!(nic.err(), Some(NicError::ResetTimeout));
        assert_eq!(dev.dev().resets, 1);
    }
}

#[test]
fn slow_reset_is_waited_for() {
    for model in MODELS {
        let r = rig_with(model, IrqMode::Intx, |d| d.reset_reads = Some(5000));
        assert_eq!(r.dev.dev().reg(CTRL) & CTRL_RST, 0);
    }
}

#[test]
fn absent_device_fails_bring_up() {
    let (nic, _, _) = try_rig(Model::I82540Em, IrqMode::Intx, |d| d.gone = true);
    assert_eq!(nic.err(), Some(NicError::Device));
}

#[test]
fn msix_on_82540_is_unsupported() {
    let (nic, _, dma) = try_rig(Model::I82540Em, IrqMode::Msix, |_| {});
    assert_eq!(nic.err(), Some(NicError::Unsupported));
    assert_eq!(dma.pages(), 0);
}

#[test]
fn out_of_dma_memory() {
    let mut dma = FakeDma::new();
    dma.limit = Some(100);
    let dev = FakeE1000::new(Model::I82540Em, dma.clone());
    let nic = E1000::new(Model::I82540Em, dev, &mut dma, IrqMode::Intx);
    assert_eq!(nic.err(), Some(NicError::NoMemory));
}

#[test]
fn memory_is_258_pages() {
    let r = rig(Model::I82574L, IrqMode::Intx);
    assert_eq!(r.dma.pages(), 2 + 2 * RING_LEN / 2);
}

#[test]
fn poll_mode_enables_no_interrupt_but_handle_still_reports() {
    for model in MODELS {
        let mut r = rig(model, IrqMode::Poll);
        assert_eq!(r.dev.dev().reg(IMS), 0);
        assert!(r.dev.dev().inject(&super::frame(1, 60)));
        assert!(!r.dev.dev().irq_pending());
        let ev = r.nic.handle();
        assert!(ev.ours && ev.rx);
        assert_eq!(super::drain(&mut r.nic, 8).0, 1);
    }
}

/// A device handed over still running (receive and transmit on, causes
/// latched) is left idle by `reset_idle`, and so by `Nic::stop`.
#[test]
fn reset_idle_leaves_a_running_device_idle() {
    for model in MODELS {
        let dev = FakeE1000::new(model, FakeDma::new());
        {
            let mut d = dev.dev();
            d.set(RCTL, RCTL_EN | RCTL_BAM);
            d.set(TCTL, TCTL_EN);
            d.set(IMS, ALL_ONES);
            d.set(ICR, ICR_RXT0);
        }
        super::super::reset_idle(&dev, model).unwrap();
        let d = dev.dev();
        assert_eq!((d.reg(RCTL), d.reg(TCTL)), (0, 0), "{model:?}");
        assert_eq!((d.reg(IMS), d.reg(ICR)), (0, 0), "{model:?}");
        assert_eq!(d.resets, 1);
    }
    let mut r = rig(Model::I82574L, IrqMode::Msix);
    assert_ne!(r.dev.dev().reg(RCTL) & RCTL_EN, 0);
    r.nic.stop();
    assert_eq!(r.dev.dev().reg(RCTL) & RCTL_EN, 0);
}
