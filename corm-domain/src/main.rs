//! The Corm image: owns one passed-through NIC (pcifront, `DOMID_IO` BARs,
//! DMA by machine address), drives it with the matching sans-IO driver, and
//! switches frames between it and its endpoints, each joined to a Spike by a
//! local wire (DESIGN.md §1–§2).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod config;
#[cfg(target_os = "none")]
mod device;
#[cfg(target_os = "none")]
mod ports;
#[cfg(target_os = "none")]
mod uplink;

#[cfg(target_os = "none")]
mod domain {
    use alloc::format;
    use alloc::vec::Vec;
    use core::fmt::Display;

    use corm_domain::nic::{IrqMode, NicCounters};
    use corm_domain::switch::{Egress, Port, Switch, SwitchConfig};
    use net_offload::{checksum, Coalescer, Kind, Merged, MAX_MERGED};
    use pv_runtime::abi::sched::ShutdownReason;
    use pv_runtime::pci::config as pcicfg;
    use pv_runtime::pci::frontend::PciFront;
    use pv_runtime::println;
    use pv_runtime::runtime::{self, Runtime};
    use pv_runtime::time::{now_ns, NS_PER_SEC};
    use wire_proto::{Checksum, Frame, Gso, GsoKind};

    use crate::config;
    use crate::device::{self, OpenNic};
    use crate::ports::Ports;
    use crate::uplink::{self, UplinkCounters};

    pv_runtime::entry!(main);

    const CONFIG_TOKEN: &str = "corm/config";
    /// Timer: publish counters, age the MAC table, retry a failed reinit.
    const HOUSEKEEPING: u32 = 1;
    const HOUSEKEEPING_NS: u64 = 2 * NS_PER_SEC;
    /// Timer: poll the NIC when it has no interrupt.
    const POLL: u32 = 2;
    const POLL_NS: u64 = 1_000_000;
    /// Frames taken from the NIC per pass before looking at the wires again.
    const RX_BUDGET: usize = 64;
    /// How long pciback gets for the handshake.
    const PCI_TIMEOUT_NS: u64 = 30 * NS_PER_SEC;

    /// Receive coalescing (GRO) of the NIC's frames toward the endpoints: a
    /// TCP download crosses the wire and the guest's RX ring as 64 KiB GSO
    /// frames instead of MSS-sized ones. Static: its buffer is 64 KiB.
    static GRO: spin::Mutex<Coalescer<MAX_MERGED>> = spin::Mutex::new(Coalescer::new());

    /// A merged NIC frame (copied to `data`, any VLAN tag stripped) as a wire
    /// frame. Merged segments travel as Linux GRO leaves them
    /// (`tcp_gro_complete`): GSO metadata and a partial checksum (pseudo-header
    /// sum in the field), which netback passes on as `csum_blank |
    /// data_validated`; a single frame whose checksum verified is "validated".
    /// `None`: a merge whose headers cannot be located (dropped; cannot happen
    /// for what the coalescer merged).
    fn to_wire<'a>(data: &'a mut [u8], m: &Merged<'_>) -> Option<Frame<'a>> {
        let Some((kind, size)) = m.gso else {
            let f = Frame::new(data);
            return Some(if m.validated {
                f.with_checksum(Checksum::Validated)
            } else {
                f
            });
        };
        let loc = checksum::locate(data).ok()?;
        checksum::set_pseudo(data, &loc).ok()?;
        let kind = match kind {
            Kind::TcpV4 => GsoKind::TcpV4,
            Kind::TcpV6 => GsoKind::TcpV6,
        };
        Some(
            Frame::new(data)
                .with_checksum(Checksum::Partial {
                    start: loc.start,
                    offset: loc.offset,
                })
                .with_gso(Gso { kind, size }),
        )
    }

    /// A frame from an endpoint, held between the wire's poll and switching.
    struct Held {
        endpoint: u16,
        range: core::ops::Range<usize>,
        checksum: Checksum,
        gso: Option<Gso>,
    }

    fn fatal(what: &str, e: impl Display) -> ! {
        println!("CORM-FATAL {what}: {e}");
        runtime::shutdown(ShutdownReason::Crash)
    }

    fn main(rt: &mut Runtime) {
        let boot = now_ns();
        println!("CORM-BOOT domid={} cmdline={:?}", rt.domid(), rt.cmdline());
        let _ = rt.xs.write("data/banana/role", "corm");
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
            .write("data/banana/nic/model", &format!("{:?}", nic.kind));
        let _ = rt.xs.write("data/banana/nic/mac", &mac_text);
        let _ = rt
            .xs
            .write("data/banana/nic/irq", &format!("{:?}", nic.irq));

        let mut switch = Switch::new(SwitchConfig::default());
        let n = config::endpoints(rt);
        let mut ports = Ports::new(rt, n, &mut switch);
        let cfg_dir = config::config_dir(rt);
        if let Err(e) = rt.xs.watch(&cfg_dir, CONFIG_TOKEN) {
            println!("CORM: cannot watch {cfg_dir}: {e}");
        }
        ports.reconcile(rt, &mut switch);
        println!("CORM-READY endpoints={n}");
        let _ = rt.timers.arm(HOUSEKEEPING, now_ns() + HOUSEKEEPING_NS);
        if nic.irq == IrqMode::Poll {
            let _ = rt.timers.arm(POLL, now_ns() + POLL_NS);
        }
        let mut link = false;
        let mut counters = UplinkCounters::default();
        let mut arena: Vec<u8> = Vec::new();
        let mut held: Vec<Held> = Vec::new();
        let mut rx_buf: Vec<u8> = alloc::vec![0u8; MAX_MERGED];
        let mut needs_reinit = false;
        let mut more_rx = true;
        loop {
            let wake = rt.wait(if more_rx { Some(now_ns()) } else { None });
            if let Some(reason) = wake.shutdown {
                for (_, ch) in ports.channels.values_mut() {
                    ch.shutdown(rt);
                }
                quiesce(&mut front, rt, &nic);
                println!("CORM-SHUTDOWN {reason:?}");
                runtime::shutdown(reason);
            }
            let mut touched = !wake.watches.is_empty();
            for ev in &wake.watches {
                if ev.token == CONFIG_TOKEN {
                    ports.reconcile(rt, &mut switch);
                    continue;
                }
                for (_, ch) in ports.channels.values_mut() {
                    if ch.on_watch(rt, ev) {
                        break;
                    }
                }
            }
            if wake.timers.contains(&POLL) {
                let _ = rt.timers.arm(POLL, now_ns() + POLL_NS);
            }

            // The NIC: causes, then received frames to the endpoints.
            let ev = nic.nic.handle();
            if let Some(p) = &nic.pirq {
                if wake.ports.contains(p.port) || ev.ours {
                    p.eoi();
                }
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
                    .write("data/banana/nic/link", if link { "up" } else { "down" });
            }
            let now = now_ns();
            let mut gro = GRO.lock();
            let mut deliver = |m: Merged<'_>| {
                switch.ingress(Port::Uplink, m.frame, now, &mut |port, eg: Egress<'_>| {
                    let Port::Endpoint(ep) = port else { return };
                    let Some(wire) = ports.endpoints.get(&ep).and_then(|e| e.wire) else {
                        return;
                    };
                    let Some((_, ch)) = ports.channels.get_mut(&wire) else {
                        return;
                    };
                    let Some(len) = eg.write_to(&mut rx_buf[..]) else {
                        return;
                    };
                    if let Some(f) = to_wire(&mut rx_buf[..len], &m) {
                        ch.send_frame(rt, f);
                    }
                });
            };
            let got = nic
                .nic
                .receive(RX_BUDGET, &mut |frame| gro.push(frame, &mut deliver));
            gro.flush(&mut deliver);
            drop(gro);
            more_rx = got == RX_BUDGET;
            touched |= got > 0;

            // The wires: take what the Spikes sent, then switch it.
            arena.clear();
            held.clear();
            let ids: Vec<u32> = ports.channels.keys().copied().collect();
            for id in ids {
                let Some((ep, ch)) = ports.channels.get_mut(&id) else {
                    continue;
                };
                let fired = ch.port().is_some_and(|p| wake.ports.contains(p));
                if !(fired || touched) && ch.is_established() {
                    continue;
                }
                let ep = *ep;
                let out = ch.poll(rt, Some(&[]), |f| {
                    let start = arena.len();
                    arena.extend_from_slice(f.payload);
                    held.push(Held {
                        endpoint: ep,
                        range: start..arena.len(),
                        checksum: f.checksum,
                        gso: f.gso,
                    });
                });
                if out.established
                    || out.lost
                    || ch.is_established() != ports.endpoints.get(&ep).is_some_and(|e| e.registered)
                {
                    ports.sync_registration(id, &mut switch);
                    ports.publish_endpoints(rt);
                }
            }
            let now = now_ns();
            for h in &held {
                let payload = &arena[h.range.clone()];
                let mut frame = Frame::new(payload).with_checksum(h.checksum);
                if let Some(g) = h.gso {
                    frame = frame.with_gso(g);
                }
                switch.ingress(
                    Port::Endpoint(h.endpoint),
                    payload,
                    now,
                    &mut |port, eg: Egress<'_>| match port {
                        Port::Uplink => {
                            let vid = match eg {
                                Egress::Tagged { vid, .. } => Some(vid),
                                _ => None,
                            };
                            uplink::transmit(nic.nic.as_mut(), &frame, vid, &mut counters);
                        }
                        Port::Endpoint(to) => {
                            let Some(wire) = ports.endpoints.get(&to).and_then(|e| e.wire) else {
                                return;
                            };
                            if let Some((_, ch)) = ports.channels.get_mut(&wire) {
                                ch.send_frame(rt, frame);
                            }
                        }
                    },
                );
            }
            for (_, ch) in ports.channels.values_mut() {
                ch.flush(rt);
            }

            if wake.timers.contains(&HOUSEKEEPING) {
                switch.expire(now_ns());
                publish(rt, &nic.nic.counters(), &switch, &counters, &ports);
                let _ = rt.timers.arm(HOUSEKEEPING, now_ns() + HOUSEKEEPING_NS);
            }
        }
    }

    /// Stops the device's DMA before we go: bus mastering off, MSI(-X) off.
    fn quiesce(front: &mut PciFront, rt: &mut Runtime, nic: &OpenNic) {
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

    fn publish(
        rt: &mut Runtime,
        nicc: &NicCounters,
        switch: &Switch,
        up: &UplinkCounters,
        ports: &Ports,
    ) {
        let nic_list = [
            ("rx_frames", nicc.rx_frames),
            ("rx_bytes", nicc.rx_bytes),
            ("rx_errors", nicc.rx_errors),
            ("rx_dropped", nicc.rx_dropped),
            ("tx_frames", nicc.tx_frames),
            ("tx_bytes", nicc.tx_bytes),
            ("tx_full", nicc.tx_full),
            ("tx_dropped", nicc.tx_dropped),
            ("interrupts", nicc.interrupts),
            ("resets", nicc.resets),
            ("link_changes", nicc.link_changes),
        ];
        for (k, v) in nic_list.into_iter().chain(up.iter()) {
            let _ = rt
                .xs
                .write(&format!("data/banana/nic/counters/{k}"), &format!("{v}"));
        }
        for (k, v) in switch.counters().iter() {
            let _ = rt
                .xs
                .write(&format!("data/banana/switch/counters/{k}"), &format!("{v}"));
        }
        let _ = rt.xs.write(
            "data/banana/switch/macs",
            &format!("{}", switch.mac_table_len()),
        );
        for (id, (_, ch)) in &ports.channels {
            for (k, v) in ch.counters.iter() {
                let _ = rt.xs.write(
                    &format!("data/banana/wire/{id}/counters/{k}"),
                    &format!("{v}"),
                );
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("corm-domain is a Xen PV image: build it with --target x86_64-unknown-none");
    std::process::exit(2);
}
