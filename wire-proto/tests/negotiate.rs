//! The negotiation state machine, driven over in-memory "links".

mod common;

use common::*;
use proptest::prelude::*;
use wire_proto::*;

fn spike() -> Hello {
    let mut h = Hello::new(
        Role::Spike,
        WireId(42),
        EndpointId(0x0101),
        1500,
        Features::KNOWN,
    );
    h.push_mac(MacAddr([0x00, 0x16, 0x3e, 0, 0, 1])).unwrap();
    h
}

fn corm() -> Hello {
    Hello::new(
        Role::Corm,
        WireId(42),
        EndpointId(0x0900),
        9000,
        Features::CSUM | Features::GSO_TCPV4 | Features(1 << 40),
    )
}

/// Run the symmetric handshake over a perfect ordered link; returns both ends' params.
fn handshake(a: &mut Negotiator, b: &mut Negotiator) -> (Params, Params) {
    let (ha, hb) = (a.hello(), b.hello());
    let Step::Reply(ack_b) = b.on_message(ha).unwrap() else {
        panic!("b did not ack")
    };
    let Step::Reply(ack_a) = a.on_message(hb).unwrap() else {
        panic!("a did not ack")
    };
    let Step::Established(pa) = a.on_message(Message::HelloAck(ack_b)).unwrap() else {
        panic!()
    };
    let Step::Established(pb) = b.on_message(Message::HelloAck(ack_a)).unwrap() else {
        panic!()
    };
    (pa, pb)
}

#[test]
fn happy_path_agrees_on_min_and_intersection() {
    let mut s = Negotiator::new(spike());
    let mut c = Negotiator::new(corm()).expect_peer(EndpointId(0x0101));
    let (ps, pc) = handshake(&mut s, &mut c);
    assert_eq!(ps, pc);
    assert_eq!(ps.mtu, 1500);
    assert_eq!(ps.version, PROTOCOL_VERSION);
    // Unknown bit 40 dropped; GSO_TCPV6 only on one side.
    assert_eq!(ps.features, Features::CSUM | Features::GSO_TCPV4);
    assert!(s.is_established() && c.is_established());
    assert_eq!(c.peer(), Some(&spike()));
    assert_eq!(s.params(), Some(&ps));
}

#[test]
fn minor_is_min() {
    let mut newer = corm();
    newer.version.minor = 3;
    let p = Params::agree(&spike(), &newer).unwrap();
    assert_eq!(
        p.version,
        Version {
            major: PROTOCOL_VERSION.major,
            minor: 0
        }
    );
}

#[test]
fn frame_before_negotiation_is_error() {
    let mut s = Negotiator::new(spike());
    let payload = [0u8; 60];
    let err = s
        .on_message(Message::Frame(Frame::new(&payload)))
        .unwrap_err();
    assert_eq!(err, NegotiationError::FrameBeforeNegotiation);
    assert!(!err.is_fatal());
    // Still after the peer's hello but before its ack.
    s.on_message(corm_msg()).unwrap();
    assert_eq!(
        s.on_message(Message::Frame(Frame::new(&payload))),
        Err(NegotiationError::FrameBeforeNegotiation)
    );
    assert_eq!(
        s.on_message(Message::Keepalive(Keepalive { seq: 0 })),
        Err(NegotiationError::UnexpectedMessage(MessageKind::Keepalive))
    );
}

fn corm_msg() -> Message<'static> {
    Message::Hello(corm())
}

#[test]
fn frames_policed_after_negotiation() {
    let mut s = Negotiator::new(spike());
    let mut c = Negotiator::new(corm());
    handshake(&mut s, &mut c);
    let payload = vec![0u8; 1518];
    let ok = Frame::new(&payload).with_checksum(Checksum::Partial {
        start: 34,
        offset: 16,
    });
    assert_eq!(s.on_message(Message::Frame(ok)), Ok(Step::Frame(ok)));
    let too_big = vec![0u8; 1519];
    assert_eq!(
        s.on_message(Message::Frame(Frame::new(&too_big))),
        Err(NegotiationError::Frame(FrameError::ExceedsMtu {
            len: 1519,
            mtu: 1500
        }))
    );
    let gso6 = Frame::new(&too_big)
        .with_checksum(Checksum::Partial {
            start: 54,
            offset: 16,
        })
        .with_gso(Gso {
            kind: GsoKind::TcpV6,
            size: 1440,
        });
    assert_eq!(
        s.check_frame(&gso6),
        Err(NegotiationError::Frame(FrameError::FeatureNotNegotiated(
            Features::GSO_TCPV6
        )))
    );
    let gso4 = Frame {
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            size: 1460,
        }),
        ..gso6
    };
    assert_eq!(s.check_frame(&gso4), Ok(()));
    assert_eq!(
        s.on_message(Message::Keepalive(Keepalive { seq: 3 })),
        Ok(Step::Keepalive(Keepalive { seq: 3 }))
    );
}

#[test]
fn checksum_metadata_needs_csum_feature() {
    let mut plain = corm();
    plain.features = Features::NONE;
    let p = Params::agree(&spike(), &plain).unwrap();
    let payload = [0u8; 100];
    assert_eq!(
        p.check_frame(&Frame::new(&payload).with_checksum(Checksum::Validated)),
        Err(FrameError::FeatureNotNegotiated(Features::CSUM))
    );
    assert_eq!(p.check_frame(&Frame::new(&payload)), Ok(()));
}

#[test]
fn refusals() {
    let cases: Vec<(Hello, RefusalReason)> = vec![
        (
            Hello {
                wire: WireId(43),
                ..corm()
            },
            RefusalReason::WrongWire,
        ),
        (
            Hello {
                mtu: 1279,
                ..corm()
            },
            RefusalReason::MtuOutOfRange,
        ),
        (
            Hello {
                mtu: MAX_MTU + 1,
                ..corm()
            },
            RefusalReason::MtuOutOfRange,
        ),
        (
            Hello {
                version: Version {
                    major: PROTOCOL_VERSION.major + 1,
                    minor: 0,
                },
                ..corm()
            },
            RefusalReason::IncompatibleMajor,
        ),
    ];
    let mut two_corms = Negotiator::new(corm());
    assert_eq!(
        two_corms.on_message(Message::Hello(corm())),
        Ok(Step::Refuse {
            reply: HelloAck::Refuse(RefusalReason::RoleMismatch),
            reason: RefusalReason::RoleMismatch
        })
    );
    let mut two_spikes = Negotiator::new(spike());
    assert!(matches!(
        two_spikes.on_message(Message::Hello(spike())),
        Ok(Step::Reply(_))
    ));
    for (peer, reason) in cases {
        let mut s = Negotiator::new(spike());
        assert_eq!(
            s.on_message(Message::Hello(peer.clone())),
            Ok(Step::Refuse {
                reply: HelloAck::Refuse(reason),
                reason
            }),
            "{peer:?}"
        );
        assert!(s.is_failed());
        assert_eq!(
            s.on_message(Message::Hello(peer)),
            Err(NegotiationError::Failed)
        );
    }
    // Spike without MAC, seen from a Corm.
    let mut c = Negotiator::new(corm());
    let mut bare = spike();
    bare.macs.clear();
    assert!(matches!(
        c.on_message(Message::Hello(bare)),
        Ok(Step::Refuse {
            reason: RefusalReason::MissingMac,
            ..
        })
    ));
    // Unexpected endpoint.
    let mut c = Negotiator::new(corm()).expect_peer(EndpointId(1));
    assert!(matches!(
        c.on_message(Message::Hello(spike())),
        Ok(Step::Refuse {
            reason: RefusalReason::UnexpectedEndpoint,
            ..
        })
    ));
    // Incompatible major seen at decode time.
    let mut s = Negotiator::new(spike());
    assert_eq!(
        s.on_incompatible_hello(Version { major: 9, minor: 0 }),
        Step::Refuse {
            reply: HelloAck::Refuse(RefusalReason::IncompatibleMajor),
            reason: RefusalReason::IncompatibleMajor
        }
    );
}

/// A Corm told which MACs an endpoint may carry refuses a Spike claiming
/// others (a compromised Spike impersonating another guest).
#[test]
fn macs_outside_the_allowed_list_are_refused() {
    let own = MacAddr([0x00, 0x16, 0x3e, 0, 0, 1]);
    let mut c = Negotiator::new(corm()).allow_macs(&[own]);
    let mut s = Negotiator::new(spike());
    handshake(&mut s, &mut c);
    for allowed in [&[][..], &[MacAddr([0x00, 0x16, 0x3e, 0, 0, 2])][..]] {
        let mut c = Negotiator::new(corm()).allow_macs(allowed);
        assert!(matches!(
            c.on_message(Message::Hello(spike())),
            Ok(Step::Refuse {
                reason: RefusalReason::MacNotAllowed,
                ..
            })
        ));
        assert!(c.is_failed());
    }
    // One allowed and one foreign MAC: refused as a whole.
    let mut two = spike();
    two.push_mac(MacAddr([0x00, 0x16, 0x3e, 0, 0, 9])).unwrap();
    let mut c = Negotiator::new(corm()).allow_macs(&[own]);
    assert!(matches!(
        c.on_message(Message::Hello(two)),
        Ok(Step::Refuse {
            reason: RefusalReason::MacNotAllowed,
            ..
        })
    ));
    assert_eq!(u8::from(RefusalReason::MacNotAllowed), 8);
    assert_eq!(RefusalReason::from(8), RefusalReason::MacNotAllowed);
}

#[test]
fn peer_refusal_and_close_are_terminal() {
    let mut s = Negotiator::new(spike());
    let err = s
        .on_message(Message::HelloAck(HelloAck::Refuse(
            RefusalReason::WrongWire,
        )))
        .unwrap_err();
    assert_eq!(err, NegotiationError::PeerRefused(RefusalReason::WrongWire));
    assert!(err.is_fatal() && s.is_failed());
    let mut s = Negotiator::new(spike());
    assert_eq!(
        s.on_message(Message::Close(Close {
            reason: CloseReason::Shutdown
        })),
        Ok(Step::PeerClosed(CloseReason::Shutdown))
    );
    assert!(s.is_failed());
}

#[test]
fn mismatched_ack_is_fatal() {
    let mut s = Negotiator::new(spike());
    let Step::Reply(HelloAck::Accept(ours)) = s.on_message(corm_msg()).unwrap() else {
        panic!()
    };
    let theirs = Params { mtu: 1400, ..ours };
    assert_eq!(
        s.on_message(Message::HelloAck(HelloAck::Accept(theirs))),
        Err(NegotiationError::AgreementMismatch { ours, theirs })
    );
    assert!(s.is_failed());
}

#[test]
fn retransmissions_and_reordering() {
    let mut s = Negotiator::new(spike());
    let mut c = Negotiator::new(corm());
    // Corm's ack overtakes its hello: ignored.
    let Step::Reply(ack_c) = c.on_message(s.hello()).unwrap() else {
        panic!()
    };
    assert_eq!(s.on_message(Message::HelloAck(ack_c)), Ok(Step::Nothing));
    // Then the hello arrives; spike acks.
    let Step::Reply(ack_s) = s.on_message(c.hello()).unwrap() else {
        panic!()
    };
    // Spike retransmits its hello; corm re-acks identically.
    assert_eq!(c.on_message(s.hello()), Ok(Step::Reply(ack_c)));
    assert!(matches!(
        s.on_message(Message::HelloAck(ack_c)),
        Ok(Step::Established(_))
    ));
    assert!(matches!(
        c.on_message(Message::HelloAck(ack_s)),
        Ok(Step::Established(_))
    ));
    // Duplicates after establishment are absorbed.
    assert_eq!(s.on_message(Message::HelloAck(ack_c)), Ok(Step::Nothing));
    assert_eq!(s.on_message(c.hello()), Ok(Step::Reply(ack_s)));
    // A different hello is fatal.
    let changed = Hello {
        mtu: 1400,
        ..corm()
    };
    assert_eq!(
        s.on_message(Message::Hello(changed)),
        Err(NegotiationError::HelloChanged)
    );
    assert!(s.is_failed());
}

proptest! {
    /// Agreement is symmetric for every pair of compatible hellos.
    #[test]
    fn agreement_is_symmetric(a in hello(), b in hello()) {
        let b = Hello { role: a.role.peer(), wire: a.wire, ..b };
        match (Params::agree(&a, &b), Params::agree(&b, &a)) {
            (Ok(x), Ok(y)) => {
                prop_assert_eq!(x, y);
                prop_assert_eq!(x.mtu, a.mtu.min(b.mtu));
                prop_assert!(Features::KNOWN.contains(x.features));
                prop_assert!(a.features.contains(x.features) && b.features.contains(x.features));
            }
            (Err(_), _) | (_, Err(_)) => {}
        }
    }

    /// Full handshake through encoded datagrams with arbitrary (valid) hellos.
    #[test]
    fn handshake_over_encoded_messages(mtu_a in MIN_MTU..=MAX_MTU, mtu_b in MIN_MTU..=MAX_MTU, fa in any::<u64>(), fb in any::<u64>()) {
        let mut a = Negotiator::new(Hello { mtu: mtu_a, features: Features(fa), ..spike() });
        let mut b = Negotiator::new(Hello { mtu: mtu_b, features: Features(fb), ..corm() });
        let wire = WireId(42);
        let (mut ta, mut tb) = (DatagramSender::new(wire), DatagramSender::new(wire));
        let (mut ra, mut rb) = (DatagramReceiver::new(wire), DatagramReceiver::new(wire));
        let mut buf = vec![0u8; 256];
        let n = ta.encode(&a.hello(), &mut buf).unwrap();
        let Step::Reply(ack_b) = b.on_message(rb.receive(&buf[..n]).unwrap()).unwrap() else { panic!() };
        let n = tb.encode(&b.hello(), &mut buf).unwrap();
        let Step::Reply(ack_a) = a.on_message(ra.receive(&buf[..n]).unwrap()).unwrap() else { panic!() };
        let n = tb.encode(&Message::HelloAck(ack_b), &mut buf).unwrap();
        let Step::Established(pa) = a.on_message(ra.receive(&buf[..n]).unwrap()).unwrap() else { panic!() };
        let n = ta.encode(&Message::HelloAck(ack_a), &mut buf).unwrap();
        let Step::Established(pb) = b.on_message(rb.receive(&buf[..n]).unwrap()).unwrap() else { panic!() };
        prop_assert_eq!(pa, pb);
        prop_assert_eq!(pa.mtu, mtu_a.min(mtu_b));
        prop_assert_eq!(pa.features, Features(fa & fb).known());
    }
}
