//! The `Frame` message: one Ethernet frame behind a fixed 12-byte header
//! carrying the offload metadata netfront/netback exchange with it.
//!
//! Unlike the control messages (postcard bodies), a frame's header has a
//! fixed layout, so a sender can write it in place in front of frame bytes
//! that some other agent (a grant copy, a NIC's DMA, a receive coalescer)
//! puts straight into a ring slot, and a receiver can read the metadata with
//! one small private copy before it moves the frame bytes once.
//!
//! ```text
//!  0      1       2            4             6           8          12
//!  +------+-------+------------+-------------+-----------+----------+--------------
//!  | kind | flags | csum_start | csum_offset | gso_size  | reserved | frame bytes ...
//!  |  3   |       | u16 LE     | u16 LE      | u16 LE    | 0        |
//!  +------+-------+------------+-------------+-----------+----------+--------------
//! flags: bits 0-1 checksum (0 none, 1 partial, 2 validated), bits 2-3 GSO
//!        (0 none, 1 TCPv4, 2 TCPv6), bits 4-7 reserved (sent 0, ignored)
//! ```
//!
//! `csum_start`/`csum_offset` are 0 unless the checksum is partial, `gso_size`
//! is 0 without GSO; the frame is the rest of the record or datagram (its
//! length is the message length minus 12).

pub use netframe::{Checksum, FrameMeta, Gso, GsoKind, ETH_HLEN as ETH_HEADER_LEN, MAX_FRAME_LEN};

use crate::error::{DecodeError, EncodeError};
use crate::message::MessageKind;

/// The fixed header in front of every frame, kind byte included.
pub const FRAME_HEADER_LEN: usize = 12;

const CSUM_MASK: u8 = 0b11;
const GSO_SHIFT: u32 = 2;

/// One Ethernet frame with its metadata, borrowing the frame bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame<'a> {
    /// Checksum offload state.
    pub checksum: Checksum,
    /// GSO metadata, if this is a super-frame.
    pub gso: Option<Gso>,
    /// The Ethernet frame, from destination MAC to the end of the L2 payload (no FCS).
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// A frame with no offload metadata.
    pub fn new(payload: &'a [u8]) -> Self {
        Frame {
            checksum: Checksum::None,
            gso: None,
            payload,
        }
    }

    /// The frame with its checksum state set.
    pub fn with_checksum(self, checksum: Checksum) -> Self {
        Frame { checksum, ..self }
    }

    /// The frame with GSO metadata set.
    pub fn with_gso(self, gso: Gso) -> Self {
        Frame {
            gso: Some(gso),
            ..self
        }
    }

    /// The metadata.
    pub fn meta(&self) -> FrameMeta {
        FrameMeta {
            checksum: self.checksum,
            gso: self.gso,
        }
    }

    /// The rules that hold whatever was negotiated (`netframe::FrameMeta::check`).
    pub fn validate(&self) -> Result<(), netframe::MetaError> {
        self.meta().check(self.payload.len())
    }

    /// Decodes a whole frame message (`bytes` starts with the kind byte).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (hdr, payload) = bytes
            .split_first_chunk::<FRAME_HEADER_LEN>()
            .ok_or(DecodeError::Truncated)?;
        let meta = parse_header(hdr)?;
        meta.check(payload.len())?;
        Ok(Frame {
            checksum: meta.checksum,
            gso: meta.gso,
            payload,
        })
    }

    /// The encoded length: header plus frame.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN.saturating_add(self.payload.len())
    }

    /// Validates and encodes into the front of `buf`; returns the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        self.validate()?;
        let needed = self.encoded_len();
        let (hdr, rest) = buf
            .split_first_chunk_mut::<FRAME_HEADER_LEN>()
            .ok_or(EncodeError::BufferTooSmall { needed })?;
        let dst = rest
            .get_mut(..self.payload.len())
            .ok_or(EncodeError::BufferTooSmall { needed })?;
        *hdr = emit_header(&self.meta());
        dst.copy_from_slice(self.payload);
        Ok(needed)
    }
}

/// The header for a frame with metadata `meta` (not validated: see
/// [`FrameMeta::check`]).
pub fn emit_header(meta: &FrameMeta) -> [u8; FRAME_HEADER_LEN] {
    let (csum, start, offset) = match meta.checksum {
        Checksum::None => (0u8, 0u16, 0u16),
        Checksum::Partial { start, offset } => (1, start, offset),
        Checksum::Validated => (2, 0, 0),
    };
    let (gso, size) = match meta.gso {
        None => (0u8, 0u16),
        Some(Gso {
            kind: GsoKind::TcpV4,
            size,
        }) => (1, size),
        Some(Gso {
            kind: GsoKind::TcpV6,
            size,
        }) => (2, size),
    };
    let mut h = [0u8; FRAME_HEADER_LEN];
    let [s0, s1] = start.to_le_bytes();
    let [o0, o1] = offset.to_le_bytes();
    let [g0, g1] = size.to_le_bytes();
    let head = [
        MessageKind::Frame as u8,
        csum | gso << GSO_SHIFT,
        s0,
        s1,
        o0,
        o1,
        g0,
        g1,
    ];
    if let Some(d) = h.first_chunk_mut::<8>() {
        *d = head;
    }
    h
}

/// Reads a frame header (kind byte checked); the metadata is not yet checked
/// against the frame length ([`FrameMeta::check`]).
pub fn parse_header(h: &[u8; FRAME_HEADER_LEN]) -> Result<FrameMeta, DecodeError> {
    let [kind, flags, s0, s1, o0, o1, g0, g1, ..] = *h;
    if kind != MessageKind::Frame as u8 {
        return Err(DecodeError::UnknownKind(kind));
    }
    let checksum = match flags & CSUM_MASK {
        0 => Checksum::None,
        1 => Checksum::Partial {
            start: u16::from_le_bytes([s0, s1]),
            offset: u16::from_le_bytes([o0, o1]),
        },
        2 => Checksum::Validated,
        _ => return Err(DecodeError::BadFlags(flags)),
    };
    let size = u16::from_le_bytes([g0, g1]);
    let gso = match (flags >> GSO_SHIFT) & CSUM_MASK {
        0 => None,
        1 => Some(Gso {
            kind: GsoKind::TcpV4,
            size,
        }),
        2 => Some(Gso {
            kind: GsoKind::TcpV6,
            size,
        }),
        _ => return Err(DecodeError::BadFlags(flags)),
    };
    Ok(FrameMeta { checksum, gso })
}
