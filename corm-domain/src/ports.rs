//! The Corm's endpoints: switch ports, each optionally joined to a Spike by
//! a local wire on which the Corm is side A (it offers the rings: it lives as
//! long as its NIC). A wire's peer announces its guest's MACs in its hello;
//! they become the endpoint's registered MACs (anti-spoofing) once the wire
//! is established, and are withdrawn when it goes down.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;

use corm_domain::switch::{EndpointConfig, Switch};
use local_wire::channel::{Channel, Identity};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use wire_proto::{Features, Role};

use crate::config;

/// One endpoint.
pub struct Endpoint {
    pub vlan: Option<u16>,
    /// The wire serving it, by wire id.
    pub wire: Option<u32>,
    /// Whether the switch holds the peer's MACs for it.
    pub registered: bool,
}

pub struct Ports {
    pub endpoints: BTreeMap<u16, Endpoint>,
    pub channels: BTreeMap<u32, (u16, Channel)>,
}

fn identity(endpoint: u16) -> Identity {
    Identity {
        role: Role::Corm,
        endpoint: u32::from(endpoint),
        // We complete checksums and segment in software before the NIC
        // (`uplink::transmit`), so the Spikes may pass their guests' offloads.
        features: Features(Features::CSUM.0 | Features::GSO_TCPV4.0 | Features::GSO_TCPV6.0),
        mtu: 1500,
        tag: "CORM",
    }
}

impl Ports {
    /// Endpoints `0..n` with their VLANs, registered in the switch with no MACs.
    pub fn new(rt: &mut Runtime, n: u16, switch: &mut Switch) -> Ports {
        let mut endpoints = BTreeMap::new();
        for i in 0..n {
            let vlan = match config::vlan(rt, i) {
                Ok(v) => v,
                Err(bad) => {
                    println!("CORM-CONFIG-ERROR endpoint {i} vlan {bad:?}: endpoint not served");
                    continue;
                }
            };
            let cfg = EndpointConfig {
                vlan,
                macs: heapless::Vec::new(),
            };
            if let Err(e) = switch.add_endpoint(i, cfg) {
                println!("CORM-CONFIG-ERROR endpoint {i}: {e}");
                continue;
            }
            endpoints.insert(
                i,
                Endpoint {
                    vlan,
                    wire: None,
                    registered: false,
                },
            );
        }
        Ports {
            endpoints,
            channels: BTreeMap::new(),
        }
    }

    /// Starts configured wires that are new, stops those removed or changed.
    pub fn reconcile(&mut self, rt: &mut Runtime, switch: &mut Switch) {
        let want = config::wires(rt);
        let stale: Vec<u32> = self
            .channels
            .iter()
            .filter(|(id, (ep, ch))| {
                !want.iter().any(|w| {
                    w.id == **id
                        && w.endpoint == Some(u32::from(*ep))
                        && w.config == Some(ch.config())
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some((ep, mut ch)) = self.channels.remove(&id) {
                ch.shutdown(rt);
                self.withdraw(ep, switch);
                if let Some(e) = self.endpoints.get_mut(&ep) {
                    e.wire = None;
                }
                println!("CORM-WIRE-REMOVED wire={id} endpoint={ep}");
            }
        }
        for w in want {
            let (Some(cfg), Some(ep)) = (w.config, w.endpoint) else {
                continue;
            };
            if self.channels.contains_key(&w.id) {
                continue;
            }
            let Ok(ep) = u16::try_from(ep) else { continue };
            let Some(e) = self.endpoints.get_mut(&ep) else {
                println!(
                    "CORM-CONFIG-ERROR wire {} names endpoint {ep}, which we do not serve",
                    w.id
                );
                continue;
            };
            if let Some(other) = e.wire {
                println!(
                    "CORM-CONFIG-ERROR wire {} on endpoint {ep}, already wired by {other}",
                    w.id
                );
                continue;
            }
            e.wire = Some(w.id);
            println!(
                "CORM-WIRE-START wire={} endpoint={ep} side={:?} peer={}",
                w.id, cfg.side, cfg.peer
            );
            self.channels
                .insert(w.id, (ep, Channel::start(rt, cfg, identity(ep))));
        }
        self.publish_endpoints(rt);
    }

    /// After a channel event: register the peer's MACs once established,
    /// withdraw them once it is not.
    pub fn sync_registration(&mut self, wire: u32, switch: &mut Switch) {
        let Some((ep, ch)) = self.channels.get(&wire) else {
            return;
        };
        let ep = *ep;
        let Some(e) = self.endpoints.get_mut(&ep) else {
            return;
        };
        if ch.is_established() && !e.registered {
            let mut macs = heapless::Vec::new();
            for m in ch.peer_macs() {
                let _ = macs.push(m);
            }
            let cfg = EndpointConfig { vlan: e.vlan, macs };
            match switch.reconfigure_endpoint(ep, cfg) {
                Ok(()) => {
                    e.registered = true;
                    println!(
                        "CORM-ENDPOINT-UP endpoint={ep} wire={wire} vlan={:?}",
                        e.vlan
                    );
                }
                Err(err) => println!("CORM-ENDPOINT-REFUSED endpoint={ep} wire={wire}: {err}"),
            }
        } else if !ch.is_established() && e.registered {
            self.withdraw(ep, switch);
        }
    }

    fn withdraw(&mut self, ep: u16, switch: &mut Switch) {
        let Some(e) = self.endpoints.get_mut(&ep) else {
            return;
        };
        if e.registered {
            let cfg = EndpointConfig {
                vlan: e.vlan,
                macs: heapless::Vec::new(),
            };
            let _ = switch.reconfigure_endpoint(ep, cfg);
            e.registered = false;
            println!("CORM-ENDPOINT-DOWN endpoint={ep}");
        }
    }

    /// `data/banana/endpoint/<i>/{vlan,wire,state}`: what Spikes and the
    /// controller see of our endpoints.
    pub fn publish_endpoints(&self, rt: &mut Runtime) {
        for (i, e) in &self.endpoints {
            let base = format!("data/banana/endpoint/{i}");
            let state = match (e.wire, e.registered) {
                (None, _) => "free",
                (Some(_), false) => "wired",
                (Some(_), true) => "up",
            };
            let _ = rt.xs.write(&format!("{base}/state"), state);
            let _ = rt.xs.write(
                &format!("{base}/vlan"),
                &e.vlan
                    .map_or(alloc::string::String::from("none"), |v| format!("{v}")),
            );
            let _ = rt.xs.write(
                &format!("{base}/wire"),
                &e.wire
                    .map_or(alloc::string::String::from("none"), |v| format!("{v}")),
            );
        }
    }
}
