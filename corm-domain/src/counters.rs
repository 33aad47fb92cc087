//! Every counter the Corm publishes, by name, as one round of a
//! [`CounterMirror`] over its counter page (pv_runtime::counter_page: pages
//! granted read-only to dom0, read by `banana status` / `banana counter`).
//! Nothing here touches xenstore.
//!
//! Names (the keys they had under `data/banana/` in xenstore before):
//!
//! * `nic/counters/<k>`: the driver's [`NicCounters`] and the data plane's
//!   [`DataplaneCounters`](crate::dataplane::counters::DataplaneCounters);
//! * `switch/counters/<k>`, `switch/macs`, `switch/ip-bindings`;
//! * `wire/<id>/counters/<k>`: each wire's channel counters (they come and go
//!   with the wires);
//! * `underlay/<k>`: the underlay's ARP and decapsulation counters
//!   (`encap::DecapCounters`, one per drop reason), when it has an address;
//! * `tunnel/<id>/counters/<k>`: each encap wire's counters (in place of the
//!   channel counters its endpoint would have as a local wire);
//! * `mem/<k>`: the runtime's memory gauges; `wire-pages-retiring`: pages of
//!   torn-down wires still granted (flat over time, or wires leak).

use local_wire::channel::ChannelCounters;
use local_wire::WireMemory;
use pv_runtime::counter_page::{CounterMirror, CounterTable, ENTRIES_PER_PAGE, MAX_COUNTERS};
use pv_runtime::shared_page::SharedPage;
use xs_schema::groups;

use crate::dataplane::counters::DataplaneCounters;
use crate::dataplane::{Dataplane, MAX_ENDPOINTS};
use crate::nic::NicCounters;
use crate::switch::counters::Counters as SwitchCounters;
use crate::tunnel::echo::EchoCounters;
use crate::tunnel::{TunnelCounters, UnderlayCounters};
use encap::peer::PeerCounters;

/// The underlay's counters: its own, its echo responder's and the
/// decapsulation's (data, control and one per drop reason).
pub const UNDERLAY: usize =
    UnderlayCounters::NAMES.len() + EchoCounters::NAMES.len() + 2 + encap::Reason::COUNT;

/// Counters an encap wire publishes: its own and its peer's (control
/// sequence: lost, stale; epochs, spoofing).
pub const PER_TUNNEL: usize = TunnelCounters::NAMES.len() + PeerCounters::NAMES.len();

/// Counters one endpoint's wire publishes at most: a local wire's channel
/// or an encap wire's.
const PER_ENDPOINT: usize = if PER_TUNNEL > ChannelCounters::NAMES.len() {
    PER_TUNNEL
} else {
    ChannelCounters::NAMES.len()
};

/// Counters that do not depend on the wires: NIC and data plane, switch
/// (with its two gauges), the underlay's, WireGuard's, up to 8 memory
/// gauges and `wire-pages-retiring`.
pub const FIXED: usize = NicCounters::NAMES.len()
    + DataplaneCounters::NAMES.len()
    + SwitchCounters::NAMES.len()
    + 2
    + UNDERLAY
    + wireguard::Counters::NAMES.len()
    + 8
    + 1;

/// Counter slots a Corm with `endpoints` endpoints needs with every one
/// wired, rounded up to whole pages (at most [`MAX_COUNTERS`]).
pub const fn capacity(endpoints: usize) -> usize {
    let endpoints = if endpoints > MAX_ENDPOINTS {
        MAX_ENDPOINTS
    } else {
        endpoints
    };
    let need = FIXED + endpoints * PER_ENDPOINT;
    let cap = need.div_ceil(ENTRIES_PER_PAGE) * ENTRIES_PER_PAGE;
    if cap > MAX_COUNTERS {
        MAX_COUNTERS
    } else {
        cap
    }
}

/// Mirrors every counter into `table` (values every call; names registered
/// or dropped as wires come and go).
pub fn publish<P: SharedPage, M: WireMemory>(
    mirror: &mut CounterMirror,
    table: &mut CounterTable<P>,
    nic: &NicCounters,
    dp: &Dataplane<M>,
    gauges: &[(&str, u64)],
    retiring: u64,
) {
    let mut r = mirror.round(table);
    r.put(groups::WIRE_PAGES_RETIRING, retiring);
    r.put_under(groups::MEM, gauges.iter().copied());
    r.put_under(groups::NIC, nic.iter().chain(dp.counters.iter()));
    r.put_under(groups::SWITCH, dp.switch.counters().iter());
    r.put(groups::SWITCH_MACS, dp.switch.mac_table_len() as u64);
    r.put(
        groups::SWITCH_IP_BINDINGS,
        dp.switch.ip_bindings_len() as u64,
    );
    for (id, c) in dp.wire_counters() {
        r.put_under(&groups::wire(id), c.iter());
    }
    if let Some(u) = dp.underlay() {
        let own = u.counters.iter().chain(u.echo_counters.iter());
        r.put_under(groups::UNDERLAY, own.chain(u.decap.iter()));
        for (id, c, p) in u.tunnel_counters() {
            r.put_under(&groups::tunnel(id), c.iter().chain(p.iter()));
        }
        if let Some(wg) = u.wireguard() {
            r.put_under(groups::WIREGUARD, wg.counters().iter());
        }
    }
    r.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::tests::Lab;
    use pv_runtime::counter_page::testing::{heap_table, read_all, value, GAUGES};

    #[test]
    fn every_counter_the_corm_published_in_xenstore_is_in_the_page() {
        let mut lab = Lab::new(&[None, Some(10)]);
        lab.dp.counters.nic_tx = 5;
        let nic = NicCounters {
            rx_frames: 40,
            tx_bytes: 1500,
            ..Default::default()
        };
        let mut t = heap_table(capacity(2));
        let mut m = CounterMirror::new();
        publish(&mut m, &mut t, &nic, &lab.dp, &GAUGES, 2);
        let all = read_all(&t);
        assert_eq!(value(&all, "nic/counters/rx_frames"), Some(40));
        assert_eq!(value(&all, "nic/counters/tx_bytes"), Some(1500));
        assert_eq!(value(&all, "nic/counters/nic_tx"), Some(5));
        assert_eq!(value(&all, "switch/counters/forwarded"), Some(0));
        assert!(value(&all, "switch/macs").is_some());
        assert_eq!(value(&all, "switch/ip-bindings"), Some(0));
        assert_eq!(value(&all, "mem/heap_bytes"), Some(4096));
        assert_eq!(value(&all, "mem/grants_free"), Some(9));
        assert_eq!(value(&all, "wire-pages-retiring"), Some(2));
        for wire in [10, 11] {
            for k in ChannelCounters::NAMES {
                let n = format!("wire/{wire}/counters/{k}");
                assert!(value(&all, &n).is_some(), "{n}");
            }
        }
        let expect = NicCounters::NAMES.len()
            + DataplaneCounters::NAMES.len()
            + SwitchCounters::NAMES.len()
            + 2
            + GAUGES.len()
            + 1
            + 2 * ChannelCounters::NAMES.len();
        assert_eq!(all.len(), expect);
        assert_eq!(m.refused(), 0);
    }

    #[test]
    fn a_wire_that_goes_takes_its_counters_with_it() {
        let mut lab = Lab::new(&[None, None]);
        let nic = NicCounters::default();
        let mut t = heap_table(capacity(2));
        let mut m = CounterMirror::new();
        publish(&mut m, &mut t, &nic, &lab.dp, &GAUGES, 0);
        assert!(value(&read_all(&t), "wire/11/counters/rx_frames").is_some());
        lab.dp.unplug(1);
        publish(&mut m, &mut t, &nic, &lab.dp, &GAUGES, 0);
        let all = read_all(&t);
        assert!(value(&all, "wire/11/counters/rx_frames").is_none());
        assert!(value(&all, "wire/10/counters/rx_frames").is_some());
        // Values move without a name change.
        let seq = t.seq();
        let nic = NicCounters {
            rx_frames: 99,
            ..Default::default()
        };
        publish(&mut m, &mut t, &nic, &lab.dp, &GAUGES, 0);
        assert_eq!(t.seq(), seq);
        assert_eq!(value(&read_all(&t), "nic/counters/rx_frames"), Some(99));
    }

    #[test]
    fn a_tunnel_publishes_in_place_of_a_wire() {
        const { assert!(PER_TUNNEL <= PER_ENDPOINT) };
        let mut lab = Lab::new(&[None]);
        lab.dp.add_endpoint(1, None).unwrap();
        let cfg = crate::tunnel::UnderlayConfig::parse("10.77.0.40/24", None).unwrap();
        lab.dp.set_underlay(Some(crate::tunnel::Underlay::new(
            cfg,
            [0x52, 0x54, 0, 0, 0, 9],
            1,
        )));
        lab.dp
            .add_tunnel(crate::tunnel::TunnelConfig {
                wire: 20,
                endpoint: 1,
                encap: encap::Encap::Vxlan,
                vni: encap::Vni::new(42).unwrap(),
                remote: core::net::SocketAddrV4::new(core::net::Ipv4Addr::new(10, 77, 0, 1), 4789),
                control: false,
                wireguard: None,
            })
            .unwrap();
        let mut t = heap_table(capacity(2));
        let mut m = CounterMirror::new();
        publish(&mut m, &mut t, &NicCounters::default(), &lab.dp, &GAUGES, 0);
        let all = read_all(&t);
        for k in [
            "rx_frames",
            "tx_frames",
            "dropped_no_next_hop",
            "dropped_spoofed",
            "control_lost",
            "control_stale",
            "peer_deaths",
        ] {
            assert_eq!(
                value(&all, &format!("tunnel/20/counters/{k}")),
                Some(0),
                "{k}"
            );
        }
        assert_eq!(value(&all, "underlay/arp_answered"), Some(0));
        assert_eq!(value(&all, "underlay/dropped_ipv4_bad_checksum"), Some(0));
        assert_eq!(m.refused(), 0);
    }

    #[test]
    fn every_endpoint_wired_fits() {
        for n in [0, 1, 2, 4, 63, MAX_ENDPOINTS] {
            assert!(
                FIXED + n * ChannelCounters::NAMES.len() <= capacity(n),
                "{n}"
            );
            assert!(capacity(n) <= MAX_COUNTERS);
        }
        // The largest Corm: as many fixed counters as FIXED allows and 64
        // wires' fit its table.
        let mut t = heap_table(capacity(MAX_ENDPOINTS));
        let mut m = CounterMirror::new();
        let mut r = m.round(&mut t);
        for i in 0..FIXED {
            r.put(&format!("fixed/{i}"), 1);
        }
        for w in 100..100 + MAX_ENDPOINTS {
            r.put_under(
                &format!("wire/{w}/counters"),
                ChannelCounters::default().iter(),
            );
        }
        r.finish();
        assert_eq!(
            t.len(),
            FIXED + MAX_ENDPOINTS * ChannelCounters::NAMES.len()
        );
        assert_eq!(m.refused(), 0);
    }
}
