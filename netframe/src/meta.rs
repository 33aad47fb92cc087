//! What travels beside a frame: its checksum state and GSO, as netif carries
//! them (`xen/include/public/io/netif.h`: `NETTXF_csum_blank`,
//! `NETTXF_data_validated`, `XEN_NETIF_EXTRA_TYPE_GSO`) and Linux models them
//! (`CHECKSUM_PARTIAL`/`CHECKSUM_UNNECESSARY`, `SKB_GSO_TCPV4/6`).

use thiserror::Error;

use crate::{ETH_HLEN, MAX_FRAME_LEN};

/// The smallest GSO segment size accepted: Linux's `TCP_MIN_MSS`
/// (`include/net/tcp.h`), below which no TCP stack sends. It bounds the work
/// a GSO frame can ask of whoever segments it: a 65,535-byte frame cuts into
/// at most 745 segments.
pub const MIN_GSO_SIZE: u16 = 88;

/// Checksum state of the frame's L4 checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Checksum {
    /// No claim: the frame carries whatever checksum it has; the receiver
    /// verifies as usual.
    #[default]
    None,
    /// The L4 checksum is *not yet computed* (Linux `CHECKSUM_PARTIAL`, Xen
    /// `csum_blank`): the field holds the pseudo-header sum, and the 16-bit
    /// one's-complement sum from `start` to the end of the frame goes into the
    /// field at `start + offset`.
    Partial {
        /// Where summing starts, from the first byte of the Ethernet header.
        start: u16,
        /// Where the checksum field is, from `start`.
        offset: u16,
    },
    /// The sender already verified the checksum (Linux
    /// `CHECKSUM_UNNECESSARY`, Xen `data_validated`).
    Validated,
}

/// The protocol a GSO super-frame segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum GsoKind {
    /// TCP over IPv4 (`XEN_NETIF_GSO_TYPE_TCPV4`).
    TcpV4,
    /// TCP over IPv6 (`XEN_NETIF_GSO_TYPE_TCPV6`).
    TcpV6,
}

/// GSO metadata: the frame is a super-frame to be cut into `size`-byte L4
/// segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Gso {
    /// What to segment.
    pub kind: GsoKind,
    /// L4 payload bytes per segment (the MSS). Never 0.
    pub size: u16,
}

/// A frame's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FrameMeta {
    pub checksum: Checksum,
    pub gso: Option<Gso>,
}

/// Why a frame's metadata does not fit the frame (each a counter somewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum MetaError {
    /// Shorter than an Ethernet header.
    #[error("frame of {0} bytes is shorter than an Ethernet header")]
    TooShort(usize),
    /// Longer than [`MAX_FRAME_LEN`].
    #[error("frame of {0} bytes exceeds the maximum frame length")]
    TooLong(usize),
    /// The partial checksum's field lies outside the frame, or summing would
    /// start inside the Ethernet header.
    #[error("checksum start {start} + offset {offset} lies outside a {len}-byte frame")]
    ChecksumOutOfRange { start: u16, offset: u16, len: usize },
    /// GSO without a partial checksum (Linux requires `CHECKSUM_PARTIAL`).
    #[error("GSO frame without a partial checksum")]
    GsoWithoutPartialChecksum,
    /// A GSO segment size of zero.
    #[error("GSO segment size is zero")]
    GsoSizeZero,
    /// A GSO segment size below [`MIN_GSO_SIZE`]: refused, as the work it
    /// would ask (segments) is not bounded by any honest sender.
    #[error("GSO segment size {0} is below the minimum {MIN_GSO_SIZE}")]
    GsoSizeTooSmall(u16),
}

impl FrameMeta {
    /// No offload metadata.
    pub const NONE: FrameMeta = FrameMeta {
        checksum: Checksum::None,
        gso: None,
    };

    /// Checks the rules that hold whatever was negotiated: the frame length
    /// within [`MIN_FRAME_LEN`](crate::MIN_FRAME_LEN)..=[`MAX_FRAME_LEN`], a
    /// partial checksum's field inside the frame and past the Ethernet header,
    /// GSO only with a partial checksum and a non-zero segment size.
    pub fn check(&self, len: usize) -> Result<(), MetaError> {
        if len < ETH_HLEN {
            return Err(MetaError::TooShort(len));
        }
        if len > MAX_FRAME_LEN {
            return Err(MetaError::TooLong(len));
        }
        if let Checksum::Partial { start, offset } = self.checksum {
            let field_end = usize::from(start) + usize::from(offset) + 2;
            if usize::from(start) < ETH_HLEN || field_end > len {
                return Err(MetaError::ChecksumOutOfRange { start, offset, len });
            }
        }
        if let Some(gso) = self.gso {
            if gso.size == 0 {
                return Err(MetaError::GsoSizeZero);
            }
            if gso.size < MIN_GSO_SIZE {
                return Err(MetaError::GsoSizeTooSmall(gso.size));
            }
            if !matches!(self.checksum, Checksum::Partial { .. }) {
                return Err(MetaError::GsoWithoutPartialChecksum);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let partial = |start, offset| FrameMeta {
            checksum: Checksum::Partial { start, offset },
            gso: None,
        };
        assert_eq!(FrameMeta::NONE.check(14), Ok(()));
        assert_eq!(FrameMeta::NONE.check(13), Err(MetaError::TooShort(13)));
        assert_eq!(FrameMeta::NONE.check(MAX_FRAME_LEN), Ok(()));
        assert_eq!(
            FrameMeta::NONE.check(MAX_FRAME_LEN + 1),
            Err(MetaError::TooLong(MAX_FRAME_LEN + 1))
        );
        assert_eq!(partial(34, 16).check(54), Ok(()));
        assert!(partial(34, 16).check(51).is_err());
        assert!(partial(13, 0).check(60).is_err());
        assert!(partial(u16::MAX, u16::MAX).check(MAX_FRAME_LEN).is_err());
        let gso = |checksum, size| FrameMeta {
            checksum,
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                size,
            }),
        };
        let p = Checksum::Partial {
            start: 34,
            offset: 16,
        };
        assert_eq!(gso(p, 1448).check(9000), Ok(()));
        assert_eq!(gso(p, 0).check(9000), Err(MetaError::GsoSizeZero));
        assert_eq!(gso(p, 87).check(9000), Err(MetaError::GsoSizeTooSmall(87)));
        assert_eq!(gso(p, MIN_GSO_SIZE).check(9000), Ok(()));
        assert_eq!(
            gso(Checksum::Validated, 1448).check(9000),
            Err(MetaError::GsoWithoutPartialChecksum)
        );
    }
}
