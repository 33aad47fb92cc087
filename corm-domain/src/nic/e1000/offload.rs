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

use crate::nic::offload::check;
use crate::nic::{TxError, TxOffload, TxOffloads};

use super::desc::{Context, POPTS_IXSM, POPTS_TXSM, TUCMD_IP, TUCMD_TCP, TUCMD_TSE};
use super::model::Model;

pub use crate::nic::offload::MAX_TSO_FRAME;

/// Context offsets and HDRLEN are 8-bit fields (SDM §3.3.6).
const MAX_CONTEXT_OFFSET: usize = 255;

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

/// Checks `req` against a frame of `len` bytes whose headers are in `head`
/// (its first bytes; see `nic::offload::check`) and plans its descriptors.
pub fn plan(head: &[u8], len: usize, req: &TxOffload) -> Result<Plan, TxError> {
    let c = check(head, len, req, MAX_CONTEXT_OFFSET)?;
    let mut ctx = Context {
        ipcss: c.l3 as u8,
        tucss: c.l4 as u8,
        tucso: c.field as u8,
        tucmd: if c.tcp { TUCMD_TCP } else { 0 },
        ..Context::default()
    };
    if !c.ipv6 {
        ctx.ipcso = (c.l3 + 10) as u8;
        ctx.ipcse = (c.l4 - 1) as u16;
        ctx.tucmd |= TUCMD_IP;
    }
    let Some((mss, hdr)) = c.tso else {
        return Ok(Plan {
            ctx,
            tse: false,
            popts: POPTS_TXSM,
            patches: [Some((c.field, c.pseudo)), None],
        });
    };
    ctx.tucmd |= TUCMD_TSE;
    ctx.paylen = (len - hdr) as u32;
    ctx.hdrlen = hdr as u8;
    ctx.mss = mss;
    let (popts, ip_csum) = if c.ipv6 {
        (POPTS_TXSM, None)
    } else {
        (POPTS_TXSM | POPTS_IXSM, Some((c.l3 + 10, 0)))
    };
    Ok(Plan {
        ctx,
        tse: true,
        popts,
        patches: [Some((c.field, c.pseudo_no_len)), ip_csum],
    })
}
