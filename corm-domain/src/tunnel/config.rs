//! What the controller configures: the Corm's underlay address
//! (`underlay`, `underlay-gateway`) and each encap wire (`tunnel/<id>/…`),
//! parsed strictly from hostile text.

use core::net::{Ipv4Addr, SocketAddrV4};
use xs_schema::config::tunnel as names;

use encap::{Encap, Vni};
use pv_runtime::xenstore::parse_decimal;

use super::MAX_TUNNELS;

/// The Corm's underlay address (`banana corm create --underlay`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnderlayConfig {
    pub addr: Ipv4Addr,
    /// Prefix length, 1..=32.
    pub prefix: u8,
    /// Where remote VTEPs outside the prefix are reached.
    pub gateway: Option<Ipv4Addr>,
    /// The underlay's MTU (largest IPv4 packet).
    pub mtu: u16,
}

fn unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

impl UnderlayConfig {
    /// `A.B.C.D/P` and an optional gateway, strictly: a unicast address, a
    /// prefix of 1..=32, a unicast gateway inside the prefix. The MTU is
    /// Ethernet's 1500.
    pub fn parse(addr: &str, gateway: Option<&str>) -> Option<Self> {
        let (ip, prefix) = addr.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let digits =
            !prefix.is_empty() && prefix.len() <= 2 && prefix.bytes().all(|b| b.is_ascii_digit());
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| digits && (1..=32).contains(p))?;
        let cfg = UnderlayConfig {
            addr: ip,
            prefix,
            gateway: None,
            mtu: 1500,
        };
        if !unicast(ip) {
            return None;
        }
        let gateway = match gateway {
            None => None,
            Some(g) => Some(
                g.parse()
                    .ok()
                    .filter(|g| unicast(*g) && cfg.on_link(*g) && *g != ip)?,
            ),
        };
        Some(UnderlayConfig { gateway, ..cfg })
    }

    /// Whether `ip` is in our prefix.
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }

    /// The address whose MAC frames to `remote` go to: itself on link,
    /// else the gateway (`None`: unreachable).
    pub fn next_hop(&self, remote: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.on_link(remote) {
            Some(remote)
        } else {
            self.gateway
        }
    }
}

/// `A.B.C.D:PORT`, a unicast address and a non-zero port.
fn parse_socket(text: &str) -> Option<SocketAddrV4> {
    let (ip, port) = text.split_once(':')?;
    let ip: Ipv4Addr = ip.parse().ok().filter(|a| unicast(*a))?;
    let port = parse_decimal(port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)?;
    Some(SocketAddrV4::new(ip, port))
}

/// One encap wire as the controller configured it (`tunnel/<id>/…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    /// The wire id.
    pub wire: u32,
    /// The Corm endpoint it serves.
    pub endpoint: u16,
    pub encap: Encap,
    pub vni: Vni,
    /// The remote VTEP and the UDP port we send to.
    pub remote: SocketAddrV4,
    /// The peer is a Banana Corm speaking Banana's in-band control (hellos,
    /// keepalives, epochs: `encap::control`), not a standard VTEP.
    pub control: bool,
    /// A tunnel wire: the Geneve packets travel inside WireGuard to this
    /// peer (`remote` is then its tunnel address, docs/tunnel.md).
    pub wireguard: Option<WireguardPeer>,
}

/// The WireGuard peer a tunnel wire goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireguardPeer {
    /// Its static public key.
    pub public: wireguard::PublicKey,
    /// Its underlay address and WireGuard port.
    pub endpoint: SocketAddrV4,
}

impl TunnelConfig {
    /// Wire `wire`'s tunnel from its config keys (`tunnel/<id>/{endpoint,
    /// encap,vni,remote,port}`, read by `key`), every value strict:
    /// `Err(why)` names the first key that is missing or malformed.
    pub fn from_keys(
        wire: u32,
        mut key: impl FnMut(&str) -> Option<alloc::string::String>,
    ) -> Result<Self, alloc::string::String> {
        use alloc::format;
        let mut get = |k: &str| {
            key(k).ok_or_else(|| format!("{}/{k} missing", xs_schema::config::tunnel(wire)))
        };
        let bad = |k: &str, v: &str| format!("{}/{k} = {v:?}", xs_schema::config::tunnel(wire));
        let endpoint = get(names::ENDPOINT)?;
        let endpoint = parse_decimal(&endpoint)
            .and_then(|e| u16::try_from(e).ok())
            .filter(|e| usize::from(*e) < MAX_TUNNELS)
            .ok_or_else(|| bad(names::ENDPOINT, &endpoint))?;
        let kind = get(names::ENCAP)?;
        let encap = match kind.as_str() {
            "vxlan" => Encap::Vxlan,
            "geneve" => Encap::Geneve,
            _ => return Err(bad(names::ENCAP, &kind)),
        };
        let vni = get(names::VNI)?;
        let vni = parse_decimal(&vni)
            .and_then(Vni::new)
            .ok_or_else(|| bad(names::VNI, &vni))?;
        let remote = get(names::REMOTE)?;
        let ip: Ipv4Addr = remote
            .parse()
            .ok()
            .filter(|a| unicast(*a))
            .ok_or_else(|| bad(names::REMOTE, &remote))?;
        let port = get(names::PORT)?;
        let port = parse_decimal(&port)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(names::PORT, &port))?;
        // Absent for a standard VTEP.
        let control = match key(names::CONTROL).as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(v) => return Err(bad(names::CONTROL, v)),
        };
        // Both or neither: a tunnel wire names its peer's key and endpoint.
        let wireguard = match (key(names::WIREGUARD_PEER), key(names::WIREGUARD_ENDPOINT)) {
            (None, None) => None,
            (Some(public), Some(endpoint)) => Some(WireguardPeer {
                public: wireguard::PublicKey::from_base64(&public)
                    .ok_or_else(|| bad(names::WIREGUARD_PEER, "<not a key>"))?,
                endpoint: parse_socket(&endpoint)
                    .ok_or_else(|| bad(names::WIREGUARD_ENDPOINT, &endpoint))?,
            }),
            (Some(_), None) => {
                return Err(format!(
                    "{}/{} missing",
                    xs_schema::config::tunnel(wire),
                    names::WIREGUARD_ENDPOINT
                ))
            }
            (None, Some(_)) => {
                return Err(format!(
                    "{}/{} missing",
                    xs_schema::config::tunnel(wire),
                    names::WIREGUARD_PEER
                ))
            }
        };
        if wireguard.is_some() && encap != Encap::Geneve {
            return Err(bad(names::ENCAP, "vxlan inside wireguard"));
        }
        Ok(TunnelConfig {
            wire,
            endpoint,
            encap,
            vni,
            remote: SocketAddrV4::new(ip, port),
            control,
            wireguard,
        })
    }
}
