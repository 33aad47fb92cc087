//! An endpoint served by a VXLAN tunnel to a remote VTEP: decapsulated
//! frames reach the local Spike, the Spike's frames leave encapsulated once
//! the next hop answers ARP, and a tunnel endpoint takes no local wire.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::vec::Vec;

use encap::decap::Verdict;
use encap::{decapsulate, DecapConfig, Encap, Template, TemplateConfig, Vni};

use super::*;
use crate::nic::Nic;
use crate::switch::arp::parse;
use crate::tunnel::{arp, TunnelConfig, Underlay, UnderlayConfig};

const OURS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 40);
const VTEP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const VTEP_MAC: [u8; 6] = [0x02, 0x42, 0, 0, 0, 1];
/// A host behind the remote VTEP.
const REMOTE: [u8; 6] = [0x02, 0x88, 0, 0, 0, 1];

fn lab() -> Lab {
    let mut lab = Lab::new(&[None]);
    lab.dp.add_endpoint(1, None).unwrap();
    let mac = lab.nic.mac();
    let cfg = UnderlayConfig::parse("10.77.0.40/24", None).unwrap();
    lab.dp.set_underlay(Some(Underlay::new(cfg, mac, 1)));
    lab.dp
        .add_tunnel(TunnelConfig {
            wire: 20,
            endpoint: 1,
            encap: Encap::Vxlan,
            vni: Vni::new(42).unwrap(),
            remote: SocketAddrV4::new(VTEP, 4789),
            control: false,
            wireguard: None,
        })
        .unwrap();
    lab
}

/// What the remote VTEP sends us carrying `inner`.
fn from_vtep(us: [u8; 6], inner: &[u8]) -> Vec<u8> {
    let t = Template::new(&TemplateConfig {
        encap: Encap::Vxlan,
        vni: Vni::new(42).unwrap(),
        src_mac: VTEP_MAC,
        dst_mac: us,
        vlan: None,
        local: VTEP,
        remote: OURS,
        dst_port: 4789,
        underlay_mtu: 1500,
    })
    .unwrap();
    let mut out = vec![0u8; 1600];
    let n = t.encapsulate(inner, &mut out).unwrap();
    out.truncate(n);
    out
}

/// [`lab`] with the VTEP's MAC resolved (a frame asked, the VTEP
/// answered) and the remote host learned behind the tunnel; nothing sent or
/// received left over.
fn resolved() -> Lab {
    let mut lab = lab();
    let us = lab.nic.mac();
    let req = parse(&arp::request(us, OURS, VTEP)).unwrap();
    lab.spike_sends(0, &eth(REMOTE, GUEST[0], 0x0800, 60), FrameMeta::default());
    lab.pump_to_nic();
    lab.nic
        .rx
        .push_back(arp::reply(&req, VTEP_MAC, VTEP).to_vec());
    lab.nic
        .rx
        .push_back(from_vtep(us, &eth([0xff; 6], REMOTE, 0x0806, 46)));
    lab.pump_from_nic();
    lab.nic.sent.clear();
    let _ = lab.received(0);
    lab
}

#[test]
fn frames_cross_the_tunnel_both_ways() {
    let mut lab = lab();
    let us = lab.nic.mac();
    assert!(
        !lab.dp.plug(1, 99, corm_identity(1)),
        "a tunnel's endpoint takes no wire"
    );
    // A broadcast from a remote host reaches the local guest, unwrapped.
    let bcast = eth([0xff; 6], REMOTE, 0x0806, 46);
    lab.nic.rx.push_back(from_vtep(us, &bcast));
    lab.pump_from_nic();
    let got = lab.received(0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, bcast);
    // The remote segment and the physical one are one segment: the uplink
    // gets its copy too.
    assert_eq!(lab.nic.sent.len(), 1);
    assert_eq!(lab.nic.sent[0].0, bcast);
    lab.nic.sent.clear();
    // The guest answers the remote host (learned behind the tunnel): the
    // next hop is unknown, so an ARP request goes out and the frame is
    // dropped (counted), never queued.
    let unicast = eth(REMOTE, GUEST[0], 0x0800, 200);
    lab.spike_sends(0, &unicast, FrameMeta::default());
    lab.pump_to_nic();
    assert_eq!(lab.nic.sent.len(), 1);
    let q = parse(&lab.nic.sent[0].0).unwrap();
    assert_eq!((q.spa, q.tpa), (OURS, VTEP));
    // The VTEP answers; the next frame goes, encapsulated.
    let req = parse(&arp::request(us, OURS, VTEP)).unwrap();
    lab.nic
        .rx
        .push_back(arp::reply(&req, VTEP_MAC, VTEP).to_vec());
    lab.pump_from_nic();
    lab.spike_sends(0, &unicast, FrameMeta::default());
    lab.pump_to_nic();
    assert_eq!(lab.nic.sent.len(), 2);
    let outer = &lab.nic.sent[1].0;
    assert_eq!(&outer[..6], &VTEP_MAC);
    let theirs = DecapConfig {
        local_mac: VTEP_MAC,
        local: VTEP,
        encap: Encap::Vxlan,
        port: 4789,
    };
    match decapsulate(&theirs, outer) {
        Verdict::Data { vni, inner, src } => {
            assert_eq!((vni.get(), *src.ip()), (42, OURS));
            assert_eq!(&outer[inner], &unicast[..]);
        }
        v => panic!("{v:?}"),
    }
    let u = lab.dp.underlay().unwrap();
    let (_, c, _) = u.tunnel_counters().next().unwrap();
    assert_eq!((c.rx_frames, c.tx_frames, c.dropped_no_next_hop), (1, 1, 1));
}

#[test]
fn a_broadcast_from_the_guest_floods_into_the_tunnel_and_the_uplink() {
    let mut lab = resolved();
    let b = eth([0xff; 6], GUEST[0], 0x0806, 46);
    lab.spike_sends(0, &b, FrameMeta::default());
    lab.pump_to_nic();
    // One copy on the uplink as is, one encapsulated.
    assert_eq!(lab.nic.sent.len(), 2, "{:?}", lab.nic.sent);
    assert!(lab.nic.sent.iter().any(|(f, _)| *f == b));
    assert!(lab
        .nic
        .sent
        .iter()
        .any(|(f, _)| f.len() == b.len() + 50 && f[50..] == b[..]));
}

#[test]
fn uplink_broadcasts_reach_the_tunnel_after_the_receive_batch() {
    let mut lab = resolved();
    // A host on the physical segment broadcasts: the guest gets it, and the
    // tunnel's copy goes out once the NIC is done receiving.
    let b = eth([0xff; 6], PEER, 0x0806, 46);
    let deferred = lab.dp.counters.nic_deferred;
    lab.nic.rx.push_back(b.clone());
    lab.pump_from_nic();
    assert_eq!(lab.received(0).len(), 1);
    assert_eq!(lab.nic.sent.len(), 1);
    assert_eq!(&lab.nic.sent[0].0[50..], &b[..]);
    assert_eq!(lab.dp.counters.nic_deferred, deferred + 1);
}

#[test]
fn a_frame_too_big_for_the_tunnel_is_answered_with_fragmentation_needed() {
    let mut lab = resolved();
    // A 1514-byte IPv4 frame with DF from a guest whose MTU is 1500.
    let mut big = eth(REMOTE, GUEST[0], 0x0800, 1500);
    big[14..34].copy_from_slice(&[
        0x45, 0, 0x05, 0xdc, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 88, 0, 51, 10, 88, 0, 1,
    ]);
    lab.spike_sends(0, &big, FrameMeta::default());
    lab.pump_to_nic();
    assert!(lab.nic.sent.is_empty(), "never fragmented, never sent");
    let got = lab.received(0);
    assert_eq!(got.len(), 1, "the guest is told");
    let icmp = &got[0].0;
    assert_eq!((&icmp[0..6], &icmp[6..12]), (&GUEST[0][..], &REMOTE[..]));
    assert_eq!((icmp[14 + 9], icmp[34], icmp[35]), (1, 3, 4));
    assert_eq!(u16::from_be_bytes([icmp[40], icmp[41]]), 1450);
    let u = lab.dp.underlay().unwrap();
    assert_eq!(u.counters.too_big_answered, 1);
    // A frame that fits goes.
    let ok = eth(REMOTE, GUEST[0], 0x0800, 1450);
    lab.spike_sends(0, &ok, FrameMeta::default());
    lab.pump_to_nic();
    assert_eq!(lab.nic.sent.len(), 1);
}

/// A remote host's TCP burst through the tunnel merges for the local guest
/// (GRO), as the NIC's own does: one frame with GSO metadata, every byte
/// in order.
#[test]
fn tcp_from_the_tunnel_merges_for_the_guest() {
    let mut lab = resolved();
    let us = lab.nic.mac();
    let mut stream = Vec::new();
    let mut seq = 1u32;
    for k in 0..4u8 {
        let payload = [k; 1000];
        stream.extend_from_slice(&payload);
        let inner = super::routes::tcp4(GUEST[0], REMOTE, seq, &payload, false);
        seq += 1000;
        lab.nic.rx.push_back(from_vtep(us, &inner));
    }
    lab.pump_from_nic();
    let got = lab.received(0);
    assert_eq!(got.len(), 1, "four segments, one merge");
    assert!(got[0].1.gso.is_some());
    assert_eq!(&got[0].0[14 + 20 + 32..], &stream[..]);
    assert_eq!(lab.dp.counters.gro_segments, 4);
}

/// A full receive batch of tunnel frames for the NIC (a remote guest's
/// TCP toward the lab peer) waits whole for the batch to end: none dropped.
#[test]
fn a_full_batch_from_the_tunnel_to_the_uplink_is_sent_whole() {
    let mut lab = resolved();
    let us = lab.nic.mac();
    // The peer is learned on the uplink.
    lab.nic.rx.push_back(eth(GUEST[0], PEER, 0x0800, 60));
    lab.pump_from_nic();
    let _ = lab.received(0);
    lab.nic.sent.clear();
    for k in 0..64 {
        let inner = super::routes::tcp4(PEER, REMOTE, 1 + 1300 * k, &[k as u8; 1300], false);
        lab.nic.rx.push_back(from_vtep(us, &inner));
    }
    assert_eq!(lab.pump_from_nic(), 64);
    assert_eq!(lab.dp.counters.nic_deferred_dropped, 0);
    assert_eq!(lab.nic.sent.len(), 64);
}
