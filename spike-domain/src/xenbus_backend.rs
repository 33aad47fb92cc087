//! The xenbus side of one vif, as the backend domain sees it (docs/xen-interfaces.md
//! "Netback handshake"; Linux drivers/net/xen-netback/xenbus.c for the
//! reference behaviour; io/netif.h for the keys).
//!
//! libxl writes `/local/domain/<us>/backend/vif/<fe>/<dev>/` and the
//! frontend's `device/vif/<dev>/`, then waits only for our `state == 2`
//! (InitWait). We publish features, go to InitWait, wait for netfront to
//! publish its rings and reach Connected, map them (the caller does), and go
//! Connected. Teardown: a frontend going Closing/Closed or vanishing, or the
//! toolstack writing `online=0` + `state=5`, ends with `state=6` and, when the
//! toolstack asked for removal, our backend directory removed a moment later.
//!
//! Why "a moment later": for a backend in another domain libxl
//! (`libxl__initiate_device_generic_remove`, tools/libs/light/libxl_device.c)
//! first waits for `state == 6`, treating a directory that vanished before it
//! read 6 as a failure ("unable to remove device with path …"), and then
//! waits up to `LIBXL_DESTROY_TIMEOUT` (10 s) for the driver domain to remove
//! the directory ("timed out while waiting for … to be removed"). A Linux
//! driver domain's `xl devd` removes it after running the hotplug script,
//! well after netback wrote 6; we wait [`REMOVE_GRACE_NS`] instead.
//!
//! A frontend whose keys are unusable gets what Linux's `xenbus_dev_fatal`
//! gives it: an `error` node naming the problem and the backend Closed, so
//! neither side waits in InitWait for ever.
//!
//! Everything the other side wrote is hostile text: parsed strictly, bounded.

use alloc::format;
use alloc::string::String;

use pv_runtime::abi::{DomId, GrantRef, Port};

use crate::netback::{BackendFeatures, TxRate};
use pv_runtime::xenbus::{self, XenbusError, XenbusState};
use pv_runtime::xenstore::{Errno, SharedPage, StoreIo, Xenstore, XsError};

/// Which vif: state is kept per (frontend domid, devid), never per MAC or name
/// (two devices with one MAC coexist during a localhost migration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VifKey {
    pub frontend: DomId,
    pub devid: u32,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("xenstore: {0}")]
    Xs(#[from] XsError),
    #[error("xenbus: {0}")]
    Xenbus(#[from] XenbusError),
    #[error("bad value for {key}: {value:?}")]
    BadValue { key: &'static str, value: String },
    #[error("frontend does not support feature-rx-copy")]
    NoRxCopy,
    /// The frontend said Initialised or Connected without a key it must
    /// write first (`io/netif.h`: the ring refs and event channel precede
    /// the state change); Linux netback's `connect()` fails the device so.
    #[error("frontend wrote no {key}")]
    Missing { key: &'static str },
}

impl BackendError {
    /// The frontend's text, not xenstore or the toolstack, is at fault: the
    /// backend says so in its `error` node and closes (`xenbus_dev_fatal`).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            BackendError::BadValue { .. } | BackendError::NoRxCopy | BackendError::Missing { .. }
        )
    }
}

/// What the caller must do after [`VifBackend::step`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Map the rings, bind the event channel, then call [`VifBackend::connected`].
    Connect(FrontendRings),
    /// Stop I/O: unmap the rings and close the event channel, then call [`VifBackend::disconnected`].
    Disconnect(Why),
    /// Closed for a toolstack removal: call [`VifBackend::remove`] after
    /// [`REMOVE_GRACE_NS`], once libxl has seen `state == 6`.
    RemoveLater,
    /// The device is gone for good (directory removed): forget it.
    Removed,
}

/// How long a Closed backend directory stays before we remove it for a
/// toolstack removal. libxl reads `state` on the watch event our write of 6
/// fires (one xenstore round trip in dom0); 500 ms covers a loaded nested
/// dom0 and keeps `xl destroy` quick.
pub const REMOVE_GRACE_NS: u64 = 500_000_000;

/// Why a connected vif is being disconnected (said on the console).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    #[error("the toolstack removes the device")]
    Removal,
    #[error("the toolstack removed the backend directory")]
    DirectoryGone,
    #[error("the frontend closed")]
    FrontendClosed,
    #[error("the frontend is gone")]
    FrontendGone,
    #[error("the frontend's state is not a xenbus state")]
    FrontendInvalid,
}

/// What netfront published for a single-queue connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendRings {
    pub tx_ring_ref: GrantRef,
    pub rx_ring_ref: GrantRef,
    pub event_channel: Port,
}

/// One vif's handshake state.
#[derive(Debug)]
pub struct VifBackend {
    pub key: VifKey,
    pub be_path: String,
    pub fe_path: String,
    pub mac: [u8; 6],
    pub mtu: u16,
    /// The toolstack's `rate` key (`None`: absent, unlimited).
    pub rate: Option<TxRate>,
    connected: bool,
}

pub use pv_runtime::xenstore::parse_decimal;

pub use netframe::parse_mac;

/// The most of a refused value kept in its error, which goes into the
/// `error` node and onto the console: a value may be as long as xenstore
/// allows (`XENSTORE_PAYLOAD_MAX`), and its escaped text longer still.
const MAX_SHOWN: usize = 64;

/// The longest `error` node written ([`VifBackend::fail`]).
const MAX_ERROR_NODE: usize = 512;

/// `s` cut to at most `max` bytes, at a character boundary, marked `…`.
fn shorten(mut s: String, max: usize) -> String {
    if s.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// A refused value, shortened to [`MAX_SHOWN`] bytes.
fn bad_value(key: &'static str, value: String) -> BackendError {
    BackendError::BadValue {
        key,
        value: shorten(value, MAX_SHOWN),
    }
}

/// Reads a value another domain wrote. Bytes that are not UTF-8 are kept
/// (lossily), so the strict parsers refuse them as a bad value of that key
/// rather than as a xenstore failure: the frontend gets its `error` node.
fn read_text<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    path: &str,
) -> Result<String, XsError> {
    xs.read_bytes(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn read_opt<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    path: &str,
) -> Result<Option<String>, XsError> {
    match read_text(xs, path) {
        Ok(v) => Ok(Some(v)),
        Err(XsError::Xenstored(Errno::ENOENT)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_num<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    path: &str,
    key: &'static str,
) -> Result<u32, BackendError> {
    let v = read_text(xs, path)?;
    parse_decimal(&v).ok_or_else(|| bad_value(key, v))
}

/// A number the frontend must have written: absent is [`BackendError::Missing`].
fn read_required_num<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    path: &str,
    key: &'static str,
) -> Result<u32, BackendError> {
    match read_num(xs, path, key) {
        Err(BackendError::Xs(XsError::Xenstored(Errno::ENOENT))) => {
            Err(BackendError::Missing { key })
        }
        r => r,
    }
}

impl VifBackend {
    /// Takes a device libxl just created under `backend/vif/<fe>/<dev>`: reads
    /// its keys, publishes our features and switches to InitWait.
    pub fn probe<I: StoreIo, M: SharedPage>(
        xs: &mut Xenstore<I, M>,
        key: VifKey,
        offered: &BackendFeatures,
    ) -> Result<Self, BackendError> {
        let be_path = format!("backend/vif/{}/{}", key.frontend, key.devid);
        let frontend_id = read_num(xs, &format!("{be_path}/frontend-id"), "frontend-id")?;
        let fe_path = read_text(xs, &format!("{be_path}/frontend"))?;
        let expected = format!("/local/domain/{}/device/vif/{}", key.frontend, key.devid);
        if frontend_id != u32::from(key.frontend) || fe_path != expected {
            return Err(bad_value("frontend", fe_path));
        }
        let (mac, mtu, rate) = match Self::toolstack_keys(xs, &be_path) {
            Ok(k) => k,
            Err(e @ BackendError::BadValue { .. }) => {
                // As `fail` does for a frontend's keys: say why, and close.
                refuse(xs, &be_path, &format!("{e}"))?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        xs.transaction(|tx| {
            for (k, v) in offered.kv() {
                tx.write(&format!("{be_path}/{k}"), v)?;
            }
            Ok(())
        })?;
        xenbus::switch_backend_state(xs, &be_path, XenbusState::InitWait)?;
        Ok(Self {
            key,
            be_path,
            fe_path,
            mac,
            mtu,
            rate,
            connected: false,
        })
    }

    /// The keys libxl wrote for the device: `mac`, `mtu` (1500 when
    /// absent) and `rate` (`<bytes>,<usecs>`, Linux `xen_net_read_rate`;
    /// absent: unlimited), each parsed strictly.
    fn toolstack_keys<I: StoreIo, M: SharedPage>(
        xs: &mut Xenstore<I, M>,
        be_path: &str,
    ) -> Result<([u8; 6], u16, Option<TxRate>), BackendError> {
        let mac_text = read_text(xs, &format!("{be_path}/mac"))?;
        let mac = parse_mac(&mac_text).ok_or_else(|| bad_value("mac", mac_text))?;
        let mtu = match read_opt(xs, &format!("{be_path}/mtu"))? {
            None => 1500,
            Some(v) => parse_decimal(&v)
                .filter(|m| (68..=65535).contains(m))
                .ok_or_else(|| bad_value("mtu", v))? as u16,
        };
        let rate = match read_opt(xs, &format!("{be_path}/rate"))? {
            None => None,
            Some(v) => Some(TxRate::parse(&v).ok_or_else(|| bad_value("rate", v))?),
        };
        Ok((mac, mtu, rate))
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Looks at both ends' state and says what to do next. Call it on any
    /// watch event under our backend directory or the frontend's.
    pub fn step<I: StoreIo, M: SharedPage>(
        &mut self,
        xs: &mut Xenstore<I, M>,
    ) -> Result<Step, BackendError> {
        let ours = xenbus::read_state(xs, &self.be_path)?;
        let online = read_opt(xs, &format!("{}/online", self.be_path))?;
        let Some(ours) = ours else {
            // The toolstack removed our directory under us.
            return Ok(if self.connected {
                Step::Disconnect(Why::DirectoryGone)
            } else {
                Step::Removed
            });
        };
        // libxl leaves a backend that is already Closed at 6 and writes only
        // `online=0` (libxl_device.c): removal starts from Closed too.
        let removing = online.as_deref() != Some("1")
            && matches!(ours, XenbusState::Closing | XenbusState::Closed);
        let fe = match frontend_state(xs, &self.fe_path) {
            Err(BackendError::Xenbus(XenbusError::BadState(_))) if !removing => {
                return self.invalid_frontend_state(xs, ours);
            }
            // A removal goes on whatever the frontend wrote.
            Err(BackendError::Xenbus(XenbusError::BadState(_))) => None,
            r => r?,
        };
        if removing || matches!(fe, None | Some(XenbusState::Closing | XenbusState::Closed)) {
            if self.connected {
                return Ok(Step::Disconnect(if removing {
                    Why::Removal
                } else if fe.is_none() {
                    Why::FrontendGone
                } else {
                    Why::FrontendClosed
                }));
            }
            return self.close(xs, removing);
        }
        match fe {
            Some(XenbusState::Connected | XenbusState::Initialised) if !self.connected => {
                if ours == XenbusState::Closed {
                    return Ok(Step::Nothing);
                }
                match self.read_rings(xs) {
                    Ok(rings) => Ok(Step::Connect(rings)),
                    Err(e) if e.is_refusal() => {
                        self.fail(xs, &format!("{e}"))?;
                        Err(e)
                    }
                    Err(e) => Err(e),
                }
            }
            Some(XenbusState::Initialising) if ours == XenbusState::Closed => {
                // netfront came back (module reload, kexec): be ready again.
                match xs.rm(&format!("{}/error", self.be_path)) {
                    Ok(()) | Err(XsError::Xenstored(Errno::ENOENT)) => {}
                    Err(e) => return Err(e.into()),
                }
                xenbus::switch_backend_state(xs, &self.be_path, XenbusState::InitWait)?;
                Ok(Step::Nothing)
            }
            _ => Ok(Step::Nothing),
        }
    }

    /// The frontend's `state` is not a state of `io/xenbus.h` (Linux reads
    /// such text as `XenbusStateUnknown` and closes): a connected vif is
    /// disconnected; otherwise the backend closes with an `error` node, as
    /// for any unusable frontend key, until the frontend re-initialises.
    fn invalid_frontend_state<I: StoreIo, M: SharedPage>(
        &mut self,
        xs: &mut Xenstore<I, M>,
        ours: XenbusState,
    ) -> Result<Step, BackendError> {
        if self.connected {
            return Ok(Step::Disconnect(Why::FrontendInvalid));
        }
        if ours == XenbusState::Closed {
            return Ok(Step::Nothing);
        }
        let value = read_opt(xs, &format!("{}/state", self.fe_path))?.unwrap_or_default();
        let e = bad_value("state", value);
        self.fail(xs, &format!("{e}"))?;
        Err(e)
    }

    fn read_rings<I: StoreIo, M: SharedPage>(
        &self,
        xs: &mut Xenstore<I, M>,
    ) -> Result<FrontendRings, BackendError> {
        let fe = &self.fe_path;
        if read_opt(xs, &format!("{fe}/request-rx-copy"))?.as_deref() != Some("1") {
            return Err(BackendError::NoRxCopy);
        }
        // We offer no `multi-queue-max-queues`: one queue, its keys at the
        // top level. A frontend asking for another count (0 included: Linux
        // netback once trusted it, a guest-triggered DoS) is refused, as
        // Linux's `connect()` refuses more than it offered.
        if let Some(n) = read_opt(xs, &format!("{fe}/multi-queue-num-queues"))? {
            if n != "1" {
                return Err(bad_value("multi-queue-num-queues", n));
            }
        }
        Ok(FrontendRings {
            tx_ring_ref: read_required_num(xs, &format!("{fe}/tx-ring-ref"), "tx-ring-ref")?,
            rx_ring_ref: read_required_num(xs, &format!("{fe}/rx-ring-ref"), "rx-ring-ref")?,
            event_channel: read_required_num(xs, &format!("{fe}/event-channel"), "event-channel")?,
        })
    }

    /// Reads one of the frontend's keys (for its feature flags).
    pub fn frontend_key<I: StoreIo, M: SharedPage>(
        &self,
        xs: &mut Xenstore<I, M>,
        key: &str,
    ) -> Option<String> {
        read_opt(xs, &format!("{}/{key}", self.fe_path))
            .ok()
            .flatten()
    }

    /// The rings are mapped and the event channel bound: tell netfront.
    pub fn connected<I: StoreIo, M: SharedPage>(
        &mut self,
        xs: &mut Xenstore<I, M>,
    ) -> Result<(), BackendError> {
        self.connected = true;
        xenbus::switch_backend_state(xs, &self.be_path, XenbusState::Connected)?;
        Ok(())
    }

    /// I/O has stopped: finish the close.
    pub fn disconnected<I: StoreIo, M: SharedPage>(
        &mut self,
        xs: &mut Xenstore<I, M>,
    ) -> Result<Step, BackendError> {
        self.connected = false;
        let online = read_opt(xs, &format!("{}/online", self.be_path))?;
        let ours = xenbus::read_state(xs, &self.be_path)?;
        match ours {
            None => Ok(Step::Removed),
            Some(_) => self.close(xs, online.as_deref() != Some("1")),
        }
    }

    /// The frontend cannot be served (a bad key, a ring we cannot map): says
    /// why in `<backend>/error` and closes, as Linux's `xenbus_dev_fatal`
    /// does. A frontend that re-initialises gets another try.
    pub fn fail<I: StoreIo, M: SharedPage>(
        &mut self,
        xs: &mut Xenstore<I, M>,
        why: &str,
    ) -> Result<(), BackendError> {
        let why = shorten(why.into(), MAX_ERROR_NODE);
        xs.write(&format!("{}/error", self.be_path), &why)?;
        self.close(xs, false).map(|_| ())
    }

    /// Closing → Closed; when the toolstack is removing the device, the
    /// caller removes our directory after [`REMOVE_GRACE_NS`].
    fn close<I: StoreIo, M: SharedPage>(
        &mut self,
        xs: &mut Xenstore<I, M>,
        remove: bool,
    ) -> Result<Step, BackendError> {
        for s in [XenbusState::Closing, XenbusState::Closed] {
            match xenbus::switch_backend_state(xs, &self.be_path, s) {
                Ok(()) | Err(XenbusError::Gone) => {}
                Err(XenbusError::IllegalTransition { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(if remove {
            Step::RemoveLater
        } else {
            Step::Nothing
        })
    }

    /// Removes our directory, the driver domain's last step of a toolstack
    /// removal (libxl then cleans the frontend's side).
    pub fn remove<I: StoreIo, M: SharedPage>(
        &mut self,
        xs: &mut Xenstore<I, M>,
    ) -> Result<Step, BackendError> {
        match xs.rm(&self.be_path) {
            Ok(()) | Err(XsError::Xenstored(Errno::ENOENT)) => Ok(Step::Removed),
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes a counter under the backend directory (`statistics/<name>`).
    pub fn publish<I: StoreIo, M: SharedPage>(
        &self,
        xs: &mut Xenstore<I, M>,
        name: &str,
        value: u64,
    ) -> Result<(), XsError> {
        xs.write(
            &format!("{}/statistics/{name}", self.be_path),
            &format!("{value}"),
        )
    }
}

/// A device whose toolstack keys are unusable: `<backend>/error` says why
/// and the backend goes Initialising -> Closing -> Closed, so libxl sees a
/// failed device rather than one that never answers.
fn refuse<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    be_path: &str,
    why: &str,
) -> Result<(), BackendError> {
    xs.write(&format!("{be_path}/error"), why)?;
    for s in [XenbusState::Closing, XenbusState::Closed] {
        match xenbus::switch_backend_state(xs, be_path, s) {
            Ok(()) | Err(XenbusError::Gone | XenbusError::IllegalTransition { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The frontend's state, `None` once its device directory is gone. When the
/// whole frontend domain is gone xenstored answers EACCES rather than ENOENT
/// (we may not read `/local/domain`, the nearest surviving ancestor).
fn frontend_state<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    fe_path: &str,
) -> Result<Option<XenbusState>, BackendError> {
    match xenbus::read_state(xs, fe_path) {
        Ok(s) => Ok(s),
        Err(XenbusError::Xs(XsError::Xenstored(Errno::EACCES))) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every (frontend, devid) libxl has put under our `backend/vif`.
pub fn scan<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
) -> Result<alloc::vec::Vec<VifKey>, XsError> {
    let mut keys = alloc::vec::Vec::new();
    let fes = match xs.directory("backend/vif") {
        Ok(d) => d,
        Err(XsError::Xenstored(Errno::ENOENT)) => return Ok(keys),
        Err(e) => return Err(e),
    };
    for fe in fes {
        let Some(fe_id) = parse_decimal(&fe).and_then(|v| DomId::try_from(v).ok()) else {
            continue;
        };
        let Ok(devs) = xs.directory(&format!("backend/vif/{fe}")) else {
            continue;
        };
        for dev in devs {
            if let Some(devid) = parse_decimal(&dev) {
                keys.push(VifKey {
                    frontend: fe_id,
                    devid,
                });
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests;
