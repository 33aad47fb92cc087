//! Underlays and encap wires: a Corm endpoint wired to a remote VTEP.

use super::*;
use crate::registry::{Access, Registry};

const UNDERLAY: &str = "--underlay 10.77.0.40/24";

/// Corm c0 (domid 1) with an underlay, Spike s1 (domid 2).
fn host() -> Host {
    let h = Host::new();
    h.ok(&format!("corm create c0 --bdf 00:03.0 {UNDERLAY}"));
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    h
}

/// The tunnel keys of wire `id` in domain `domid`'s config.
fn tunnel(h: &Host, domid: u32, id: u32) -> Vec<String> {
    h.tree(&format!("/banana/config/{domid}/tunnel/{id}"))
}

fn keys(domid: u32, id: u32, kv: &[(&str, &str)]) -> Vec<String> {
    kv.iter()
        .map(|(k, v)| format!("/banana/config/{domid}/tunnel/{id}/{k}={v}"))
        .collect()
}

#[test]
fn create_with_underlay_and_gateway_records_and_configures_them() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0 --underlay 10.77.0.40/024 --gateway 10.77.0.254");
    assert_eq!(
        h.get("/banana/corm/c0/underlay").as_deref(),
        Some("10.77.0.40/24")
    );
    assert_eq!(
        h.get("/banana/corm/c0/gateway").as_deref(),
        Some("10.77.0.254")
    );
    assert_eq!(
        h.tree("/banana/config/1"),
        [
            "/banana/config/1/name=c0",
            "/banana/config/1/role=corm",
            "/banana/config/1/underlay=10.77.0.40/24",
            "/banana/config/1/underlay-gateway=10.77.0.254",
        ]
    );
    assert_eq!(
        h.reg.access("/banana/config/1/underlay"),
        Some(Access::ReadableBy(1))
    );
    // Without --gateway: no gateway key anywhere.
    h.ok("corm create c1 --bdf 00:04.0 --underlay 192.0.2.7/32");
    assert_eq!(
        h.get("/banana/config/2/underlay").as_deref(),
        Some("192.0.2.7/32")
    );
    assert_eq!(h.get("/banana/config/2/underlay-gateway"), None);
    assert_eq!(h.get("/banana/corm/c1/gateway"), None);
}

#[test]
fn bad_underlays_and_gateways_are_one_line_and_leave_nothing() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    let c = "corm create c0 --bdf 00:03.0";
    for (args, msg) in [
        (
            format!("{c} --underlay 10.77.0.40"),
            "bad --underlay '10.77.0.40': expected IP/PREFIX with an IPv4 address, e.g. 10.77.0.40/24",
        ),
        (
            format!("{c} --underlay fe80::1/64"),
            "bad --underlay 'fe80::1/64': expected IP/PREFIX with an IPv4 address, e.g. 10.77.0.40/24",
        ),
        (
            format!("{c} --underlay 10.77.0.40/0"),
            "bad --underlay '10.77.0.40/0': the prefix must be 1..=32",
        ),
        (
            format!("{c} --underlay 10.77.0.40/33"),
            "bad --underlay '10.77.0.40/33': the prefix must be 1..=32",
        ),
        (
            format!("{c} --underlay 224.0.0.5/24"),
            "bad --underlay '224.0.0.5/24': not a unicast host address (unspecified, broadcast, multicast or loopback)",
        ),
        (
            format!("{c} --underlay 10.77.0.255/24"),
            "bad --underlay '10.77.0.255/24': the network or broadcast address of 10.77.0.0/24: give the Corm a host address",
        ),
        (
            format!("{c} --gateway 10.77.0.254"),
            "--gateway 10.77.0.254 needs --underlay IP/PREFIX: a gateway is on the underlay's link",
        ),
        (
            format!("{c} {UNDERLAY} --gateway 10.78.0.1"),
            "bad --gateway '10.78.0.1': not inside the underlay's prefix 10.77.0.0/24",
        ),
        (
            format!("{c} {UNDERLAY} --gateway 10.77.0.40"),
            "bad --gateway '10.77.0.40': it is the underlay address itself",
        ),
        (
            format!("{c} {UNDERLAY} --gateway 255.255.255.255"),
            "bad --gateway '255.255.255.255': not a unicast host address (unspecified, broadcast, multicast or loopback)",
        ),
        (
            format!("{c} {UNDERLAY} --gateway gw"),
            "bad --gateway 'gw': expected an IPv4 address, e.g. 10.77.0.254",
        ),
    ] {
        assert_eq!(h.err(&args), msg, "banana {args}");
        assert_eq!(h.snapshot(), before, "banana {args} left something");
    }
}

#[test]
fn a_vxlan_wire_puts_one_tunnel_in_the_corms_config() {
    let h = host();
    assert_eq!(
        h.ok("wire connect vxlan:42@10.77.0.1 corm:c0/1"),
        "wire 1: corm:c0/1 <-> vxlan:42@10.77.0.1:4789 (configured)\n"
    );
    assert_eq!(
        h.tree("/banana/wire/1"),
        [
            "/banana/wire/1/a=corm:c0/1",
            "/banana/wire/1/b=vxlan:42@10.77.0.1:4789",
            "/banana/wire/1/state=configured",
        ]
    );
    assert_eq!(
        tunnel(&h, 1, 1),
        keys(
            1,
            1,
            &[
                ("encap", "vxlan"),
                ("endpoint", "1"),
                ("port", "4789"),
                ("remote", "10.77.0.1"),
                ("vni", "42"),
            ]
        )
    );
    assert!(h.tree("/banana/config/1/wire").is_empty());
    assert!(h.tree("/banana/config/2/tunnel").is_empty());
    assert_eq!(
        h.reg.access("/banana/config/1/tunnel/1/vni"),
        Some(Access::ReadableBy(1))
    );
    assert_eq!(h.get("/banana/next-wire-id").as_deref(), Some("2"));
    // A later command's reconciliation keeps it as it is.
    h.ok("list");
    assert_eq!(h.get("/banana/wire/1/state").as_deref(), Some("configured"));
    assert_eq!(tunnel(&h, 1, 1).len(), 5);
}

#[test]
fn geneve_defaults_to_port_6081_and_an_explicit_port_is_kept() {
    let h = host();
    assert_eq!(
        h.ok("wire connect corm:c0/0 geneve:7@10.77.0.2"),
        "wire 1: corm:c0/0 <-> geneve:7@10.77.0.2:6081 (configured)\n"
    );
    assert_eq!(
        tunnel(&h, 1, 1),
        keys(
            1,
            1,
            &[
                ("encap", "geneve"),
                ("endpoint", "0"),
                ("port", "6081"),
                ("remote", "10.77.0.2"),
                ("vni", "7"),
            ]
        )
    );
    h.ok("wire connect corm:c0/2 vxlan:16777215@10.77.0.3:8472");
    assert_eq!(
        h.get("/banana/config/1/tunnel/2/port").as_deref(),
        Some("8472")
    );
    assert_eq!(
        h.get("/banana/config/1/tunnel/2/vni").as_deref(),
        Some("16777215")
    );
}

#[test]
fn encap_wiring_mistakes_are_refused_and_change_nothing() {
    let h = host();
    h.ok("corm create c1 --bdf 00:04.0");
    h.ok("wire connect corm:c0/0 vxlan:42@10.77.0.1");
    h.ok("wire connect corm:c0/1 spike:s1");
    let before = h.snapshot();
    for (args, msg) in [
        (
            "wire connect corm:c1/0 vxlan:42@10.77.0.1",
            "corm 'c1' has no underlay address (banana corm create ... --underlay IP/PREFIX)",
        ),
        (
            "wire connect spike:s1 vxlan:43@10.77.0.1",
            "cannot wire spike:s1 to vxlan:43@10.77.0.1:4789: only a Corm endpoint (corm:NAME/INDEX) can terminate a tunnel",
        ),
        (
            "wire connect vxlan:43@10.77.0.1 geneve:43@10.77.0.2",
            "cannot wire two VTEPs (vxlan:43@10.77.0.1:4789 and geneve:43@10.77.0.2:6081) together: one end must be a Corm endpoint (corm:NAME/INDEX)",
        ),
        (
            "wire connect vxlan:43@10.77.0.1 vxlan:43@10.77.0.1",
            "cannot wire two VTEPs (vxlan:43@10.77.0.1:4789 and vxlan:43@10.77.0.1:4789) together: one end must be a Corm endpoint (corm:NAME/INDEX)",
        ),
        // Same VNI and remote on one Corm, whatever the encapsulation and port.
        (
            "wire connect corm:c0/2 geneve:42@10.77.0.1:4790",
            "corm 'c0' already has a tunnel with VNI 42 to 10.77.0.1 (wire 1)",
        ),
        (
            "wire connect corm:c0/0 vxlan:43@10.77.0.1",
            "endpoint corm:c0/0 is already wired (wire 1)",
        ),
        (
            "wire connect corm:c0/1 vxlan:43@10.77.0.1",
            "endpoint corm:c0/1 is already wired (wire 2)",
        ),
        (
            "wire connect corm:c0/4 vxlan:43@10.77.0.1",
            "unknown endpoint corm:c0/4: corm 'c0' has endpoints 0..=3",
        ),
        (
            "wire connect corm:c9/0 vxlan:43@10.77.0.1",
            "unknown endpoint corm:c9/0: no corm named 'c9'",
        ),
        (
            "wire connect corm:c0/2 vxlan:43@10.77.0.40",
            "corm 'c0' cannot reach vxlan:43@10.77.0.40:4789: that is the Corm's own underlay address",
        ),
        (
            "wire connect corm:c0/2 vxlan:43@10.78.0.1",
            "corm 'c0' cannot reach vxlan:43@10.78.0.1:4789: outside its underlay 10.77.0.0/24 and it has no --gateway",
        ),
        (
            "wire connect corm:c0/2 vxlan:16777216@10.77.0.1",
            "bad VTEP 'vxlan:16777216@10.77.0.1': the VNI must be decimal 0..=16777215",
        ),
        (
            "wire connect corm:c0/2 vxlan:x@10.77.0.1",
            "bad VTEP 'vxlan:x@10.77.0.1': the VNI must be decimal 0..=16777215",
        ),
        (
            "wire connect corm:c0/2 vxlan:42@10.77.0.256",
            "bad VTEP 'vxlan:42@10.77.0.256': the remote must be a unicast IPv4 address, e.g. 10.77.0.1",
        ),
        (
            "wire connect corm:c0/2 geneve:42@239.1.1.1",
            "bad VTEP 'geneve:42@239.1.1.1': the remote must be a unicast IPv4 address, e.g. 10.77.0.1",
        ),
        (
            "wire connect corm:c0/2 vxlan:42@10.77.0.1:0",
            "bad VTEP 'vxlan:42@10.77.0.1:0': the port must be decimal 1..=65535",
        ),
        (
            "wire connect corm:c0/2 vxlan:42@10.77.0.1:65536",
            "bad VTEP 'vxlan:42@10.77.0.1:65536': the port must be decimal 1..=65535",
        ),
        (
            "wire connect corm:c0/2 vxlan:42",
            "bad VTEP 'vxlan:42': expected vxlan:VNI@IPv4[:PORT] or geneve:VNI@IPv4[:PORT]",
        ),
        (
            "wire connect corm:c0/2 gre:42@10.77.0.1",
            "bad endpoint 'gre:42@10.77.0.1': expected spike:NAME, corm:NAME/INDEX, vxlan:VNI@IPv4[:PORT] or geneve:VNI@IPv4[:PORT]",
        ),
    ] {
        assert_eq!(h.err(args), msg, "banana {args}");
        assert_eq!(h.snapshot(), before, "banana {args} left something");
    }
}

#[test]
fn a_gateway_lets_a_corm_reach_vteps_off_its_link() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0 --underlay 10.77.0.40/24 --gateway 10.77.0.254");
    h.ok("wire connect corm:c0/0 vxlan:42@198.51.100.9");
    assert_eq!(
        h.get("/banana/config/1/tunnel/1/remote").as_deref(),
        Some("198.51.100.9")
    );
}

#[test]
fn disconnect_by_id_or_by_vtep_text_removes_the_tunnel_keys() {
    let h = host();
    h.ok("wire connect corm:c0/1 vxlan:42@10.77.0.1");
    assert_eq!(
        h.ok("wire disconnect 1"),
        "wire 1: corm:c0/1 <-> vxlan:42@10.77.0.1:4789 disconnected\n"
    );
    assert!(h.tree("/banana/wire/1").is_empty());
    assert!(tunnel(&h, 1, 1).is_empty());
    assert_eq!(
        h.get("/banana/config/1/underlay").as_deref(),
        Some("10.77.0.40/24")
    );
    // By the VTEP, written with or without its (default) port, or by the
    // Corm endpoint.
    for (by, id) in [
        ("vxlan:42@10.77.0.1", 2),
        ("vxlan:42@10.77.0.1:4789", 3),
        ("corm:c0/1", 4),
    ] {
        h.ok("wire connect corm:c0/1 vxlan:42@10.77.0.1");
        assert_eq!(tunnel(&h, 1, id).len(), 5);
        assert_eq!(
            h.ok(&format!("wire disconnect {by}")),
            format!("wire {id}: corm:c0/1 <-> vxlan:42@10.77.0.1:4789 disconnected\n")
        );
        assert!(tunnel(&h, 1, id).is_empty(), "{by}");
        assert!(h.tree(&format!("/banana/wire/{id}")).is_empty(), "{by}");
    }
    assert_eq!(
        h.err("wire disconnect vxlan:42@10.77.0.1"),
        "endpoint vxlan:42@10.77.0.1:4789 is not wired"
    );
}

#[test]
fn a_vtep_in_two_corms_wires_is_disconnected_by_id() {
    let h = host();
    h.ok("corm create c1 --bdf 00:04.0 --underlay 10.77.0.41/24");
    h.ok("wire connect corm:c0/0 vxlan:42@10.77.0.1");
    h.ok("wire connect corm:c1/0 vxlan:42@10.77.0.1");
    let before = h.snapshot();
    assert_eq!(
        h.err("wire disconnect vxlan:42@10.77.0.1"),
        "vxlan:42@10.77.0.1:4789 is in wires 1,2: disconnect one by its id"
    );
    assert_eq!(h.snapshot(), before);
    h.ok("wire disconnect 2");
    assert_eq!(tunnel(&h, 1, 1).len(), 5);
    assert!(tunnel(&h, 3, 2).is_empty());
}

#[test]
fn repair_of_a_crashed_corm_rewrites_its_tunnels_under_the_new_domid() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0 --underlay 10.77.0.40/24 --gateway 10.77.0.254");
    h.ok("wire connect corm:c0/1 vxlan:42@10.77.0.1");
    h.ok("wire connect corm:c0/2 geneve:9@10.77.0.2:7000");
    h.xl.crash("c0");
    assert_eq!(
        h.ok("repair"),
        "corm c0: crashed (xl state ---sc-), restarted as domid 2\n"
    );
    assert!(h.tree("/banana/config/1").is_empty());
    assert_eq!(h.get("/banana/config/2/name").as_deref(), Some("c0"));
    assert_eq!(
        h.get("/banana/config/2/underlay").as_deref(),
        Some("10.77.0.40/24")
    );
    assert_eq!(
        h.get("/banana/config/2/underlay-gateway").as_deref(),
        Some("10.77.0.254")
    );
    assert_eq!(
        tunnel(&h, 2, 1),
        keys(
            2,
            1,
            &[
                ("encap", "vxlan"),
                ("endpoint", "1"),
                ("port", "4789"),
                ("remote", "10.77.0.1"),
                ("vni", "42"),
            ]
        )
    );
    assert_eq!(
        tunnel(&h, 2, 2),
        keys(
            2,
            2,
            &[
                ("encap", "geneve"),
                ("endpoint", "2"),
                ("port", "7000"),
                ("remote", "10.77.0.2"),
                ("vni", "9"),
            ]
        )
    );
    assert_eq!(
        h.reg.access("/banana/config/2/tunnel/1/vni"),
        Some(Access::ReadableBy(2))
    );
    assert_eq!(h.get("/banana/wire/1/state").as_deref(), Some("configured"));
    assert_eq!(h.ok("repair"), "nothing to repair\n");
}

#[test]
fn a_dead_corm_recreated_without_underlay_keeps_it_and_its_tunnels() {
    let h = host();
    h.ok("wire connect corm:c0/3 vxlan:42@10.77.0.1");
    h.xl.vanish("c0");
    h.ok("corm create c0 --bdf 00:03.0");
    assert_eq!(
        h.get("/banana/corm/c0/underlay").as_deref(),
        Some("10.77.0.40/24")
    );
    assert_eq!(
        h.get("/banana/config/3/underlay").as_deref(),
        Some("10.77.0.40/24")
    );
    assert_eq!(
        h.get("/banana/config/3/tunnel/1/endpoint").as_deref(),
        Some("3")
    );
}

#[test]
fn destroying_the_corm_drops_its_encap_wires() {
    let h = host();
    h.ok("wire connect corm:c0/1 vxlan:42@10.77.0.1");
    h.ok("corm destroy c0");
    assert!(h.tree("/banana/wire").is_empty());
    assert!(h.tree("/banana/config/1").is_empty());
    assert_eq!(h.tree("/banana/config/2").len(), 2, "s1 keeps its config");
}

#[test]
fn list_and_status_show_the_vtep_end_and_the_corms_report() {
    let h = host();
    h.ok("wire connect corm:c0/1 vxlan:42@10.77.0.1");
    for (k, v) in [
        ("/local/domain/1/data/banana/tunnel/1/state", "up"),
        (
            "/local/domain/1/data/banana/tunnel/1/counters/tx_frames",
            "5",
        ),
        ("/local/domain/1/data/banana/nic/rx-frames", "40"),
    ] {
        h.local.put(k, v).unwrap();
    }
    let list = h.ok("list");
    for needle in [
        "corm:c0/1  -     1     vxlan:42@10.77.0.1:4789",
        "1     corm:c0/1  vxlan:42@10.77.0.1:4789  configured",
    ] {
        assert!(list.contains(needle), "missing {needle:?} in\n{list}");
    }
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    assert_eq!(
        v["wires"][0],
        serde_json::json!({
            "id": 1, "a": "corm:c0/1", "b": "vxlan:42@10.77.0.1:4789", "state": "configured",
            "encap": "vxlan",
            "a_side": { "domid": 1, "state": "up", "counters": { "tx_frames": 5 } },
            "b_side": { "domid": null, "state": null, "counters": {} },
        })
    );
    assert_eq!(
        v["domains"][0]["counters"],
        serde_json::json!({ "nic/rx-frames": 40 })
    );
    let text = h.ok("status");
    assert!(
        text.contains("1     corm:c0/1  vxlan:42@10.77.0.1:4789  configured  up         -"),
        "{text}"
    );
}

/// A wire record with a VTEP end that is not a Corm's (written by hand):
/// reconciliation removes it rather than trip over it.
#[test]
fn a_vtep_wired_to_a_spike_in_the_store_is_removed() {
    let h = host();
    let mut b = crate::registry::Batch::new();
    b.put("/banana/wire/5/a", "spike:s1")
        .put("/banana/wire/5/b", "vxlan:1@10.77.0.1:4789")
        .put("/banana/wire/6/a", "vxlan:1@10.77.0.1:4789")
        .put("/banana/wire/6/b", "geneve:1@10.77.0.2:6081");
    h.reg.apply(&b).unwrap();
    h.ok("list");
    assert!(h.tree("/banana/wire").is_empty());
    assert!(h
        .ok("wire connect corm:c0/0 vxlan:1@10.77.0.1")
        .ends_with("corm:c0/0 <-> vxlan:1@10.77.0.1:4789 (configured)\n"));
}
