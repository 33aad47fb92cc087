//! The Corm's configuration from the controller (controller/README.md):
//! `banana.endpoints=N` on the command line, and under
//! `/banana/config/<domid>/` (dom0-owned, readable by us only)
//! `capture`, `flood`, `local-vlans`, `underlay`, `underlay-gateway`, `tunnel/<id>/…`, `endpoint/<i>/vlan` and `wire/<id>/{side,peer-domid,endpoint,peer-macs,peer-ips}`.
//! Every value is hostile text, parsed strictly; a bad one is reported and
//! ignored, never half-applied.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use corm_domain::switch::flood::FloodLimit;
use corm_domain::switch::MAX_VID;
use corm_domain::tunnel::{TunnelConfig, UnderlayConfig};
use local_wire::domain::{configured_wires, ConfiguredWire};
use local_wire::RingPages;
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::xenstore::{parse_decimal, Errno, XsError};
use xs_schema::config;

/// Endpoints a Corm offers at most (each costs a wire's ring when wired).
pub const MAX_ENDPOINTS: u16 = corm_domain::dataplane::MAX_ENDPOINTS as u16;

pub fn config_dir(rt: &Runtime) -> String {
    config::dir(u32::from(rt.domid()))
}

/// `banana.endpoints=N` (1..=[`MAX_ENDPOINTS`]; default 1).
pub fn endpoints(rt: &Runtime) -> u16 {
    match rt.arg("banana.endpoints").map(parse_decimal) {
        None => 1,
        Some(Some(n)) if (1..=u32::from(MAX_ENDPOINTS)).contains(&n) => n as u16,
        Some(v) => {
            println!("CORM-CONFIG-ERROR banana.endpoints={v:?}: using 1");
            1
        }
    }
}

/// The flood limit (storm control) the operator chose with `banana corm
/// create --flood RATE/BURST`, from the `flood` key: `Ok(None)` when absent
/// (the switch's default). A malformed value or a failed read is `Err(why)`;
/// the caller keeps the default rather than run unlimited.
pub fn flood(rt: &mut Runtime) -> Result<Option<FloodLimit>, String> {
    let path = format!("{}/{}", config_dir(rt), config::FLOOD);
    match rt.xs.read(&path) {
        Err(XsError::Xenstored(Errno::ENOENT)) => Ok(None),
        Err(e) => Err(format!("cannot read {path}: {e}")),
        Ok(v) => FloodLimit::parse(&v)
            .map(Some)
            .ok_or_else(|| format!("{path} = {v:?}")),
    }
}

/// What `banana capture` asks us to tap (`capture` = `ENDPOINT SNAPLEN`):
/// `Ok(None)` when nothing is.
pub fn capture(rt: &mut Runtime, endpoints: u16) -> Result<Option<(u16, u32)>, String> {
    match optional(rt, config::CAPTURE)? {
        None => Ok(None),
        Some(v) => corm_domain::dataplane::tap::parse_target(&v, endpoints)
            .map(Some)
            .ok_or_else(|| format!("{}/{} = {v:?}", config_dir(rt), config::CAPTURE)),
    }
}

/// A key of our config that may be absent: `Ok(None)` then.
fn optional(rt: &mut Runtime, key: &str) -> Result<Option<String>, String> {
    let path = format!("{}/{key}", config_dir(rt));
    match rt.xs.read(&path) {
        Err(XsError::Xenstored(Errno::ENOENT)) => Ok(None),
        Err(e) => Err(format!("cannot read {path}: {e}")),
        Ok(v) => Ok(Some(v)),
    }
}

/// The VLANs kept off the uplink (`local-vlans` = `VID,VID,…`, from
/// `banana corm create --local-vlan`): segments of our endpoints only.
/// Absent: none. Malformed: `Err(why)` and none.
pub fn local_vlans(rt: &mut Runtime) -> Result<Vec<u16>, String> {
    let Some(text) = optional(rt, config::LOCAL_VLANS)? else {
        return Ok(Vec::new());
    };
    let vids: Option<Vec<u16>> = text
        .split(',')
        .map(|v| {
            parse_decimal(v)
                .filter(|v| (1..=u32::from(MAX_VID)).contains(v))
                .map(|v| v as u16)
        })
        .collect();
    vids.filter(|v| v.len() <= usize::from(MAX_ENDPOINTS))
        .ok_or_else(|| format!("local-vlans = {text:?}"))
}

/// Our tunnel address (`wireguard-address` = `A.B.C.D`, from `banana corm
/// create --tunnel-key`): the inner source of our tunnel wires. `Ok(None)`
/// when absent; malformed: `Err(why)`.
pub fn wireguard_address(rt: &mut Runtime) -> Result<Option<core::net::Ipv4Addr>, String> {
    let Some(text) = optional(rt, config::WIREGUARD_ADDRESS)? else {
        return Ok(None);
    };
    text.parse::<core::net::Ipv4Addr>()
        .ok()
        .filter(|a| {
            !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
        })
        .map(Some)
        .ok_or_else(|| format!("{} = {text:?}", config::WIREGUARD_ADDRESS))
}

/// Our underlay address (`underlay` = `A.B.C.D/P`, `underlay-gateway`),
/// from `banana corm create --underlay`: `Ok(None)` without one (no
/// tunnels then). Malformed: `Err(why)`, and no underlay.
pub fn underlay(rt: &mut Runtime) -> Result<Option<UnderlayConfig>, String> {
    let Some(addr) = optional(rt, config::UNDERLAY)? else {
        return Ok(None);
    };
    let gateway = optional(rt, config::UNDERLAY_GATEWAY)?;
    UnderlayConfig::parse(&addr, gateway.as_deref())
        .map(Some)
        .ok_or_else(|| format!("underlay = {addr:?}, underlay-gateway = {gateway:?}"))
}

/// The configured encap wires (`tunnel/<id>/…`), each parsed strictly; a
/// malformed one is `Err(why)` (reported, not served).
pub fn tunnels(rt: &mut Runtime) -> Vec<Result<TunnelConfig, String>> {
    let dir = format!("{}/{}", config_dir(rt), config::TUNNELS);
    let ids = match rt.xs.directory(&dir) {
        Ok(ids) => ids,
        Err(XsError::Xenstored(Errno::ENOENT)) => return Vec::new(),
        Err(e) => return alloc::vec![Err(format!("cannot list {dir}: {e}"))],
    };
    ids.iter()
        .map(|id| {
            let wire = parse_decimal(id).ok_or_else(|| format!("{dir}/{id}: not a wire id"))?;
            TunnelConfig::from_keys(wire, |k| rt.xs.read(&format!("{dir}/{id}/{k}")).ok())
        })
        .collect()
}

/// Endpoint `i`'s VLAN: `Ok(None)` (untagged) only when the key is absent.
/// A malformed value, or any other read error (a timeout, a permission
/// error), is `Err(why)`: the endpoint is not served, so neither a typo nor
/// a flaky read can ever put a guest on the untagged segment (fail closed).
pub fn vlan(rt: &mut Runtime, i: u16) -> Result<Option<u16>, String> {
    let path = format!("{}/{}", config_dir(rt), config::endpoint_vlan(u32::from(i)));
    match rt.xs.read(&path) {
        Err(XsError::Xenstored(Errno::ENOENT)) => Ok(None),
        Err(e) => Err(format!("cannot read {path}: {e}")),
        Ok(v) => match parse_decimal(&v) {
            Some(id) if (1..=u32::from(MAX_VID)).contains(&id) => Ok(Some(id as u16)),
            _ => Err(v),
        },
    }
}

/// The guest MACs the controller lets wire `wire`'s Spike announce
/// (`wire/<id>/peer-macs`, comma-separated; the controller owns them, not
/// the Spike). Absent means none: every hello is refused, so a wire the
/// controller did not describe fully carries nothing (fail closed). A
/// malformed list is `Err(why)` and also allows none.
pub fn peer_macs(rt: &mut Runtime, wire: u32) -> Result<Vec<netframe::Mac>, String> {
    let path = format!(
        "{}/{}/{}",
        config_dir(rt),
        config::wire(wire),
        config::wire::PEER_MACS
    );
    let text = match rt.xs.read(&path) {
        Err(XsError::Xenstored(Errno::ENOENT)) => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {path}: {e}")),
        Ok(v) => v,
    };
    let macs: Option<Vec<_>> = text.split(',').map(netframe::parse_mac).collect();
    match macs {
        Some(m)
            if m.len() <= wire_proto::MAX_MACS && m.iter().all(netframe::eth::is_valid_source) =>
        {
            Ok(m)
        }
        _ => Err(format!("{path} = {text:?}")),
    }
}

/// The IP addresses the controller says wire `wire`'s guest owns
/// (`wire/<id>/peer-ips`, comma-separated IPv4 or IPv6 addresses; from
/// `banana spike create --ip`, as a vif's `ip=`). The switch then drops ARP
/// and ND claiming them for any other MAC (`switch::ipguard`). Absent or
/// empty means none configured (DHCP snooping and first claims still
/// apply); a malformed list is `Err(why)`.
pub fn peer_ips(rt: &mut Runtime, wire: u32) -> Result<Vec<core::net::IpAddr>, String> {
    let path = format!(
        "{}/{}/{}",
        config_dir(rt),
        config::wire(wire),
        config::wire::PEER_IPS
    );
    let text = match rt.xs.read(&path) {
        Err(XsError::Xenstored(Errno::ENOENT)) => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {path}: {e}")),
        Ok(v) => v,
    };
    parse_ips(&text).ok_or_else(|| format!("{path} = {text:?}"))
}

/// `a,b,…` of IP addresses in their canonical text forms; `""` is none.
fn parse_ips(text: &str) -> Option<Vec<core::net::IpAddr>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    let ips: Option<Vec<_>> = text.split(',').map(|s| s.parse().ok()).collect();
    ips.filter(|v| v.len() <= corm_domain::switch::MAX_ENDPOINT_IPS)
}

/// The configured wires, each with the endpoint it serves.
pub fn wires(rt: &mut Runtime) -> Vec<ConfiguredWire> {
    // The Corm is always side A: it offers rings that hold any legal frame,
    // as large as the acceptor maps (up to 256 KiB per direction).
    let dir = config_dir(rt);
    configured_wires(rt, &dir, RingPages::PREFERRED, "CORM")
}
