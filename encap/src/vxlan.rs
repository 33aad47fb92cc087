//! The VXLAN header, RFC 7348 §5:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The I flag "MUST be set to 1 for a valid VXLAN Network ID"; the other
//! bits and fields are reserved: "MUST be set to zero on transmission and
//! ignored on receipt" (§5). The payload is always an Ethernet frame.

use crate::Vni;

/// The IANA UDP destination port (RFC 7348 §5). Linux's historical default
/// was 8472; the port is configurable per wire.
pub const PORT: u16 = 4789;
/// The header's length.
pub const HEADER_LEN: usize = 8;
/// The I flag: the VNI is valid.
pub const FLAG_I: u8 = 0x08;

/// Why a VXLAN header is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VxlanError {
    /// Shorter than 8 bytes.
    #[error("VXLAN header truncated")]
    Truncated,
    /// The I flag is clear: no valid VNI (RFC 7348 §5).
    #[error("VXLAN I flag clear")]
    NoVni,
}

/// A view of a VXLAN packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checking; accessors read zeros past the end.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps, checking the length and the I flag.
    pub fn new_checked(buffer: T) -> Result<Self, VxlanError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        if p.flags() & FLAG_I == 0 {
            return Err(VxlanError::NoVni);
        }
        Ok(p)
    }

    /// The header fits in the buffer.
    pub fn check_len(&self) -> Result<(), VxlanError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(VxlanError::Truncated)
        } else {
            Ok(())
        }
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// The flags byte (only I is defined).
    pub fn flags(&self) -> u8 {
        self.byte(0)
    }
    /// The VNI.
    pub fn vni(&self) -> Vni {
        Vni::from_bytes([self.byte(4), self.byte(5), self.byte(6)])
    }
    /// The inner Ethernet frame.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// Writes a VXLAN header for `vni` into `buf[..8]`: I set, reserved zero.
pub fn emit(buf: &mut [u8], vni: Vni) -> Option<()> {
    let h = buf.get_mut(..HEADER_LEN)?;
    h[..4].copy_from_slice(&[FLAG_I, 0, 0, 0]);
    h[4..7].copy_from_slice(&vni.to_bytes());
    h[7] = 0;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rules() {
        let mut b = [0u8; 10];
        emit(&mut b, Vni::new(0x00_1234).unwrap()).unwrap();
        b[8..].copy_from_slice(b"hi");
        assert_eq!(&b[..8], &[0x08, 0, 0, 0, 0x00, 0x12, 0x34, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.vni().get(), p.payload()), (0x1234, &b"hi"[..]));
        for cut in 0..8 {
            assert_eq!(
                Packet::new_checked(&b[..cut]).err(),
                Some(VxlanError::Truncated)
            );
        }
        let mut no_i = b;
        no_i[0] = 0xF7;
        assert_eq!(
            Packet::new_checked(&no_i[..]).err(),
            Some(VxlanError::NoVni)
        );
        // Reserved bits are ignored (RFC 7348 §5), e.g. a GBP or GPE sender's.
        let mut r = b;
        r[0] = 0xFF;
        r[1..4].copy_from_slice(&[0xFF; 3]);
        r[7] = 0xFF;
        assert_eq!(Packet::new_checked(&r[..]).unwrap().vni().get(), 0x1234);
        assert_eq!(emit(&mut b[..7], Vni::new(1).unwrap()), None);
        let p = Packet::new_unchecked(&b[..2]);
        assert_eq!((p.vni().get(), p.payload()), (0, &[][..]));
    }
}
