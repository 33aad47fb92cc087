//! Command-level tests against an in-memory xenstore and a fake xl.

mod domains;
mod fake_xl;
mod reconcile;
mod status;
mod wires;

use std::path::Path;

use clap::Parser;

use crate::app::App;
use crate::cli::{dispatch, Cli};
use crate::registry::{MemRegistry, Registry};
use fake_xl::FakeXl;

pub const NIC: &str = "0000:00:03.0";
pub const NIC2: &str = "0000:00:04.0";

/// One host: store, toolstack and a payload directory with real templates.
pub struct Host {
    pub reg: MemRegistry,
    pub local: MemRegistry,
    pub xl: FakeXl,
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
            local: MemRegistry::new(),
            xl,
            dir,
        }
    }

    pub fn app(&self) -> App<'_> {
        App {
            reg: &self.reg,
            local: &self.local,
            xl: &self.xl,
            images: self.dir.path().join("images"),
            run_dir: self.dir.path().join("run"),
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
