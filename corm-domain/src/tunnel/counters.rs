//! The underlay's and each tunnel's counters (beyond the decapsulation's,
//! `encap::DecapCounters`, the peer filter's, `encap::PeerCounters`, and the
//! echo responder's, `super::echo::EchoCounters`).

xs_schema::counters! {
    /// One encap wire's own counters (beyond its peer's).
    pub struct TunnelCounters {
        /// Frames encapsulated and sent.
        tx_frames,
        /// Their inner bytes.
        tx_bytes,
        /// Frames decapsulated and delivered.
        rx_frames,
        /// Their inner bytes.
        rx_bytes,
        /// No MAC for the next hop yet (an ARP request is out): dropped.
        dropped_no_next_hop,
        /// The remote is off link and there is no gateway: dropped.
        dropped_no_route,
        /// An inner frame longer than the underlay MTU allows (the guest's MTU
        /// is above 1450 on a 1500 underlay): dropped, never fragmented.
        dropped_too_big,
        /// A runt, or a frame addressed like our own control: refused.
        dropped_refused,
        /// A tunnel wire had no WireGuard session yet (a handshake goes out).
        dropped_no_session,
    }
}

xs_schema::counters! {
    /// The underlay's own counters (its echo responder's are
    /// [`EchoCounters`], beside them).
    pub struct UnderlayCounters {
        /// ARP requests for our address answered.
        arp_answered,
        /// ARP requests we sent for next hops.
        arp_requests,
        /// Tunnel data or control with a VNI no wire has.
        dropped_unknown_vni,
        /// Other frames to our MAC (not ARP, not tunnel traffic): not ours to
        /// handle, and never flooded to the endpoints.
        dropped_to_us,
        /// Guests' frames too big for a tunnel answered with ICMP
        /// Fragmentation Needed / Packet Too Big (`too_big`).
        too_big_answered,
        /// A tunnel wire's Geneve in clear on the underlay: only WireGuard
        /// may carry it.
        dropped_clear,
        /// An inner packet from a WireGuard peer for a wire of another peer.
        dropped_wrong_peer,
    }
}
