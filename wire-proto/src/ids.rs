//! Identifiers of wires and endpoints.
//!
//! Both are opaque `u32`s assigned by the controller (which also creates the wires), not
//! strings: they go into every datagram header, where a fixed 4-byte field keeps the
//! "is this mine?" check a single compare. The controller keeps the human-readable names.

use core::fmt;
use serde::{Deserialize, Serialize};

/// Identifies one wire (one Spike-endpoint ↔ Corm-endpoint link) on a host.
///
/// Carried in the `Hello` (both ends must name the same wire, or the hello is refused) and
/// in every datagram header (a receiver drops datagrams for other wires before parsing).
/// Postcard: varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WireId(pub u32);

/// Identifies one endpoint (a Spike's guest-facing vif, or a Corm port), for logs and for
/// checking that a wire reached the endpoint the controller meant. Postcard: varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EndpointId(pub u32);

impl fmt::Display for WireId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wire#{}", self.0)
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "endpoint#{}", self.0)
    }
}
