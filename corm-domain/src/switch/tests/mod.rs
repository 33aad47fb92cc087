//! Scenario tests of the switch through its public API, on emitted bytes.

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
        let mut buf = [0u8; 128];
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
fn learns_and_forwards_unicast() {
    let mut sw = flat();
    // mac(2) unknown: flooded to all but the ingress.
    let f = untagged(mac(2), mac(1));
    let (v, sent) = run(&mut sw, Port::Endpoint(1), &f, 0);
    assert_eq!(v, Verdict::Flooded(3));
    assert_eq!(sw.lookup(None, &mac(1), 0), Some(Port::Endpoint(1)));
    assert!(sent.iter().all(|(_, b)| *b == f));
    // The reply is forwarded to endpoint 1 only; then mac(2) is known too.
    let r = untagged(mac(1), mac(2));
    let (v, sent) = run(&mut sw, Port::Endpoint(2), &r, 1);
    assert_eq!(v, Verdict::Forwarded(Port::Endpoint(1)));
    assert_eq!(sent, [(Port::Endpoint(1), r)]);
    let (v, _) = run(&mut sw, Port::Endpoint(1), &f, 2);
    assert_eq!(v, Verdict::Forwarded(Port::Endpoint(2)));
    // Learned on the uplink, too.
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
    let c = sw.counters();
    assert_eq!((c.forwarded, c.flooded, c.learned), (4, 1, 4));
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
    // Learning still happened on limited frames.
    assert_eq!(sw.lookup(None, &mac(1), SEC), Some(Port::Endpoint(1)));
}

#[test]
fn endpoint_lifecycle_flushes() {
    let mut sw = flat();
    run(&mut sw, Port::Endpoint(1), &untagged(B, mac(1)), 0);
    run(&mut sw, Port::Endpoint(2), &untagged(B, mac(2)), 0);
    assert_eq!(sw.mac_table_len(), 2);
    assert_eq!(sw.remove_endpoint(1), Ok(ep(None, &[mac(1)])));
    assert_eq!(sw.mac_table_len(), 1);
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
    // Reconfiguring into VLAN 7 flushes too and moves the endpoint's floods.
    sw.reconfigure_endpoint(2, ep(Some(7), &[mac(2), mac(22)]))
        .unwrap();
    assert_eq!(sw.mac_table_len(), 0);
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

#[test]
fn mac_moves_between_ports() {
    let mut sw = flat();
    // A guest's MAC first seen outside (e.g. before it migrated here) …
    run(&mut sw, Port::Uplink, &untagged(B, mac(1)), 0);
    assert_eq!(sw.lookup(None, &mac(1), 0), Some(Port::Uplink));
    // … then from its endpoint: the entry moves.
    run(&mut sw, Port::Endpoint(1), &untagged(B, mac(1)), 1);
    assert_eq!(sw.lookup(None, &mac(1), 1), Some(Port::Endpoint(1)));
    assert_eq!((sw.counters().moved, sw.counters().learned), (1, 1));
    let (v, _) = run(&mut sw, Port::Endpoint(2), &untagged(mac(1), mac(2)), 2);
    assert_eq!(v, Verdict::Forwarded(Port::Endpoint(1)));
    // Same MAC in two segments is two entries, not a move.
    run(&mut sw, Port::Uplink, &tagged(B, mac(1), 5), 3);
    assert_eq!(sw.counters().moved, 1);
    assert_eq!(sw.lookup(Some(5), &mac(1), 3), Some(Port::Uplink));
    let entries: Vec<_> = sw.mac_table().map(|e| (e.vlan, e.mac, e.port)).collect();
    assert!(entries.contains(&(None, mac(1), Port::Endpoint(1))));
    assert!(entries.contains(&(Some(5), mac(1), Port::Uplink)));
}

#[test]
fn zero_capacity_floods_everything() {
    let mut sw = Switch::new(SwitchConfig {
        mac_capacity: 0,
        ..cfg()
    });
    sw.add_endpoint(1, ep(None, &[mac(1)])).unwrap();
    sw.add_endpoint(2, ep(None, &[mac(2)])).unwrap();
    run(&mut sw, Port::Endpoint(1), &untagged(B, mac(1)), 0);
    assert_eq!(sw.mac_table_len(), 0);
    assert_eq!(
        run(&mut sw, Port::Endpoint(2), &untagged(mac(1), mac(2)), 0).0,
        Verdict::Flooded(2)
    );
}
