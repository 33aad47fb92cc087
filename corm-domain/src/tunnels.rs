//! The Corm's encap wires as the domain sets them up: the underlay address
//! read once at boot, the tunnels (`tunnel/<id>/…` in our config) added to
//! and removed from the data plane as the controller changes them. A tunnel
//! needs no handshake with a standard VTEP: it is up once configured.

use alloc::format;
use alloc::vec::Vec;

use corm_domain::dataplane::Dataplane;
use corm_domain::tunnel::wg::{self, Wireguard};
use corm_domain::tunnel::{TunnelConfig, TunnelEventKind, Underlay};
use local_wire::RawMemory;
use pv_runtime::println;
use pv_runtime::runtime::Runtime;

use crate::config;

/// Gives the data plane the underlay the controller configured, if any,
/// with our WireGuard interface for tunnel wires if we have a key.
pub fn start(
    rt: &mut Runtime,
    dp: &mut Dataplane<RawMemory>,
    mac: [u8; 6],
    identity: Option<crate::wireguard_keys::Identity>,
) {
    match config::underlay(rt) {
        Ok(Some(cfg)) => {
            let mut underlay = Underlay::new(cfg, mac, epoch());
            if let Some(id) = identity {
                match config::wireguard_address(rt) {
                    Ok(Some(addr)) => {
                        println!("CORM-WIREGUARD-UP address={addr} port={}", wg::PORT);
                        underlay.set_wireguard(Wireguard::new(id.interface(), addr));
                    }
                    Ok(None) => println!(
                        "CORM-CONFIG-ERROR a tunnel key but no wireguard-address: no tunnel wires"
                    ),
                    Err(why) => println!("CORM-CONFIG-ERROR {why}: no tunnel wires"),
                }
            }
            println!(
                "CORM-UNDERLAY addr={}/{} gateway={} mtu={}",
                cfg.addr,
                cfg.prefix,
                cfg.gateway
                    .map_or(alloc::string::String::from("none"), |g| format!("{g}")),
                cfg.mtu
            );
            dp.set_underlay(Some(underlay));
        }
        Ok(None) if identity.is_some() => {
            println!("CORM-CONFIG-ERROR a tunnel key but no underlay: no tunnel wires")
        }
        Ok(None) => {}
        Err(why) => println!("CORM-CONFIG-ERROR {why}: no underlay, no tunnels"),
    }
}

/// A new WireGuard key from the controller (`banana corm rekey`): taken
/// and deleted as at boot; every session ends and is made again with it.
pub fn rekey(rt: &mut Runtime, dp: &mut Dataplane<RawMemory>) {
    // Nothing unless the secrets directory is back: take() says nothing then.
    let Some(id) = crate::wireguard_keys::take(rt) else {
        return;
    };
    match dp.underlay_mut().and_then(|u| u.wireguard_mut()) {
        Some(wg) => {
            wg.rekey(id.key, id.rng);
            println!("CORM-WIREGUARD-REKEYED");
        }
        None => println!("CORM-CONFIG-ERROR a new tunnel key but no WireGuard interface (no underlay or tunnel address at boot)"),
    }
}

/// This start's epoch: Xen's system time in milliseconds (it counts from
/// the host's boot, so a restarted Corm's is newer; it wraps after 49 days,
/// which RFC 1982 comparison tolerates).
fn epoch() -> u32 {
    (pv_runtime::time::now_ns() / 1_000_000) as u32
}

fn state_key(wire: u32) -> alloc::string::String {
    xs_schema::data::tunnel(wire)
}

/// Adds the configured tunnels that are new, removes those gone or changed.
pub fn reconcile(rt: &mut Runtime, dp: &mut Dataplane<RawMemory>) {
    let mut want: Vec<TunnelConfig> = Vec::new();
    for t in config::tunnels(rt) {
        match t {
            Ok(t) => want.push(t),
            Err(why) => println!("CORM-CONFIG-ERROR {why}: tunnel not served"),
        }
    }
    let mut have: Vec<TunnelConfig> = dp
        .underlay()
        .map(|u| u.tunnels().copied().collect())
        .unwrap_or_default();
    // A tunnel wire whose peer only has a new key (`banana corm rekey` on
    // the other side) keeps its state: its control goes on with the same
    // sequence, which a re-added wire would restart (and the peer would
    // take for stale).
    for w in &want {
        let Some(h) = have.iter_mut().find(|h| h.wire == w.wire) else {
            continue;
        };
        let same_but_key = TunnelConfig {
            wireguard: w.wireguard,
            ..*h
        } == *w;
        if *h != *w && same_but_key && h.wireguard.is_some() {
            if let (Some(u), Some(peer)) = (dp.underlay_mut(), w.wireguard) {
                match u.update_peer(w.wire, peer) {
                    Ok(()) => {
                        println!(
                            "CORM-TUNNEL-PEER-KEY wire={} public-key={}",
                            w.wire,
                            peer.public.to_base64().as_str()
                        );
                        *h = *w;
                    }
                    Err(e) => println!("CORM-CONFIG-ERROR tunnel {}: {e}", w.wire),
                }
            }
        }
    }
    for t in have.iter().filter(|t| !want.contains(t)) {
        dp.remove_tunnel(t.wire, pv_runtime::time::now_ns());
        let _ = rt.xs.rm(&state_key(t.wire));
        println!(
            "CORM-TUNNEL-REMOVED wire={} endpoint={}",
            t.wire, t.endpoint
        );
    }
    for t in want.iter().filter(|t| !have.contains(t)) {
        match dp.add_tunnel(*t) {
            Ok(()) => {
                let kind = match t.encap {
                    encap::Encap::Vxlan => "vxlan",
                    encap::Encap::Geneve => "geneve",
                };
                println!(
                    "CORM-TUNNEL-UP wire={} endpoint={} encap={kind} vni={} remote={}{}",
                    t.wire,
                    t.endpoint,
                    t.vni.get(),
                    t.remote,
                    if t.control { " control=on" } else { "" }
                );
                // A standard VTEP says nothing: up once configured. A Corm
                // peer is up when its control answers (`events`).
                let state = if t.control { "down" } else { "up" };
                let _ = rt.xs.write(&format!("{}/state", state_key(t.wire)), state);
            }
            Err(e) => println!("CORM-CONFIG-ERROR tunnel {}: {e}", t.wire),
        }
    }
}

/// Reports the tunnels' peers' changes: a console line each, and the
/// tunnel's state for `banana status`.
pub fn events(rt: &mut Runtime, dp: &mut Dataplane<RawMemory>) {
    while let Some(ev) = dp.take_tunnel_event() {
        let (what, state) = match ev.kind {
            TunnelEventKind::Up => ("UP", "up"),
            TunnelEventKind::Restarted => ("RESTARTED", "up"),
            TunnelEventKind::Closed => ("CLOSED", "down"),
            TunnelEventKind::Dead => ("DEAD", "down"),
        };
        println!("CORM-TUNNEL-PEER-{what} wire={}", ev.wire);
        let _ = rt.xs.write(&format!("{}/state", state_key(ev.wire)), state);
    }
}
