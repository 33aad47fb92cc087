//! Switch counters: every frame the switch refuses is counted under its
//! reason, so the domain can publish them (e.g. to xenstore under its own
//! `/local/domain/<id>/…`) and tests can assert on them.

xs_schema::counters! {
    /// Monotonic event counts of one switch.
    pub struct Counters {
        /// Unicast frames sent to the one port their destination was learned on.
        forwarded,
        /// Broadcast, multicast and unknown-unicast frames flooded to their VLAN
        /// (one per ingress frame, however many copies went out).
        flooded,
        /// Frames that had nowhere to go: the destination lives on the ingress
        /// port, or nobody else is in the VLAN.
        filtered,
        /// Endpoint frames whose source MAC is not registered for that endpoint,
        /// or is a group address.
        dropped_spoofed,
        /// Endpoint frames carrying an 802.1Q/802.1ad tag (endpoints are untagged).
        dropped_tagged_from_endpoint,
        /// Frames shorter than an Ethernet header (or a tagged header).
        dropped_runt,
        /// Floods over the ingress port's token bucket.
        dropped_flood_limit,
        /// Frames from an endpoint the switch does not know.
        dropped_unknown_port,
        /// Uplink frames with a group or all-zero source MAC (never learnable).
        dropped_bad_source,
        /// Uplink frames tagged with the reserved VID 4095.
        dropped_bad_vlan,
        /// Uplink frames with two tags, or an 802.1ad / legacy Q-in-Q outer tag.
        dropped_double_tag,
        /// Uplink frames longer than a (tagged) 1500-byte-MTU frame.
        dropped_giant,
        /// Uplink frames whose source MAC a local endpoint owns (pinned, never
        /// learned as a move).
        dropped_mac_steal,
        /// ARP packets (from the uplink, or an endpoint) claiming an IP
        /// address an endpoint owns for a MAC that is not the owner's, or an
        /// endpoint's ARP giving a MAC not its own (`switch::ipguard`).
        dropped_arp_spoof,
        /// The same for IPv6 Neighbor Solicitations and Advertisements.
        dropped_nd_spoof,
        /// IP addresses an endpoint claimed first and was bound to.
        ip_learned,
        /// DHCPACKs from the uplink that bound an address to an endpoint.
        dhcp_bound,
        /// DHCPACKs/NAKs from the uplink answering no open request of an
        /// endpoint (or handing out another endpoint's configured address).
        dhcp_ignored,
        /// IP bindings forgotten at the end of their lease or learned lifetime.
        ip_aged_out,
        /// IP bindings evicted to make room (a full table, or an endpoint past
        /// its learned-address cap).
        ip_evicted,
        /// New MAC-table entries.
        learned,
        /// Entries forgotten because they were not seen for the aging time.
        aged_out,
        /// Entries evicted (the oldest) to make room in a full table.
        evicted,
        /// Known MACs seen on a different port than the one they were learned on.
        moved,
    }
}

#[cfg(test)]
mod tests {
    use super::Counters;

    #[test]
    fn iter_matches_names() {
        let c = Counters {
            moved: 7,
            ..Counters::default()
        };
        let names: alloc::vec::Vec<_> = c.iter().map(|(n, _)| n).collect();
        assert_eq!(names, Counters::NAMES);
        assert_eq!(c.iter().find(|(n, _)| *n == "moved"), Some(("moved", 7)));
    }
}
