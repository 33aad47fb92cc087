//! What the fake virtio-net device does with a transmitted buffer, the way
//! QEMU's tap backend and the host kernel do (`virtio_net_hdr_to_skb`,
//! `skb_checksum_help`, `tcp_gso_segment`/`inet_gso_segment`): check the
//! `virtio_net_hdr` against the negotiated features, complete a partial
//! checksum, cut a GSO frame into segments. Checksums are completed from
//! the value the driver left in the field, as the kernel does, so a wrong
//! pseudo-header sum gives segments that fail verification (the tests check
//! every frame on the "wire" with an independent verifier).

use std::vec::Vec;

use net_offload::checksum::{fold, sum};

use super::super::features::*;
use super::super::net::{GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, HDR_F_NEEDS_CSUM, HDR_LEN};

/// A transmitted buffer's header, as the device read it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl Hdr {
    pub fn parse(b: &[u8]) -> Hdr {
        let le = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
        Hdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: le(2),
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        }
    }
}

fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Ones'-complement `a + b` (16 bits).
fn add16(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// `skb_checksum_help`: sums from `start` to the end (the field included,
/// as the driver left it) and stores the complement at `start + offset`.
fn complete(frame: &mut [u8], start: usize, offset: usize) {
    let c = !fold(sum(&frame[start..], 0));
    put16(frame, start + offset, c);
}

/// The frames a buffer of `bytes` (header then frame) puts on the wire
/// with `features` negotiated, or why the device would refuse it.
pub fn transmit(bytes: &[u8], features: u64) -> Result<Vec<Vec<u8>>, String> {
    if bytes.len() < HDR_LEN + 14 {
        return Err(format!("buffer of {} bytes", bytes.len()));
    }
    let h = Hdr::parse(bytes);
    if bytes[10..12] != [0, 0] {
        return Err(format!("num_buffers {:?} on transmit", &bytes[10..12]));
    }
    let mut frame = bytes[HDR_LEN..].to_vec();
    if h.flags & !HDR_F_NEEDS_CSUM != 0 {
        return Err(format!("flags {:#x}", h.flags));
    }
    if h.flags == 0 {
        if h != Hdr::default() {
            return Err(format!("fields without NEEDS_CSUM: {h:?}"));
        }
        return Ok(vec![frame]);
    }
    if features & NET_F_CSUM == 0 {
        return Err("NEEDS_CSUM without CSUM".into());
    }
    let (start, offset) = (usize::from(h.csum_start), usize::from(h.csum_offset));
    if start + offset + 2 > frame.len() {
        return Err(format!("checksum at {start}+{offset} past {}", frame.len()));
    }
    let kind = h.gso_type & !GSO_ECN;
    if kind == GSO_NONE {
        if h.gso_type != GSO_NONE || h.gso_size != 0 {
            return Err(format!("GSO fields without a GSO type: {h:?}"));
        }
        complete(&mut frame, start, offset);
        return Ok(vec![frame]);
    }
    let need = match kind {
        GSO_TCPV4 => NET_F_HOST_TSO4,
        GSO_TCPV6 => NET_F_HOST_TSO6,
        _ => return Err(format!("gso_type {:#x}", h.gso_type)),
    };
    if features & need == 0 {
        return Err(format!("gso_type {:#x} not negotiated", h.gso_type));
    }
    let ecn = h.gso_type & GSO_ECN != 0;
    if ecn && features & NET_F_HOST_ECN == 0 {
        return Err("GSO_ECN without HOST_ECN".into());
    }
    if offset != 16 || h.gso_size == 0 {
        return Err(format!("TSO header {h:?}"));
    }
    segment(
        &frame,
        start,
        kind == GSO_TCPV6,
        ecn,
        usize::from(h.gso_size),
    )
}

/// `tcp_gso_segment` over `inet_gso_segment`/`ipv6_gso_segment` for an
/// untagged frame whose TCP header is at `l4`.
fn segment(
    frame: &[u8],
    l4: usize,
    v6: bool,
    ecn: bool,
    mss: usize,
) -> Result<Vec<Vec<u8>>, String> {
    let l3 = 14;
    let th = usize::from(frame[l4 + 12] >> 4) * 4;
    let hdr = l4 + th;
    let ip_ok = if v6 {
        frame[l3] >> 4 == 6 && l4 == l3 + 40
    } else {
        frame[l3] >> 4 == 4 && usize::from(frame[l3] & 0xF) * 4 == l4 - l3
    };
    if !ip_ok || th < 20 || hdr >= frame.len() {
        return Err("GSO frame headers".into());
    }
    let cwr = frame[l4 + 13] & 0x80 != 0;
    if cwr && !ecn {
        return Err("CWR in a GSO frame without GSO_ECN".into());
    }
    let full = (frame.len() - l4) as u16;
    let field = get16(frame, l4 + 16);
    let payload = &frame[hdr..];
    let chunks: Vec<&[u8]> = payload.chunks(mss).collect();
    let last = chunks.len() - 1;
    let mut out = Vec::new();
    for (k, chunk) in chunks.into_iter().enumerate() {
        let mut seg = frame[..hdr].to_vec();
        seg.extend_from_slice(chunk);
        let len = seg.len();
        if v6 {
            put16(&mut seg, l3 + 4, (len - l3 - 40) as u16);
        } else {
            put16(&mut seg, l3 + 2, (len - l3) as u16);
            let id = get16(&seg, l3 + 4).wrapping_add(k as u16);
            put16(&mut seg, l3 + 4, id);
            put16(&mut seg, l3 + 10, 0);
            let c = !fold(sum(&seg[l3..l4], 0));
            put16(&mut seg, l3 + 10, c);
        }
        let seq = u32::from_be_bytes(seg[l4 + 4..l4 + 8].try_into().unwrap());
        let seq = seq.wrapping_add((k * mss) as u32);
        seg[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
        if k != last {
            seg[l4 + 13] &= !0x09; // FIN, PSH: last segment only
        }
        if k != 0 {
            seg[l4 + 13] &= !0x80; // CWR: first segment only
        }
        // The field held the pseudo-header sum with the whole L4 length:
        // swap it for this segment's, then complete over the segment.
        let seg_l4 = (len - l4) as u16;
        put16(&mut seg, l4 + 16, add16(add16(field, !full), seg_l4));
        complete(&mut seg, l4, 16);
        out.push(seg);
    }
    Ok(out)
}
