//! Runs the real `banana` binary against the fake `xl` and `xenstore-*`
//! scripts in `tests/fake/`, checking exit codes, output and the one-line
//! error format.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for sub in [
            "bin",
            "xs",
            "xl",
            "images/xl",
            "images/domains",
            "run",
            "console",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        copy_exec(&fake.join("xl"), &d.join("bin/xl"));
        copy_exec(&fake.join("xenstore"), &d.join("bin/xenstore"));
        for t in ["read", "write", "list", "ls", "rm", "exists", "chmod"] {
            std::os::unix::fs::symlink(d.join("bin/xenstore"), d.join(format!("bin/xenstore-{t}")))
                .unwrap();
        }
        for kind in ["corm", "spike"] {
            std::fs::copy(
                repo.join(format!("images/xl/{kind}.cfg")),
                d.join(format!("images/xl/{kind}.cfg")),
            )
            .unwrap();
            std::fs::write(d.join(format!("images/domains/{kind}-domain")), "ELF").unwrap();
        }
        std::fs::write(d.join("xl/devices"), "0000:00:03.0\n").unwrap();
        Lab { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_banana"));
        c.args(args)
            .env("BANANA_IMAGES", self.path("images"))
            .env("BANANA_RUN_DIR", self.path("run"))
            .env("BANANA_XL", self.path("bin/xl"))
            // The fake xenstore is a set of xenstore-* programs over a
            // directory tree: reach it through the programs.
            .env("BANANA_XENSTORE", "programs")
            .env("BANANA_XENSTORE_BIN", self.path("bin"))
            .env("BANANA_CONSOLE_DIR", self.path("console"))
            .env("XS_ROOT", self.path("xs"))
            .env("XL_STATE", self.path("xl"))
            .env_remove("FAKE_XL_FAIL")
            .env_remove("FAKE_XL_STUBBORN");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "banana {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Asserts the failure contract: exit 1, nothing on stdout, exactly one
    /// `banana: error: …` line on stderr; returns that line.
    fn fails(&self, mut c: Command) -> String {
        let o = c.output().unwrap();
        let stderr = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
        assert!(o.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
        assert!(stderr.starts_with("banana: error: "), "{stderr}");
        stderr.trim_end().to_string()
    }

    fn err(&self, args: &[&str]) -> String {
        self.fails(self.cmd(args))
    }

    /// The fake store and toolstack as text, to show a command changed nothing.
    /// One key's value in the fake xenstore (the test fails without it).
    fn get(&self, key: &str) -> String {
        let state = self.state();
        state
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("{key} missing from\n{state}"))
    }

    fn state(&self) -> String {
        let mut out = String::new();
        walk(&self.path("xs"), "", &mut out);
        for f in ["domains", "assignable"] {
            out += &std::fs::read_to_string(self.path("xl").join(f)).unwrap_or_default();
        }
        out
    }
}

fn copy_exec(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Nodes with a value, as `path=value` lines.
fn walk(dir: &Path, path: &str, out: &mut String) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            let p = format!("{path}/{name}");
            let v = std::fs::read_to_string(e.path().join(".v")).unwrap_or_default();
            if !v.is_empty() {
                out.push_str(&format!("{p}={v}\n"));
            }
            walk(&e.path(), &p, out);
        }
    }
}

#[test]
fn an_operator_session() {
    let lab = Lab::new();
    assert_eq!(
        lab.ok(&[
            "corm",
            "create",
            "c0",
            "--bdf",
            "0000:00:03.0",
            "--vlan",
            "1=10",
            "--underlay",
            "10.77.0.40/24"
        ]),
        "corm c0: domid 1, 0000:00:03.0, endpoints corm:c0/0 .. corm:c0/3\n"
    );
    assert_eq!(
        lab.ok(&[
            "spike",
            "create",
            "s1",
            "--memory",
            "24",
            "--mac",
            "00:16:3e:00:00:01"
        ]),
        "spike s1: domid 2, endpoint spike:s1\n"
    );
    assert_eq!(
        lab.ok(&["wire", "connect", "spike:s1", "corm:c0/1"]),
        "wire 1: corm:c0/1 <-> spike:s1 (connecting)\n"
    );
    assert_eq!(
        lab.ok(&["wire", "connect", "corm:c0/2", "vxlan:42@10.77.0.1"]),
        "wire 2: corm:c0/2 <-> vxlan:42@10.77.0.1:4789 (configured)\n"
    );
    let state = lab.state();
    for line in [
        "/banana/corm/c0/state=running",
        "/banana/config/1/underlay=10.77.0.40/24",
        "/banana/config/1/tunnel/2/endpoint=2",
        "/banana/config/1/tunnel/2/encap=vxlan",
        "/banana/config/1/tunnel/2/vni=42",
        "/banana/config/1/tunnel/2/remote=10.77.0.1",
        "/banana/config/1/tunnel/2/port=4789",
        "/banana/wire/2/b=vxlan:42@10.77.0.1:4789",
        "/banana/config/1/wire/1/side=a",
        "/banana/config/2/wire/1/peer-domid=1",
        "/banana/wire/1/a=corm:c0/1",
    ] {
        assert!(state.contains(line), "{line} missing from\n{state}");
    }
    assert_eq!(
        std::fs::read_to_string(lab.path("xs/banana/config/2/.p")).unwrap(),
        "n0 r2\n"
    );
    assert_eq!(
        std::fs::read_to_string(lab.path("xs/banana/.p")).unwrap(),
        "n0\n"
    );
    let cfg = std::fs::read_to_string(lab.path("run/s1.cfg")).unwrap();
    assert!(
        cfg.contains("memory = 24\n") && cfg.contains("/images/domains/spike-domain\""),
        "{cfg}"
    );

    let list = lab.ok(&["list"]);
    assert!(list.contains("corm:c0/1  10    1     spike:s1"), "{list}");
    let status: serde_json::Value = serde_json::from_str(&lab.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["domains"][1]["xl_state"], "-b----");
    assert_eq!(status["wires"][0]["b_side"]["domid"], 2);

    assert_eq!(
        lab.ok(&["wire", "disconnect", "corm:c0/1"]),
        "wire 1: corm:c0/1 <-> spike:s1 disconnected\n"
    );
    assert_eq!(lab.ok(&["spike", "destroy", "s1"]), "spike s1: destroyed\n");
    // A Corm is asked to shut down first (it quiesces its NIC), not destroyed.
    assert_eq!(lab.ok(&["corm", "destroy", "c0"]), "corm c0: destroyed\n");
    assert_eq!(
        std::fs::read_to_string(lab.path("xl/log")).unwrap_or_default(),
        "shutdown\n"
    );
    assert_eq!(
        lab.state(),
        "/banana/next-wire-id=3\n",
        "only the wire counter stays"
    );
}

#[test]
fn every_mistake_is_one_line_and_changes_nothing() {
    let lab = Lab::new();
    lab.ok(&["corm", "create", "c0", "--bdf", "00:03.0"]);
    lab.ok(&["spike", "create", "s1", "--mac", "00:16:3e:00:00:01"]);
    lab.ok(&["spike", "create", "s2"]);
    lab.ok(&["wire", "connect", "corm:c0/0", "spike:s1"]);
    let before = lab.state();
    let cases: &[(&[&str], &str)] = &[
        (&["corm", "create", "c1", "--bdf", "0000:00:07.0"], "banana: error: unknown BDF 0000:00:07.0: not assignable (xl pci-assignable-add 0000:00:07.0 failed: libxl: error: pci-assignable-add: no device 0000:00:07.0)"),
        (&["corm", "destroy", "nope"], "banana: error: unknown corm 'nope'"),
        (&["spike", "create", "s1"], "banana: error: spike 's1' already exists (running, domid 2)"),
        (&["wire", "connect", "corm:c0/9", "spike:s2"], "banana: error: unknown endpoint corm:c0/9: corm 'c0' has endpoints 0..=3"),
        (&["wire", "connect", "corm:c0/1", "spike:s1"], "banana: error: endpoint spike:s1 is already wired (wire 1)"),
        (&["wire", "connect", "spike:s2", "spike:s2"], "banana: error: cannot wire spike:s2 to itself"),
        (&["wire", "connect", "spike:s2", "eth0"], "banana: error: bad endpoint 'eth0': expected spike:NAME, corm:NAME/INDEX, vxlan:VNI@IPv4[:PORT] or geneve:VNI@IPv4[:PORT]"),
        (&["wire", "disconnect", "42"], "banana: error: unknown wire '42'"),
    ];
    for (args, want) in cases {
        assert_eq!(&lab.err(args), want, "banana {args:?}");
    }
    let mut c = lab.cmd(&["spike", "create", "s3"]);
    c.env("FAKE_XL_FAIL", "create");
    let e = lab.fails(c);
    assert!(
        e.ends_with("/s3.cfg failed: libxl: error: injected failure of xl create"),
        "{e}"
    );
    let mut c = lab.cmd(&["spike", "destroy", "s2"]);
    c.env("FAKE_XL_FAIL", "destroy");
    assert_eq!(
        lab.fails(c),
        "banana: error: xl destroy s2 failed: libxl: error: injected failure of xl destroy"
    );
    assert_eq!(lab.state(), before);
    assert!(!lab.path("run/s3.cfg").exists());
}

#[test]
fn missing_tools_are_one_line_errors() {
    let lab = Lab::new();
    let mut c = lab.cmd(&["list"]);
    c.env("BANANA_XL", lab.path("bin/no-such-xl"));
    let e = lab.fails(c);
    assert!(e.starts_with("banana: error: cannot run xl list: "), "{e}");
}

/// The default way to xenstore, outside a Xen dom0: one line, nothing made.
#[test]
fn outside_a_dom0_the_socket_is_a_one_line_error() {
    let dom0 = [
        "/run/xenstored/socket",
        "/var/run/xenstored/socket",
        "/dev/xen/xenbus",
    ];
    if dom0.iter().any(|p| std::path::Path::new(p).exists()) {
        return; // a Xen dom0: the socket would answer
    }
    let lab = Lab::new();
    let before = lab.state();
    let mut c = lab.cmd(&["corm", "create", "c0", "--bdf", "0000:00:03.0"]);
    c.env_remove("BANANA_XENSTORE");
    let e = lab.fails(c);
    assert!(
        e.starts_with("banana: error: not a Xen dom0: xenstored is not reachable at "),
        "{e}"
    );
    assert_eq!(lab.state(), before);
}

#[test]
fn log_prints_the_console_file() {
    let lab = Lab::new();
    std::fs::write(lab.path("console/guest-c0.log"), "CORM-BOOT domid=1\n").unwrap();
    assert_eq!(lab.ok(&["log", "c0"]), "CORM-BOOT domid=1\n");
    // A domain's console cannot drive the operator's terminal.
    std::fs::write(
        lab.path("console/guest-c1.log"),
        b"ok\x1b]0;pwned\x07 \x1b[2K\x1b[1Ahidden\r\n",
    )
    .unwrap();
    assert_eq!(lab.ok(&["log", "c1"]), "ok hidden\n");
    let e = lab.err(&["log", "c9"]);
    assert!(
        e.starts_with("banana: error: no console log for 'c9' ("),
        "{e}"
    );
    assert_eq!(lab.ok(&["console", "c0"]), "fake console of c0\n");
}

/// Xen's view of a domain that crashed under `on_crash = "preserve"`.
fn crash(lab: &Lab, name: &str) {
    let path = lab.path("xl/domains");
    let text = std::fs::read_to_string(&path).unwrap();
    let text: String = text
        .lines()
        .map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [n, id, _] if n == name => format!("{n} {id} ---sc-\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn repair_and_supervise_restart_a_crashed_spike() {
    let lab = Lab::new();
    lab.ok(&["spike", "create", "s1"]);
    lab.ok(&["spike", "create", "s2"]);
    lab.ok(&["wire", "connect", "spike:s1", "spike:s2"]);
    crash(&lab, "s2");
    let o = lab.run(&["status"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("spike 's2': crashed (xl state ---sc-): `banana repair` restarts it"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("s2      spike  2      crashed  ---sc-"),
        "{o:?}"
    );
    assert_eq!(
        lab.ok(&["repair"]),
        "spike s2: crashed (xl state ---sc-), restarted as domid 3\n"
    );
    assert_eq!(lab.ok(&["repair"]), "nothing to repair\n");
    assert!(lab
        .state()
        .contains("/banana/config/1/wire/1/peer-domid=3\n"));

    // supervise repairs by itself and stops cleanly on SIGTERM.
    crash(&lab, "s2");
    let child = lab
        .cmd(&["supervise", "--interval", "1"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let domains = lab.path("xl/domains");
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(&domains)
        .unwrap()
        .contains("s2 4 -b----")
    {
        assert!(t0.elapsed().as_secs() < 20, "supervise did not restart s2");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("spike s2: crashed (xl state ---sc-), restarted as domid 4"),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("stopped"), "{stderr}");
    assert!(o.stdout.is_empty());
}

#[test]
fn a_corm_gets_a_wireguard_key_and_its_secrets_are_its_own() {
    let lab = Lab::new();
    let out = lab.ok(&[
        "corm",
        "create",
        "c0",
        "--bdf",
        "0000:00:03.0",
        "--tunnel-key",
    ]);
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("corm c0: wireguard public key "))
        .unwrap_or_else(|| panic!("no key in {out}"))
        .to_string();
    assert_eq!(public.len(), 44, "{public}");
    assert_eq!(lab.get("/banana/corm/c0/wireguard/public-key"), public);
    let private = lab.get("/banana/corm/c0/wireguard/private-key");
    assert_eq!(private.len(), 44);
    assert_ne!(private, public);
    assert_eq!(lab.get("/banana/config/1/wireguard/private-key"), private);
    assert_eq!(lab.get("/banana/config/1/wireguard/seed").len(), 44);
    // The Corm owns its secrets (to delete them); the rest of its config
    // is dom0's, readable by it.
    assert_eq!(
        std::fs::read_to_string(lab.path("xs/banana/config/1/wireguard/.p")).unwrap(),
        "n1 r0\n"
    );
    assert_eq!(
        std::fs::read_to_string(lab.path("xs/banana/config/1/.p")).unwrap(),
        "n0 r1\n"
    );
    for args in [&["status"][..], &["status", "--json"]] {
        let shown = lab.ok(args);
        assert!(shown.contains(&public), "{shown}");
        assert!(
            !shown.contains(&private),
            "the private key is shown by {args:?}"
        );
    }
    // A Corm without --tunnel-key has none.
    lab.ok(&["corm", "destroy", "c0"]);
    let out = lab.ok(&["corm", "create", "c0", "--bdf", "0000:00:03.0"]);
    assert!(!out.contains("wireguard"), "{out}");
    assert!(!lab.state().contains("wireguard"), "{}", lab.state());
}

#[test]
fn a_tunnel_wire_names_each_corm_s_wireguard_peer() {
    let lab = Lab::new();
    std::fs::write(lab.path("xl/devices"), "0000:00:03.0\n0000:00:04.0\n").unwrap();
    let mk = |name: &str, bdf: &str, ip: &str, key: bool| {
        let mut args = vec![
            "corm",
            "create",
            name,
            "--bdf",
            bdf,
            "--endpoints",
            "1",
            "--underlay",
            ip,
        ];
        if key {
            args.push("--tunnel-key");
        }
        lab.ok(&args)
    };
    mk("ca", "0000:00:03.0", "10.77.0.43/24", true);
    mk("cb", "0000:00:04.0", "10.77.0.44/24", false);
    let err = lab.fails(lab.cmd(&["wire", "connect", "corm:ca/0", "corm:cb/0", "--tunnel"]));
    assert!(err.contains("corm 'cb' has no tunnel key"), "{err}");
    assert!(!lab.state().contains("/banana/wire/1/"), "{}", lab.state());
    lab.ok(&["corm", "destroy", "cb"]);
    mk("cb", "0000:00:04.0", "10.77.0.44/24", true);
    let out = lab.ok(&["wire", "connect", "corm:ca/0", "corm:cb/0", "--tunnel"]);
    assert!(out.contains("geneve in wireguard"), "{out}");
    let (da, db) = (
        lab.get("/banana/corm/ca/domid"),
        lab.get("/banana/corm/cb/domid"),
    );
    let tun_b = lab.get(&format!("/banana/config/{db}/wireguard-address"));
    assert!(tun_b.starts_with("100."), "{tun_b}");
    let dir = format!("/banana/config/{da}/tunnel/1");
    assert_eq!(lab.get(&format!("{dir}/remote")), tun_b);
    assert_eq!(lab.get(&format!("{dir}/encap")), "geneve");
    assert_eq!(
        lab.get(&format!("{dir}/wireguard-peer")),
        lab.get("/banana/corm/cb/wireguard/public-key")
    );
    assert_eq!(
        lab.get(&format!("{dir}/wireguard-endpoint")),
        "10.77.0.44:51820"
    );
    let err = lab.fails(lab.cmd(&[
        "wire",
        "connect",
        "corm:ca/0",
        "corm:cb/0",
        "--tunnel",
        "--encap",
        "vxlan",
    ]));
    assert!(err.contains("--tunnel carries Geneve"), "{err}");
}

#[test]
fn a_geneve_vtep_behind_wireguard() {
    let lab = Lab::new();
    let key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
    lab.ok(&[
        "corm",
        "create",
        "c0",
        "--bdf",
        "0000:00:03.0",
        "--endpoints",
        "2",
        "--underlay",
        "10.77.0.47/24",
    ]);
    let wg = |vtep: &str, k: &str, e: &str| {
        lab.cmd(&[
            "wire",
            "connect",
            "corm:c0/1",
            vtep,
            "--wireguard-peer",
            k,
            "--wireguard-endpoint",
            e,
        ])
    };
    let err = lab.fails(wg("geneve:77@100.64.77.1", key, "10.77.0.10:51820"));
    assert!(err.contains("corm 'c0' has no tunnel key"), "{err}");
    lab.ok(&["corm", "destroy", "c0"]);
    lab.ok(&[
        "corm",
        "create",
        "c0",
        "--bdf",
        "0000:00:03.0",
        "--endpoints",
        "2",
        "--underlay",
        "10.77.0.47/24",
        "--tunnel-key",
    ]);
    for (vtep, k, e, why) in [
        (
            "geneve:77@100.64.77.1",
            "short",
            "10.77.0.10:51820",
            "bad --wireguard-peer 'short'",
        ),
        (
            "geneve:77@100.64.77.1",
            key,
            "10.77.0.10",
            "bad --wireguard-endpoint '10.77.0.10'",
        ),
        (
            "vxlan:77@100.64.77.1",
            key,
            "10.77.0.10:51820",
            "--tunnel carries Geneve",
        ),
        (
            "geneve:77@100.64.77.1",
            key,
            "10.99.0.1:51820",
            "cannot reach",
        ),
    ] {
        let err = lab.fails(wg(vtep, k, e));
        assert!(err.contains(why), "{vtep} {k} {e}: {err}");
    }
    assert!(!lab.state().contains("/banana/wire/"), "{}", lab.state());
    lab.ok(&[
        "wire",
        "connect",
        "corm:c0/1",
        "geneve:77@100.64.77.1",
        "--wireguard-peer",
        key,
        "--wireguard-endpoint",
        "10.77.0.10:51820",
    ]);
    let state = lab.state();
    for line in [
        "/banana/config/2/tunnel/1/remote=100.64.77.1",
        "/banana/config/2/tunnel/1/vni=77",
        &format!("/banana/config/2/tunnel/1/wireguard-peer={key}"),
        "/banana/config/2/tunnel/1/wireguard-endpoint=10.77.0.10:51820",
        "/banana/wire/1/wireguard-endpoint=10.77.0.10:51820",
    ] {
        assert!(state.contains(line), "{line} missing from\n{state}");
    }
    assert!(
        !state.contains("/banana/config/2/tunnel/1/control"),
        "a VTEP speaks no control"
    );
}

#[test]
fn corm_rekey_rotates_the_key_and_tells_the_other_corm() {
    let lab = Lab::new();
    std::fs::write(lab.path("xl/devices"), "0000:00:03.0\n0000:00:04.0\n").unwrap();
    let err = lab.fails(lab.cmd(&["corm", "rekey", "ca"]));
    assert!(err.contains("ca"), "{err}");
    lab.ok(&[
        "corm",
        "create",
        "ca",
        "--bdf",
        "0000:00:03.0",
        "--endpoints",
        "1",
        "--underlay",
        "10.77.0.43/24",
        "--tunnel-key",
    ]);
    lab.ok(&[
        "corm",
        "create",
        "cb",
        "--bdf",
        "0000:00:04.0",
        "--endpoints",
        "1",
        "--underlay",
        "10.77.0.44/24",
    ]);
    let err = lab.fails(lab.cmd(&["corm", "rekey", "cb"]));
    assert!(err.contains("corm 'cb' has no tunnel key"), "{err}");
    lab.ok(&["corm", "destroy", "cb"]);
    lab.ok(&[
        "corm",
        "create",
        "cb",
        "--bdf",
        "0000:00:04.0",
        "--endpoints",
        "1",
        "--underlay",
        "10.77.0.44/24",
        "--tunnel-key",
    ]);
    lab.ok(&["wire", "connect", "corm:ca/0", "corm:cb/0", "--tunnel"]);
    let (old_pub, old_priv) = (
        lab.get("/banana/corm/ca/wireguard/public-key"),
        lab.get("/banana/corm/ca/wireguard/private-key"),
    );
    let (da, db) = (
        lab.get("/banana/corm/ca/domid"),
        lab.get("/banana/corm/cb/domid"),
    );
    let addr = lab.get(&format!("/banana/config/{da}/wireguard-address"));
    // The Corm took its secrets at boot (deleted them): the rotation writes new ones.
    std::fs::remove_dir_all(lab.path(&format!("xs/banana/config/{da}/wireguard"))).unwrap();
    let out = lab.ok(&["corm", "rekey", "ca"]);
    let new_pub = lab.get("/banana/corm/ca/wireguard/public-key");
    assert_ne!(new_pub, old_pub);
    assert_eq!(
        out,
        format!("corm ca: new wireguard public key {new_pub} (tunnel wires told: 1)\n")
    );
    let new_priv = lab.get(&format!("/banana/config/{da}/wireguard/private-key"));
    assert_ne!(new_priv, old_priv);
    assert_eq!(new_priv, lab.get("/banana/corm/ca/wireguard/private-key"));
    assert_eq!(
        lab.get(&format!("/banana/config/{da}/wireguard/seed"))
            .len(),
        44
    );
    assert_eq!(
        std::fs::read_to_string(lab.path(&format!("xs/banana/config/{da}/wireguard/.p"))).unwrap(),
        format!("n{da} r0\n")
    );
    assert_eq!(
        lab.get(&format!("/banana/config/{db}/tunnel/1/wireguard-peer")),
        new_pub
    );
    assert_eq!(
        lab.get(&format!("/banana/config/{db}/tunnel/1/remote")),
        addr,
        "the tunnel address stays"
    );
    assert_eq!(
        lab.get(&format!("/banana/config/{da}/wireguard-address")),
        addr
    );
    let shown = lab.ok(&["status"]);
    assert!(
        shown.contains(&new_pub) && !shown.contains(&old_pub),
        "{shown}"
    );
}
