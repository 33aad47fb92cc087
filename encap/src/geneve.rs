//! The Geneve header, RFC 8926 §3.4, and its options, §3.5:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Variable-Length Options                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Receive rules kept here: version 0 only (§3.4: "Packets received by a
//! tunnel endpoint with an unknown version MUST be dropped"); the option
//! area is `Opt Len` 4-byte words (at most 252 bytes) and lies inside the
//! packet; every option's length is bounds-checked before it is read
//! ([`Options`]); reserved fields are ignored (§3.4). Which options and
//! protocol types are acceptable is the decap's decision ([`crate::decap`]).

use crate::Vni;

/// The IANA UDP destination port (RFC 8926 §3.3).
pub const PORT: u16 = 6081;
/// The fixed header's length.
pub const HEADER_LEN: usize = 8;
/// The only version defined (RFC 8926 §3.4).
pub const VERSION: u8 = 0;
/// Protocol type of an Ethernet payload: Transparent Ethernet Bridging
/// (RFC 8926 §3.4, the EtherType registry's 0x6558).
pub const PROTO_TEB: u16 = 0x6558;
/// The longest option area: 63 words (the 6-bit `Opt Len`).
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
/// An option's header: class, type, length (RFC 8926 §3.5).
pub const OPTION_HEADER_LEN: usize = 4;
/// The critical bit in an option's type (RFC 8926 §3.5).
pub const OPTION_CRITICAL: u8 = 0x80;

const FLAG_O: u8 = 0x80;
const FLAG_C: u8 = 0x40;

/// Why a Geneve header is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeneveError {
    /// Shorter than 8 bytes, or than the option area `Opt Len` claims.
    #[error("Geneve header truncated")]
    Truncated,
    /// Not version 0: dropped (RFC 8926 §3.4).
    #[error("Geneve version {0}")]
    Version(u8),
    /// An option's length runs past the option area, or the area ends
    /// inside an option header (RFC 8926 §3.5).
    #[error("Geneve option overruns the option area")]
    OptionOverrun,
}

/// A view of a Geneve packet: header, options, payload.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checking; accessors read zeros past the end.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps, checking that the fixed header and the option area are inside
    /// the buffer and that the version is 0. Options are checked while
    /// iterated ([`Packet::options`]) or all at once ([`Packet::check_options`]).
    pub fn new_checked(buffer: T) -> Result<Self, GeneveError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        if p.version() != VERSION {
            return Err(GeneveError::Version(p.version()));
        }
        Ok(p)
    }

    /// The header and option area fit in the buffer.
    pub fn check_len(&self) -> Result<(), GeneveError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
            return Err(GeneveError::Truncated);
        }
        Ok(())
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// The version (2 bits).
    pub fn version(&self) -> u8 {
        self.byte(0) >> 6
    }
    /// `Opt Len`: the option area in 4-byte words.
    pub fn opt_len_words(&self) -> u8 {
        self.byte(0) & 0x3F
    }
    /// The option area in bytes.
    pub fn options_len(&self) -> usize {
        usize::from(self.opt_len_words()) * 4
    }
    /// Fixed header plus options: where the payload starts.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }
    /// The O bit: a control packet, never forwarded to a tenant (§3.4).
    pub fn oam(&self) -> bool {
        self.byte(1) & FLAG_O != 0
    }
    /// The C bit: critical options are present (§3.4).
    pub fn critical(&self) -> bool {
        self.byte(1) & FLAG_C != 0
    }
    /// The payload's protocol type (EtherType values).
    pub fn protocol(&self) -> u16 {
        u16::from_be_bytes([self.byte(2), self.byte(3)])
    }
    /// The VNI.
    pub fn vni(&self) -> Vni {
        Vni::from_bytes([self.byte(4), self.byte(5), self.byte(6)])
    }
    /// The option area (empty if the view is unchecked and short).
    pub fn options_bytes(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }
    /// The options, each bounds-checked.
    pub fn options(&self) -> Options<'_> {
        Options::new(self.options_bytes())
    }
    /// Walks every option once: an overrun anywhere is an error.
    pub fn check_options(&self) -> Result<(), GeneveError> {
        self.options().try_for_each(|o| o.map(drop))
    }
    /// The payload (the inner frame for [`PROTO_TEB`]).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }
}

/// One option TLV (RFC 8926 §3.5):
///
/// ```text
/// |          Option Class         |      Type     |R|R|R| Length  |
/// |                 Variable-Length Option Data                   |
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    /// The option class (namespace; 0xFFF0–0xFFFF experimental, §7.2).
    pub class: u16,
    /// The type, critical bit included.
    pub kind: u8,
    /// The data, `Length` words.
    pub data: &'a [u8],
}

impl GeneveOption<'_> {
    /// The critical bit: a receiver that does not know this option must drop
    /// the packet (RFC 8926 §3.5.1).
    pub fn is_critical(&self) -> bool {
        self.kind & OPTION_CRITICAL != 0
    }
}

/// Iterator over an option area. Yields an error once and stops if an
/// option would run past the area; never reads outside it.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Options<'a> {
    /// Iterates `area`, the option bytes after the fixed header.
    pub fn new(area: &'a [u8]) -> Self {
        Self {
            rest: area,
            failed: false,
        }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<GeneveOption<'a>, GeneveError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let hdr = self.rest.get(..OPTION_HEADER_LEN)?;
            let data_len = usize::from(hdr[3] & 0x1F) * 4;
            let end = OPTION_HEADER_LEN + data_len;
            let data = self.rest.get(OPTION_HEADER_LEN..end)?;
            let opt = GeneveOption {
                class: u16::from_be_bytes([hdr[0], hdr[1]]),
                kind: hdr[2],
                data,
            };
            Some((opt, end))
        })();
        match parsed {
            Some((opt, end)) => {
                self.rest = &self.rest[end..];
                Some(Ok(opt))
            }
            None => {
                self.failed = true;
                Some(Err(GeneveError::OptionOverrun))
            }
        }
    }
}

/// The fields of a Geneve header to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// The O bit (control packet).
    pub oam: bool,
    /// The C bit (critical options present).
    pub critical: bool,
    /// The payload's protocol type, [`PROTO_TEB`] for Ethernet.
    pub protocol: u16,
    /// The VNI.
    pub vni: Vni,
    /// Bytes of options that follow (a multiple of 4, at most 252).
    pub options_len: usize,
}

impl Repr {
    /// A data header: Ethernet payload, no options, no flags.
    pub const fn data(vni: Vni) -> Self {
        Self {
            oam: false,
            critical: false,
            protocol: PROTO_TEB,
            vni,
            options_len: 0,
        }
    }

    /// Fixed header plus options.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len
    }

    /// Writes the fixed 8-byte header (reserved fields zero, §3.4); the
    /// caller writes the options after it ([`emit_option`]). `None` if the
    /// option length is not a multiple of 4 or too long, or `buf` is short.
    pub fn emit(&self, buf: &mut [u8]) -> Option<()> {
        if !self.options_len.is_multiple_of(4) || self.options_len > MAX_OPTIONS_LEN {
            return None;
        }
        let h = buf.get_mut(..HEADER_LEN)?;
        h[0] = (VERSION << 6) | (self.options_len / 4) as u8;
        h[1] = if self.oam { FLAG_O } else { 0 } | if self.critical { FLAG_C } else { 0 };
        h[2..4].copy_from_slice(&self.protocol.to_be_bytes());
        h[4..7].copy_from_slice(&self.vni.to_bytes());
        h[7] = 0;
        Some(())
    }
}

/// Writes one option (header + data) at the start of `buf`; returns its
/// length. `None` if `data` is not a multiple of 4 bytes, is longer than
/// the 5-bit length allows (124 bytes), or `buf` is short.
pub fn emit_option(buf: &mut [u8], class: u16, kind: u8, data: &[u8]) -> Option<usize> {
    if !data.len().is_multiple_of(4) || data.len() / 4 > 0x1F {
        return None;
    }
    let len = OPTION_HEADER_LEN + data.len();
    let out = buf.get_mut(..len)?;
    out[0..2].copy_from_slice(&class.to_be_bytes());
    out[2] = kind;
    out[3] = (data.len() / 4) as u8; // R bits zero
    out[OPTION_HEADER_LEN..].copy_from_slice(data);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vni(v: u32) -> Vni {
        Vni::new(v).unwrap()
    }

    #[test]
    fn emit_and_view() {
        let mut b = [0u8; 8 + 12 + 4];
        let repr = Repr {
            oam: true,
            critical: true,
            protocol: PROTO_TEB,
            vni: vni(0xABCDEF),
            options_len: 12,
        };
        repr.emit(&mut b).unwrap();
        assert_eq!(
            emit_option(&mut b[8..], 0xFFF0, 0x81, &[1, 2, 3, 4, 5, 6, 7, 8]),
            Some(12)
        );
        b[20..].copy_from_slice(b"data");
        assert_eq!(&b[..8], &[0x03, 0xC0, 0x65, 0x58, 0xAB, 0xCD, 0xEF, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.oam() && p.critical());
        assert_eq!(
            (p.protocol(), p.vni(), p.header_len()),
            (PROTO_TEB, vni(0xABCDEF), 20)
        );
        assert_eq!(p.payload(), b"data");
        let opts: Vec<_> = p.options().collect();
        assert_eq!(opts.len(), 1);
        let o = opts[0].unwrap();
        assert_eq!(
            (o.class, o.kind, o.data),
            (0xFFF0, 0x81, &[1, 2, 3, 4, 5, 6, 7, 8][..])
        );
        assert!(o.is_critical());
        assert_eq!(p.check_options(), Ok(()));
    }

    #[test]
    fn emit_refuses_bad_lengths() {
        let mut b = [0u8; 300];
        let mut r = Repr::data(vni(1));
        r.options_len = 6;
        assert_eq!(r.emit(&mut b), None);
        r.options_len = 256;
        assert_eq!(r.emit(&mut b), None);
        assert_eq!(Repr::data(vni(1)).emit(&mut b[..7]), None);
        assert_eq!(emit_option(&mut b, 1, 1, &[0; 3]), None);
        assert_eq!(emit_option(&mut b, 1, 1, &[0; 128]), None);
        assert_eq!(emit_option(&mut b[..7], 1, 1, &[0; 4]), None);
        assert_eq!(emit_option(&mut b, 1, 1, &[0; 124]), Some(128));
    }

    #[test]
    fn truncated_and_versions() {
        let mut b = [0u8; 16];
        Repr {
            options_len: 8,
            ..Repr::data(vni(7))
        }
        .emit(&mut b)
        .unwrap();
        for cut in 0..16 {
            assert_eq!(
                Packet::new_checked(&b[..cut]).err(),
                Some(GeneveError::Truncated)
            );
        }
        assert!(Packet::new_checked(&b[..]).is_ok());
        for v in 1..4u8 {
            let mut x = b;
            x[0] |= v << 6;
            assert_eq!(
                Packet::new_checked(&x[..]).err(),
                Some(GeneveError::Version(v))
            );
        }
        // Reserved bits are ignored on receipt (§3.4).
        let mut r = b;
        r[1] |= 0x3F;
        r[7] = 0xFF;
        let p = Packet::new_checked(&r[..]).unwrap();
        assert!(!p.oam() && !p.critical());
        assert_eq!(p.vni(), vni(7));
        // An unchecked short view never panics.
        let p = Packet::new_unchecked(&b[..3]);
        assert_eq!(
            (p.options_bytes(), p.payload(), p.vni()),
            (&[][..], &[][..], vni(0))
        );
    }

    #[test]
    fn options_overrun() {
        // One option claiming 2 words in a 1-word area.
        let area = [0xFF, 0xF0, 0x01, 0x02];
        let mut it = Options::new(&area);
        assert_eq!(it.next(), Some(Err(GeneveError::OptionOverrun)));
        assert_eq!(it.next(), None);
        // An area ending inside an option header (impossible with whole words
        // from Opt Len, but the iterator takes any slice).
        assert_eq!(
            Options::new(&[0, 1, 2]).next(),
            Some(Err(GeneveError::OptionOverrun))
        );
        // Two good options then one overrunning: two Ok, one Err, done.
        let area = [0, 1, 2, 0, 0, 3, 4, 1, 9, 9, 9, 9, 0, 5, 6, 0x1F];
        let got: Vec<_> = Options::new(&area).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].unwrap().data, &[][..]);
        assert_eq!(got[1].unwrap().data, &[9, 9, 9, 9][..]);
        assert_eq!(got[2], Err(GeneveError::OptionOverrun));
        // R bits do not count towards the length.
        let area = [0, 1, 2, 0xE0];
        assert_eq!(Options::new(&area).next().unwrap().unwrap().data.len(), 0);
        // The largest area (63 words): one 31-word option fits, a second
        // one (32 words) does not; the iterator stops there.
        let mut area = [0u8; MAX_OPTIONS_LEN];
        assert_eq!(emit_option(&mut area, 1, 1, &[7; 124]), Some(128));
        area[128..132].copy_from_slice(&[0, 2, 0x81, 0x1F]);
        let got: Vec<_> = Options::new(&area).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].unwrap().data.len(), 124);
        assert_eq!(got[1], Err(GeneveError::OptionOverrun));
        // Via the packet: Opt Len 1, option claiming 1 data word.
        let b = [0x01, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1, 2, 1];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.check_options(), Err(GeneveError::OptionOverrun));
    }
}
