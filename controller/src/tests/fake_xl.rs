//! An in-memory xl: domains, PCI devices, and failures or crashes on demand.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use crate::endpoint::Bdf;
use crate::toolstack::{DomainInfo, ToolError, Toolstack};

#[derive(Default)]
struct State {
    domains: Vec<DomainInfo>,
    last_domid: u32,
    /// Devices on the host; `pci_assignable_add` works only for these.
    devices: BTreeSet<Bdf>,
    assignable: BTreeSet<Bdf>,
    fail: BTreeSet<&'static str>,
    crash: Option<&'static str>,
}

#[derive(Default)]
pub struct FakeXl(RefCell<State>);

impl FakeXl {
    pub fn add_device(&self, bdf: &str) {
        self.0.borrow_mut().devices.insert(bdf.parse().unwrap());
    }
    pub fn make_assignable(&self, bdf: &str) {
        self.0.borrow_mut().assignable.insert(bdf.parse().unwrap());
    }
    /// Makes operation `op` ("create", "destroy", "unpause", "pci-add", …) fail.
    pub fn fail(&self, op: &'static str) {
        self.0.borrow_mut().fail.insert(op);
    }
    pub fn heal(&self) {
        self.0.borrow_mut().fail.clear();
    }
    /// Makes `op` panic after doing its work: banana dying mid-command.
    pub fn crash_after(&self, op: Option<&'static str>) {
        self.0.borrow_mut().crash = op;
    }
    /// A domain disappearing behind banana's back (crash, `xl destroy`).
    pub fn vanish(&self, name: &str) {
        self.0.borrow_mut().domains.retain(|d| d.name != name);
    }
    /// Xen's view of a domain that crashed under `on_crash = "preserve"`.
    pub fn crash(&self, name: &str) {
        let mut s = self.0.borrow_mut();
        let d = s.domains.iter_mut().find(|d| d.name == name).unwrap();
        d.state = "---sc-".into();
    }
    pub fn start_foreign(&self, name: &str) {
        let mut s = self.0.borrow_mut();
        s.last_domid += 1;
        let domid = s.last_domid;
        s.domains.push(DomainInfo {
            name: name.into(),
            domid,
            state: "-b----".into(),
        });
    }
    pub fn domains(&self) -> Vec<String> {
        self.0
            .borrow()
            .domains
            .iter()
            .map(|d| format!("{} {} {}", d.name, d.domid, d.state))
            .collect()
    }
    pub fn assignable(&self) -> Vec<String> {
        self.0
            .borrow()
            .assignable
            .iter()
            .map(Bdf::to_string)
            .collect()
    }

    fn op(
        &self,
        op: &'static str,
        what: &str,
        work: impl FnOnce(&mut State) -> Result<(), String>,
    ) -> Result<(), ToolError> {
        let failed = |reason: String| ToolError::Failed {
            cmd: format!("xl {op} {what}"),
            reason,
        };
        if self.0.borrow().fail.contains(op) {
            return Err(failed(format!("injected {op} failure")));
        }
        work(&mut self.0.borrow_mut()).map_err(failed)?;
        if self.0.borrow().crash == Some(op) {
            panic!("simulated crash after xl {op}");
        }
        Ok(())
    }
}

impl Toolstack for FakeXl {
    fn create(&self, config: &Path) -> Result<(), ToolError> {
        let text = std::fs::read_to_string(config).unwrap();
        let value = |key: &str| {
            text.lines().rev().find_map(|l| {
                l.strip_prefix(key)?
                    .trim_start()
                    .strip_prefix('=')
                    .map(|v| v.trim().to_string())
            })
        };
        let name = value("name").unwrap().trim_matches('"').to_string();
        let pci: Option<Bdf> =
            value("pci").map(|v| v.trim_matches(|c| "[]' ".contains(c)).parse().unwrap());
        self.op("create", &config.display().to_string(), |s| {
            if s.domains.iter().any(|d| d.name == name) {
                return Err(format!("domain {name} already exists"));
            }
            if let Some(b) = pci {
                if !s.assignable.contains(&b) {
                    return Err(format!("{b} is not assignable"));
                }
            }
            s.last_domid += 1;
            let domid = s.last_domid;
            s.domains.push(DomainInfo {
                name,
                domid,
                state: "--p---".into(),
            });
            Ok(())
        })
    }

    fn unpause(&self, name: &str) -> Result<(), ToolError> {
        self.op("unpause", name, |s| {
            let d = s
                .domains
                .iter_mut()
                .find(|d| d.name == name)
                .ok_or("no such domain")?;
            d.state = "-b----".into();
            Ok(())
        })
    }

    fn destroy(&self, name: &str) -> Result<(), ToolError> {
        self.op("destroy", name, |s| {
            let before = s.domains.len();
            s.domains.retain(|d| d.name != name);
            if s.domains.len() == before {
                return Err("no such domain".into());
            }
            Ok(())
        })
    }

    fn list(&self) -> Result<Vec<DomainInfo>, ToolError> {
        self.op("list", "", |_| Ok(()))?;
        Ok(self.0.borrow().domains.clone())
    }

    fn pci_assignable_list(&self) -> Result<Vec<Bdf>, ToolError> {
        Ok(self.0.borrow().assignable.iter().copied().collect())
    }

    fn pci_assignable_add(&self, bdf: &Bdf) -> Result<(), ToolError> {
        self.op("pci-add", &bdf.to_string(), |s| {
            if !s.devices.contains(bdf) {
                return Err(format!("no PCI device {bdf}"));
            }
            s.assignable.insert(*bdf);
            Ok(())
        })
    }

    fn pci_assignable_remove(&self, bdf: &Bdf) -> Result<(), ToolError> {
        self.op("pci-remove", &bdf.to_string(), |s| {
            if !s.assignable.remove(bdf) {
                return Err(format!("{bdf} is not assignable"));
            }
            Ok(())
        })
    }
}
