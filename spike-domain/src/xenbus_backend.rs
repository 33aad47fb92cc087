//! The xenbus side of one vif, as the backend domain sees it (XEN-FACTS.md
//! "Netback handshake"; Linux drivers/net/xen-netback/xenbus.c for the
//! reference behaviour; io/netif.h for the keys).
//!
//! libxl writes `/local/domain/<us>/backend/vif/<fe>/<dev>/` and the
//! frontend's `device/vif/<dev>/`, then waits only for our `state == 2`
//! (InitWait). We publish features, go to InitWait, wait for netfront to
//! publish its rings and reach Connected, map them (the caller does), and go
//! Connected. Teardown: a frontend going Closing/Closed or vanishing, or the
//! toolstack writing `online=0` + `state=5`, ends with `state=6` and, when the
//! toolstack asked for removal, our backend directory removed.
//!
//! Everything the other side wrote is hostile text: parsed strictly, bounded.

use alloc::format;
use alloc::string::String;

use pv_runtime::abi::{DomId, GrantRef, Port};

use crate::netback::BackendFeatures;
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
}

/// What the caller must do after [`VifBackend::step`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Map the rings, bind the event channel, then call [`VifBackend::connected`].
    Connect(FrontendRings),
    /// Stop I/O: unmap the rings and close the event channel, then call [`VifBackend::disconnected`].
    Disconnect,
    /// The device is gone for good (directory removed): forget it.
    Removed,
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
    connected: bool,
}

pub use pv_runtime::xenstore::parse_decimal;

/// `aa:bb:cc:dd:ee:ff`, hex digits only, exactly six octets.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for octet in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *octet = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn read_opt<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    path: &str,
) -> Result<Option<String>, XsError> {
    match xs.read(path) {
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
    let v = xs.read(path)?;
    parse_decimal(&v).ok_or(BackendError::BadValue { key, value: v })
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
        let fe_path = xs.read(&format!("{be_path}/frontend"))?;
        let expected = format!("/local/domain/{}/device/vif/{}", key.frontend, key.devid);
        if frontend_id != u32::from(key.frontend) || fe_path != expected {
            return Err(BackendError::BadValue {
                key: "frontend",
                value: fe_path,
            });
        }
        let mac_text = xs.read(&format!("{be_path}/mac"))?;
        let mac = parse_mac(&mac_text).ok_or(BackendError::BadValue {
            key: "mac",
            value: mac_text,
        })?;
        let mtu = match read_opt(xs, &format!("{be_path}/mtu"))? {
            None => 1500,
            Some(v) => parse_decimal(&v)
                .filter(|m| (68..=65535).contains(m))
                .ok_or(BackendError::BadValue {
                    key: "mtu",
                    value: v,
                })? as u16,
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
            connected: false,
        })
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
                Step::Disconnect
            } else {
                Step::Removed
            });
        };
        let removing = online.as_deref() != Some("1") && ours == XenbusState::Closing;
        let fe = frontend_state(xs, &self.fe_path)?;
        if removing || matches!(fe, None | Some(XenbusState::Closing | XenbusState::Closed)) {
            if self.connected {
                return Ok(Step::Disconnect);
            }
            return self.close(xs, removing);
        }
        match fe {
            Some(XenbusState::Connected | XenbusState::Initialised) if !self.connected => {
                if ours == XenbusState::Closed {
                    return Ok(Step::Nothing);
                }
                self.read_rings(xs).map(Step::Connect)
            }
            Some(XenbusState::Initialising) if ours == XenbusState::Closed => {
                // netfront came back (module reload, kexec): be ready again.
                xenbus::switch_backend_state(xs, &self.be_path, XenbusState::InitWait)?;
                Ok(Step::Nothing)
            }
            _ => Ok(Step::Nothing),
        }
    }

    fn read_rings<I: StoreIo, M: SharedPage>(
        &self,
        xs: &mut Xenstore<I, M>,
    ) -> Result<FrontendRings, BackendError> {
        let fe = &self.fe_path;
        if read_opt(xs, &format!("{fe}/request-rx-copy"))?.as_deref() != Some("1") {
            return Err(BackendError::NoRxCopy);
        }
        Ok(FrontendRings {
            tx_ring_ref: read_num(xs, &format!("{fe}/tx-ring-ref"), "tx-ring-ref")?,
            rx_ring_ref: read_num(xs, &format!("{fe}/rx-ring-ref"), "rx-ring-ref")?,
            event_channel: read_num(xs, &format!("{fe}/event-channel"), "event-channel")?,
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

    /// Closing → Closed; when the toolstack is removing the device, then
    /// removes our directory (libxl waits for both).
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
        if !remove {
            return Ok(Step::Nothing);
        }
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
mod tests {
    use super::*;
    use pv_runtime::xenstore::fake::{FakeIo, FakeXenstored};
    use pv_runtime::xenstore::{HeapPage, StoreRing};

    const BE: &str = "/local/domain/1/backend/vif/7/0";
    const FE: &str = "/local/domain/7/device/vif/0";

    fn client() -> Xenstore<FakeIo, HeapPage> {
        let page = HeapPage::new();
        let server = FakeXenstored::new(page.clone());
        Xenstore::new(
            StoreRing::new(page),
            FakeIo {
                server,
                now: 0,
                notifies: 0,
            },
        )
    }

    fn libxl_creates(xs: &mut Xenstore<FakeIo, HeapPage>) {
        let s = &mut xs.io_mut().server;
        for (k, v) in [
            ("frontend", FE),
            ("frontend-id", "7"),
            ("online", "1"),
            ("state", "1"),
            ("mac", "00:16:3e:00:00:07"),
            ("handle", "0"),
            ("type", "vif"),
        ] {
            s.external_write(&format!("{BE}/{k}"), v.as_bytes());
        }
        for (k, v) in [
            ("backend", "/local/domain/1/backend/vif/7/0"),
            ("backend-id", "1"),
            ("state", "1"),
            ("handle", "0"),
        ] {
            s.external_write(&format!("{FE}/{k}"), v.as_bytes());
        }
    }

    fn netfront_connects(xs: &mut Xenstore<FakeIo, HeapPage>) {
        let s = &mut xs.io_mut().server;
        for (k, v) in [
            ("tx-ring-ref", "8"),
            ("rx-ring-ref", "9"),
            ("event-channel", "11"),
            ("request-rx-copy", "1"),
            ("state", "4"),
        ] {
            s.external_write(&format!("{FE}/{k}"), v.as_bytes());
        }
    }

    fn node(xs: &Xenstore<FakeIo, HeapPage>, p: &str) -> Option<String> {
        xs.io()
            .server
            .node(p)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    const KEY: VifKey = VifKey {
        frontend: 7,
        devid: 0,
    };

    #[test]
    fn full_handshake_and_toolstack_removal() {
        let mut xs = client();
        libxl_creates(&mut xs);
        assert_eq!(scan(&mut xs).unwrap(), [KEY]);
        let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
        assert_eq!(vif.mac, [0, 0x16, 0x3e, 0, 0, 7]);
        assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("2"));
        assert_eq!(
            node(&xs, &format!("{BE}/feature-rx-copy")).as_deref(),
            Some("1")
        );
        assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
        netfront_connects(&mut xs);
        let rings = FrontendRings {
            tx_ring_ref: 8,
            rx_ring_ref: 9,
            event_channel: 11,
        };
        assert_eq!(vif.step(&mut xs).unwrap(), Step::Connect(rings));
        vif.connected(&mut xs).unwrap();
        assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("4"));
        assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
        // xl network-detach / destroy: online=0, state=5
        xs.io_mut()
            .server
            .external_write(&format!("{BE}/online"), b"0");
        xs.io_mut()
            .server
            .external_write(&format!("{BE}/state"), b"5");
        assert_eq!(vif.step(&mut xs).unwrap(), Step::Disconnect);
        assert_eq!(vif.disconnected(&mut xs).unwrap(), Step::Removed);
        assert_eq!(
            node(&xs, &format!("{BE}/state")),
            None,
            "backend dir removed"
        );
    }

    #[test]
    fn frontend_close_and_reconnect_keeps_the_device() {
        let mut xs = client();
        libxl_creates(&mut xs);
        let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
        netfront_connects(&mut xs);
        assert!(matches!(vif.step(&mut xs).unwrap(), Step::Connect(_)));
        vif.connected(&mut xs).unwrap();
        xs.io_mut()
            .server
            .external_write(&format!("{FE}/state"), b"5");
        assert_eq!(vif.step(&mut xs).unwrap(), Step::Disconnect);
        assert_eq!(vif.disconnected(&mut xs).unwrap(), Step::Nothing);
        assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
        xs.io_mut()
            .server
            .external_write(&format!("{FE}/state"), b"1");
        assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
        assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("2"));
        xs.io_mut()
            .server
            .external_write(&format!("{FE}/state"), b"4");
        assert!(matches!(vif.step(&mut xs).unwrap(), Step::Connect(_)));
    }

    #[test]
    fn frontend_vanishing_disconnects() {
        let mut xs = client();
        libxl_creates(&mut xs);
        let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
        netfront_connects(&mut xs);
        assert!(matches!(vif.step(&mut xs).unwrap(), Step::Connect(_)));
        vif.connected(&mut xs).unwrap();
        xs.io_mut().server.external_rm(FE);
        assert_eq!(vif.step(&mut xs).unwrap(), Step::Disconnect);
    }

    #[test]
    fn dead_frontend_domain_reads_as_gone_not_error() {
        let mut xs = client();
        libxl_creates(&mut xs);
        let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
        // libxl removes the whole frontend domain; we may not read /local/domain.
        xs.io_mut().server.external_write("/local/domain", b"");
        xs.io_mut().server.unreadable.push("/local/domain".into());
        xs.io_mut().server.external_rm("/local/domain/7");
        xs.io_mut()
            .server
            .external_write(&format!("{BE}/online"), b"0");
        xs.io_mut()
            .server
            .external_write(&format!("{BE}/state"), b"5");
        assert_eq!(vif.step(&mut xs).unwrap(), Step::Removed);
        assert_eq!(node(&xs, &format!("{BE}/state")), None);
    }

    #[test]
    fn hostile_values_are_refused() {
        let mut xs = client();
        libxl_creates(&mut xs);
        xs.io_mut()
            .server
            .external_write(&format!("{BE}/mac"), b"00:16:3e:00:00:7");
        assert!(matches!(
            VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()),
            Err(BackendError::BadValue { key: "mac", .. })
        ));
        libxl_creates(&mut xs);
        xs.io_mut()
            .server
            .external_write(&format!("{BE}/frontend"), b"/local/domain/0/device/vif/0");
        assert!(matches!(
            VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()),
            Err(BackendError::BadValue {
                key: "frontend",
                ..
            })
        ));
        libxl_creates(&mut xs);
        let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
        netfront_connects(&mut xs);
        xs.io_mut()
            .server
            .external_write(&format!("{FE}/tx-ring-ref"), b"-8");
        assert!(matches!(
            vif.step(&mut xs),
            Err(BackendError::BadValue {
                key: "tx-ring-ref",
                ..
            })
        ));
        xs.io_mut()
            .server
            .external_write(&format!("{FE}/tx-ring-ref"), b"8");
        xs.io_mut()
            .server
            .external_write(&format!("{FE}/request-rx-copy"), b"0");
        assert_eq!(vif.step(&mut xs), Err(BackendError::NoRxCopy));
    }

    #[test]
    fn strict_parsers() {
        assert_eq!(
            parse_mac("00:16:3E:0a:ff:01"),
            Some([0, 0x16, 0x3e, 0x0a, 0xff, 1])
        );
        for bad in [
            "",
            "00:16:3e:00:00",
            "00:16:3e:00:00:07:08",
            "0:16:3e:00:00:07",
            "zz:16:3e:00:00:07",
            "00-16-3e-00-00-07",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert_eq!(parse_decimal("4294967295"), Some(u32::MAX));
        for bad in ["", "+1", "1 ", "4294967296", "0x1"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }
}
