//! Issue 9 A.3: ARP and ND spoofing, from the uplink and between endpoints,
//! and the IP ownership the switch enforces (configured, EUI-64, DHCP
//! snooping, first claim), through the switch's public API.

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;

use super::super::dhcp::tests::{ack_opts, dhcp_frame};
use super::super::ipguard::{DHCP_XID_TTL_NS, LEARNED_TTL_NS};
use super::super::nd::tests::nd_frame;
use super::super::nd::{ICMPV6_NA, ICMPV6_NS};
use super::*;

fn v4(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

/// An ARP packet `op` from `sha`/`spa` for `tpa`, in a frame from `eth_src`
/// to `dst` (tagged for `vid`).
fn arp(
    dst: Mac,
    eth_src: Mac,
    op: u16,
    sha: Mac,
    spa: IpAddr,
    tpa: IpAddr,
    vid: Option<u16>,
) -> Vec<u8> {
    let ip = |a: IpAddr| match a {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => unreachable!(),
    };
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&eth_src);
    if let Some(v) = vid {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&ip(spa));
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&ip(tpa));
    f.resize(f.len().max(60), 0);
    f
}

/// A reply "`spa` is at `sha`" from `sha` to `dst`.
fn reply(dst: Mac, sha: Mac, spa: IpAddr, tpa: IpAddr) -> Vec<u8> {
    arp(dst, sha, 2, sha, spa, tpa, None)
}

/// A gratuitous ARP (a broadcast request for its own address).
fn garp(sha: Mac, spa: IpAddr) -> Vec<u8> {
    arp(B, sha, 1, sha, spa, spa, None)
}

const ATTACKER: Mac = [0x02, 0xba, 0xd0, 0, 0, 1];

fn eui64_addr(prefix: u16, m: Mac) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[..2].copy_from_slice(&prefix.to_be_bytes());
    o[8..].copy_from_slice(&super::super::ipguard::eui64(&m));
    Ipv6Addr::from(o)
}

/// The guarded world: `flat()` with 10.0.0.2 configured for endpoint 2.
fn guarded() -> Switch {
    let mut sw = flat();
    sw.set_endpoint_ips(2, &[v4(2)]).unwrap();
    sw
}

#[test]
fn forged_arp_from_the_uplink_is_dropped_and_counted() {
    let mut sw = guarded();
    // A reply to endpoint 1 saying 10.0.0.2 is at the attacker, and the same
    // as a gratuitous broadcast: neither reaches anyone.
    for f in [reply(mac(1), ATTACKER, v4(2), v4(1)), garp(ATTACKER, v4(2))] {
        let (v, sent) = run(&mut sw, Port::Uplink, &f, SEC);
        assert_eq!(v, Verdict::Dropped(DropReason::ArpSpoof));
        assert!(sent.is_empty());
    }
    // Not even through a sender MAC differing from the frame's source.
    let sneaky = arp(B, mac(70), 1, ATTACKER, v4(2), v4(9), None);
    assert_eq!(
        run(&mut sw, Port::Uplink, &sneaky, SEC).0,
        Verdict::Dropped(DropReason::ArpSpoof)
    );
    assert_eq!(sw.counters().dropped_arp_spoof, 3);
    assert_eq!(
        sw.lookup(None, &ATTACKER, SEC),
        None,
        "a dropped frame teaches nothing"
    );
    assert_eq!(sw.lookup(None, &mac(70), SEC), None);
    // Legitimate ARP passes: the gateway's own address, a probe for
    // 10.0.0.2 (no claim), a request *for* 10.0.0.2, and 10.0.0.2 in
    // another VLAN (another host's).
    let ok = [
        garp(mac(90), v4(1)),
        arp(
            B,
            mac(90),
            1,
            mac(90),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            v4(2),
            None,
        ),
        arp(B, mac(90), 1, mac(90), v4(1), v4(2), None),
        arp(B, mac(90), 2, mac(90), v4(2), v4(1), Some(5)),
    ];
    sw.add_endpoint(5, ep(Some(5), &[mac(5)])).unwrap();
    for f in &ok {
        assert!(
            matches!(run(&mut sw, Port::Uplink, f, SEC).0, Verdict::Flooded(_)),
            "{f:02x?}"
        );
    }
    // The owner's word still goes: an uplink ARP giving endpoint 2's MAC.
    let own = arp(B, mac(91), 2, mac(2), v4(2), v4(1), None);
    assert!(matches!(
        run(&mut sw, Port::Uplink, &own, SEC).0,
        Verdict::Flooded(_)
    ));
    assert_eq!(sw.counters().dropped_arp_spoof, 3);
    // Guest to guest still goes to endpoint 2, never out of the NIC.
    let (v, _) = run(&mut sw, Port::Endpoint(1), &untagged(mac(2), mac(1)), SEC);
    assert_eq!(v, Verdict::Forwarded(Port::Endpoint(2)));
}

#[test]
fn endpoints_cannot_claim_each_others_addresses() {
    let mut sw = guarded();
    let spoof =
        |sw: &mut Switch, from: u16, f: &[u8], now: u64| run(sw, Port::Endpoint(from), f, now).0;
    // Endpoint 1 claims endpoint 2's configured address, or gives a MAC
    // not its own for its own address.
    assert_eq!(
        spoof(&mut sw, 1, &garp(mac(1), v4(2)), 0),
        Verdict::Dropped(DropReason::ArpSpoof)
    );
    let other_mac = arp(B, mac(1), 2, mac(2), v4(11), v4(1), None);
    assert_eq!(
        spoof(&mut sw, 1, &other_mac, 0),
        Verdict::Dropped(DropReason::ArpSpoof)
    );
    // Endpoint 2's own claim passes.
    assert_eq!(
        spoof(&mut sw, 2, &garp(mac(2), v4(2)), 0),
        Verdict::Flooded(3)
    );
    // First come, first served: endpoint 1 takes 10.0.0.11 ...
    assert_eq!(
        spoof(&mut sw, 1, &garp(mac(1), v4(11)), 0),
        Verdict::Flooded(3)
    );
    assert_eq!(sw.ip_owner(None, &v4(11), 0), Some((1, IpSource::Learned)));
    assert_eq!(sw.counters().ip_learned, 1);
    // ... endpoint 3 cannot have it ...
    assert_eq!(
        spoof(&mut sw, 3, &garp(mac(3), v4(11)), 1),
        Verdict::Dropped(DropReason::ArpSpoof)
    );
    // ... but a host on the uplink is not judged by a guest's word.
    assert!(matches!(
        run(&mut sw, Port::Uplink, &garp(mac(90), v4(11)), 1).0,
        Verdict::Flooded(_)
    ));
    // Each claim refreshes it; unclaimed for LEARNED_TTL_NS it lapses.
    let t = LEARNED_TTL_NS - 1;
    spoof(&mut sw, 1, &reply(mac(3), mac(1), v4(11), v4(3)), t);
    assert_eq!(
        spoof(&mut sw, 3, &garp(mac(3), v4(11)), 2 * t),
        Verdict::Dropped(DropReason::ArpSpoof)
    );
    assert_eq!(
        spoof(&mut sw, 3, &garp(mac(3), v4(11)), t + LEARNED_TTL_NS),
        Verdict::Flooded(3)
    );
    assert_eq!(
        sw.ip_owner(None, &v4(11), t + LEARNED_TTL_NS),
        Some((3, IpSource::Learned))
    );
    assert_eq!(sw.counters().dropped_arp_spoof, 4);
}

#[test]
fn forged_neighbor_advertisements_are_dropped_and_counted() {
    let mut sw = flat();
    let cfg6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11);
    sw.set_endpoint_ips(1, &[IpAddr::V6(cfg6)]).unwrap();
    let ll2 = eui64_addr(0xfe80, mac(2));
    let gl2 = eui64_addr(0x2001, mac(2));
    assert_eq!(
        sw.ip_owner(None, &IpAddr::V6(ll2), 0),
        Some((2, IpSource::Eui64))
    );
    let nd = |sw: &mut Switch, from: Port, f: Vec<u8>| run(sw, from, &f, 0).0;
    let drop = Verdict::Dropped(DropReason::NdSpoof);
    // From the uplink: NAs for endpoint 2's link-local and global addresses
    // and endpoint 1's configured one, with or without the target option;
    // an NS using endpoint 2's address as its source.
    for (target, tlla) in [(ll2, Some(ATTACKER)), (gl2, Some(ATTACKER)), (cfg6, None)] {
        assert_eq!(
            nd(
                &mut sw,
                Port::Uplink,
                nd_frame(mac(90), ICMPV6_NA, target, target, tlla)
            ),
            drop
        );
    }
    let ns = nd_frame(
        mac(90),
        ICMPV6_NS,
        ll2,
        eui64_addr(0xfe80, mac(1)),
        Some(mac(90)),
    );
    assert_eq!(nd(&mut sw, Port::Uplink, ns), drop);
    // Legitimate ND passes: DAD for endpoint 2's address (it must see it to
    // defend), an NA for an uplink host's own address, an NA giving the
    // owner's own MAC.
    let dad = nd_frame(mac(90), ICMPV6_NS, Ipv6Addr::UNSPECIFIED, ll2, None);
    let host = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let theirs = nd_frame(mac(90), ICMPV6_NA, host, host, Some(mac(90)));
    let owners = nd_frame(mac(90), ICMPV6_NA, ll2, ll2, Some(mac(2)));
    for f in [dad, theirs, owners] {
        assert!(matches!(nd(&mut sw, Port::Uplink, f), Verdict::Flooded(_)));
    }
    // Between endpoints: 1 advertising 2's address is dropped; 1's DAD
    // for it passes; 3 advertising a fresh address of its own learns it.
    assert_eq!(
        nd(
            &mut sw,
            Port::Endpoint(1),
            nd_frame(mac(1), ICMPV6_NA, ll2, ll2, Some(mac(1)))
        ),
        drop
    );
    let dad1 = nd_frame(mac(1), ICMPV6_NS, Ipv6Addr::UNSPECIFIED, ll2, None);
    assert!(matches!(
        nd(&mut sw, Port::Endpoint(1), dad1),
        Verdict::Flooded(_)
    ));
    let priv3 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0x1234, 0x5678, 0x9abc, 0xdef0);
    assert!(matches!(
        nd(
            &mut sw,
            Port::Endpoint(3),
            nd_frame(mac(3), ICMPV6_NA, priv3, priv3, Some(mac(3)))
        ),
        Verdict::Flooded(_)
    ));
    assert_eq!(
        sw.ip_owner(None, &IpAddr::V6(priv3), 0),
        Some((3, IpSource::Learned))
    );
    // A tentative address nobody holds is learned at DAD time.
    let tent = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x33);
    nd(
        &mut sw,
        Port::Endpoint(3),
        nd_frame(mac(3), ICMPV6_NS, Ipv6Addr::UNSPECIFIED, tent, None),
    );
    assert_eq!(
        sw.ip_owner(None, &IpAddr::V6(tent), 0),
        Some((3, IpSource::Learned))
    );
    assert_eq!(
        (
            sw.counters().dropped_nd_spoof,
            sw.counters().dropped_arp_spoof
        ),
        (5, 0)
    );
}

/// Endpoint 1 asks for an address (xid), the uplink's server answers.
fn dhcp_exchange(sw: &mut Switch, xid: u32, yiaddr: u8, lease: u32, now: u64) -> Verdict {
    let req = dhcp_frame(mac(1), 1, xid, mac(1), [0; 4], &[53, 1, 3]);
    run(sw, Port::Endpoint(1), &req, now);
    let ack = dhcp_frame(
        mac(90),
        2,
        xid,
        mac(1),
        [10, 0, 0, yiaddr],
        &ack_opts(lease),
    );
    run(sw, Port::Uplink, &ack, now).0
}

#[test]
fn dhcp_snooping_binds_guards_and_expires() {
    let mut sw = flat();
    assert_eq!(dhcp_exchange(&mut sw, 42, 50, 60, SEC), Verdict::Flooded(3));
    assert_eq!(sw.ip_owner(None, &v4(50), SEC), Some((1, IpSource::Dhcp)));
    assert_eq!(sw.counters().dhcp_bound, 1);
    // The leased address is guarded from the uplink and from endpoint 3.
    let forged = reply(mac(2), ATTACKER, v4(50), v4(2));
    assert_eq!(
        run(&mut sw, Port::Uplink, &forged, 2 * SEC).0,
        Verdict::Dropped(DropReason::ArpSpoof)
    );
    assert_eq!(
        run(&mut sw, Port::Endpoint(3), &garp(mac(3), v4(50)), 2 * SEC).0,
        Verdict::Dropped(DropReason::ArpSpoof)
    );
    // The lease lapses 60 s after the ACK: the forged reply is no longer
    // judged (nobody owns the address), and expire() frees the slot.
    assert_eq!(sw.ip_owner(None, &v4(50), 61 * SEC), None);
    assert!(matches!(
        run(&mut sw, Port::Uplink, &forged, 61 * SEC).0,
        Verdict::Forwarded(_)
    ));
    sw.expire(61 * SEC);
    assert_eq!((sw.ip_bindings_len(), sw.counters().ip_aged_out), (0, 1));
    // A renewal with another address replaces the old one; a NAK releases it.
    dhcp_exchange(&mut sw, 43, 51, 3600, 70 * SEC);
    dhcp_exchange(&mut sw, 44, 52, 3600, 71 * SEC);
    let b: Vec<_> = sw
        .ip_bindings()
        .map(|b| (b.ip, b.endpoint, b.source))
        .collect();
    assert_eq!(b, [(v4(52), 1, IpSource::Dhcp)]);
    let nak = dhcp_frame(mac(90), 2, 44, mac(1), [0; 4], &[53, 1, 6]);
    run(&mut sw, Port::Uplink, &nak, 72 * SEC);
    assert_eq!(sw.ip_bindings_len(), 0);
    // An infinite lease never lapses.
    dhcp_exchange(&mut sw, 45, 53, u32::MAX, 80 * SEC);
    assert_eq!(
        sw.ip_owner(None, &v4(53), u64::MAX - 1),
        Some((1, IpSource::Dhcp))
    );
    // A DHCP lease replaces a first claim; a configured address beats both.
    run(&mut sw, Port::Endpoint(3), &garp(mac(3), v4(60)), 81 * SEC);
    assert_eq!(
        sw.ip_owner(None, &v4(60), 81 * SEC),
        Some((3, IpSource::Learned))
    );
    dhcp_exchange(&mut sw, 46, 60, 3600, 82 * SEC);
    assert_eq!(
        sw.ip_owner(None, &v4(60), 82 * SEC),
        Some((1, IpSource::Dhcp))
    );
    sw.set_endpoint_ips(2, &[v4(61)]).unwrap();
    let ignored = sw.counters().dhcp_ignored;
    dhcp_exchange(&mut sw, 47, 61, 3600, 83 * SEC);
    assert_eq!(
        sw.ip_owner(None, &v4(61), 83 * SEC),
        Some((2, IpSource::Static))
    );
    assert_eq!(sw.counters().dhcp_ignored, ignored + 1);
}

#[test]
fn acks_answering_no_request_bind_nothing() {
    let mut sw = flat();
    let ack =
        |xid: u32, chaddr: Mac| dhcp_frame(mac(90), 2, xid, chaddr, [10, 0, 0, 50], &ack_opts(60));
    // No request at all, then a request from endpoint 1 and ACKs with
    // another xid, for another endpoint's MAC, or too late.
    run(&mut sw, Port::Uplink, &ack(42, mac(1)), 0);
    let req = dhcp_frame(mac(1), 1, 42, mac(1), [0; 4], &[53, 1, 3]);
    run(&mut sw, Port::Endpoint(1), &req, SEC);
    run(&mut sw, Port::Uplink, &ack(43, mac(1)), SEC);
    run(&mut sw, Port::Uplink, &ack(42, mac(2)), SEC);
    run(
        &mut sw,
        Port::Uplink,
        &ack(42, mac(1)),
        SEC + DHCP_XID_TTL_NS + 1,
    );
    // A request naming a MAC the endpoint does not own opens nothing.
    let foreign = dhcp_frame(mac(1), 1, 50, mac(2), [0; 4], &[53, 1, 3]);
    run(&mut sw, Port::Endpoint(1), &foreign, SEC);
    run(&mut sw, Port::Uplink, &ack(50, mac(2)), SEC);
    assert_eq!(sw.ip_bindings_len(), 0);
    assert_eq!(
        (sw.counters().dhcp_ignored, sw.counters().dhcp_bound),
        (5, 0)
    );
}

/// A flood of DHCPACKs (forged, or for every address of the subnet) and of
/// first claims from one guest cannot grow the bindings past their bounds.
#[test]
fn binding_floods_are_bounded() {
    let mut sw = flat();
    let req = dhcp_frame(mac(1), 1, 42, mac(1), [0; 4], &[53, 1, 3]);
    run(&mut sw, Port::Endpoint(1), &req, 0);
    for n in 0..10_000u32 {
        let yi = [10, 1, (n >> 8) as u8, n as u8];
        let xid = if n % 2 == 0 { 42 } else { n };
        let chaddr = if n % 3 == 0 {
            mac(1)
        } else {
            [2, 9, 9, 9, (n >> 8) as u8, n as u8]
        };
        let f = dhcp_frame(mac(90), 2, xid, chaddr, yi, &ack_opts(3600));
        run(&mut sw, Port::Uplink, &f, 1);
    }
    // One client, one lease: the last matching ACK's.
    assert_eq!(sw.ip_bindings_len(), 1);
    for n in 0..5_000u32 {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 2, (n >> 8) as u8, n as u8));
        run(&mut sw, Port::Endpoint(3), &garp(mac(3), ip), 2);
    }
    assert_eq!(
        sw.ip_bindings_len(),
        1 + super::super::bindings::LEARNED_PER_ENDPOINT
    );
    assert!(sw.ip_bindings_len() <= IP_TABLE_CAPACITY);
}

#[test]
fn configured_addresses_are_validated() {
    let mut sw = flat();
    sw.add_endpoint(5, ep(Some(5), &[mac(5)])).unwrap();
    sw.set_endpoint_ips(
        1,
        &[
            v4(1),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        ],
    )
    .unwrap();
    for bad in [
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V4(Ipv4Addr::BROADCAST),
        IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        assert_eq!(sw.set_endpoint_ips(2, &[bad]), Err(ConfigError::BadIp(bad)));
    }
    assert_eq!(
        sw.set_endpoint_ips(2, &[v4(1)]),
        Err(ConfigError::IpInUse {
            ip: v4(1),
            endpoint: 1
        })
    );
    assert_eq!(
        sw.set_endpoint_ips(2, &[v4(2), v4(2)]),
        Err(ConfigError::IpInUse {
            ip: v4(2),
            endpoint: 2
        })
    );
    let nine: Vec<_> = (20..29).map(v4).collect();
    assert_eq!(
        sw.set_endpoint_ips(2, &nine),
        Err(ConfigError::TooManyIps(9))
    );
    assert_eq!(
        sw.set_endpoint_ips(9, &[v4(9)]),
        Err(ConfigError::UnknownEndpoint(9))
    );
    // The same address in another VLAN is fine; moving there with it is not.
    sw.set_endpoint_ips(5, &[v4(1)]).unwrap();
    assert_eq!(
        sw.reconfigure_endpoint(1, ep(Some(5), &[mac(1)])),
        Err(ConfigError::IpInUse {
            ip: v4(1),
            endpoint: 5
        })
    );
    assert_eq!(
        sw.endpoint_ips(1).len(),
        2,
        "a refused change changes nothing"
    );
    sw.set_endpoint_ips(1, &[]).unwrap();
    assert!(sw.endpoint_ips(1).is_empty());
}

#[test]
fn bindings_follow_their_endpoint() {
    let mut sw = flat();
    dhcp_exchange(&mut sw, 42, 50, 3600, 0);
    // The wire goes down (MACs withdrawn): the lease stays guarded.
    sw.reconfigure_endpoint(1, ep(None, &[])).unwrap();
    assert_eq!(sw.ip_owner(None, &v4(50), 1), Some((1, IpSource::Dhcp)));
    let forged = garp(ATTACKER, v4(50));
    assert_eq!(
        run(&mut sw, Port::Uplink, &forged, 1).0,
        Verdict::Dropped(DropReason::ArpSpoof)
    );
    // Back with the same MAC: still its; with another MAC: forgotten.
    sw.reconfigure_endpoint(1, ep(None, &[mac(1)])).unwrap();
    assert_eq!(sw.ip_bindings_len(), 1);
    sw.reconfigure_endpoint(1, ep(None, &[mac(11)])).unwrap();
    assert_eq!(sw.ip_bindings_len(), 0);
    // The guest moves to endpoint 3 (its MAC withdrawn from 1, registered
    // on 3): its lease goes with it, and its own claims pass there.
    sw.reconfigure_endpoint(1, ep(None, &[mac(1)])).unwrap();
    dhcp_exchange(&mut sw, 43, 50, 3600, 1);
    sw.reconfigure_endpoint(1, ep(None, &[])).unwrap();
    sw.reconfigure_endpoint(3, ep(None, &[mac(3), mac(1)]))
        .unwrap();
    assert_eq!(sw.ip_owner(None, &v4(50), 1), Some((3, IpSource::Dhcp)));
    let own = garp(mac(1), v4(50));
    assert_eq!(
        run(&mut sw, Port::Endpoint(3), &own, 1).0,
        Verdict::Flooded(3)
    );
    sw.reconfigure_endpoint(3, ep(None, &[mac(3)])).unwrap();
    assert_eq!(sw.ip_bindings_len(), 0);
    // Removal forgets everything of the endpoint.
    run(&mut sw, Port::Endpoint(2), &garp(mac(2), v4(60)), 2);
    assert_eq!(sw.ip_bindings_len(), 1);
    sw.remove_endpoint(2).unwrap();
    assert_eq!(sw.ip_bindings_len(), 0);
}

/// ARP-, IPv6- and IPv4-typed frames with random bodies, from random ports:
/// never a panic, the bindings stay within their bounds.
fn l3_frame() -> impl Strategy<Value = Vec<u8>> {
    let et = prop_oneof![Just(0x0806u16), Just(0x86dd), Just(0x0800)];
    (0u8..6, et, vec(any::<u8>(), 0..320), any::<bool>()).prop_map(|(src, et, body, tag)| {
        let mut f = Vec::new();
        f.extend_from_slice(&B);
        f.extend_from_slice(&mac(src));
        if tag {
            f.extend_from_slice(&[0x81, 0, 0, 0]);
        }
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(&body);
        f
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_l3_never_panics_and_stays_bounded(
        ops in vec((0u16..5, l3_frame(), 0u64..2_000_000_000), 1..200),
    ) {
        let mut sw = flat();
        let mut now = 0;
        for (p, f, dt) in ops {
            now += dt;
            let from = if p == 0 { Port::Uplink } else { Port::Endpoint(p) };
            let _ = run(&mut sw, from, &f, now);
            prop_assert!(sw.ip_bindings_len() <= 3 * (super::super::bindings::LEARNED_PER_ENDPOINT + MAX_ENDPOINT_MACS));
        }
    }
}

#[test]
fn a_learning_endpoint_cannot_claim_a_local_guests_address() {
    // A remote segment behind a tunnel is judged as the uplink: ARP from it
    // claiming a local endpoint's configured address is a spoof.
    let mut sw = guarded();
    sw.add_endpoint(9, ep(None, &[])).unwrap();
    sw.set_learning(9, true).unwrap();
    for f in [reply(mac(1), ATTACKER, v4(2), v4(1)), garp(ATTACKER, v4(2))] {
        assert_eq!(
            run(&mut sw, Port::Endpoint(9), &f, SEC).0,
            Verdict::Dropped(DropReason::ArpSpoof)
        );
    }
    // Its own hosts' ARP goes through.
    let own = garp(ATTACKER, v4(77));
    assert!(matches!(
        run(&mut sw, Port::Endpoint(9), &own, SEC).0,
        Verdict::Flooded(_)
    ));
}
