//! Protocol version and endpoint roles.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A protocol version. Encoded as two raw bytes (postcard encodes `u8` verbatim), and
/// always the first two bytes of a `Hello` body, in every major, so that any receiver can
/// read the peer's version even when it cannot parse the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Must match exactly between the two ends.
    pub major: u8,
    /// Additive: the agreed minor is the smaller of the two.
    pub minor: u8,
}

/// The version this crate speaks.
pub const PROTOCOL_VERSION: Version = Version { major: 2, minor: 0 };

impl Version {
    /// Whether a peer speaking `self` can talk to a peer speaking `other` at all.
    pub fn compatible_with(self, other: Version) -> bool {
        self.major == other.major
    }

    /// The version both ends use once negotiated: same major, the smaller minor.
    pub fn agree(self, other: Version) -> Option<Version> {
        self.compatible_with(other).then(|| Version {
            major: self.major,
            minor: self.minor.min(other.minor),
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What kind of endpoint sends a hello: a Spike (a guest's vif) or a Corm port.
///
/// Encoded as the postcard enum index: `Spike` = 0, `Corm` = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Netback for one guest's netfront.
    Spike,
    /// Owner of a physical NIC; switches frames between wires.
    Corm,
}

impl Role {
    /// The role a peer of `self` must have.
    pub fn peer(self) -> Role {
        match self {
            Role::Spike => Role::Corm,
            Role::Corm => Role::Spike,
        }
    }
}
