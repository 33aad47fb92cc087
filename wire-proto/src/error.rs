//! Typed errors, one enum per layer, so a receiver can count each failure separately and
//! knows from the type alone whether the link survives it.
//!
//! Layering: [`Invalid`] (a decoded value breaks a structural rule) sits inside
//! [`DecodeError`] (one message body), which sits inside [`StreamError`] and
//! [`DatagramError`] (the two framings). [`FrameError`] is the post-negotiation check of a
//! frame against the agreed [`Params`](crate::Params). The negotiation state machine has its
//! own [`NegotiationError`](crate::NegotiationError).

use crate::features::Features;
use crate::ids::WireId;
use crate::version::Version;

/// A decoded value that postcard accepted but that breaks a rule of the protocol.
///
/// These are checked on decode *and* on encode, so a conforming sender never emits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A frame's metadata does not fit the frame (length bounds, checksum
    /// field, GSO rules; `netframe::FrameMeta::check`).
    #[error(transparent)]
    Frame(#[from] netframe::MetaError),
    /// A multicast/broadcast MAC announced as an endpoint's own address.
    #[error("endpoint MAC is a group address")]
    GroupMac,
}

/// Why one message body (kind byte + postcard body) could not be decoded.
///
/// Never fatal for a stream link by itself: the record boundary is intact, so the receiver
/// drops the record and counts it (see PROTOCOL.md, "Malformed input").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside the message.
    #[error("message truncated")]
    Truncated,
    /// The message is longer than [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN).
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The offending length.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// A kind byte this version does not know (0 is padding, which byte rings skip
    /// before decoding; or a kind from a later minor).
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// A frame header whose checksum or GSO field holds the reserved value 3.
    #[error("frame header flags {0:#04x} hold a reserved value")]
    BadFlags(u8),
    /// A `Hello` from a different protocol major: its body is not ours to parse, but its
    /// first two bytes are frozen, so the version is known and can be refused cleanly.
    #[error("hello for incompatible protocol version {0}")]
    UnknownVersion(Version),
    /// postcard rejected the body (bad varint, bad enum discriminant, too many MACs, ...).
    #[error("postcard: {0}")]
    Postcard(postcard::Error),
    /// The body decoded but breaks a protocol rule.
    #[error("invalid message: {0}")]
    Invalid(#[from] Invalid),
}

impl From<netframe::MetaError> for DecodeError {
    fn from(e: netframe::MetaError) -> Self {
        DecodeError::Invalid(Invalid::Frame(e))
    }
}

impl From<netframe::MetaError> for EncodeError {
    fn from(e: netframe::MetaError) -> Self {
        EncodeError::Invalid(Invalid::Frame(e))
    }
}

impl From<postcard::Error> for DecodeError {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated,
            other => DecodeError::Postcard(other),
        }
    }
}

/// Why a message could not be encoded into the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The buffer cannot hold the encoding; `needed` bytes would.
    #[error("buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// The exact encoded length.
        needed: usize,
    },
    /// The message would exceed [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN).
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The encoded length.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// The message breaks a protocol rule; a receiver would reject it.
    #[error("refusing to encode an invalid message: {0}")]
    Invalid(#[from] Invalid),
    /// postcard failed for another reason (not expected for these types).
    #[error("postcard: {0}")]
    Postcard(postcard::Error),
}

/// Errors of the byte-ring framing.
///
/// [`StreamError::is_fatal`] tells the caller whether the link must be torn down: a bad
/// length means the two ends no longer agree where records start, and nothing after it can
/// be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A record header announced more than the decoder accepts. Fatal.
    #[error("record of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The announced body length.
        len: u32,
        /// The decoder's limit.
        max: usize,
    },
    /// A record header announced an empty body (a message is at least its kind byte). Fatal.
    #[error("empty record")]
    EmptyRecord,
    /// The decoder already hit a fatal error; it stays failed until [`reset`].
    ///
    /// [`reset`]: crate::StreamDecoder::reset
    #[error("stream decoder already failed")]
    Poisoned,
    /// A well-framed record whose body is not a valid message. Not fatal: drop and count.
    #[error("bad record body: {0}")]
    Message(#[from] DecodeError),
}

impl StreamError {
    /// Whether the link must be torn down (the decoder is poisoned after these).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, StreamError::Message(_))
    }
}

/// Errors of the datagram framing. None is fatal: a datagram stands alone, so the receiver
/// drops it and counts the variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// Shorter than the fixed header.
    #[error("datagram of {0} bytes is shorter than the header")]
    Truncated(usize),
    /// Not a Banana datagram at all.
    #[error("bad magic {0:#06x}")]
    BadMagic(u16),
    /// A Banana datagram of another protocol major.
    #[error("unknown datagram version {0}")]
    UnknownVersion(u8),
    /// A datagram for another wire (misrouted, or a stale sender on a reused port).
    #[error("datagram for foreign wire {0}")]
    ForeignWire(WireId),
    /// Older than (or equal to) the newest sequence number already accepted.
    #[error("stale datagram: seq {seq}, newest accepted {newest}")]
    Stale {
        /// The datagram's sequence number.
        seq: u32,
        /// The newest sequence number accepted so far.
        newest: u32,
    },
    /// The header was fine, the message body was not.
    #[error("bad datagram body: {0}")]
    Message(#[from] DecodeError),
}

/// A frame that is well-formed but not allowed by the negotiated [`Params`](crate::Params).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame uses metadata whose feature was not agreed.
    #[error("frame uses un-negotiated feature(s) {0:?}")]
    FeatureNotNegotiated(Features),
    /// A non-GSO frame longer than MTU + Ethernet header + one VLAN tag.
    #[error("frame of {len} bytes exceeds the agreed MTU {mtu}")]
    ExceedsMtu {
        /// The frame length.
        len: usize,
        /// The agreed MTU.
        mtu: u16,
    },
}
