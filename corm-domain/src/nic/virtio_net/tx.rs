//! The transmit path: a frame, its `virtio_net_hdr` (§5.1.6.2) in front,
//! gathered once into a chain of the queue's 2 KiB buffers; the chain's
//! head published per batch; an interrupt asked for only when the ring
//! runs low.
//!
//! Buffer layout: the header takes the first 12 bytes of the head's buffer,
//! the frame follows and continues in the next buffers of the chain, so a
//! frame of `n` bytes takes `(12 + n).div_ceil(2048)` descriptors: one for
//! an MTU frame, 33 for the largest TSO frame (65,539 bytes), within the
//! 34 the Corm keeps free for any frame.
//!
//! Offloads (negotiated `CSUM`, `HOST_TSO4/6`, `HOST_ECN`):
//! * checksum insertion: `NEEDS_CSUM`, `csum_start` = the L4 header,
//!   `csum_offset` = the checksum field in it; the device sums from
//!   `csum_start` to the end and stores the complement, so the field must
//!   hold the pseudo-header sum with the L4 length (§5.1.6.2 "the TCP
//!   checksum field in the packet is set to the sum of the TCP pseudo
//!   header"). The driver writes it into its copy.
//! * TSO: also `gso_type` TCPV4/TCPV6 (with the ECN bit when the frame has
//!   CWR set and `HOST_ECN` was negotiated; without it such a frame is
//!   refused, §5.1.6.2.1, and the caller segments it), `gso_size` the MSS
//!   and `hdr_len` the headers' length. The device (QEMU's tap backend
//!   hands it to the host kernel, `virtio_net_hdr_to_skb`) rewrites the IP
//!   lengths, IPv4 identification and checksum, TCP sequence numbers and
//!   flags per segment and derives each segment's checksum from the field,
//!   which must hold the pseudo-header sum with the whole frame's L4 length
//!   (what Linux leaves in a GSO frame: `tcp_gso_segment` adjusts it by the
//!   length difference).

use super::features::{NET_F_CSUM, NET_F_HOST_ECN, NET_F_HOST_TSO4, NET_F_HOST_TSO6};
use super::net::{NetHdr, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, HDR_F_NEEDS_CSUM, HDR_LEN};
use super::queue::MAX_SIZE;
use super::VirtioNet;
use crate::nic::offload::{check, MAX_TSO_FRAME, MIN_FRAME};
use crate::nic::{Mmio, TxError, TxFrame, TxOffload, TxOffloads, BUF_SIZE, MAX_FRAME};

/// TCP flags byte: CWR (RFC 3168 §6.1).
const TCP_CWR: u8 = 0x80;

/// Below this many free descriptors after a flush the driver asks for an
/// interrupt when half the frames in flight are done: the caller waits for
/// room, and the interrupt ends the wait. Twice what the largest frame takes.
const TX_LOW_WATER: usize = 68;

pub(super) fn offloads(features: u64) -> TxOffloads {
    let csum = features & NET_F_CSUM != 0;
    TxOffloads {
        csum,
        tso_v4: csum && features & NET_F_HOST_TSO4 != 0,
        tso_v6: csum && features & NET_F_HOST_TSO6 != 0,
    }
}

/// The header for `frame` with `req`, and the pseudo-header sum to store
/// in the copy's checksum field (offset, big-endian value).
fn header(
    frame: &TxFrame<'_>,
    req: &TxOffload,
    features: u64,
) -> Result<(NetHdr, (usize, u16)), TxError> {
    // The fields are 16-bit, and the patched field must lie in the head's
    // buffer, after the header.
    let c = check(frame.head(), frame.len(), req, BUF_SIZE - HDR_LEN - 2)?;
    let mut hdr = NetHdr {
        flags: HDR_F_NEEDS_CSUM,
        gso_type: GSO_NONE,
        csum_start: c.l4 as u16,
        csum_offset: (c.field - c.l4) as u16,
        ..NetHdr::default()
    };
    if let Some((mss, hdr_len)) = c.tso {
        let cwr = frame.head()[c.l4 + 13] & TCP_CWR != 0;
        if cwr && features & NET_F_HOST_ECN == 0 {
            return Err(TxError::Unsupported);
        }
        hdr.gso_type = if c.ipv6 { GSO_TCPV6 } else { GSO_TCPV4 };
        if cwr {
            hdr.gso_type |= GSO_ECN;
        }
        hdr.gso_size = mss;
        hdr.hdr_len = hdr_len as u16;
    }
    Ok((hdr, (c.field, c.pseudo)))
}

impl<M: Mmio> VirtioNet<M> {
    /// Checks `frame` and `offload`, gathers them into a chain of free
    /// buffers and pushes its head, unpublished.
    pub(super) fn queue_frame(
        &mut self,
        frame: &TxFrame<'_>,
        offload: Option<TxOffload>,
    ) -> Result<(), TxError> {
        let max = match offload {
            Some(TxOffload {
                tso_mss: Some(_), ..
            }) => MAX_TSO_FRAME,
            _ => MAX_FRAME,
        };
        if !(MIN_FRAME..=max).contains(&frame.len()) {
            self.counters.tx_dropped += 1;
            return Err(TxError::Length(frame.len()));
        }
        if !self.ready {
            return Err(TxError::NotReady);
        }
        let (hdr, patch) = match offload {
            None => (NetHdr::default(), None),
            Some(req) => {
                let caps = offloads(self.features);
                let able = match (req.tso_mss, req.ipv6) {
                    (None, _) => caps.csum,
                    (Some(_), false) => caps.tso_v4,
                    (Some(_), true) => caps.tso_v6,
                };
                if !able || frame.needs_checksum() {
                    return Err(TxError::Unsupported);
                }
                let (hdr, patch) = header(frame, &req, self.features).inspect_err(|e| {
                    if *e != TxError::Unsupported {
                        self.counters.tx_dropped += 1;
                    }
                })?;
                (hdr, Some(patch))
            }
        };
        self.reclaim_tx();
        if !self.ready || !self.link {
            return Err(TxError::NotReady);
        }
        let total = HDR_LEN + frame.len();
        let n = total.div_ceil(BUF_SIZE);
        if self.tx.vq.free_count() < n {
            self.counters.tx_full += 1;
            return Err(TxError::Full);
        }
        let mut parts = heapless::Vec::<(u16, u64, u32), { MAX_SIZE as usize }>::new();
        for k in 0..n {
            let Some(id) = self.tx.vq.take_free() else {
                break;
            };
            let len = (total - k * BUF_SIZE).min(BUF_SIZE);
            let _ = parts.push((id, self.tx.bufs.bus(id), len as u32));
        }
        let filled = self.fill_chain(&parts, &hdr, frame, patch);
        if parts.len() < n || filled.is_err() || !self.tx.vq.push_chain(&parts, 0) {
            // Nothing pushed: the ids go back (never outstanding).
            for &(id, _, _) in parts.iter().rev() {
                self.tx.vq.put_free(id);
            }
            self.counters.tx_dropped += 1;
            return Err(filled.err().unwrap_or(TxError::Invalid));
        }
        self.tx_queued += 1;
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += frame.len() as u64;
        Ok(())
    }

    /// Writes the header and the frame into the chain's buffers, completing
    /// a software checksum or storing the offload's pseudo-header sum in
    /// the copy.
    fn fill_chain(
        &self,
        parts: &[(u16, u64, u32)],
        hdr: &NetHdr,
        frame: &TxFrame<'_>,
        patch: Option<(usize, u16)>,
    ) -> Result<(), TxError> {
        let Some(&(head, _, _)) = parts.first() else {
            return Err(TxError::Invalid);
        };
        self.tx.bufs.write(head, 0, &hdr.bytes());
        if frame.needs_checksum() {
            // At most MAX_FRAME bytes: one buffer (`copy_whole`).
            return self.tx.bufs.fill(head, HDR_LEN, frame);
        }
        let mut at = 0;
        for (k, &(id, _, len)) in parts.iter().enumerate() {
            let skip = if k == 0 { HDR_LEN } else { 0 };
            let n = len as usize - skip;
            self.tx.bufs.fill_part(id, skip, frame, at, n);
            at += n;
        }
        if let Some((field, value)) = patch {
            self.tx
                .bufs
                .write(head, HDR_LEN + field, &value.to_be_bytes());
        }
        Ok(())
    }

    /// Publishes the queued chains (one notification at most) and decides
    /// whether a completion interrupt is wanted: only when the ring is low,
    /// at half the frames in flight.
    pub(super) fn publish_tx(&mut self) {
        if !self.ready || self.tx_queued == 0 {
            return;
        }
        self.tx_queued = 0;
        self.tx.kick(&self.t);
        let free = self.tx.vq.free_count() + self.tx.vq.completed_descriptors();
        if free >= TX_LOW_WATER {
            self.tx.vq.interrupt_at(None);
            return;
        }
        let in_flight = self.tx.vq.outstanding().max(1) as u16;
        let half = self
            .tx
            .vq
            .last_used()
            .wrapping_add(in_flight.div_ceil(2) - 1);
        self.tx.vq.interrupt_at(Some(half));
    }
}
