use super::*;
use crate::registry::Access;

#[test]
fn corm_create_writes_record_config_and_runs_the_domain() {
    let h = Host::new();
    let out = h.ok("corm create c0 --bdf 00:03.0 --endpoints 2 --vlan 1=10 --memory 32");
    assert_eq!(
        out,
        "corm c0: domid 1, 0000:00:03.0, endpoints corm:c0/0 .. corm:c0/1\n"
    );
    assert_eq!(
        h.reg.dump_under("/banana/corm"),
        [
            "/banana/corm=",
            "/banana/corm/c0=",
            "/banana/corm/c0/bdf=0000:00:03.0",
            "/banana/corm/c0/domid=1",
            "/banana/corm/c0/endpoint=",
            "/banana/corm/c0/endpoint/1=",
            "/banana/corm/c0/endpoint/1/vlan=10",
            "/banana/corm/c0/endpoints=2",
            "/banana/corm/c0/memory=32",
            "/banana/corm/c0/pci-added=1",
            "/banana/corm/c0/state=running",
        ]
    );
    assert_eq!(
        h.reg.dump_under("/banana/config/1"),
        [
            "/banana/config/1=",
            "/banana/config/1/endpoint=",
            "/banana/config/1/endpoint/1=",
            "/banana/config/1/endpoint/1/vlan=10",
            "/banana/config/1/name=c0",
            "/banana/config/1/role=corm",
        ]
    );
    assert_eq!(h.reg.access("/banana"), Some(Access::Private));
    assert_eq!(h.reg.access("/banana/corm/c0/bdf"), Some(Access::Private));
    assert_eq!(
        h.reg.access("/banana/config/1/name"),
        Some(Access::ReadableBy(1))
    );
    assert_eq!(h.xl.domains(), ["c0 1 -b----"]);
    assert_eq!(h.xl.assignable(), [NIC]);
    let cfg = std::fs::read_to_string(h.run_dir().join("run/c0.cfg")).unwrap();
    assert!(
        cfg.contains("pci = [ '0000:00:03.0' ]") && cfg.contains("memory = 32"),
        "{cfg}"
    );
    assert!(
        cfg.contains("extra = \"banana.role=corm banana.name=c0 banana.endpoints=2\""),
        "{cfg}"
    );
}

#[test]
fn spike_create_and_destroy() {
    let h = Host::new();
    assert_eq!(
        h.ok("spike create s1 --mac 00:16:3e:00:00:01"),
        "spike s1: domid 1, endpoint spike:s1\n"
    );
    assert_eq!(h.get("/banana/spike/s1/state").as_deref(), Some("running"));
    assert_eq!(h.get("/banana/config/1/role").as_deref(), Some("spike"));
    assert_eq!(h.ok("spike destroy s1"), "spike s1: destroyed\n");
    assert!(h.tree("/banana/spike/s1").is_empty());
    assert!(h.tree("/banana/config/1").is_empty());
    assert!(h.xl.domains().is_empty());
}

#[test]
fn creating_twice_is_an_error_that_changes_nothing() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 0000:00:03.0");
    let before = h.snapshot();
    assert_eq!(
        h.err("corm create c0 --bdf 0000:00:04.0"),
        "corm 'c0' already exists (running, domid 1)"
    );
    assert_eq!(
        h.err("spike create c0"),
        "corm 'c0' already exists (running, domid 1)"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn a_name_xl_already_uses_is_refused() {
    let h = Host::new();
    h.xl.start_foreign("guest1");
    let before = h.snapshot();
    assert_eq!(
        h.err("spike create guest1"),
        "a domain named 'guest1' already runs under xl but is not managed by banana"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn bad_names_and_arguments_are_refused() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    assert!(h.err("spike create a:b").starts_with("bad name 'a:b'"));
    assert!(h
        .err("corm create c0 --bdf 00:03")
        .starts_with("bad BDF '00:03'"));
    assert!(h
        .err("corm create c0 --bdf 00:03.0 --vlan 4=10")
        .starts_with("bad --vlan '4=10'"));
    assert!(h
        .err("corm create c0 --bdf 00:03.0 --vlan 0=5000")
        .starts_with("bad --vlan"));
    assert_eq!(
        h.err("corm create c0 --bdf 00:03.0 --endpoints 0"),
        "corm 'c0': --endpoints must be 1..=64"
    );
    for bad in ["0", "4095", "x"] {
        assert_eq!(
            h.err(&format!("corm create c0 --bdf 00:03.0 --local-vlan {bad}")),
            format!("bad --local-vlan '{bad}': expected a VID in 1..=4094")
        );
    }
    for bad in ["0/10", "100", "100/70000", "x/1"] {
        assert_eq!(
            h.err(&format!("corm create c0 --bdf 00:03.0 --flood {bad}")),
            format!("bad --flood '{bad}': expected RATE/BURST with RATE in 1..=1000000 floods/s and BURST in 1..=65535")
        );
    }
    assert_eq!(h.snapshot(), before);
}

#[test]
fn unknown_bdf_leaves_nothing() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    assert_eq!(
        h.err("corm create c0 --bdf 0000:00:09.0"),
        "unknown BDF 0000:00:09.0: not assignable (xl pci-add 0000:00:09.0 failed: no PCI device 0000:00:09.0)"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn a_bdf_that_was_already_assignable_is_left_assignable() {
    let h = Host::new();
    h.xl.make_assignable(NIC);
    h.ok("corm create c0 --bdf 0000:00:03.0");
    assert_eq!(h.get("/banana/corm/c0/pci-added").as_deref(), Some("0"));
    h.ok("corm destroy c0");
    assert_eq!(h.xl.assignable(), [NIC]);
}

#[test]
fn a_bdf_owned_by_another_corm_is_refused() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 0000:00:03.0");
    let before = h.snapshot();
    assert_eq!(
        h.err("corm create c1 --bdf 00:03.0"),
        "BDF 0000:00:03.0 is already owned by corm 'c0'"
    );
    assert_eq!(h.snapshot(), before);
    // A dead owner still holds its NIC (a repair brings it back on it); the
    // error says how to let it go.
    h.xl.vanish("c0");
    assert_eq!(
        h.err("corm create c1 --bdf 00:03.0"),
        "BDF 0000:00:03.0 is already owned by corm 'c0' (dead: `banana repair` restarts it, \
         `banana corm destroy c0` releases the NIC)"
    );
    h.ok("corm destroy c0");
    h.ok("corm create c1 --bdf 00:03.0");
}

#[test]
fn xl_create_failure_rolls_back_everything() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    h.xl.fail("create");
    let e = h.err("corm create c0 --bdf 0000:00:03.0");
    assert!(
        e.starts_with("xl create ") && e.ends_with("c0.cfg failed: injected create failure"),
        "{e}"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn unpause_failure_destroys_the_half_made_domain() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    h.xl.fail("unpause");
    assert_eq!(
        h.err("spike create s1 --mac 00:16:3e:00:00:01"),
        "xl unpause s1 failed: injected unpause failure"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn store_failure_after_create_rolls_back() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    // The intent record passes; writing the domid and config fails.
    h.reg.fail_after(Some(1));
    let e = h.err("corm create c0 --bdf 00:03.0");
    assert!(e.ends_with("injected failure"), "{e}");
    assert!(h.xl.domains().is_empty());
    // The store refused the cleanup too: the next command finishes it.
    h.reg.fail_after(None);
    h.ok("list");
    assert_eq!(h.snapshot(), before);
}

#[test]
fn a_missing_kernel_is_named() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    std::fs::remove_file(h.dir.path().join("images/domains/spike-domain")).unwrap();
    let e = h.err("spike create s1 --mac 00:16:3e:00:00:01");
    assert!(
        e.starts_with("kernel ") && e.ends_with("/spike.cfg is missing (not built?)"),
        "{e}"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn destroying_an_unknown_domain_is_an_error() {
    let h = Host::new();
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    assert_eq!(h.err("corm destroy s1"), "unknown corm 's1'");
    assert_eq!(h.err("spike destroy nope"), "unknown spike 'nope'");
}

#[test]
fn xl_destroy_failure_keeps_the_record() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0");
    let before = h.snapshot();
    h.xl.fail("destroy");
    assert_eq!(
        h.err("corm destroy c0"),
        "xl destroy c0 failed: injected destroy failure"
    );
    assert_eq!(h.snapshot(), before);
    h.xl.heal();
    h.ok("corm destroy c0");
    assert!(h.tree("/banana/corm/c0").is_empty());
    assert!(
        h.xl.assignable().is_empty(),
        "the NIC goes back to its driver"
    );
}

#[test]
fn corm_destroy_releases_the_pci_device() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0");
    h.ok("corm destroy c0");
    assert!(h.xl.assignable().is_empty());
    assert!(!h.run_dir().join("run/c0.cfg").exists());
}

#[test]
fn local_vlans_are_recorded_and_configured_and_survive_a_restart() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0 --endpoints 2 --vlan 0=40 --local-vlan 41 --local-vlan 40");
    assert_eq!(
        h.get("/banana/corm/c0/local-vlans").as_deref(),
        Some("40,41")
    );
    assert_eq!(
        h.get("/banana/config/1/local-vlans").as_deref(),
        Some("40,41")
    );
    h.xl.crash("c0");
    h.ok("repair");
    assert_eq!(
        h.get("/banana/config/2/local-vlans").as_deref(),
        Some("40,41")
    );
}
