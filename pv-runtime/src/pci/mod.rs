//! PCI passthrough for a PV driver domain: pcifront (io/pciif.h) for config
//! space and MSI/MSI-X, BAR decoding, and (in the domain) BAR mapping from
//! `DOMID_IO` and physical-IRQ binding. docs/xen-interfaces.md, "PCI passthrough".
//!
//! * [`op`]: the one-op-in-flight shared page protocol, sans-IO;
//! * [`address`]: the backend's `root-N` / `dev-N` values, parsed strictly;
//! * [`bar`]: BAR register decoding and sizing arithmetic;
//! * `frontend`, `mmio`, `irq` (domain only): the xenbus handshake with
//!   pciback, mapped BARs, and pirqs bound to event channels.

pub mod address;
pub mod bar;
pub mod op;

#[cfg(target_os = "none")]
pub mod frontend;
#[cfg(target_os = "none")]
pub mod irq;
#[cfg(target_os = "none")]
pub mod mmio;

pub use address::{Address, Root};
pub use bar::Bar;
pub use op::{OpError, OpPage, Request};

/// Standard config header offsets (PCI Local Bus 3.0 §6.1).
pub mod config {
    pub const VENDOR_ID: u16 = 0x00;
    pub const DEVICE_ID: u16 = 0x02;
    pub const COMMAND: u16 = 0x04;
    pub const STATUS: u16 = 0x06;
    pub const HEADER_TYPE: u16 = 0x0E;
    pub const BAR0: u16 = 0x10;
    pub const CAPABILITIES: u16 = 0x34;
    pub const INTERRUPT_LINE: u16 = 0x3C;
    pub const INTERRUPT_PIN: u16 = 0x3D;

    pub const COMMAND_IO: u32 = 1 << 0;
    pub const COMMAND_MEMORY: u32 = 1 << 1;
    pub const COMMAND_BUS_MASTER: u32 = 1 << 2;
    pub const COMMAND_INTX_DISABLE: u32 = 1 << 10;

    pub const STATUS_CAP_LIST: u32 = 1 << 4;

    pub const CAP_ID_MSI: u8 = 0x05;
    pub const CAP_ID_VENDOR: u8 = 0x09;
    pub const CAP_ID_MSIX: u8 = 0x11;
}
