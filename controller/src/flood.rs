//! A Corm's flood limit (storm control): how many broadcast, multicast and
//! unknown-unicast frames per second each of its ports may make it copy, and
//! how many back to back. `banana corm create --flood RATE/BURST` sets it;
//! the record keeps it so a restart makes the same Corm, and the Corm reads
//! it from its `flood` config key (its switch's `FloodLimit`, which parses
//! the same text and refuses the same values).

use std::fmt;
use std::str::FromStr;

/// Floods per second per port, up to `burst` back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimit {
    pub rate: u32,
    pub burst: u32,
}

impl FloodLimit {
    pub const MAX_RATE: u32 = 1_000_000;
    pub const MAX_BURST: u32 = 65_535;
}

/// Why `--flood` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected RATE/BURST with RATE in 1..={} floods/s and BURST in 1..={}",
    FloodLimit::MAX_RATE,
    FloodLimit::MAX_BURST
)]
pub struct BadFloodLimit;

impl FromStr for FloodLimit {
    type Err = BadFloodLimit;

    fn from_str(s: &str) -> Result<Self, BadFloodLimit> {
        let (rate, burst) = s.split_once('/').ok_or(BadFloodLimit)?;
        let number = |t: &str, max: u32| {
            let digits = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
            t.parse::<u32>()
                .ok()
                .filter(|n| digits && (1..=max).contains(n))
                .ok_or(BadFloodLimit)
        };
        Ok(FloodLimit {
            rate: number(rate, Self::MAX_RATE)?,
            burst: number(burst, Self::MAX_BURST)?,
        })
    }
}

/// The canonical text the Corm parses (no leading zeros).
impl fmt::Display for FloodLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.rate, self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let l: FloodLimit = "200/64".parse().unwrap();
        assert_eq!(
            l,
            FloodLimit {
                rate: 200,
                burst: 64
            }
        );
        assert_eq!(l.to_string(), "200/64");
        // Leading zeros are accepted from an operator, written canonically.
        assert_eq!(
            "0200/064".parse::<FloodLimit>().unwrap().to_string(),
            "200/64"
        );
    }

    #[test]
    fn refuses_what_the_corm_would() {
        for bad in [
            "",
            "200",
            "/1",
            "1/",
            "0/1",
            "1/0",
            "1000001/1",
            "1/65536",
            "+1/1",
            "-1/1",
            "1/1/1",
            "a/b",
        ] {
            assert_eq!(bad.parse::<FloodLimit>(), Err(BadFloodLimit), "{bad:?}");
        }
    }
}
