//! The Corm image: owns one passed-through NIC (pcifront, `DOMID_IO` BARs,
//! DMA by machine address), drives it with the matching sans-IO driver, and
//! runs the data plane (`corm_domain::dataplane`) between it and its
//! endpoints, each joined to a Spike by a local wire (docs/architecture.md). This
//! file only turns runtime events into data-plane calls.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod capture;
#[cfg(target_os = "none")]
mod config;
#[cfg(target_os = "none")]
mod device;
#[cfg(target_os = "none")]
mod publish;
#[cfg(target_os = "none")]
mod tunnels;
#[cfg(target_os = "none")]
mod wireguard_keys;
#[cfg(target_os = "none")]
mod wires;

#[cfg(target_os = "none")]
mod domain {
    use alloc::format;
    use core::fmt::Display;

    use corm_domain::dataplane::{Dataplane, Event};
    use corm_domain::nic::{Events, IrqMode};
    use corm_domain::switch::{Switch, SwitchConfig};
    use local_wire::RawMemory;
    use pv_runtime::abi::sched::ShutdownReason;
    use pv_runtime::pci::config as pcicfg;
    use pv_runtime::pci::frontend::PciFront;
    use pv_runtime::println;
    use pv_runtime::runtime::{self, Runtime};
    use pv_runtime::time::{now_ns, NS_PER_SEC};

    use xs_schema::data;

    use crate::config;
    use crate::device::{self, OpenNic};
    use crate::publish::Publisher;
    use crate::wires::Wires;

    pv_runtime::entry!(main);

    const CONFIG_TOKEN: &str = "corm/config";
    /// Timer: wire keepalives and liveness, MAC aging, counters, a failed
    /// reinit retried.
    const HOUSEKEEPING: u32 = 1;
    const HOUSEKEEPING_NS: u64 = NS_PER_SEC;
    /// Timer: poll the NIC when it has no interrupt.
    const POLL: u32 = 2;
    const POLL_NS: u64 = 1_000_000;
    /// Frames taken from the NIC per pass before looking at the wires again.
    const RX_BUDGET: usize = 64;
    /// Frames taken from each endpoint's ring per pass (one peer cannot
    /// monopolise the Corm).
    const WIRE_BUDGET: usize = 64;
    /// How soon to look again when frames wait for room on the NIC.
    const NIC_FULL_RETRY_NS: u64 = 200_000;
    /// Frames found on a wake-up the NIC's interrupt did not cause, with no
    /// NIC interrupt for this long (it comes every 250 us under load, see
    /// `ITR_INTERVAL`): its message may have been lost, `reap_latched`. At
    /// most once per this long, too.
    const REAP_NS: u64 = 10_000_000;
    /// How long pciback gets for the handshake.
    const PCI_TIMEOUT_NS: u64 = 30 * NS_PER_SEC;

    fn fatal(what: &str, e: impl Display) -> ! {
        println!("CORM-FATAL {what}: {e}");
        runtime::shutdown(ShutdownReason::Crash)
    }

    fn main(rt: &mut Runtime) {
        let boot = now_ns();
        println!("CORM-BOOT domid={} cmdline={:?}", rt.domid(), rt.cmdline());
        let _ = rt.xs.write(data::ROLE.from_home(), "corm");
        let mut front = PciFront::connect(rt, now_ns() + PCI_TIMEOUT_NS)
            .unwrap_or_else(|e| fatal("pcifront", e));
        let mut nic = device::open(&mut front, &mut rt.events).unwrap_or_else(|e| fatal("nic", e));
        let mac = nic.nic.mac();
        let mac_text = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        );
        println!(
            "CORM-NIC {} kind={:?} mac={mac_text} irq={:?} dma-pages={} ms={}",
            nic.address,
            nic.kind,
            nic.irq,
            nic.dma_pages,
            (now_ns() - boot) / 1_000_000
        );
        let _ = rt
            .xs
            .write(data::NIC_MODEL.from_home(), &format!("{:?}", nic.kind));
        let _ = rt.xs.write(data::NIC_MAC.from_home(), &mac_text);
        let _ = rt
            .xs
            .write(data::NIC_IRQ.from_home(), &format!("{:?}", nic.irq));

        let mut switch_cfg = SwitchConfig::default();
        match config::flood(rt) {
            Ok(Some(limit)) => {
                switch_cfg.flood = limit;
                println!("CORM-FLOOD-LIMIT rate={} burst={}", limit.rate, limit.burst);
            }
            Ok(None) => {}
            Err(bad) => println!("CORM-CONFIG-ERROR flood {bad}: keeping the default limit"),
        }
        let mut dp: Dataplane<RawMemory> = Dataplane::new(Switch::new(switch_cfg));
        match config::local_vlans(rt) {
            Ok(vids) => {
                for vid in vids {
                    if dp.switch.set_local_vlan(vid, true).is_ok() {
                        println!("CORM-LOCAL-VLAN {vid}");
                    }
                }
            }
            Err(bad) => println!("CORM-CONFIG-ERROR {bad}: every VLAN trunked"),
        }
        let n = config::endpoints(rt);
        for i in 0..n {
            match config::vlan(rt, i) {
                Ok(vlan) => {
                    if let Err(e) = dp.add_endpoint(i, vlan) {
                        println!("CORM-CONFIG-ERROR endpoint {i}: {e}");
                    }
                }
                Err(bad) => {
                    println!("CORM-CONFIG-ERROR endpoint {i} vlan {bad:?}: endpoint not served")
                }
            }
        }
        let identity = crate::wireguard_keys::take(rt);
        crate::tunnels::start(rt, &mut dp, mac, identity);
        let mut wires = Wires::new();
        let cfg_dir = config::config_dir(rt);
        if let Err(e) = rt.xs.watch(&cfg_dir, CONFIG_TOKEN) {
            println!("CORM: cannot watch {cfg_dir}: {e}");
        }
        wires.reconcile(rt, &mut dp);
        crate::tunnels::reconcile(rt, &mut dp);
        let mut capture = crate::capture::Capture::default();
        capture.reconcile(rt, &mut dp, n);
        let mut publisher = Publisher::new(rt, usize::from(n));
        publisher.endpoints(rt, &dp);
        println!("CORM-READY endpoints={n}");
        let _ = rt.timers.arm(HOUSEKEEPING, now_ns() + HOUSEKEEPING_NS);
        if nic.irq == IrqMode::Poll {
            let _ = rt.timers.arm(POLL, now_ns() + POLL_NS);
        }
        let mut link = false;
        let mut last_reap = 0u64;
        let mut last_irq = 0u64;
        let mut needs_reinit = false;
        let mut deadline = Some(now_ns());
        loop {
            let wake = rt.wait(deadline);
            if let Some(reason) = wake.shutdown {
                wires.shutdown(rt, &mut dp);
                dp.close_tunnels(nic.nic.as_mut(), now_ns());
                // The Closes are rung in; give the NIC 2 ms to fetch them
                // (a 100-byte frame takes microseconds) before bus
                // mastering goes off.
                let t = now_ns();
                while now_ns() < t + 2_000_000 {
                    core::hint::spin_loop();
                }
                quiesce(&mut front, rt, &mut nic);
                println!("CORM-SHUTDOWN {reason:?}");
                runtime::shutdown(reason);
            }
            for ev in &wake.watches {
                if ev.token == CONFIG_TOKEN {
                    wires.reconcile(rt, &mut dp);
                    crate::tunnels::rekey(rt, &mut dp);
                    crate::tunnels::reconcile(rt, &mut dp);
                    capture.reconcile(rt, &mut dp, n);
                    publisher.endpoints(rt, &dp);
                } else {
                    wires.on_watch(rt, ev);
                }
            }
            wires.sync(rt, &mut dp);
            if wake.timers.contains(&POLL) {
                let _ = rt.timers.arm(POLL, now_ns() + POLL_NS);
            }

            // Wires: negotiation, keepalives, the switch's registrations.
            let mut changed = false;
            let mut failed = heapless::Vec::<u32, 8>::new();
            dp.poll_wires(now_ns(), &mut |ev| {
                changed = true;
                match ev {
                    Event::Up { endpoint, wire } => {
                        println!("CORM-ENDPOINT-UP endpoint={endpoint} wire={wire}")
                    }
                    Event::Refused {
                        endpoint,
                        wire,
                        err,
                    } => println!("CORM-ENDPOINT-REFUSED endpoint={endpoint} wire={wire}: {err}"),
                    Event::Down {
                        endpoint,
                        wire,
                        why,
                    } => {
                        println!("CORM-ENDPOINT-DOWN endpoint={endpoint} wire={wire}: {why:?}");
                        let _ = failed.push(wire);
                    }
                }
            });
            for wire in failed {
                wires.failed(rt, &mut dp, wire);
            }
            if changed {
                publisher.endpoints(rt, &dp);
            }

            // The NIC: causes (only when its interrupt fired, or on the poll
            // tick: reading them costs register accesses), the watchdog once
            // a second, then frames both ways (found in memory).
            let fired = nic
                .pirq
                .as_ref()
                .is_some_and(|p| wake.ports.contains(p.port));
            let polled = nic.irq == IrqMode::Poll && wake.timers.contains(&POLL);
            let mut ev = Events::default();
            if fired || polled {
                ev = nic.nic.handle();
            }
            if fired {
                if let Some(p) = &nic.pirq {
                    p.eoi();
                }
            }
            if wake.timers.contains(&HOUSEKEEPING) {
                ev.fatal |= nic.nic.watchdog().fatal;
            }
            if ev.fatal || needs_reinit {
                println!("CORM-NIC-RESET");
                needs_reinit = nic.nic.reinit().is_err();
            }
            if nic.nic.link_up() != link {
                link = nic.nic.link_up();
                println!(
                    "CORM-LINK-{} ms={}",
                    if link { "UP" } else { "DOWN" },
                    (now_ns() - boot) / 1_000_000
                );
                let _ = rt
                    .xs
                    .write(data::NIC_LINK.from_home(), if link { "up" } else { "down" });
            }
            let mut got = dp.from_nic(nic.nic.as_mut(), RX_BUDGET, now_ns());
            if fired {
                last_irq = now_ns();
            }
            let quiet = now_ns() >= last_irq.max(last_reap) + REAP_NS;
            if got > 0 && got < RX_BUDGET && !fired && !polled && quiet {
                // Acknowledged causes announce nothing more: frames that came
                // since the drain are taken now.
                last_reap = now_ns();
                ev = nic.nic.reap_latched();
                needs_reinit |= ev.fatal;
                if ev.rx {
                    got = dp.from_nic(nic.nic.as_mut(), RX_BUDGET, now_ns());
                }
            }
            let left = dp.to_nic(nic.nic.as_mut(), WIRE_BUDGET, now_ns());
            dp.poll_tunnels(nic.nic.as_mut(), now_ns());
            crate::tunnels::events(rt, &mut dp);
            dp.take_kicks(&mut |ep| {
                if let Some(port) = wires.port_of(ep) {
                    let _ = rt.events.notify(port);
                }
            });
            let busy = if got == RX_BUDGET {
                Some(now_ns())
            } else if left {
                Some(now_ns() + NIC_FULL_RETRY_NS)
            } else {
                None
            };
            deadline = busy
                .into_iter()
                .chain(wires.deadline())
                .chain(dp.tunnel_deadline())
                .min();

            if wake.timers.contains(&HOUSEKEEPING) {
                dp.switch.expire(now_ns());
                let retiring = local_wire::domain::retry_retired(rt) as u64;
                // Plain stores into the counter page: cheap enough every tick.
                publisher.counters(rt, &nic.nic.counters(), &dp, retiring);
                let _ = rt.timers.arm(HOUSEKEEPING, now_ns() + HOUSEKEEPING_NS);
            }
        }
    }

    /// Stops the device's DMA before we go: the device reset (its rings
    /// forgotten: `Nic::stop`), bus mastering off, MSI(-X) off.
    fn quiesce(front: &mut PciFront, rt: &mut Runtime, nic: &mut OpenNic) {
        nic.nic.stop();
        let ev = &mut rt.events;
        if let Ok(cmd) = front.read(ev, nic.address, pcicfg::COMMAND, 2) {
            let _ = front.write(
                ev,
                nic.address,
                pcicfg::COMMAND,
                2,
                cmd & !pcicfg::COMMAND_BUS_MASTER,
            );
        }
        match nic.irq {
            IrqMode::Msix => drop(front.disable_msix(ev, nic.address)),
            IrqMode::Msi => drop(front.disable_msi(ev, nic.address)),
            IrqMode::Intx | IrqMode::Poll => {}
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("corm-domain is a Xen PV image: build it with --target x86_64-unknown-none");
    std::process::exit(2);
}
