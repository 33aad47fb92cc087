//! Per-vif counters: every frame or request the netback refuses is counted
//! under its reason, so the domain can publish them (e.g. to xenstore under
//! its own `/local/domain/<id>/…`, docs/architecture.md §5) and tests can assert on them.

xs_schema::counters! {
    /// Monotonic event counts of one vif.
    pub struct Counters {
        /// Frames from the guest handed to the sink.
        tx_packets,
        /// Bytes of those frames.
        tx_bytes,
        /// TX ring requests consumed (data and extra slots).
        tx_requests,
        /// Malformed TX requests answered `NETIF_RSP_ERROR`: unknown flags, a
        /// first-slot size below the sum of the others, a frame under 14 bytes.
        tx_bad_request,
        /// Frames whose Ethernet source MAC is not the vif's (anti-spoof).
        tx_spoofed_mac,
        /// Frames whose grant copy failed (bad gref, bad offset, …).
        tx_copy_failed,
        /// Frames over MTU + Ethernet header (+ one VLAN tag) without GSO.
        tx_oversize,
        /// GSO frames of a kind the backend did not offer.
        tx_gso_not_offered,
        /// GSO frames whose headers don't match the GSO kind.
        tx_bad_gso,
        /// `csum_blank`/GSO frames without a checksummable IP/TCP/UDP header.
        tx_csum_setup_failed,
        /// Frames the sink (the wire) refused (down, or never room for them).
        tx_sink_full,
        /// Multicast-control dummy requests (accepted, ignored).
        tx_mcast_ignored,
        /// Times the guest's frames were left on its ring for lack of credit
        /// (the vif `rate`), until the credit timer.
        tx_credit_waits,
        /// Frames delivered to the guest.
        rx_packets,
        /// Bytes of those frames.
        rx_bytes,
        /// Frames dropped because the guest posted no (or too few) rx buffers
        /// for too long.
        rx_no_buffers,
        /// Frames too large for the MTU, or over one page without `feature-sg`.
        rx_oversize,
        /// GSO frames of a kind the frontend did not ask for.
        rx_gso_unsupported,
        /// Malformed frames offered for delivery (bad length or checksum metadata).
        rx_bad_frame,
        /// Frames whose grant copy into the guest failed.
        rx_copy_failed,
        /// Partial checksums completed in software for a frontend without offload.
        rx_csum_completed,
        /// Whole `GNTTABOP_copy` batches the hypervisor refused.
        copy_hypercall_failed,
        /// Frontend xenstore feature values that were not exactly "0" or "1".
        frontend_bad_keys,
        /// Fatal frontend errors (the vif must be disconnected).
        fatal_errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iter_names_values() {
        let c = Counters {
            tx_spoofed_mac: 3,
            rx_no_buffers: 2,
            ..Default::default()
        };
        let v: std::vec::Vec<_> = c.iter().collect();
        assert_eq!(v.len(), Counters::NAMES.len());
        assert!(v.contains(&("tx_spoofed_mac", 3)));
        assert!(v.contains(&("rx_no_buffers", 2)));
        assert!(v.iter().map(|(n, _)| n).eq(Counters::NAMES.iter()));
    }
}
