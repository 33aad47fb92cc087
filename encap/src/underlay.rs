//! The outer IPv4 (RFC 791) and UDP (RFC 768) headers of an encapsulated
//! frame: checked views over received bytes and the emitters the template
//! uses. Only what a tunnel endpoint needs: no IPv4 options are ever sent,
//! received options are skipped by IHL; fragments are refused by the decap
//! (RFC 8926 §4.1.1 asks tunnel endpoints not to rely on fragmentation).
//!
//! Checksums are RFC 1071 sums from `net-offload`.

use core::net::Ipv4Addr;

use net_offload::checksum::{checksum, fold, pseudo_v4, sum};

/// IPv4 header length without options.
pub const IPV4_HLEN: usize = 20;
/// UDP header length.
pub const UDP_HLEN: usize = 8;
/// The IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// The Don't Fragment flag in the flags/fragment-offset word (RFC 791 §3.1).
pub const FLAG_DF: u16 = 0x4000;
/// More Fragments.
pub const FLAG_MF: u16 = 0x2000;
/// The fragment offset's bits.
pub const FRAG_OFFSET_MASK: u16 = 0x1FFF;

/// Why an IPv4 view could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ipv4Error {
    /// Shorter than 20 bytes, than IHL says, or than the total length says.
    #[error("IPv4 packet truncated")]
    Truncated,
    /// The version field is not 4.
    #[error("IP version {0} is not 4")]
    Version(u8),
    /// IHL below 5 (RFC 791 §3.1: the minimum header is 5 words).
    #[error("IPv4 IHL {0} below 5")]
    Ihl(u8),
    /// Total length below the header length.
    #[error("IPv4 total length below the header length")]
    Length,
}

/// A view of an IPv4 packet. After [`Ipv4Packet::new_checked`], the header
/// (with options) and `total_len` bytes lie inside the buffer; bytes past
/// `total_len` (Ethernet padding) are not part of the packet.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps without checking; accessors then read zeros past the end.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps, checking version, IHL and both lengths against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Ipv4Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`new_checked`](Self::new_checked).
    pub fn check_len(&self) -> Result<(), Ipv4Error> {
        let len = self.buffer.as_ref().len();
        if len < IPV4_HLEN {
            return Err(Ipv4Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Ipv4Error::Version(self.version()));
        }
        if self.ihl() < 5 {
            return Err(Ipv4Error::Ihl(self.ihl()));
        }
        let total = usize::from(self.total_len());
        if total < self.header_len() {
            return Err(Ipv4Error::Length);
        }
        if self.header_len() > len || total > len {
            return Err(Ipv4Error::Truncated);
        }
        Ok(())
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn word(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.byte(at), self.byte(at + 1)])
    }

    fn addr(&self, at: usize) -> Ipv4Addr {
        Ipv4Addr::new(
            self.byte(at),
            self.byte(at + 1),
            self.byte(at + 2),
            self.byte(at + 3),
        )
    }

    /// The version field (4).
    pub fn version(&self) -> u8 {
        self.byte(0) >> 4
    }
    /// The header length in 32-bit words.
    pub fn ihl(&self) -> u8 {
        self.byte(0) & 0x0F
    }
    /// The header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }
    /// Header and payload bytes.
    pub fn total_len(&self) -> u16 {
        self.word(2)
    }
    /// The flags and fragment offset word.
    pub fn flags_frag(&self) -> u16 {
        self.word(6)
    }
    /// Whether this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.byte(8)
    }
    /// The payload's protocol.
    pub fn protocol(&self) -> u8 {
        self.byte(9)
    }
    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        self.word(10)
    }
    /// The source address.
    pub fn src(&self) -> Ipv4Addr {
        self.addr(12)
    }
    /// The destination address.
    pub fn dst(&self) -> Ipv4Addr {
        self.addr(16)
    }
    /// Whether the header (with options) sums to 0xFFFF (RFC 791 §3.1).
    pub fn verify_checksum(&self) -> bool {
        self.buffer
            .as_ref()
            .get(..self.header_len())
            .is_some_and(|h| checksum(h) == 0)
    }
    /// The payload: from the header's end to `total_len` (empty if the view
    /// was not checked and the buffer is short).
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len()..usize::from(self.total_len()))
            .unwrap_or(&[])
    }
}

/// Writes a 20-byte IPv4 header without options into `buf[..20]`, checksum
/// included: the header a tunnel endpoint sends (RFC 8926 §4.1.1 leaves DF to
/// the endpoint; we set it and never fragment). `None` if `buf` is short.
pub fn emit_ipv4(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    total_len: u16,
    ttl: u8,
    protocol: u8,
) -> Option<()> {
    let h = buf.get_mut(..IPV4_HLEN)?;
    h[0] = 0x45;
    h[1] = 0; // DSCP/ECN: best effort, not ECN-capable (RFC 6040 left to later)
    h[2..4].copy_from_slice(&total_len.to_be_bytes());
    h[4..6].copy_from_slice(&[0, 0]); // ident: atomic datagram (RFC 6864 §4.1)
    h[6..8].copy_from_slice(&FLAG_DF.to_be_bytes());
    h[8] = ttl;
    h[9] = protocol;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    Some(())
}

/// Why a UDP view could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// Shorter than the 8-byte header.
    #[error("UDP datagram truncated")]
    Truncated,
    /// The length field is below 8 or disagrees with the IP payload.
    #[error("UDP length {0} disagrees with the IP payload")]
    Length(u16),
}

/// A view of a UDP datagram, the IP payload. After
/// [`UdpPacket::new_checked`] the length field equals the buffer's length.
#[derive(Clone, Copy, Debug)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps without checking.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` (exactly the IP payload), checking that the UDP length
    /// field covers it exactly: a shorter length would hide trailing bytes a
    /// peer's checksum did not cover (RFC 768 allows it; no VTEP sends it).
    pub fn new_checked(buffer: T) -> Result<Self, UdpError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`new_checked`](Self::new_checked).
    pub fn check_len(&self) -> Result<(), UdpError> {
        let len = self.buffer.as_ref().len();
        if len < UDP_HLEN {
            return Err(UdpError::Truncated);
        }
        if usize::from(self.len()) != len {
            return Err(UdpError::Length(self.len()));
        }
        Ok(())
    }

    fn word(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        match b.get(at..at + 2) {
            Some(w) => u16::from_be_bytes([w[0], w[1]]),
            None => 0,
        }
    }

    /// The source port (entropy from the sender's flow hash, RFC 8926 §3.3).
    pub fn src_port(&self) -> u16 {
        self.word(0)
    }
    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        self.word(2)
    }
    /// The length field, header included.
    pub fn len(&self) -> u16 {
        self.word(4)
    }
    /// Whether the length field is zero (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The checksum field; 0 means "not computed", allowed over IPv4
    /// (RFC 768; RFC 8926 §3.3, RFC 7348 §5).
    pub fn checksum(&self) -> u16 {
        self.word(6)
    }
    /// Whether a non-zero checksum is right for these addresses. A zero
    /// checksum is not verified (there is none).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let b = self.buffer.as_ref();
        let acc = pseudo_v4(&src.octets(), &dst.octets(), IPPROTO_UDP, b.len() as u32);
        fold(sum(b, acc)) == 0xFFFF
    }
    /// The payload after the header.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(UDP_HLEN..).unwrap_or(&[])
    }
}

/// Writes a UDP header with a zero checksum into `buf[..8]` (RFC 8926 §3.3
/// and RFC 7348 §5 allow and recommend it over IPv4: the inner frame carries
/// its own checksums, and the outer IPv4 header its own).
pub fn emit_udp(buf: &mut [u8], src_port: u16, dst_port: u16, len: u16) -> Option<()> {
    let h = buf.get_mut(..UDP_HLEN)?;
    h[0..2].copy_from_slice(&src_port.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[4..6].copy_from_slice(&len.to_be_bytes());
    h[6..8].copy_from_slice(&[0, 0]);
    Some(())
}

/// Fills in the UDP checksum of `udp` (header + payload) for these
/// addresses; a result of 0 is sent as 0xFFFF (RFC 768). Used by tests and
/// by whoever wants checksummed outer UDP.
pub fn fill_udp_checksum(udp: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    if udp.len() < UDP_HLEN {
        return;
    }
    udp[6..8].copy_from_slice(&[0, 0]);
    let acc = pseudo_v4(&src.octets(), &dst.octets(), IPPROTO_UDP, udp.len() as u32);
    let c = match !fold(sum(udp, acc)) {
        0 => 0xFFFF,
        c => c,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn packet(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; IPV4_HLEN + payload.len()];
        let len = p.len() as u16;
        emit_ipv4(&mut p, A, B, len, 64, IPPROTO_UDP).unwrap();
        p[IPV4_HLEN..].copy_from_slice(payload);
        p
    }

    #[test]
    fn ipv4_round_trip() {
        let p = packet(b"abcd");
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(v.verify_checksum());
        assert_eq!((v.src(), v.dst(), v.ttl(), v.protocol()), (A, B, 64, 17));
        assert_eq!(v.flags_frag(), FLAG_DF);
        assert!(!v.is_fragment());
        assert_eq!(v.payload(), b"abcd");
        // RFC 1071 example-style check against a known header.
        let known = [
            0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8,
            0, 0xc7,
        ];
        assert!(Ipv4Packet::new_unchecked(&known[..]).verify_checksum());
    }

    #[test]
    fn ipv4_malformed() {
        let p = packet(b"abcd");
        for cut in 0..p.len() {
            assert!(Ipv4Packet::new_checked(&p[..cut]).is_err(), "cut {cut}");
        }
        let mut v6 = p.clone();
        v6[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v6[..]).err(),
            Some(Ipv4Error::Version(6))
        );
        let mut ihl = p.clone();
        ihl[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&ihl[..]).err(),
            Some(Ipv4Error::Ihl(4))
        );
        let mut big_ihl = p.clone();
        big_ihl[0] = 0x4F;
        assert!(Ipv4Packet::new_checked(&big_ihl[..]).is_err());
        let mut short_total = p.clone();
        short_total[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&short_total[..]).err(),
            Some(Ipv4Error::Length)
        );
        let mut bad = p.clone();
        bad[8] = 63;
        assert!(!Ipv4Packet::new_checked(&bad[..]).unwrap().verify_checksum());
        // Padding past total_len is not payload.
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(
            Ipv4Packet::new_checked(&padded[..]).unwrap().payload(),
            b"abcd"
        );
        // Unchecked views never panic.
        let v = Ipv4Packet::new_unchecked(&p[..3]);
        assert_eq!((v.payload(), v.src()), (&[][..], Ipv4Addr::UNSPECIFIED));
        assert!(!v.verify_checksum());
    }

    #[test]
    fn udp_lengths_and_checksum() {
        let mut u = [0u8; 12];
        emit_udp(&mut u, 50000, 6081, 12).unwrap();
        u[8..].copy_from_slice(b"wxyz");
        let v = UdpPacket::new_checked(&u[..]).unwrap();
        assert_eq!((v.src_port(), v.dst_port(), v.len()), (50000, 6081, 12));
        assert!(v.verify_checksum(A, B), "zero checksum is not verified");
        fill_udp_checksum(&mut u, A, B);
        let v = UdpPacket::new_checked(&u[..]).unwrap();
        assert_ne!(v.checksum(), 0);
        assert!(v.verify_checksum(A, B));
        assert!(!v.verify_checksum(A, A));
        assert_eq!(v.payload(), b"wxyz");
        assert_eq!(
            UdpPacket::new_checked(&u[..7]).err(),
            Some(UdpError::Truncated)
        );
        assert_eq!(
            UdpPacket::new_checked(&u[..11]).err(),
            Some(UdpError::Length(12))
        );
        let mut long = u.to_vec();
        long.push(0);
        assert_eq!(
            UdpPacket::new_checked(&long[..]).err(),
            Some(UdpError::Length(12))
        );
        let mut tiny = u;
        tiny[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert!(UdpPacket::new_checked(&tiny[..]).is_err());
    }
}
