//! The names an operator types: endpoints (`spike:NAME`, `corm:NAME/INDEX`),
//! domain names and PCI addresses, each parsed once into a checked form.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

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
}

impl Endpoint {
    pub fn kind(&self) -> Kind {
        match self {
            Endpoint::Spike(_) => Kind::Spike,
            Endpoint::Corm(..) => Kind::Corm,
        }
    }
    pub fn domain(&self) -> &str {
        match self {
            Endpoint::Spike(n) | Endpoint::Corm(n, _) => n,
        }
    }
    /// The endpoint's index within its domain (a Spike has one, index 0).
    pub fn index(&self) -> u32 {
        match self {
            Endpoint::Spike(_) => 0,
            Endpoint::Corm(_, i) => *i,
        }
    }
}

impl FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadEndpoint(s.to_string());
        let ep = if let Some(name) = s.strip_prefix("spike:") {
            Endpoint::Spike(name.to_string())
        } else if let Some(rest) = s.strip_prefix("corm:") {
            let (name, index) = rest.split_once('/').ok_or_else(bad)?;
            let index = index.parse().map_err(|_| bad())?;
            Endpoint::Corm(name.to_string(), index)
        } else {
            return Err(bad());
        };
        check_name(ep.domain()).map_err(|_| bad())?;
        Ok(ep)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Spike(n) => write!(f, "spike:{n}"),
            Endpoint::Corm(n, i) => write!(f, "corm:{n}/{i}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_round_trip_and_reject_junk() {
        for s in ["spike:s1", "corm:c0/3"] {
            assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
        }
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
