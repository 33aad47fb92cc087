//! `struct virtio_pci_common_cfg` (Virtio 1.2 §4.1.4.3) register offsets,
//! and the device status bits (§2.1). Each field is accessed with its own
//! width; 64-bit fields as two 32-bit halves, low first (§4.1.3.1).

pub(super) const DEVICE_FEATURE_SELECT: usize = 0x00;
pub(super) const DEVICE_FEATURE: usize = 0x04;
pub(super) const DRIVER_FEATURE_SELECT: usize = 0x08;
pub(super) const DRIVER_FEATURE: usize = 0x0c;
pub(super) const MSIX_CONFIG: usize = 0x10;
pub(super) const DEVICE_STATUS: usize = 0x14;
pub(super) const CONFIG_GENERATION: usize = 0x15;
pub(super) const QUEUE_SELECT: usize = 0x16;
pub(super) const QUEUE_SIZE: usize = 0x18;
pub(super) const QUEUE_MSIX_VECTOR: usize = 0x1a;
pub(super) const QUEUE_ENABLE: usize = 0x1c;
pub(super) const QUEUE_NOTIFY_OFF: usize = 0x1e;
pub(super) const QUEUE_DESC: usize = 0x20;
pub(super) const QUEUE_DRIVER: usize = 0x28;
pub(super) const QUEUE_DEVICE: usize = 0x30;

/// "No MSI-X vector" for `msix_config` and `queue_msix_vector` (§4.1.5.1.2);
/// also what the device answers when it cannot use the vector written.
pub(super) const NO_VECTOR: u16 = 0xffff;

/// Device status bits (§2.1).
pub(super) const S_ACKNOWLEDGE: u8 = 1;
pub(super) const S_DRIVER: u8 = 2;
pub(super) const S_DRIVER_OK: u8 = 4;
pub(super) const S_FEATURES_OK: u8 = 8;
pub(super) const S_NEEDS_RESET: u8 = 0x40;
pub(super) const S_FAILED: u8 = 0x80;

/// ISR status bits (§4.1.4.5); reading the ISR byte clears it and deasserts
/// INTx.
pub(super) const ISR_QUEUE: u8 = 1;
pub(super) const ISR_CONFIG: u8 = 2;
