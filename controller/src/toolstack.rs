//! The Xen toolstack as the controller needs it, behind [`Toolstack`] so
//! tests can use a fake; [`Xl`] drives the real `xl`.

use std::path::Path;

use crate::endpoint::Bdf;
use crate::run::Run;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{cmd} failed: {reason}")]
    Failed { cmd: String, reason: String },
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
}

/// One line of `xl list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfo {
    pub name: String,
    pub domid: u32,
    /// xl's state flags, e.g. `-b----`.
    pub state: String,
}

impl DomainInfo {
    /// Xen says the domain crashed (xl's `c` flag). With `on_crash =
    /// "preserve"` (images/xl/*.cfg) a crashed domain stays listed, so its
    /// console and memory can be looked at, until someone destroys it.
    pub fn crashed(&self) -> bool {
        self.state.contains('c')
    }
}

pub trait Toolstack {
    /// Creates a domain from an xl config file, paused: the controller writes
    /// its configuration before it runs.
    fn create(&self, config: &Path) -> Result<(), ToolError>;
    fn unpause(&self, name: &str) -> Result<(), ToolError>;
    fn destroy(&self, name: &str) -> Result<(), ToolError>;
    fn list(&self) -> Result<Vec<DomainInfo>, ToolError>;
    fn pci_assignable_list(&self) -> Result<Vec<Bdf>, ToolError>;
    fn pci_assignable_add(&self, bdf: &Bdf) -> Result<(), ToolError>;
    /// Gives the device back to the driver it had before `pci_assignable_add`.
    fn pci_assignable_remove(&self, bdf: &Bdf) -> Result<(), ToolError>;

    fn find(&self, name: &str) -> Result<Option<DomainInfo>, ToolError> {
        Ok(self.list()?.into_iter().find(|d| d.name == name))
    }

    /// Stops a domain that owns a device: asks it to shut down (a Corm then
    /// stops its NIC's DMA and interrupts), waits up to [`STOP_GRACE`], and
    /// destroys what is left. A plain `xl destroy` leaves a level-triggered
    /// INTx asserted by a device nobody services: dom0 then disables that
    /// IRQ line ("nobody cared") and the next owner of the line hangs.
    fn stop(&self, name: &str) -> Result<(), ToolError> {
        self.destroy(name)
    }
}

/// How long [`Toolstack::stop`] waits for a clean shutdown.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The real toolstack: the `xl` program.
pub struct Xl<R> {
    run: R,
    program: String,
}

impl<R: Run> Xl<R> {
    pub fn new(run: R, program: impl Into<String>) -> Self {
        Self {
            run,
            program: program.into(),
        }
    }

    fn xl(&self, args: &[&str]) -> Result<String, ToolError> {
        let cmd = format!("xl {}", args.join(" "));
        let out = self
            .run
            .run(&self.program, args)
            .map_err(|source| ToolError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        if out.success {
            Ok(out.stdout)
        } else {
            Err(ToolError::Failed {
                cmd,
                reason: out.reason(),
            })
        }
    }
}

impl<R: Run> Toolstack for Xl<R> {
    fn create(&self, config: &Path) -> Result<(), ToolError> {
        self.xl(&["create", "-p", &config.to_string_lossy()])
            .map(drop)
    }
    fn unpause(&self, name: &str) -> Result<(), ToolError> {
        self.xl(&["unpause", name]).map(drop)
    }
    fn destroy(&self, name: &str) -> Result<(), ToolError> {
        self.xl(&["destroy", name]).map(drop)
    }
    fn stop(&self, name: &str) -> Result<(), ToolError> {
        if self.xl(&["shutdown", name]).is_ok() {
            let t0 = std::time::Instant::now();
            while t0.elapsed() < STOP_GRACE {
                if self.find(name)?.is_none() {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            tracing::warn!("{name}: no clean shutdown within {STOP_GRACE:?}, destroying it");
        }
        match self.destroy(name) {
            // Gone between the last look and the destroy: stopped all the same.
            Err(_) if self.find(name)?.is_none() => Ok(()),
            r => r,
        }
    }
    fn list(&self) -> Result<Vec<DomainInfo>, ToolError> {
        Ok(parse_list(&self.xl(&["list"])?))
    }
    fn pci_assignable_list(&self) -> Result<Vec<Bdf>, ToolError> {
        let out = self.xl(&["pci-assignable-list"])?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect())
    }
    fn pci_assignable_add(&self, bdf: &Bdf) -> Result<(), ToolError> {
        self.xl(&["pci-assignable-add", &bdf.to_string()]).map(drop)
    }
    fn pci_assignable_remove(&self, bdf: &Bdf) -> Result<(), ToolError> {
        self.xl(&["pci-assignable-remove", "-r", &bdf.to_string()])
            .map(drop)
    }
}

/// Parses `xl list`: a header, then `NAME ID MEM VCPUS STATE TIME` rows.
pub fn parse_list(text: &str) -> Vec<DomainInfo> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let domid = f.get(1)?.parse().ok()?;
            Some(DomainInfo {
                name: f[0].to_string(),
                domid,
                state: f.get(4).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_xl_list() {
        let text = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n\
                    Domain-0                                     0  1024     1     r-----      25.3\n\
                    c0                                           3    16     1     -b----       0.1\n";
        let l = parse_list(text);
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[1],
            DomainInfo {
                name: "c0".into(),
                domid: 3,
                state: "-b----".into()
            }
        );
    }
}
