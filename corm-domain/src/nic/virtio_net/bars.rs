//! The mapped BARs behind the virtio structures, and bounds-checked windows
//! onto them. Structures may sit in different BARs (Virtio 1.2 §4.1.4 lets
//! each capability name its own); QEMU puts all four in BAR 4. Each distinct
//! BAR is mapped once and kept for the driver's lifetime.

use super::pci::Region;
use crate::nic::{BarMapper, Mmio, NicError};

/// One region of one mapped BAR. Accesses outside `len` read as all-ones and
/// write nothing, like the [`Mmio`] contract, so a register offset computed
/// from device data can never reach beyond the structure it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Window {
    bar: u8,
    base: usize,
    len: usize,
}

impl Window {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn at(&self, off: usize, width: usize) -> Option<usize> {
        let end = off.checked_add(width)?;
        (end <= self.len).then_some(self.base + off)
    }
}

pub(super) struct Bars<M> {
    maps: [Option<M>; 6],
}

impl<M: Mmio> Bars<M> {
    pub(super) fn new() -> Self {
        Bars {
            maps: [None, None, None, None, None, None],
        }
    }

    /// A window onto `region`, mapping its BAR on first use. A region that
    /// does not fit inside the mapped BAR makes the device unsupported.
    pub(super) fn window<B: BarMapper<Mmio = M>>(
        &mut self,
        mapper: &mut B,
        region: Region,
    ) -> Result<Window, NicError> {
        let slot = self
            .maps
            .get_mut(usize::from(region.bar))
            .ok_or(NicError::Bar(region.bar))?;
        if slot.is_none() {
            *slot = Some(mapper.map_bar(region.bar)?);
        }
        let bar_len = slot.as_ref().map_or(0, |m| m.len()) as u64;
        let end = u64::from(region.offset) + u64::from(region.length);
        if end > bar_len {
            return Err(NicError::Unsupported);
        }
        Ok(Window {
            bar: region.bar,
            base: region.offset as usize,
            len: region.length as usize,
        })
    }

    fn mmio(&self, w: Window) -> Option<&M> {
        self.maps.get(usize::from(w.bar))?.as_ref()
    }

    pub(super) fn read8(&self, w: Window, off: usize) -> u8 {
        match (self.mmio(w), w.at(off, 1)) {
            (Some(m), Some(o)) => m.read8(o),
            _ => u8::MAX,
        }
    }

    pub(super) fn read16(&self, w: Window, off: usize) -> u16 {
        match (self.mmio(w), w.at(off, 2)) {
            (Some(m), Some(o)) => m.read16(o),
            _ => u16::MAX,
        }
    }

    pub(super) fn read32(&self, w: Window, off: usize) -> u32 {
        match (self.mmio(w), w.at(off, 4)) {
            (Some(m), Some(o)) => m.read32(o),
            _ => u32::MAX,
        }
    }

    pub(super) fn write8(&self, w: Window, off: usize, v: u8) {
        if let (Some(m), Some(o)) = (self.mmio(w), w.at(off, 1)) {
            m.write8(o, v);
        }
    }

    pub(super) fn write16(&self, w: Window, off: usize, v: u16) {
        if let (Some(m), Some(o)) = (self.mmio(w), w.at(off, 2)) {
            m.write16(o, v);
        }
    }

    pub(super) fn write32(&self, w: Window, off: usize, v: u32) {
        if let (Some(m), Some(o)) = (self.mmio(w), w.at(off, 4)) {
            m.write32(o, v);
        }
    }
}
