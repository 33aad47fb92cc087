//! The Banana wire protocol: what a Spike and a Corm say to each other over a *wire*.
//!
//! The normative description of the format (every layout, the version rule, the limits and
//! what a receiver does with each malformed input) is `PROTOCOL.md`, included below, so
//! the code and the spec are read from one place. This crate-level paragraph only maps
//! the spec onto the modules:
//!
//! * [`message`]: the [`Message`] enum (kind byte + postcard body) and its parts:
//!   [`Hello`]/[`HelloAck`] ([`hello`]), [`Frame`] ([`frame`]), [`Keepalive`]/[`Close`]
//!   ([`control`]).
//! * [`negotiate`]: the sans-IO [`Negotiator`] that turns the hello exchange into agreed
//!   [`Params`] and polices frames afterwards.
//! * [`stream`]: length-prefixed records for shared-memory byte rings, with the streaming
//!   [`StreamDecoder`].
//! * [`datagram`]: one message per datagram behind a fixed [`DatagramHeader`].
//!
//! Decoding never panics: the non-test code is compiled with `clippy::indexing_slicing`,
//! `unwrap_used`, `expect_used` and `panic` denied, and the property tests and fuzz targets
//! feed it arbitrary bytes. Encoding writes into caller buffers and never allocates; the
//! `std` feature adds `Vec` conveniences for host tools.
//!
//! # Example: a handshake and a frame over a byte ring
//!
//! ```
//! use wire_proto::*;
//!
//! let mut spike_hello = Hello::new(Role::Spike, WireId(7), EndpointId(1), 1500, Features::KNOWN);
//! spike_hello.push_mac(MacAddr([0x00, 0x16, 0x3e, 0x12, 0x34, 0x56])).unwrap();
//! let mut spike = Negotiator::new(spike_hello);
//! let mut corm = Negotiator::new(Hello::new(Role::Corm, WireId(7), EndpointId(2), 9000, Features::CSUM));
//!
//! // The "ring" from the Spike to the Corm, and the Corm's decoder (a static buffer in a domain).
//! let mut ring = [0u8; 4096];
//! let mut decoder = StreamDecoder::new([0u8; 2048]);
//!
//! let n = encode_record(&spike.hello(), &mut ring).unwrap();
//! let mut input = &ring[..n];
//! let msg = decoder.next_message(&mut input).unwrap().unwrap();
//! let Step::Reply(corm_ack) = corm.on_message(msg).unwrap() else { unreachable!() };
//!
//! // (The other direction, elided: the Spike gets the Corm's hello and acks it.)
//! let Step::Reply(spike_ack) = spike.on_message(corm.hello()).unwrap() else { unreachable!() };
//! let Step::Established(params) = spike.on_message(Message::HelloAck(corm_ack)).unwrap() else { unreachable!() };
//! assert!(matches!(corm.on_message(Message::HelloAck(spike_ack)), Ok(Step::Established(_))));
//! assert_eq!((params.mtu, params.features), (1500, Features::CSUM));
//!
//! // A frame, encoded straight into the ring and decoded zero-copy on the other side.
//! let eth = [0xffu8; 60];
//! let frame = Frame::new(&eth).with_checksum(Checksum::Validated);
//! let n = encode_record(&Message::Frame(frame), &mut ring).unwrap();
//! let mut input = &ring[..n];
//! let msg = decoder.next_message(&mut input).unwrap().unwrap();
//! assert_eq!(corm.on_message(msg), Ok(Step::Frame(frame)));
//! ```
//!
#![doc = include_str!("../PROTOCOL.md")]
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(feature = "std")]
extern crate std;

pub mod control;
pub mod datagram;
pub mod error;
pub mod features;
pub mod frame;
pub mod hello;
pub mod ids;
pub mod mac;
pub mod message;
pub mod negotiate;
pub mod seq;
pub mod stream;
pub mod version;

pub use control::{Close, CloseReason, Keepalive};
pub use datagram::{
    decode_datagram, encode_datagram, DatagramHeader, DatagramPacket, DatagramReceiver,
    DatagramSender, DATAGRAM_HEADER_LEN, DATAGRAM_MAGIC, MAX_DATAGRAM_LEN,
};
pub use error::{DatagramError, DecodeError, EncodeError, FrameError, Invalid, StreamError};
pub use features::Features;
pub use frame::{
    Checksum, Frame, FrameMeta, Gso, GsoKind, ETH_HEADER_LEN, FRAME_HEADER_LEN, MAX_FRAME_LEN,
};
pub use hello::{Hello, HelloAck, Params, RefusalReason, MAX_MACS, MAX_MTU, MIN_MTU};
pub use ids::{EndpointId, WireId};
pub use mac::MacAddr;
pub use message::{Message, MessageKind, MAX_MESSAGE_LEN};
pub use negotiate::{NegotiationError, Negotiator, Step};
pub use seq::SeqTracker;
pub use stream::{
    encode_record, record_len, StreamDecoder, MAX_RECORD_LEN, PAD_KIND, RECORD_ALIGN,
    RECORD_HEADER_LEN,
};
pub use version::{Role, Version, PROTOCOL_VERSION};
