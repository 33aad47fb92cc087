//! Locating the virtio structures through PCI vendor-specific capabilities
//! (Virtio 1.2 §4.1.4): each `virtio_pci_cap` names a `cfg_type`, a BAR and
//! an `offset`/`length` inside it; the notify capability adds
//! `notify_off_multiplier` (§4.1.4.4).
//!
//! The list is untrusted: the walk visits each dword of the device-specific
//! header at most once, so a cyclic list is refused instead of looping.

use crate::nic::{ConfigSpace, NicError, Width};

const STATUS: u16 = 0x06;
const STATUS_CAP_LIST: u32 = 1 << 4;
const CAP_PTR: u16 = 0x34;
/// Capabilities live after the standard 64-byte header (PCI 3.0 §6.7).
const FIRST_CAP: u16 = 0x40;
const CONFIG_END: u16 = 0x100;
const CAP_ID_VENDOR: u8 = 0x09;

/// `cfg_type` values (§4.1.4): common, notify, ISR, device-specific.
pub(super) const CFG_COMMON: u8 = 1;
pub(super) const CFG_NOTIFY: u8 = 2;
pub(super) const CFG_ISR: u8 = 3;
pub(super) const CFG_DEVICE: u8 = 4;

/// Size of `struct virtio_pci_cap`, and of `virtio_pci_notify_cap` (§4.1.4.4).
const CAP_LEN: u8 = 16;
const NOTIFY_CAP_LEN: u8 = 20;

/// Shortest usable regions: the Virtio 1.0 common configuration (up to
/// `queue_device`, §4.1.4.3), one ISR byte (§4.1.4.5), one 16-bit notify write.
const MIN_COMMON: u32 = 0x38;
const MIN_ISR: u32 = 1;
const MIN_NOTIFY: u32 = 2;

/// `length` bytes at `offset` of memory BAR `bar` (0..=5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub bar: u8,
    pub offset: u32,
    pub length: u32,
}

/// The four structures the driver uses (§4.1.4.3–§4.1.4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub common: Region,
    pub notify: Region,
    pub notify_off_multiplier: u32,
    pub isr: Region,
    pub device: Region,
}

/// Walks the capability list and returns the first usable structure of each
/// type (§4.1.4.1: the driver SHOULD use the first one it can support and
/// MUST ignore reserved `cfg_type` and `bar` values). Regions are checked
/// against their BAR's size later, when the BAR is mapped.
pub fn find_layout(cfg: &mut impl ConfigSpace) -> Result<Layout, NicError> {
    if cfg.read(STATUS, Width::U16)? & STATUS_CAP_LIST == 0 {
        return Err(NicError::Unsupported);
    }
    let mut found = Found::default();
    let mut visited = 0u64;
    let mut at = (cfg.read(CAP_PTR, Width::U8)? & 0xfc) as u16;
    while at != 0 {
        if !(FIRST_CAP..CONFIG_END).contains(&at) {
            return Err(NicError::Unsupported);
        }
        let bit = 1u64 << ((at - FIRST_CAP) / 4);
        if visited & bit != 0 {
            return Err(NicError::Unsupported);
        }
        visited |= bit;
        if cfg.read(at, Width::U8)? as u8 == CAP_ID_VENDOR {
            found.vendor_cap(cfg, at)?;
        }
        at = (cfg.read(at + 1, Width::U8)? & 0xfc) as u16;
    }
    found.layout()
}

#[derive(Default)]
struct Found {
    common: Option<Region>,
    notify: Option<(Region, u32)>,
    isr: Option<Region>,
    device: Option<Region>,
}

impl Found {
    fn vendor_cap(&mut self, cfg: &mut impl ConfigSpace, at: u16) -> Result<(), NicError> {
        let cap_len = cfg.read(at + 2, Width::U8)? as u8;
        let cfg_type = cfg.read(at + 3, Width::U8)? as u8;
        let bar = cfg.read(at + 4, Width::U8)? as u8;
        if cap_len < CAP_LEN || at + u16::from(cap_len) > CONFIG_END || bar > 5 {
            return Ok(());
        }
        let region = Region {
            bar,
            offset: cfg.read(at + 8, Width::U32)?,
            length: cfg.read(at + 12, Width::U32)?,
        };
        match cfg_type {
            CFG_COMMON if region.length >= MIN_COMMON => {
                self.common.get_or_insert(region);
            }
            CFG_NOTIFY
                if cap_len >= NOTIFY_CAP_LEN
                    && region.length >= MIN_NOTIFY
                    && self.notify.is_none() =>
            {
                self.notify = Some((region, cfg.read(at + 16, Width::U32)?));
            }
            CFG_ISR if region.length >= MIN_ISR => {
                self.isr.get_or_insert(region);
            }
            CFG_DEVICE => {
                self.device.get_or_insert(region);
            }
            _ => {}
        }
        Ok(())
    }

    fn layout(self) -> Result<Layout, NicError> {
        match self {
            Found {
                common: Some(common),
                notify: Some((notify, notify_off_multiplier)),
                isr: Some(isr),
                device: Some(device),
            } => Ok(Layout {
                common,
                notify,
                notify_off_multiplier,
                isr,
                device,
            }),
            _ => Err(NicError::Unsupported),
        }
    }
}
