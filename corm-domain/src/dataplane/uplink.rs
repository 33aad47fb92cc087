//! Frames from the endpoints to the NIC. The Spikes pass their guests'
//! offloads over the wire (partial checksums, TCP GSO up to 64 KiB). A NIC
//! that can (e1000/e1000e: context descriptors) gets them as they are, with
//! the offsets it needs; otherwise, and for frames of a VLAN endpoint (their
//! tag goes in after the offload), GSO frames are cut to MSS-sized segments
//! here (`net_offload::Segmenter`) and checksums completed in the driver's
//! copy. Either way each byte is copied once, from the wire ring (and the
//! private head) straight into the NIC's buffers.

use net_offload::checksum::{locate_in, IpVersion};
use net_offload::Segmenter;
use netframe::{Checksum, FrameMeta, ETH_HLEN, VLAN_HLEN};

use crate::nic::{Nic, TxError, TxFrame, TxOffload, MAX_FRAME};

use super::counters::DataplaneCounters;
use super::head::Head;

/// What became of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// On the NIC's ring (or dropped and counted: it will never go).
    Done,
    /// The NIC's ring has no room: nothing was sent; try again later.
    Full,
}

/// What the NIC must do for the frame (untagged; its headers in `head`) to
/// finish its offload, if it can: `None` sends it down the software path.
fn hardware_request(nic: &dyn Nic, head: &[u8], len: usize, mss: Option<u16>) -> Option<TxOffload> {
    let caps = nic.tx_offloads();
    let loc = locate_in(head, len).ok()?;
    let ipv6 = loc.ip == IpVersion::V6;
    let able = match mss {
        Some(_) if ipv6 => caps.tso_v6,
        Some(_) => caps.tso_v4,
        None => caps.csum,
    };
    if !able {
        return None;
    }
    let l4_len = match mss {
        Some(_) => u16::from(*head.get(usize::from(loc.start) + 12)? >> 4) * 4,
        None => 0,
    };
    Some(TxOffload {
        l3_start: ETH_HLEN as u16,
        l4_start: loc.start,
        csum_offset: loc.offset,
        ipv6,
        tso_mss: mss,
        l4_len,
    })
}

/// Frame bytes `range` of a frame whose first `head.len()` bytes are `head`
/// and whose rest is `tail`, as at most two pieces.
pub(super) fn split<'a>(
    head: &'a [u8],
    tail: &'a [u8],
    range: core::ops::Range<usize>,
) -> [&'a [u8]; 2] {
    let h = head.len();
    let a = head
        .get(range.start.min(h)..range.end.min(h))
        .unwrap_or(&[]);
    let b = tail
        .get(range.start.max(h) - h..range.end.max(h) - h)
        .unwrap_or(&[]);
    [a, b]
}

fn send(
    nic: &mut dyn Nic,
    frame: &TxFrame<'_>,
    offload: Option<TxOffload>,
    c: &mut DataplaneCounters,
) -> Result<(), Sent> {
    match nic.transmit_frame(frame, offload) {
        Ok(()) => {
            c.nic_tx += 1;
            Ok(())
        }
        Err(TxError::Full) => Err(Sent::Full),
        Err(_) => {
            c.nic_tx_refused += 1;
            Err(Sent::Done)
        }
    }
}

/// Sends one endpoint frame of `len` bytes, its first bytes privately in
/// `head` and the rest in place in `tail`, to the NIC, tagged with `vid` if
/// given. [`Sent::Full`]: nothing went, the caller keeps the frame.
pub fn transmit(
    nic: &mut dyn Nic,
    head: &Head,
    tail: &[u8],
    meta: FrameMeta,
    vid: Option<u16>,
    c: &mut DataplaneCounters,
) -> Sent {
    let len = head.bytes().len() + tail.len();
    let tagged = vid.map(|v| head.tagged(v));
    let shift = if vid.is_some() { VLAN_HLEN as u16 } else { 0 };
    let first = tagged.as_ref().unwrap_or(head).bytes();
    if let Some(gso) = meta.gso {
        if vid.is_none() {
            if let Some(req) = hardware_request(nic, head.bytes(), len, Some(gso.size)) {
                if let Some(f) = TxFrame::gather(&[first, tail]) {
                    match send(nic, &f, Some(req), c) {
                        Ok(()) => {
                            c.tso_frames += 1;
                            return Sent::Done;
                        }
                        Err(Sent::Full) => return Sent::Full,
                        Err(Sent::Done) => {} // the software path below
                    }
                }
            }
        }
        let Ok(segs) = Segmenter::new(head.bytes(), len, gso.kind, gso.size) else {
            c.offload_errors += 1;
            return Sent::Done;
        };
        if nic.tx_space() < segs.segments() {
            nic.flush_tx();
            if nic.tx_space() < segs.segments() {
                return Sent::Full;
            }
        }
        c.gso_frames += 1;
        for seg in segs {
            let mut h = Head::with_len(seg.header().len());
            h.bytes_mut().copy_from_slice(seg.header());
            let h = match vid {
                Some(v) => h.tagged(v),
                None => h,
            };
            let [a, b] = split(head.bytes(), tail, seg.payload.clone());
            let Some(f) = TxFrame::gather(&[h.bytes(), a, b]) else {
                c.offload_errors += 1;
                continue;
            };
            let f = f.with_checksum(seg.csum_start + shift, seg.csum_offset);
            c.gso_segments += 1;
            if let Err(Sent::Full) = send(nic, &f, None, c) {
                // Counted the space above; a driver that still refuses
                // loses the rest of this frame.
                c.nic_tx_full += 1;
                break;
            }
        }
        return Sent::Done;
    }
    if len + usize::from(shift) > MAX_FRAME {
        c.oversize += 1;
        return Sent::Done;
    }
    let Some(f) = TxFrame::gather(&[first, tail]) else {
        c.offload_errors += 1;
        return Sent::Done;
    };
    let r = match meta.checksum {
        Checksum::Partial { start, offset } => {
            match hardware_request(nic, head.bytes(), len, None).filter(|_| vid.is_none()) {
                Some(req) => send(nic, &f, Some(req), c).map(|()| c.csum_offloaded += 1),
                None => send(nic, &f.with_checksum(start + shift, offset), None, c)
                    .map(|()| c.csum_software += 1),
            }
        }
        Checksum::None | Checksum::Validated => send(nic, &f, None, c),
    };
    match r {
        Err(Sent::Full) => Sent::Full,
        _ => Sent::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_follows_the_head_boundary() {
        let head = [0u8, 1, 2, 3];
        let tail = [4u8, 5, 6, 7, 8];
        assert_eq!(split(&head, &tail, 1..3), [&[1u8, 2][..], &[][..]]);
        assert_eq!(split(&head, &tail, 2..7), [&[2u8, 3][..], &[4u8, 5, 6][..]]);
        assert_eq!(split(&head, &tail, 5..9), [&[][..], &[5u8, 6, 7, 8][..]]);
    }
}
