//! Which MACs an endpoint's Spike may announce: the controller's list, and
//! never one another endpoint owns. A refusal is counted, said once, and
//! costs only that wire.

use super::*;
use local_wire::channel::Lost;
use wire_proto::RefusalReason;

/// Endpoints whose Spikes announce `announce[i]`, the Corm allowing `allow[i]`.
fn lab(allow: &[&[[u8; 6]]], announce: &[[u8; 6]]) -> (Lab, Vec<Event>) {
    let spikes: Vec<Spike> = announce
        .iter()
        .zip(allow)
        .map(|(mac, ok)| Spike {
            vlan: None,
            announce: *mac,
            allow: Some(ok),
            features: ALL,
        })
        .collect();
    Lab::build(&spikes)
}

#[test]
fn a_spike_claiming_a_mac_the_controller_did_not_allow_is_refused() {
    let (mut lab, events) = lab(&[&[GUEST[1]], &[GUEST[1]]], &[GUEST[0], GUEST[1]]);
    assert!(events.contains(&Event::Up {
        endpoint: 1,
        wire: 11
    }));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::Up { endpoint: 0, .. })));
    assert!(events.contains(&Event::Down {
        endpoint: 0,
        wire: 10,
        why: Lost::Refused(RefusalReason::MacNotAllowed),
    }));
    assert_eq!(lab.dp.channel(0).unwrap().counters.hellos_refused, 1);
    assert_eq!(
        lab.spikes[0].lost(),
        Some(Lost::PeerRefused(RefusalReason::MacNotAllowed))
    );
    // The honest endpoint carries traffic; the impostor's MAC is not in the table.
    lab.nic.rx.push_back(eth(GUEST[1], PEER, 0x0800, 64));
    lab.nic.rx.push_back(eth(GUEST[0], PEER, 0x0800, 64));
    lab.pump_from_nic();
    assert_eq!(
        lab.received(1).len(),
        2,
        "GUEST[0] unknown: flooded to the live endpoint"
    );
    assert!(lab.received(0).is_empty());
}

#[test]
fn a_mac_another_endpoint_owns_is_rejected_once_not_every_poll() {
    let both: &[[u8; 6]] = &[GUEST[0]];
    let (mut lab, events) = lab(&[both, both], &[GUEST[0], GUEST[0]]);
    let ups = events
        .iter()
        .filter(|e| matches!(e, Event::Up { .. }))
        .count();
    assert_eq!(ups, 1, "{events:?}");
    let refused = events
        .iter()
        .filter(|e| matches!(e, Event::Refused { .. }))
        .count();
    assert_eq!(refused, 1, "{events:?}");
    let loser = events
        .iter()
        .find_map(|e| match e {
            Event::Refused { endpoint, .. } => Some(*endpoint),
            _ => None,
        })
        .unwrap();
    let ch = lab.dp.channel(loser).unwrap();
    assert_eq!(ch.lost(), Some(Lost::Refused(RefusalReason::MacNotAllowed)));
    assert_eq!(ch.counters.hellos_refused, 1);
}
