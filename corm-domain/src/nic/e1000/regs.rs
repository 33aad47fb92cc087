//! BAR0 register offsets and the bits this driver uses, from the 8254x
//! "PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
//! Manual" (SDM, §13 "General Register Descriptions") and the "82574 GbE
//! Controller Family" datasheet (§10 "Programming Interface"). Registers
//! marked 82574 do not exist on the 82540EM.

/// Every MMIO read of a device that has left the bus (surprise removal,
/// master abort) returns all-ones; no register can legitimately read so.
pub const ALL_ONES: u32 = 0xFFFF_FFFF;

// ---- General configuration (SDM §13.4.1-13.4.5; 82574 §10.2.2) ----

/// Device Control (SDM §13.4.1; 82574 §10.2.2).
pub const CTRL: usize = 0x0000;
/// Device Status (SDM §13.4.2; 82574 §10.2.2).
pub const STATUS: usize = 0x0008;
/// EEPROM/Flash Control (SDM §13.4.3; 82574 §10.2.2).
pub const EECD: usize = 0x0010;
/// EEPROM Read (SDM §13.4.4; 82574 §10.2.2); field layout differs per model.
pub const EERD: usize = 0x0014;
/// Extended Device Control (SDM §13.4.6; 82574 §10.2.2).
pub const CTRL_EXT: usize = 0x0018;
/// Flow Control Address Low/High, Type and Transmit Timer (SDM §13.4):
/// written as zero when flow control is not used (SDM §14.3).
pub const FCAL: usize = 0x0028;
pub const FCAH: usize = 0x002C;
pub const FCT: usize = 0x0030;
pub const FCTTV: usize = 0x0170;

/// Full duplex.
pub const CTRL_FD: u32 = 1 << 0;
/// 82574: stop issuing new master requests before a reset (82574 §10.2.2,
/// "GIO Master Disable").
pub const CTRL_GIO_MASTER_DISABLE: u32 = 1 << 2;
/// 8254x: link reset; must be 0 for the link to come up (SDM §14.3).
pub const CTRL_LRST: u32 = 1 << 3;
/// Auto-speed detection enable.
pub const CTRL_ASDE: u32 = 1 << 5;
/// Set link up: lets the MAC use the PHY's link indication (SDM §13.4.1).
pub const CTRL_SLU: u32 = 1 << 6;
/// Invert loss-of-signal.
pub const CTRL_ILOS: u32 = 1 << 7;
pub const CTRL_FRCSPD: u32 = 1 << 11;
pub const CTRL_FRCDPX: u32 = 1 << 12;
/// Device reset: self-clearing (SDM §13.4.1 "RST"; 82574 §10.2.2).
pub const CTRL_RST: u32 = 1 << 26;
/// VLAN mode: would strip tags; a trunk port must keep them.
pub const CTRL_VME: u32 = 1 << 30;
pub const CTRL_PHY_RST: u32 = 1 << 31;

/// Link up (SDM §13.4.2).
pub const STATUS_LU: u32 = 1 << 1;
/// 82574: master requests still pending (82574 §10.2.2, STATUS
/// "GIO Master Enable Status").
pub const STATUS_GIO_MASTER_EN: u32 = 1 << 19;

/// 82574: NVM auto-read done after reset (82574 §10.2.2, EEC "AUTO_RD").
pub const EECD_AUTO_RD: u32 = 1 << 9;

/// EERD start bit, the same on both models.
pub const EERD_START: u32 = 1 << 0;
/// EERD data field, the same on both models: bits 31:16.
pub const EERD_DATA_SHIFT: u32 = 16;

/// 82574 CTRL_EXT: pending MSI-X PBA bits of causes re-enabled through IMS
/// are cleared (82574 §10.2.2, CTRL_EXT "PBA_support").
pub const CTRL_EXT_PBA_CLR: u32 = 1 << 31;
/// 82574 CTRL_EXT: "driver loaded", read by manageability firmware.
pub const CTRL_EXT_DRV_LOAD: u32 = 1 << 28;
/// 82574 CTRL_EXT: ICR read auto-masks IAM bits. Left clear (see `irq`).
pub const CTRL_EXT_IAME: u32 = 1 << 27;
/// 82574 CTRL_EXT: MSI-X auto-mask via EIAM. Left clear (see `irq`).
pub const CTRL_EXT_EIAME: u32 = 1 << 24;

// ---- Interrupts (SDM §13.4.17-13.4.21; 82574 §10.2.4) ----

/// Interrupt Cause Read (SDM §13.4.17; 82574 §10.2.4).
pub const ICR: usize = 0x00C0;
/// Interrupt Throttling, 256 ns units (SDM §13.4.18; 82574 §10.2.4).
pub const ITR: usize = 0x00C4;
/// Interrupt Cause Set (SDM §13.4.19).
pub const ICS: usize = 0x00C8;
/// Interrupt Mask Set/Read (SDM §13.4.20).
pub const IMS: usize = 0x00D0;
/// Interrupt Mask Clear (SDM §13.4.21).
pub const IMC: usize = 0x00D8;
/// 82574: Extended Interrupt Auto Clear (82574 §10.2.4, EIAC).
pub const EIAC: usize = 0x00DC;
/// 82574: Interrupt Acknowledge Auto-Mask (82574 §10.2.4, IAM).
pub const IAM: usize = 0x00E0;
/// 82574: Interrupt Vector Allocation (82574 §10.2.4, IVAR).
pub const IVAR: usize = 0x00E4;
/// 82574: Extended Interrupt Throttle of MSI-X vector 0 (82574 §10.2.4, EITR).
pub const EITR0: usize = 0x00E8;

/// Transmit descriptor written back.
pub const ICR_TXDW: u32 = 1 << 0;
/// Transmit queue empty.
pub const ICR_TXQE: u32 = 1 << 1;
/// Link status change.
pub const ICR_LSC: u32 = 1 << 2;
/// Receive descriptor minimum threshold reached.
pub const ICR_RXDMT0: u32 = 1 << 4;
/// Receiver overrun (no free descriptor).
pub const ICR_RXO: u32 = 1 << 6;
/// Receiver timer (a frame was written back).
pub const ICR_RXT0: u32 = 1 << 7;
/// 82574 (MSI-X mode): receive queue 0.
pub const ICR_RXQ0: u32 = 1 << 20;
/// 82574 (MSI-X mode): transmit queue 0.
pub const ICR_TXQ0: u32 = 1 << 22;
/// 82574 (MSI-X mode): a non-queue cause (LSC, RXO, ...) is pending.
pub const ICR_OTHER: u32 = 1 << 24;
/// 82574: set while the interrupt is asserted.
pub const ICR_INT_ASSERTED: u32 = 1 << 31;

/// IVAR: an allocation entry is valid (the "EN" bit of each 4-bit entry).
pub const IVAR_VALID: u32 = 0x8;
pub const IVAR_RXQ0_SHIFT: u32 = 0;
pub const IVAR_TXQ0_SHIFT: u32 = 8;
pub const IVAR_OTHER_SHIFT: u32 = 16;

// ---- Receive (SDM §13.4.22 ff.; 82574 §10.2.5) ----

/// Receive Control (SDM §13.4.22).
pub const RCTL: usize = 0x0100;
pub const RDBAL: usize = 0x2800;
pub const RDBAH: usize = 0x2804;
pub const RDLEN: usize = 0x2808;
pub const RDH: usize = 0x2810;
pub const RDT: usize = 0x2818;
/// Receive delay timer (SDM §13.4.30): 0, ITR does the moderation.
pub const RDTR: usize = 0x2820;
/// Receive absolute delay (SDM §13.4.31).
pub const RADV: usize = 0x282C;
/// Receive checksum offload control (SDM §13.4, RXCSUM): 0, so the
/// errors byte never carries checksum verdicts a switch does not want.
pub const RXCSUM: usize = 0x5000;
/// 82574: Receive Filter Control (82574 §10.2.5, RFCTL); EXTEN=0 keeps
/// legacy descriptors.
pub const RFCTL: usize = 0x5008;
/// Multicast Table Array, 128 words (SDM §13.4, MTA).
pub const MTA: usize = 0x5200;
pub const MTA_WORDS: usize = 128;
/// Receive Address 0 (SDM §13.4, RAL/RAH).
pub const RAL0: usize = 0x5400;
pub const RAH0: usize = 0x5404;
/// Address valid.
pub const RAH_AV: u32 = 1 << 31;
/// 82574: Multiple Receive Queues Command (82574 §10.2.5, MRQC); 0 = no
/// RSS, one queue.
pub const MRQC: usize = 0x5818;

pub const RCTL_EN: u32 = 1 << 1;
/// Unicast promiscuous.
pub const RCTL_UPE: u32 = 1 << 3;
/// Multicast promiscuous.
pub const RCTL_MPE: u32 = 1 << 4;
/// Long packet enable (left clear: no jumbo frames).
pub const RCTL_LPE: u32 = 1 << 5;
/// Accept broadcast.
pub const RCTL_BAM: u32 = 1 << 15;
/// Buffer size field (bits 17:16); 00 with BSEX=0 means 2048 bytes.
pub const RCTL_BSIZE_MASK: u32 = 0b11 << 16;
/// VLAN filter enable (left clear: a trunk carries every VLAN).
pub const RCTL_VFE: u32 = 1 << 18;
/// Buffer size extension.
pub const RCTL_BSEX: u32 = 1 << 25;
/// Strip the Ethernet CRC before writing the frame to host memory.
pub const RCTL_SECRC: u32 = 1 << 26;

// ---- Transmit (SDM §13.4.33 ff.; 82574 §10.2.6) ----

/// Transmit Control (SDM §13.4.33).
pub const TCTL: usize = 0x0400;
/// Transmit Inter Packet Gap (SDM §13.4.34).
pub const TIPG: usize = 0x0410;
pub const TDBAL: usize = 0x3800;
pub const TDBAH: usize = 0x3804;
pub const TDLEN: usize = 0x3808;
pub const TDH: usize = 0x3810;
pub const TDT: usize = 0x3818;
/// Transmit interrupt delay (SDM §13.4, TIDV): 0, ITR does the moderation.
pub const TIDV: usize = 0x3820;
/// Transmit absolute delay (SDM §13.4, TADV).
pub const TADV: usize = 0x382C;
/// 82574: Transmit Arbitration Count 0 (82574 §10.2.6, TARC).
pub const TARC0: usize = 0x3840;
/// TARC0 bit 10: queue 0 takes part in arbitration; QEMU's e1000e only
/// fetches from a queue with it set.
pub const TARC_ENABLE: u32 = 1 << 10;

pub const TCTL_EN: u32 = 1 << 1;
/// Pad short packets to 64 bytes.
pub const TCTL_PSP: u32 = 1 << 3;
pub const TCTL_CT_SHIFT: u32 = 4;
pub const TCTL_COLD_SHIFT: u32 = 12;

/// TIPG for IEEE 802.3 copper: IPGT=8, IPGR1=8, IPGR2=6 (SDM §13.4.34;
/// also the 82574's reset value, 82574 §10.2.6, TIPG).
pub const TIPG_COPPER: u32 = 8 | (8 << 10) | (6 << 20);
