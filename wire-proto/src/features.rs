//! The optional-feature bitset carried in `Hello` and agreed in `HelloAck`.
//!
//! A bit means "I can *receive* frames carrying this metadata and I may *send* them once
//! agreed". The agreed set is the intersection of both ends' sets, masked by
//! [`Features::KNOWN`], so a bit from a later minor that one side does not know simply drops
//! out: unknown bits are ignored, never an error.

use core::ops::{BitAnd, BitOr};
use serde::{Deserialize, Serialize};

/// A set of optional protocol features. Postcard: one varint `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Features(pub u64);

impl Features {
    /// No optional features.
    pub const NONE: Features = Features(0);
    /// Checksum offload metadata: `Checksum::Partial` (checksum still to be filled in, the
    /// Xen `csum_blank` / Linux `CHECKSUM_PARTIAL` case) and `Checksum::Validated` (the
    /// sender already verified it, Xen `data_validated` / `CHECKSUM_UNNECESSARY`).
    pub const CSUM: Features = Features(1 << 0);
    /// GSO metadata for TCP over IPv4 (requires [`Features::CSUM`] to be useful).
    pub const GSO_TCPV4: Features = Features(1 << 1);
    /// GSO metadata for TCP over IPv6.
    pub const GSO_TCPV6: Features = Features(1 << 2);
    /// Every bit this crate understands; others are ignored.
    pub const KNOWN: Features = Features(Self::CSUM.0 | Self::GSO_TCPV4.0 | Self::GSO_TCPV6.0);

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits of `self` that are also in `other`.
    pub fn intersection(self, other: Features) -> Features {
        Features(self.0 & other.0)
    }

    /// `self` without the bits this crate does not know.
    pub fn known(self) -> Features {
        self.intersection(Self::KNOWN)
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitAnd for Features {
    type Output = Features;
    fn bitand(self, rhs: Features) -> Features {
        Features(self.0 & rhs.0)
    }
}

impl BitOr for Features {
    type Output = Features;
    fn bitor(self, rhs: Features) -> Features {
        Features(self.0 | rhs.0)
    }
}
