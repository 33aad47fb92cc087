//! What the Corm's data plane did with frames, beyond the switch's and the
//! NIC's own counters.

xs_schema::counters! {
    /// Monotonic event counts of one data plane.
    pub struct DataplaneCounters {
        /// Frames handed to the NIC (after segmentation).
        nic_tx,
        /// Frames lost because the NIC's transmit ring was full (flood copies:
        /// a unicast frame waits in its wire ring instead).
        nic_tx_full,
        /// Frames the driver refused (length, offload request).
        nic_tx_refused,
        /// Times an endpoint's frames were left in its ring because the NIC's
        /// transmit ring had no room (backpressure).
        nic_backpressure,
        /// GSO frames the NIC segmented (TSO).
        tso_frames,
        /// Frames whose checksum the NIC inserted.
        csum_offloaded,
        /// Frames whose checksum was completed in software, in the copy.
        csum_software,
        /// GSO frames segmented in software.
        gso_frames,
        /// Segments produced from them.
        gso_segments,
        /// Frames dropped because their offload metadata did not fit their
        /// headers (bad checksum offsets, not TCP, ...).
        offload_errors,
        /// Frames longer than the NIC takes, without GSO.
        oversize,
        /// Merges of NIC frames toward an endpoint (GRO).
        gro_merges,
        /// The segments those merges took in.
        gro_segments,
        /// Frames dropped because the endpoint's wire ring was full.
        to_wire_full,
        /// Frames dropped because the endpoint's wire was down or refused them.
        to_wire_dropped,
        /// Frames for the NIC that arrived while it was receiving (underlay
        /// answers, switched tunnel frames) and waited for the batch's end.
        nic_deferred,
        /// Those dropped because the deferred queue was full (bounded).
        nic_deferred_dropped,
    }
}
