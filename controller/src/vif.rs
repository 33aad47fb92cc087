//! A guest's vif as libxl keeps it in xenstore, and the xenstore changes that
//! move it to another backend domain in place: what `xl network-detach` then
//! `xl network-attach` would do, keeping the devid, the MAC and libxl's
//! record, so the guest's netfront reconnects without an operator.
//! Why it is done this way: docs/self-healing.md.
//!
//! libxl adds a vif (tools/libs/light/libxl_device.c
//! `libxl__device_add_async` + `libxl__device_generic_add`, libxl_nic.c
//! `libxl__set_xenstore_nic`) in one transaction:
//! * `/local/domain/<be>/backend/vif/<fe>/<dev>/`: `frontend`, `frontend-id`,
//!   `online=1`, `state=1`, `script`, `mac`, `bridge`, `handle`, `type`,
//!   `hotplug-status=""` (and `mtu`, `rate`, `ip`, … when set); owner the
//!   backend, readable by the guest;
//! * `/local/domain/<fe>/device/vif/<dev>/`: `backend`, `backend-id`,
//!   `state=1`, `handle`, `mac`, `trusted`, owner the guest, readable by the
//!   backend; and `mtu`, owner the backend, readable by the guest;
//! * `/libxl/<fe>/device/vif/<dev>/` (dom0 only): `frontend`, `backend` and a
//!   copy of every backend key. libxl finds the backend through it when the
//!   vif or the guest is removed, so it must name the new backend.

use std::collections::BTreeMap;

use crate::endpoint::Mac;
use crate::registry::{join, Access, Batch, Registry, RegistryError};

/// Linux's `enum xenbus_state` values the controller looks at
/// (xen/include/public/io/xenbus.h).
pub const INITIALISING: u32 = 1;
pub const CONNECTED: u32 = 4;
pub const CLOSING: u32 = 5;
pub const CLOSED: u32 = 6;

/// libxl's default vif MTU (`LIBXL_DEVICE_NIC_MTU_DEFAULT`): its record
/// holds `mtu` only when the config set another.
const DEFAULT_MTU: &str = "1500";

pub fn libxl_path(guest: u32, devid: u32) -> String {
    format!("/libxl/{guest}/device/vif/{devid}")
}
pub fn frontend_path(guest: u32, devid: u32) -> String {
    format!("/local/domain/{guest}/device/vif/{devid}")
}
pub fn backend_path(backend: u32, guest: u32, devid: u32) -> String {
    format!("/local/domain/{backend}/backend/vif/{guest}/{devid}")
}

/// `/local/domain/<be>/backend/vif/<fe>/<dev>` → (be, fe, dev), as strictly
/// as libxl's `libxl__parse_backend_path` (decimal numbers only).
pub fn parse_backend_path(path: &str) -> Option<(u32, u32, u32)> {
    let rest = path.strip_prefix("/local/domain/")?;
    let (be, rest) = rest.split_once("/backend/vif/")?;
    let (fe, dev) = rest.split_once('/')?;
    let num = |s: &str| -> Option<u32> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    Some((num(be)?, num(fe)?, num(dev)?))
}

/// One vif of a guest, from libxl's record of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestVif {
    pub guest: u32,
    pub devid: u32,
    /// The backend domain the record names.
    pub backend: u32,
    pub mac: Mac,
    /// The record's leaves: `frontend`, `backend` and the backend keys.
    pub record: BTreeMap<String, String>,
}

/// Why a libxl record cannot be used to move its vif.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {why}")]
pub struct BadRecord {
    pub path: String,
    pub why: String,
}

impl GuestVif {
    /// Reads `/libxl/<guest>/device/vif/<devid>`; `Ok(None)` if there is none.
    pub fn load(
        reg: &dyn Registry,
        guest: u32,
        devid: u32,
    ) -> Result<Option<Result<Self, BadRecord>>, RegistryError> {
        let path = libxl_path(guest, devid);
        let mut record = BTreeMap::new();
        for key in reg.list(&path)? {
            if let Some(v) = reg.get(&join(&path, &key))? {
                record.insert(key, v);
            }
        }
        if record.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::from_record(guest, devid, record)))
    }

    /// Checks that a record describes this very device before anything is
    /// written from it.
    pub fn from_record(
        guest: u32,
        devid: u32,
        record: BTreeMap<String, String>,
    ) -> Result<Self, BadRecord> {
        let bad = |why: String| BadRecord {
            path: libxl_path(guest, devid),
            why,
        };
        let get = |k: &str| record.get(k).map(String::as_str);
        let backend = match get("backend").and_then(parse_backend_path) {
            Some((be, fe, dev)) if fe == guest && dev == devid => be,
            _ => {
                return Err(bad(format!(
                    "backend {:?} is not this vif's",
                    get("backend")
                )))
            }
        };
        if get("frontend") != Some(frontend_path(guest, devid).as_str()) {
            return Err(bad(format!(
                "frontend {:?} is not this vif's",
                get("frontend")
            )));
        }
        if get("frontend-id") != Some(guest.to_string().as_str()) {
            return Err(bad(format!("frontend-id {:?}", get("frontend-id"))));
        }
        let mac = get("mac")
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| bad(format!("mac {:?}", get("mac"))))?;
        Ok(GuestVif {
            guest,
            devid,
            backend,
            mac,
            record,
        })
    }

    pub fn frontend(&self) -> String {
        frontend_path(self.guest, self.devid)
    }

    pub fn backend_in(&self, domid: u32) -> String {
        backend_path(domid, self.guest, self.devid)
    }

    /// Removes the guest's device directory and any backend directory of it
    /// in the old or the new backend domain. Linux's frontend watch
    /// (drivers/xen/xenbus/xenbus_probe.c `xenbus_dev_changed`) finds the
    /// node gone and unregisters the netfront device
    /// (`xenbus_cleanup_devices` → `xennet_remove`, which does not wait for a
    /// backend that reads as Unknown); our Spike forgets a backend directory
    /// that went away.
    pub fn unplug(&self, to: u32) -> Batch {
        let mut b = Batch::new();
        b.rm(self.frontend())
            .rm(self.backend_in(self.backend))
            .rm(self.backend_in(to));
        b
    }

    /// The device again, served by domain `to`, as libxl would add it.
    ///
    /// Both directories must appear in one transaction, each already with
    /// its permissions: netfront probes the moment its `state` reads 1 and
    /// reads the backend's state at once, and the Spike probes the moment
    /// its directory appears (writing features and InitWait as its owner)
    /// and closes a backend whose frontend it cannot read. The
    /// `xenstore-*` tools cannot set permissions inside a write's
    /// transaction, so the two parents are made first with the permissions
    /// the new nodes inherit (xenstored: a node made by dom0 inherits its
    /// parent's): an empty device directory without `state` is ignored by
    /// netfront (`xenbus_probe_node` probes only state Initialising), an
    /// empty `backend/vif/<guest>` is nothing to the Spike.
    pub fn plug(&self, to: u32, trusted: &str) -> Batch {
        let fe = self.frontend();
        let be = self.backend_in(to);
        let be_parent = format!("/local/domain/{to}/backend/vif/{}", self.guest);
        let mut b = Batch::new();
        b.put(&fe, "")
            .restrict(
                &fe,
                Access::Shared {
                    owner: self.guest,
                    reader: to,
                },
            )
            .put(&be_parent, "")
            .restrict(
                &be_parent,
                Access::Shared {
                    owner: to,
                    reader: self.guest,
                },
            );
        for (k, v) in &self.record {
            if !matches!(k.as_str(), "backend" | "state" | "online") {
                b.put(join(&be, k), v);
            }
        }
        b.put(join(&be, "online"), 1)
            .put(join(&be, "state"), INITIALISING)
            .put(join(&fe, "backend"), &be)
            .put(join(&fe, "backend-id"), to)
            .put(join(&fe, "state"), INITIALISING)
            .put(join(&fe, "handle"), self.devid)
            .put(join(&fe, "mac"), self.mac)
            .put(join(&fe, "trusted"), trusted)
            .put(
                join(&fe, "mtu"),
                self.record.get("mtu").map_or(DEFAULT_MTU, String::as_str),
            )
            .put(join(&libxl_path(self.guest, self.devid), "backend"), &be)
            .restrict(
                join(&fe, "mtu"),
                Access::Shared {
                    owner: to,
                    reader: self.guest,
                },
            );
        b
    }

    /// Points libxl's record at the old backend again: a move that did not
    /// complete is then found and tried again by the next repair.
    pub fn restore(&self) -> Batch {
        let mut b = Batch::new();
        b.put(
            join(&libxl_path(self.guest, self.devid), "backend"),
            self.backend_in(self.backend),
        );
        b
    }

    /// The guest's `trusted` (it may write it: only valid values are kept;
    /// libxl's default is trusted).
    pub fn trusted(&self, reg: &dyn Registry) -> Result<String, RegistryError> {
        Ok(
            match reg.get(&join(&self.frontend(), "trusted"))?.as_deref() {
                Some("0") => "0".into(),
                _ => "1".into(),
            },
        )
    }

    /// (frontend state, backend state in domain `to`); unreadable or
    /// garbled reads as `None`.
    pub fn states(
        &self,
        reg: &dyn Registry,
        to: u32,
    ) -> Result<(Option<u32>, Option<u32>), RegistryError> {
        let state = |dir: String| -> Result<Option<u32>, RegistryError> {
            Ok(reg
                .get(&join(&dir, "state"))?
                .and_then(|v| v.trim().parse().ok()))
        };
        Ok((state(self.frontend())?, state(self.backend_in(to))?))
    }
}

/// Every vif libxl has on record for these guests, bad records apart.
pub fn guest_vifs(
    reg: &dyn Registry,
    guests: impl IntoIterator<Item = u32>,
) -> Result<Vec<Result<GuestVif, BadRecord>>, RegistryError> {
    let mut out = Vec::new();
    for guest in guests {
        for dev in reg.list(&format!("/libxl/{guest}/device/vif"))? {
            let Ok(devid) = dev.parse() else { continue };
            out.extend(GuestVif::load(reg, guest, devid)?);
        }
    }
    Ok(out)
}
