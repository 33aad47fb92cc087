//! The encap wire's core: a Spike on one host reaches a Corm on another with
//! its Ethernet frames carried in Geneve (RFC 8926) or VXLAN (RFC 7348) over
//! IPv4/UDP, in the format standard VTEPs (Linux `geneve`/`vxlan`, OVS, VPP)
//! send and accept. `docs/encap.md` describes the format on the wire.
//!
//! Sans-IO and `no_std`, in the smoltcp style: every view over received
//! bytes is checked once ([`geneve::Packet::new_checked`] and friends), then
//! read with accessors that cannot panic; every input is hostile, every drop
//! has a [`decap::Reason`] and a counter; nothing allocates.
//!
//! * [`underlay`]: IPv4 and UDP views (the outer headers).
//! * [`geneve`], [`vxlan`]: the tunnel headers, views and emitters.
//! * [`control`]: Banana's in-band control (hello, keepalive, close) in a
//!   private Geneve option or, on VXLAN, an IEEE local-experimental frame.
//! * [`template`]: the precomputed outer headers, encapsulation with the MTU
//!   check (never fragments).
//! * [`decap`]: a NIC frame to a verdict: data, control, or a counted drop.
//! * [`peer`]: one wire's state: who may send on it, epochs, liveness, loss.
//! * [`nexthop`]: the bounded underlay IPv4 → MAC table.
//!
//! Not here yet: the relay in the Corm's main loop, ARP/DHCP on the underlay
//! (smoltcp), the controller's `--encap`; see `docs/encap.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod control;
pub mod decap;
pub mod geneve;
pub mod nexthop;
pub mod peer;
pub mod template;
pub mod underlay;
pub mod vxlan;

#[cfg(test)]
mod test_vectors;

pub use control::{Control, ControlKind};
pub use decap::{decapsulate, DecapConfig, DecapCounters, Reason, Verdict};

pub use nexthop::{Lookup, NextHopTable};
pub use peer::{Action, Event, Peer, PeerConfig, PeerCounters, PeerDrop};
pub use template::{EncapError, Template, TemplateConfig};

/// Which tunnel header a wire uses. Both ends of a wire must agree: the
/// controller configures it (`--encap geneve|vxlan`, later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encap {
    /// Geneve, RFC 8926; UDP port [`geneve::PORT`] (6081).
    Geneve,
    /// VXLAN, RFC 7348; UDP port [`vxlan::PORT`] (4789).
    Vxlan,
}

impl Encap {
    /// The IANA-assigned destination port (RFC 8926 §3.3, RFC 7348 §5).
    pub const fn default_port(self) -> u16 {
        match self {
            Encap::Geneve => geneve::PORT,
            Encap::Vxlan => vxlan::PORT,
        }
    }
}

/// A 24-bit virtual network identifier (Geneve's and VXLAN's VNI field:
/// RFC 8926 §3.4, RFC 7348 §5). Constructed only from values that fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vni(u32);

impl Vni {
    /// The largest VNI, 2^24 - 1.
    pub const MAX: u32 = 0x00FF_FFFF;

    /// `None` if `vni` does not fit in 24 bits.
    pub const fn new(vni: u32) -> Option<Vni> {
        if vni <= Self::MAX {
            Some(Vni(vni))
        } else {
            None
        }
    }

    /// From the three bytes on the wire (network order).
    pub const fn from_bytes(b: [u8; 3]) -> Vni {
        Vni(((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32)
    }

    /// The three bytes on the wire (network order).
    pub const fn to_bytes(self) -> [u8; 3] {
        let b = self.0.to_be_bytes();
        [b[1], b[2], b[3]]
    }

    /// The value.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// Bytes of outer headers in front of an inner Ethernet frame without
/// options and without an outer VLAN tag: Ethernet 14 + IPv4 20 + UDP 8 +
/// Geneve or VXLAN 8 (RFC 8926 §3.1: 50 bytes over IPv4).
pub const OVERHEAD: usize = 50;

/// The bytes an outer IPv4 packet adds in front of the inner Ethernet frame
/// (what counts against the underlay MTU): IPv4 20 + UDP 8 + tunnel header 8.
pub const IP_OVERHEAD: usize = 36;

/// The inner (guest) MTU an underlay MTU leaves: 1500 → 1450. The inner
/// Ethernet header counts against the underlay too (RFC 8926 §4.1.1).
pub const fn inner_mtu(underlay_mtu: u16) -> u16 {
    underlay_mtu.saturating_sub(OVERHEAD as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni_is_24_bits() {
        assert_eq!(Vni::new(0x0100_0000), None);
        let v = Vni::new(0x12_3456).unwrap();
        assert_eq!(v.to_bytes(), [0x12, 0x34, 0x56]);
        assert_eq!(Vni::from_bytes([0x12, 0x34, 0x56]), v);
        assert_eq!(v.get(), 0x12_3456);
    }

    #[test]
    fn mtu_budget() {
        assert_eq!(inner_mtu(1500), 1450);
        assert_eq!(inner_mtu(9000), 8950);
        assert_eq!(inner_mtu(10), 0);
        assert_eq!(Encap::Geneve.default_port(), 6081);
        assert_eq!(Encap::Vxlan.default_port(), 4789);
    }
}
