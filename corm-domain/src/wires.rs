//! The Corm's wires as the domain sets them up: one [`Link`] (xenstore
//! handshake, pages, event channel) per configured wire, its channel plugged
//! into the data plane's endpoint. The Corm is side A of every wire: it
//! offers the rings, lives as long as its NIC, and its send direction is
//! granted read-only, so it builds frames in place there.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use corm_domain::dataplane::Dataplane;
use local_wire::channel::Identity;
use local_wire::domain::Link;
use local_wire::RawMemory;
use pv_runtime::abi::Port;
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::time::now_ns;
use pv_runtime::xenstore::WatchEvent;
use wire_proto::{Features, Role};

use crate::config;

/// Our hello on endpoint `endpoint`'s wire.
fn identity(endpoint: u16) -> Identity {
    Identity {
        role: Role::Corm,
        endpoint: u32::from(endpoint),
        // Offloads are finished by the NIC or in software before it
        // (`dataplane::uplink`), so the Spikes may pass their guests'.
        features: Features(Features::CSUM.0 | Features::GSO_TCPV4.0 | Features::GSO_TCPV6.0),
        mtu: 1500,
    }
}

/// The configured wires, by wire id.
pub struct Wires {
    links: BTreeMap<u32, (u16, Link)>,
}

impl Wires {
    pub fn new() -> Wires {
        Wires {
            links: BTreeMap::new(),
        }
    }

    /// Starts configured wires that are new, stops those removed or changed.
    pub fn reconcile(&mut self, rt: &mut Runtime, dp: &mut Dataplane<RawMemory>) {
        let want = config::wires(rt);
        let stale: Vec<u32> = self
            .links
            .iter()
            .filter(|(id, (ep, link))| {
                !want.iter().any(|w| {
                    w.id == **id
                        && w.endpoint == Some(u32::from(*ep))
                        && w.config == Some(link.config)
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some((ep, mut link)) = self.links.remove(&id) {
                let _ = dp.switch.set_endpoint_ips(ep, &[]);
                let end = dp.unplug(ep).and_then(|mut ch| ch.detach());
                if link.wants_end_back() || end.is_some() {
                    link.give_back(rt, end);
                }
                link.shutdown(rt);
                println!("CORM-WIRE-REMOVED wire={id} endpoint={ep}");
            }
        }
        for w in want {
            let (Some(cfg), Some(ep)) = (w.config, w.endpoint) else {
                continue;
            };
            if self.links.contains_key(&w.id) {
                continue;
            }
            let Ok(ep) = u16::try_from(ep) else { continue };
            if !dp.plug(ep, w.id, identity(ep)) {
                println!(
                    "CORM-CONFIG-ERROR wire {} on endpoint {ep}: no such endpoint, or already wired",
                    w.id
                );
                continue;
            }
            println!(
                "CORM-WIRE-START wire={} endpoint={ep} side={:?} peer={}",
                w.id, cfg.side, cfg.peer
            );
            let link = Link::start(rt, cfg);
            self.links.insert(w.id, (ep, link));
        }
        // The MACs each Spike may announce and its guest's IP addresses:
        // the controller's, re-read on every config change (a MAC change
        // renegotiates that wire only).
        let ids: Vec<(u32, u16)> = self.links.iter().map(|(id, (ep, _))| (*id, *ep)).collect();
        for (id, ep) in ids {
            let macs = config::peer_macs(rt, id).unwrap_or_else(|why| {
                println!("CORM-CONFIG-ERROR wire {id}: peer-macs {why}: allowing none");
                Vec::new()
            });
            if let Some(ch) = dp.channel(ep) {
                ch.allow_macs(Some(&macs));
            }
            // Its guest's addresses: ARP/ND claiming them for another MAC
            // is dropped (`switch::ipguard`).
            let ips = config::peer_ips(rt, id).unwrap_or_else(|why| {
                println!("CORM-CONFIG-ERROR wire {id}: peer-ips {why}: configuring none");
                Vec::new()
            });
            if let Err(e) = dp.switch.set_endpoint_ips(ep, &ips) {
                println!("CORM-CONFIG-ERROR wire {id}: peer-ips: {e}: configuring none");
                let _ = dp.switch.set_endpoint_ips(ep, &[]);
            }
        }
        self.sync(rt, dp);
    }

    /// A watch event for one of our wires; `true` if it was one.
    pub fn on_watch(&mut self, rt: &mut Runtime, ev: &WatchEvent) -> bool {
        self.links.values_mut().any(|(_, l)| l.on_watch(rt, ev))
    }

    /// Hands connected ends to their channels and takes back the ends of
    /// links that tear down.
    pub fn sync(&mut self, rt: &mut Runtime, dp: &mut Dataplane<RawMemory>) {
        for (ep, link) in self.links.values_mut() {
            link.poll(rt);
            let Some(ch) = dp.channel(*ep) else { continue };
            if link.wants_end_back() {
                // The peer moved on: a refusal it sent just before is in the ring.
                if let Some(why) = ch.drain_control(now_ns()) {
                    println!(
                        "CORM-ENDPOINT-DOWN endpoint={ep} wire={}: {why:?}",
                        ch.wire()
                    );
                }
                let end = ch.detach();
                link.give_back(rt, end);
            }
            if let Some((end, _refs)) = link.take_end() {
                ch.attach(end, now_ns());
            }
        }
    }

    /// The wire of `endpoint` failed: tear it down and offer it again.
    pub fn failed(&mut self, rt: &mut Runtime, dp: &mut Dataplane<RawMemory>, wire: u32) {
        if let Some((ep, link)) = self.links.get_mut(&wire) {
            if let Some(ch) = dp.channel(*ep) {
                let end = ch.detach();
                link.give_back(rt, end);
            }
            link.link_failed(rt);
        }
        self.sync(rt, dp);
    }

    /// The earliest end of a wire's backoff.
    pub fn deadline(&self) -> Option<u64> {
        self.links.values().filter_map(|(_, l)| l.deadline()).min()
    }

    /// The event channel of endpoint `endpoint`'s wire.
    pub fn port_of(&self, endpoint: u16) -> Option<Port> {
        self.links
            .values()
            .find(|(ep, _)| *ep == endpoint)
            .and_then(|(_, l)| l.port())
    }

    /// Leaves every wire (domain shutdown).
    pub fn shutdown(&mut self, rt: &mut Runtime, dp: &mut Dataplane<RawMemory>) {
        let ids: Vec<u32> = self.links.keys().copied().collect();
        for id in ids {
            if let Some((ep, mut link)) = self.links.remove(&id) {
                let end = dp.unplug(ep).and_then(|mut ch| ch.detach());
                link.give_back(rt, end);
                link.shutdown(rt);
            }
        }
    }
}
