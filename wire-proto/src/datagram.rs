//! Framing for datagram transports (UDP encapsulation): one message per datagram behind a
//! fixed 12-byte header, so a receiver can drop foreign, late and non-Banana datagrams
//! by looking at fixed offsets, before any postcard parsing.
//!
//! ```text
//!  0      2         3       4                8                12
//!  +------+---------+-------+----------------+----------------+----------------
//!  | magic| version | flags | wire id u32 LE | seq u32 LE     | message ...
//!  +------+---------+-------+----------------+----------------+----------------
//! ```
//!
//! Modelled on smoltcp's `wire`: [`DatagramPacket`] is a zero-copy view with field
//! accessors over any `AsRef<[u8]>`, [`DatagramHeader`] is the validated representation
//! that parses from and emits into a view.

use crate::error::{DatagramError, DecodeError, EncodeError};
use crate::ids::WireId;
use crate::message::{Message, MessageKind, MAX_MESSAGE_LEN};
use crate::seq::SeqTracker;
use crate::version::PROTOCOL_VERSION;

/// The magic number, as the first two bytes on the wire (`0xBA 0x4E`, "BaNana").
pub const DATAGRAM_MAGIC: u16 = 0xBA4E;

/// The length of the fixed header.
pub const DATAGRAM_HEADER_LEN: usize = 12;

/// The longest datagram accepted: header + [`MAX_MESSAGE_LEN`]. (A real UDP path carries
/// less; the transport negotiates its MTU so that frames fit.)
pub const MAX_DATAGRAM_LEN: usize = DATAGRAM_HEADER_LEN + MAX_MESSAGE_LEN;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const FLAGS: usize = 3;
    pub const WIRE: Range<usize> = 4..8;
    pub const SEQ: Range<usize> = 8..12;
    pub const PAYLOAD: RangeFrom<usize> = 12..;
}

/// A zero-copy view of a datagram. Accessors never panic: on a buffer shorter than the
/// header they return zeros / an empty payload; [`DatagramPacket::new_checked`] rules that
/// out up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DatagramPacket<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        DatagramPacket { buffer }
    }

    /// Wrap a buffer, checking that it holds at least a header.
    pub fn new_checked(buffer: T) -> Result<Self, DatagramError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensure the buffer holds at least a header.
    pub fn check_len(&self) -> Result<(), DatagramError> {
        let len = self.buffer.as_ref().len();
        if len < DATAGRAM_HEADER_LEN {
            Err(DatagramError::Truncated(len))
        } else {
            Ok(())
        }
    }

    /// Give back the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes<const N: usize>(&self, range: core::ops::Range<usize>) -> [u8; N] {
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .unwrap_or([0; N])
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// The magic field (big-endian, so the bytes read `BA 4E`).
    pub fn magic(&self) -> u16 {
        u16::from_be_bytes(self.bytes(field::MAGIC))
    }

    /// The protocol major of the sender.
    pub fn version(&self) -> u8 {
        self.byte(field::VERSION)
    }

    /// Flags; none defined in 1.x: sent as 0, ignored on receipt.
    pub fn flags(&self) -> u8 {
        self.byte(field::FLAGS)
    }

    /// The wire the datagram belongs to.
    pub fn wire_id(&self) -> WireId {
        WireId(u32::from_le_bytes(self.bytes(field::WIRE)))
    }

    /// The sender's datagram sequence number.
    pub fn seq(&self) -> u32 {
        u32::from_le_bytes(self.bytes(field::SEQ))
    }

    /// The encoded message after the header.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(field::PAYLOAD).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DatagramPacket<T> {
    fn put(&mut self, range: core::ops::Range<usize>, value: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            if dst.len() == value.len() {
                dst.copy_from_slice(value);
            }
        }
    }

    /// Set the magic field.
    pub fn set_magic(&mut self, magic: u16) {
        self.put(field::MAGIC, &magic.to_be_bytes());
    }

    /// Set the version field.
    pub fn set_version(&mut self, version: u8) {
        self.put(field::VERSION..field::VERSION + 1, &[version]);
    }

    /// Set the flags field.
    pub fn set_flags(&mut self, flags: u8) {
        self.put(field::FLAGS..field::FLAGS + 1, &[flags]);
    }

    /// Set the wire id.
    pub fn set_wire_id(&mut self, wire: WireId) {
        self.put(field::WIRE, &wire.0.to_le_bytes());
    }

    /// Set the sequence number.
    pub fn set_seq(&mut self, seq: u32) {
        self.put(field::SEQ, &seq.to_le_bytes());
    }

    /// The mutable space after the header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::PAYLOAD)
            .unwrap_or(&mut [])
    }
}

/// The validated header of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatagramHeader {
    /// The wire it belongs to.
    pub wire: WireId,
    /// The sender's sequence number (one per datagram, wrapping).
    pub seq: u32,
}

impl DatagramHeader {
    /// Validate length, magic and version. Flags are ignored (reserved).
    pub fn parse<T: AsRef<[u8]>>(packet: &DatagramPacket<T>) -> Result<Self, DatagramError> {
        packet.check_len()?;
        if packet.magic() != DATAGRAM_MAGIC {
            return Err(DatagramError::BadMagic(packet.magic()));
        }
        if packet.version() != PROTOCOL_VERSION.major {
            return Err(DatagramError::UnknownVersion(packet.version()));
        }
        Ok(DatagramHeader {
            wire: packet.wire_id(),
            seq: packet.seq(),
        })
    }

    /// Write the header (magic, our major, zero flags, wire, seq) into `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut DatagramPacket<T>) {
        packet.set_magic(DATAGRAM_MAGIC);
        packet.set_version(PROTOCOL_VERSION.major);
        packet.set_flags(0);
        packet.set_wire_id(self.wire);
        packet.set_seq(self.seq);
    }
}

/// Encode header + `msg` into the front of `buf`; returns the datagram length.
pub fn encode_datagram(
    header: &DatagramHeader,
    msg: &Message<'_>,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let needed = msg.encoded_len().saturating_add(DATAGRAM_HEADER_LEN);
    if buf.len() < DATAGRAM_HEADER_LEN {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    let mut packet = DatagramPacket::new_unchecked(buf);
    let n = msg.encode(packet.payload_mut()).map_err(|e| match e {
        EncodeError::BufferTooSmall { .. } => EncodeError::BufferTooSmall { needed },
        other => other,
    })?;
    header.emit(&mut packet);
    Ok(n.saturating_add(DATAGRAM_HEADER_LEN))
}

/// Parse the header and decode the message of one datagram, without wire or sequence
/// checks (see [`DatagramReceiver`] for those).
pub fn decode_datagram(bytes: &[u8]) -> Result<(DatagramHeader, Message<'_>), DatagramError> {
    let packet = DatagramPacket::new_checked(bytes)?;
    let header = DatagramHeader::parse(&packet)?;
    let payload = bytes.get(field::PAYLOAD).unwrap_or(&[]);
    if payload.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLarge {
            len: payload.len(),
            max: MAX_MESSAGE_LEN,
        }
        .into());
    }
    Ok((header, Message::decode(payload)?))
}

/// Stamps outgoing datagrams of one wire with increasing sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramSender {
    wire: WireId,
    next_seq: u32,
}

impl DatagramSender {
    /// A sender on `wire` starting at sequence 0.
    pub const fn new(wire: WireId) -> Self {
        DatagramSender { wire, next_seq: 0 }
    }

    /// Encode `msg` into `buf` with the next sequence number; returns the datagram length.
    /// The sequence number is consumed only on success.
    pub fn encode(&mut self, msg: &Message<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let header = DatagramHeader {
            wire: self.wire,
            seq: self.next_seq,
        };
        let n = encode_datagram(&header, msg, buf)?;
        self.next_seq = self.next_seq.wrapping_add(1);
        Ok(n)
    }
}

/// The receiving side of one wire: drops foreign and stale datagrams before decoding.
///
/// Order of checks (cheapest first): header (length, magic, version), wire id, then — for
/// `Frame` and `Keepalive` only — freshness of the sequence number, then the message body.
/// Handshake and `Close` messages bypass the freshness check (they are idempotent and the
/// sender may have restarted its counter), and a `Hello` resets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramReceiver {
    wire: WireId,
    seq: SeqTracker,
}

impl DatagramReceiver {
    /// A receiver for `wire`.
    pub const fn new(wire: WireId) -> Self {
        DatagramReceiver {
            wire,
            seq: SeqTracker::new(),
        }
    }

    /// The sequence tracker (for diagnostics).
    pub fn seq(&self) -> &SeqTracker {
        &self.seq
    }

    /// Check and decode one datagram.
    pub fn receive<'a>(&mut self, bytes: &'a [u8]) -> Result<Message<'a>, DatagramError> {
        let packet = DatagramPacket::new_checked(bytes)?;
        let header = DatagramHeader::parse(&packet)?;
        if header.wire != self.wire {
            return Err(DatagramError::ForeignWire(header.wire));
        }
        let payload = bytes.get(field::PAYLOAD).unwrap_or(&[]);
        let sequenced = matches!(
            MessageKind::peek(payload),
            Some(MessageKind::Frame | MessageKind::Keepalive)
        );
        if sequenced && !self.seq.is_fresh(header.seq) {
            return Err(DatagramError::Stale {
                seq: header.seq,
                newest: self.seq.newest().unwrap_or(0),
            });
        }
        let (_, msg) = decode_datagram(bytes)?;
        match msg.kind() {
            MessageKind::Hello => self.seq.reset(),
            MessageKind::Frame | MessageKind::Keepalive => {
                self.seq.accept(header.seq);
            }
            MessageKind::HelloAck | MessageKind::Close => {}
        }
        Ok(msg)
    }
}

/// Encode header + `msg` into a fresh `Vec` (host convenience).
#[cfg(feature = "std")]
pub fn encode_datagram_vec(
    header: &DatagramHeader,
    msg: &Message<'_>,
) -> Result<std::vec::Vec<u8>, EncodeError> {
    let mut v = std::vec![0; msg.encoded_len().saturating_add(DATAGRAM_HEADER_LEN)];
    let n = encode_datagram(header, msg, &mut v)?;
    v.truncate(n);
    Ok(v)
}
