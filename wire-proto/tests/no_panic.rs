//! Arbitrary bytes never panic any decoder (the fuzz targets push this much further).

mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use wire_proto::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn message_decode_never_panics(bytes in vec(any::<u8>(), 0..256)) {
        let _ = Message::decode(&bytes);
    }

    /// Bytes that start with a valid kind, to get past the first check more often.
    #[test]
    fn message_decode_with_valid_kind_never_panics(kind in 1u8..=5, body in vec(any::<u8>(), 0..128)) {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&body);
        if let Ok(msg) = Message::decode(&bytes) {
            // Whatever decodes must re-encode and decode to the same thing.
            let again = encode(&msg);
            prop_assert_eq!(Message::decode(&again), Ok(msg));
        }
    }

    #[test]
    fn stream_decoder_never_panics(
        bytes in vec(any::<u8>(), 0..1024),
        sizes in vec(1usize..64, 1..6),
        small_buffer in any::<bool>(),
    ) {
        let mut dec = if small_buffer {
            StreamDecoder::new(vec![0u8; 40])
        } else {
            decoder()
        };
        let mut pieces = chunks(&bytes, &sizes).into_iter();
        for chunk in pieces.by_ref() {
            let mut input: &[u8] = chunk;
            loop {
                match dec.next_message(&mut input) {
                    Ok(Some(_)) | Err(StreamError::Message(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        prop_assert!(e.is_fatal());
                        prop_assert!(dec.is_poisoned());
                        break;
                    }
                }
            }
            if dec.is_poisoned() {
                break;
            }
        }
    }

    /// Plausible record headers with random bodies.
    #[test]
    fn stream_with_plausible_lengths_never_panics(
        records in vec((0u32..80, vec(any::<u8>(), 0..80)), 0..8),
        sizes in vec(1usize..32, 1..4),
    ) {
        let mut stream = Vec::new();
        for (len, body) in &records {
            stream.extend_from_slice(&len.to_le_bytes());
            stream.extend_from_slice(body);
        }
        let mut dec = decoder();
        for r in drain(&mut dec, &chunks(&stream, &sizes)).into_iter().flatten() {
            let _ = Message::decode(&r);
        }
    }

    #[test]
    fn datagram_decode_never_panics(bytes in vec(any::<u8>(), 0..256), wire in 0u32..4) {
        let _ = decode_datagram(&bytes);
        let mut rx = DatagramReceiver::new(WireId(wire));
        let _ = rx.receive(&bytes);
    }

    /// Datagrams with a valid header and random body.
    #[test]
    fn datagram_with_valid_header_never_panics(seq in any::<u32>(), body in vec(any::<u8>(), 0..128)) {
        let mut bytes = vec![0u8; DATAGRAM_HEADER_LEN];
        let mut p = DatagramPacket::new_unchecked(&mut bytes[..]);
        DatagramHeader { wire: WireId(1), seq }.emit(&mut p);
        bytes.extend_from_slice(&body);
        let mut rx = DatagramReceiver::new(WireId(1));
        let _ = rx.receive(&bytes);
        let _ = rx.receive(&bytes);
    }

    /// The negotiator never panics on any sequence of (decodable) messages.
    #[test]
    fn negotiator_never_panics(msgs in vec(message(), 0..8), role in role()) {
        let local = Hello::new(role, WireId(1), EndpointId(1), 1500, Features::KNOWN);
        let mut n = Negotiator::new(local);
        for m in &msgs {
            let _ = n.on_message(m.message());
        }
    }
}
