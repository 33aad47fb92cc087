//! Issue 9 A.3 through the whole data plane: ARP and ND spoofing from the
//! NIC and from a Spike, and DHCP snooping of a guest's lease, on real wire
//! rings (the endpoint's frames reach the switch as their private head copy).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use crate::switch::dhcp::tests::{ack_opts, dhcp_frame};
use crate::switch::nd::tests::nd_frame;
use crate::switch::nd::ICMPV6_NA;

use super::*;

const G2_IP: [u8; 4] = [10, 77, 0, 52];

/// An ARP packet `op` "`spa` is at `sha`", from `sha`, to `dst`.
fn arp(dst: [u8; 6], op: u16, sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = eth(dst, sha, 0x0806, 0);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f.resize(60, 0);
    f
}

fn plain() -> FrameMeta {
    FrameMeta::default()
}

/// Two guests on the untagged segment, g2's address configured.
fn lab() -> Lab {
    let mut lab = Lab::new(&[None, None]);
    let g2 = IpAddr::V4(Ipv4Addr::from(G2_IP));
    lab.dp.switch.set_endpoint_ips(1, &[g2]).unwrap();
    lab
}

#[test]
fn forged_arp_from_the_nic_reaches_no_guest() {
    let mut lab = lab();
    // A reply to g1 and a gratuitous ARP, both saying g2's address is at PEER.
    lab.nic
        .rx
        .push_back(arp(GUEST[0], 2, PEER, G2_IP, [10, 77, 0, 51]));
    lab.nic.rx.push_back(arp([0xff; 6], 1, PEER, G2_IP, G2_IP));
    // The gateway's own gratuitous ARP is ordinary.
    lab.nic
        .rx
        .push_back(arp([0xff; 6], 1, PEER, [10, 77, 0, 1], [10, 77, 0, 1]));
    assert_eq!(lab.pump_from_nic(), 3);
    let (to0, to1) = (lab.received(0), lab.received(1));
    assert_eq!((to0.len(), to1.len()), (1, 1), "only the gateway's");
    assert_eq!(&to0[0].0[28..32], &[10, 77, 0, 1]);
    assert_eq!(lab.dp.switch.counters().dropped_arp_spoof, 2);
    // g1 -> g2 still goes to g2, not out of the NIC.
    lab.spike_sends(0, &eth(GUEST[1], GUEST[0], 0x0800, 64), plain());
    lab.pump_to_nic();
    assert_eq!(lab.received(1).len(), 1);
    assert!(lab.nic.sent.is_empty());
}

#[test]
fn a_spike_cannot_claim_another_guests_address() {
    let mut lab = lab();
    lab.spike_sends(0, &arp([0xff; 6], 1, GUEST[0], G2_IP, G2_IP), plain());
    // Nor g2's link-local address (EUI-64 of its MAC) by NA.
    let mut ll = [0u8; 16];
    ll[..2].copy_from_slice(&[0xfe, 0x80]);
    ll[8..].copy_from_slice(&crate::switch::ipguard::eui64(&GUEST[1]));
    let ll = Ipv6Addr::from(ll);
    lab.spike_sends(
        0,
        &nd_frame(GUEST[0], ICMPV6_NA, ll, ll, Some(GUEST[0])),
        plain(),
    );
    lab.pump_to_nic();
    assert!(lab.received(1).is_empty());
    assert!(lab.nic.sent.is_empty());
    let c = lab.dp.switch.counters();
    assert_eq!((c.dropped_arp_spoof, c.dropped_nd_spoof), (1, 1));
}

#[test]
fn a_guests_dhcp_lease_is_snooped_and_guarded() {
    let mut lab = Lab::new(&[None, None]);
    // g1 asks (its frame crosses as a head copy plus the rest) ...
    let req = dhcp_frame(GUEST[0], 1, 0x1234, GUEST[0], [0; 4], &[53, 1, 3]);
    assert!(req.len() > netframe::HEADER_COPY_LEN);
    lab.spike_sends(0, &req, plain());
    lab.pump_to_nic();
    assert_eq!(lab.nic.sent.len(), 1);
    // ... the server on the network answers ...
    let ack = dhcp_frame(PEER, 2, 0x1234, GUEST[0], [10, 77, 0, 150], &ack_opts(600));
    lab.nic.rx.push_back(ack.clone());
    lab.pump_from_nic();
    assert_eq!(lab.received(0)[0].0, ack);
    lab.received(1); // a broadcast reply
    let ip = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 150));
    assert_eq!(
        lab.dp.switch.ip_owner(None, &ip, lab.now),
        Some((0, crate::switch::IpSource::Dhcp))
    );
    // ... and a forged claim on the lease never reaches g2.
    lab.nic
        .rx
        .push_back(arp([0xff; 6], 2, PEER, [10, 77, 0, 150], [10, 77, 0, 52]));
    lab.pump_from_nic();
    assert!(lab.received(1).is_empty());
    assert_eq!(lab.dp.switch.counters().dhcp_bound, 1);
    assert_eq!(lab.dp.switch.counters().dropped_arp_spoof, 1);
}
