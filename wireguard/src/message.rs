//! WireGuard's four messages (whitepaper §5.4.2, .3, .6, .7), checked once.
//!
//! Every message starts with a 32-bit little-endian type whose upper three
//! bytes are zero: Linux compares the whole word (drivers/net/wireguard/
//! receive.c, `prepare_skb_header`), so "reserved bytes not zero" is simply
//! an unknown type. Handshake messages have one exact length each; a
//! transport message is at least its 16-byte header and the 16-byte tag.
//!
//! ```text
//! initiation (148)  type=1 ‖ sender u32 ‖ ephemeral 32 ‖ static 32+16 ‖ timestamp 12+16 ‖ mac1 16 ‖ mac2 16
//! response    (92)  type=2 ‖ sender u32 ‖ receiver u32 ‖ ephemeral 32 ‖ empty 0+16 ‖ mac1 16 ‖ mac2 16
//! cookie      (64)  type=3 ‖ receiver u32 ‖ nonce 24 ‖ cookie 16+16
//! transport (32+n)  type=4 ‖ receiver u32 ‖ counter u64 ‖ packet n+16
//! ```
//! All integers are little-endian.

/// Message type of a handshake initiation.
pub const TYPE_INITIATION: u32 = 1;
/// Message type of a handshake response.
pub const TYPE_RESPONSE: u32 = 2;
/// Message type of a cookie reply.
pub const TYPE_COOKIE_REPLY: u32 = 3;
/// Message type of a transport data message.
pub const TYPE_TRANSPORT: u32 = 4;

/// Length of a handshake initiation.
pub const INITIATION_LEN: usize = 148;
/// Length of a handshake response.
pub const RESPONSE_LEN: usize = 92;
/// Length of a cookie reply.
pub const COOKIE_REPLY_LEN: usize = 64;
/// Length of a transport message's header (type, receiver, counter).
pub const TRANSPORT_HEADER_LEN: usize = 16;
/// What a transport message adds to its packet: header and tag.
pub const TRANSPORT_OVERHEAD: usize = TRANSPORT_HEADER_LEN + crate::crypto::TAG_LEN;

/// Field offsets of the initiation.
pub mod initiation {
    /// Sender index.
    pub const SENDER: usize = 4;
    /// Unencrypted ephemeral public key.
    pub const EPHEMERAL: usize = 8;
    /// Encrypted static public key and its tag (48 bytes).
    pub const STATIC: usize = 40;
    /// Encrypted TAI64N timestamp and its tag (28 bytes).
    pub const TIMESTAMP: usize = 88;
    /// `mac1`, over everything before it.
    pub const MAC1: usize = 116;
    /// `mac2`, over everything before it.
    pub const MAC2: usize = 132;
}

/// Field offsets of the response.
pub mod response {
    /// Sender index.
    pub const SENDER: usize = 4;
    /// Receiver index (the initiator's sender index).
    pub const RECEIVER: usize = 8;
    /// Unencrypted ephemeral public key.
    pub const EPHEMERAL: usize = 12;
    /// The tag of the encrypted empty payload.
    pub const EMPTY: usize = 44;
    /// `mac1`.
    pub const MAC1: usize = 60;
    /// `mac2`.
    pub const MAC2: usize = 76;
}

/// Field offsets of the cookie reply.
pub mod cookie_reply {
    /// Receiver index (the sender index of the message it answers).
    pub const RECEIVER: usize = 4;
    /// The 24-byte XChaCha20 nonce.
    pub const NONCE: usize = 8;
    /// The encrypted 16-byte cookie and its tag.
    pub const COOKIE: usize = 32;
}

/// Field offsets of the transport message.
pub mod transport {
    /// Receiver index.
    pub const RECEIVER: usize = 4;
    /// The 64-bit counter (the AEAD nonce).
    pub const COUNTER: usize = 8;
    /// The encrypted packet, then the tag.
    pub const PACKET: usize = 16;
}

/// Why a datagram is not a WireGuard message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Shorter than the four-byte type.
    #[error("shorter than a message type")]
    Truncated,
    /// Type not 1 to 4, or non-zero reserved bytes.
    #[error("unknown message type")]
    UnknownType,
    /// A handshake message of the wrong length, or a transport message
    /// shorter than header and tag.
    #[error("wrong length for its type")]
    WrongLength,
}

/// A received datagram, classified by type and length; the fields are read
/// through the views below.
#[derive(Clone, Copy, Debug)]
pub enum Message<'a> {
    /// A handshake initiation.
    Initiation(Initiation<'a>),
    /// A handshake response.
    Response(Response<'a>),
    /// A cookie reply.
    CookieReply(CookieReply<'a>),
    /// A transport data message (type, receiver, counter, sealed packet).
    Transport(Transport<'a>),
}

/// Reads a little-endian u32 at `at` of a buffer whose length the caller checked.
fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// Copies the fixed-size field at `at`.
fn field<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut f = [0u8; N];
    f.copy_from_slice(&b[at..at + N]);
    f
}

/// The message type of a datagram, without checking its length.
pub fn message_type(datagram: &[u8]) -> Result<u32, MessageError> {
    if datagram.len() < 4 {
        return Err(MessageError::Truncated);
    }
    match le32(datagram, 0) {
        t @ TYPE_INITIATION..=TYPE_TRANSPORT => Ok(t),
        _ => Err(MessageError::UnknownType),
    }
}

impl<'a> Message<'a> {
    /// Classifies `datagram`, checking its type and length once.
    pub fn parse(datagram: &'a [u8]) -> Result<Message<'a>, MessageError> {
        let exact = |len: usize| {
            if datagram.len() == len {
                Ok(())
            } else {
                Err(MessageError::WrongLength)
            }
        };
        Ok(match message_type(datagram)? {
            TYPE_INITIATION => {
                exact(INITIATION_LEN)?;
                Message::Initiation(Initiation(datagram))
            }
            TYPE_RESPONSE => {
                exact(RESPONSE_LEN)?;
                Message::Response(Response(datagram))
            }
            TYPE_COOKIE_REPLY => {
                exact(COOKIE_REPLY_LEN)?;
                Message::CookieReply(CookieReply(datagram))
            }
            _ => {
                if datagram.len() < TRANSPORT_OVERHEAD {
                    return Err(MessageError::WrongLength);
                }
                Message::Transport(Transport(datagram))
            }
        })
    }
}

/// A handshake initiation of the right length.
#[derive(Clone, Copy, Debug)]
pub struct Initiation<'a>(&'a [u8]);

impl<'a> Initiation<'a> {
    /// The whole message (for `mac1`/`mac2`).
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    /// The initiator's index for this handshake.
    pub fn sender(&self) -> u32 {
        le32(self.0, initiation::SENDER)
    }
    /// The initiator's ephemeral public key.
    pub fn ephemeral(&self) -> [u8; 32] {
        field(self.0, initiation::EPHEMERAL)
    }
    /// The encrypted static key with its tag.
    pub fn encrypted_static(&self) -> [u8; 48] {
        field(self.0, initiation::STATIC)
    }
    /// The encrypted timestamp with its tag.
    pub fn encrypted_timestamp(&self) -> [u8; 28] {
        field(self.0, initiation::TIMESTAMP)
    }
}

/// A handshake response of the right length.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a>(&'a [u8]);

impl<'a> Response<'a> {
    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    /// The responder's index for the session.
    pub fn sender(&self) -> u32 {
        le32(self.0, response::SENDER)
    }
    /// The index the initiator sent.
    pub fn receiver(&self) -> u32 {
        le32(self.0, response::RECEIVER)
    }
    /// The responder's ephemeral public key.
    pub fn ephemeral(&self) -> [u8; 32] {
        field(self.0, response::EPHEMERAL)
    }
    /// The tag of the encrypted empty payload.
    pub fn empty_tag(&self) -> [u8; 16] {
        field(self.0, response::EMPTY)
    }
}

/// A cookie reply of the right length.
#[derive(Clone, Copy, Debug)]
pub struct CookieReply<'a>(&'a [u8]);

impl<'a> CookieReply<'a> {
    /// The sender index of the handshake message this answers.
    pub fn receiver(&self) -> u32 {
        le32(self.0, cookie_reply::RECEIVER)
    }
    /// The XChaCha20 nonce.
    pub fn nonce(&self) -> [u8; 24] {
        field(self.0, cookie_reply::NONCE)
    }
    /// The encrypted cookie and its tag.
    pub fn encrypted_cookie(&self) -> [u8; 32] {
        field(self.0, cookie_reply::COOKIE)
    }
}

/// A transport message at least header and tag long.
#[derive(Clone, Copy, Debug)]
pub struct Transport<'a>(&'a [u8]);

impl Transport<'_> {
    /// Our index of the keypair it was sealed with.
    pub fn receiver(&self) -> u32 {
        le32(self.0, transport::RECEIVER)
    }
    /// The nonce counter.
    pub fn counter(&self) -> u64 {
        u64::from_le_bytes(field(self.0, transport::COUNTER))
    }
    /// Length of the sealed packet without its tag.
    pub fn packet_len(&self) -> usize {
        self.0.len() - TRANSPORT_OVERHEAD
    }
}

/// Writes a message type word (type, three zero bytes).
pub fn put_type(buf: &mut [u8], ty: u32) {
    buf[..4].copy_from_slice(&ty.to_le_bytes());
}

/// Writes a little-endian u32 at `at`.
pub fn put_le32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_the_whitepaper() {
        assert_eq!(initiation::MAC2 + 16, INITIATION_LEN);
        assert_eq!(response::MAC2 + 16, RESPONSE_LEN);
        assert_eq!(cookie_reply::COOKIE + 32, COOKIE_REPLY_LEN);
        assert_eq!(TRANSPORT_OVERHEAD, 32);
    }

    #[test]
    fn parse_checks_type_reserved_and_length() {
        let mut m = [0u8; INITIATION_LEN];
        put_type(&mut m, TYPE_INITIATION);
        assert!(matches!(Message::parse(&m), Ok(Message::Initiation(_))));
        assert_eq!(
            Message::parse(&m[..147]).err(),
            Some(MessageError::WrongLength)
        );
        m[3] = 1;
        assert_eq!(Message::parse(&m).err(), Some(MessageError::UnknownType));
        assert_eq!(Message::parse(&m[..3]).err(), Some(MessageError::Truncated));
        let mut t = [0u8; 32];
        put_type(&mut t, TYPE_TRANSPORT);
        match Message::parse(&t) {
            Ok(Message::Transport(p)) => assert_eq!(p.packet_len(), 0),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Message::parse(&t[..31]).err(),
            Some(MessageError::WrongLength)
        );
        put_type(&mut t, 5);
        assert_eq!(Message::parse(&t).err(), Some(MessageError::UnknownType));
    }
}
