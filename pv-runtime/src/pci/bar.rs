//! Base Address Registers (PCI Local Bus 3.0 §6.2.5.1): what a BAR decodes
//! to, and its size from the all-ones probe (pciback emulates the probe, so
//! the real BAR is never disturbed).

/// A decoded BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    /// Memory space at machine address `base`, `size` bytes.
    Memory {
        base: u64,
        size: u64,
        prefetchable: bool,
        wide: bool,
    },
    /// I/O ports (not mapped by this runtime).
    Io { base: u32, size: u32 },
}

impl Bar {
    /// Whether the register at `lo` is the low half of a 64-bit memory BAR
    /// (so the next BAR index is its high half).
    pub fn is_wide(lo: u32) -> bool {
        lo & 1 == 0 && (lo >> 1) & 3 == 2
    }

    /// Decodes a BAR from its value (`lo`, and `hi` for a 64-bit BAR) and the
    /// values read back after writing all-ones (`mask_lo`, `mask_hi`).
    /// `None`: unimplemented (size 0) or nonsensical (not a power of two,
    /// base not aligned to the size, or wrapping the address space).
    pub fn decode(lo: u32, hi: u32, mask_lo: u32, mask_hi: u32) -> Option<Bar> {
        if lo & 1 == 1 {
            let m = mask_lo & !3 & 0xFFFF;
            let size = (!m).wrapping_add(1) & 0xFFFF;
            let base = lo & !3;
            return (m != 0 && size.is_power_of_two() && base.is_multiple_of(size))
                .then_some(Bar::Io { base, size });
        }
        let wide = Self::is_wide(lo);
        let (base, mask) = if wide {
            (
                u64::from(hi) << 32 | u64::from(lo & !0xF),
                u64::from(mask_hi) << 32 | u64::from(mask_lo & !0xF),
            )
        } else {
            (
                u64::from(lo & !0xF),
                0xFFFF_FFFF_0000_0000 | u64::from(mask_lo & !0xF),
            )
        };
        let size = (!mask).wrapping_add(1);
        let ok = mask & 0xFFFF_FFFF != 0
            && size.is_power_of_two()
            && base.is_multiple_of(size)
            && base.checked_add(size).is_some();
        ok.then_some(Bar::Memory {
            base,
            size,
            prefetchable: lo & 8 != 0,
            wide,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e1000_bar0_is_128k_memory() {
        // QEMU's e1000: 32-bit non-prefetchable memory BAR of 128 KiB.
        let b = Bar::decode(0xfebc_0000, 0, 0xfffe_0000, 0).unwrap();
        assert_eq!(
            b,
            Bar::Memory {
                base: 0xfebc_0000,
                size: 0x2_0000,
                prefetchable: false,
                wide: false
            }
        );
    }

    #[test]
    fn wide_prefetchable_bar() {
        // virtio-pci modern: 64-bit prefetchable 16 KiB BAR above 4 GiB.
        let lo = 0x0000_000c;
        assert!(Bar::is_wide(lo));
        let b = Bar::decode(lo, 0x8, 0xffff_c00c, 0xffff_ffff).unwrap();
        assert_eq!(
            b,
            Bar::Memory {
                base: 0x8_0000_0000,
                size: 0x4000,
                prefetchable: true,
                wide: true
            }
        );
    }

    #[test]
    fn io_bar() {
        assert_eq!(
            Bar::decode(0xc001, 0, 0xffff_ffc1, 0),
            Some(Bar::Io {
                base: 0xc000,
                size: 0x40
            })
        );
    }

    #[test]
    fn refuses_unimplemented_and_nonsense() {
        assert_eq!(Bar::decode(0, 0, 0, 0), None);
        // base not aligned to the size
        assert_eq!(Bar::decode(0xfebc_1000, 0, 0xfffe_0000, 0), None);
        // mask with a hole: not a power of two
        assert_eq!(Bar::decode(0xfe00_0000, 0, 0xfefe_0000, 0), None);
    }
}
