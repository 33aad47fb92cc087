//! Command-level tests against an in-memory xenstore and a fake xl.

mod cluster;
mod domains;
mod encap;
mod encap_corms;
mod fake_guests;
mod fake_xl;
mod reconcile;
mod repair;
mod status;
mod vif;
mod wires;

use std::path::Path;

use clap::Parser;

use crate::app::App;
use crate::cli::{dispatch, Cli};
use crate::counters::tests::FakePages;
use crate::registry::{MemRegistry, Registry};
use crate::toolstack::Toolstack;
use fake_guests::FakeStore;
use fake_xl::FakeXl;

pub const NIC: &str = "0000:00:03.0";
pub const NIC2: &str = "0000:00:04.0";

/// One host: store, toolstack and a payload directory with real templates.
pub struct Host {
    pub reg: MemRegistry,
    /// `/local/domain` and `/libxl`, with guests that react to their vifs.
    pub local: FakeStore,
    pub xl: FakeXl,
    pub pages: FakePages,
    pub dir: tempfile::TempDir,
}

impl Host {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        std::fs::create_dir_all(images.join("xl")).unwrap();
        std::fs::create_dir_all(images.join("domains")).unwrap();
        std::fs::write(
            images.join("xl/corm.cfg"),
            include_str!("../../../images/xl/corm.cfg"),
        )
        .unwrap();
        std::fs::write(
            images.join("xl/spike.cfg"),
            include_str!("../../../images/xl/spike.cfg"),
        )
        .unwrap();
        for d in ["corm-domain", "spike-domain"] {
            std::fs::write(images.join("domains").join(d), "ELF").unwrap();
        }
        let xl = FakeXl::default();
        xl.add_device(NIC);
        xl.add_device(NIC2);
        Host {
            reg: MemRegistry::new(),
            local: FakeStore::default(),
            xl,
            pages: FakePages::default(),
            dir,
        }
    }

    pub fn app(&self) -> App<'_> {
        App {
            cluster: None,
            reg: &self.reg,
            local: &self.local,
            xl: &self.xl,
            pages: &self.pages,
            images: self.dir.path().join("images"),
            run_dir: self.dir.path().join("run"),
            timing: crate::app::Timing::none(),
        }
    }

    pub fn run_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `banana ARGS…`: stdout, or the error line `main` would print.
    pub fn banana(&self, args: &str) -> Result<String, String> {
        let cli = Cli::try_parse_from(std::iter::once("banana").chain(args.split_whitespace()))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        match dispatch(&self.app(), cli.cmd, &mut out) {
            Ok(()) => Ok(String::from_utf8(out).unwrap()),
            Err(e) => {
                let msg = format!("{e:#}");
                assert!(!msg.contains('\n'), "error is not one line: {msg:?}");
                Err(msg)
            }
        }
    }

    pub fn ok(&self, args: &str) -> String {
        self.banana(args)
            .unwrap_or_else(|e| panic!("banana {args}: {e}"))
    }

    pub fn err(&self, args: &str) -> String {
        match self.banana(args) {
            Ok(out) => panic!("banana {args} succeeded: {out}"),
            Err(e) => e,
        }
    }

    pub fn get(&self, path: &str) -> Option<String> {
        self.reg.get(path).unwrap()
    }

    /// The leaves under `prefix` that hold a value: empty directories that
    /// removals leave behind (as xenstore does) do not count.
    pub fn tree(&self, prefix: &str) -> Vec<String> {
        self.reg
            .dump_under(prefix)
            .into_iter()
            .filter(|l| !l.ends_with('='))
            .collect()
    }

    /// A running guest with one vif (devid 0) served by `spike`, connected,
    /// written as libxl and netfront would; returns the guest's domid.
    pub fn guest(&self, name: &str, spike: &str, mac: &str) -> u32 {
        self.xl.start_foreign(name);
        let g = self.xl.find(name).unwrap().unwrap().domid;
        let s: u32 = self
            .get(&format!("/banana/spike/{spike}/domid"))
            .unwrap()
            .parse()
            .unwrap();
        let fe = format!("/local/domain/{g}/device/vif/0");
        let be = format!("/local/domain/{s}/backend/vif/{g}/0");
        let lx = format!("/libxl/{g}/device/vif/0");
        let mut b = crate::registry::Batch::new();
        for (k, v) in [
            ("frontend", fe.as_str()),
            ("frontend-id", &g.to_string()),
            ("online", "1"),
            ("state", "1"),
            ("script", "/etc/xen/scripts/vif-bridge"),
            ("mac", mac),
            ("bridge", "xenbr0"),
            ("handle", "0"),
            ("type", "vif"),
            ("hotplug-status", ""),
        ] {
            b.put(format!("{lx}/{k}"), v);
            b.put(format!("{be}/{k}"), v);
        }
        b.put(format!("{lx}/backend"), &be)
            .put(format!("{be}/state"), 4)
            .put(format!("{be}/feature-rx-copy"), 1);
        for (k, v) in [
            ("backend", be.as_str()),
            ("backend-id", &s.to_string()),
            ("state", "4"),
            ("handle", "0"),
            ("mac", mac),
            ("trusted", "1"),
            ("mtu", "1500"),
            ("tx-ring-ref", "8"),
            ("rx-ring-ref", "9"),
            ("event-channel", "5"),
        ] {
            b.put(format!("{fe}/{k}"), v);
        }
        self.local.apply(&b).unwrap();
        self.local.log.borrow_mut().clear();
        g
    }

    /// Everything that a failed command must leave as it found it.
    pub fn snapshot(&self) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
        let mut files: Vec<String> = std::fs::read_dir(self.dir.path().join("run"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        files.retain(|f| f != "lock");
        files.sort();
        (
            self.tree("/banana"),
            self.xl.domains(),
            self.xl.assignable(),
            files,
        )
    }
}
