//! The Spike image: netback for the guests whose vif names this domain as its
//! backend (`vif = ['backend=<spike>,mac=…']`), with no `xl devd`, joined by
//! a local wire to the endpoint the controller configured.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod config;
#[cfg(target_os = "none")]
mod vifs;

#[cfg(target_os = "none")]
mod domain {
    use alloc::collections::BTreeMap;
    use alloc::format;

    use pv_runtime::println;
    use pv_runtime::runtime::{self, Runtime};
    use pv_runtime::time::{now_ns, NS_PER_SEC};
    use spike_domain::netback::{CsumMeta, GsoKind, RxFrame, TxFrame};
    use wire_proto::{Checksum, Frame, Gso};

    use local_wire::channel::{Channel as Uplink, Identity};
    use wire_proto::{Features, Role};

    use crate::config;
    use crate::vifs::Vifs;

    /// Our hello: a Spike announcing its guest's MAC, with the offloads its
    /// netback passes through (checksum metadata, TCP GSO).
    const IDENTITY: Identity = Identity {
        role: Role::Spike,
        endpoint: 0,
        features: Features(Features::CSUM.0 | Features::GSO_TCPV4.0 | Features::GSO_TCPV6.0),
        mtu: 1500,
        tag: "SPIKE",
    };

    pv_runtime::entry!(main);

    const BACKEND_TOKEN: &str = "spike/backend";
    const CONFIG_TOKEN: &str = "spike/config";
    /// Timer: publish counters.
    const PUBLISH: u32 = 1;
    const PUBLISH_EVERY_NS: u64 = 2 * NS_PER_SEC;

    fn main(rt: &mut Runtime) {
        println!("SPIKE-BOOT domid={}", rt.domid());
        if let Err(e) = rt.xs.watch("backend/vif", BACKEND_TOKEN) {
            panic!("cannot watch backend/vif: {e}");
        }
        let cfg_dir = config::config_dir(rt);
        if let Err(e) = rt.xs.watch(&cfg_dir, CONFIG_TOKEN) {
            println!("SPIKE: cannot watch {cfg_dir}: {e}");
        }
        let _ = rt.timers.arm(PUBLISH, now_ns() + PUBLISH_EVERY_NS);
        let mut vifs = Vifs::new();
        let mut uplinks: BTreeMap<u32, Uplink> = BTreeMap::new();
        loop {
            let wake = rt.wait(None);
            if let Some(reason) = wake.shutdown {
                uplinks.values_mut().for_each(|u| u.shutdown(rt));
                vifs.shutdown(rt);
                println!("SPIKE-SHUTDOWN {reason:?}");
                runtime::shutdown(reason);
            }
            let mut rescan_vifs = false;
            for ev in &wake.watches {
                if ev.token == CONFIG_TOKEN {
                    reconcile_wires(rt, &mut uplinks);
                } else if !uplinks.values_mut().any(|u| u.on_watch(rt, ev)) {
                    rescan_vifs = true;
                }
            }
            if rescan_vifs {
                vifs.reconcile(rt);
            }
            // Wire first: frames for the guests, then the guests' own traffic.
            for u in uplinks.values_mut() {
                let fired = u.port().is_some_and(|p| wake.ports.contains(p));
                if fired || !wake.watches.is_empty() {
                    let mac = vifs.mac();
                    u.poll(rt, mac.as_ref().map(core::slice::from_ref), |f| {
                        vifs.queue_rx(to_guest(f))
                    });
                }
            }
            vifs.flush_all_rx(rt);
            let all = !wake.watches.is_empty();
            let uplink = uplinks.values_mut().next();
            match uplink {
                Some(u) => {
                    vifs.service(rt, &wake.ports, all, &mut |rt, f| {
                        u.send_frame(rt, to_wire(&f))
                    });
                    u.flush(rt);
                }
                None => vifs.service(rt, &wake.ports, all, &mut |_, _| false),
            }
            if wake.timers.contains(&PUBLISH) {
                vifs.publish(rt);
                for u in uplinks.values() {
                    for (name, v) in u.counters.iter() {
                        let _ = rt.xs.write(
                            &format!("data/banana/wire/{}/counters/{name}", u.wire()),
                            &format!("{v}"),
                        );
                    }
                }
                let _ = rt.timers.arm(PUBLISH, now_ns() + PUBLISH_EVERY_NS);
            }
        }
    }

    /// Starts wires that appeared in the configuration, stops removed ones.
    fn reconcile_wires(rt: &mut Runtime, uplinks: &mut BTreeMap<u32, Uplink>) {
        let want = config::wires(rt);
        // A malformed entry (e.g. half-written config) keeps what runs for that id.
        let gone: alloc::vec::Vec<u32> = uplinks
            .keys()
            .copied()
            .filter(|id| !want.iter().any(|(i, _)| i == id))
            .collect();
        for id in gone {
            if let Some(mut u) = uplinks.remove(&id) {
                u.shutdown(rt);
                println!("SPIKE-WIRE-REMOVED wire={id}");
            }
        }
        for (_, w) in want {
            let Some(w) = w else { continue };
            let stale = uplinks.get(&w.wire).is_some_and(|u| u.config() != w);
            if stale {
                if let Some(mut u) = uplinks.remove(&w.wire) {
                    u.shutdown(rt);
                }
            }
            if let alloc::collections::btree_map::Entry::Vacant(slot) = uplinks.entry(w.wire) {
                println!(
                    "SPIKE-WIRE-START wire={} side={:?} peer={}",
                    w.wire, w.side, w.peer
                );
                slot.insert(Uplink::start(rt, w, IDENTITY));
            }
        }
    }

    fn to_wire<'a>(f: &TxFrame<'a>) -> Frame<'a> {
        let checksum = match f.csum {
            CsumMeta::None => Checksum::None,
            CsumMeta::Partial { start, offset } => Checksum::Partial { start, offset },
            CsumMeta::Validated => Checksum::Validated,
        };
        let frame = Frame::new(f.data).with_checksum(checksum);
        match f.gso {
            Some((GsoKind::TcpV4, size)) => frame.with_gso(Gso {
                kind: wire_proto::GsoKind::TcpV4,
                size,
            }),
            Some((GsoKind::TcpV6, size)) => frame.with_gso(Gso {
                kind: wire_proto::GsoKind::TcpV6,
                size,
            }),
            None => frame,
        }
    }

    fn to_guest<'a>(f: &Frame<'a>) -> RxFrame<'a> {
        let csum = match f.checksum {
            Checksum::None => CsumMeta::None,
            Checksum::Partial { start, offset } => CsumMeta::Partial { start, offset },
            Checksum::Validated => CsumMeta::Validated,
        };
        let gso = f.gso.map(|g| match g.kind {
            wire_proto::GsoKind::TcpV4 => (GsoKind::TcpV4, g.size),
            wire_proto::GsoKind::TcpV6 => (GsoKind::TcpV6, g.size),
        });
        RxFrame {
            data: f.payload,
            csum,
            gso,
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("spike-domain is a Xen PV image: build it with --target x86_64-unknown-none");
    std::process::exit(2);
}
