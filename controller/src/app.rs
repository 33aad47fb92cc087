//! The controller's context: the store, the toolstack and the directories,
//! plus the host-wide lock that makes commands run one at a time.

use std::fs::File;
use std::path::PathBuf;

use crate::endpoint::Kind;
use crate::error::{io, Result};
use crate::registry::{Access, Batch, Registry};
use crate::schema::{DomainRecord, ROOT};
use crate::toolstack::Toolstack;

pub struct App<'a> {
    /// Holds `/banana` (the controller's records and the domains' configs).
    pub reg: &'a dyn Registry,
    /// Holds `/local/domain/…`, where domains publish; xenstore even when
    /// `reg` is a cluster store.
    pub local: &'a dyn Registry,
    pub xl: &'a dyn Toolstack,
    /// The payload directory: `xl/<kind>.cfg` templates and the domain ELFs.
    pub images: PathBuf,
    /// Rendered xl configs and the lock file.
    pub run_dir: PathBuf,
}

/// Held while a command runs; the OS drops the lock if banana dies.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] File);

impl App<'_> {
    /// Starts a command: takes the lock, makes sure `/banana` exists and is
    /// private to dom0, and repairs what an interrupted command left.
    pub fn begin(&self) -> Result<Lock> {
        std::fs::create_dir_all(&self.run_dir)
            .map_err(io(format!("creating {}", self.run_dir.display())))?;
        let path = self.run_dir.join("lock");
        let file = File::create(&path).map_err(io(format!("opening {}", path.display())))?;
        file.lock()
            .map_err(io(format!("locking {}", path.display())))?;
        if self.reg.get(ROOT)?.is_none() {
            self.reg
                .apply(Batch::new().put(ROOT, "").restrict(ROOT, Access::Private))?;
        }
        self.reconcile()?;
        Ok(Lock(file))
    }

    pub fn config_file(&self, name: &str) -> PathBuf {
        self.run_dir.join(format!("{name}.cfg"))
    }

    pub fn record(&self, kind: Kind, name: &str) -> Result<Option<DomainRecord>> {
        Ok(DomainRecord::load(self.reg, kind, name)?)
    }
}
