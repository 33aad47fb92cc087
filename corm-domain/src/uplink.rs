//! Frames from the endpoints to the NIC. The Spikes pass their guests'
//! offloads over the wire (partial checksums, TCP GSO up to 64 KiB). A NIC
//! that can (e1000/e1000e: context descriptors) gets them as they are, with
//! the offsets it needs; otherwise, and for frames of a VLAN endpoint (their
//! tag goes in after the offload), checksums are completed and GSO frames cut
//! to MSS-sized segments here (`net_offload`), and the endpoint's 802.1Q tag
//! is inserted into each resulting frame.

use corm_domain::nic::{Nic, TxError, TxOffload, MAX_FRAME};
use corm_domain::switch::Egress;
use net_offload::checksum::{locate, IpVersion};
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
        /// GSO frames the NIC segmented (TSO).
        tso_frames,
        /// Frames whose checksum the NIC inserted.
        csum_offloaded,
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

/// What the NIC must do for `frame` (untagged) to finish its offload, if it
/// can: `None` sends it down the software path.
fn hardware_request(nic: &dyn Nic, frame: &[u8], mss: Option<u16>) -> Option<TxOffload> {
    let caps = nic.tx_offloads();
    let loc = locate(frame).ok()?;
    let ipv6 = loc.ip == IpVersion::V6;
    let able = match mss {
        Some(_) => {
            if ipv6 {
                caps.tso_v6
            } else {
                caps.tso_v4
            }
        }
        None => caps.csum,
    };
    if !able {
        return None;
    }
    let l4_len = match mss {
        Some(_) => u16::from(*frame.get(usize::from(loc.start) + 12)? >> 4) * 4,
        None => 0,
    };
    Some(TxOffload {
        l3_start: 14,
        l4_start: loc.start,
        csum_offset: loc.offset,
        ipv6,
        tso_mss: mss,
        l4_len,
    })
}

/// Hands `frame` to the NIC with its offload; `false`: do it in software.
fn try_hardware(nic: &mut dyn Nic, frame: &[u8], mss: Option<u16>, c: &mut UplinkCounters) -> bool {
    let Some(req) = hardware_request(nic, frame, mss) else {
        return false;
    };
    match nic.transmit_offload(frame, req) {
        Ok(()) => {
            c.nic_tx += 1;
            if mss.is_some() {
                c.tso_frames += 1;
            } else {
                c.csum_offloaded += 1;
            }
            true
        }
        Err(TxError::Full) => {
            c.nic_tx_full += 1;
            true
        }
        Err(_) => false,
    }
}

/// Sends one endpoint frame to the NIC, tagged with `vid` if given.
pub fn transmit(nic: &mut dyn Nic, f: &Frame<'_>, vid: Option<u16>, c: &mut UplinkCounters) {
    let partial = matches!(f.checksum, Checksum::Partial { .. });
    if vid.is_none()
        && (f.gso.is_some() || partial)
        && try_hardware(nic, f.payload, f.gso.map(|g| g.size), c)
    {
        return;
    }
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
