use super::*;
use crate::registry::Registry;

fn busy_host() -> Host {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0 --endpoints 2 --vlan 0=10");
    h.ok("spike create s1");
    h.ok("wire connect spike:s1 corm:c0/0");
    for (k, v) in [
        ("/local/domain/1/data/banana/wire/1/state", "connected"),
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
            "bdf": "0000:00:03.0", "endpoints": 2, "counters": { "nic/rx-frames": 40 }
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
        "DOMAIN  KIND   DOMID  STATE    XL      BDF           ENDPOINTS",
        "c0      corm   1      running  -b----  0000:00:03.0  2",
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
        "ENDPOINT  VLAN  WIRE  PEER\n\nWIRE  A  B  STATE\n"
    );
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    assert_eq!(
        v,
        serde_json::json!({ "domains": [], "endpoints": [], "wires": [] })
    );
}
