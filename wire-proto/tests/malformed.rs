//! Malformed input: each case maps to its own error, fatal ones poison the stream decoder.

mod common;

use common::*;
use netframe::MetaError;
use wire_proto::*;

fn frame_bytes(payload: &[u8]) -> Vec<u8> {
    encode(&Message::Frame(Frame::new(payload)))
}

#[test]
fn empty_message_is_truncated() {
    assert_eq!(Message::decode(&[]), Err(DecodeError::Truncated));
}

#[test]
fn unknown_kinds() {
    for kind in [0u8, 6, 0x7f, 0xff] {
        assert_eq!(
            Message::decode(&[kind, 0, 0]),
            Err(DecodeError::UnknownKind(kind))
        );
    }
}

#[test]
fn every_truncation_of_every_kind_fails_cleanly() {
    let payload = [0x55u8; 60];
    let mut h = Hello::new(
        Role::Spike,
        WireId(300),
        EndpointId(70000),
        1500,
        Features::KNOWN,
    );
    h.push_mac(MacAddr([0, 0x16, 0x3e, 1, 2, 3])).unwrap();
    let msgs = [
        Message::Hello(h),
        Message::HelloAck(HelloAck::Accept(Params {
            version: PROTOCOL_VERSION,
            features: Features::CSUM,
            mtu: 1500,
        })),
        Message::Frame(Frame::new(&payload).with_checksum(Checksum::Partial {
            start: 34,
            offset: 6,
        })),
        Message::Keepalive(Keepalive { seq: 1 << 20 }),
        Message::Close(Close {
            reason: CloseReason::Shutdown,
        }),
    ];
    for msg in &msgs {
        let bytes = encode(msg);
        // A frame's length is the message's: cut after its header it is a
        // shorter frame (or one whose checksum field falls outside it).
        let cuts = match msg {
            Message::Frame(_) => FRAME_HEADER_LEN,
            _ => bytes.len(),
        };
        for cut in 0..cuts {
            assert_eq!(
                Message::decode(&bytes[..cut]),
                Err(DecodeError::Truncated),
                "{msg:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn oversize_message() {
    let bytes = vec![MessageKind::Frame as u8; MAX_MESSAGE_LEN + 1];
    assert_eq!(
        Message::decode(&bytes),
        Err(DecodeError::TooLarge {
            len: MAX_MESSAGE_LEN + 1,
            max: MAX_MESSAGE_LEN
        })
    );
}

#[test]
fn hello_of_another_major_reports_its_version() {
    // Whatever follows the version must not matter.
    let other = PROTOCOL_VERSION.major + 1;
    let bytes = [MessageKind::Hello as u8, other, 7, 0xff, 0xff];
    assert_eq!(
        Message::decode(&bytes),
        Err(DecodeError::UnknownVersion(Version {
            major: other,
            minor: 7
        }))
    );
}

#[test]
fn postcard_level_garbage() {
    // Hello with role index 9.
    let bad_role = [1u8, PROTOCOL_VERSION.major, 0, 9, 0, 0, 0, 0, 0];
    assert!(matches!(
        Message::decode(&bad_role),
        Err(DecodeError::Postcard(_))
    ));
    // Hello announcing 5 MACs (> MAX_MACS).
    let mut many = vec![1u8, PROTOCOL_VERSION.major, 0, 0, 1, 1, 5];
    many.extend_from_slice(&[2u8; 30]);
    many.extend_from_slice(&[0xdc, 0x0b, 0]);
    assert!(matches!(
        Message::decode(&many),
        Err(DecodeError::Postcard(_))
    ));
    // A frame header cut short, and reserved values in its flags.
    assert_eq!(Message::decode(&[3u8, 0, 0]), Err(DecodeError::Truncated));
    for flags in [0b11, 0b1100] {
        let mut f = vec![3u8, flags, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&[0; 60]);
        assert_eq!(Message::decode(&f), Err(DecodeError::BadFlags(flags)));
    }
    // Reserved flag bits and the reserved word are ignored.
    let mut f = vec![3u8, 0xf0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9];
    f.extend_from_slice(&[0; 60]);
    assert!(matches!(Message::decode(&f), Ok(Message::Frame(_))));
}

#[test]
fn invalid_frames_rejected_on_decode_and_encode() {
    let short = [0u8; ETH_HEADER_LEN - 1];
    assert_eq!(
        Message::decode(&frame_bytes_unchecked(&short, Checksum::None, None)),
        Err(DecodeError::Invalid(Invalid::Frame(MetaError::TooShort(
            13
        ))))
    );
    let p = [0u8; 60];
    let cases = [
        (
            Checksum::Partial {
                start: 10,
                offset: 2,
            },
            None,
        ), // inside the Ethernet header
        (
            Checksum::Partial {
                start: 50,
                offset: 9,
            },
            None,
        ), // 50 + 9 + 2 > 60
        (
            Checksum::None,
            Some(Gso {
                kind: GsoKind::TcpV4,
                size: 1448,
            }),
        ),
        (
            Checksum::Partial {
                start: 34,
                offset: 16,
            },
            Some(Gso {
                kind: GsoKind::TcpV4,
                size: 0,
            }),
        ),
    ];
    for (checksum, gso) in cases {
        let frame = Frame {
            checksum,
            gso,
            payload: &p,
        };
        let err = frame.validate().unwrap_err();
        let mut buf = vec![0u8; 128];
        assert_eq!(
            Message::Frame(frame).encode(&mut buf),
            Err(EncodeError::Invalid(Invalid::Frame(err)))
        );
        let bytes = frame_bytes_unchecked(&p, checksum, gso);
        assert_eq!(
            Message::decode(&bytes),
            Err(DecodeError::Invalid(Invalid::Frame(err)))
        );
    }
    let big = vec![0u8; MAX_FRAME_LEN + 1];
    let mut buf = vec![0u8; MAX_FRAME_LEN + 100];
    assert_eq!(
        Message::Frame(Frame::new(&big)).encode(&mut buf),
        Err(EncodeError::Invalid(Invalid::Frame(MetaError::TooLong(
            MAX_FRAME_LEN + 1
        ))))
    );
}

#[test]
fn group_mac_in_hello_rejected() {
    let mut h = Hello::new(Role::Spike, WireId(1), EndpointId(1), 1500, Features::NONE);
    h.push_mac(MacAddr::BROADCAST).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        Message::Hello(h.clone()).encode(&mut buf),
        Err(EncodeError::Invalid(Invalid::GroupMac))
    );
    // Hand-build it to check the decoder too.
    let mut bytes = vec![1u8, PROTOCOL_VERSION.major, 0, 0, 1, 1, 1];
    bytes.extend_from_slice(&[0xff; 6]);
    bytes.extend_from_slice(&[0xdc, 0x0b, 0]);
    assert_eq!(
        Message::decode(&bytes),
        Err(DecodeError::Invalid(Invalid::GroupMac))
    );
}

/// Build a frame message without the encoder's validation, to test the decoder's.
fn frame_bytes_unchecked(payload: &[u8], checksum: Checksum, gso: Option<Gso>) -> Vec<u8> {
    let mut out = wire_proto::frame::emit_header(&FrameMeta { checksum, gso }).to_vec();
    out.extend_from_slice(payload);
    out
}

#[test]
fn stream_zero_length_is_fatal() {
    let mut dec = decoder();
    let out = drain(&mut dec, &[&[0, 0, 0, 0, 1, 2, 3]]);
    assert_eq!(out, vec![Err(StreamError::EmptyRecord)]);
    assert!(dec.is_poisoned());
    let mut more: &[u8] = &record(&Message::Keepalive(Keepalive { seq: 1 }));
    assert_eq!(dec.next_record(&mut more), Err(StreamError::Poisoned));
    dec.reset();
    assert!(dec.next_record(&mut more).unwrap().is_some());
}

#[test]
fn stream_oversize_is_fatal_even_split() {
    let len = (MAX_MESSAGE_LEN as u32 + 1).to_le_bytes();
    for split in 0..4 {
        let mut dec = decoder();
        let out = drain(&mut dec, &[&len[..split], &len[split..]]);
        assert_eq!(
            out,
            vec![Err(StreamError::TooLarge {
                len: MAX_MESSAGE_LEN as u32 + 1,
                max: MAX_MESSAGE_LEN
            })]
        );
        assert!(dec.is_poisoned());
        assert!(StreamError::TooLarge { len: 0, max: 0 }.is_fatal());
    }
}

#[test]
fn stream_limit_follows_buffer() {
    let mut dec = StreamDecoder::new([0u8; 32]);
    assert_eq!(dec.max_body_len(), 32);
    let payload = [0u8; 64];
    let rec = record(&Message::Frame(Frame::new(&payload)));
    let mut input: &[u8] = &rec;
    assert!(matches!(
        dec.next_record(&mut input),
        Err(StreamError::TooLarge { max: 32, .. })
    ));
}

#[test]
fn stream_bad_body_is_not_fatal() {
    let mut stream = vec![3, 0, 0, 0, 0xEE, 0, 0, 0]; // record with unknown kind 0xEE, padded
    stream.extend_from_slice(&record(&Message::Keepalive(Keepalive { seq: 5 })));
    let mut dec = decoder();
    let mut input: &[u8] = &stream;
    let err = dec.next_message(&mut input).unwrap_err();
    assert_eq!(err, StreamError::Message(DecodeError::UnknownKind(0xEE)));
    assert!(!err.is_fatal());
    assert_eq!(
        dec.next_message(&mut input),
        Ok(Some(Message::Keepalive(Keepalive { seq: 5 })))
    );
}

#[test]
fn stream_partial_record_waits() {
    let msg = Message::Keepalive(Keepalive { seq: 99 });
    let rec = record(&msg);
    let body_end = RECORD_HEADER_LEN + msg.encoded_len();
    assert!(rec.len() > body_end, "this record is padded");
    let mut dec = decoder();
    let mut input: &[u8] = &rec[..body_end - 1];
    assert_eq!(dec.next_record(&mut input), Ok(None));
    assert_eq!(dec.buffered(), body_end - 1);
    // The body completes before its padding arrives; the padding is skipped after.
    let mut input: &[u8] = &rec[body_end - 1..body_end];
    assert!(dec.next_record(&mut input).unwrap().is_some());
    assert_eq!(dec.buffered(), 0);
    let mut input: &[u8] = &rec[body_end..];
    assert_eq!(dec.next_record(&mut input), Ok(None));
    assert!(input.is_empty());
    let mut input: &[u8] = &rec;
    assert!(dec.next_record(&mut input).unwrap().is_some());
}

fn good_datagram() -> Vec<u8> {
    datagram(
        &DatagramHeader {
            wire: WireId(5),
            seq: 1,
        },
        &Message::Keepalive(Keepalive { seq: 0 }),
    )
}

#[test]
fn datagram_truncated_header() {
    let d = good_datagram();
    for cut in 0..DATAGRAM_HEADER_LEN {
        assert_eq!(
            decode_datagram(&d[..cut]),
            Err(DatagramError::Truncated(cut))
        );
    }
    // Header alone: an empty message.
    assert_eq!(
        decode_datagram(&d[..DATAGRAM_HEADER_LEN]),
        Err(DatagramError::Message(DecodeError::Truncated))
    );
}

#[test]
fn datagram_bad_magic_and_version() {
    let mut d = good_datagram();
    d[0] = 0x00;
    assert_eq!(decode_datagram(&d), Err(DatagramError::BadMagic(0x004E)));
    let mut d = good_datagram();
    d[2] = 9;
    assert_eq!(decode_datagram(&d), Err(DatagramError::UnknownVersion(9)));
    // Flags are reserved and ignored.
    let mut d = good_datagram();
    d[3] = 0xff;
    assert!(decode_datagram(&d).is_ok());
}

#[test]
fn datagram_foreign_wire_and_stale() {
    let d = good_datagram();
    assert_eq!(
        DatagramReceiver::new(WireId(6)).receive(&d),
        Err(DatagramError::ForeignWire(WireId(5)))
    );
    let mut rx = DatagramReceiver::new(WireId(5));
    assert!(rx.receive(&d).is_ok());
    assert_eq!(
        rx.receive(&d),
        Err(DatagramError::Stale { seq: 1, newest: 1 })
    );
    // A Hello resets the window (peer restarted its counter).
    let hello = Message::Hello(Hello::new(
        Role::Corm,
        WireId(5),
        EndpointId(1),
        1500,
        Features::NONE,
    ));
    let h = datagram(
        &DatagramHeader {
            wire: WireId(5),
            seq: 0,
        },
        &hello,
    );
    assert_eq!(rx.receive(&h), Ok(hello));
    assert!(rx.receive(&d).is_ok());
}

#[test]
fn datagram_oversize_body() {
    let mut d = good_datagram();
    d.resize(MAX_DATAGRAM_LEN + 1, 0);
    assert_eq!(
        decode_datagram(&d),
        Err(DatagramError::Message(DecodeError::TooLarge {
            len: MAX_MESSAGE_LEN + 1,
            max: MAX_MESSAGE_LEN
        }))
    );
}

#[test]
fn packet_view_accessors_never_panic_on_short_buffers() {
    let p = DatagramPacket::new_unchecked(&[0xBAu8][..]);
    assert_eq!(
        (
            p.magic(),
            p.version(),
            p.flags(),
            p.seq(),
            p.payload().len()
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(p.wire_id(), WireId(0));
    let mut buf = [0u8; 3];
    let mut p = DatagramPacket::new_unchecked(&mut buf[..]);
    p.set_seq(5);
    p.set_wire_id(WireId(1));
    p.set_magic(DATAGRAM_MAGIC);
    assert!(p.payload_mut().is_empty());
    assert_eq!(buf, [0xBA, 0x4E, 0]);
}

#[test]
fn seq_tracker_wraps() {
    let mut t = SeqTracker::new();
    assert!(t.accept(u32::MAX - 1));
    assert!(t.accept(u32::MAX));
    assert!(t.accept(0));
    assert!(!t.accept(u32::MAX));
    assert!(t.accept(1 << 30));
    assert!(!t.is_fresh((1 << 30) + (1 << 31)));
}

#[test]
fn minimal_frame_layout() {
    // kind, flags, start, offset, gso size, reserved word, then the bytes.
    let bytes = frame_bytes(&[0xAA; 14]);
    assert_eq!(&bytes[..12], &[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(bytes.len(), 26);
    let f = Frame::new(&[0xAA; 400])
        .with_checksum(Checksum::Partial {
            start: 0x122,
            offset: 16,
        })
        .with_gso(Gso {
            kind: GsoKind::TcpV6,
            size: 1440,
        });
    let bytes = encode(&Message::Frame(f));
    assert_eq!(
        &bytes[..12],
        &[3, 0b1001, 0x22, 0x01, 16, 0, 0xa0, 0x05, 0, 0, 0, 0]
    );
}
