use super::*;
use crate::counters::tests::FakePages;
use crate::registry::Registry;

fn busy_host() -> Host {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0 --endpoints 2 --vlan 0=10");
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    h.ok("wire connect spike:s1 corm:c0/0");
    for (k, v) in [
        ("/local/domain/1/data/banana/wire/1/state", "4"),
        (
            "/local/domain/1/data/banana/wire/1/counters/tx-frames",
            "12",
        ),
        ("/local/domain/1/data/banana/nic/rx-frames", "40"),
        ("/local/domain/1/data/banana/role", "corm"),
        ("/local/domain/2/data/banana/vif/0/rx-packets", "7"),
        ("/local/domain/2/data/banana/vif/0/tx-dropped", "0"),
        (
            "/local/domain/2/data/banana/wire/1/counters/rx-frames",
            "12",
        ),
    ] {
        h.local.put(k, v).unwrap();
    }
    h
}

#[test]
fn status_json_has_domains_endpoints_wires_and_counters() {
    let h = busy_host();
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    assert_eq!(
        v["domains"][0],
        serde_json::json!({
            "kind": "corm", "name": "c0", "domid": 1, "state": "running", "xl_state": "-b----",
            "crashed": false, "bdf": "0000:00:03.0", "endpoints": 2, "counters": { "nic/rx-frames": 40 },
            "counter_source": "xenstore", "counter_error": null
        })
    );
    assert_eq!(
        v["domains"][1]["counters"],
        serde_json::json!({ "vif/0/rx-packets": 7, "vif/0/tx-dropped": 0 })
    );
    assert_eq!(
        v["endpoints"],
        serde_json::json!([
            { "endpoint": "corm:c0/0", "vlan": 10, "wire": 1, "peer": "spike:s1" },
            { "endpoint": "corm:c0/1", "vlan": null, "wire": null, "peer": null },
            { "endpoint": "spike:s1", "vlan": null, "wire": 1, "peer": "corm:c0/0" },
        ])
    );
    assert_eq!(
        v["wires"][0],
        serde_json::json!({
            "id": 1, "a": "corm:c0/0", "b": "spike:s1", "state": "connecting",
            "a_side": { "domid": 1, "state": "connected", "counters": { "tx-frames": 12 } },
            "b_side": { "domid": 2, "state": null, "counters": { "rx-frames": 12 } },
        })
    );
}

#[test]
fn status_text_has_one_table_per_topic() {
    let h = busy_host();
    let text = h.ok("status");
    println!("{text}");
    for needle in [
        "DOMAIN  KIND   DOMID  STATE    XL      BDF           ENDPOINTS  COUNTERS",
        "c0      corm   1      running  -b----  0000:00:03.0  2          xenstore",
        "corm:c0/0  10    1     spike:s1",
        "1     corm:c0/0  spike:s1  connecting  connected  -",
        "corm c0             nic/rx-frames     40",
        "wire 1 b spike:s1   rx-frames         12",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn an_empty_host_lists_empty_tables() {
    let h = Host::new();
    assert_eq!(
        h.ok("list"),
        "ENDPOINT  VLAN  WIRE  PEER\n\nWIRE  A  B  STATE  ENCAP\n"
    );
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    assert_eq!(
        v,
        serde_json::json!({ "domains": [], "endpoints": [], "wires": [] })
    );
}

/// s1 (domid 2) moves to a counter page: its page counters replace the
/// xenstore ones (the leaves left in xenstore are not read at all), wire
/// counters still go with the wire.
fn paged_host() -> Host {
    let h = busy_host();
    h.local
        .put("/local/domain/2/data/banana/counters/page-refs", "8 9")
        .unwrap();
    h.pages.put(
        2,
        8,
        FakePages::table(
            2,
            &[
                ("vif/0/rx-packets", 700),
                ("vif/0/tx-packets", 9),
                ("wire/1/counters/rx-frames", 1200),
            ],
        ),
    );
    h
}

#[test]
fn status_reads_the_counter_page_when_a_domain_advertises_one() {
    let h = paged_host();
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    let s1 = &v["domains"][1];
    assert_eq!(s1["counter_source"], "page");
    assert_eq!(s1["counter_error"], serde_json::Value::Null);
    assert_eq!(
        s1["counters"],
        serde_json::json!({ "vif/0/rx-packets": 700, "vif/0/tx-packets": 9 })
    );
    assert_eq!(
        v["wires"][0]["b_side"]["counters"],
        serde_json::json!({ "rx-frames": 1200 })
    );
    // The corm still publishes in xenstore: both kinds work side by side.
    assert_eq!(v["domains"][0]["counter_source"], "xenstore");
    let text = h.ok("status");
    assert!(
        text.contains("s1      spike  2      running  -b----  -             1          page"),
        "{text}"
    );
    assert!(
        text.contains("spike s1            vif/0/rx-packets  700"),
        "{text}"
    );
    assert!(!text.contains("COUNTER-ERROR"), "{text}");
}

#[test]
fn an_unreadable_page_is_an_error_for_that_domain_only() {
    let h = paged_host();
    let mut bad = FakePages::table(2, &[("vif/0/rx-packets", 1)]);
    bad[64 + 8] = 0x1b;
    h.pages.put(2, 8, bad);
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    let s1 = &v["domains"][1];
    assert_eq!(
        s1["counter_error"],
        "counter page: page 0 entry 0: name is not printable ASCII followed by NUL padding"
    );
    assert_eq!(s1["counter_source"], "page");
    assert_eq!(
        s1["counters"],
        serde_json::json!({}),
        "no xenstore values in place of the page's"
    );
    assert_eq!(v["domains"][0]["counters"]["nic/rx-frames"], 40);
    let text = h.ok("status");
    assert!(
        text.contains("s1      spike  2      running  -b----  -             1          error"),
        "{text}"
    );
    assert!(text.ends_with(
        "\nDOMAIN  COUNTER-ERROR\ns1      counter page: page 0 entry 0: name is not printable ASCII followed by NUL padding\n"
    ), "{text}");
    assert_eq!(
        h.err("counters s1"),
        "domain 2 (s1): counter page: page 0 entry 0: name is not printable ASCII followed by NUL padding"
    );
    // Not even a grant device: still an error per domain, not a failed status.
    h.pages.images.borrow_mut().clear();
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    assert!(v["domains"][1]["counter_error"]
        .as_str()
        .unwrap()
        .starts_with("cannot map grant references [8, 9] of domain 2"));
}

#[test]
fn counters_of_any_domain_by_name_or_domid() {
    let h = paged_host();
    let text = h.ok("counters s1");
    assert_eq!(
        text,
        "domain 2 (s1): counter page (grant refs 8 9, seq 6)\n\
         COUNTER                    VALUE\n\
         vif/0/rx-packets           700\n\
         vif/0/tx-packets           9\n\
         wire/1/counters/rx-frames  1200\n"
    );
    let v: serde_json::Value = serde_json::from_str(&h.ok("counters 1 --json")).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "domid": 1, "name": null, "source": "xenstore", "page": null,
            "counters": { "nic/rx-frames": 40, "wire/1/counters/tx-frames": 12, "wire/1/state": 4 }
        })
    );
    assert_eq!(
        h.err("counters nope"),
        "no domain 'nope' in xl list (give an xl name or a domid)"
    );
    assert_eq!(
        h.err("counters 77"),
        "no domain '77' in xl list (give an xl name or a domid)"
    );
}

#[test]
fn counter_prints_one_value_for_scripts() {
    let h = paged_host();
    assert_eq!(h.ok("counter s1 vif/0/rx-packets"), "700\n");
    assert_eq!(h.ok("counter s1 wire/1/counters/rx-frames"), "1200\n");
    // By domid: the same, without asking xl for the name.
    assert_eq!(h.ok("counter 2 vif/0/tx-packets"), "9\n");
    // A domain without a page: its numeric xenstore leaves.
    assert_eq!(h.ok("counter c0 nic/rx-frames"), "40\n");
    assert_eq!(
        h.err("counter s1 vif/0/nope"),
        "domain 2 (s1) publishes no counter 'vif/0/nope'"
    );
    assert_eq!(
        h.err("counter nosuch x"),
        "no domain 'nosuch' in xl list (give an xl name or a domid)"
    );
    // The page, not the leaves left in xenstore, answers for s1.
    assert!(h
        .err("counter s1 vif/0/tx-dropped")
        .contains("publishes no counter"));
    let mut bad = FakePages::table(1, &[("x", 1)]);
    bad[0] = 0;
    h.pages.put(2, 8, bad);
    assert!(h
        .err("counter s1 vif/0/rx-packets")
        .starts_with("domain 2 (s1): counter page: page 0: bad magic"));
}

#[test]
fn counters_take_no_lock_and_write_nothing() {
    let h = paged_host();
    let before = format!("{:?}", h.reg.dump());
    let lock = h.dir.path().join("run").join("lock");
    let _ = std::fs::remove_file(&lock);
    h.ok("counters s1");
    h.ok("counter s1 vif/0/rx-packets");
    assert_eq!(format!("{:?}", h.reg.dump()), before);
    assert!(
        !lock.exists(),
        "no lock file: counters never wait for another banana"
    );
}
