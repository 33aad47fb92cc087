use super::*;
use crate::registry::Access;

fn host_with_domains() -> Host {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0"); // domid 1
    h.ok("spike create s1 --mac 00:16:3e:00:00:01"); // domid 2
    h.ok("spike create s2 --mac 00:16:3e:00:00:02"); // domid 3
    h
}

#[test]
fn connect_puts_the_corm_on_side_a_and_configures_both_ends() {
    let h = host_with_domains();
    assert_eq!(
        h.ok("wire connect spike:s1 corm:c0/2"),
        "wire 1: corm:c0/2 <-> spike:s1 (connecting)\n"
    );
    assert_eq!(
        h.reg.dump_under("/banana/wire"),
        [
            "/banana/wire=",
            "/banana/wire/1=",
            "/banana/wire/1/a=corm:c0/2",
            "/banana/wire/1/b=spike:s1",
            "/banana/wire/1/state=connecting"
        ]
    );
    assert_eq!(
        h.reg.dump_under("/banana/config/1/wire"),
        [
            "/banana/config/1/wire=",
            "/banana/config/1/wire/1=",
            "/banana/config/1/wire/1/endpoint=2",
            "/banana/config/1/wire/1/peer-domid=2",
            "/banana/config/1/wire/1/peer-endpoint=0",
            "/banana/config/1/wire/1/peer-macs=00:16:3e:00:00:01",
            "/banana/config/1/wire/1/side=a",
        ]
    );
    assert_eq!(h.get("/banana/config/2/wire/1/peer-macs"), None);
    assert_eq!(h.get("/banana/config/2/wire/1/side").as_deref(), Some("b"));
    assert_eq!(
        h.get("/banana/config/2/wire/1/peer-domid").as_deref(),
        Some("1")
    );
    assert_eq!(
        h.get("/banana/config/2/wire/1/peer-endpoint").as_deref(),
        Some("2")
    );
    assert_eq!(
        h.reg.access("/banana/config/1/wire/1/side"),
        Some(Access::ReadableBy(1))
    );
    assert_eq!(
        h.reg.access("/banana/config/2/wire/1/side"),
        Some(Access::ReadableBy(2))
    );
    assert_eq!(h.reg.access("/banana/wire/1/a"), Some(Access::Private));
}

#[test]
fn between_spikes_the_first_endpoint_offers() {
    let h = host_with_domains();
    assert_eq!(
        h.ok("wire connect spike:s2 spike:s1"),
        "wire 1: spike:s2 <-> spike:s1 (connecting)\n"
    );
    assert_eq!(h.get("/banana/config/3/wire/1/side").as_deref(), Some("a"));
}

/// The controller, not the Spike, says which MACs a Corm endpoint carries:
/// a Spike created without `--mac` cannot be wired to a Corm, and bad MACs
/// are refused before anything is made.
#[test]
fn corm_endpoints_carry_only_the_spikes_declared_macs() {
    let h = host_with_domains();
    h.ok("spike create s3");
    h.ok("spike create s4 --mac 00:16:3e:00:00:04 --mac 00:16:3e:00:00:14");
    let before = h.snapshot();
    assert_eq!(
        h.err("wire connect corm:c0/0 spike:s3"),
        "spike 's3' has no guest MAC: a Corm endpoint carries only the MACs the controller allows (banana spike create s3 --mac MAC)"
    );
    assert_eq!(h.snapshot(), before);
    // Between Spikes nobody needs them.
    h.ok("wire connect spike:s3 spike:s2");
    assert_eq!(
        h.ok("wire connect spike:s4 corm:c0/1"),
        "wire 2: corm:c0/1 <-> spike:s4 (connecting)\n"
    );
    assert_eq!(
        h.get("/banana/config/1/wire/2/peer-macs").as_deref(),
        Some("00:16:3e:00:00:04,00:16:3e:00:00:14")
    );
    // --ip: the guest's addresses, for the Corm to guard.
    h.ok("spike create s6 --mac 00:16:3e:00:00:06 --ip 10.77.0.52 --ip fe80::216:3eff:fe00:6");
    h.ok("wire connect spike:s6 corm:c0/3");
    assert_eq!(
        h.get("/banana/config/1/wire/3/peer-ips").as_deref(),
        Some("10.77.0.52,fe80::216:3eff:fe00:6")
    );
    assert_eq!(h.get("/banana/config/1/wire/2/peer-ips"), None);
    let before = h.snapshot();
    assert!(h
        .err("spike create s7 --mac 00:16:3e:00:00:07 --ip 224.0.0.1")
        .starts_with("bad --ip '224.0.0.1'"));
    assert_eq!(h.snapshot(), before);
    assert_eq!(
        h.err("spike create s5 --mac 01:00:5e:00:00:01"),
        "bad --mac '01:00:5e:00:00:01': a group (multicast) address"
    );
    assert!(h
        .err("spike create s5 --mac 00:16:3e:00:00")
        .starts_with("bad --mac"));
    assert_eq!(h.snapshot(), before);
}

#[test]
fn wiring_mistakes_are_refused_and_change_nothing() {
    let h = host_with_domains();
    h.ok("wire connect corm:c0/0 spike:s1");
    let before = h.snapshot();
    assert_eq!(
        h.err("wire connect spike:s2 spike:s2"),
        "cannot wire spike:s2 to itself"
    );
    assert_eq!(
        h.err("wire connect corm:c0/1 corm:c0/2"),
        "cannot wire two endpoints of corm 'c0' together"
    );
    assert_eq!(
        h.err("wire connect corm:c0/1 spike:nope"),
        "unknown endpoint spike:nope: no spike named 'nope'"
    );
    assert_eq!(
        h.err("wire connect corm:c0/4 spike:s2"),
        "unknown endpoint corm:c0/4: corm 'c0' has endpoints 0..=3"
    );
    assert_eq!(
        h.err("wire connect corm:s1/0 spike:s2"),
        "unknown endpoint corm:s1/0: no corm named 's1'"
    );
    assert_eq!(
        h.err("wire connect corm:c0 spike:s2"),
        "bad endpoint 'corm:c0': expected spike:NAME, corm:NAME/INDEX, vxlan:VNI@IPv4[:PORT] or geneve:VNI@IPv4[:PORT]"
    );
    assert_eq!(
        h.err("wire connect spike:s2 spike:s1"),
        "endpoint spike:s1 is already wired (wire 1)"
    );
    assert_eq!(
        h.err("wire connect corm:c0/0 spike:s2"),
        "endpoint corm:c0/0 is already wired (wire 1)"
    );
    assert_eq!(h.err("wire disconnect 7"), "unknown wire '7'");
    assert_eq!(
        h.err("wire disconnect spike:s2"),
        "endpoint spike:s2 is not wired"
    );
    assert_eq!(h.err("wire disconnect bogus"), "unknown wire 'bogus'");
    assert_eq!(h.snapshot(), before);
}

#[test]
fn disconnect_by_id_or_endpoint_and_ids_are_not_reused() {
    let h = host_with_domains();
    h.ok("wire connect corm:c0/0 spike:s1");
    assert_eq!(
        h.ok("wire disconnect 1"),
        "wire 1: corm:c0/0 <-> spike:s1 disconnected\n"
    );
    assert!(h.tree("/banana/wire/1").is_empty());
    assert!(h.tree("/banana/config/1/wire/1").is_empty());
    assert!(h.tree("/banana/config/2/wire/1").is_empty());
    assert_eq!(h.get("/banana/config/2/name").as_deref(), Some("s1"));
    assert!(h
        .ok("wire connect corm:c0/0 spike:s1")
        .starts_with("wire 2:"));
    assert_eq!(
        h.ok("wire disconnect spike:s1"),
        "wire 2: corm:c0/0 <-> spike:s1 disconnected\n"
    );
}

#[test]
fn destroying_a_domain_drops_its_wires_from_the_peers() {
    let h = host_with_domains();
    h.ok("wire connect corm:c0/0 spike:s1");
    h.ok("wire connect corm:c0/1 spike:s2");
    h.ok("corm destroy c0");
    assert!(h.tree("/banana/wire/1").is_empty() && h.tree("/banana/wire/2").is_empty());
    assert!(h.tree("/banana/config/2/wire/1").is_empty());
    assert!(h.tree("/banana/config/3/wire/2").is_empty());
    assert!(h.tree("/banana/config/1").is_empty());
}

#[test]
fn a_store_failure_while_wiring_leaves_no_wire() {
    let h = host_with_domains();
    let before = h.snapshot();
    h.reg.fail_after(Some(0));
    assert!(h
        .err("wire connect corm:c0/0 spike:s1")
        .ends_with("injected failure"));
    h.reg.fail_after(None);
    assert_eq!(h.snapshot(), before);
}
