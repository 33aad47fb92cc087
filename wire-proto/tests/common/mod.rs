//! Proptest strategies shared by the integration tests.
#![allow(dead_code)]

use proptest::collection::vec;
use proptest::prelude::*;
use wire_proto::*;

pub fn version() -> impl Strategy<Value = Version> {
    (any::<u8>(), any::<u8>()).prop_map(|(_, minor)| Version {
        major: PROTOCOL_VERSION.major,
        minor,
    })
}

pub fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Spike), Just(Role::Corm)]
}

pub fn unicast_mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(|mut b| {
        b[0] &= !1;
        MacAddr(b)
    })
}

pub fn hello() -> impl Strategy<Value = Hello> {
    (
        version(),
        role(),
        any::<u32>(),
        any::<u32>(),
        vec(unicast_mac(), 0..=MAX_MACS),
        any::<u16>(),
        any::<u64>(),
    )
        .prop_map(
            |(version, role, wire, endpoint, macs, mtu, features)| Hello {
                version,
                role,
                wire: WireId(wire),
                endpoint: EndpointId(endpoint),
                macs: macs.into_iter().collect(),
                mtu,
                features: Features(features),
            },
        )
}

/// Codes that decode back to the same variant (not the `Other` aliases of known codes).
pub fn refusal() -> impl Strategy<Value = RefusalReason> {
    any::<u8>().prop_map(RefusalReason::from)
}

pub fn close_reason() -> impl Strategy<Value = CloseReason> {
    any::<u8>().prop_map(CloseReason::from)
}

pub fn params() -> impl Strategy<Value = Params> {
    (version(), any::<u64>(), any::<u16>()).prop_map(|(version, f, mtu)| Params {
        version,
        features: Features(f),
        mtu,
    })
}

pub fn hello_ack() -> impl Strategy<Value = HelloAck> {
    prop_oneof![
        params().prop_map(HelloAck::Accept),
        refusal().prop_map(HelloAck::Refuse),
    ]
}

/// Frame payload bytes plus metadata that is valid for them.
#[derive(Debug, Clone)]
pub struct OwnedFrame {
    pub checksum: Checksum,
    pub gso: Option<Gso>,
    pub payload: Vec<u8>,
}

impl OwnedFrame {
    pub fn frame(&self) -> Frame<'_> {
        Frame {
            checksum: self.checksum,
            gso: self.gso,
            payload: &self.payload,
        }
    }
}

pub fn owned_frame_with_len(
    len: impl Strategy<Value = usize>,
) -> impl Strategy<Value = OwnedFrame> {
    len.prop_flat_map(|len| {
        let payload = vec(any::<u8>(), len);
        // Partial checksum field must fit: start >= 14, start + offset + 2 <= len.
        let max_start = len.saturating_sub(2).max(ETH_HEADER_LEN);
        let partial = (ETH_HEADER_LEN..=max_start).prop_flat_map(move |start| {
            let max_off = len.saturating_sub(2).saturating_sub(start);
            (Just(start), 0..=max_off).prop_map(|(s, o)| Checksum::Partial {
                start: s as u16,
                offset: o as u16,
            })
        });
        let checksum = prop_oneof![Just(Checksum::None), Just(Checksum::Validated), partial];
        let gso_kind = prop_oneof![Just(GsoKind::TcpV4), Just(GsoKind::TcpV6)];
        let gso = proptest::option::of(
            (gso_kind, netframe::MIN_GSO_SIZE..=u16::MAX)
                .prop_map(|(kind, size)| Gso { kind, size }),
        );
        (payload, checksum, gso)
    })
    .prop_map(|(payload, checksum, gso)| {
        // Frames of 14/15 bytes cannot hold a checksum field past the Ethernet header.
        let checksum = match checksum {
            Checksum::Partial { start, offset }
                if usize::from(start) + usize::from(offset) + 2 > payload.len() =>
            {
                Checksum::None
            }
            c => c,
        };
        // GSO needs a partial checksum; drop it otherwise so the frame stays valid.
        let gso = match checksum {
            Checksum::Partial { .. } => gso,
            _ => None,
        };
        OwnedFrame {
            checksum,
            gso,
            payload,
        }
    })
}

pub fn owned_frame() -> impl Strategy<Value = OwnedFrame> {
    // Mostly small frames (fast), sometimes up to the maximum.
    owned_frame_with_len(prop_oneof![
        8 => ETH_HEADER_LEN..=1600usize,
        1 => ETH_HEADER_LEN..=MAX_FRAME_LEN,
    ])
}

/// A message that owns its frame bytes (so strategies can produce it).
#[derive(Debug, Clone)]
pub enum OwnedMessage {
    Hello(Hello),
    HelloAck(HelloAck),
    Frame(OwnedFrame),
    Keepalive(Keepalive),
    Close(Close),
}

impl OwnedMessage {
    pub fn message(&self) -> Message<'_> {
        match self {
            OwnedMessage::Hello(h) => Message::Hello(h.clone()),
            OwnedMessage::HelloAck(a) => Message::HelloAck(*a),
            OwnedMessage::Frame(f) => Message::Frame(f.frame()),
            OwnedMessage::Keepalive(k) => Message::Keepalive(*k),
            OwnedMessage::Close(c) => Message::Close(*c),
        }
    }
}

pub fn message() -> impl Strategy<Value = OwnedMessage> {
    prop_oneof![
        1 => hello().prop_map(OwnedMessage::Hello),
        1 => hello_ack().prop_map(OwnedMessage::HelloAck),
        3 => owned_frame().prop_map(OwnedMessage::Frame),
        1 => any::<u32>().prop_map(|seq| OwnedMessage::Keepalive(Keepalive { seq })),
        1 => close_reason().prop_map(|reason| OwnedMessage::Close(Close { reason })),
    ]
}

/// Encode a message into a fresh vector (the crate's own `to_vec` needs `std`).
pub fn encode(msg: &Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; msg.encoded_len()];
    let n = msg.encode(&mut buf).expect("encode");
    assert_eq!(n, buf.len(), "encoded_len is exact");
    buf
}

pub fn record(msg: &Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; record_len(msg.encoded_len())];
    let n = encode_record(msg, &mut buf).expect("encode_record");
    assert_eq!(n, buf.len());
    buf
}

pub fn datagram(header: &DatagramHeader, msg: &Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; msg.encoded_len() + DATAGRAM_HEADER_LEN];
    let n = encode_datagram(header, msg, &mut buf).expect("encode_datagram");
    assert_eq!(n, buf.len());
    buf
}

/// Split `bytes` into chunks whose sizes cycle through `sizes` (each >= 1).
pub fn chunks<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
        i += 1;
    }
    out
}

/// A decoder whose buffer holds the largest message.
pub fn decoder() -> StreamDecoder<Vec<u8>> {
    StreamDecoder::new(vec![0; MAX_MESSAGE_LEN])
}

/// Feed `chunks` to `dec`, collecting every outcome (messages re-encoded to bytes so they
/// outlive the decoder borrow).
pub fn drain(
    dec: &mut StreamDecoder<Vec<u8>>,
    chunks: &[&[u8]],
) -> Vec<Result<Vec<u8>, StreamError>> {
    let mut out = Vec::new();
    for chunk in chunks {
        let mut input: &[u8] = chunk;
        loop {
            match dec.next_record(&mut input) {
                Ok(Some(body)) => out.push(Ok(body.to_vec())),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    if dec.is_poisoned() {
                        return out;
                    }
                }
            }
        }
        assert!(input.is_empty(), "decoder returned None with input left");
    }
    out
}
