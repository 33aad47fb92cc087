use super::*;
use crate::registry::Access;

fn host_with_domains() -> Host {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0"); // domid 1
    h.ok("spike create s1"); // domid 2
    h.ok("spike create s2"); // domid 3
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
            "/banana/config/1/wire/1/side=a",
        ]
    );
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
        "bad endpoint 'corm:c0': expected spike:NAME or corm:NAME/INDEX"
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
