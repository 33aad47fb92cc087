//! Crashes between steps are simulated by a fake xl that panics after doing
//! its work; the next command, on the same store and toolstack, must repair.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;
use crate::registry::Registry;

fn crash(h: &Host, args: &str) {
    let r = catch_unwind(AssertUnwindSafe(|| h.banana(args)));
    assert!(r.is_err(), "banana {args} was meant to crash");
    h.xl.crash_after(None);
}

#[test]
fn crash_after_xl_create_is_rolled_back_by_the_next_command() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    h.xl.crash_after(Some("create"));
    crash(&h, "corm create c0 --bdf 00:03.0");
    assert_eq!(h.get("/banana/corm/c0/state").as_deref(), Some("creating"));
    assert_eq!(h.xl.domains(), ["c0 1 --p---"]);
    assert_eq!(h.xl.assignable(), [NIC]);
    h.ok("list");
    let (reg, doms, pci, _) = h.snapshot();
    assert_eq!((reg, doms, pci), (before.0, before.1, before.2));
}

#[test]
fn crash_after_pci_assignable_add_is_rolled_back() {
    let h = Host::new();
    h.xl.crash_after(Some("pci-add"));
    crash(&h, "corm create c0 --bdf 00:03.0");
    assert_eq!(h.xl.assignable(), [NIC]);
    h.ok("list");
    assert!(h.xl.assignable().is_empty());
    assert!(h.tree("/banana/corm/c0").is_empty());
    h.ok("corm create c0 --bdf 00:03.0");
}

#[test]
fn crash_after_unpause_before_running_is_rolled_back() {
    let h = Host::new();
    h.xl.crash_after(Some("unpause"));
    crash(&h, "spike create s1 --mac 00:16:3e:00:00:01");
    assert_eq!(h.get("/banana/config/1/name").as_deref(), Some("s1"));
    h.ok("list");
    assert!(h.xl.domains().is_empty());
    assert!(h.tree("/banana/config/1").is_empty());
    assert!(h.tree("/banana/spike/s1").is_empty());
}

#[test]
fn crash_during_destroy_is_finished_by_the_next_command() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0");
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    h.ok("wire connect corm:c0/0 spike:s1");
    h.xl.crash_after(Some("destroy"));
    crash(&h, "corm destroy c0");
    assert_eq!(
        h.get("/banana/corm/c0/state").as_deref(),
        Some("destroying")
    );
    h.ok("list");
    assert!(h.tree("/banana/corm/c0").is_empty());
    assert!(h.tree("/banana/wire/1").is_empty());
    assert!(
        h.tree("/banana/config/2/wire").is_empty(),
        "{:#?}",
        h.reg.dump()
    );
    assert!(h.xl.assignable().is_empty());
}

#[test]
fn a_vanished_domain_is_marked_dead_and_recreate_restores_its_wires() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0"); // domid 1
    h.ok("spike create s1 --mac 00:16:3e:00:00:01"); // domid 2
    h.ok("wire connect corm:c0/0 spike:s1");
    h.xl.vanish("s1");
    let list = h.ok("list");
    assert!(
        list.contains("1     corm:c0/0  spike:s1  connecting"),
        "{list}"
    );
    assert_eq!(h.get("/banana/spike/s1/state").as_deref(), Some("dead"));
    assert_eq!(h.get("/banana/spike/s1/domid"), None);
    assert!(h.tree("/banana/config/2").is_empty());
    assert_eq!(
        h.err("wire connect corm:c0/1 spike:s1"),
        "unknown endpoint spike:s1: spike 's1' is dead"
    );
    assert_eq!(
        h.ok("spike create s1 --mac 00:16:3e:00:00:01"),
        "spike s1: domid 3, endpoint spike:s1\n"
    );
    assert_eq!(h.get("/banana/config/3/wire/1/side").as_deref(), Some("b"));
    assert_eq!(
        h.get("/banana/config/3/wire/1/peer-domid").as_deref(),
        Some("1")
    );
    assert_eq!(
        h.get("/banana/config/1/wire/1/peer-domid").as_deref(),
        Some("3")
    );
}

#[test]
fn a_dead_corm_comes_back_only_as_it_was() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0");
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    h.ok("wire connect corm:c0/0 spike:s1");
    h.xl.vanish("c0");
    h.ok("list");
    assert_eq!(
        h.err("corm create c0 --bdf 00:04.0"),
        "corm 'c0': exists (dead) with --bdf 0000:00:03.0 --endpoints 4: recreate it so, or destroy it first"
    );
    h.ok("corm create c0 --bdf 00:03.0");
    assert_eq!(
        h.get("/banana/config/2/wire/1/peer-domid").as_deref(),
        Some("3")
    );
    assert_eq!(h.xl.assignable(), [NIC]);
    assert_eq!(
        h.get("/banana/corm/c0/pci-added").as_deref(),
        Some("1"),
        "still banana's to release"
    );
}

#[test]
fn a_domain_with_a_new_domid_is_adopted() {
    let h = Host::new();
    h.ok("spike create s1 --mac 00:16:3e:00:00:01"); // 1
    h.ok("spike create s2 --mac 00:16:3e:00:00:02"); // 2
    h.ok("wire connect spike:s1 spike:s2");
    h.xl.vanish("s2");
    h.xl.start_foreign("s2"); // 3: same name, new domid
    h.ok("list");
    assert_eq!(h.get("/banana/spike/s2/domid").as_deref(), Some("3"));
    assert_eq!(h.get("/banana/config/3/wire/1/side").as_deref(), Some("b"));
    assert_eq!(
        h.get("/banana/config/1/wire/1/peer-domid").as_deref(),
        Some("3")
    );
    assert!(h.tree("/banana/config/2").is_empty());
}

#[test]
fn wire_state_follows_what_both_ends_report() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0");
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    h.ok("wire connect corm:c0/0 spike:s1");
    h.local
        .put("/local/domain/1/data/banana/wire/1/state", "4")
        .unwrap();
    h.ok("list");
    assert_eq!(h.get("/banana/wire/1/state").as_deref(), Some("connecting"));
    h.local
        .put("/local/domain/2/data/banana/wire/1/state", "4")
        .unwrap();
    h.ok("list");
    assert_eq!(h.get("/banana/wire/1/state").as_deref(), Some("connected"));
    h.local
        .put("/local/domain/2/data/banana/wire/1/state", "6")
        .unwrap();
    h.ok("list");
    assert_eq!(h.get("/banana/wire/1/state").as_deref(), Some("connecting"));
    // A domain's own text is never echoed or stored.
    h.local
        .put(
            "/local/domain/2/data/banana/wire/1/state",
            "\u{1b}[2Jconnected",
        )
        .unwrap();
    let status = h.ok("status");
    assert!(!status.contains('\u{1b}'), "{status}");
    assert!(status.contains("invalid"), "{status}");
}

#[test]
fn stale_wires_are_removed() {
    let h = Host::new();
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    h.reg.put("/banana/wire/5/a", "corm:gone/0").unwrap();
    h.reg.put("/banana/wire/5/b", "spike:s1").unwrap();
    h.reg.put("/banana/wire/6/a", "garbage").unwrap();
    h.ok("list");
    assert!(h.tree("/banana/wire/5").is_empty());
    assert!(h.tree("/banana/wire/6").is_empty());
}
