//! Ethernet MAC addresses.

use core::fmt;
use serde::{Deserialize, Serialize};

/// An Ethernet MAC address. Postcard: 6 raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Whether the I/G bit is set (multicast or broadcast): such an address can never be an
    /// endpoint's own, so a `Hello` announcing one is refused.
    pub fn is_group(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether the U/L bit is set (locally administered, as Xen's `00:16:3e` is not).
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}
