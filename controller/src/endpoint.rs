//! The names an operator types: endpoints (`spike:NAME`, `corm:NAME/INDEX`,
//! and remote VTEPs, [`crate::vtep`]), domain names and PCI addresses, each
//! parsed once into a checked form.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::vtep::Vtep;

/// A domain name banana accepts. Kept to a safe alphabet because it ends up
/// in xl configs, xenstore paths, file names and endpoint strings.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadName(name.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Corm,
    Spike,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Corm => "corm",
            Kind::Spike => "spike",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Spike(String),
    Corm(String, u32),
    /// A remote VTEP: the far end of an encap wire, no domain's.
    Vtep(Vtep),
}

impl Endpoint {
    /// The kind and name of the domain the endpoint belongs to; `None` for
    /// a VTEP, which is outside this host.
    pub fn owner(&self) -> Option<(Kind, &str)> {
        match self {
            Endpoint::Spike(n) => Some((Kind::Spike, n)),
            Endpoint::Corm(n, _) => Some((Kind::Corm, n)),
            Endpoint::Vtep(_) => None,
        }
    }

    /// Whether the endpoint is one of this domain's.
    pub fn is_of(&self, kind: Kind, name: &str) -> bool {
        self.owner() == Some((kind, name))
    }

    /// The endpoint's index within its domain (a Spike has one, index 0;
    /// a VTEP is no domain's and has none: 0).
    pub fn index(&self) -> u32 {
        match self {
            Endpoint::Corm(_, i) => *i,
            Endpoint::Spike(_) | Endpoint::Vtep(_) => 0,
        }
    }

    pub fn vtep(&self) -> Option<&Vtep> {
        match self {
            Endpoint::Vtep(v) => Some(v),
            _ => None,
        }
    }
}

impl FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadEndpoint(s.to_string());
        if Vtep::looks_like(s) {
            let v = s.parse().map_err(|e| Error::BadVtep(s.to_string(), e))?;
            return Ok(Endpoint::Vtep(v));
        }
        let ep = if let Some(name) = s.strip_prefix("spike:") {
            Endpoint::Spike(name.to_string())
        } else if let Some(rest) = s.strip_prefix("corm:") {
            let (name, index) = rest.split_once('/').ok_or_else(bad)?;
            let index = index.parse().map_err(|_| bad())?;
            Endpoint::Corm(name.to_string(), index)
        } else {
            return Err(bad());
        };
        if let Some((_, name)) = ep.owner() {
            check_name(name).map_err(|_| bad())?;
        }
        Ok(ep)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Spike(n) => write!(f, "spike:{n}"),
            Endpoint::Corm(n, i) => write!(f, "corm:{n}/{i}"),
            Endpoint::Vtep(v) => v.fmt(f),
        }
    }
}

impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A PCI address, kept in xl's full `DDDD:BB:DD.F` form so that the same
/// device always compares and prints the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    pub domain: u16,
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
}

impl FromStr for Bdf {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadBdf(s.to_string());
        let hex = |p: &str, digits: usize| -> Result<u16, Error> {
            if p.is_empty() || p.len() > digits || !p.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            u16::from_str_radix(p, 16).map_err(|_| bad())
        };
        let (head, func) = s.rsplit_once('.').ok_or_else(bad)?;
        let parts: Vec<&str> = head.split(':').collect();
        let (domain, bus, dev) = match parts[..] {
            [d, b, v] => (hex(d, 4)?, hex(b, 2)?, hex(v, 2)?),
            [b, v] => (0, hex(b, 2)?, hex(v, 2)?),
            _ => return Err(bad()),
        };
        let func = hex(func, 1)?;
        if dev > 0x1f || func > 7 {
            return Err(bad());
        }
        Ok(Bdf {
            domain,
            bus: bus as u8,
            dev: dev as u8,
            func: func as u8,
        })
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.dev, self.func
        )
    }
}

/// A guest's unicast MAC address (`aa:bb:cc:dd:ee:ff`), as in the `mac=`
/// of its xl `vif` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

/// MACs a Spike announces at most (wire-proto's `MAX_MACS`).
pub const MAX_MACS: usize = 4;

impl FromStr for Mac {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadMac(s.to_string(), why.to_string());
        let mut mac = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(bad("expected six hex octets like 00:16:3e:00:00:01"));
        }
        for (o, p) in mac.iter_mut().zip(parts) {
            if p.len() != 2 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad("expected six hex octets like 00:16:3e:00:00:01"));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad("not hex"))?;
        }
        if mac[0] & 1 != 0 {
            return Err(bad("a group (multicast) address"));
        }
        if mac == [0; 6] {
            return Err(bad("all zeros"));
        }
        Ok(Mac(mac))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// IP addresses a Spike's guest may be given at most (the Corm's
/// `MAX_ENDPOINT_IPS`).
pub const MAX_IPS: usize = 8;

/// `--ip` values: each an IPv4 or IPv6 address a host can own (not
/// unspecified, broadcast, multicast or loopback), duplicates folded, at most
/// [`MAX_IPS`]. Written in canonical form, which the Corm parses strictly.
pub fn parse_ips(args: &[String]) -> Result<Vec<std::net::IpAddr>, Error> {
    use std::net::IpAddr;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in args {
        let bad = |why: &str| Error::BadIp(a.clone(), why.to_string());
        let ip: IpAddr = a
            .parse()
            .map_err(|_| bad("expected an IPv4 or IPv6 address like 10.0.0.2 or fe80::2"))?;
        let unusable = match ip {
            IpAddr::V4(v) => {
                v.is_unspecified() || v.is_broadcast() || v.is_multicast() || v.is_loopback()
            }
            IpAddr::V6(v) => v.is_unspecified() || v.is_multicast() || v.is_loopback(),
        };
        if unusable {
            return Err(bad(
                "not a host's own address (unspecified, broadcast, multicast or loopback)",
            ));
        }
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if ips.len() > MAX_IPS {
        return Err(Error::TooManyIps(ips.len()));
    }
    Ok(ips)
}

/// `--mac` values: each parsed, duplicates folded, at most [`MAX_MACS`].
pub fn parse_macs(args: &[String]) -> Result<Vec<Mac>, Error> {
    let mut macs: Vec<Mac> = Vec::new();
    for a in args {
        let m: Mac = a.parse()?;
        if !macs.contains(&m) {
            macs.push(m);
        }
    }
    if macs.len() > MAX_MACS {
        return Err(Error::TooManyMacs(macs.len()));
    }
    Ok(macs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_strict_unicast() {
        assert_eq!(
            "00:16:3E:00:00:0a".parse::<Mac>().unwrap().to_string(),
            "00:16:3e:00:00:0a"
        );
        for bad in [
            "",
            "00:16:3e:00:00",
            "00:16:3e:00:00:01:02",
            "0:16:3e:00:00:01",
            "00-16-3e-00-00-01",
            "zz:16:3e:00:00:01",
            "01:00:5e:00:00:01",
            "ff:ff:ff:ff:ff:ff",
            "00:00:00:00:00:00",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
        let six: Vec<String> = (1..=5).map(|i| format!("00:16:3e:00:00:0{i}")).collect();
        assert!(matches!(parse_macs(&six), Err(Error::TooManyMacs(5))));
        let dup = vec![
            "00:16:3e:00:00:01".to_string(),
            "00:16:3E:00:00:01".to_string(),
        ];
        assert_eq!(parse_macs(&dup).unwrap().len(), 1);
    }

    #[test]
    fn ips_are_strict_host_addresses() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = parse_ips(&args(&["10.0.0.2", "fe80::2", "10.0.0.2", "2001:db8::0:1"])).unwrap();
        let text: Vec<String> = ok.iter().map(|i| i.to_string()).collect();
        assert_eq!(text, ["10.0.0.2", "fe80::2", "2001:db8::1"]);
        for bad in [
            "",
            "10.0.0",
            "010.0.0.2",
            "10.0.0.2/24",
            "fe80::2%eth0",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "127.0.0.1",
            "::",
            "ff02::1",
        ] {
            assert!(
                matches!(parse_ips(&args(&[bad])), Err(Error::BadIp(..))),
                "{bad}"
            );
        }
        let nine: Vec<String> = (1..=9).map(|i| format!("10.0.0.{i}")).collect();
        assert!(matches!(parse_ips(&nine), Err(Error::TooManyIps(9))));
    }

    #[test]
    fn endpoints_round_trip_and_reject_junk() {
        for s in ["spike:s1", "corm:c0/3", "vxlan:42@10.77.0.1:4789"] {
            assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
        }
        assert!(matches!(
            "geneve:1@10.0.0.1:x".parse::<Endpoint>(),
            Err(Error::BadVtep(..))
        ));
        for s in [
            "s1",
            "spike:",
            "corm:c0",
            "corm:c0/x",
            "corm:/1",
            "spike:a/b",
            "vif:x",
        ] {
            assert!(
                matches!(s.parse::<Endpoint>(), Err(Error::BadEndpoint(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn bdfs_normalise() {
        assert_eq!(
            "00:03.0".parse::<Bdf>().unwrap().to_string(),
            "0000:00:03.0"
        );
        assert_eq!(
            "0000:0A:1f.7".parse::<Bdf>().unwrap().to_string(),
            "0000:0a:1f.7"
        );
        for s in [
            "",
            "0000:00:03",
            "00:20.0",
            "00:03.8",
            "x:00:03.0",
            "00000:00:03.0",
        ] {
            assert!(s.parse::<Bdf>().is_err(), "{s}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("corm-0.a_b").is_ok());
        for n in ["", "-x", "a b", "a/b", "a:b", "a\"b", &"x".repeat(65)] {
            assert!(check_name(n).is_err(), "{n}");
        }
    }
}
