//! Crashed and vanished domains: how status shows them, `banana repair`,
//! `banana supervise`, and guests' vifs moving to a re-created Spike.

use std::time::Duration;

use super::fake_guests::Guest;
use super::*;
use crate::registry::{Access, Registry};

const G1: &str = "00:16:3e:00:00:01";
const G2: &str = "00:16:3e:00:00:02";

/// Two Spikes on a local wire, one guest each (like images/dom0 spike_pair_up):
/// s1 domid 1, s2 domid 2, g1 domid 3, g2 domid 4.
fn pair() -> Host {
    let h = Host::new();
    h.ok("spike create s1");
    h.ok("spike create s2 --memory 24");
    h.ok("wire connect spike:s1 spike:s2");
    assert_eq!(h.guest("g1", "s1", G1), 3);
    assert_eq!(h.guest("g2", "s2", G2), 4);
    h
}

fn fe(h: &Host, guest: u32, key: &str) -> Option<String> {
    h.local
        .get(&format!("/local/domain/{guest}/device/vif/0/{key}"))
        .unwrap()
}

#[test]
fn status_and_list_show_a_crashed_domain() {
    let h = pair();
    h.xl.crash("s2");
    let status = h.ok("status");
    assert!(
        status.contains("s2      spike  2      crashed  ---sc-"),
        "{status}"
    );
    let v: serde_json::Value = serde_json::from_str(&h.ok("status --json")).unwrap();
    assert_eq!(v["domains"][1]["crashed"], true);
    assert_eq!(v["domains"][1]["state"], "running", "the registry's view");
    let list = h.ok("list");
    assert!(
        list.ends_with("\nspike s2 is crashed: `banana repair` restarts it\n"),
        "{list}"
    );
    h.xl.vanish("s1");
    assert!(
        h.ok("list")
            .contains("\nspike s1 is dead: `banana repair` restarts it\nspike s2 is crashed"),
        "{}",
        h.ok("list")
    );
}

#[test]
fn repair_restarts_a_crashed_spike_with_its_wire_and_guest() {
    let h = pair();
    h.xl.crash("s2");
    let out = h.ok("repair");
    assert_eq!(
        out,
        "spike s2: crashed (xl state ---sc-), restarted as domid 5\n\
         spike s2: vif 0 of g2 (domain 4): reconnected, backend domid 2 -> 5 (0.0 s, attempt 1)\n"
    );
    assert_eq!(h.xl.domains()[3], "s2 5 -b----");
    // Same parameters, the wire rewritten for the new domid on both ends.
    assert_eq!(h.get("/banana/spike/s2/memory").as_deref(), Some("24"));
    assert!(h.run_dir().join("run/s2.cfg").exists());
    assert!(std::fs::read_to_string(h.run_dir().join("run/s2.cfg"))
        .unwrap()
        .contains("memory = 24"));
    assert_eq!(h.get("/banana/config/5/wire/1/side").as_deref(), Some("b"));
    assert_eq!(
        h.get("/banana/config/5/wire/1/peer-domid").as_deref(),
        Some("1")
    );
    assert_eq!(
        h.get("/banana/config/1/wire/1/peer-domid").as_deref(),
        Some("5")
    );
    assert!(h.tree("/banana/config/2").is_empty());
    // The guest's vif names the new backend everywhere libxl looks.
    let be = "/local/domain/5/backend/vif/4/0";
    assert_eq!(fe(&h, 4, "backend").as_deref(), Some(be));
    assert_eq!(fe(&h, 4, "backend-id").as_deref(), Some("5"));
    assert_eq!(fe(&h, 4, "state").as_deref(), Some("4"));
    assert_eq!(
        h.local
            .get("/libxl/4/device/vif/0/backend")
            .unwrap()
            .as_deref(),
        Some(be)
    );
    assert_eq!(
        h.local.get(&format!("{be}/mac")).unwrap().as_deref(),
        Some(G2)
    );
    assert_eq!(
        h.local.access(be),
        Some(Access::Shared {
            owner: 5,
            reader: 4
        })
    );
    assert_eq!(
        h.local.access("/local/domain/4/device/vif/0/state"),
        Some(Access::Shared {
            owner: 4,
            reader: 5
        })
    );
    assert_eq!(
        h.local.access("/local/domain/4/device/vif/0/mtu"),
        Some(Access::Shared {
            owner: 5,
            reader: 4
        })
    );
    // netfront's own keys went with the old device; g1 was not touched.
    assert_eq!(fe(&h, 4, "tx-ring-ref"), None);
    assert_eq!(fe(&h, 3, "backend-id").as_deref(), Some("1"));
    assert_eq!(h.get("/banana/spike/s2/former-domids"), None, "all moved");
}

#[test]
fn repair_is_idempotent() {
    let h = pair();
    h.xl.crash("s2");
    h.ok("repair");
    let before = (h.snapshot(), h.local.dump());
    assert_eq!(h.ok("repair"), "nothing to repair\n");
    assert_eq!((h.snapshot(), h.local.dump()), before);
}

#[test]
fn a_vanished_spike_comes_back_by_repair_or_by_create() {
    let h = pair();
    h.xl.vanish("s2");
    h.ok("list");
    assert_eq!(h.get("/banana/spike/s2/state").as_deref(), Some("dead"));
    assert_eq!(
        h.get("/banana/spike/s2/former-domids").as_deref(),
        Some("2")
    );
    assert_eq!(
        h.ok("repair"),
        "spike s2: gone, restarted as domid 5\n\
         spike s2: vif 0 of g2 (domain 4): reconnected, backend domid 2 -> 5 (0.0 s, attempt 1)\n"
    );
    h.xl.vanish("s2");
    // An operator's create does the same (and keeps --memory).
    assert_eq!(
        h.ok("spike create s2"),
        "spike s2: domid 6, endpoint spike:s2\n\
         spike s2: vif 0 of g2 (domain 4): reconnected, backend domid 5 -> 6 (0.0 s, attempt 1)\n"
    );
    assert_eq!(fe(&h, 4, "backend-id").as_deref(), Some("6"));
    assert_eq!(h.get("/banana/spike/s2/memory").as_deref(), Some("24"));
}

#[test]
fn repair_restarts_a_crashed_corm_as_it_was() {
    let h = Host::new();
    h.ok("corm create c0 --bdf 00:03.0 --endpoints 2 --vlan 1=10 --memory 32 --flood 200/064");
    h.ok("spike create s1 --mac 00:16:3e:00:00:01");
    h.ok("wire connect corm:c0/1 spike:s1");
    assert_eq!(h.get("/banana/config/1/flood").as_deref(), Some("200/64"));
    h.xl.crash("c0");
    assert_eq!(
        h.ok("repair"),
        "corm c0: crashed (xl state ---sc-), restarted as domid 3\n"
    );
    let cfg = std::fs::read_to_string(h.run_dir().join("run/c0.cfg")).unwrap();
    assert!(
        cfg.contains("pci = [ '0000:00:03.0' ]") && cfg.contains("memory = 32"),
        "{cfg}"
    );
    assert!(cfg.contains("banana.endpoints=2"), "{cfg}");
    assert_eq!(
        h.get("/banana/config/3/endpoint/1/vlan").as_deref(),
        Some("10")
    );
    assert_eq!(h.get("/banana/config/3/flood").as_deref(), Some("200/64"));
    assert_eq!(
        h.get("/banana/config/3/wire/1/peer-macs").as_deref(),
        Some(G1)
    );
    assert_eq!(
        h.get("/banana/config/2/wire/1/peer-domid").as_deref(),
        Some("3")
    );
    assert_eq!(h.xl.assignable(), [NIC], "the NIC stays with the Corm");
    assert_eq!(h.get("/banana/corm/c0/pci-added").as_deref(), Some("1"));
    assert_eq!(h.get("/banana/corm/c0/former-domids"), None);
    assert_eq!(h.ok("repair"), "nothing to repair\n");
}

#[test]
fn a_restart_that_fails_is_an_error_and_is_retried_by_the_next_repair() {
    let h = pair();
    h.xl.crash("s2");
    h.xl.fail("create");
    let e = h.err("repair");
    assert!(
        e.starts_with("repair incomplete: spike s2: crashed (xl state ---sc-), restart failed: "),
        "{e}"
    );
    assert_eq!(h.get("/banana/spike/s2/state").as_deref(), Some("dead"));
    assert_eq!(h.get("/banana/wire/1/b").as_deref(), Some("spike:s2"));
    h.xl.heal();
    assert!(h
        .ok("repair")
        .starts_with("spike s2: gone, restarted as domid"));
    assert_eq!(fe(&h, 4, "state").as_deref(), Some("4"));
}

#[test]
fn a_guest_that_misses_the_replug_gets_it_again() {
    let h = pair();
    h.local.misbehave(&[Guest::Ignores, Guest::Closes]);
    h.xl.crash("s2");
    let out = h.ok("repair");
    assert!(
        out.ends_with("reconnected, backend domid 2 -> 5 (0.0 s, attempt 3)\n"),
        "{out}"
    );
    assert_eq!(fe(&h, 4, "state").as_deref(), Some("4"));
}

#[test]
fn a_vif_that_never_connects_is_left_for_the_next_repair() {
    let h = pair();
    h.local
        .misbehave(&[Guest::Ignores, Guest::Ignores, Guest::Ignores]);
    h.xl.crash("s2");
    let e = h.err("repair");
    assert_eq!(
        e,
        "repair incomplete: spike s2: vif 0 of g2 (domain 4): not reconnected to domid 5: \
         not connected after 0.0 s (frontend state 1, backend state 1)"
    );
    // As it was found: libxl's record names the dead backend, no half-made device.
    assert_eq!(
        h.local
            .get("/libxl/4/device/vif/0/backend")
            .unwrap()
            .as_deref(),
        Some("/local/domain/2/backend/vif/4/0")
    );
    assert!(h
        .local
        .dump_under("/local/domain/4/device/vif/0")
        .is_empty());
    assert!(h
        .local
        .dump_under("/local/domain/5/backend/vif/4/0")
        .is_empty());
    assert_eq!(
        h.get("/banana/spike/s2/former-domids").as_deref(),
        Some("2")
    );
    assert_eq!(
        h.ok("repair"),
        "spike s2: vif 0 of g2 (domain 4): reconnected, backend domid 2 -> 5 (0.0 s, attempt 1)\n"
    );
    assert_eq!(h.get("/banana/spike/s2/former-domids"), None);
}

#[test]
fn a_vif_on_a_domid_xen_gave_to_another_domain_is_not_touched() {
    let h = pair();
    h.xl.vanish("s2");
    h.ok("list");
    // Domid 2 is someone else's now; g2's record still names it.
    h.xl.start_foreign("other");
    let other = h.xl.find("other").unwrap().unwrap().domid;
    h.reg
        .put("/banana/spike/s2/former-domids", &format!("{other}"))
        .unwrap();
    h.local
        .put(
            "/libxl/4/device/vif/0/backend",
            &format!("/local/domain/{other}/backend/vif/4/0"),
        )
        .unwrap();
    let out = h.ok("repair");
    assert_eq!(out, "spike s2: gone, restarted as domid 6\n");
    assert_eq!(fe(&h, 4, "backend-id").as_deref(), Some("2"));
}

#[test]
fn only_a_spike_remembers_former_domids_and_only_while_a_vif_names_one() {
    let h = Host::new();
    h.ok("spike create s1");
    h.xl.vanish("s1");
    h.ok("list");
    assert_eq!(
        h.get("/banana/spike/s1/former-domids").as_deref(),
        Some("1")
    );
    h.ok("spike create s1");
    assert_eq!(
        h.get("/banana/spike/s1/former-domids"),
        None,
        "no vif names it"
    );
    h.ok("corm create c0 --bdf 00:03.0");
    h.xl.vanish("c0");
    h.ok("list");
    assert_eq!(
        h.get("/banana/corm/c0/former-domids"),
        None,
        "Corms serve no vifs"
    );
    let mut rec = crate::schema::DomainRecord::blank(
        crate::endpoint::Kind::Spike,
        "s",
        crate::schema::DomState::Running,
    );
    for d in 1..=10 {
        rec.former_domids = rec.former_with(d);
    }
    assert_eq!(rec.former_domids, [3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(rec.former_with(5), [3, 4, 6, 7, 8, 9, 10, 5]);
}

#[test]
fn supervise_repairs_until_stopped() {
    let h = pair();
    h.xl.crash("s2");
    let passes = std::cell::Cell::new(0);
    h.app().supervise_until(Duration::ZERO, None, &|| {
        passes.set(passes.get() + 1);
        passes.get() > 2
    });
    assert_eq!(h.xl.domains()[3], "s2 5 -b----");
    assert_eq!(fe(&h, 4, "backend-id").as_deref(), Some("5"));
    assert_eq!(h.ok("repair"), "nothing to repair\n");
}

#[test]
fn supervise_backs_off_from_a_domain_it_cannot_repair() {
    use crate::repair::Repair;
    use crate::supervise::{Backoff, MAX_BACKOFF};
    use std::time::Instant;
    let fail = || Repair::Failed {
        kind: crate::endpoint::Kind::Corm,
        name: "c0".into(),
        why: "no".into(),
    };
    let mut b = Backoff::default();
    let t0 = Instant::now();
    let every = Duration::from_secs(5);
    assert!(b.ready("corm/c0", t0));
    b.note(&[fail()], every, t0);
    assert!(!b.ready("corm/c0", t0 + Duration::from_secs(4)));
    assert!(b.ready("corm/c0", t0 + every));
    assert!(b.ready("spike/s1", t0));
    for _ in 0..10 {
        b.note(&[fail()], every, t0);
    }
    assert!(!b.ready("corm/c0", t0 + MAX_BACKOFF - Duration::from_secs(1)));
    assert!(b.ready("corm/c0", t0 + MAX_BACKOFF));
    let ok = Repair::Restarted {
        kind: crate::endpoint::Kind::Corm,
        name: "c0".into(),
        fault: crate::repair::Fault::Gone,
        domid: 9,
    };
    b.note(&[ok], every, t0);
    assert!(b.ready("corm/c0", t0));
}

#[test]
fn bad_input_is_one_line_and_leaves_nothing() {
    let h = Host::new();
    h.ok("list");
    let before = h.snapshot();
    for (args, msg) in [
        (
            "spike create s1 --memory 2",
            "bad --memory 2: a domain needs 4..=65536 MiB",
        ),
        (
            "corm create c0 --bdf 00:03.0 --memory 0",
            "bad --memory 0: a domain needs 4..=65536 MiB",
        ),
        (
            "supervise --interval 0",
            "bad --interval 0: use 1..=3600 seconds",
        ),
        (
            "supervise --interval 86400",
            "bad --interval 86400: use 1..=3600 seconds",
        ),
    ] {
        assert_eq!(h.err(args), msg, "banana {args}");
        assert_eq!(h.snapshot(), before, "banana {args} left something");
    }
    assert!(h
        .err("supervise --interval soon")
        .contains("invalid value 'soon'"));
    assert!(h.err("repair now").contains("unexpected argument 'now'"));
}
