//! The controller's context: the store, the toolstack and the directories,
//! plus the host-wide lock that makes commands run one at a time.

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::counters::PageSource;
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
    /// Copies domains' counter pages (the grant device).
    pub pages: &'a dyn PageSource,
    /// The payload directory: `xl/<kind>.cfg` templates and the domain ELFs.
    pub images: PathBuf,
    /// Rendered xl configs and the lock file.
    pub run_dir: PathBuf,
    /// How long repairs wait for domains and guests.
    pub timing: Timing,
    /// The cluster this host's records are in (`--registry etcd://…`):
    /// `reg` is then its [`crate::etcd::ClusterRegistry`].
    pub cluster: Option<&'a crate::etcd::Cluster>,
}

/// The waits of a repair (`crate::repair`, `crate::reattach`). Tests use
/// [`Timing::none`].
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between removing a guest's vif device and adding it back: the guest
    /// must have seen the removal first (docs/self-healing.md).
    pub settle: Duration,
    /// How long a moved vif may take to connect.
    pub connect: Duration,
    /// Rounds of remove, settle (doubling), add, wait for a vif.
    pub attempts: u32,
    /// How long a destroyed domain may take to leave `xl list` (its PCI
    /// device is not assignable before).
    pub gone: Duration,
    /// Between two looks at xenstore or xl.
    pub poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            settle: Duration::from_secs(1),
            connect: Duration::from_secs(20),
            attempts: 3,
            gone: Duration::from_secs(30),
            poll: Duration::from_millis(100),
        }
    }
}

impl Timing {
    /// No waiting at all: fakes answer at once.
    pub fn none() -> Self {
        Timing {
            settle: Duration::ZERO,
            connect: Duration::ZERO,
            attempts: 3,
            gone: Duration::ZERO,
            poll: Duration::ZERO,
        }
    }

    /// Polls `done` until it says yes or `limit` has passed (looking at least
    /// once); says whether it did.
    pub fn until<E>(
        &self,
        limit: Duration,
        mut done: impl FnMut() -> Result<bool, E>,
    ) -> Result<bool, E> {
        let start = Instant::now();
        loop {
            if done()? {
                return Ok(true);
            }
            if start.elapsed() >= limit {
                return Ok(false);
            }
            std::thread::sleep(self.poll);
        }
    }
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
