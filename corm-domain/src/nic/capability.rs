//! The standard PCI capability list (PCI Local Bus 3.0 §6.7), as read
//! through pcifront: every byte is an answer of pciback (`io/pciif.h`), so
//! the walk is bounded (a cyclic or wild list must not hang the Corm) and
//! only ever reads inside the 256-byte standard header.

use pv_runtime::pci::config;

use super::{ConfigSpace, NicError, Width};

/// Capabilities followed at most: 48 fit in the 192 bytes after the header.
pub const MAX_CAPABILITIES: usize = 48;

/// Offset of capability `id`, or `None` when the function has no capability
/// list or `id` is not on it within [`MAX_CAPABILITIES`] steps. A returned
/// offset is at least 0x40 and 4-aligned, and the byte read there was `id`.
pub fn find_capability(cfg: &mut impl ConfigSpace, id: u8) -> Result<Option<u8>, NicError> {
    let status = cfg.read(config::STATUS, Width::U16)?;
    if status & config::STATUS_CAP_LIST == 0 {
        return Ok(None);
    }
    let mut at = read8(cfg, config::CAPABILITIES)? & !3;
    for _ in 0..MAX_CAPABILITIES {
        if at < 0x40 {
            return Ok(None);
        }
        if read8(cfg, u16::from(at))? == id {
            return Ok(Some(at));
        }
        at = read8(cfg, u16::from(at) + 1)? & !3;
    }
    Ok(None)
}

fn read8(cfg: &mut impl ConfigSpace, off: u16) -> Result<u8, NicError> {
    cfg.read(off, Width::U8).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nic::fake::FakeConfig;

    #[test]
    fn finds_listed_capabilities_only() {
        let mut cfg = FakeConfig::new(0x8086, 0x100e);
        assert_eq!(find_capability(&mut cfg, config::CAP_ID_MSI), Ok(None));
        let msi = cfg.add_capability(config::CAP_ID_MSI, &[0; 6]);
        let msix = cfg.add_capability(config::CAP_ID_MSIX, &[0; 10]);
        assert_eq!(find_capability(&mut cfg, config::CAP_ID_MSI), Ok(Some(msi)));
        assert_eq!(
            find_capability(&mut cfg, config::CAP_ID_MSIX),
            Ok(Some(msix))
        );
        assert_eq!(find_capability(&mut cfg, config::CAP_ID_VENDOR), Ok(None));
        // The list bit clear: no walk at all.
        cfg.bytes[6] &= !0x10;
        assert_eq!(find_capability(&mut cfg, config::CAP_ID_MSI), Ok(None));
    }

    #[test]
    fn a_cyclic_or_wild_list_ends() {
        let mut cfg = FakeConfig::new(0x8086, 0x100e);
        let a = cfg.add_capability(config::CAP_ID_VENDOR, &[0; 2]);
        let b = cfg.add_capability(config::CAP_ID_VENDOR, &[0; 2]);
        cfg.bytes[usize::from(b) + 1] = a; // b -> a -> b -> ...
        assert_eq!(find_capability(&mut cfg, config::CAP_ID_MSI), Ok(None));
        // A next pointer into the header ends the walk; low bits are ignored.
        cfg.bytes[usize::from(b) + 1] = 0x13;
        assert_eq!(find_capability(&mut cfg, config::CAP_ID_MSI), Ok(None));
        cfg.bytes[0x34] = a | 3;
        assert_eq!(
            find_capability(&mut cfg, config::CAP_ID_VENDOR),
            Ok(Some(a))
        );
    }
}
