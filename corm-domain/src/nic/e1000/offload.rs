//! Transmit offloads: checking a [`TxOffload`] request against the frame and
//! turning it into a TCP/IP context descriptor, data descriptor options and
//! the header fix-ups the device expects (8254x SDM §3.3.5 "Transmit
//! Descriptor Types", §3.3.6 "TCP/IP Context Transmit Descriptor", §3.3.7
//! "TCP/IP Data Transmit Descriptor", §3.5 "TCP Segmentation"; the 82574's
//! transmit chapter, §7.2, uses the same layouts).
//!
//! What the device does with a frame, and so what the copy it reads must
//! hold (the caller's frame is never modified):
//! * Checksum insertion (POPTS.TXSM): sums from TUCSS to the end of the
//!   packet and stores the complement at TUCSO; the field must hold the
//!   pseudo-header sum including the L4 length (SDM §3.3.6; QEMU
//!   `xmit_seg`/`putsum`, which writes 0 as 0xFFFF).
//! * TSO (TSE in TUCMD and in every data descriptor): per segment, headers
//!   are copied from the first HDRLEN bytes; the IPv4 total length and
//!   identification (+1 per segment), the IPv6 payload length, the TCP
//!   sequence number and FIN/PSH (last segment only) are rewritten; the
//!   segment's L4 length is added to the TCP checksum field, which must
//!   hold the pseudo-header sum WITHOUT the length (SDM §3.5, Linux
//!   `e1000_tso`); with IXSM the IPv4 header checksum is summed over the
//!   header as it stands, so that field must be zero (QEMU `xmit_seg`).
//!
//! The driver writes those fields itself from the IP addresses and lengths
//! in the frame, so the caller's checksum fields are ignored.
//!
//! IPv6 TSO is not offered on the 82540EM: QEMU's e1000 `xmit_seg` writes the
//! IPv6 payload length as the segment's length from IPCSS, 40 bytes too
//! long. QEMU's e1000e parses the packet itself (`net_tx_pkt`) and hands a
//! GSO frame to a vnet-header backend such as tap, which handles IPv6.

use net_offload::checksum::{fold, pseudo_v4, pseudo_v6, ETH_HLEN, IPPROTO_TCP, IPPROTO_UDP};

use crate::nic::{TxError, TxOffload, TxOffloads, MAX_FRAME};

use super::desc::{Context, POPTS_IXSM, POPTS_TXSM, TUCMD_IP, TUCMD_TCP, TUCMD_TSE};
use super::model::Model;
use super::rx::MIN_FRAME;

/// Largest TSO frame, as the `Nic` trait defines it: 64 KiB plus a tag.
pub const MAX_TSO_FRAME: usize = 65535 + 4;

/// Context offsets and HDRLEN are 8-bit fields (SDM §3.3.6).
const MAX_CONTEXT_OFFSET: usize = 255;

/// TCP header length bounds (RFC 9293 §3.1: data offset 5..=15 words).
const TCP_MIN_HLEN: usize = 20;
const TCP_MAX_HLEN: usize = 60;

pub fn offloads(model: Model) -> TxOffloads {
    TxOffloads {
        csum: true,
        tso_v4: true,
        tso_v6: model == Model::I82574L,
    }
}

/// How to transmit one offloaded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub ctx: Context,
    pub tse: bool,
    pub popts: u8,
    /// Big-endian 16-bit values to store at these frame offsets, all inside
    /// the first `MAX_CONTEXT_OFFSET + 2` bytes (so in the first buffer).
    pub patches: [Option<(usize, u16)>; 2],
}

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

/// Checks `req` against `frame` and plans its descriptors. `Length` for a
/// frame too short or too long for the request, `Invalid` for offsets or
/// header fields that disagree with it.
pub fn plan(frame: &[u8], req: &TxOffload) -> Result<Plan, TxError> {
    let len = frame.len();
    let max = if req.tso_mss.is_some() {
        MAX_TSO_FRAME
    } else {
        MAX_FRAME
    };
    if !(MIN_FRAME..=max).contains(&len) {
        return Err(TxError::Length(len));
    }
    let (l3, l4) = (usize::from(req.l3_start), usize::from(req.l4_start));
    let off = usize::from(req.csum_offset);
    let proto = match off {
        16 => IPPROTO_TCP,
        6 => IPPROTO_UDP,
        _ => return Err(TxError::Invalid),
    };
    let ip_min = if req.ipv6 { 40 } else { 20 };
    if l3 < ETH_HLEN || l4 < l3 + ip_min || l4 + off > MAX_CONTEXT_OFFSET || l4 + off + 2 > len {
        return Err(TxError::Invalid);
    }
    let ip = &frame[l3..l4];
    let (src, dst) = if req.ipv6 {
        let next_ok = l4 > l3 + 40 || ip[6] == proto;
        if ip[0] >> 4 != 6 || !next_ok {
            return Err(TxError::Invalid);
        }
        (&ip[8..24], &ip[24..40])
    } else {
        if ip[0] >> 4 != 4 || usize::from(ip[0] & 0x0F) * 4 != ip.len() || ip[9] != proto {
            return Err(TxError::Invalid);
        }
        (&ip[12..16], &ip[16..20])
    };
    let pseudo = |l4_len: usize| {
        let f = if req.ipv6 { pseudo_v6 } else { pseudo_v4 };
        fold(f(src, dst, proto, l4_len as u32))
    };
    let field = l4 + off;
    let mut ctx = Context {
        ipcss: l3 as u8,
        tucss: l4 as u8,
        tucso: field as u8,
        tucmd: if proto == IPPROTO_TCP { TUCMD_TCP } else { 0 },
        ..Context::default()
    };
    if !req.ipv6 {
        ctx.ipcso = (l3 + 10) as u8;
        ctx.ipcse = (l4 - 1) as u16;
        ctx.tucmd |= TUCMD_IP;
    }
    let Some(mss) = req.tso_mss else {
        let end = if req.ipv6 {
            l3 + 40 + be16(ip, 4)
        } else {
            l3 + be16(ip, 2)
        };
        if end > len || end < field + 2 {
            return Err(TxError::Invalid);
        }
        return Ok(Plan {
            ctx,
            tse: false,
            popts: POPTS_TXSM,
            patches: [Some((field, pseudo(end - l4))), None],
        });
    };
    let th = usize::from(req.l4_len);
    let hdr = l4 + th;
    let tcp_ok = proto == IPPROTO_TCP
        && (TCP_MIN_HLEN..=TCP_MAX_HLEN).contains(&th)
        && hdr <= MAX_CONTEXT_OFFSET
        && hdr < len
        && usize::from(frame[l4 + 12] >> 4) * 4 == th;
    if !tcp_ok || mss == 0 || hdr + usize::from(mss) > MAX_FRAME {
        return Err(TxError::Invalid);
    }
    ctx.tucmd |= TUCMD_TSE;
    ctx.paylen = (len - hdr) as u32;
    ctx.hdrlen = hdr as u8;
    ctx.mss = mss;
    let (popts, ip_csum) = if req.ipv6 {
        (POPTS_TXSM, None)
    } else {
        (POPTS_TXSM | POPTS_IXSM, Some((l3 + 10, 0)))
    };
    Ok(Plan {
        ctx,
        tse: true,
        popts,
        patches: [Some((field, pseudo(0))), ip_csum],
    })
}
