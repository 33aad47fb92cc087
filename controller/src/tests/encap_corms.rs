//! Encap wires between two Corms (`wire connect corm:A/i corm:B/j --encap
//! geneve|vxlan`): each Corm's config gets the tunnel to the other's
//! underlay address, with the wire id as VNI and `control` = 1.

use super::*;
use crate::registry::{Access, Batch, Registry};

/// Corms ca (domid 1, 10.77.0.40/24) and cb (domid 2, 10.77.0.41/24),
/// Spike s1 (domid 3).
fn host() -> Host {
    let h = Host::new();
    h.ok("corm create ca --bdf 00:03.0 --underlay 10.77.0.40/24");
    h.ok("corm create cb --bdf 00:04.0 --underlay 10.77.0.41/24");
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    h
}

/// A third NIC for one more Corm.
fn corm(h: &Host, name: &str, bdf: &str, opts: &str) {
    h.xl.add_device(&format!("0000:{bdf}"));
    h.ok(&format!("corm create {name} --bdf {bdf} {opts}"));
}

fn tunnel(h: &Host, domid: u32, id: u32) -> Vec<String> {
    h.tree(&format!("/banana/config/{domid}/tunnel/{id}"))
}

/// The tunnel keys a Corm's config must hold, sorted as the store lists them.
fn keys(domid: u32, id: u32, encap: &str, endpoint: u32, remote: &str) -> Vec<String> {
    let port = if encap == "geneve" { "6081" } else { "4789" };
    [
        ("control", "1"),
        ("encap", encap),
        ("endpoint", &endpoint.to_string()),
        ("port", port),
        ("remote", remote),
        ("vni", &id.to_string()),
    ]
    .iter()
    .map(|(k, v)| format!("/banana/config/{domid}/tunnel/{id}/{k}={v}"))
    .collect()
}

fn domid(h: &Host, corm: &str) -> u32 {
    h.get(&format!("/banana/corm/{corm}/domid"))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_geneve_wire_configures_both_corms_in_one_record() {
    let h = host();
    assert_eq!(
        h.ok("wire connect corm:ca/1 corm:cb/2 --encap geneve"),
        "wire 1: corm:ca/1 <-> corm:cb/2 (configured, geneve)\n"
    );
    assert_eq!(
        h.tree("/banana/wire/1"),
        [
            "/banana/wire/1/a=corm:ca/1",
            "/banana/wire/1/b=corm:cb/2",
            "/banana/wire/1/encap=geneve",
            "/banana/wire/1/state=configured",
        ]
    );
    assert_eq!(tunnel(&h, 1, 1), keys(1, 1, "geneve", 1, "10.77.0.41"));
    assert_eq!(tunnel(&h, 2, 1), keys(2, 1, "geneve", 2, "10.77.0.40"));
    for d in [1, 2] {
        assert!(h.tree(&format!("/banana/config/{d}/wire")).is_empty());
        assert_eq!(
            h.reg
                .access(&format!("/banana/config/{d}/tunnel/1/control")),
            Some(Access::ReadableBy(d))
        );
    }
    assert_eq!(h.get("/banana/next-wire-id").as_deref(), Some("2"));
    // Reconciliation keeps it as it is.
    h.ok("list");
    assert_eq!(h.get("/banana/wire/1/state").as_deref(), Some("configured"));
    assert_eq!(tunnel(&h, 1, 1), keys(1, 1, "geneve", 1, "10.77.0.41"));
}

#[test]
fn vxlan_uses_port_4789_the_wire_id_as_vni_and_vtep_wires_get_no_control() {
    let h = host();
    h.ok("wire connect corm:ca/0 vxlan:42@10.77.0.1");
    assert_eq!(h.get("/banana/config/1/tunnel/1/control"), None);
    assert_eq!(h.get("/banana/wire/1/encap"), None);
    assert_eq!(
        h.ok("wire connect --encap vxlan corm:cb/3 corm:ca/3"),
        "wire 2: corm:cb/3 <-> corm:ca/3 (configured, vxlan)\n"
    );
    assert_eq!(tunnel(&h, 2, 2), keys(2, 2, "vxlan", 3, "10.77.0.40"));
    assert_eq!(tunnel(&h, 1, 2), keys(1, 2, "vxlan", 3, "10.77.0.41"));
    assert_eq!(h.tree("/banana/config/1/tunnel/1").len(), 5);
}

#[test]
fn without_encap_two_corms_get_a_local_wire_as_before() {
    let h = host();
    assert_eq!(
        h.ok("wire connect corm:ca/0 corm:cb/0"),
        "wire 1: corm:ca/0 <-> corm:cb/0 (connecting)\n"
    );
    assert_eq!(h.get("/banana/wire/1/encap"), None);
    assert!(h.tree("/banana/config/1/tunnel").is_empty());
    assert_eq!(h.get("/banana/config/1/wire/1/side").as_deref(), Some("a"));
    assert_eq!(h.get("/banana/config/2/wire/1/side").as_deref(), Some("b"));
}

#[test]
fn corm_to_corm_mistakes_are_refused_and_change_nothing() {
    let h = host();
    corm(&h, "cn", "00:05.0", "");
    corm(&h, "cs", "00:06.0", "--underlay 10.77.0.40/16");
    corm(&h, "cf", "00:07.0", "--underlay 10.78.0.5/24");
    corm(
        &h,
        "cg",
        "00:08.0",
        "--underlay 10.78.0.6/24 --gateway 10.78.0.254",
    );
    h.ok("wire connect corm:ca/1 corm:cb/1 --encap geneve");
    h.ok("wire connect corm:ca/2 vxlan:3@10.77.0.41");
    h.ok("wire connect corm:cb/2 spike:s1");
    let before = h.snapshot();
    for (args, msg) in [
        (
            "corm:ca/0 corm:cb/0 --encap gre",
            "bad --encap 'gre': expected geneve or vxlan",
        ),
        (
            "corm:ca/0 corm:cb/0 --encap GENEVE",
            "bad --encap 'GENEVE': expected geneve or vxlan",
        ),
        (
            "corm:ca/0 vxlan:5@10.77.0.1 --encap geneve",
            "--encap geneve is for a wire between two Corm endpoints: vxlan:5@10.77.0.1:4789 already says its encapsulation",
        ),
        (
            "spike:s1 geneve:5@10.77.0.1 --encap vxlan",
            "--encap vxlan is for a wire between two Corm endpoints: geneve:5@10.77.0.1:6081 already says its encapsulation",
        ),
        (
            "corm:ca/0 spike:s1 --encap geneve",
            "--encap geneve is for a wire between two Corm endpoints (corm:NAME/INDEX), not spike:s1",
        ),
        (
            "corm:ca/0 corm:ca/0 --encap geneve",
            "cannot wire corm:ca/0 to itself",
        ),
        (
            "corm:ca/0 corm:ca/3 --encap geneve",
            "cannot wire two endpoints of corm 'ca' together",
        ),
        (
            "corm:ca/0 corm:c9/0 --encap geneve",
            "unknown endpoint corm:c9/0: no corm named 'c9'",
        ),
        (
            "corm:ca/0 corm:cb/4 --encap geneve",
            "unknown endpoint corm:cb/4: corm 'cb' has endpoints 0..=3",
        ),
        (
            "corm:ca/0 corm:cn/0 --encap geneve",
            "corm 'cn' has no underlay address (banana corm create ... --underlay IP/PREFIX)",
        ),
        (
            "corm:cn/0 corm:ca/0 --encap geneve",
            "corm 'cn' has no underlay address (banana corm create ... --underlay IP/PREFIX)",
        ),
        (
            "corm:ca/0 corm:cs/0 --encap geneve",
            "corms 'ca' and 'cs' have the same underlay address 10.77.0.40: a tunnel between them would loop",
        ),
        (
            "corm:ca/0 corm:cf/0 --encap geneve",
            "corm 'ca' cannot reach corm 'cf' at 10.78.0.5: outside its underlay 10.77.0.0/24 and it has no --gateway",
        ),
        // cg reaches ca through its gateway; ca has none to reach cg.
        (
            "corm:cg/0 corm:ca/0 --encap vxlan",
            "corm 'ca' cannot reach corm 'cg' at 10.78.0.6: outside its underlay 10.77.0.0/24 and it has no --gateway",
        ),
        (
            "corm:ca/1 corm:cb/0 --encap geneve",
            "endpoint corm:ca/1 is already wired (wire 1)",
        ),
        (
            "corm:ca/0 corm:cb/2 --encap geneve",
            "endpoint corm:cb/2 is already wired (wire 3)",
        ),
        // The next id, 4, is not the VNI ca already uses to cb (3, wire 2);
        // a VTEP wire to cb's address with the VNI of wire 1 is refused on
        // either Corm.
        (
            "corm:ca/3 vxlan:1@10.77.0.41:9999",
            "corm 'ca' already has a tunnel with VNI 1 to 10.77.0.41 (wire 1)",
        ),
        (
            "corm:cb/3 geneve:1@10.77.0.40",
            "corm 'cb' already has a tunnel with VNI 1 to 10.77.0.40 (wire 1)",
        ),
    ] {
        let args = format!("wire connect {args}");
        assert_eq!(h.err(&args), msg, "banana {args}");
        assert_eq!(h.snapshot(), before, "banana {args} left something");
    }
}

#[test]
fn a_wire_id_that_is_a_vni_the_corm_already_uses_is_refused() {
    let h = host();
    h.ok("wire connect corm:ca/2 vxlan:2@10.77.0.41");
    let before = h.snapshot();
    assert_eq!(
        h.err("wire connect corm:ca/0 corm:cb/0 --encap geneve"),
        "corm 'ca' already has a tunnel with VNI 2 to 10.77.0.41 (wire 1)"
    );
    assert_eq!(h.snapshot(), before);
    h.ok("wire connect corm:cb/2 vxlan:3@10.77.0.40");
    assert_eq!(
        h.err("wire connect corm:ca/0 corm:cb/0 --encap geneve"),
        "corm 'cb' already has a tunnel with VNI 3 to 10.77.0.40 (wire 2)"
    );
}

#[test]
fn the_last_vni_is_the_last_corm_to_corm_wire_id() {
    let h = host();
    h.reg.put("/banana/next-wire-id", "16777215").unwrap();
    h.ok("wire connect corm:ca/0 corm:cb/0 --encap vxlan");
    assert_eq!(
        h.get("/banana/config/2/tunnel/16777215/vni").as_deref(),
        Some("16777215")
    );
    let before = h.snapshot();
    assert_eq!(
        h.err("wire connect corm:ca/1 corm:cb/1 --encap vxlan"),
        "wire id 16777216 exceeds 16777215, the largest VNI: a wire between two Corms uses its id as VNI"
    );
    assert_eq!(h.snapshot(), before);
    // Other wires still get ids.
    assert!(h
        .ok("wire connect corm:ca/1 corm:cb/1")
        .starts_with("wire 16777216: "));
}

#[test]
fn gateways_let_corms_on_two_links_be_wired() {
    let h = Host::new();
    h.ok("corm create ca --bdf 00:03.0 --underlay 10.77.0.40/24 --gateway 10.77.0.254");
    h.ok("corm create cb --bdf 00:04.0 --underlay 198.51.100.9/24 --gateway 198.51.100.1");
    h.ok("wire connect corm:ca/0 corm:cb/0 --encap geneve");
    assert_eq!(tunnel(&h, 1, 1), keys(1, 1, "geneve", 0, "198.51.100.9"));
    assert_eq!(tunnel(&h, 2, 1), keys(2, 1, "geneve", 0, "10.77.0.40"));
}

#[test]
fn a_store_failure_while_wiring_leaves_nothing() {
    let h = host();
    let before = h.snapshot();
    h.reg.fail_after(Some(0));
    assert!(h
        .err("wire connect corm:ca/0 corm:cb/0 --encap geneve")
        .ends_with("injected failure"));
    h.reg.fail_after(None);
    assert_eq!(h.snapshot(), before);
}

#[test]
fn disconnect_by_id_or_either_endpoint_clears_both_corms() {
    let h = host();
    for (by, id) in [("1", 1), ("corm:ca/1", 2), ("corm:cb/2", 3)] {
        h.ok("wire connect corm:ca/1 corm:cb/2 --encap geneve");
        assert_eq!(tunnel(&h, 1, id).len(), 6);
        assert_eq!(
            h.ok(&format!("wire disconnect {by}")),
            format!("wire {id}: corm:ca/1 <-> corm:cb/2 disconnected\n")
        );
        assert!(h.tree(&format!("/banana/wire/{id}")).is_empty(), "{by}");
        assert!(tunnel(&h, 1, id).is_empty(), "{by}");
        assert!(tunnel(&h, 2, id).is_empty(), "{by}");
    }
    for d in [1, 2] {
        assert_eq!(h.tree(&format!("/banana/config/{d}")).len(), 3, "{d}");
    }
    assert_eq!(
        h.err("wire disconnect corm:ca/1"),
        "endpoint corm:ca/1 is not wired"
    );
}

#[test]
fn destroying_either_corm_drops_the_wire_from_both() {
    let h = host();
    h.ok("wire connect corm:ca/1 corm:cb/2 --encap vxlan");
    h.ok("wire connect corm:ca/3 corm:cb/3 --encap geneve");
    h.ok("corm destroy cb");
    assert!(h.tree("/banana/wire").is_empty());
    assert!(h.tree("/banana/config/2").is_empty());
    assert_eq!(
        h.tree("/banana/config/1"),
        [
            "/banana/config/1/name=ca",
            "/banana/config/1/role=corm",
            "/banana/config/1/underlay=10.77.0.40/24",
        ]
    );
}

#[test]
fn repair_of_a_crashed_corm_rewrites_its_tunnel_and_leaves_the_peer_alone() {
    let h = host();
    h.ok("wire connect corm:ca/1 corm:cb/2 --encap geneve");
    // A key nobody writes: it would go if cb's tunnel were written afresh.
    h.reg.put("/banana/config/2/tunnel/1/marker", "x").unwrap();
    let peer = h.tree("/banana/config/2");
    h.xl.crash("ca");
    assert_eq!(
        h.ok("repair"),
        "corm ca: crashed (xl state ---sc-), restarted as domid 4\n"
    );
    assert!(h.tree("/banana/config/1").is_empty());
    assert_eq!(domid(&h, "ca"), 4);
    assert_eq!(tunnel(&h, 4, 1), keys(4, 1, "geneve", 1, "10.77.0.41"));
    assert_eq!(
        h.reg.access("/banana/config/4/tunnel/1/remote"),
        Some(Access::ReadableBy(4))
    );
    assert!(h.tree("/banana/config/4/wire").is_empty());
    assert_eq!(h.tree("/banana/config/2"), peer, "cb's config is unchanged");
    assert_eq!(h.get("/banana/wire/1/state").as_deref(), Some("configured"));
    assert_eq!(h.ok("repair"), "nothing to repair\n");
}

#[test]
fn a_corm_back_at_another_underlay_address_is_its_peers_new_remote() {
    let h = host();
    h.ok("wire connect corm:ca/1 corm:cb/2 --encap vxlan");
    h.xl.vanish("cb");
    h.ok("corm create cb --bdf 00:04.0 --underlay 10.77.0.42/24");
    let cb = domid(&h, "cb");
    assert_eq!(tunnel(&h, cb, 1), keys(cb, 1, "vxlan", 2, "10.77.0.40"));
    assert_eq!(tunnel(&h, 1, 1), keys(1, 1, "vxlan", 1, "10.77.0.42"));
}

#[test]
fn reconciliation_removes_encap_wires_that_cannot_stand() {
    let h = host();
    h.ok("wire connect corm:ca/1 corm:cb/2 --encap geneve");
    h.ok("wire connect corm:ca/3 corm:cb/3 --encap vxlan");
    let mut b = Batch::new();
    // A garbled encap key: the record is unreadable, and its tunnel keys go
    // with it.
    b.put("/banana/wire/2/encap", "gre")
        // An encap key on a wire that is not between two Corms.
        .put("/banana/wire/9/a", "corm:ca/0")
        .put("/banana/wire/9/b", "spike:s1")
        .put("/banana/wire/9/encap", "geneve");
    h.reg.apply(&b).unwrap();
    h.ok("list");
    assert_eq!(h.tree("/banana/wire").len(), 4, "wire 1 stays");
    assert!(tunnel(&h, 1, 2).is_empty() && tunnel(&h, 2, 2).is_empty());
    // A record lost for cb: wire 1 goes from ca's config too.
    h.reg.rm("/banana/corm/cb").unwrap();
    h.ok("list");
    assert!(h.tree("/banana/wire").is_empty());
    assert!(h.tree("/banana/config/1/tunnel").is_empty());
}

#[test]
fn list_and_status_show_the_encap_and_each_corms_report() {
    let h = host();
    h.ok("wire connect corm:ca/1 corm:cb/2 --encap geneve");
    for (k, v) in [
        ("/local/domain/1/data/banana/tunnel/1/state", "up"),
        (
            "/local/domain/1/data/banana/tunnel/1/counters/tx_frames",
            "5",
        ),
        ("/local/domain/2/data/banana/tunnel/1/state", "down"),
    ] {
        h.local.put(k, v).unwrap();
    }
    let list = h.ok("list");
    for needle in [
        "corm:ca/1  -     1     corm:cb/2",
        "corm:cb/2  -     1     corm:ca/1",
        "WIRE  A          B          STATE       ENCAP\n1     corm:ca/1  corm:cb/2  configured  geneve\n",
    ] {
        assert!(list.contains(needle), "missing {needle:?} in\n{list}");
    }
    let text = h.ok("status");
    let row = "1     corm:ca/1  corm:cb/2  configured  up         down       geneve\n";
    assert!(text.contains(row), "{text}");
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    assert_eq!(
        v["wires"][0],
        serde_json::json!({
            "id": 1, "a": "corm:ca/1", "b": "corm:cb/2", "state": "configured",
            "encap": "geneve",
            "a_side": { "domid": 1, "state": "up", "counters": { "tx_frames": 5 } },
            "b_side": { "domid": 2, "state": "down", "counters": {} },
        })
    );
}
