//! The message envelope: one kind byte, then the postcard body of that kind.
//!
//! The kind byte is written by hand rather than as postcard's enum index so that an
//! unknown kind (from a later minor) is recognisable as such ([`DecodeError::UnknownKind`])
//! without guessing at the body, and so that a `Hello` of another major can be recognised
//! by its frozen first bytes ([`DecodeError::UnknownVersion`]).

use postcard::ser_flavors::Size;
use serde::Serialize;

use crate::control::{Close, Keepalive};
use crate::error::{DecodeError, EncodeError};
use crate::frame::{Frame, FRAME_HEADER_LEN, MAX_FRAME_LEN};
use crate::hello::{Hello, HelloAck};
use crate::version::{Version, PROTOCOL_VERSION};

/// The longest message (kind byte + body) accepted or emitted: the largest frame behind
/// its fixed header (control messages are far shorter).
pub const MAX_MESSAGE_LEN: usize = MAX_FRAME_LEN + FRAME_HEADER_LEN;

/// The kind byte of each message. 0 marks padding in byte rings (skipped before a message
/// is decoded) and is never a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// [`Hello`].
    Hello = 1,
    /// [`HelloAck`].
    HelloAck = 2,
    /// [`Frame`].
    Frame = 3,
    /// [`Keepalive`].
    Keepalive = 4,
    /// [`Close`].
    Close = 5,
}

impl MessageKind {
    /// The kind for a kind byte, if this version knows it.
    pub fn from_byte(byte: u8) -> Option<MessageKind> {
        Some(match byte {
            1 => MessageKind::Hello,
            2 => MessageKind::HelloAck,
            3 => MessageKind::Frame,
            4 => MessageKind::Keepalive,
            5 => MessageKind::Close,
            _ => return None,
        })
    }

    /// Peek at the kind of an encoded message without decoding it.
    pub fn peek(bytes: &[u8]) -> Option<MessageKind> {
        bytes.first().copied().and_then(MessageKind::from_byte)
    }
}

/// Every message of the protocol, borrowing frame payloads from the decode buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// Start of negotiation.
    Hello(Hello),
    /// Answer to a hello.
    HelloAck(HelloAck),
    /// An Ethernet frame (only after negotiation).
    Frame(Frame<'a>),
    /// Liveness.
    Keepalive(Keepalive),
    /// Tear-down.
    Close(Close),
}

impl<'a> Message<'a> {
    /// This message's kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Hello(_) => MessageKind::Hello,
            Message::HelloAck(_) => MessageKind::HelloAck,
            Message::Frame(_) => MessageKind::Frame,
            Message::Keepalive(_) => MessageKind::Keepalive,
            Message::Close(_) => MessageKind::Close,
        }
    }

    /// Decode one message occupying exactly the record/datagram payload `bytes`.
    ///
    /// Bytes after a complete body are ignored: a later minor may append fields to a body,
    /// and an older receiver must still read the prefix it knows (PROTOCOL.md, "Versions").
    /// Frame payloads borrow from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        let (&kind, body) = bytes.split_first().ok_or(DecodeError::Truncated)?;
        let kind = MessageKind::from_byte(kind).ok_or(DecodeError::UnknownKind(kind))?;
        let msg = match kind {
            MessageKind::Hello => {
                // The version is frozen as the first two body bytes in every major: check
                // it before asking postcard to parse a layout that may not be ours.
                let [major, minor] = *body.first_chunk::<2>().ok_or(DecodeError::Truncated)?;
                let version = Version { major, minor };
                if !PROTOCOL_VERSION.compatible_with(version) {
                    return Err(DecodeError::UnknownVersion(version));
                }
                let (hello, _): (Hello, _) = postcard::take_from_bytes(body)?;
                hello.validate()?;
                Message::Hello(hello)
            }
            MessageKind::HelloAck => Message::HelloAck(postcard::take_from_bytes(body)?.0),
            MessageKind::Frame => Message::Frame(Frame::decode(bytes)?),
            MessageKind::Keepalive => Message::Keepalive(postcard::take_from_bytes(body)?.0),
            MessageKind::Close => Message::Close(postcard::take_from_bytes(body)?.0),
        };
        Ok(msg)
    }

    /// The exact encoded length (kind byte + body). Cheap: postcard's size flavor counts
    /// the control bodies; a frame is its fixed header plus its bytes.
    pub fn encoded_len(&self) -> usize {
        let body = match self {
            Message::Hello(m) => body_len(m),
            Message::HelloAck(m) => body_len(m),
            Message::Frame(m) => return m.encoded_len(),
            Message::Keepalive(m) => body_len(m),
            Message::Close(m) => body_len(m),
        };
        body.saturating_add(1)
    }

    /// Validate and encode into the front of `buf`; returns the number of bytes written.
    /// No allocation; `buf` is untouched past the returned length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Message::Hello(h) => h.validate()?,
            Message::Frame(f) => f.validate()?,
            Message::HelloAck(_) | Message::Keepalive(_) | Message::Close(_) => {}
        }
        let needed = self.encoded_len();
        if needed > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLarge {
                len: needed,
                max: MAX_MESSAGE_LEN,
            });
        }
        if buf.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        if let Message::Frame(f) = self {
            return f.encode(buf);
        }
        let (kind, body) = buf
            .split_first_mut()
            .ok_or(EncodeError::BufferTooSmall { needed })?;
        *kind = self.kind() as u8;
        let written = match self {
            Message::Hello(m) => postcard::to_slice(m, body).map(|s| s.len()),
            Message::HelloAck(m) => postcard::to_slice(m, body).map(|s| s.len()),
            Message::Frame(_) => Ok(0), // encoded above
            Message::Keepalive(m) => postcard::to_slice(m, body).map(|s| s.len()),
            Message::Close(m) => postcard::to_slice(m, body).map(|s| s.len()),
        };
        match written {
            Ok(n) => Ok(n.saturating_add(1)),
            Err(postcard::Error::SerializeBufferFull) => {
                Err(EncodeError::BufferTooSmall { needed })
            }
            Err(e) => Err(EncodeError::Postcard(e)),
        }
    }

    /// Encode into a fresh `Vec` (host convenience).
    #[cfg(feature = "std")]
    pub fn to_vec(&self) -> Result<std::vec::Vec<u8>, EncodeError> {
        let mut v = std::vec![0; self.encoded_len()];
        let n = self.encode(&mut v)?;
        v.truncate(n);
        Ok(v)
    }
}

fn body_len<T: Serialize>(value: &T) -> usize {
    // The size flavor cannot fail; a serde error would mean a broken Serialize impl, and
    // then "too large" is the safe answer.
    postcard::serialize_with_flavor(value, Size::default()).unwrap_or(usize::MAX)
}
