//! The underlay's and each tunnel's counters (beyond the decapsulation's,
//! `encap::DecapCounters`, and the peer filter's, `encap::PeerCounters`).

use super::echo::EchoCounters;

/// One encap wire's own counters (beyond its peer's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelCounters {
    pub tx_frames: u64,
    pub tx_bytes: u64,
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// No MAC for the next hop yet (an ARP request is out): dropped.
    pub dropped_no_next_hop: u64,
    /// The remote is off link and there is no gateway: dropped.
    pub dropped_no_route: u64,
    /// An inner frame longer than the underlay MTU allows (the guest's MTU
    /// is above 1450 on a 1500 underlay): dropped, never fragmented.
    pub dropped_too_big: u64,
    /// A runt, or a frame addressed like our own control: refused.
    pub dropped_refused: u64,
}

impl TunnelCounters {
    /// `(name, value)` pairs, names usable as counter keys.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("tx_frames", self.tx_frames),
            ("tx_bytes", self.tx_bytes),
            ("rx_frames", self.rx_frames),
            ("rx_bytes", self.rx_bytes),
            ("dropped_no_next_hop", self.dropped_no_next_hop),
            ("dropped_no_route", self.dropped_no_route),
            ("dropped_too_big", self.dropped_too_big),
            ("dropped_refused", self.dropped_refused),
        ]
        .into_iter()
    }
}

/// The underlay's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnderlayCounters {
    /// ARP requests for our address answered.
    pub arp_answered: u64,
    /// ARP requests we sent for next hops.
    pub arp_requests: u64,
    /// Tunnel data or control with a VNI no wire has.
    pub dropped_unknown_vni: u64,
    /// Other frames to our MAC (not ARP, not tunnel traffic): not ours to
    /// handle, and never flooded to the endpoints.
    pub dropped_to_us: u64,
    /// Guests' frames too big for a tunnel answered with ICMP
    /// Fragmentation Needed / Packet Too Big ([`too_big`]).
    pub too_big_answered: u64,
    /// Pings of our address ([`super::echo`]).
    pub echo: EchoCounters,
}

impl UnderlayCounters {
    /// `(name, value)` pairs, names usable as counter keys.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("arp_answered", self.arp_answered),
            ("arp_requests", self.arp_requests),
            ("dropped_unknown_vni", self.dropped_unknown_vni),
            ("dropped_to_us", self.dropped_to_us),
            ("too_big_answered", self.too_big_answered),
            ("echo_answered", self.echo.answered),
            ("echo_rate_limited", self.echo.rate_limited),
            ("echo_dropped", self.echo.dropped),
        ]
        .into_iter()
    }
}
