//! A Corm's underlay: the IPv4 address (and prefix) it sends and receives
//! encapsulated frames from, on the untagged segment of its NIC, and an
//! optional gateway for remote VTEPs outside that prefix. `banana corm
//! create --underlay IP/PREFIX [--gateway IP]` sets it; the record keeps it
//! so a restart makes the same Corm, and the Corm reads it from its
//! `underlay` and `underlay-gateway` config keys.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// `10.77.0.40/24`: the Corm's own address and the length of its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// The underlay of one Corm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Underlay {
    pub cidr: Cidr,
    /// Next hop to remote VTEPs outside the prefix (`None`: on-link only).
    pub gateway: Option<Ipv4Addr>,
}

/// Why `--underlay` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadUnderlay {
    #[error("expected IP/PREFIX with an IPv4 address, e.g. 10.77.0.40/24")]
    Syntax,
    #[error("the prefix must be 1..=32")]
    Prefix,
    #[error("not a unicast host address (unspecified, broadcast, multicast or loopback)")]
    NotUnicast,
    #[error("the network or broadcast address of {0}: give the Corm a host address")]
    SubnetAddress(String),
}

/// Why `--gateway` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadGateway {
    #[error("expected an IPv4 address, e.g. 10.77.0.254")]
    Syntax,
    #[error("not a unicast host address (unspecified, broadcast, multicast or loopback)")]
    NotUnicast,
    #[error("not inside the underlay's prefix {0}")]
    Outside(String),
    #[error("it is the underlay address itself")]
    Own,
}

/// An address a host can have: not unspecified, limited broadcast,
/// multicast or loopback (RFC 1122 §3.2.1.3).
pub fn is_unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
}

impl Cidr {
    /// The prefix's mask (a /32 is all ones).
    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// The network this address is on, `10.77.0.0/24`.
    pub fn network(self) -> String {
        let net = Ipv4Addr::from(u32::from(self.addr) & self.mask());
        format!("{net}/{}", self.prefix)
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask() == 0
    }

    /// Whether the address is its subnet's network or broadcast address;
    /// /31 and /32 have neither (RFC 3021).
    fn is_subnet_address(self) -> bool {
        if self.prefix >= 31 {
            return false;
        }
        let host = u32::from(self.addr) & !self.mask();
        host == 0 || host == !self.mask()
    }
}

impl FromStr for Cidr {
    type Err = BadUnderlay;

    fn from_str(s: &str) -> Result<Self, BadUnderlay> {
        let (addr, prefix) = s.split_once('/').ok_or(BadUnderlay::Syntax)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| BadUnderlay::Syntax)?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadUnderlay::Syntax);
        }
        let prefix = prefix
            .parse::<u8>()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or(BadUnderlay::Prefix)?;
        let cidr = Cidr { addr, prefix };
        if !is_unicast(addr) {
            return Err(BadUnderlay::NotUnicast);
        }
        if cidr.is_subnet_address() {
            return Err(BadUnderlay::SubnetAddress(cidr.network()));
        }
        Ok(cidr)
    }
}

/// The canonical text the Corm parses (no leading zeros).
impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Underlay {
    /// Checks a gateway against the underlay it is for.
    pub fn with_gateway(cidr: Cidr, gateway: &str) -> Result<Self, BadGateway> {
        let gw: Ipv4Addr = gateway.parse().map_err(|_| BadGateway::Syntax)?;
        if !is_unicast(gw) {
            return Err(BadGateway::NotUnicast);
        }
        if !cidr.contains(gw) {
            return Err(BadGateway::Outside(cidr.network()));
        }
        if gw == cidr.addr {
            return Err(BadGateway::Own);
        }
        Ok(Underlay {
            cidr,
            gateway: Some(gw),
        })
    }

    /// The record's leaves as read back; anything garbled reads as no
    /// underlay (the Corm then has no tunnels: fail closed), a garbled
    /// gateway as none.
    pub fn from_record(underlay: Option<&str>, gateway: Option<&str>) -> Option<Self> {
        let cidr: Cidr = underlay?.parse().ok()?;
        Some(
            gateway
                .and_then(|g| Underlay::with_gateway(cidr, g).ok())
                .unwrap_or(Underlay {
                    cidr,
                    gateway: None,
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underlays_round_trip() {
        let c: Cidr = "10.77.0.40/024".parse().unwrap();
        assert_eq!(c.to_string(), "10.77.0.40/24");
        assert_eq!(c.network(), "10.77.0.0/24");
        assert_eq!(
            "10.0.0.1/32".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.1/32"
        );
        assert_eq!(
            "10.0.0.0/31".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/31"
        );
        assert_eq!("10.1.2.3/1".parse::<Cidr>().unwrap().network(), "0.0.0.0/1");
    }

    #[test]
    fn bad_underlays() {
        use BadUnderlay::*;
        for (s, e) in [
            ("", Syntax),
            ("10.77.0.40", Syntax),
            ("10.77.0.40/", Syntax),
            ("10.77.0.40/+24", Syntax),
            ("010.77.0.40/24", Syntax),
            ("fe80::1/64", Syntax),
            ("10.77.0.40/0", Prefix),
            ("10.77.0.40/33", Prefix),
            ("10.77.0.40/300", Prefix),
            ("0.0.0.0/8", NotUnicast),
            ("224.0.0.1/4", NotUnicast),
            ("127.0.0.1/8", NotUnicast),
            ("255.255.255.255/32", NotUnicast),
            ("10.77.0.0/24", SubnetAddress("10.77.0.0/24".into())),
            ("10.77.0.255/24", SubnetAddress("10.77.0.0/24".into())),
        ] {
            assert_eq!(s.parse::<Cidr>(), Err(e), "{s:?}");
        }
    }

    #[test]
    fn gateways_are_on_link_unicast() {
        let c: Cidr = "10.77.0.40/24".parse().unwrap();
        let u = Underlay::with_gateway(c, "10.77.0.254").unwrap();
        assert_eq!(u.gateway, Some(Ipv4Addr::new(10, 77, 0, 254)));
        for (g, e) in [
            ("10.77.1.1", BadGateway::Outside("10.77.0.0/24".into())),
            ("10.77.0.40", BadGateway::Own),
            ("224.0.0.1", BadGateway::NotUnicast),
            ("x", BadGateway::Syntax),
            ("10.77.0.254/24", BadGateway::Syntax),
        ] {
            assert_eq!(Underlay::with_gateway(c, g), Err(e), "{g}");
        }
    }

    #[test]
    fn garbled_records_fail_closed() {
        assert_eq!(Underlay::from_record(Some("junk"), Some("10.77.0.1")), None);
        let u = Underlay::from_record(Some("10.77.0.40/24"), Some("10.9.9.9")).unwrap();
        assert_eq!(u.gateway, None);
    }
}
