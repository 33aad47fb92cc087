//! Round-trip properties: every message, bare, in stream records (randomly chunked) and in
//! datagrams, decodes back to what was encoded.

mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use wire_proto::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn message_roundtrip(m in message()) {
        let msg = m.message();
        let bytes = encode(&msg);
        prop_assert_eq!(MessageKind::peek(&bytes), Some(msg.kind()));
        prop_assert_eq!(Message::decode(&bytes), Ok(msg));
    }

    #[test]
    fn hello_roundtrip(h in hello()) {
        let msg = Message::Hello(h);
        let bytes = encode(&msg);
        prop_assert_eq!(Message::decode(&bytes), Ok(msg));
    }

    #[test]
    fn hello_ack_roundtrip(a in hello_ack()) {
        let msg = Message::HelloAck(a);
        let bytes = encode(&msg);
        prop_assert_eq!(Message::decode(&bytes), Ok(msg));
    }

    #[test]
    fn frame_roundtrip_is_zero_copy(f in owned_frame()) {
        let msg = Message::Frame(f.frame());
        let bytes = encode(&msg);
        let Ok(Message::Frame(decoded)) = Message::decode(&bytes) else {
            return Err(TestCaseError::fail("not a frame"));
        };
        prop_assert_eq!(decoded, f.frame());
        // The payload is a view into the encoded bytes, not a copy.
        let range = bytes.as_ptr_range();
        prop_assert!(range.contains(&decoded.payload.as_ptr()));
    }

    #[test]
    fn keepalive_and_close_roundtrip(seq in any::<u32>(), reason in close_reason()) {
        for msg in [Message::Keepalive(Keepalive { seq }), Message::Close(Close { reason })] {
            let bytes = encode(&msg);
            prop_assert_eq!(Message::decode(&bytes), Ok(msg.clone()));
        }
    }

    /// Trailing bytes after a body are ignored (a later minor may append fields).
    #[test]
    fn trailing_bytes_ignored(m in message(), extra in vec(any::<u8>(), 1..16)) {
        let msg = m.message();
        let mut bytes = encode(&msg);
        bytes.extend_from_slice(&extra);
        // A frame is the rest of its message: trailing bytes are frame bytes.
        if bytes.len() <= MAX_MESSAGE_LEN && !matches!(msg, Message::Frame(_)) {
            prop_assert_eq!(Message::decode(&bytes), Ok(msg));
        }
    }

    /// Encoding into a too-small buffer fails cleanly with the exact size needed.
    #[test]
    fn encode_reports_needed_size(m in message(), short in 1usize..64) {
        let msg = m.message();
        let needed = msg.encoded_len();
        let mut buf = vec![0u8; needed.saturating_sub(short)];
        prop_assert_eq!(msg.encode(&mut buf), Err(EncodeError::BufferTooSmall { needed }));
        let mut rec = vec![0u8; record_len(needed).saturating_sub(short)];
        let is_small = matches!(encode_record(&msg, &mut rec), Err(EncodeError::BufferTooSmall { .. }));
        prop_assert!(is_small);
    }

    /// Any sequence of messages, concatenated as records and cut into random chunks,
    /// decodes back in order; the decoder ends at a record boundary.
    #[test]
    fn stream_roundtrip_random_chunks(
        msgs in vec(message(), 1..12),
        sizes in vec(1usize..300, 1..8),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for m in &msgs {
            let msg = m.message();
            stream.extend_from_slice(&record(&msg));
            expected.push(encode(&msg));
        }
        let mut dec = decoder();
        let got = drain(&mut dec, &chunks(&stream, &sizes));
        let got: Vec<Vec<u8>> = got.into_iter().collect::<Result<_, _>>().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(dec.buffered(), 0);
        for (body, m) in got.iter().zip(&msgs) {
            prop_assert_eq!(Message::decode(body), Ok(m.message()));
        }
    }

    /// The typed `next_message` path over a single-byte-at-a-time stream.
    #[test]
    fn stream_next_message_byte_by_byte(m in message()) {
        let msg = m.message();
        let rec = record(&msg);
        // The body is complete before its padding: that is when it comes out.
        let last = RECORD_HEADER_LEN + msg.encoded_len() - 1;
        let mut dec = decoder();
        let mut seen = 0;
        for (i, byte) in rec.iter().enumerate() {
            let mut input: &[u8] = core::slice::from_ref(byte);
            match dec.next_message(&mut input) {
                Ok(Some(got)) => {
                    prop_assert_eq!(i, last);
                    prop_assert_eq!(&got, &msg);
                    seen += 1;
                }
                Ok(None) => prop_assert!(i != last),
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            }
        }
        prop_assert_eq!(seen, 1);
    }

    #[test]
    fn datagram_roundtrip(m in message(), wire in any::<u32>(), seq in any::<u32>()) {
        let msg = m.message();
        let header = DatagramHeader { wire: WireId(wire), seq };
        let bytes = datagram(&header, &msg);
        let packet = DatagramPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(packet.magic(), DATAGRAM_MAGIC);
        prop_assert_eq!(packet.version(), PROTOCOL_VERSION.major);
        prop_assert_eq!(packet.flags(), 0);
        prop_assert_eq!(DatagramHeader::parse(&packet), Ok(header));
        prop_assert_eq!(decode_datagram(&bytes), Ok((header, msg.clone())));
        // A receiver for that wire accepts it (first datagram is always fresh).
        prop_assert_eq!(DatagramReceiver::new(WireId(wire)).receive(&bytes), Ok(msg));
    }

    /// A sender/receiver pair over a lossy, duplicating link delivers each sequenced
    /// datagram at most once and in increasing order.
    #[test]
    fn datagram_sender_receiver_drop_stale(
        order in vec(0usize..16, 1..64),
    ) {
        let wire = WireId(7);
        let payloads: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 60]).collect();
        let mut tx = DatagramSender::new(wire);
        let sent: Vec<Vec<u8>> = payloads
            .iter()
            .map(|p| {
                let mut buf = vec![0u8; 128];
                let n = tx.encode(&Message::Frame(Frame::new(p)), &mut buf).unwrap();
                buf.truncate(n);
                buf
            })
            .collect();
        let mut rx = DatagramReceiver::new(wire);
        let mut last: Option<u8> = None;
        for i in order {
            match rx.receive(&sent[i]) {
                Ok(Message::Frame(f)) => {
                    let idx = f.payload[0];
                    prop_assert!(last.is_none_or(|l| idx > l));
                    last = Some(idx);
                }
                Ok(other) => return Err(TestCaseError::fail(format!("{other:?}"))),
                Err(DatagramError::Stale { .. }) => {}
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            }
        }
    }
}

#[test]
fn frame_metadata_overhead_is_within_bound() {
    let payload = vec![0u8; MAX_FRAME_LEN];
    let worst = Frame::new(&payload)
        .with_checksum(Checksum::Partial {
            start: 1 << 15,
            offset: 1 << 14,
        })
        .with_gso(Gso {
            kind: GsoKind::TcpV6,
            size: u16::MAX,
        });
    let msg = Message::Frame(worst);
    assert_eq!(msg.encoded_len() - MAX_FRAME_LEN, FRAME_HEADER_LEN);
    assert!(msg.encoded_len() <= MAX_MESSAGE_LEN);
    let rec = record(&msg);
    assert!(rec.len() <= MAX_RECORD_LEN);
    let mut dec = decoder();
    assert_eq!(drain(&mut dec, &[&rec]), vec![Ok(encode(&msg))]);
}

#[test]
fn hello_max_size_is_small() {
    let mut h = Hello::new(
        Role::Spike,
        WireId(u32::MAX),
        EndpointId(u32::MAX),
        u16::MAX,
        Features(u64::MAX),
    );
    for i in 0..MAX_MACS as u8 {
        h.push_mac(MacAddr([2, 0, 0, 0, 0, i])).unwrap();
    }
    assert!(h.push_mac(MacAddr([2; 6])).is_err());
    assert_eq!(Message::Hello(h).encoded_len(), 52);
}

/// The frozen prefix: a Hello's first body bytes are major, minor.
#[test]
fn hello_version_prefix_is_frozen() {
    let h = Hello::new(Role::Corm, WireId(1), EndpointId(2), 1500, Features::NONE);
    let bytes = encode(&Message::Hello(h));
    assert_eq!(
        &bytes[..3],
        &[
            MessageKind::Hello as u8,
            PROTOCOL_VERSION.major,
            PROTOCOL_VERSION.minor
        ]
    );
}

/// The decoder is zero-copy for records that sit wholly inside one chunk.
#[test]
fn stream_fast_path_borrows_input() {
    let payload = [0xAB; 64];
    let rec = record(&Message::Frame(Frame::new(&payload)));
    let mut two = rec.clone();
    two.extend_from_slice(&rec);
    let mut dec = decoder();
    let mut input: &[u8] = &two;
    let range = two.as_ptr_range();
    for _ in 0..2 {
        let body = dec.next_record(&mut input).unwrap().unwrap();
        assert!(range.contains(&body.as_ptr()));
    }
    assert!(input.is_empty());
    assert_eq!(dec.next_record(&mut input), Ok(None));
}

#[cfg(feature = "std")]
#[test]
fn std_helpers_match_slice_encoders() {
    let payload = [1u8; 100];
    let msg = Message::Frame(Frame::new(&payload));
    assert_eq!(msg.to_vec().unwrap(), encode(&msg));
    assert_eq!(
        wire_proto::stream::encode_record_vec(&msg).unwrap(),
        record(&msg)
    );
    let header = DatagramHeader {
        wire: WireId(3),
        seq: 9,
    };
    assert_eq!(
        wire_proto::datagram::encode_datagram_vec(&header, &msg).unwrap(),
        datagram(&header, &msg)
    );
    let mut dec = StreamDecoder::new_boxed();
    let rec = record(&msg);
    let mut input: &[u8] = &rec;
    assert_eq!(dec.next_message(&mut input), Ok(Some(msg)));
}
