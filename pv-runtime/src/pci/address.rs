//! Where pciback puts the devices it exports, as hostile xenstore text:
//! `root-N = "DDDD:BB"` (Linux pciback `xen_pcibk_publish_pci_root`) and
//! `dev-N = "DDDD:BB:SS.F"` (its `xen_pcibk_publish_pci_dev`). Parsed strictly
//! so a bad value is refused rather than half-understood; `root_num` too.

use crate::xenstore::parse_decimal;

/// Root buses we accept from the backend.
pub const MAX_ROOTS: u32 = 4;

/// pciback's `root_num`: strict decimal (no sign, space or leading zero),
/// at most [`MAX_ROOTS`].
pub fn parse_root_num(s: &str) -> Option<u32> {
    parse_decimal(s).filter(|&n| n <= MAX_ROOTS)
}

/// A root bus the backend exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Root {
    pub domain: u16,
    pub bus: u8,
}

/// One PCI function as pcifront addresses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    pub domain: u16,
    pub bus: u8,
    /// `slot << 3 | function`.
    pub devfn: u8,
}

impl Address {
    pub fn new(root: Root, slot: u8, function: u8) -> Option<Address> {
        (slot < 32 && function < 8).then_some(Address {
            domain: root.domain,
            bus: root.bus,
            devfn: slot << 3 | function,
        })
    }
    pub fn slot(&self) -> u8 {
        self.devfn >> 3
    }
    pub fn function(&self) -> u8 {
        self.devfn & 7
    }
}

impl core::fmt::Display for Address {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            self.domain,
            self.bus,
            self.slot(),
            self.function()
        )
    }
}

fn hex<const N: usize>(s: &str) -> Option<u32> {
    (s.len() == N && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(s, 16).ok())
        .flatten()
}

impl Root {
    /// `"DDDD:BB"`.
    pub fn parse(s: &str) -> Option<Root> {
        let (d, b) = s.split_once(':')?;
        Some(Root {
            domain: hex::<4>(d)? as u16,
            bus: hex::<2>(b)? as u8,
        })
    }
}

impl Address {
    /// `"DDDD:BB:SS.F"`.
    pub fn parse(s: &str) -> Option<Address> {
        let (root, sf) = s.rsplit_once(':')?;
        let (slot, func) = sf.split_once('.')?;
        let func = (func.len() == 1)
            .then(|| func.parse::<u8>().ok())
            .flatten()?;
        Address::new(Root::parse(root)?, hex::<2>(slot)? as u8, func)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_pciback_writes() {
        assert_eq!(Root::parse("0000:00"), Some(Root { domain: 0, bus: 0 }));
        let a = Address::parse("0000:00:03.0").unwrap();
        assert_eq!((a.domain, a.bus, a.slot(), a.function()), (0, 0, 3, 0));
        assert_eq!(a.to_string(), "0000:00:03.0");
        assert_eq!(
            Address::parse("abcd:ef:1f.7").unwrap().to_string(),
            "abcd:ef:1f.7"
        );
    }

    #[test]
    fn root_num_is_strict() {
        assert_eq!(parse_root_num("0"), Some(0));
        assert_eq!(parse_root_num("4"), Some(MAX_ROOTS));
        for bad in ["", "5", "+1", "01", " 1", "1 ", "-0", "4294967296"] {
            assert_eq!(parse_root_num(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "", "0:0", "0000:0", "0000:000", "000g:00", "0000:00:", "+000:00",
        ] {
            assert_eq!(Root::parse(bad), None, "{bad:?}");
        }
        for bad in [
            "0000:00:03",
            "0000:00:20.0",
            "0000:00:03.8",
            "0000:00:3.0",
            "0000:00:03.00",
            "0000:00:03.0 ",
            "x0000:00:03.0",
            "0000:00:03.-",
        ] {
            assert_eq!(Address::parse(bad), None, "{bad:?}");
        }
    }
}
