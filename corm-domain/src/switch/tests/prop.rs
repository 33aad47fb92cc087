//! Random frames, ports and times: the switch never panics, never grows its
//! table past capacity, never emits on the ingress port or across VLANs.

use alloc::vec::Vec;

use proptest::collection::vec;
use proptest::prelude::*;

use super::super::*;

/// A frame biased toward interesting headers: few distinct MACs (so learning,
/// moves and eviction happen), sometimes tagged, sometimes short.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    let mac = prop_oneof![
        (0u8..12).prop_map(|n| [2, 0, 0, 0, 0, n]),
        Just([0xff; 6]),
        any::<[u8; 6]>(),
    ];
    let ethertype = prop_oneof![Just(0x0800u16), Just(0x8100), Just(0x88a8), any::<u16>()];
    (
        mac.clone(),
        mac,
        ethertype,
        0u16..4096,
        vec(any::<u8>(), 0..8),
        0usize..40,
    )
        .prop_map(|(dst, src, et, vid, payload, cut)| {
            let mut f = Vec::new();
            f.extend_from_slice(&dst);
            f.extend_from_slice(&src);
            f.extend_from_slice(&et.to_be_bytes());
            f.extend_from_slice(&(vid % 8).to_be_bytes()); // VIDs 0..8 reachable
            f.extend_from_slice(&payload);
            if cut < f.len() && cut % 3 == 0 {
                f.truncate(cut);
            }
            f
        })
}

fn port() -> impl Strategy<Value = Port> {
    prop_oneof![Just(Port::Uplink), (0u16..6).prop_map(Port::Endpoint)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_stays_bounded(
        cap in 0usize..6,
        ops in vec((port(), frame(), 0u64..3_000_000_000, any::<u8>()), 1..200),
    ) {
        let mut sw = Switch::new(SwitchConfig {
            mac_capacity: cap,
            aging_ns: 1_000_000_000,
            flood: FloodLimit { rate: 50, burst: 4 },
        });
        let mut now = 0u64;
        for (from, f, dt, ctl) in ops {
            now = if ctl == 0 { now.saturating_sub(dt) } else { now + dt };
            // Now and then churn the endpoints.
            let id = u16::from(ctl % 5);
            let vlan = [None, Some(1), Some(2), Some(4094), Some(0)][usize::from(ctl / 5 % 5)];
            let macs = heapless::Vec::from_slice(&[[2, 0, 0, 0, 0, ctl % 12]]).unwrap();
            match ctl % 16 {
                0 => { let _ = sw.remove_endpoint(id); }
                1 => { let _ = sw.add_endpoint(id, EndpointConfig { vlan, macs }); }
                2 => { let _ = sw.reconfigure_endpoint(id, EndpointConfig { vlan, macs }); }
                3 => { sw.expire(now); }
                _ => {}
            }
            let in_vlan = |p: Port| match p {
                Port::Uplink => None,
                Port::Endpoint(id) => sw.endpoint(id).map(|c| c.vlan),
            };
            let from_vlan = in_vlan(from);
            let mut sent = Vec::new();
            let before = *sw.counters();
            let v = sw.ingress(from, &f, now, &mut |to, eg: Egress<'_>| {
                let mut buf = [0u8; 64];
                assert_eq!(eg.write_to(&mut buf), Some(eg.len()));
                sent.push((to, matches!(eg, Egress::Tagged { .. })));
            });
            prop_assert!(sw.mac_table_len() <= cap);
            prop_assert!(sent.iter().all(|(to, _)| *to != from));
            // Endpoint-to-endpoint copies stay within the sender's VLAN.
            if let Some(vlan) = from_vlan {
                for (to, is_tagged) in &sent {
                    match to {
                        Port::Uplink => prop_assert_eq!(*is_tagged, vlan.is_some()),
                        Port::Endpoint(id) => prop_assert_eq!(sw.endpoint(*id).map(|c| c.vlan), Some(vlan)),
                    }
                }
            }
            let counted: u64 = sw.counters().iter().zip(before.iter())
                .filter(|((n, _), _)| !matches!(*n, "learned" | "aged_out" | "evicted" | "moved"))
                .map(|((_, a), (_, b))| a - b).sum();
            prop_assert_eq!(counted, 1, "{:?}", v);
        }
    }
}
