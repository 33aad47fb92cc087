//! The vifs this Spike serves, keyed by (frontend domid, devid): the xenbus
//! handshake of each (spike_domain::xenbus_backend), the netback core that
//! drives its rings (spike_domain::netback), and what a connected one holds
//! (mapped rings, bound event channel, local page pools).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use pv_runtime::abi::grant_table::Copy as GrantCopy;
use pv_runtime::abi::Port;
use pv_runtime::event::PortSet;
use pv_runtime::grant_table::{self, Mapping};
use pv_runtime::mm::heap::{alloc_page, free_page};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use spike_domain::netback::{
    BackendFeatures, CopyFailed, FrontendFeatures, GrantCopier, LocalPages, RawPage, RxFrame,
    TxFrame, Vif, VifConfig,
};
use spike_domain::xenbus_backend::{scan, BackendError, FrontendRings, Step, VifBackend, VifKey};

/// Pages for TX copies: a full TX budget of plain frames, or eight 64 KiB GSO
/// super-frames (TSO is offered: the guest sends those rather than 1500-byte
/// segments, and the wire carries them whole with their GSO metadata).
const TX_POOL_PAGES: usize = 128;
/// Pages holding frames that wait for the guest's rx buffers.
const RX_POOL_PAGES: usize = 256;
/// Passes per wake-up before yielding to other work.
const PASSES: usize = 8;

/// Grant copies by hypercall.
pub struct Hypervisor;

impl GrantCopier for Hypervisor {
    fn copy(&mut self, ops: &mut [GrantCopy]) -> Result<(), CopyFailed> {
        grant_table::copy(ops).map_err(|_| CopyFailed)
    }
}

/// Local pages for a pool, freed when the connection goes.
struct Pool {
    vas: Vec<u64>,
}

impl Pool {
    fn alloc(n: usize) -> Option<(Pool, LocalPages)> {
        let mut pool = Pool {
            vas: Vec::with_capacity(n),
        };
        let mut pages = Vec::with_capacity(n);
        for _ in 0..n {
            let (va, mfn) = alloc_page().ok()?;
            pool.vas.push(va);
            pages.push((va as *mut u8, mfn));
        }
        // SAFETY: fresh direct-mapped pages of ours, each used only by this pool
        // until `Pool` frees them after the `LocalPages` view is dropped.
        let view = unsafe { LocalPages::from_raw(pages) }?;
        Some((pool, view))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for va in self.vas.drain(..) {
            let _ = free_page(va);
        }
    }
}

/// What a connected vif holds; released in [`release`].
struct Connection {
    vif: Vif<RawPage>,
    tx_pool: LocalPages,
    // Dropped after the views above (field order): frees the pages.
    _pages: (Pool, Pool),
    tx: Mapping,
    rx: Mapping,
    port: Port,
}

struct Entry {
    backend: VifBackend,
    conn: Option<Connection>,
    /// Counter values last written to xenstore.
    published: BTreeMap<&'static str, u64>,
}

pub struct Vifs {
    vifs: BTreeMap<VifKey, Entry>,
    offered: BackendFeatures,
}

impl Vifs {
    pub fn new() -> Self {
        Self {
            vifs: BTreeMap::new(),
            offered: BackendFeatures {
                gso_tcpv4: true,
                gso_tcpv6: true,
                ..BackendFeatures::default()
            },
        }
    }

    /// The MAC the Spike announces on its wire: its (first) guest's.
    pub fn mac(&self) -> Option<[u8; 6]> {
        self.vifs.values().next().map(|e| e.backend.mac)
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
                    match VifBackend::probe(&mut rt.xs, key, &self.offered) {
                        Ok(backend) => {
                            println!(
                                "SPIKE-VIF-PROBED fe={} dev={} state=InitWait",
                                key.frontend, key.devid
                            );
                            let _ = rt
                                .xs
                                .watch(&format!("{}/state", backend.fe_path), &token(key));
                            self.vifs.insert(
                                key,
                                Entry {
                                    backend,
                                    conn: None,
                                    published: BTreeMap::new(),
                                },
                            );
                        }
                        Err(e) => println!(
                            "SPIKE-VIF-ERROR fe={} dev={}: probe: {e}",
                            key.frontend, key.devid
                        ),
                    }
                }
            }
            Err(e) => println!("SPIKE: cannot list backend/vif: {e}"),
        }
        let keys: Vec<VifKey> = self.vifs.keys().copied().collect();
        for key in keys {
            self.step(rt, key);
        }
    }

    fn step(&mut self, rt: &mut Runtime, key: VifKey) {
        let Some(e) = self.vifs.get_mut(&key) else {
            return;
        };
        let mut step = e.backend.step(&mut rt.xs);
        // Disconnect completes in the same pass, so the toolstack never waits on us.
        if let Ok(Step::Disconnect) = step {
            release(rt, e);
            step = e.backend.disconnected(&mut rt.xs);
            println!(
                "SPIKE-VIF-DISCONNECTED fe={} dev={}",
                key.frontend, key.devid
            );
        }
        match step {
            Ok(Step::Connect(rings)) => match connect(rt, e, &rings, self.offered) {
                Ok(()) => println!(
                    "SPIKE-VIF-CONNECTED fe={} dev={} tx-ref={} rx-ref={} evtchn={}",
                    key.frontend,
                    key.devid,
                    rings.tx_ring_ref,
                    rings.rx_ring_ref,
                    rings.event_channel
                ),
                Err(err) => println!(
                    "SPIKE-VIF-ERROR fe={} dev={}: connect: {err}",
                    key.frontend, key.devid
                ),
            },
            Ok(Step::Removed) => {
                let _ = rt
                    .xs
                    .unwatch(&format!("{}/state", e.backend.fe_path), &token(key));
                self.vifs.remove(&key);
                let _ = rt
                    .xs
                    .rm(&format!("data/banana/vif/{}/{}", key.frontend, key.devid));
                println!("SPIKE-VIF-REMOVED fe={} dev={}", key.frontend, key.devid);
            }
            Ok(Step::Nothing | Step::Disconnect) => {}
            Err(err) => println!(
                "SPIKE-VIF-ERROR fe={} dev={}: {err}",
                key.frontend, key.devid
            ),
        }
    }

    /// Runs TX passes for the vifs whose port fired (or all, with `all`),
    /// handing their frames to `sink`, and flushes their rx queues.
    pub fn service(
        &mut self,
        rt: &mut Runtime,
        fired: &PortSet,
        all: bool,
        sink: &mut impl FnMut(&mut Runtime, TxFrame<'_>) -> bool,
    ) {
        let mut fatal = Vec::new();
        for (key, e) in self.vifs.iter_mut() {
            let Some(c) = e.conn.as_mut() else { continue };
            if !all && !fired.contains(c.port) {
                continue;
            }
            let mut ok = true;
            for _ in 0..PASSES {
                let mut to_sink = |f: TxFrame<'_>| sink(rt, f);
                match c
                    .vif
                    .process_tx(&mut Hypervisor, &mut c.tx_pool, &mut to_sink)
                {
                    Ok(pass) => {
                        if pass.notify {
                            let _ = rt.events.notify(c.port);
                        }
                        if !pass.more && !c.vif.tx_final_check() {
                            break;
                        }
                    }
                    Err(err) => {
                        println!(
                            "SPIKE-VIF-FATAL fe={} dev={}: {err}",
                            key.frontend, key.devid
                        );
                        ok = false;
                        break;
                    }
                }
            }
            if ok && !flush_rx(rt, c) {
                ok = false;
            }
            if !ok {
                fatal.push(*key);
            }
        }
        for key in fatal {
            self.disconnect_hostile(rt, key);
        }
    }

    /// Queues a frame from the wire for each vif it is addressed to.
    pub fn queue_rx(&mut self, frame: RxFrame<'_>) {
        let dst: [u8; 6] = match frame.data.get(..6).and_then(|d| d.try_into().ok()) {
            Some(d) => d,
            None => return,
        };
        let group = dst[0] & 1 != 0;
        for e in self.vifs.values_mut() {
            if let Some(c) = e.conn.as_mut() {
                if group || dst == e.backend.mac {
                    let _ = c.vif.queue_rx(frame);
                }
            }
        }
    }

    /// Delivers queued rx frames to every connected vif.
    pub fn flush_all_rx(&mut self, rt: &mut Runtime) {
        let mut fatal = Vec::new();
        for (key, e) in self.vifs.iter_mut() {
            if let Some(c) = e.conn.as_mut() {
                if c.vif.rx_queued() > 0 && !flush_rx(rt, c) {
                    fatal.push(*key);
                }
            }
        }
        for key in fatal {
            self.disconnect_hostile(rt, key);
        }
    }

    /// A frontend broke the ring protocol: its vif is disconnected (Closing →
    /// Closed) and the Spike carries on with the others (XEN-FACTS checklist 8).
    fn disconnect_hostile(&mut self, rt: &mut Runtime, key: VifKey) {
        if let Some(e) = self.vifs.get_mut(&key) {
            release(rt, e);
            let _ = e.backend.disconnected(&mut rt.xs);
            println!(
                "SPIKE-VIF-DISCONNECTED fe={} dev={} (frontend misbehaved)",
                key.frontend, key.devid
            );
        }
    }

    /// Writes changed counters under `data/banana/vif/<fe>/<dev>/`.
    pub fn publish(&mut self, rt: &mut Runtime) {
        for (key, e) in self.vifs.iter_mut() {
            let Some(c) = e.conn.as_ref() else { continue };
            for (name, value) in c.vif.counters().iter() {
                if e.published.get(name) != Some(&value) {
                    let path = format!("data/banana/vif/{}/{}/{name}", key.frontend, key.devid);
                    if rt.xs.write(&path, &format!("{value}")).is_ok() {
                        e.published.insert(name, value);
                    }
                }
            }
        }
    }

    /// Releases every vif before the domain goes away.
    pub fn shutdown(&mut self, rt: &mut Runtime) {
        for e in self.vifs.values_mut() {
            release(rt, e);
        }
    }
}

/// One RX flush pass set; false if the vif went fatal.
fn flush_rx(rt: &mut Runtime, c: &mut Connection) -> bool {
    for _ in 0..PASSES {
        match c.vif.flush_rx(&mut Hypervisor) {
            Ok(pass) => {
                if pass.notify {
                    let _ = rt.events.notify(c.port);
                }
                if !pass.more {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

fn token(key: VifKey) -> String {
    format!("spike/frontend/{}/{}", key.frontend, key.devid)
}

fn bad(key: &'static str, value: String) -> BackendError {
    BackendError::BadValue { key, value }
}

fn connect(
    rt: &mut Runtime,
    e: &mut Entry,
    rings: &FrontendRings,
    offered: BackendFeatures,
) -> Result<(), BackendError> {
    let fe = e.backend.key.frontend;
    let features = {
        let xs = core::cell::RefCell::new(&mut rt.xs);
        FrontendFeatures::from_kv(|k| e.backend.frontend_key(&mut **xs.borrow_mut(), k))
    };
    if !features.rx_copy {
        return Err(BackendError::NoRxCopy);
    }
    let (tx_pages, tx_pool) =
        Pool::alloc(TX_POOL_PAGES).ok_or_else(|| bad("memory", "tx pool".into()))?;
    let (rx_pages, rx_pool) =
        Pool::alloc(RX_POOL_PAGES).ok_or_else(|| bad("memory", "rx pool".into()))?;
    let map =
        |r| grant_table::map(fe, r, false).map_err(|err| bad("ring-ref", format!("{r}: {err}")));
    let tx = map(rings.tx_ring_ref)?;
    let rx = match map(rings.rx_ring_ref) {
        Ok(rx) => rx,
        Err(err) => {
            let _ = grant_table::unmap(tx);
            return Err(err);
        }
    };
    let mut cfg = VifConfig::new(fe, e.backend.key.devid, e.backend.mac, features);
    cfg.mtu = e.backend.mtu;
    cfg.offered = offered;
    // SAFETY: both ring pages are mapped read-write at these addresses until
    // `release` unmaps them, after the Vif that views them is dropped.
    let pages = unsafe {
        (
            RawPage::new(tx.va as *mut u8),
            RawPage::new(rx.va as *mut u8),
        )
    };
    let vif = match pages {
        (Some(t), Some(r)) => {
            Vif::new(cfg, t, r, rx_pool).map_err(|err| bad("ring", format!("{err}")))
        }
        _ => Err(bad("ring", "unmapped".into())),
    };
    let port = vif.and_then(|vif| {
        rt.events
            .bind_interdomain(fe, rings.event_channel)
            .map(|port| (vif, port))
            .map_err(|err| bad("event-channel", format!("{}: {err}", rings.event_channel)))
    });
    let (vif, port) = match port {
        Ok(v) => v,
        Err(err) => {
            let _ = grant_table::unmap(tx);
            let _ = grant_table::unmap(rx);
            return Err(err);
        }
    };
    e.conn = Some(Connection {
        vif,
        tx_pool,
        _pages: (tx_pages, rx_pages),
        tx,
        rx,
        port,
    });
    e.backend.connected(&mut rt.xs)
}

/// Unmaps the rings promptly: a domain whose pages we still map cannot die.
fn release(rt: &mut Runtime, e: &mut Entry) {
    if let Some(c) = e.conn.take() {
        let Connection {
            vif,
            tx_pool,
            _pages,
            tx,
            rx,
            port,
        } = c;
        let _ = rt.events.close(port);
        drop(vif);
        drop(tx_pool);
        let _ = grant_table::unmap(tx);
        let _ = grant_table::unmap(rx);
    }
}
