//! The vifs this Spike serves, keyed by (frontend domid, devid): the xenbus
//! handshake of each (spike_domain::xenbus_backend), the netback core that
//! drives its rings (spike_domain::netback), and what a connected one holds
//! (mapped rings, bound event channel, local page pools).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use local_wire::RawMemory;
use pv_runtime::abi::grant_table::Copy as GrantCopy;
use pv_runtime::abi::Port;
use pv_runtime::counter_page::Round;
use pv_runtime::grant_table::{self, Mapping};
use pv_runtime::mm::heap::{alloc_page, free_page};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::time::now_ns;
use spike_domain::counters;
use spike_domain::dataplane::{guest_to_wire, wire_to_guests, Guest, Uplink, Work};
use spike_domain::netback::counters::Counters;
use spike_domain::netback::{
    BackendFeatures, CopyFailed, FrontendFeatures, GrantCopier, LocalPages, RawPage, Vif, VifConfig,
};
use spike_domain::xenbus_backend::{
    scan, BackendError, FrontendRings, Step, VifBackend, VifKey, REMOVE_GRACE_NS,
};

/// Pages for the private copies of TX frames' headers: 16 a page, a full TX
/// budget (the frames themselves go straight into the wire's ring).
const TX_POOL_PAGES: usize = 4;
/// Pages for RX frames whose checksum is completed in software (one each).
const RX_POOL_PAGES: usize = 8;
/// TX passes per guest per wake-up before yielding to other work.
const PASSES: usize = 8;
/// Frames taken from the wire per wake-up before yielding.
const RX_BUDGET: usize = 64;

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
    /// Since when a frame for it waits for rx buffers.
    stalled: Option<u64>,
    // Dropped after the views above (field order): frees the pages.
    _pages: (Pool, Pool),
    tx: Mapping,
    rx: Mapping,
    port: Port,
}

struct Entry {
    backend: VifBackend,
    conn: Option<Connection>,
    /// The counters of the last connection, kept (and published) after
    /// it is released until the backend directory is forgotten.
    last: Option<Counters>,
    /// When to remove the Closed backend directory (toolstack removal).
    remove_at: Option<u64>,
}

pub struct Vifs {
    vifs: BTreeMap<VifKey, Entry>,
    /// Backend directories whose probe failed: not probed again (nor
    /// reported again) while they exist.
    refused: alloc::collections::BTreeSet<VifKey>,
    offered: BackendFeatures,
}

impl Vifs {
    pub fn new() -> Self {
        Self {
            vifs: BTreeMap::new(),
            refused: alloc::collections::BTreeSet::new(),
            offered: BackendFeatures {
                gso_tcpv4: true,
                gso_tcpv6: true,
                ..BackendFeatures::default()
            },
        }
    }

    /// The offloads the Spike offers on its wire: checksum metadata always
    /// (the netback completes checksums for a frontend without offload), TCP
    /// GSO of a kind only if every connected guest takes it, so a frontend
    /// without GSO still gets downloads: the Corm segments for it.
    pub fn wire_features(&self) -> wire_proto::Features {
        use wire_proto::Features;
        let (mut v4, mut v6) = (true, true);
        for c in self.vifs.values().filter_map(|e| e.conn.as_ref()) {
            let f = &c.vif.config().features;
            v4 &= f.gso_tcpv4 && f.sg;
            v6 &= f.gso_tcpv6 && f.sg;
        }
        let mut bits = Features::CSUM.0;
        if v4 {
            bits |= Features::GSO_TCPV4.0;
        }
        if v6 {
            bits |= Features::GSO_TCPV6.0;
        }
        Features(bits)
    }

    /// The MACs the Spike announces on its wire: its guests' (up to four).
    pub fn macs(&self) -> heapless::Vec<[u8; 6], 4> {
        self.vifs.values().map(|e| e.backend.mac).take(4).collect()
    }

    /// Brings every vif in line with xenstore: probes new ones, steps the
    /// handshake of the others, forgets removed ones.
    pub fn reconcile(&mut self, rt: &mut Runtime) {
        match scan(&mut rt.xs) {
            Ok(keys) => {
                // A directory that went away may come back as a new device.
                self.refused.retain(|k| keys.contains(k));
                for key in keys {
                    if self.vifs.contains_key(&key) || self.refused.contains(&key) {
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
                                    last: None,
                                    remove_at: None,
                                },
                            );
                        }
                        Err(e) => {
                            // Once per directory: every later watch event
                            // would repeat it.
                            self.refused.insert(key);
                            println!(
                                "SPIKE-VIF-ERROR fe={} dev={}: probe: {e}",
                                key.frontend, key.devid
                            )
                        }
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
        if let Ok(Step::Disconnect(why)) = step {
            release(rt, e);
            step = e.backend.disconnected(&mut rt.xs);
            println!(
                "SPIKE-VIF-DISCONNECTED fe={} dev={}: {why}",
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
                Err(err) => {
                    println!(
                        "SPIKE-VIF-ERROR fe={} dev={}: connect: {err} (backend closed)",
                        key.frontend, key.devid
                    );
                    // Closed with an error node: no retry on every watch event.
                    let _ = e.backend.fail(&mut rt.xs, &format!("connect: {err}"));
                }
            },
            Ok(Step::RemoveLater) => {
                e.remove_at.get_or_insert(now_ns() + REMOVE_GRACE_NS);
            }
            Ok(Step::Removed) => self.forget(rt, key),
            Ok(Step::Nothing | Step::Disconnect(_)) => {}
            Err(err) => println!(
                "SPIKE-VIF-ERROR fe={} dev={}: {err}",
                key.frontend, key.devid
            ),
        }
    }

    fn forget(&mut self, rt: &mut Runtime, key: VifKey) {
        if let Some(e) = self.vifs.remove(&key) {
            let _ = rt
                .xs
                .unwatch(&format!("{}/state", e.backend.fe_path), &token(key));
        }
        println!("SPIKE-VIF-REMOVED fe={} dev={}", key.frontend, key.devid);
    }

    /// The earliest pending backend-directory removal.
    pub fn next_removal(&self) -> Option<u64> {
        self.vifs.values().filter_map(|e| e.remove_at).min()
    }

    /// Removes the backend directories whose grace has passed
    /// (`xenbus_backend::REMOVE_GRACE_NS`).
    pub fn remove_due(&mut self, rt: &mut Runtime, now: u64) {
        let due: Vec<VifKey> = self
            .vifs
            .iter()
            .filter(|(_, e)| e.remove_at.is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let Some(e) = self.vifs.get_mut(&key) else {
                continue;
            };
            e.remove_at = None;
            match e.backend.remove(&mut rt.xs) {
                Ok(_) => self.forget(rt, key),
                Err(err) => println!(
                    "SPIKE-VIF-ERROR fe={} dev={}: remove: {err}",
                    key.frontend, key.devid
                ),
            }
        }
    }

    /// Moves frames both ways between the wire and every connected guest
    /// (`spike_domain::dataplane`), then kicks who must be kicked and
    /// disconnects a guest that broke the protocol.
    pub fn serve(&mut self, rt: &mut Runtime, up: &mut Uplink<RawMemory>, now: u64) -> Work {
        let mut ports = Vec::new();
        let mut guests: Vec<Guest<'_, RawPage>> = Vec::new();
        for (key, e) in self.vifs.iter_mut() {
            if let Some(c) = e.conn.as_mut() {
                ports.push((*key, c.port));
                guests.push(Guest {
                    vif: &mut c.vif,
                    mac: e.backend.mac,
                    pool: &mut c.tx_pool,
                    stalled_since: &mut c.stalled,
                    kick: false,
                    fatal: None,
                });
            }
        }
        let mut work = wire_to_guests(up, &mut guests, &mut Hypervisor, now, RX_BUDGET);
        for g in guests.iter_mut() {
            work.merge(guest_to_wire(up, g, &mut Hypervisor, PASSES, now));
        }
        let outcome: Vec<_> = guests.iter().map(|g| (g.kick, g.fatal)).collect();
        drop(guests);
        for ((key, port), (kick, fatal)) in ports.into_iter().zip(outcome) {
            if kick {
                let _ = rt.events.notify(port);
            }
            if let Some(err) = fatal {
                println!(
                    "SPIKE-VIF-FATAL fe={} dev={}: {err}",
                    key.frontend, key.devid
                );
                self.disconnect_hostile(rt, key);
            }
        }
        work
    }

    /// A frontend broke the ring protocol: its vif is disconnected (Closing →
    /// Closed) and the Spike carries on with the others (docs/xen-interfaces.md, checklist item 8).
    fn disconnect_hostile(&mut self, rt: &mut Runtime, key: VifKey) {
        if let Some(e) = self.vifs.get_mut(&key) {
            release(rt, e);
            let _ = e.backend.disconnected(&mut rt.xs);
            println!(
                "SPIKE-VIF-DISCONNECTED fe={} dev={}: frontend misbehaved",
                key.frontend, key.devid
            );
        }
    }

    /// Every vif's counters (`vif/<fe>/<dev>/…`) into a counter page round:
    /// the live connection's, else the last one's.
    pub fn publish(&self, r: &mut Round<'_, RawPage>) {
        for (key, e) in &self.vifs {
            let c = e
                .conn
                .as_ref()
                .map(|c| c.vif.counters())
                .or(e.last.as_ref());
            if let Some(c) = c {
                counters::put_vif(r, key.frontend, key.devid, c);
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
    cfg.rate = e.backend.rate;
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
        stalled: None,
        _pages: (tx_pages, rx_pages),
        tx,
        rx,
        port,
    });
    e.backend.connected(&mut rt.xs)
}

/// Unmaps the rings promptly: a domain whose pages we still map cannot die.
/// The final counters (`fatal_errors` among them) are kept for the page.
fn release(rt: &mut Runtime, e: &mut Entry) {
    if let Some(c) = e.conn.take() {
        e.last = Some(*c.vif.counters());
        let Connection {
            vif,
            tx_pool,
            stalled: _,
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
