//! What the switch is told: its own configuration (MAC table, aging, flood
//! limits), each endpoint's (VLAN, MACs), and why a configuration is refused.

use core::net::IpAddr;

use thiserror::Error;

use super::flood::FloodLimit;
use super::frame::Mac;
use super::MAX_ENDPOINT_MACS;

/// An endpoint's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The VLAN (`1..=4094`) the endpoint is an access port of; `None` for the
    /// untagged segment.
    pub vlan: Option<u16>,
    /// The source MACs the endpoint may use (the Spike's wire hello). Frames
    /// from any other source are dropped.
    pub macs: heapless::Vec<Mac, MAX_ENDPOINT_MACS>,
}

/// The switch's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchConfig {
    /// MAC-table entries, allocated at construction (0: never learn, flood
    /// everything).
    pub mac_capacity: usize,
    /// An entry not seen as a source for longer than this is forgotten
    /// (`u64::MAX`: never).
    pub aging_ns: u64,
    /// Floods allowed per ingress port.
    pub flood: FloodLimit,
}

impl Default for SwitchConfig {
    /// 1024 entries, 802.1D's default 300 s aging, 1000 floods/s with a burst
    /// of 256 per port (ARP/ND and DHCP fit easily; a storm does not).
    fn default() -> Self {
        Self {
            mac_capacity: 1024,
            aging_ns: 300_000_000_000,
            flood: FloodLimit {
                rate: 1000,
                burst: 256,
            },
        }
    }
}

/// A refused endpoint (re)configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("VLAN id {0} is outside 1..=4094")]
    BadVlan(u16),
    #[error("MAC {0:02x?} is a group or all-zero address")]
    BadMac(Mac),
    #[error("MAC {mac:02x?} is already registered to endpoint {endpoint} in that VLAN")]
    MacInUse { mac: Mac, endpoint: u16 },
    #[error("endpoint {0} already exists")]
    EndpointExists(u16),
    #[error("no endpoint {0}")]
    UnknownEndpoint(u16),
    #[error("IP address {0} is not a host's own (unspecified, broadcast, multicast, loopback)")]
    BadIp(IpAddr),
    #[error("IP address {ip} is already configured for endpoint {endpoint} in that VLAN")]
    IpInUse { ip: IpAddr, endpoint: u16 },
    #[error("{0} IP addresses for one endpoint: at most 8")]
    TooManyIps(usize),
}
