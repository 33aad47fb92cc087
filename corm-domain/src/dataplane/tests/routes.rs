//! Every route of a frame through the data plane, with what it must look
//! like where it arrives.

use std::vec::Vec;

use net_offload::checksum;
use netframe::{Checksum, FrameMeta, Gso, GsoKind, MAX_FRAME_LEN};

use super::*;

const ACK: u8 = 0x10;
const SRC_IP: [u8; 4] = [10, 77, 0, 1];
const DST_IP: [u8; 4] = [10, 77, 0, 51];

/// An IPv4/TCP segment (DF, 12 bytes of timestamp options: a 32-byte TCP
/// header), checksums valid unless `partial`: then the TCP field holds the
/// pseudo-header sum (`CHECKSUM_PARTIAL`), as a guest hands over a GSO frame.
pub(super) fn tcp4(dst: [u8; 6], src: [u8; 6], seq: u32, payload: &[u8], partial: bool) -> Vec<u8> {
    let mut f = eth(dst, src, 0x0800, 0);
    let total = (20 + 32 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&SRC_IP);
    f.extend_from_slice(&DST_IP);
    let c = checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&5201u16.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&7u32.to_be_bytes());
    f.extend_from_slice(&[0x80, ACK, 4, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    f.extend_from_slice(payload);
    let loc = checksum::locate(&f).unwrap();
    checksum::set_pseudo(&mut f, &loc).unwrap();
    if !partial {
        checksum::complete(&mut f, loc.start.into(), loc.offset.into()).unwrap();
    }
    f
}

fn data(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i + seed) * 13 + 5) as u8).collect()
}

fn payload_of(frame: &[u8]) -> &[u8] {
    &frame[14 + 20 + 32..]
}

#[test]
fn unicast_reaches_its_endpoint_and_broadcast_every_endpoint() {
    let mut lab = Lab::new(&[None, None]);
    lab.nic.rx.push_back(eth(GUEST[0], PEER, 0x0800, 100));
    lab.nic.rx.push_back(eth([0xff; 6], PEER, 0x0806, 46));
    assert_eq!(lab.pump_from_nic(), 2);
    let to0 = lab.received(0);
    let to1 = lab.received(1);
    assert_eq!(to0.len(), 2);
    assert_eq!(to0[0].0, eth(GUEST[0], PEER, 0x0800, 100));
    assert_eq!(to1.len(), 1, "only the broadcast");
    assert_eq!(to1[0].0[..6], [0xff; 6]);
    // The peer was learned on the uplink: the guests' answers go there.
    lab.spike_sends(1, &eth(PEER, GUEST[1], 0x0800, 200), FrameMeta::NONE);
    assert!(!lab.pump_to_nic());
    assert_eq!(lab.nic.sent.len(), 1);
    assert_eq!(lab.nic.sent[0].0, eth(PEER, GUEST[1], 0x0800, 200));
    assert_eq!(lab.nic.copied, 214, "one copy, ring to NIC buffer");
}

/// Issue 9 A.1 through the data plane: a burst of 45 full segments and a
/// short one is merged in the endpoint's ring, never beyond the largest
/// frame, and reaches the Spike intact; the wire stays up.
#[test]
fn a_tcp_burst_merges_in_place_within_the_largest_frame() {
    let mut lab = Lab::new(&[None]);
    let mut stream = Vec::new();
    let mut seq = 1000u32;
    for k in 0..46 {
        let n = if k < 45 {
            1448
        } else {
            65535 - 20 - 32 - 45 * 1448
        };
        let p = data(n, k);
        stream.extend_from_slice(&p);
        lab.nic.rx.push_back(tcp4(GUEST[0], PEER, seq, &p, false));
        seq = seq.wrapping_add(n as u32);
    }
    assert_eq!(lab.pump_from_nic(), 46);
    let got = lab.received(0);
    let mut rebuilt = Vec::new();
    for (f, meta) in &got {
        assert!(f.len() <= MAX_FRAME_LEN);
        rebuilt.extend_from_slice(payload_of(f));
        if meta.gso.is_some() {
            assert!(matches!(meta.checksum, Checksum::Partial { .. }));
        }
    }
    assert_eq!(rebuilt, stream);
    assert_eq!(got.len(), 2, "45 merged, the last one alone");
    assert_eq!(
        got[0].1.gso,
        Some(Gso {
            kind: GsoKind::TcpV4,
            size: 1448
        })
    );
    assert_eq!(lab.dp.counters.gro_merges, 1);
    assert_eq!(lab.dp.counters.gro_segments, 45);
    assert!(lab.spikes[0].is_established() && lab.dp.wire_of(0) == Some((10, true)));
}

#[test]
fn a_gso_frame_goes_to_a_tso_nic_whole() {
    let mut lab = Lab::new(&[None]);
    lab.nic = FakeNic::new().with_offloads();
    let f = tcp4(PEER, GUEST[0], 1, &data(20000, 1), true);
    let meta = FrameMeta {
        checksum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            size: 1448,
        }),
    };
    lab.spike_sends(0, &f, meta);
    lab.pump_to_nic();
    assert_eq!(lab.nic.sent.len(), 1);
    let (sent, off) = &lab.nic.sent[0];
    assert_eq!(sent, &f);
    let off = off.unwrap();
    assert_eq!(
        (off.l4_start, off.csum_offset, off.tso_mss, off.l4_len),
        (34, 16, Some(1448), 32)
    );
    assert_eq!(lab.dp.counters.tso_frames, 1);
    assert_eq!(lab.nic.copied, f.len());
}

#[test]
fn a_gso_frame_is_segmented_for_a_nic_without_tso_and_for_a_vlan() {
    for vlan in [None, Some(20)] {
        let mut lab = Lab::new(&[vlan]);
        let payload = data(10_000, 2);
        let f = tcp4(PEER, GUEST[0], 5, &payload, true);
        let meta = FrameMeta {
            checksum: Checksum::Partial {
                start: 34,
                offset: 16,
            },
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                size: 1448,
            }),
        };
        lab.spike_sends(0, &f, meta);
        lab.pump_to_nic();
        let segs = &lab.nic.sent;
        assert_eq!(segs.len(), 10_000usize.div_ceil(1448));
        let mut rebuilt = Vec::new();
        for (s, off) in segs {
            assert!(off.is_none());
            let s = match vlan {
                Some(v) => {
                    assert_eq!(&s[12..16], &[0x81, 0, 0, v as u8]);
                    let mut u = s[..12].to_vec();
                    u.extend_from_slice(&s[16..]);
                    u
                }
                None => s.clone(),
            };
            assert_eq!(checksum::verify_l4(&s), Ok(true));
            assert!(s.len() <= 1514);
            rebuilt.extend_from_slice(payload_of(&s));
        }
        assert_eq!(rebuilt, payload);
        assert_eq!(lab.dp.counters.gso_segments as usize, segs.len());
        // Each byte copied once: the segments' headers are new, the rest
        // came straight from the ring.
        let total: usize = segs.iter().map(|(s, _)| s.len()).sum();
        assert_eq!(lab.nic.copied, total);
    }
}

#[test]
fn a_partial_checksum_is_completed_in_the_copy() {
    let mut lab = Lab::new(&[None]);
    let f = tcp4(PEER, GUEST[0], 9, &data(500, 3), true);
    let meta = FrameMeta {
        checksum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: None,
    };
    lab.spike_sends(0, &f, meta);
    lab.pump_to_nic();
    assert_eq!(lab.nic.sent.len(), 1);
    assert_eq!(checksum::verify_l4(&lab.nic.sent[0].0), Ok(true));
    assert_eq!(lab.dp.counters.csum_software, 1);
}

#[test]
fn guest_to_guest_goes_ring_to_ring() {
    let mut lab = Lab::new(&[None, None]);
    // Each guest announces itself (learned on its endpoint).
    lab.spike_sends(1, &eth([0xff; 6], GUEST[1], 0x0806, 46), FrameMeta::NONE);
    lab.pump_to_nic();
    lab.received(0);
    let f = eth(GUEST[1], GUEST[0], 0x0800, 3000 - 14);
    lab.spike_sends(0, &f[..1514], FrameMeta::NONE);
    lab.pump_to_nic();
    let got = lab.received(1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, &f[..1514]);
    assert_eq!(lab.nic.sent.len(), 1, "only the broadcast went out");
}

#[test]
fn spoofed_sources_and_tags_from_a_spike_are_dropped() {
    let mut lab = Lab::new(&[None, None]);
    lab.spike_sends(0, &eth(PEER, GUEST[1], 0x0800, 100), FrameMeta::NONE);
    lab.spike_sends(0, &eth(PEER, GUEST[0], 0x8100, 100), FrameMeta::NONE);
    lab.pump_to_nic();
    assert!(lab.nic.sent.is_empty());
    let c = lab.dp.switch.counters();
    assert_eq!((c.dropped_spoofed, c.dropped_tagged_from_endpoint), (1, 1));
    assert!(lab.spikes[0].is_established());
}

#[test]
fn vlan_frames_are_tagged_out_and_untagged_in() {
    let mut lab = Lab::new(&[Some(10), Some(20)]);
    lab.spike_sends(0, &eth(PEER, GUEST[0], 0x0800, 60), FrameMeta::NONE);
    lab.pump_to_nic();
    let (out, _) = &lab.nic.sent[0];
    assert_eq!(&out[12..16], &[0x81, 0, 0, 10]);
    // A tagged answer on VLAN 10 reaches endpoint 0 untagged; one on VLAN 20
    // for the same MAC is not endpoint 0's (unknown there: flooded in VLAN 20).
    let mut back = eth(GUEST[0], PEER, 0x0800, 60);
    back.splice(12..12, [0x81, 0, 0, 10]);
    lab.nic.rx.push_back(back.clone());
    back[15] = 20;
    lab.nic.rx.push_back(back);
    lab.pump_from_nic();
    let got = lab.received(0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, eth(GUEST[0], PEER, 0x0800, 60));
    let other = lab.received(1);
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].0, eth(GUEST[0], PEER, 0x0800, 60), "untagged too");
}

#[test]
fn a_full_nic_leaves_frames_in_the_ring_until_it_has_room() {
    let mut lab = Lab::new(&[None]);
    lab.nic.space = 0;
    for i in 0..5 {
        lab.spike_sends(0, &eth(PEER, GUEST[0], 0x0800, 100 + i), FrameMeta::NONE);
    }
    assert!(lab.pump_to_nic(), "frames are left");
    assert!(lab.nic.sent.is_empty());
    assert!(lab.dp.counters.nic_backpressure >= 1);
    lab.nic.space = 256;
    assert!(!lab.pump_to_nic());
    let lens: Vec<usize> = lab.nic.sent.iter().map(|(f, _)| f.len()).collect();
    assert_eq!(lens, vec![114, 115, 116, 117, 118], "all, in order");
}

#[test]
fn a_full_endpoint_ring_costs_frames_not_the_wire() {
    let mut lab = Lab::new(&[None]);
    for _ in 0..200 {
        lab.nic.rx.push_back(eth(GUEST[0], PEER, 0x0806, 1500));
    }
    while lab.pump_from_nic() > 0 {}
    assert!(lab.dp.counters.to_wire_full > 0);
    let got = lab.received(0).len();
    assert!(got > 50 && got < 200, "{got}");
    assert!(lab.spikes[0].is_established());
    lab.nic.rx.push_back(eth(GUEST[0], PEER, 0x0806, 60));
    lab.pump_from_nic();
    assert_eq!(
        lab.received(0).len(),
        1,
        "the ring drained: frames flow again"
    );
}

#[test]
fn one_busy_endpoint_does_not_starve_another() {
    let mut lab = Lab::new(&[None, None]);
    for i in 0..100 {
        lab.spike_sends(
            0,
            &eth(PEER, GUEST[0], 0x0800, 60 + (i % 7)),
            FrameMeta::NONE,
        );
    }
    lab.spike_sends(1, &eth(PEER, GUEST[1], 0x0800, 99), FrameMeta::NONE);
    // A budget of 8 per endpoint per pass: endpoint 1's frame goes in the
    // first pass, not after endpoint 0's hundred.
    lab.dp.to_nic(&mut lab.nic, 8, lab.now);
    assert!(lab.nic.sent.iter().any(|(f, _)| f.len() == 14 + 99));
    assert!(lab.nic.sent.len() <= 16);
}

/// Issue 9 C.13: toward a Spike whose guest takes no GSO (its wire agreed
/// none), segments are passed on one by one, never merged.
#[test]
fn no_merging_toward_a_wire_without_gso() {
    let mut lab = Lab::with_spike_features(&[None], Features::CSUM);
    for k in 0..10u32 {
        let p = data(1448, k as usize);
        lab.nic
            .rx
            .push_back(tcp4(GUEST[0], PEER, 1 + k * 1448, &p, false));
    }
    lab.pump_from_nic();
    let got = lab.received(0);
    assert_eq!(got.len(), 10);
    assert!(got
        .iter()
        .all(|(f, m)| m.gso.is_none() && f.len() == 14 + 52 + 1448));
    assert_eq!(lab.dp.counters.gro_merges, 0);
    assert_eq!(lab.dp.counters.to_wire_dropped, 0);
}

#[test]
fn a_batch_rings_the_nic_doorbell_once() {
    let mut lab = Lab::new(&[None, None]);
    for i in 0..40 {
        lab.spike_sends(0, &eth(PEER, GUEST[0], 0x0800, 60 + i), FrameMeta::NONE);
        lab.spike_sends(1, &eth(PEER, GUEST[1], 0x0800, 60 + i), FrameMeta::NONE);
    }
    assert!(!lab.pump_to_nic());
    assert_eq!(lab.nic.sent.len(), 80);
    assert_eq!((lab.nic.doorbells, lab.nic.queued), (1, 0));
    assert!(!lab.pump_to_nic(), "nothing left");
    assert_eq!(lab.nic.doorbells, 1, "no frame, no doorbell");
}

#[test]
fn a_ring_full_of_unannounced_frames_is_announced_mid_batch() {
    // Room for a few frames only until the device is told about them (it
    // then completes them at once): without a doorbell before waiting for
    // room, the batch would stop after the first few.
    let mut lab = Lab::new(&[None]);
    lab.nic.space = 40;
    lab.nic.complete_on_flush = true;
    for i in 0..30 {
        lab.spike_sends(0, &eth(PEER, GUEST[0], 0x0800, 60 + i), FrameMeta::NONE);
    }
    assert!(!lab.pump_to_nic(), "all sent in one pass");
    assert_eq!(lab.nic.sent.len(), 30);
    assert!(lab.nic.doorbells >= 4, "{}", lab.nic.doorbells);
    assert_eq!(lab.nic.queued, 0);
    assert_eq!(lab.dp.counters.nic_backpressure, 0);
}
