//! Scenario tests of the switch through its public API, on emitted bytes.

mod ipguard;
mod prop;

use alloc::vec::Vec;

use super::*;

const SEC: u64 = 1_000_000_000;
const B: Mac = frame::BROADCAST;
const MCAST: Mac = [0x01, 0x00, 0x5e, 0, 0, 1];

fn mac(n: u8) -> Mac {
    [0x02, 0, 0, 0, 0, n]
}

fn ep(vlan: Option<u16>, macs: &[Mac]) -> EndpointConfig {
    EndpointConfig {
        vlan,
        macs: heapless::Vec::from_slice(macs).unwrap(),
    }
}

/// An untagged frame (IPv4 EtherType, 4 payload bytes).
fn untagged(dst: Mac, src: Mac) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00, 0xde, 0xad, 0xbe, 0xef]);
    f
}

/// The same frame with an 802.1Q tag for `vid`.
fn tagged(dst: Mac, src: Mac, vid: u16) -> Vec<u8> {
    let mut f = untagged(dst, src);
    let [hi, lo] = vid.to_be_bytes();
    f.splice(12..12, [0x81, 0x00, hi, lo]);
    f
}

fn cfg() -> SwitchConfig {
    SwitchConfig {
        mac_capacity: 16,
        aging_ns: 10 * SEC,
        flood: FloodLimit {
            rate: 100,
            burst: 10,
        },
    }
}

/// Runs one frame through `sw`, returning the verdict and each emitted frame's bytes.
fn run(sw: &mut Switch, from: Port, frame: &[u8], now: u64) -> (Verdict, Vec<(Port, Vec<u8>)>) {
    let mut sent = Vec::new();
    let v = sw.ingress(from, frame, now, &mut |to, eg: Egress<'_>| {
        let mut buf = [0u8; 2048];
        let n = eg.write_to(&mut buf).unwrap();
        assert_eq!(n, eg.len());
        sent.push((to, buf[..n].to_vec()));
    });
    (v, sent)
}

fn ports(sent: &[(Port, Vec<u8>)]) -> Vec<Port> {
    sent.iter().map(|(p, _)| *p).collect()
}

/// Untagged segment: endpoints 1, 2, 3 own mac(1), mac(2), mac(3).
fn flat() -> Switch {
    let mut sw = Switch::new(cfg());
    for n in 1..=3 {
        sw.add_endpoint(u16::from(n), ep(None, &[mac(n)])).unwrap();
    }
    sw
}

#[test]
fn registered_macs_are_pinned_others_learned_on_the_uplink() {
    let mut sw = flat();
    // mac(2) is endpoint 2's: forwarded there at once, nothing learned.
    let f = untagged(mac(2), mac(1));
    let (v, sent) = run(&mut sw, Port::Endpoint(1), &f, 0);
    assert_eq!(v, Verdict::Forwarded(Port::Endpoint(2)));
    assert_eq!(sent, [(Port::Endpoint(2), f)]);
    assert_eq!(sw.lookup(None, &mac(1), 0), Some(Port::Endpoint(1)));
    assert_eq!(sw.mac_table_len(), 0);
    // A host outside is learned on the uplink.
    let u = untagged(mac(1), mac(99));
    assert_eq!(
        run(&mut sw, Port::Uplink, &u, 3).0,
        Verdict::Forwarded(Port::Endpoint(1))
    );
    let (v, sent) = run(&mut sw, Port::Endpoint(3), &untagged(mac(99), mac(3)), 4);
    assert_eq!(
        (v, ports(&sent)),
        (Verdict::Forwarded(Port::Uplink), [Port::Uplink].to_vec())
    );
    // An unknown destination floods.
    let (v, _) = run(&mut sw, Port::Endpoint(3), &untagged(mac(50), mac(3)), 5);
    assert_eq!(v, Verdict::Flooded(3));
    let c = sw.counters();
    assert_eq!((c.forwarded, c.flooded, c.learned), (3, 1, 1));
}

#[test]
fn flooding_excludes_ingress() {
    let mut sw = flat();
    for dst in [B, MCAST, mac(50)] {
        let (_, sent) = run(&mut sw, Port::Endpoint(2), &untagged(dst, mac(2)), 0);
        assert_eq!(
            ports(&sent),
            [Port::Uplink, Port::Endpoint(1), Port::Endpoint(3)]
        );
        let (_, sent) = run(&mut sw, Port::Uplink, &untagged(dst, mac(60)), 0);
        assert_eq!(
            ports(&sent),
            [Port::Endpoint(1), Port::Endpoint(2), Port::Endpoint(3)]
        );
    }
    // A destination on the ingress port goes nowhere.
    assert_eq!(
        run(&mut sw, Port::Uplink, &untagged(mac(60), mac(61)), 1).0,
        Verdict::Filtered
    );
    assert_eq!(sw.counters().filtered, 1);
}

#[test]
fn anti_spoof_and_validation() {
    let mut sw = flat();
    let cases: [(Port, Vec<u8>, DropReason); 7] = [
        (Port::Endpoint(1), untagged(B, mac(2)), DropReason::Spoofed),
        (Port::Endpoint(1), untagged(B, MCAST), DropReason::Spoofed),
        (
            Port::Endpoint(1),
            tagged(B, mac(1), 10),
            DropReason::TaggedFromEndpoint,
        ),
        (
            Port::Endpoint(1),
            untagged(B, mac(1))[..13].to_vec(),
            DropReason::Runt,
        ),
        (
            Port::Endpoint(9),
            untagged(B, mac(9)),
            DropReason::UnknownPort,
        ),
        (Port::Uplink, untagged(B, MCAST), DropReason::BadSource),
        (Port::Uplink, tagged(B, mac(70), 4095), DropReason::BadVlan),
    ];
    for (from, f, why) in &cases {
        let (v, sent) = run(&mut sw, *from, f, 0);
        assert_eq!(v, Verdict::Dropped(*why), "{why:?}");
        assert!(sent.is_empty());
    }
    // 802.1ad from an endpoint is a tag too; a tagged uplink runt is a runt.
    let mut ad = untagged(B, mac(1));
    ad[12..14].copy_from_slice(&[0x88, 0xa8]);
    assert_eq!(
        run(&mut sw, Port::Endpoint(1), &ad, 0).0,
        Verdict::Dropped(DropReason::TaggedFromEndpoint)
    );
    assert_eq!(
        run(&mut sw, Port::Uplink, &tagged(B, mac(70), 5)[..17], 0).0,
        Verdict::Dropped(DropReason::Runt)
    );
    let c = *sw.counters();
    assert_eq!(
        (
            c.dropped_spoofed,
            c.dropped_tagged_from_endpoint,
            c.dropped_runt,
            c.dropped_unknown_port
        ),
        (2, 2, 2, 1)
    );
    assert_eq!(
        (c.dropped_bad_source, c.dropped_bad_vlan, c.learned),
        (1, 1, 0)
    );
    assert_eq!(sw.mac_table_len(), 0, "nothing dropped was learned");
}

/// Endpoints 10a/10b in VLAN 10, 20 in VLAN 20, 0 untagged.
fn vlans() -> Switch {
    let mut sw = Switch::new(cfg());
    sw.add_endpoint(1, ep(Some(10), &[mac(1)])).unwrap();
    sw.add_endpoint(2, ep(Some(10), &[mac(2)])).unwrap();
    sw.add_endpoint(3, ep(Some(20), &[mac(3)])).unwrap();
    sw.add_endpoint(4, ep(None, &[mac(4)])).unwrap();
    sw
}

#[test]
fn vlan_isolation_and_tagging_from_endpoints() {
    let mut sw = vlans();
    let f = untagged(B, mac(1));
    let (v, sent) = run(&mut sw, Port::Endpoint(1), &f, 0);
    assert_eq!(v, Verdict::Flooded(2));
    assert_eq!(
        sent,
        [
            (Port::Uplink, tagged(B, mac(1), 10)),
            (Port::Endpoint(2), f)
        ]
    );
    // VLAN 20 cannot reach mac(1), even unicast: it floods within VLAN 20.
    let (_, sent) = run(&mut sw, Port::Endpoint(3), &untagged(mac(1), mac(3)), 1);
    assert_eq!(sent, [(Port::Uplink, tagged(mac(1), mac(3), 20))]);
    // Untagged endpoints talk untagged to the uplink and only to it.
    let (_, sent) = run(&mut sw, Port::Endpoint(4), &untagged(B, mac(4)), 2);
    assert_eq!(sent, [(Port::Uplink, untagged(B, mac(4)))]);
    // Known unicast toward the uplink is tagged as well.
    run(&mut sw, Port::Uplink, &tagged(mac(1), mac(80), 10), 3);
    let (v, sent) = run(&mut sw, Port::Endpoint(2), &untagged(mac(80), mac(2)), 4);
    assert_eq!(v, Verdict::Forwarded(Port::Uplink));
    assert_eq!(sent, [(Port::Uplink, tagged(mac(80), mac(2), 10))]);
    assert_eq!(sw.lookup(Some(20), &mac(80), 4), None);
}

#[test]
fn vlan_isolation_and_stripping_from_uplink() {
    let mut sw = vlans();
    let (_, sent) = run(&mut sw, Port::Uplink, &tagged(B, mac(80), 10), 0);
    let plain = untagged(B, mac(80));
    assert_eq!(
        sent,
        [
            (Port::Endpoint(1), plain.clone()),
            (Port::Endpoint(2), plain.clone())
        ]
    );
    let (_, sent) = run(&mut sw, Port::Uplink, &tagged(B, mac(80), 20), 0);
    assert_eq!(sent, [(Port::Endpoint(3), plain.clone())]);
    // Untagged uplink frames reach only the untagged segment, as is.
    let (_, sent) = run(&mut sw, Port::Uplink, &plain, 0);
    assert_eq!(sent, [(Port::Endpoint(4), plain.clone())]);
    // A priority tag (VID 0) is the untagged segment, stripped.
    let (_, sent) = run(&mut sw, Port::Uplink, &tagged(B, mac(80), 0), 0);
    assert_eq!(sent, [(Port::Endpoint(4), plain.clone())]);
    // A VLAN nobody is in: filtered. Unicast to mac(3) in VLAN 10: never reaches 3.
    assert_eq!(
        run(&mut sw, Port::Uplink, &tagged(B, mac(80), 30), 0).0,
        Verdict::Filtered
    );
    run(&mut sw, Port::Endpoint(3), &untagged(B, mac(3)), 1);
    let (_, sent) = run(&mut sw, Port::Uplink, &tagged(mac(3), mac(80), 10), 2);
    assert_eq!(ports(&sent), [Port::Endpoint(1), Port::Endpoint(2)]);
    let (v, sent) = run(&mut sw, Port::Uplink, &tagged(mac(3), mac(80), 20), 3);
    assert_eq!(v, Verdict::Forwarded(Port::Endpoint(3)));
    assert_eq!(sent, [(Port::Endpoint(3), untagged(mac(3), mac(80)))]);
}

/// Runts, giants and frames with two tags (or an S-tag) from the uplink are
/// dropped and counted; the guests see none of them, and nothing else changes.
#[test]
fn uplink_runts_giants_and_double_tags_are_dropped() {
    let mut sw = vlans();
    let drop = |sw: &mut Switch, f: &[u8]| {
        let (v, sent) = run(sw, Port::Uplink, f, 0);
        assert!(sent.is_empty(), "{f:02x?}");
        v
    };
    // Runts: shorter than a header, or a tag without its EtherType.
    assert_eq!(
        drop(&mut sw, &[0xff; 13]),
        Verdict::Dropped(DropReason::Runt)
    );
    assert_eq!(
        drop(&mut sw, &tagged(B, mac(80), 10)[..17]),
        Verdict::Dropped(DropReason::Runt)
    );
    // Q-in-Q: an 802.1Q tag inside VLAN 10's, and an outer 802.1ad tag.
    let mut qinq = tagged(B, mac(80), 20);
    qinq.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
    assert_eq!(
        drop(&mut sw, &qinq),
        Verdict::Dropped(DropReason::DoubleTag)
    );
    let mut stag = tagged(B, mac(80), 10);
    stag[12..14].copy_from_slice(&[0x88, 0xa8]);
    assert_eq!(
        drop(&mut sw, &stag),
        Verdict::Dropped(DropReason::DoubleTag)
    );
    // Giants: one byte over a 1500-byte MTU, tagged or not.
    let mut giant = untagged(B, mac(80));
    giant.resize(1515, 0);
    assert_eq!(drop(&mut sw, &giant), Verdict::Dropped(DropReason::Giant));
    let mut tagged_giant = tagged(B, mac(80), 10);
    tagged_giant.resize(1519, 0);
    assert_eq!(
        drop(&mut sw, &tagged_giant),
        Verdict::Dropped(DropReason::Giant)
    );
    let c = sw.counters();
    assert_eq!(
        (c.dropped_runt, c.dropped_double_tag, c.dropped_giant),
        (2, 2, 2)
    );
    assert_eq!(sw.mac_table_len(), 0, "nothing learned from dropped frames");
    // The largest legal frames still pass.
    let mut full = untagged(B, mac(80));
    full.resize(1514, 0);
    assert_ne!(run(&mut sw, Port::Uplink, &full, 0).1.len(), 0);
}

#[test]
fn aging_and_eviction_at_capacity() {
    let mut sw = Switch::new(SwitchConfig {
        mac_capacity: 4,
        ..cfg()
    });
    for n in 0..4u8 {
        run(
            &mut sw,
            Port::Uplink,
            &untagged(B, mac(100 + n)),
            u64::from(n) * SEC,
        );
    }
    assert_eq!(sw.mac_table_len(), 4);
    // Full: the least recently seen (mac(100), seen at 0) is evicted.
    run(&mut sw, Port::Uplink, &untagged(B, mac(104)), 4 * SEC);
    assert_eq!(sw.mac_table_len(), 4);
    assert_eq!(sw.counters().evicted, 1);
    assert_eq!(sw.lookup(None, &mac(100), 4 * SEC), None);
    assert_eq!(sw.lookup(None, &mac(101), 4 * SEC), Some(Port::Uplink));
    // Refreshing keeps mac(101) alive past its original aging time.
    run(&mut sw, Port::Uplink, &untagged(B, mac(101)), 9 * SEC);
    assert_eq!(
        sw.lookup(None, &mac(102), 12 * SEC + 1),
        None,
        "aged: seen at 2 s"
    );
    assert_eq!(sw.lookup(None, &mac(101), 12 * SEC + 1), Some(Port::Uplink));
    // A new MAC into a full table reclaims aged entries before evicting.
    run(&mut sw, Port::Uplink, &untagged(B, mac(105)), 13 * SEC + 1);
    assert_eq!(sw.counters().aged_out, 2, "mac(102) and mac(103)");
    assert_eq!(sw.counters().evicted, 1);
    assert_eq!(sw.mac_table_len(), 3);
    assert_eq!(sw.expire(100 * SEC), 3);
    assert_eq!(sw.mac_table_len(), 0);
}

#[test]
fn flood_limit_with_time() {
    let mut sw = flat(); // 100/s, burst 10
    let bc = untagged(B, mac(1));
    let verdicts: Vec<_> = (0..12)
        .map(|_| run(&mut sw, Port::Endpoint(1), &bc, SEC).0)
        .collect();
    assert!(verdicts[..10].iter().all(|v| *v == Verdict::Flooded(3)));
    assert!(verdicts[10..]
        .iter()
        .all(|v| *v == Verdict::Dropped(DropReason::FloodLimit)));
    // Per ingress port: endpoint 2 and the uplink have their own buckets.
    assert_eq!(
        run(&mut sw, Port::Endpoint(2), &untagged(B, mac(2)), SEC).0,
        Verdict::Flooded(3)
    );
    assert_eq!(
        run(&mut sw, Port::Uplink, &untagged(B, mac(90)), SEC).0,
        Verdict::Flooded(3)
    );
    // 10 ms later one token is back; known unicast is never limited.
    assert_eq!(
        run(&mut sw, Port::Endpoint(1), &bc, SEC + 9_999_999).0,
        Verdict::Dropped(DropReason::FloodLimit)
    );
    assert_eq!(
        run(&mut sw, Port::Endpoint(1), &bc, SEC + 10_000_000).0,
        Verdict::Flooded(3)
    );
    assert_eq!(
        run(&mut sw, Port::Endpoint(1), &bc, SEC + 10_000_000).0,
        Verdict::Dropped(DropReason::FloodLimit)
    );
    let uc = untagged(mac(2), mac(1));
    assert_eq!(
        run(&mut sw, Port::Endpoint(1), &uc, SEC + 10_000_000).0,
        Verdict::Forwarded(Port::Endpoint(2))
    );
    assert_eq!(sw.counters().dropped_flood_limit, 4);
    // Learning still happens on limited frames.
    for _ in 0..12 {
        run(&mut sw, Port::Uplink, &untagged(B, mac(91)), SEC);
    }
    assert_eq!(sw.lookup(None, &mac(91), SEC), Some(Port::Uplink));
}

/// Issue 9 A.2: an uplink storm in one VLAN cannot starve floods (ARP,
/// DHCP) in another.
#[test]
fn uplink_flood_limits_are_per_vlan() {
    let mut sw = Switch::new(cfg());
    sw.add_endpoint(1, ep(Some(5), &[mac(1)])).unwrap();
    sw.add_endpoint(2, ep(Some(6), &[mac(2)])).unwrap();
    let storm: Vec<_> = (0..50)
        .map(|_| run(&mut sw, Port::Uplink, &tagged(B, mac(90), 5), 0).0)
        .collect();
    assert!(storm.contains(&Verdict::Dropped(DropReason::FloodLimit)));
    for _ in 0..10 {
        assert_eq!(
            run(&mut sw, Port::Uplink, &tagged(B, mac(91), 6), 0).0,
            Verdict::Flooded(1)
        );
    }
}

#[test]
fn endpoint_lifecycle_flushes() {
    let mut sw = flat();
    run(&mut sw, Port::Endpoint(1), &untagged(B, mac(1)), 0);
    run(&mut sw, Port::Endpoint(2), &untagged(B, mac(2)), 0);
    assert_eq!(
        sw.mac_table_len(),
        0,
        "endpoint MACs are pinned, not learned"
    );
    assert_eq!(sw.remove_endpoint(1), Ok(ep(None, &[mac(1)])));
    assert_eq!(sw.lookup(None, &mac(1), 0), None);
    let (v, sent) = run(&mut sw, Port::Endpoint(2), &untagged(mac(1), mac(2)), 1);
    assert_eq!(
        (v, ports(&sent)),
        (
            Verdict::Flooded(2),
            [Port::Uplink, Port::Endpoint(3)].to_vec()
        )
    );
    assert_eq!(
        run(&mut sw, Port::Endpoint(1), &untagged(B, mac(1)), 1).0,
        Verdict::Dropped(DropReason::UnknownPort)
    );
    // Reconfiguring into VLAN 7 moves the endpoint's MACs and floods.
    sw.reconfigure_endpoint(2, ep(Some(7), &[mac(2), mac(22)]))
        .unwrap();
    assert_eq!(sw.lookup(Some(7), &mac(22), 2), Some(Port::Endpoint(2)));
    assert_eq!(sw.lookup(None, &mac(2), 2), None);
    let (_, sent) = run(&mut sw, Port::Endpoint(2), &untagged(B, mac(22)), 2);
    assert_eq!(sent, [(Port::Uplink, tagged(B, mac(22), 7))]);
    // Configuration errors.
    assert_eq!(
        sw.add_endpoint(2, ep(None, &[])),
        Err(ConfigError::EndpointExists(2))
    );
    assert_eq!(
        sw.add_endpoint(5, ep(Some(0), &[])),
        Err(ConfigError::BadVlan(0))
    );
    assert_eq!(
        sw.add_endpoint(5, ep(Some(4095), &[])),
        Err(ConfigError::BadVlan(4095))
    );
    assert_eq!(
        sw.add_endpoint(5, ep(None, &[MCAST])),
        Err(ConfigError::BadMac(MCAST))
    );
    assert_eq!(
        sw.add_endpoint(5, ep(None, &[mac(3)])),
        Err(ConfigError::MacInUse {
            mac: mac(3),
            endpoint: 3
        })
    );
    assert_eq!(
        sw.add_endpoint(5, ep(None, &[mac(5), mac(5)])),
        Err(ConfigError::MacInUse {
            mac: mac(5),
            endpoint: 5
        })
    );
    assert_eq!(
        sw.add_endpoint(5, ep(Some(9), &[mac(3)])),
        Ok(()),
        "other VLAN"
    );
    assert_eq!(
        sw.reconfigure_endpoint(1, ep(None, &[])),
        Err(ConfigError::UnknownEndpoint(1))
    );
    assert_eq!(sw.remove_endpoint(1), Err(ConfigError::UnknownEndpoint(1)));
    assert_eq!(
        sw.endpoints().map(|(id, _)| id).collect::<Vec<_>>(),
        [2, 3, 5]
    );
}

/// Issue 9 A.2: a remote host claiming a guest's MAC is dropped and
/// counted, never learned as a move; a flood of forged sources cannot
/// evict a guest's MAC.
#[test]
fn pinned_macs_cannot_be_stolen_or_evicted() {
    let mut sw = flat();
    assert_eq!(
        run(&mut sw, Port::Uplink, &untagged(B, mac(1)), 0).0,
        Verdict::Dropped(DropReason::StolenMac)
    );
    assert_eq!(sw.counters().dropped_mac_steal, 1);
    let (v, _) = run(&mut sw, Port::Endpoint(2), &untagged(mac(1), mac(2)), 1);
    assert_eq!(v, Verdict::Forwarded(Port::Endpoint(1)));
    // The same MAC in another segment is another host's.
    run(&mut sw, Port::Uplink, &tagged(B, mac(1), 5), 2);
    assert_eq!(sw.lookup(Some(5), &mac(1), 2), Some(Port::Uplink));
    // 200 forged sources churn the 16-entry table; the guests' MACs stay.
    for n in 0..200u32 {
        let src = [0x02, 1, 0, 0, (n >> 8) as u8, n as u8];
        run(&mut sw, Port::Uplink, &untagged(mac(3), src), 3);
    }
    assert!(sw.mac_table_len() <= 16);
    for n in 1..=3 {
        let (v, _) = run(&mut sw, Port::Uplink, &untagged(mac(n), mac(70)), 4);
        assert_eq!(v, Verdict::Forwarded(Port::Endpoint(u16::from(n))));
    }
}

#[test]
fn zero_capacity_floods_everything() {
    let mut sw = Switch::new(SwitchConfig {
        mac_capacity: 0,
        ..cfg()
    });
    sw.add_endpoint(1, ep(None, &[mac(1)])).unwrap();
    sw.add_endpoint(2, ep(None, &[mac(2)])).unwrap();
    run(&mut sw, Port::Uplink, &untagged(B, mac(77)), 0);
    assert_eq!(sw.mac_table_len(), 0);
    assert_eq!(
        run(&mut sw, Port::Endpoint(2), &untagged(mac(77), mac(2)), 0).0,
        Verdict::Flooded(2)
    );
}

#[test]
fn a_learning_endpoint_is_a_remote_segment() {
    // Endpoint 9 is a tunnel to a remote segment: its hosts' MACs are
    // learned on it, not announced.
    let mut sw = flat();
    sw.add_endpoint(9, ep(None, &[])).unwrap();
    // Not yet learning: like any endpoint without MACs, it may send nothing.
    assert_eq!(
        run(&mut sw, Port::Endpoint(9), &untagged(mac(1), mac(70)), 0).0,
        Verdict::Dropped(DropReason::Spoofed)
    );
    sw.set_learning(9, true).unwrap();
    let (v, sent) = run(&mut sw, Port::Endpoint(9), &untagged(mac(1), mac(70)), 1);
    assert_eq!(
        (v, ports(&sent)),
        (
            Verdict::Forwarded(Port::Endpoint(1)),
            [Port::Endpoint(1)].to_vec()
        )
    );
    // The remote host is now known behind endpoint 9.
    assert_eq!(sw.lookup(None, &mac(70), 2), Some(Port::Endpoint(9)));
    let (v, _) = run(&mut sw, Port::Endpoint(1), &untagged(mac(70), mac(1)), 2);
    assert_eq!(v, Verdict::Forwarded(Port::Endpoint(9)));
    // It may not use a local endpoint's MAC, nor a group or zero source.
    for (src, why) in [
        (mac(2), DropReason::StolenMac),
        (B, DropReason::BadSource),
        ([0; 6], DropReason::BadSource),
    ] {
        assert_eq!(
            run(&mut sw, Port::Endpoint(9), &untagged(mac(1), src), 3).0,
            Verdict::Dropped(why)
        );
    }
    // Still no tags from an endpoint.
    assert_eq!(
        run(&mut sw, Port::Endpoint(9), &tagged(mac(1), mac(70), 5), 3).0,
        Verdict::Dropped(DropReason::TaggedFromEndpoint)
    );
    // Back to a Spike's port: what was learned on it is forgotten.
    sw.set_learning(9, false).unwrap();
    assert_eq!(sw.lookup(None, &mac(70), 4), None);
    assert_eq!(
        sw.set_learning(10, true),
        Err(ConfigError::UnknownEndpoint(10))
    );
}

#[test]
fn a_local_vlan_stays_off_the_uplink() {
    // Endpoints 1 and 2 on VLAN 40, a segment of this Corm only (a guest
    // and the tunnel relaying it to another host).
    let mut sw = Switch::new(cfg());
    sw.add_endpoint(1, ep(Some(40), &[mac(1)])).unwrap();
    sw.add_endpoint(2, ep(Some(40), &[mac(2)])).unwrap();
    sw.set_local_vlan(40, true).unwrap();
    let (v, sent) = run(&mut sw, Port::Endpoint(1), &untagged(B, mac(1)), 0);
    assert_eq!(
        (v, ports(&sent)),
        (Verdict::Flooded(1), [Port::Endpoint(2)].to_vec())
    );
    // Unknown unicast too: never out of the NIC.
    let (_, sent) = run(&mut sw, Port::Endpoint(1), &untagged(mac(77), mac(1)), 0);
    assert_eq!(ports(&sent), [Port::Endpoint(2)]);
    // Frames tagged with it from outside are not its.
    assert_eq!(
        run(&mut sw, Port::Uplink, &tagged(B, mac(70), 40), 0).0,
        Verdict::Dropped(DropReason::BadVlan)
    );
    // Trunked again: floods reach the uplink.
    sw.set_local_vlan(40, false).unwrap();
    let (_, sent) = run(&mut sw, Port::Endpoint(1), &untagged(B, mac(1)), 0);
    assert_eq!(ports(&sent), [Port::Uplink, Port::Endpoint(2)]);
    assert_eq!(sw.set_local_vlan(0, true), Err(ConfigError::BadVlan(0)));
    assert_eq!(
        sw.set_local_vlan(4095, true),
        Err(ConfigError::BadVlan(4095))
    );
}
