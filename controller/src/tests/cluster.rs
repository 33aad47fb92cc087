//! The cluster registry against a real etcd (Debian's `etcd-server`; the
//! binary from `BANANA_ETCD` or PATH): one member, and three of which one is
//! killed. Each test starts its own members on free ports in a temporary
//! directory and kills them when it ends.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::etcd::cluster::{hosts, HOSTS};
use crate::etcd::{Client, Cluster, ClusterRegistry, EtcdRegistry, HostLease};
use crate::registry::{Batch, RegistryError};

/// Members of one etcd cluster on 127.0.0.1.
struct Etcd {
    members: Vec<Option<Child>>,
    clients: Vec<String>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    fn start(n: usize) -> Etcd {
        let bin = std::env::var("BANANA_ETCD").unwrap_or_else(|_| "etcd".into());
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let log = std::fs::File::create(dir.path().join(format!("m{i}.log"))).unwrap();
            let child = Command::new(&bin)
                .args(["--name", &format!("m{i}")])
                .arg("--data-dir")
                .arg(dir.path().join(format!("m{i}")))
                .args([
                    "--listen-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                ])
                .args([
                    "--advertise-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                ])
                .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
                .args([
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                ])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "banana-test"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {bin} ({e}): apt-get install etcd-server, or set BANANA_ETCD"
                    )
                });
            members.push(Some(child));
        }
        let etcd = Etcd {
            members,
            clients: ports
                .iter()
                .map(|(c, _)| format!("127.0.0.1:{c}"))
                .collect(),
            _dir: dir,
        };
        // Ready when a write goes through (a leader was elected).
        let c = Client::new(&etcd.url()).unwrap();
        let t = Instant::now();
        loop {
            match c.txn(&[], &[]) {
                Ok(_) => break,
                Err(e) if t.elapsed() > Duration::from_secs(30) => {
                    panic!("etcd not ready after 30 s: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        etcd
    }

    fn url(&self) -> String {
        format!("etcd://{}", self.clients.join(","))
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// `banana ARGS…` on `host`, its records in the cluster under `name`.
fn banana(host: &Host, cluster: &Cluster, args: &str) -> Result<String, String> {
    let reg = ClusterRegistry::new(&cluster.etcd, &cluster.host, Some(&host.reg));
    let app = App {
        cluster: Some(cluster),
        reg: &reg,
        ..host.app()
    };
    let cli = Cli::try_parse_from(std::iter::once("banana").chain(args.split_whitespace()))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match dispatch(&app, cli.cmd, &mut out) {
        Ok(()) => Ok(String::from_utf8(out).unwrap()),
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(!msg.contains('\n'), "error is not one line: {msg:?}");
            Err(msg)
        }
    }
}

fn ok(host: &Host, cluster: &Cluster, args: &str) -> String {
    banana(host, cluster, args).unwrap_or_else(|e| panic!("banana {args}: {e}"))
}

#[test]
fn etcd_holds_a_tree_as_xenstore_does() {
    let etcd = Etcd::start(1);
    let reg = EtcdRegistry::new(Client::new(&etcd.url()).unwrap());
    let mut b = Batch::new();
    b.put("/t/corm/c1/domid", 5)
        .put("/t/corm/c1/bdf", "0000:00:03.0")
        .put("/t/corm/c1/vlan/0", 10)
        .put("/t/corm/c10/domid", 6)
        .put("/t/spike/s1", "");
    reg.apply(&b).unwrap();
    // a parent xenstore would have made exists, empty
    assert_eq!(reg.get("/t/corm").unwrap(), Some(String::new()));
    assert_eq!(reg.get("/t/corm/c1/domid").unwrap(), Some("5".into()));
    assert_eq!(reg.get("/t/corm/c2").unwrap(), None);
    assert_eq!(reg.list("/t/corm").unwrap(), ["c1", "c10"]);
    assert_eq!(reg.list("/t").unwrap(), ["corm", "spike"]);
    assert!(reg.list("/t/nothing").unwrap().is_empty());
    // one range read gives what the list/get walk gives
    let walk = crate::registry::walk(&reg, "/t", 6, 100).unwrap();
    assert_eq!(reg.tree("/t", 6, 100).unwrap(), walk);
    assert_eq!(walk.len(), 5);
    assert_eq!(
        reg.tree("/t", 2, 100).unwrap(),
        [("spike/s1".into(), String::new())]
    );
    // removal takes the subtree, not its namesakes
    reg.rm("/t/corm/c1").unwrap();
    assert_eq!(reg.list("/t/corm").unwrap(), ["c10"]);
    // a guard that fails applies nothing
    let mut b = Batch::new();
    b.expect("/t/corm/c10/domid", Some("7".into()))
        .put("/t/corm/c10/domid", 8)
        .rm("/t/spike");
    assert!(matches!(
        reg.apply(&b),
        Err(RegistryError::Conflict { path }) if path == "/t/corm/c10/domid"
    ));
    assert_eq!(reg.get("/t/corm/c10/domid").unwrap(), Some("6".into()));
    assert_eq!(reg.list("/t").unwrap(), ["corm", "spike"]);
    // guards on the current value and on absence hold
    let mut b = Batch::new();
    b.expect("/t/corm/c10/domid", Some("6".into()))
        .expect("/t/corm/c11", None)
        .put("/t/corm/c10/domid", 8);
    reg.apply(&b).unwrap();
    assert_eq!(reg.get("/t/corm/c10/domid").unwrap(), Some("8".into()));
    // a record removed and written again in one batch (etcd takes no key
    // twice in a transaction): the batch's last word per key
    let mut b = Batch::new();
    b.put("/t/corm/c10/old", 1)
        .rm("/t/corm/c10")
        .put("/t/corm/c10/domid", 9)
        .put("/t/corm/c10/domid", 10);
    reg.apply(&b).unwrap();
    assert_eq!(
        reg.tree("/t/corm/c10", 6, 100).unwrap(),
        [("domid".into(), "10".into())]
    );
}

/// Two hosts' controllers share one etcd: records go there under each
/// host's name, the domains' configs to each host's xenstore, wire ids come
/// from one counter, and `status --cluster` on either host shows both.
#[test]
fn two_hosts_share_records_and_keep_configs_local() {
    let etcd = Etcd::start(1);
    let (ha, hb) = (Host::new(), Host::new());
    let ca = Cluster::connect(&etcd.url(), "host-a").unwrap();
    let cb = Cluster::connect(&etcd.url(), "host-b").unwrap();
    ok(
        &ha,
        &ca,
        &format!("corm create c1 --bdf {NIC} --endpoints 2"),
    );
    ok(&ha, &ca, "spike create s1 --mac 00:16:3e:00:00:01");
    let wa = ok(&ha, &ca, "wire connect corm:c1/0 spike:s1");
    ok(
        &hb,
        &cb,
        &format!("corm create c2 --bdf {NIC} --endpoints 2"),
    );
    ok(&hb, &cb, "spike create s2 --mac 00:16:3e:00:00:02");
    let wb = ok(&hb, &cb, "wire connect corm:c2/0 spike:s2");
    assert!(wa.starts_with("wire 1:"), "{wa}");
    assert!(
        wb.starts_with("wire 2:"),
        "one id space for the cluster: {wb}"
    );

    // records in etcd, under the host
    let raw = EtcdRegistry::new(Client::new(&etcd.url()).unwrap());
    let domid = raw
        .get("/banana/host/host-a/corm/c1/domid")
        .unwrap()
        .unwrap();
    assert!(raw
        .get("/banana/host/host-b/spike/s2/domid")
        .unwrap()
        .is_some());
    assert_eq!(raw.get("/banana/next-wire-id").unwrap(), Some("3".into()));
    // none in xenstore; the configs only there
    assert!(
        ha.tree("/banana/corm").is_empty(),
        "{:?}",
        ha.tree("/banana/corm")
    );
    assert!(!ha.tree(&format!("/banana/config/{domid}")).is_empty());
    assert!(raw.list("/banana/host/host-a/config").unwrap().is_empty());

    // each host's own status reads its records back
    let st = ok(&ha, &ca, "status");
    assert!(
        st.contains("c1") && st.contains("s1") && !st.contains("c2"),
        "{st}"
    );
    let cl = ok(&hb, &cb, "status --cluster");
    for want in [
        "host-a",
        "host-b (this)",
        "c1",
        "c2",
        "spike:s1",
        "spike:s2",
    ] {
        assert!(cl.contains(want), "{want} missing in:\n{cl}");
    }
    assert!(cl.contains("silent"), "no lease yet: {cl}");
    // a record change reaches the other host's view
    ok(&ha, &ca, "wire disconnect 1");
    let cl = ok(&hb, &cb, "status --cluster --json");
    let v: serde_json::Value = serde_json::from_str(&cl).unwrap();
    let a = &v["hosts"][0];
    assert_eq!(a["name"], "host-a");
    assert_eq!(a["wires"].as_array().unwrap().len(), 0);
    // without a cluster there is no cluster view
    assert!(ha.err("status --cluster").contains("--registry etcd://"));
}

/// The wire-id counter is claimed by compare-and-swap: a controller that
/// read it before another host moved it fails, one line, nothing made.
#[test]
fn a_stale_wire_id_claim_conflicts_and_makes_nothing() {
    let etcd = Etcd::start(1);
    let h = Host::new();
    let c = Cluster::connect(&etcd.url(), "host-a").unwrap();
    ok(&h, &c, &format!("corm create c1 --bdf {NIC} --endpoints 2"));
    ok(&h, &c, "spike create s1 --mac 00:16:3e:00:00:01");
    let reg = ClusterRegistry::new(&c.etcd, &c.host, Some(&h.reg));
    let before = reg.tree("/banana/wire", 6, 100).unwrap();
    // another host takes ids 1..4 between our read and our write: simulated
    // by a guard on the value we would have read
    let mut b = Batch::new();
    b.expect(crate::schema::NEXT_WIRE, None)
        .put("/banana/wire/1/a", "x");
    c.etcd
        .client()
        .txn(
            &[],
            &[crate::etcd::client::TxnOp::Put {
                key: crate::schema::NEXT_WIRE.into(),
                value: "5".into(),
                lease: None,
            }],
        )
        .unwrap();
    assert!(matches!(reg.apply(&b), Err(RegistryError::Conflict { .. })));
    assert_eq!(reg.tree("/banana/wire", 6, 100).unwrap(), before);
    // the command itself reads the moved counter and goes on from there
    let w = ok(&h, &c, "wire connect corm:c1/0 spike:s1");
    assert!(w.starts_with("wire 5:"), "{w}");
}

/// A host is alive while its lease is renewed; its entry goes with the
/// lease, its records stay (shown silent).
#[test]
fn host_leases_come_and_go() {
    let etcd = Etcd::start(1);
    let c = Cluster::connect(&etcd.url(), "host-a").unwrap();
    let client = c.etcd.client();
    let mut lease = HostLease::announce(client, "host-a", 2).unwrap();
    let h = hosts(&c.etcd).unwrap();
    assert_eq!(h.len(), 1);
    assert!(h[0].alive && h[0].announced.as_deref().unwrap().contains("host host-a"));
    // renewed past its TTL: still there
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(900));
        lease.renew().unwrap();
    }
    assert_eq!(c.etcd.list(HOSTS).unwrap(), ["host-a"]);
    lease.withdraw().unwrap();
    assert!(c.etcd.list(HOSTS).unwrap().is_empty());
    // one that is not renewed expires; renewing then announces it again
    let mut lease = HostLease::announce(client, "host-a", 2).unwrap();
    let t = Instant::now();
    while !c.etcd.list(HOSTS).unwrap().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "lease never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    lease.renew().unwrap();
    assert_eq!(c.etcd.list(HOSTS).unwrap(), ["host-a"]);
}

/// Three members, the one the client talks to killed: the controller goes on
/// through the others (reads, a record change, a lease).
#[test]
fn a_three_member_cluster_survives_a_member() {
    let mut etcd = Etcd::start(3);
    let h = Host::new();
    let c = Cluster::connect(&etcd.url(), "host-a").unwrap();
    ok(&h, &c, &format!("corm create c1 --bdf {NIC} --endpoints 2"));
    etcd.kill(0);
    ok(&h, &c, "spike create s1 --mac 00:16:3e:00:00:01");
    let w = ok(&h, &c, "wire connect corm:c1/0 spike:s1");
    assert!(w.starts_with("wire 1:"), "{w}");
    let lease = HostLease::announce(c.etcd.client(), "host-a", 5).unwrap();
    let st = ok(&h, &c, "status --cluster");
    assert!(
        st.contains("alive") && st.contains("c1") && st.contains("s1"),
        "{st}"
    );
    lease.withdraw().unwrap();
    // two of three killed: no quorum; a read fails within the client's
    // timeouts and says why, it does not hang
    etcd.kill(1);
    let t = Instant::now();
    let e = c.etcd.get("/banana/host/host-a/corm/c1/domid").unwrap_err();
    assert!(e.to_string().contains("etcd"), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(40),
        "took {:?}",
        t.elapsed()
    );
}
