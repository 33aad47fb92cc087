//! The `Frame` message: one Ethernet frame plus the offload metadata netfront/netback
//! carry alongside it.
//!
//! The payload is borrowed from the decode buffer (`&'a [u8]`), so receiving a frame copies
//! nothing; the Spike/Corm copies exactly once, into the guest's or NIC's buffer.

use serde::{Deserialize, Serialize, Serializer};

use crate::error::Invalid;

/// The length of an Ethernet header (no VLAN tag); the shortest frame accepted.
pub const ETH_HEADER_LEN: usize = 14;

/// The longest frame accepted: Xen's `XEN_NETIF_MAX_TX_SIZE` (0xFFFF), the size of a GSO
/// super-frame netfront may hand over, Ethernet header included.
pub const MAX_FRAME_LEN: usize = 0xFFFF;

/// Checksum state of the frame's L4 checksum.
///
/// Postcard: enum index (`None` = 0, `Partial` = 1 followed by two varint `u16`s,
/// `Validated` = 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Checksum {
    /// No claim: the frame carries whatever checksum it has; the receiver verifies as usual.
    #[default]
    None,
    /// The L4 checksum is *not yet computed* (Linux `CHECKSUM_PARTIAL`, Xen `csum_blank`):
    /// the 16-bit one's-complement sum from `start` to the end of the frame goes into the
    /// field at `start + offset`. Requires [`Features::CSUM`](crate::Features::CSUM).
    Partial {
        /// Where summing starts, counted from the first byte of the Ethernet header.
        start: u16,
        /// Where the checksum field is, counted from `start`.
        offset: u16,
    },
    /// The sender already verified the checksum (Linux `CHECKSUM_UNNECESSARY`, Xen
    /// `data_validated`). Requires [`Features::CSUM`](crate::Features::CSUM).
    Validated,
}

/// The protocol a GSO super-frame segments. Postcard: enum index (`TcpV4` = 0, `TcpV6` = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GsoKind {
    /// TCP over IPv4. Requires [`Features::GSO_TCPV4`](crate::Features::GSO_TCPV4).
    TcpV4,
    /// TCP over IPv6. Requires [`Features::GSO_TCPV6`](crate::Features::GSO_TCPV6).
    TcpV6,
}

/// GSO metadata: the frame is a super-frame to be cut into `size`-byte L4 segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Gso {
    /// What to segment.
    pub kind: GsoKind,
    /// L4 payload bytes per segment (the MSS). Never 0.
    pub size: u16,
}

/// One Ethernet frame with its metadata.
///
/// Postcard body: `checksum`, `gso` (option: 0, or 1 + `Gso`), `payload` (varint length +
/// raw bytes). The payload is last, so the fixed-size metadata is decoded before the
/// receiver touches the (possibly large) frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Frame<'a> {
    /// Checksum offload state.
    pub checksum: Checksum,
    /// GSO metadata, if this is a super-frame.
    pub gso: Option<Gso>,
    /// The Ethernet frame, from destination MAC to the end of the L2 payload (no FCS).
    #[serde(borrow, serialize_with = "serialize_bytes")]
    pub payload: &'a [u8],
}

/// Serialize as bytes (one memcpy) rather than serde's default element-wise `[u8]` sequence;
/// postcard encodes both identically (varint length + raw bytes), so `&[u8]`'s borrowing
/// `Deserialize` reads it back zero-copy.
fn serialize_bytes<S: Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
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

    /// Check the structural rules that do not depend on negotiation (run on both encode
    /// and decode): length bounds, checksum field inside the frame and past the Ethernet
    /// header, GSO only with a partial checksum and a non-zero segment size.
    pub fn validate(&self) -> Result<(), Invalid> {
        let len = self.payload.len();
        if len < ETH_HEADER_LEN {
            return Err(Invalid::FrameTooShort(len));
        }
        if len > MAX_FRAME_LEN {
            return Err(Invalid::FrameTooLong(len));
        }
        if let Checksum::Partial { start, offset } = self.checksum {
            // u16 + u16 + 2 cannot overflow usize.
            let field_end = usize::from(start)
                .saturating_add(usize::from(offset))
                .saturating_add(2);
            if usize::from(start) < ETH_HEADER_LEN || field_end > len {
                return Err(Invalid::ChecksumOutOfRange { start, offset, len });
            }
        }
        if let Some(gso) = self.gso {
            if gso.size == 0 {
                return Err(Invalid::GsoSizeZero);
            }
            if !matches!(self.checksum, Checksum::Partial { .. }) {
                return Err(Invalid::GsoWithoutPartialChecksum);
            }
        }
        Ok(())
    }
}
