//! A remote VTEP, the far end of an encap wire: `vxlan:VNI@IPv4[:PORT]` or
//! `geneve:VNI@IPv4[:PORT]`. It is no domain's endpoint: the Corm at the
//! wire's other end encapsulates the endpoint's frames to it over UDP from
//! its underlay address, and decapsulates what it sends back.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::underlay::is_unicast;

/// The encapsulation a tunnel uses; both carry a 24-bit VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encap {
    /// RFC 7348.
    Vxlan,
    /// RFC 8926.
    Geneve,
}

impl Encap {
    pub fn as_str(self) -> &'static str {
        match self {
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
        }
    }

    /// The IANA-assigned UDP destination port: 4789 for VXLAN (RFC 7348
    /// §5), 6081 for Geneve (RFC 8926 §3.3). Linux's `vxlan` device and
    /// most switches listen there unless told otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Encap::Vxlan => 4789,
            Encap::Geneve => 6081,
        }
    }
}

/// `geneve` or `vxlan`, as `--encap` takes it and the wire record keeps it.
impl FromStr for Encap {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [Encap::Vxlan, Encap::Geneve]
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A remote VTEP: encapsulation, VNI, its underlay address and UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vtep {
    pub encap: Encap,
    pub vni: u32,
    pub remote: Ipv4Addr,
    pub port: u16,
}

impl Vtep {
    /// VNIs are 24 bits in both headers (RFC 7348 §5, RFC 8926 §3.4).
    pub const MAX_VNI: u32 = (1 << 24) - 1;
}

/// Why a VTEP text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadVtep {
    #[error("expected vxlan:VNI@IPv4[:PORT] or geneve:VNI@IPv4[:PORT]")]
    Syntax,
    #[error("the VNI must be decimal 0..=16777215")]
    Vni,
    #[error("the remote must be a unicast IPv4 address, e.g. 10.77.0.1")]
    Remote,
    #[error("the port must be decimal 1..=65535")]
    Port,
}

impl Vtep {
    /// Parses the text after `vxlan:` or `geneve:`: `VNI@IPv4[:PORT]`.
    fn parse(encap: Encap, rest: &str) -> Result<Self, BadVtep> {
        let (vni, addr) = rest.split_once('@').ok_or(BadVtep::Syntax)?;
        let (remote, port) = match addr.split_once(':') {
            Some((r, p)) => (r, Some(p)),
            None => (addr, None),
        };
        let remote: Ipv4Addr = remote.parse().map_err(|_| BadVtep::Remote)?;
        if !is_unicast(remote) {
            return Err(BadVtep::Remote);
        }
        Ok(Vtep {
            encap,
            vni: decimal(vni, Self::MAX_VNI).ok_or(BadVtep::Vni)?,
            remote,
            port: match port {
                None => encap.default_port(),
                Some(p) => decimal(p, u16::MAX.into())
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|&p| p != 0)
                    .ok_or(BadVtep::Port)?,
            },
        })
    }

    /// Whether a text is meant as a VTEP (then its errors are a VTEP's).
    pub fn looks_like(s: &str) -> bool {
        encap_of(s).is_some()
    }
}

/// The encapsulation a text starts with, and the rest.
fn encap_of(s: &str) -> Option<(Encap, &str)> {
    [Encap::Vxlan, Encap::Geneve].into_iter().find_map(|e| {
        s.strip_prefix(e.as_str())
            .and_then(|r| r.strip_prefix(':'))
            .map(|r| (e, r))
    })
}

/// Plain decimal digits (no sign, no blanks) up to `max`.
fn decimal(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n <= max)
}

impl FromStr for Vtep {
    type Err = BadVtep;
    fn from_str(s: &str) -> Result<Self, BadVtep> {
        let (encap, rest) = encap_of(s).ok_or(BadVtep::Syntax)?;
        Vtep::parse(encap, rest)
    }
}

/// Canonical: the port is always written, so a wire record names one
/// VTEP one way whatever the operator typed.
impl fmt::Display for Vtep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}@{}:{}",
            self.encap, self.vni, self.remote, self.port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vteps_are_written_with_their_port() {
        for (given, canonical) in [
            ("vxlan:42@10.77.0.1", "vxlan:42@10.77.0.1:4789"),
            ("geneve:42@10.77.0.1", "geneve:42@10.77.0.1:6081"),
            ("vxlan:0@10.77.0.1:8472", "vxlan:0@10.77.0.1:8472"),
            (
                "vxlan:016777215@10.77.0.1:04789",
                "vxlan:16777215@10.77.0.1:4789",
            ),
            ("geneve:7@192.0.2.9:65535", "geneve:7@192.0.2.9:65535"),
        ] {
            let v: Vtep = given.parse().unwrap();
            assert_eq!(v.to_string(), canonical);
            assert_eq!(canonical.parse::<Vtep>().unwrap(), v);
        }
    }

    #[test]
    fn bad_vteps_say_what_is_wrong() {
        use BadVtep::*;
        for (s, e) in [
            ("vxlan:", Syntax),
            ("vxlan:42", Syntax),
            ("gre:42@10.0.0.1", Syntax),
            ("vxlan42@10.0.0.1", Syntax),
            ("vxlan:@10.0.0.1", Vni),
            ("vxlan:-1@10.0.0.1", Vni),
            ("vxlan:+1@10.0.0.1", Vni),
            ("vxlan:16777216@10.0.0.1", Vni),
            ("vxlan:0x2a@10.0.0.1", Vni),
            ("vxlan:42@", Remote),
            ("vxlan:42@10.0.0", Remote),
            ("vxlan:42@fe80::1", Remote),
            ("vxlan:42@[fe80::1]:4789", Remote),
            ("vxlan:42@224.0.0.1", Remote),
            ("vxlan:42@0.0.0.0", Remote),
            ("vxlan:42@127.0.0.1", Remote),
            ("vxlan:42@255.255.255.255", Remote),
            ("vxlan:42@10.0.0.1:", Port),
            ("vxlan:42@10.0.0.1:0", Port),
            ("vxlan:42@10.0.0.1:65536", Port),
            ("vxlan:42@10.0.0.1:4789:1", Port),
            ("vxlan:42@10.0.0.1:+1", Port),
        ] {
            assert_eq!(s.parse::<Vtep>(), Err(e), "{s:?}");
        }
    }
}
