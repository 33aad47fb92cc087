//! The channel over real rings in heap memory: negotiation, frames moved in
//! place both ways, backpressure, refusals, keepalives and liveness.

use local_wire::channel::{Channel, Identity, Lost, TxError, DEAD_NS, KEEPALIVE_NS};
use local_wire::{HeapMemory, RingPages, WireEnd};
use wire_proto::{Checksum, Features, FrameMeta, Gso, GsoKind, Role};

const GUEST: [u8; 6] = [0, 0x16, 0x3e, 0, 0, 1];
const ALL: Features = Features(Features::CSUM.0 | Features::GSO_TCPV4.0 | Features::GSO_TCPV6.0);

fn spike() -> Identity {
    Identity {
        role: Role::Spike,
        endpoint: 0,
        features: ALL,
        mtu: 1500,
    }
}

fn corm(features: Features) -> Identity {
    Identity {
        role: Role::Corm,
        endpoint: 3,
        features,
        mtu: 1500,
    }
}

/// A Corm end (side A) and a Spike end (side B) on one wire, attached.
fn pair(k: u32, corm_features: Features) -> (Channel<HeapMemory>, Channel<HeapMemory>) {
    let mem = HeapMemory::new(RingPages::new(k).unwrap());
    let a = WireEnd::offer(mem.clone(), 0).unwrap();
    let b = WireEnd::accept(mem).unwrap();
    let mut c = Channel::new(7, corm(corm_features));
    let mut s = Channel::new(7, spike());
    c.attach(a, 0);
    s.attach(b, 0);
    (c, s)
}

/// Polls both ends until neither has anything to say.
fn settle(c: &mut Channel<HeapMemory>, s: &mut Channel<HeapMemory>, now: u64) {
    for _ in 0..8 {
        c.poll(now);
        s.poll(now);
    }
}

fn established(k: u32) -> (Channel<HeapMemory>, Channel<HeapMemory>) {
    let (mut c, mut s) = pair(k, ALL);
    s.announce(&[GUEST]);
    settle(&mut c, &mut s, 1);
    assert!(c.is_established() && s.is_established());
    (c, s)
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
    f[6..12].copy_from_slice(&GUEST);
    f
}

#[test]
fn a_spike_negotiates_only_once_it_has_a_mac() {
    let (mut c, mut s) = pair(2, Features::CSUM);
    settle(&mut c, &mut s, 1);
    assert!(!c.is_established() && !s.is_established());
    s.announce(&[GUEST]);
    // The Corm's first hello was dropped by the Spike; it comes again.
    settle(&mut c, &mut s, 1 + 2 * wire_proto_retry());
    assert!(c.is_established() && s.is_established());
    assert_eq!(c.peer_macs().collect::<Vec<_>>(), vec![GUEST]);
    assert_eq!(s.params().unwrap().features, Features::CSUM);
}

fn wire_proto_retry() -> u64 {
    local_wire::channel::HELLO_RETRY_NS
}

#[test]
fn frames_move_in_place_both_ways() {
    let (mut c, mut s) = established(RingPages::FOR_FRAMES.get());
    // Spike -> Corm: reserve, fill with a volatile copy, commit with metadata.
    let f = frame(1514, 1);
    let meta = FrameMeta {
        checksum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: None,
    };
    let slot = s.tx_reserve(f.len()).unwrap();
    assert_eq!(slot.capacity(), f.len());
    s.tx_write(&slot, 0, &f);
    s.tx_commit(slot, f.len(), meta).unwrap();
    assert!(s.tx_flush(2), "the Corm armed its kick at attach");
    let got = c.recv(2).expect("a frame");
    assert_eq!((got.len(), got.meta), (f.len(), meta));
    let mut buf = vec![0; got.len()];
    c.rx_read(&got, 0, &mut buf);
    assert_eq!(buf, f);
    c.rx_release(&got);
    assert!(c.recv(2).is_none());
    let _ = c.rx_finish();
    // Corm -> Spike: in place, the way a NIC's receive path fills it.
    let big = frame(60_000, 2);
    let gso = FrameMeta {
        checksum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            size: 1448,
        }),
    };
    let slot = c.tx_reserve(65_000).unwrap();
    // SAFETY: the Corm's send direction is not written by the test's Spike.
    unsafe { c.tx_frame_mut(&slot)[..big.len()].copy_from_slice(&big) };
    c.tx_commit(slot, big.len(), gso).unwrap();
    let _ = c.tx_flush(3);
    let got = s.recv(3).expect("a frame");
    assert_eq!((got.len(), got.meta), (big.len(), gso));
    let mut tail = [0u8; 100];
    s.rx_read(&got, big.len() - 100, &mut tail);
    assert_eq!(&tail[..], &big[big.len() - 100..]);
    assert_eq!(s.counters.rx_frames, 1);
    assert_eq!(c.counters.tx_bytes, big.len() as u64);
}

#[test]
fn unagreed_metadata_and_oversize_frames_cost_the_frame_not_the_wire() {
    let (mut c, mut s) = pair(2, Features::NONE);
    s.announce(&[GUEST]);
    settle(&mut c, &mut s, 1);
    let partial = FrameMeta {
        checksum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: None,
    };
    let f = frame(100, 3);
    assert!(matches!(s.send(&f, partial), Err(TxError::Refused(_))));
    assert!(matches!(
        s.send(&frame(1600, 3), FrameMeta::NONE),
        Err(TxError::Refused(_))
    ));
    assert_eq!(s.tx_reserve(70_000), Err(TxError::TooLarge));
    assert_eq!(s.counters.tx_refused, 2);
    // The metadata must fit the frame.
    let bad = FrameMeta {
        checksum: Checksum::Partial {
            start: 90,
            offset: 16,
        },
        gso: None,
    };
    let slot = s.tx_reserve(100).unwrap();
    assert_eq!(s.tx_commit(slot, 100, bad), Err(TxError::Invalid));
    s.send(&f, FrameMeta::NONE).unwrap();
    let _ = s.tx_flush(2);
    let got = c.recv(2).unwrap();
    assert_eq!(got.len(), 100);
    assert!(s.lost().is_none() && c.lost().is_none());
    assert!(s.is_established());
}

#[test]
fn a_hostile_peer_frame_is_dropped_and_counted() {
    let (mut c, mut s) = pair(2, Features::NONE);
    s.announce(&[GUEST]);
    settle(&mut c, &mut s, 1);
    // The Spike sends what was not agreed by writing the header itself.
    let partial = FrameMeta {
        checksum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: None,
    };
    let f = frame(100, 4);
    let mut rec = wire_proto::frame::emit_header(&partial).to_vec();
    rec.extend_from_slice(&f);
    // Through a raw end (the channel would refuse it).
    let mut end = s.detach().unwrap();
    end.tx().send_record(&rec).unwrap();
    let _ = end.tx().flush();
    s.attach(end, 1);
    assert!(c.recv(2).is_none());
    assert_eq!(c.counters.rx_refused_frame, 1);
    assert!(c.lost().is_none());
}

#[test]
fn a_full_ring_is_backpressure_not_loss() {
    let (mut c, mut s) = established(1);
    let f = frame(1000, 5);
    let mut sent = 0;
    loop {
        match s.send(&f, FrameMeta::NONE) {
            Ok(()) => sent += 1,
            Err(TxError::Full) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    // 1012-byte records (1016 with header): three or four fit 4 KiB,
    // depending on where the control records left the index.
    assert!((3..=4).contains(&sent), "{sent}");
    assert!(s.tx_flush(2));
    let mut got = 0;
    while let Some(r) = c.recv(2) {
        c.rx_release(&r);
        got += 1;
    }
    assert_eq!(got, sent);
    assert!(c.rx_finish().notify, "the full sender is kicked");
    s.send(&f, FrameMeta::NONE).unwrap();
}

#[test]
fn rewound_frames_come_back() {
    let (mut c, mut s) = established(2);
    for i in 0..3 {
        s.send(&frame(60, i), FrameMeta::NONE).unwrap();
    }
    let _ = s.tx_flush(2);
    let first = c.recv(2).unwrap();
    let _second = c.recv(2).unwrap();
    c.rx_release(&first);
    c.rx_rewind();
    let again = c.recv(2).unwrap();
    let mut b = [0u8; 16];
    c.rx_read(&again, 0, &mut b);
    assert_eq!(b[12..16], frame(60, 1)[12..16]);
}

#[test]
fn keepalives_keep_an_idle_wire_and_silence_loses_it() {
    let (mut c, mut s) = established(2);
    let mut now = 1;
    for _ in 0..30 {
        now += KEEPALIVE_NS;
        c.poll(now);
        s.poll(now);
        assert!(c.is_established() && s.is_established());
    }
    assert!(c.counters.keepalives_sent >= 25);
    // The Spike hangs: the Corm notices within DEAD_NS.
    for _ in 0..=(DEAD_NS / KEEPALIVE_NS) {
        now += KEEPALIVE_NS;
        c.poll(now);
    }
    assert_eq!(c.lost(), Some(Lost::Silent));
    assert_eq!(c.counters.wire_errors, 1);
    assert_eq!(c.tx_reserve(60), Err(TxError::Lost));
}

#[test]
fn a_closed_or_corrupt_peer_is_a_lost_wire() {
    let (mut c, mut s) = established(2);
    let mut end = s.detach().unwrap();
    assert!(end.close());
    c.poll(5);
    assert!(matches!(c.lost(), Some(Lost::Wire(_))));
}

#[test]
fn new_macs_renegotiate() {
    let (mut c, mut s) = established(2);
    s.announce(&[GUEST]);
    assert!(s.lost().is_none(), "the same MACs change nothing");
    s.announce(&[GUEST, [0, 0x16, 0x3e, 0, 0, 2]]);
    assert_eq!(s.lost(), Some(Lost::Negotiation));
    let _ = &mut c;
}

#[test]
fn fewer_offloads_renegotiate_and_are_agreed() {
    let (mut c, mut s) = established(2);
    assert_eq!(s.params().unwrap().features, ALL);
    s.offer(Features::CSUM);
    assert_eq!(s.lost(), Some(Lost::Negotiation));
    // The set-up starts over: a fresh ring pair, the same channels.
    let mem = HeapMemory::new(RingPages::new(2).unwrap());
    let _ = c.detach();
    let _ = s.detach();
    c.attach(WireEnd::offer(mem.clone(), 0).unwrap(), 2);
    s.attach(WireEnd::accept(mem).unwrap(), 2);
    settle(&mut c, &mut s, 2);
    assert_eq!(s.params().unwrap().features, Features::CSUM);
    assert_eq!(c.params().unwrap().features, Features::CSUM);
}

/// Issue 9 B.5: a peer that repeats its hello while our ring is full gets
/// one pending ack, not one per hello.
#[test]
fn repeated_hellos_get_one_pending_ack() {
    let (mut c, mut s) = pair(1, ALL);
    s.announce(&[GUEST]);
    // Fill the Corm's send ring so its acks must wait.
    let mut end = c.detach().unwrap();
    while end.tx().send_record(&[9u8; 1000]).is_ok() {}
    c.attach(end, 1);
    let hello = {
        let mut h = wire_proto::Hello::new(
            Role::Spike,
            wire_proto::WireId(7),
            wire_proto::EndpointId(0),
            1500,
            ALL,
        );
        h.push_mac(wire_proto::MacAddr(GUEST)).unwrap();
        wire_proto::Message::Hello(h)
    };
    let mut rec = vec![0u8; 64];
    let n = hello.encode(&mut rec).unwrap();
    let mut peer = s.detach().unwrap();
    for _ in 0..20 {
        let _ = peer.tx().send_record(&rec[..n]);
        let _ = peer.tx().flush();
        c.poll(2);
    }
    assert_eq!(
        c.counters.tx_control_dropped, 0,
        "duplicates are not even queued"
    );
}

/// A Corm told which MACs the endpoint may carry refuses a Spike announcing
/// another; both ends say why, the refusal is counted, and nothing flows.
#[test]
fn a_hello_with_a_foreign_mac_is_refused_and_counted() {
    let (mut c, mut s) = pair(2, ALL);
    c.allow_macs(Some(&[[0, 0x16, 0x3e, 0, 0, 2]]));
    s.announce(&[GUEST]);
    settle(&mut c, &mut s, 1);
    assert!(!c.is_established());
    assert_eq!(
        c.lost(),
        Some(Lost::Refused(wire_proto::RefusalReason::MacNotAllowed))
    );
    assert_eq!(c.counters.hellos_refused, 1);
    assert_eq!(
        s.lost(),
        Some(Lost::PeerRefused(wire_proto::RefusalReason::MacNotAllowed))
    );
    // The allowed MAC negotiates on a fresh set-up.
    let (mut c, mut s) = pair(2, ALL);
    c.allow_macs(Some(&[GUEST]));
    s.announce(&[GUEST]);
    settle(&mut c, &mut s, 1);
    assert!(c.is_established() && s.is_established());
    // Withdrawing the permission renegotiates (and is then refused).
    c.allow_macs(Some(&[]));
    assert_eq!(c.lost(), Some(Lost::Negotiation));
    // The refuser tears down at once: the refused end learns why from the
    // records left in the ring before it lets the end go.
    let (mut c, mut s) = pair(2, ALL);
    c.allow_macs(Some(&[[0, 0x16, 0x3e, 0, 0, 2]]));
    s.announce(&[GUEST]);
    s.poll(1);
    c.poll(1);
    assert!(c.lost().is_some());
    assert!(c.detach().unwrap().close());
    assert_eq!(
        s.drain_control(2),
        Some(Lost::PeerRefused(wire_proto::RefusalReason::MacNotAllowed))
    );
    assert_eq!(s.drain_control(3), None, "reported once");
    // An established peer the switch would not take is rejected.
    let (mut c, _s) = established(2);
    c.reject(wire_proto::RefusalReason::MacNotAllowed);
    assert_eq!(
        c.lost(),
        Some(Lost::Refused(wire_proto::RefusalReason::MacNotAllowed))
    );
}
