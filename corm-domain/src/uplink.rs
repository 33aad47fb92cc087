//! Frames from the endpoints to the NIC. The Spikes pass their guests'
//! offloads over the wire (partial checksums, TCP GSO up to 64 KiB); the NIC
//! drivers take plain frames, so checksums are completed and GSO frames cut
//! to MSS-sized segments here (`net_offload`), and the endpoint's 802.1Q tag,
//! if any, is inserted into each resulting frame.

use corm_domain::nic::{Nic, TxError, MAX_FRAME};
use corm_domain::switch::Egress;
use net_offload::segment::{complete_checksum, segment, Kind};
use wire_proto::{Checksum, Frame, GsoKind};

pv_runtime::counters! {
    /// What happened to frames on their way to the NIC.
    pub struct UplinkCounters {
        /// Frames handed to the NIC (after segmentation).
        nic_tx,
        /// Frames lost because the NIC's transmit ring was full.
        nic_tx_full,
        /// Frames the driver refused (length).
        nic_tx_refused,
        /// GSO frames segmented in software.
        gso_frames,
        /// Segments produced from them.
        gso_segments,
        /// Frames dropped because their offload metadata did not fit their
        /// headers (bad checksum offsets, not TCP, ...).
        offload_errors,
        /// Frames longer than the NIC takes, without GSO.
        oversize,
    }
}

const TAG_LEN: usize = 4;

/// Sends one endpoint frame to the NIC, tagged with `vid` if given.
pub fn transmit(nic: &mut dyn Nic, f: &Frame<'_>, vid: Option<u16>, c: &mut UplinkCounters) {
    if let Some(gso) = f.gso {
        let kind = match gso.kind {
            GsoKind::TcpV4 => Kind::TcpV4,
            GsoKind::TcpV6 => Kind::TcpV6,
        };
        c.gso_frames += 1;
        let mut emit = |seg: &[u8]| {
            c.gso_segments += 1;
            send(nic, seg, vid, c);
        };
        if segment(f.payload, kind, gso.size, &mut emit).is_err() {
            c.offload_errors += 1;
        }
        return;
    }
    let limit = MAX_FRAME - vid.map_or(0, |_| TAG_LEN);
    if f.payload.len() > limit {
        c.oversize += 1;
        return;
    }
    match f.checksum {
        Checksum::Partial { start, offset } => {
            let mut buf = [0u8; MAX_FRAME];
            let frame = &mut buf[..f.payload.len()];
            frame.copy_from_slice(f.payload);
            if complete_checksum(frame, usize::from(start), usize::from(offset)).is_err() {
                c.offload_errors += 1;
                return;
            }
            send(nic, frame, vid, c);
        }
        Checksum::None | Checksum::Validated => send(nic, f.payload, vid, c),
    }
}

fn send(nic: &mut dyn Nic, frame: &[u8], vid: Option<u16>, c: &mut UplinkCounters) {
    let r = match vid {
        None => nic.transmit(frame),
        Some(vid) => {
            let mut buf = [0u8; MAX_FRAME];
            match (Egress::Tagged { vid, frame }).write_to(&mut buf) {
                Some(n) => nic.transmit(&buf[..n]),
                None => {
                    c.oversize += 1;
                    return;
                }
            }
        }
    };
    match r {
        Ok(()) => c.nic_tx += 1,
        Err(TxError::Full) => c.nic_tx_full += 1,
        Err(_) => c.nic_tx_refused += 1,
    }
}
