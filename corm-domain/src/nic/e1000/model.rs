//! The two supported controllers and where their programming models differ.
//!
//! | concern                     | 82540EM (SDM)             | 82574L (datasheet)                  |
//! |-----------------------------|---------------------------|-------------------------------------|
//! | EERD layout                 | DONE bit 4, ADDR 15:8     | DONE bit 1, ADDR 15:2               |
//! | before CTRL.RST             | nothing                   | GIO master disable, poll STATUS     |
//! | after CTRL.RST              | nothing to poll           | poll EEC.AUTO_RD (NVM loaded)       |
//! | interrupts                  | INTx (or MSI, same regs)  | INTx, MSI, MSI-X (IVAR, EITR, OTHER)|
//! | ICR read                    | always clears             | QEMU: clears only if IMS=0 or IAME  |
//! | transmit queue enable       | TCTL.EN                   | TCTL.EN and TARC0 bit 10            |
//! | RX descriptor format        | legacy only               | legacy unless RFCTL.EXTEN           |
//! | TCTL.CT / TCTL.COLD (FDX)   | 0x10 / 0x40 (SDM §14.5)   | 0x0F / 0x3F (82574 §4.6)            |

use crate::nic::IrqMode;

/// Intel's PCI vendor id.
pub const INTEL: u16 = 0x8086;

/// A supported controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// 82540EM desktop (8086:100E): QEMU's `-device e1000`.
    I82540Em,
    /// 82574L (8086:10D3): QEMU's `-device e1000e`.
    I82574L,
}

/// Where EERD puts its fields (SDM §13.4.4; 82574 §10.2.2, EERD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EerdLayout {
    /// The "read done" bit.
    pub done: u32,
    /// Shift of the word address.
    pub addr_shift: u32,
}

impl Model {
    /// Only the two devices this driver has been written and tested against
    /// are accepted. Other 8254x parts (82545EM 100F, 82544GC 1004, which
    /// QEMU can also emulate) differ in EEPROM access (the 82544 has no
    /// EERD) and errata, so they are refused rather than half-supported.
    pub fn from_ids(vendor: u16, device: u16) -> Option<Model> {
        match (vendor, device) {
            (INTEL, 0x100E) => Some(Model::I82540Em),
            (INTEL, 0x10D3) => Some(Model::I82574L),
            _ => None,
        }
    }

    pub fn eerd(self) -> EerdLayout {
        match self {
            Model::I82540Em => EerdLayout {
                done: 1 << 4,
                addr_shift: 8,
            },
            Model::I82574L => EerdLayout {
                done: 1 << 1,
                addr_shift: 2,
            },
        }
    }

    /// The 8254x has no MSI-X capability (SDM §4, PCI interface); MSI is
    /// configured in PCI config space only, so it needs nothing here.
    pub fn supports(self, irq: IrqMode) -> bool {
        !(self == Model::I82540Em && irq == IrqMode::Msix)
    }

    /// PCIe parts must quiesce bus mastering before a reset (82574 §10.2.2,
    /// CTRL "GIO Master Disable") and wait for the NVM auto-load after it
    /// (82574 §10.2.2, EEC "AUTO_RD"); they also have the extended
    /// interrupt registers (IAM, EIAC, IVAR, EITR), TARC0, RFCTL and MRQC,
    /// and an ICR that must be acknowledged by writing (see `irq`).
    pub fn is_pcie(self) -> bool {
        self == Model::I82574L
    }

    /// TCTL collision threshold and full-duplex collision distance: SDM §14.5
    /// ("CT ... 10h", "COLD ... 40h for full duplex") and the 82574's
    /// recommended values (82574 §4.6, transmit initialization: CT 0Fh, COLD 3Fh).
    pub fn tctl_collision(self) -> u32 {
        use super::regs::{TCTL_COLD_SHIFT, TCTL_CT_SHIFT};
        let (ct, cold) = match self {
            Model::I82540Em => (0x10, 0x40),
            Model::I82574L => (0x0F, 0x3F),
        };
        (ct << TCTL_CT_SHIFT) | (cold << TCTL_COLD_SHIFT)
    }
}
