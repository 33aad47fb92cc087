//! The vifs this Spike serves, keyed by (frontend domid, devid): the xenbus
//! handshake of each (spike_domain::xenbus_backend) and the resources a
//! connected one holds (mapped rings, bound event channel).

use alloc::collections::BTreeMap;
use alloc::format;

use pv_runtime::abi::Port;
use pv_runtime::event::PortSet;
use pv_runtime::grant_table::{self, Mapping};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use spike_domain::xenbus_backend::{scan, BackendError, FrontendRings, Step, VifBackend, VifKey};

/// What a connected vif holds; released in [`Vifs::disconnect`].
struct Connection {
    tx: Mapping,
    rx: Mapping,
    port: Port,
}

struct Vif {
    backend: VifBackend,
    conn: Option<Connection>,
}

pub struct Vifs {
    vifs: BTreeMap<VifKey, Vif>,
}

impl Vifs {
    pub fn new() -> Self {
        Self { vifs: BTreeMap::new() }
    }

    /// Brings every vif in line with xenstore: probes new ones, steps the
    /// handshake of the others, forgets removed ones.
    pub fn reconcile(&mut self, rt: &mut Runtime) {
        match scan(&mut rt.xs) {
            Ok(keys) => {
                for key in keys {
                    if self.vifs.contains_key(&key) {
                        continue;
                    }
                    match VifBackend::probe(&mut rt.xs, key) {
                        Ok(backend) => {
                            println!("SPIKE-VIF-PROBED fe={} dev={} state=InitWait", key.frontend, key.devid);
                            let path = format!("{}/state", backend.fe_path);
                            let _ = rt.xs.watch(&path, &token(key));
                            self.vifs.insert(key, Vif { backend, conn: None });
                        }
                        Err(e) => println!("SPIKE-VIF-ERROR fe={} dev={}: probe: {e}", key.frontend, key.devid),
                    }
                }
            }
            Err(e) => println!("SPIKE: cannot list backend/vif: {e}"),
        }
        let keys: alloc::vec::Vec<VifKey> = self.vifs.keys().copied().collect();
        for key in keys {
            self.step(rt, key);
        }
    }

    fn step(&mut self, rt: &mut Runtime, key: VifKey) {
        let Some(vif) = self.vifs.get_mut(&key) else { return };
        let mut step = vif.backend.step(&mut rt.xs);
        // Disconnect completes in the same pass, so the toolstack never waits on us.
        if let Ok(Step::Disconnect) = step {
            release(rt, vif);
            step = vif.backend.disconnected(&mut rt.xs);
            println!("SPIKE-VIF-DISCONNECTED fe={} dev={}", key.frontend, key.devid);
        }
        match step {
            Ok(Step::Connect(rings)) => match connect(rt, vif, &rings) {
                Ok(()) => println!(
                    "SPIKE-VIF-CONNECTED fe={} dev={} tx-ref={} rx-ref={} evtchn={}",
                    key.frontend, key.devid, rings.tx_ring_ref, rings.rx_ring_ref, rings.event_channel
                ),
                Err(e) => println!("SPIKE-VIF-ERROR fe={} dev={}: connect: {e}", key.frontend, key.devid),
            },
            Ok(Step::Removed) => {
                let path = format!("{}/state", vif.backend.fe_path);
                let _ = rt.xs.unwatch(&path, &token(key));
                self.vifs.remove(&key);
                println!("SPIKE-VIF-REMOVED fe={} dev={}", key.frontend, key.devid);
            }
            Ok(Step::Nothing | Step::Disconnect) => {}
            Err(e) => println!("SPIKE-VIF-ERROR fe={} dev={}: {e}", key.frontend, key.devid),
        }
    }

    pub fn on_ports(&mut self, _rt: &mut Runtime, ports: &PortSet) {
        for vif in self.vifs.values() {
            if let Some(c) = &vif.conn {
                if ports.contains(c.port) {
                    // The data path (TX/RX by grant copy) is driven from here.
                }
            }
        }
    }

    /// Releases every vif before the domain goes away.
    pub fn shutdown(&mut self, rt: &mut Runtime) {
        for vif in self.vifs.values_mut() {
            release(rt, vif);
        }
    }
}

fn token(key: VifKey) -> alloc::string::String {
    format!("spike/frontend/{}/{}", key.frontend, key.devid)
}

fn connect(rt: &mut Runtime, vif: &mut Vif, rings: &FrontendRings) -> Result<(), BackendError> {
    let fe = vif.backend.key.frontend;
    let map = |r| grant_table::map(fe, r, false).map_err(|e| BackendError::BadValue { key: "ring-ref", value: format!("{r}: {e}") });
    let tx = map(rings.tx_ring_ref)?;
    let rx = match map(rings.rx_ring_ref) {
        Ok(rx) => rx,
        Err(e) => {
            let _ = grant_table::unmap(tx);
            return Err(e);
        }
    };
    let port = match rt.events.bind_interdomain(fe, rings.event_channel) {
        Ok(p) => p,
        Err(e) => {
            let _ = grant_table::unmap(tx);
            let _ = grant_table::unmap(rx);
            return Err(BackendError::BadValue { key: "event-channel", value: format!("{}: {e}", rings.event_channel) });
        }
    };
    vif.conn = Some(Connection { tx, rx, port });
    vif.backend.connected(&mut rt.xs)
}

/// Unmaps the rings promptly: a domain whose pages we still map cannot die.
fn release(rt: &mut Runtime, vif: &mut Vif) {
    if let Some(c) = vif.conn.take() {
        let _ = rt.events.close(c.port);
        let _ = grant_table::unmap(c.tx);
        let _ = grant_table::unmap(c.rx);
    }
}
