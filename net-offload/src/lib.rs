//! Software network offloads for Banana domains whose NICs have none.
//!
//! A guest's netfront hands its frames to the Spike with Linux's transmit
//! offloads still pending: a `CHECKSUM_PARTIAL` TCP/UDP checksum (Xen
//! `csum_blank`) and GSO super-frames of up to 64 KiB. They cross the wire to
//! the Corm as `wire_proto::Checksum::Partial` and `wire_proto::Gso`; the Corm's
//! NIC drivers can only transmit finished, MTU-sized frames, so it finishes the
//! work here, in software, the way Linux's `skb_checksum_help` and
//! `skb_gso_segment` do for a device without `NETIF_F_HW_CSUM`/`NETIF_F_TSO`.
//!
//! * [`checksum`]: RFC 1071 sums, pseudo-headers, locating and completing the
//!   L4 checksum (shared with the Spike's netback).
//! * [`segment`](mod@segment): TCP segmentation over IPv4 and IPv6.
//! * [`coalesce`]: the receive side's reverse, merging in-order TCP segments
//!   into GSO frames (GRO).
//!
//! Everything takes untrusted frames: malformed input is a typed
//! [`OffloadError`], never a panic, and nothing allocates.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod checksum;
pub mod coalesce;
pub mod segment;

#[cfg(test)]
mod test_frames;

pub use coalesce::{Coalescer, Merge, Merged, Pushed, TcpSegment, MAX_FRAME_LEN, MAX_MERGED};
pub use segment::{
    complete_checksum, segment, Kind, Segment, Segmenter, MAX_FRAME, MAX_FRAME_VLAN,
};

use checksum::CsumError;
use thiserror::Error;

/// Why a frame's offload could not be carried out. The frame should be
/// dropped (and counted): sending it unfinished would put a bad checksum or an
/// oversized frame on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum OffloadError {
    /// The frame ends inside the Ethernet, IP or TCP headers.
    #[error("frame too short for its headers")]
    Truncated,
    /// The ethertype is not the IP version the GSO kind names (also for
    /// non-IP frames and stacked VLAN tags).
    #[error("ethertype {0:#06x} does not match the GSO kind")]
    KindMismatch(u16),
    /// A header field is malformed: IP version, IPv4 IHL, TCP data offset, or
    /// an IPv6 jumbogram (payload length 0).
    #[error("malformed IP or TCP header")]
    BadHeader,
    /// The IP length fields disagree with the frame's length.
    #[error("IP length does not match the frame length")]
    LengthMismatch,
    /// An IPv4 fragment or an IPv6 fragment header: a fragment has no TCP
    /// header to segment by.
    #[error("IP fragment")]
    Fragment,
    /// The IP payload is not TCP.
    #[error("IP protocol {0} is not TCP")]
    NotTcp(u8),
    /// An IPv6 extension header other than hop-by-hop or destination options
    /// (routing, AH, ESP, ...), whose contents would change per segment or
    /// change the pseudo-header.
    #[error("IPv6 extension header {0} not supported for segmentation")]
    UnsupportedExtension(u8),
    /// The GSO size is 0.
    #[error("MSS is zero")]
    MssZero,
    /// A segment of `mss` payload bytes behind these headers would exceed
    /// the largest frame; `max` is the largest MSS the headers leave room for.
    #[error("MSS {mss} too large: at most {max} with these headers")]
    MssTooLarge { mss: u16, max: usize },
    /// The header block is longer than [`segment::MAX_HEADERS`].
    #[error("headers of {0} bytes are longer than a private header copy")]
    HeadersTooLong(usize),
    /// A partial checksum's start/offset is unusable.
    #[error("partial checksum: {0}")]
    Checksum(#[from] CsumError),
}
