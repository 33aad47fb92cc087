//! Framing for byte-ring transports (a shared-memory ring between two domains).
//!
//! A record is a 4-byte little-endian body length followed by the body (one message) and
//! zero bytes up to the next multiple of [`RECORD_ALIGN`]; a body whose kind byte is 0
//! is padding, which a receiver skips (a ring writes one to fill its tail when the next
//! record would otherwise wrap). [`StreamDecoder`] is the reference decoder of such a
//! byte stream and accepts any chunking: a record wholly inside the current chunk is
//! returned as a slice *of the chunk* (zero-copy); only a record split across chunks is
//! assembled in the decoder's buffer.
//!
//! Recovery: there is no resynchronisation marker, so a header announcing an empty or
//! oversized body means the ends disagree on where records start. That is fatal for the
//! link: the decoder poisons itself ([`StreamError::Poisoned`]) and the caller closes the
//! link and resets the ring. A bad *body* inside a well-framed record is not fatal.

use crate::error::{EncodeError, StreamError};
use crate::message::{Message, MAX_MESSAGE_LEN};

/// The length of a record header.
pub const RECORD_HEADER_LEN: usize = 4;

/// Records start at multiples of this many bytes of the stream.
pub const RECORD_ALIGN: usize = 8;

/// The kind byte of a padding record.
pub const PAD_KIND: u8 = 0;

/// The stream bytes a record with a `body`-byte body takes: header, body and padding
/// (saturating: bodies are bounded by [`MAX_MESSAGE_LEN`] long before that matters).
pub const fn record_len(body: usize) -> usize {
    match RECORD_HEADER_LEN
        .saturating_add(body)
        .checked_next_multiple_of(RECORD_ALIGN)
    {
        Some(n) => n,
        None => usize::MAX,
    }
}

/// The longest record: header + [`MAX_MESSAGE_LEN`] + padding.
pub const MAX_RECORD_LEN: usize = record_len(MAX_MESSAGE_LEN);

/// Encode `msg` as one record (header + body + padding) into the front of `buf`; returns
/// the record length. No allocation.
pub fn encode_record(msg: &Message<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let needed = record_len(msg.encoded_len());
    let Some((header, body)) = buf.split_first_chunk_mut::<RECORD_HEADER_LEN>() else {
        return Err(EncodeError::BufferTooSmall { needed });
    };
    let n = msg.encode(body).map_err(|e| match e {
        EncodeError::BufferTooSmall { .. } => EncodeError::BufferTooSmall { needed },
        other => other,
    })?;
    // n <= MAX_MESSAGE_LEN (checked by encode), which fits a u32.
    let len = u32::try_from(n).map_err(|_| EncodeError::TooLarge {
        len: n,
        max: MAX_MESSAGE_LEN,
    })?;
    *header = len.to_le_bytes();
    let total = record_len(n);
    let pad = buf
        .get_mut(n.saturating_add(RECORD_HEADER_LEN)..total)
        .ok_or(EncodeError::BufferTooSmall { needed })?;
    pad.fill(0);
    Ok(total)
}

/// Encode `msg` as one record into a fresh `Vec` (host convenience).
#[cfg(feature = "std")]
pub fn encode_record_vec(msg: &Message<'_>) -> Result<std::vec::Vec<u8>, EncodeError> {
    let mut v = std::vec![0; record_len(msg.encoded_len())];
    let n = encode_record(msg, &mut v)?;
    v.truncate(n);
    Ok(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting the header; `have` bytes of it are in `header`.
    Header { have: usize },
    /// Collecting a body of `len` bytes; `have` are in the buffer.
    Body { len: usize, have: usize },
    /// Skipping `left` padding bytes after a body.
    Pad { left: usize },
    /// A fatal error happened.
    Poisoned,
}

/// Streaming record decoder over a caller-provided buffer `B` (a `&mut [u8]`, an array, a
/// `Box<[u8]>`, a `Vec<u8>`, ...).
///
/// The largest record body accepted is `min(buffer length, MAX_MESSAGE_LEN)`; give it a
/// buffer of at least [`MAX_MESSAGE_LEN`] bytes to accept every valid peer.
#[derive(Debug, Clone)]
pub struct StreamDecoder<B> {
    buf: B,
    header: [u8; RECORD_HEADER_LEN],
    state: State,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> StreamDecoder<B> {
    /// A decoder assembling split records in `buf`.
    pub fn new(buf: B) -> Self {
        StreamDecoder {
            buf,
            header: [0; RECORD_HEADER_LEN],
            state: State::Header { have: 0 },
        }
    }

    /// The largest record body this decoder accepts.
    pub fn max_body_len(&self) -> usize {
        self.buf.as_ref().len().min(MAX_MESSAGE_LEN)
    }

    /// Bytes of a partial record currently held (0 at a record boundary).
    pub fn buffered(&self) -> usize {
        match self.state {
            State::Header { have } => have,
            State::Body { have, .. } => have.saturating_add(RECORD_HEADER_LEN),
            State::Pad { .. } | State::Poisoned => 0,
        }
    }

    /// Whether a fatal error happened.
    pub fn is_poisoned(&self) -> bool {
        self.state == State::Poisoned
    }

    /// Forget any partial record and any failure (the ring was reset).
    pub fn reset(&mut self) {
        self.state = State::Header { have: 0 };
    }

    /// Give back the buffer.
    pub fn into_inner(self) -> B {
        self.buf
    }

    /// Consume bytes from the front of `*input` until one record body is complete, and
    /// return it; `Ok(None)` once `*input` is exhausted mid-record (feed the next chunk).
    ///
    /// Call in a loop until `Ok(None)`. On return `*input` holds the unconsumed rest.
    /// Padding records (kind byte 0) are skipped, never returned.
    /// The body borrows from the input chunk (fast path) or from the decoder's buffer.
    pub fn next_record<'r, 'i: 'r>(
        &'r mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<&'r [u8]>, StreamError> {
        loop {
            match self.state {
                State::Poisoned => return Err(StreamError::Poisoned),
                State::Pad { left } => {
                    let n = left.min(input.len());
                    *input = input.get(n..).unwrap_or(&[]);
                    if n < left {
                        self.state = State::Pad {
                            left: left.saturating_sub(n),
                        };
                        return Ok(None);
                    }
                    self.state = State::Header { have: 0 };
                }
                State::Header { have: 0 } => {
                    // Fast path: the whole record, padding included, is in this chunk.
                    if let Some((header, rest)) = input.split_first_chunk::<RECORD_HEADER_LEN>() {
                        let len = self.check_len(*header)?;
                        let padded = record_len(len).saturating_sub(RECORD_HEADER_LEN);
                        if let (Some(body), Some(after)) = (rest.get(..len), rest.get(padded..)) {
                            *input = after;
                            if body.first() == Some(&PAD_KIND) {
                                continue;
                            }
                            return Ok(Some(body));
                        }
                    }
                    if !self.take_header(input)? {
                        return Ok(None);
                    }
                }
                State::Header { .. } => {
                    if !self.take_header(input)? {
                        return Ok(None);
                    }
                }
                State::Body { len, have } => {
                    let want = len.saturating_sub(have);
                    let n = want.min(input.len());
                    let (src, rest) = input.split_at_checked(n).unwrap_or((&[], input));
                    // In bounds: len <= max_body_len() <= buffer length (check_len).
                    let Some(dst) = self.buf.as_mut().get_mut(have..have.saturating_add(n)) else {
                        self.state = State::Poisoned;
                        return Err(StreamError::Poisoned);
                    };
                    dst.copy_from_slice(src);
                    *input = rest;
                    let have = have.saturating_add(n);
                    if have < len {
                        self.state = State::Body { len, have };
                        return Ok(None);
                    }
                    let pad = record_len(len).saturating_sub(RECORD_HEADER_LEN.saturating_add(len));
                    self.state = if pad == 0 {
                        State::Header { have: 0 }
                    } else {
                        State::Pad { left: pad }
                    };
                    if self.buf.as_ref().first() == Some(&PAD_KIND) {
                        continue;
                    }
                    return Ok(self.buf.as_ref().get(..len));
                }
            }
        }
    }

    /// Like [`next_record`](Self::next_record), then decode the
    /// body as a [`Message`]. A bad body yields the non-fatal [`StreamError::Message`]; the
    /// decoder stays usable.
    pub fn next_message<'r, 'i: 'r>(
        &'r mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<Message<'r>>, StreamError> {
        match self.next_record(input)? {
            Some(body) => Ok(Some(Message::decode(body)?)),
            None => Ok(None),
        }
    }

    /// Move header bytes from `input`; returns whether the header completed (and the state
    /// moved to `Body`).
    fn take_header(&mut self, input: &mut &[u8]) -> Result<bool, StreamError> {
        let State::Header { have } = self.state else {
            return Ok(false);
        };
        let n = RECORD_HEADER_LEN.saturating_sub(have).min(input.len());
        let (src, rest) = input.split_at_checked(n).unwrap_or((&[], input));
        if let Some(dst) = self.header.get_mut(have..have.saturating_add(n)) {
            dst.copy_from_slice(src);
        }
        *input = rest;
        let have = have.saturating_add(n);
        if have < RECORD_HEADER_LEN {
            self.state = State::Header { have };
            return Ok(false);
        }
        let len = self.check_len(self.header)?;
        self.state = State::Body { len, have: 0 };
        Ok(true)
    }

    /// Validate an announced body length; poison the decoder if it is bad.
    fn check_len(&mut self, header: [u8; RECORD_HEADER_LEN]) -> Result<usize, StreamError> {
        let raw = u32::from_le_bytes(header);
        let max = self.max_body_len();
        let err = match usize::try_from(raw) {
            Ok(0) => StreamError::EmptyRecord,
            Ok(len) if len <= max => return Ok(len),
            _ => StreamError::TooLarge { len: raw, max },
        };
        self.state = State::Poisoned;
        Err(err)
    }
}

#[cfg(feature = "std")]
impl StreamDecoder<std::boxed::Box<[u8]>> {
    /// A decoder with a heap buffer of [`MAX_MESSAGE_LEN`] bytes (host convenience).
    pub fn new_boxed() -> Self {
        StreamDecoder::new(std::vec![0; MAX_MESSAGE_LEN].into_boxed_slice())
    }
}
