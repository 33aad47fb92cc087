//! The fake device's transmit engine: legacy, TCP/IP context and TCP/IP
//! data descriptors (SDM §3.3.3, §3.3.6, §3.3.7), checksum insertion and
//! TCP segmentation the way QEMU 7.2's e1000 `process_tx_desc`/`xmit_seg`/
//! `putsum` do them, except that the IPv6 payload length excludes the IPv6
//! header (QEMU's e1000 gets it 40 bytes long; the driver offers IPv6 TSO
//! only on the 82574L, whose QEMU model hands the frame to the backend).
//!
//! Anything the driver should never produce (a context descriptor inside a
//! frame, a descriptor type switching mid-frame, TSO without a loaded TSE
//! context, offsets outside the frame, a PAYLEN that disagrees with the
//! data) panics, failing the test.

use std::vec::Vec;

use net_offload::checksum::{fold, sum};

use super::super::desc::{
    DTYP_DATA, POPTS_IXSM, POPTS_TXSM, TUCMD_IP, TUCMD_TCP, TUCMD_TSE, TXD_CMD_DEXT, TXD_CMD_EOP,
    TXD_CMD_TSE,
};

/// A loaded TCP/IP context (QEMU `e1000x_txd_props`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ctx {
    pub ipcss: usize,
    pub ipcso: usize,
    pub ipcse: usize,
    pub tucss: usize,
    pub tucso: usize,
    pub tucse: usize,
    pub paylen: usize,
    pub tucmd: u8,
    pub hdrlen: usize,
    pub mss: usize,
}

impl Ctx {
    fn parse(first: u64, second: u64) -> Ctx {
        Ctx {
            ipcss: (first & 0xFF) as usize,
            ipcso: (first >> 8 & 0xFF) as usize,
            ipcse: (first >> 16 & 0xFFFF) as usize,
            tucss: (first >> 32 & 0xFF) as usize,
            tucso: (first >> 40 & 0xFF) as usize,
            tucse: (first >> 48 & 0xFFFF) as usize,
            paylen: (second & 0xF_FFFF) as usize,
            tucmd: (second >> 24) as u8,
            hdrlen: (second >> 40 & 0xFF) as usize,
            mss: (second >> 48) as usize,
        }
    }

    pub fn tse(&self) -> bool {
        self.tucmd & TUCMD_TSE != 0
    }
}

#[derive(Default)]
pub struct TxEngine {
    /// Checksum-only and TSO contexts, kept apart as QEMU's e1000 does
    /// (`props`, `tso_props`); `None` until loaded, and after a reset.
    props: Option<Ctx>,
    tso_props: Option<Ctx>,
    /// Inside a frame: (extended, TSE, POPTS of its first data descriptor).
    current: Option<(bool, bool, u8)>,
    partial: Vec<u8>,
    /// Every context descriptor processed, in order.
    pub contexts: Vec<Ctx>,
}

fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// QEMU `putsum`: the checksum of `css..=cse` (to the end when `cse` is 0)
/// at `sloc`, 0 sent as 0xFFFF.
fn putsum(data: &mut [u8], sloc: usize, css: usize, cse: usize) {
    let n = if cse != 0 && cse < data.len() {
        cse + 1
    } else {
        data.len()
    };
    assert!(
        css < n && sloc + 2 <= n,
        "checksum offsets outside the frame"
    );
    let c = match !fold(sum(&data[css..n], 0)) {
        0 => 0xFFFF,
        c => c,
    };
    put16(data, sloc, c);
}

impl TxEngine {
    /// Drops loaded contexts and any half-gathered frame (device reset).
    pub fn reset(&mut self) {
        *self = TxEngine {
            contexts: std::mem::take(&mut self.contexts),
            ..TxEngine::default()
        };
    }

    /// Processes one descriptor whose two quadwords are `first`/`second`;
    /// `read` fetches buffer bytes. Returns the frames put on the wire.
    pub fn descriptor(
        &mut self,
        first: u64,
        second: u64,
        read: impl Fn(u64, usize) -> Vec<u8>,
    ) -> Vec<Vec<u8>> {
        let lower = second as u32;
        let cmd = (lower >> 24) as u8;
        let ext = cmd & TXD_CMD_DEXT != 0;
        if ext && lower & DTYP_DATA == 0 {
            assert!(self.current.is_none(), "context descriptor inside a frame");
            let ctx = Ctx::parse(first, second);
            *(if ctx.tse() {
                &mut self.tso_props
            } else {
                &mut self.props
            }) = Some(ctx);
            self.contexts.push(ctx);
            return Vec::new();
        }
        let tse = ext && cmd & TXD_CMD_TSE != 0;
        let popts = if ext { (second >> 40) as u8 } else { 0 };
        let (was_ext, was_tse, popts) = *self.current.get_or_insert((ext, tse, popts));
        assert_eq!(
            (was_ext, was_tse),
            (ext, tse),
            "descriptor kind changed mid-frame"
        );
        let len = if ext {
            lower & 0xF_FFFF
        } else {
            lower & 0xFFFF
        } as usize;
        self.partial.extend_from_slice(&read(first, len));
        if cmd & TXD_CMD_EOP == 0 {
            return Vec::new();
        }
        self.current = None;
        let mut data = std::mem::take(&mut self.partial);
        if tse {
            return self.segment(&data, popts);
        }
        if ext {
            let p = self.props.expect("checksum offload without a context");
            Self::sums(&mut data, &p, popts);
        }
        vec![data]
    }

    fn sums(data: &mut [u8], p: &Ctx, popts: u8) {
        if popts & POPTS_TXSM != 0 {
            putsum(data, p.tucso, p.tucss, p.tucse);
        }
        if popts & POPTS_IXSM != 0 {
            putsum(data, p.ipcso, p.ipcss, p.ipcse);
        }
    }

    fn segment(&self, data: &[u8], popts: u8) -> Vec<Vec<u8>> {
        let p = self
            .tso_props
            .expect("TSE data descriptor without a TSE context");
        assert!(p.mss > 0 && p.hdrlen <= data.len(), "bad TSO context {p:?}");
        assert_eq!(p.paylen, data.len() - p.hdrlen, "PAYLEN");
        let (head, payload) = data.split_at(p.hdrlen);
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(p.mss).collect()
        };
        let mut out = Vec::new();
        for (frames, chunk) in chunks.into_iter().enumerate() {
            let mut seg = head.to_vec();
            seg.extend_from_slice(chunk);
            let size = seg.len();
            let css = p.ipcss;
            if p.tucmd & TUCMD_IP != 0 {
                put16(&mut seg, css + 2, (size - css) as u16);
                let id = get16(&seg, css + 4).wrapping_add(frames as u16);
                put16(&mut seg, css + 4, id);
            } else {
                put16(&mut seg, css + 4, (size - css - 40) as u16);
            }
            let tu = p.tucss;
            let len = size - tu;
            if p.tucmd & TUCMD_TCP != 0 {
                let sofar = frames * p.mss;
                let seq = u32::from_be_bytes(seg[tu + 4..tu + 8].try_into().unwrap());
                let seq = seq.wrapping_add(sofar as u32);
                seg[tu + 4..tu + 8].copy_from_slice(&seq.to_be_bytes());
                if p.paylen - sofar > p.mss {
                    seg[tu + 13] &= !0x09;
                }
            } else {
                put16(&mut seg, tu + 4, len as u16);
            }
            if popts & POPTS_TXSM != 0 {
                let ph = fold(u64::from(get16(&seg, p.tucso)) + len as u64);
                put16(&mut seg, p.tucso, ph);
            }
            Self::sums(&mut seg, &p, popts);
            out.push(seg);
        }
        out
    }
}
