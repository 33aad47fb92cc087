//! The modern virtio PCI transport (Virtio 1.2 §4.1): typed access to the
//! common configuration, ISR, notify and device-configuration structures
//! found by [`pci::find_layout`](super::pci::find_layout). No policy here:
//! the init sequence and the queues live in the driver.

use super::bars::{Bars, Window};
use super::common::*;
use super::pci::Layout;
use crate::nic::{BarMapper, Mmio, NicError, SPIN_LIMIT};

/// How often a multi-byte device-configuration read is retried while
/// `config_generation` keeps changing under it (§4.1.4.3.1).
const GENERATION_RETRIES: usize = 16;

pub(super) struct Transport<M> {
    bars: Bars<M>,
    common: Window,
    notify: Window,
    notify_off_multiplier: u32,
    isr: Window,
    device: Window,
}

impl<M: Mmio> Transport<M> {
    pub(super) fn map<B: BarMapper<Mmio = M>>(
        mapper: &mut B,
        layout: &Layout,
    ) -> Result<Self, NicError> {
        let mut bars = Bars::new();
        let common = bars.window(mapper, layout.common)?;
        let notify = bars.window(mapper, layout.notify)?;
        let isr = bars.window(mapper, layout.isr)?;
        let device = bars.window(mapper, layout.device)?;
        Ok(Transport {
            bars,
            common,
            notify,
            notify_off_multiplier: layout.notify_off_multiplier,
            isr,
            device,
        })
    }

    pub(super) fn status(&self) -> u8 {
        self.bars.read8(self.common, DEVICE_STATUS)
    }

    pub(super) fn set_status(&self, status: u8) {
        self.bars.write8(self.common, DEVICE_STATUS, status);
    }

    /// §4.1.4.3.2: write 0, then wait for `device_status` to read 0.
    pub(super) fn reset(&self) -> Result<(), NicError> {
        self.set_status(0);
        for _ in 0..SPIN_LIMIT {
            if self.status() == 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(NicError::ResetTimeout)
    }

    /// §3.1.1: tell the device the driver gave up on it.
    pub(super) fn fail(&self) {
        self.set_status(self.status() | S_FAILED);
    }

    pub(super) fn device_features(&self) -> u64 {
        self.bars.write32(self.common, DEVICE_FEATURE_SELECT, 0);
        let lo = self.bars.read32(self.common, DEVICE_FEATURE);
        self.bars.write32(self.common, DEVICE_FEATURE_SELECT, 1);
        let hi = self.bars.read32(self.common, DEVICE_FEATURE);
        u64::from(hi) << 32 | u64::from(lo)
    }

    pub(super) fn set_driver_features(&self, features: u64) {
        self.bars.write32(self.common, DRIVER_FEATURE_SELECT, 0);
        self.bars
            .write32(self.common, DRIVER_FEATURE, features as u32);
        self.bars.write32(self.common, DRIVER_FEATURE_SELECT, 1);
        self.bars
            .write32(self.common, DRIVER_FEATURE, (features >> 32) as u32);
    }

    /// Writes `msix_config` and returns what the device kept (§4.1.5.1.2).
    pub(super) fn set_config_vector(&self, vector: u16) -> u16 {
        self.bars.write16(self.common, MSIX_CONFIG, vector);
        self.bars.read16(self.common, MSIX_CONFIG)
    }

    pub(super) fn select_queue(&self, index: u16) {
        self.bars.write16(self.common, QUEUE_SELECT, index);
    }

    /// The selected queue's maximum size; 0 means the queue does not exist.
    pub(super) fn queue_size(&self) -> u16 {
        self.bars.read16(self.common, QUEUE_SIZE)
    }

    /// Programs the selected queue's size and its three areas (§4.1.5.1.3).
    pub(super) fn set_queue(&self, size: u16, desc: u64, driver: u64, device: u64) {
        self.bars.write16(self.common, QUEUE_SIZE, size);
        for (off, addr) in [
            (QUEUE_DESC, desc),
            (QUEUE_DRIVER, driver),
            (QUEUE_DEVICE, device),
        ] {
            self.bars.write32(self.common, off, addr as u32);
            self.bars.write32(self.common, off + 4, (addr >> 32) as u32);
        }
    }

    /// Writes the selected queue's `queue_msix_vector`, returns what the
    /// device kept.
    pub(super) fn set_queue_vector(&self, vector: u16) -> u16 {
        self.bars.write16(self.common, QUEUE_MSIX_VECTOR, vector);
        self.bars.read16(self.common, QUEUE_MSIX_VECTOR)
    }

    /// The selected queue's notification address, as an offset into the
    /// notify structure (`queue_notify_off * notify_off_multiplier`,
    /// §4.1.4.4), or `None` if the device places it outside the structure.
    pub(super) fn queue_notify_offset(&self) -> Option<usize> {
        let off = self.bars.read16(self.common, QUEUE_NOTIFY_OFF);
        let at = u64::from(off) * u64::from(self.notify_off_multiplier);
        let at = usize::try_from(at).ok()?;
        (at.checked_add(2)? <= self.notify.len()).then_some(at)
    }

    pub(super) fn enable_queue(&self) {
        self.bars.write16(self.common, QUEUE_ENABLE, 1);
    }

    /// Available-buffer notification (§4.1.5.2): the queue index, 16 bits.
    pub(super) fn notify(&self, offset: usize, queue: u16) {
        self.bars.write16(self.notify, offset, queue);
    }

    /// Reads (and so clears) the ISR status byte.
    pub(super) fn isr(&self) -> u8 {
        self.bars.read8(self.isr, 0)
    }

    pub(super) fn device_len(&self) -> usize {
        self.device.len()
    }

    pub(super) fn device_u16(&self, off: usize) -> u16 {
        self.bars.read16(self.device, off)
    }

    /// Reads `out.len()` configuration bytes at `off` consistently: retried
    /// until `config_generation` is the same before and after (§2.5.1).
    pub(super) fn device_bytes(&self, off: usize, out: &mut [u8]) -> Result<(), NicError> {
        for _ in 0..GENERATION_RETRIES {
            let before = self.bars.read8(self.common, CONFIG_GENERATION);
            for (i, b) in out.iter_mut().enumerate() {
                *b = self.bars.read8(self.device, off + i);
            }
            if self.bars.read8(self.common, CONFIG_GENERATION) == before {
                return Ok(());
            }
        }
        Err(NicError::Device)
    }
}
