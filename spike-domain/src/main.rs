//! The Spike image: netback for the guests whose vif names this domain as its
//! backend (`vif = ['backend=<spike>,…']`), with no `xl devd`, joined by a
//! local wire to the endpoint the controller configured. The frames' route
//! is `spike_domain::dataplane`; this file only turns runtime events into
//! calls to it.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod config;
#[cfg(target_os = "none")]
mod vifs;

#[cfg(target_os = "none")]
mod domain {
    use local_wire::channel::{Channel, Identity};
    use local_wire::domain::{Link, WireConfig};
    use local_wire::RawMemory;
    use pv_runtime::counter_page::{CounterMirror, CounterPage};
    use pv_runtime::println;
    use pv_runtime::runtime::{self, Runtime};
    use pv_runtime::time::{now_ns, NS_PER_SEC};
    use spike_domain::counters;
    use spike_domain::dataplane::Uplink;
    use wire_proto::{Features, Role};

    use crate::config;
    use crate::vifs::Vifs;

    /// Our hello: a Spike announcing its guests' MACs, with the offloads its
    /// netback passes through (checksum metadata, TCP GSO).
    const IDENTITY: Identity = Identity {
        role: Role::Spike,
        endpoint: 0,
        features: Features(Features::CSUM.0 | Features::GSO_TCPV4.0 | Features::GSO_TCPV6.0),
        mtu: 1500,
    };

    pv_runtime::entry!(main);

    const BACKEND_TOKEN: &str = "spike/backend";
    const CONFIG_TOKEN: &str = "spike/config";
    /// Timer: wire keepalives and liveness, counters.
    const HOUSEKEEPING: u32 = 1;
    const HOUSEKEEPING_NS: u64 = NS_PER_SEC;

    /// The one wire of this Spike: its set-up and its data-plane end.
    struct Wire {
        link: Link,
        up: Uplink<RawMemory>,
    }

    impl Wire {
        fn start(rt: &mut Runtime, cfg: WireConfig) -> Wire {
            Wire {
                link: Link::start(rt, cfg),
                up: Uplink::new(Channel::new(cfg.wire, IDENTITY), cfg.side),
            }
        }

        /// Hands a connected end to the channel, takes back one that tears
        /// down.
        fn sync(&mut self, rt: &mut Runtime) {
            self.link.poll(rt);
            if self.link.wants_end_back() {
                // The peer moved on: a refusal it sent just before is in the ring.
                if let Some(why) = self.up.channel.drain_control(now_ns()) {
                    println!("SPIKE-WIRE-DOWN wire={}: {why:?}", self.up.channel.wire());
                }
                let end = self.up.channel.detach();
                self.up.refs = None;
                self.link.give_back(rt, end);
            }
            if let Some((end, refs)) = self.link.take_end() {
                self.up.channel.attach(end, now_ns());
                self.up.refs = Some(refs);
            }
        }

        /// The wire failed: tear down and set it up again.
        fn failed(&mut self, rt: &mut Runtime) {
            let end = self.up.channel.detach();
            self.up.refs = None;
            self.link.give_back(rt, end);
            self.link.link_failed(rt);
            self.sync(rt);
        }

        fn shutdown(&mut self, rt: &mut Runtime) {
            let end = self.up.channel.detach();
            self.up.refs = None;
            self.link.give_back(rt, end);
            self.link.shutdown(rt);
        }
    }

    fn main(rt: &mut Runtime) {
        println!("SPIKE-BOOT domid={}", rt.domid());
        if let Err(e) = rt.xs.watch("backend/vif", BACKEND_TOKEN) {
            panic!("cannot watch backend/vif: {e}");
        }
        let cfg_dir = config::config_dir(rt);
        if let Err(e) = rt.xs.watch(&cfg_dir, CONFIG_TOKEN) {
            println!("SPIKE: cannot watch {cfg_dir}: {e}");
        }
        // Counters go to dom0 in pages granted read-only to it (refs written
        // once to data/banana/counters/page-refs), never through xenstore.
        let mut page = CounterPage::with_capacity(rt, counters::capacity(counters::VIFS))
            .map_err(|e| println!("SPIKE-COUNTERS-ERROR no counter page: {e}"))
            .ok();
        let mut mirror = CounterMirror::new();
        let mut refused = 0;
        let _ = rt.timers.arm(HOUSEKEEPING, now_ns() + HOUSEKEEPING_NS);
        let mut vifs = Vifs::new();
        let mut wire: Option<Wire> = None;
        // Without a wire the guests' frames are refused (dropped, answered).
        let mut idle = Uplink::new(Channel::new(0, IDENTITY), local_wire::Side::B);
        let mut deadline = None;
        loop {
            let wake = rt.wait(deadline);
            if let Some(reason) = wake.shutdown {
                if let Some(w) = wire.as_mut() {
                    w.shutdown(rt);
                }
                vifs.shutdown(rt);
                println!("SPIKE-SHUTDOWN {reason:?}");
                runtime::shutdown(reason);
            }
            let mut rescan_vifs = false;
            for ev in &wake.watches {
                if ev.token == CONFIG_TOKEN {
                    reconcile_wire(rt, &mut wire);
                } else if !wire.as_mut().is_some_and(|w| w.link.on_watch(rt, ev)) {
                    rescan_vifs = true;
                }
            }
            if rescan_vifs {
                vifs.reconcile(rt);
            }
            let now = now_ns();
            let up = match wire.as_mut() {
                Some(w) => {
                    w.sync(rt);
                    w.up.channel.announce(&vifs.macs());
                    w.up.channel.offer(vifs.wire_features());
                    let was = w.up.channel.is_established();
                    let out = w.up.channel.poll(now);
                    w.up.kick |= out.notify;
                    if !was && w.up.channel.is_established() {
                        println!("SPIKE-WIRE-UP wire={}", w.up.channel.wire());
                    }
                    if let Some(why) = out.lost {
                        println!("SPIKE-WIRE-DOWN wire={}: {why:?}", w.up.channel.wire());
                        w.failed(rt);
                    }
                    &mut w.up
                }
                None => &mut idle,
            };
            let work = vifs.serve(rt, up, now);
            up.kick |= up.channel.tx_flush(now);
            if core::mem::take(&mut up.kick) {
                if let Some(port) = wire.as_ref().and_then(|w| w.link.port()) {
                    let _ = rt.events.notify(port);
                }
            }
            vifs.remove_due(rt, now);
            deadline = [
                work.more.then(now_ns),
                // A guest's TX credit (vif `rate`) is replenished then.
                work.wake_at,
                vifs.next_removal(),
                wire.as_ref().and_then(|w| w.link.deadline()),
            ]
            .into_iter()
            .flatten()
            .min();

            if wake.timers.contains(&HOUSEKEEPING) {
                let retiring = local_wire::domain::retry_retired(rt) as u64;
                // Plain stores into the counter page: cheap enough every tick.
                if let Some(page) = page.as_mut() {
                    let gauges = rt.gauges();
                    let mut r = mirror.round(page);
                    vifs.publish(&mut r);
                    let w = wire
                        .as_ref()
                        .map(|w| (w.up.channel.wire(), &w.up.channel.counters, &w.up.counters));
                    counters::put_domain(&mut r, w, &gauges, retiring);
                    r.finish();
                    if mirror.refused() != refused {
                        refused = mirror.refused();
                        if let Some(e) = mirror.last_error() {
                            println!("SPIKE-COUNTERS-ERROR {refused} refused: {e}");
                        }
                    }
                }
                let _ = rt.timers.arm(HOUSEKEEPING, now_ns() + HOUSEKEEPING_NS);
            }
        }
    }

    /// Starts the configured wire, stops a removed or changed one. A Spike
    /// has one wire: a second is reported and ignored.
    fn reconcile_wire(rt: &mut Runtime, wire: &mut Option<Wire>) {
        let want = config::wires(rt);
        // A malformed entry (e.g. half-written config) keeps what runs for that id.
        let keep = wire.as_ref().is_some_and(|w| {
            want.iter()
                .any(|(id, c)| *id == w.link.config.wire && c.is_none_or(|c| c == w.link.config))
        });
        if !keep {
            if let Some(mut w) = wire.take() {
                w.shutdown(rt);
                println!("SPIKE-WIRE-REMOVED wire={}", w.link.config.wire);
            }
        }
        for (i, (id, cfg)) in want.iter().enumerate() {
            let Some(cfg) = cfg else { continue };
            if wire.as_ref().is_some_and(|w| w.link.config.wire == *id) {
                continue;
            }
            if wire.is_some() || i > 0 {
                println!("SPIKE-CONFIG-ERROR wire {id}: a Spike has one wire");
                continue;
            }
            println!(
                "SPIKE-WIRE-START wire={} side={:?} peer={}",
                cfg.wire, cfg.side, cfg.peer
            );
            *wire = Some(Wire::start(rt, *cfg));
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("spike-domain is a Xen PV image: build it with --target x86_64-unknown-none");
    std::process::exit(2);
}
