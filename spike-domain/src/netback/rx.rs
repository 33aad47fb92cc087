//! World → guest: the RX ring (netif.h "Guest receive").
//!
//! The frontend posts `netif_rx_request`s, each granting one page. A packet
//! takes one request per 4 KiB of data (at offset 0, `status` = bytes), the
//! first flagged with its checksum state and `NETRXF_extra_info` when a GSO
//! `netif_extra_info` follows in the *next* slot, every data slot but the last
//! with `NETRXF_more_data`. Responses must sit in the same ring slot as the
//! request they answer (netif.h: netfront ignores the rx response id), which
//! holds because every commit answers all the requests it consumed, in order.
//!
//! Where the bytes come from: the frame waits in the wire's ring ([`RxSource`])
//! until it is delivered; [`RxPath::plan`] takes the guest's requests and adds
//! grant copies from the ring's pages straight into the guest's, and
//! [`RxPath::commit`] runs them all in one `GNTTABOP_copy`. There is no queue
//! here: a guest without buffers leaves its frames in the ring
//! ([`RxPlan::NoRoom`]), which is bounded in bytes, and the Corm drops (and
//! counts) what no longer fits.
//!
//! Delivery policy, from the frontend's keys:
//! * more than one slot only with `feature-sg`; otherwise larger frames drop;
//! * GSO only with `feature-gso-tcpv4/6` (and checksum offload, which GSO
//!   needs); otherwise the frame is dropped and counted — a Spike whose
//!   guest takes no GSO offers none on its wire, so such frames do not come;
//! * a partial checksum is passed on (`csum_blank | data_validated`, as Linux
//!   `xenvif_rx_data_slot`) unless the frontend wrote `feature-no-csum-offload`
//!   (IPv4) or lacks `feature-ipv6-csum-offload` (IPv6): then the frame is
//!   copied privately (one page: such frames are not GSO), completed, and
//!   delivered from that copy.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::ops::Range;

use pv_runtime::abi::grant_table::{
    Copy as GrantCopy, CopyPtr, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_OKAY,
};
use pv_runtime::abi::DOMID_SELF;
use pv_runtime::ring::RingOverflow;
use thiserror::Error;

use super::checksum::{self, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETH_HLEN};
use super::netif::*;
use super::ring::{BackRing, Rx, SharedPage};
use super::tx::max_frame;
use super::{
    Counters, CsumMeta, Fatal, GrantCopier, Gso, GsoKind, LocalPages, RxFrame, RxSource, VifConfig,
};

/// Why [`Vif::rx_plan`](super::Vif::rx_plan) refused a frame (each counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum RxDrop {
    #[error("vif disconnected after a fatal frontend error")]
    Disconnected,
    #[error("frame length or checksum/GSO metadata invalid")]
    BadFrame,
    #[error("frame too large for the MTU or for a frontend without feature-sg")]
    Oversize,
    #[error("GSO kind not accepted by the frontend")]
    GsoUnsupported,
    #[error("the guest posted no rx buffers for too long")]
    NoBuffers,
}

/// What [`Vif::rx_plan`](super::Vif::rx_plan) did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxPlan {
    /// Its delivery is planned: keep the frame until `rx_commit`.
    Planned,
    /// It was refused and counted ([`RxDrop`]): nothing to deliver.
    Dropped(RxDrop),
    /// The guest has not posted enough buffers: leave the frame (and those
    /// behind it for this guest) in the ring; the frontend kicks us when it
    /// posts more (`req_event` is armed).
    NoRoom,
    /// The batch is full (a software-checksum page is busy), or the guest
    /// posted buffers just now: commit, then plan this frame again.
    Later,
}

/// What one RX commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxPass {
    /// Frames written into the guest's buffers (including failed copies,
    /// which are answered `NETIF_RSP_ERROR`).
    pub delivered: u32,
    /// Send the frontend an event.
    pub notify: bool,
}

/// One planned frame: its data slots' responses and copy ops.
struct Planned {
    slots: Range<usize>,
    len: usize,
}

/// One data slot: its response, the extra that follows it, its copy ops.
struct Slot {
    rsp: RxResponse,
    extra: Option<ExtraInfo>,
    ops: Range<usize>,
}

/// Pages for frames finished in software: one frame each, per commit.
const BOUNCE_FRAMES: usize = 8;

pub(super) struct RxPath<P: SharedPage> {
    ring: BackRing<P, Rx>,
    bounce: LocalPages,
    bounce_used: usize,
    /// Requests available in this batch (from `begin`), and taken so far.
    avail: Option<u32>,
    used: u32,
    ops: Vec<GrantCopy>,
    slots: Vec<Slot>,
    frames: Vec<Planned>,
}

fn ethertype(head: &[u8]) -> u16 {
    let at = if u16::from_be_bytes([head[12], head[13]]) == ETHERTYPE_VLAN {
        16
    } else {
        12
    };
    head.get(at..at + 2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

impl<P: SharedPage> RxPath<P> {
    /// `bounce`: private pages for frames finished in software (one page a
    /// frame; up to [`BOUNCE_FRAMES`] are used per commit).
    pub(super) fn new(page: P, bounce: LocalPages) -> Result<Self, RingOverflow> {
        Ok(Self {
            ring: BackRing::attach(page)?,
            bounce,
            bounce_used: 0,
            avail: None,
            used: 0,
            ops: Vec::new(),
            slots: Vec::new(),
            frames: Vec::new(),
        })
    }

    /// Frames planned and not yet committed.
    pub(super) fn planned(&self) -> usize {
        self.frames.len()
    }

    /// Checks `frame` against the frontend's features; its flags and
    /// whether it must be completed in software.
    fn judge(
        cfg: &VifConfig,
        frame: &RxFrame,
        head: &[u8],
    ) -> Result<(u16, Option<(usize, usize)>), RxDrop> {
        let len = frame.len;
        if !(ETH_HLEN..=MAX_TX_SIZE).contains(&len) {
            return Err(RxDrop::BadFrame);
        }
        let partial = match frame.meta.checksum {
            CsumMeta::Partial { start, offset } => {
                let (s, o) = (usize::from(start), usize::from(offset));
                checksum::check_partial(len, s, o).map_err(|_| RxDrop::BadFrame)?;
                Some((s, o))
            }
            _ => None,
        };
        let f = &cfg.features;
        let ipv6 = ethertype(head) == ETHERTYPE_IPV6;
        let complete_sw =
            partial.is_some() && (f.no_csum_offload || (ipv6 && !f.ipv6_csum_offload));
        match frame.meta.gso {
            Some(Gso { size: 0, .. }) => return Err(RxDrop::BadFrame),
            Some(_) if partial.is_none() => return Err(RxDrop::BadFrame),
            Some(Gso { kind, .. }) => {
                let wanted = match kind {
                    GsoKind::TcpV4 => f.gso_tcpv4,
                    GsoKind::TcpV6 => f.gso_tcpv6,
                };
                if !wanted || complete_sw || (!f.sg && len > PAGE_SIZE) {
                    return Err(RxDrop::GsoUnsupported);
                }
            }
            None => {
                let vlan = u16::from_be_bytes([head[12], head[13]]) == ETHERTYPE_VLAN;
                // A checksum finished in software is finished in one private
                // page: jumbo frames for such a frontend are dropped.
                let sw_big = complete_sw && len > PAGE_SIZE;
                if len > max_frame(cfg.mtu, vlan) || (!f.sg && len > PAGE_SIZE) || sw_big {
                    return Err(RxDrop::Oversize);
                }
            }
        }
        let flags = match (frame.meta.checksum, complete_sw) {
            (CsumMeta::Partial { .. }, false) => NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED,
            (CsumMeta::Validated, _) => NETRXF_DATA_VALIDATED,
            _ => 0,
        };
        Ok((flags, partial.filter(|_| complete_sw)))
    }

    /// Plans the delivery of `frame` (read from `src`): takes the guest's
    /// requests and adds the grant copies, to run at [`commit`](Self::commit).
    pub(super) fn plan(
        &mut self,
        cfg: &VifConfig,
        counters: &mut Counters,
        frame: &RxFrame,
        src: &mut impl RxSource,
    ) -> Result<RxPlan, Fatal> {
        let mut head = [0u8; 18];
        let n = frame.len.min(head.len());
        src.read(0, &mut head[..n]);
        let (flags, sw) = match Self::judge(cfg, frame, &head[..n.max(14)]) {
            Ok(v) => v,
            Err(e) => {
                *match e {
                    RxDrop::Disconnected => return Ok(RxPlan::Dropped(e)),
                    RxDrop::BadFrame => &mut counters.rx_bad_frame,
                    RxDrop::Oversize => &mut counters.rx_oversize,
                    RxDrop::GsoUnsupported => &mut counters.rx_gso_unsupported,
                    RxDrop::NoBuffers => &mut counters.rx_no_buffers,
                } += 1;
                return Ok(RxPlan::Dropped(e));
            }
        };
        if sw.is_some() && self.bounce_used >= self.bounce.len().min(BOUNCE_FRAMES) {
            return Ok(RxPlan::Later);
        }
        let avail = match self.avail {
            Some(a) => a,
            None => {
                let a = self.ring.begin().map_err(Fatal::RxRingOverflow)?;
                self.avail = Some(a);
                a
            }
        };
        let pages = frame.len.div_ceil(PAGE_SIZE);
        let need = (pages + usize::from(frame.meta.gso.is_some())) as u32;
        if self.used + need > avail {
            // Ask the frontend to kick us once the frame fits (Linux
            // `xenvif_rx_ring_slots_available`).
            let want = self.ring.req_cons().wrapping_add(self.used + need);
            self.ring.set_req_event(want);
            // The frontend may have posted between our look and the arming
            // (set_req_event fences): look again, or its kick may never come.
            let posted = self.ring.peek_req_prod().wrapping_sub(self.ring.req_cons());
            if posted >= self.used + need && posted <= self.ring.size() {
                return Ok(RxPlan::Later);
            }
            return Ok(RxPlan::NoRoom);
        }
        // Where the bytes come from: the ring, or a completed private copy.
        let bounce = match sw {
            Some((start, offset)) => {
                let page = self.bounce_used;
                self.bounce_used += 1;
                let b = &mut self.bounce.page_mut(page)[..frame.len];
                src.read(0, b);
                if checksum::complete(b, start, offset).is_err() {
                    self.bounce_used -= 1;
                    counters.rx_bad_frame += 1;
                    return Ok(RxPlan::Dropped(RxDrop::BadFrame));
                }
                counters.rx_csum_completed += 1;
                Some(page)
            }
            None => None,
        };
        let first = self.slots.len();
        for j in 0..pages {
            let req = self.ring.read(self.used);
            self.used += 1;
            let n = (frame.len - j * PAGE_SIZE).min(PAGE_SIZE);
            let mut flags_j = 0;
            let mut extra = None;
            if j == 0 {
                flags_j = flags;
                if let Some(Gso { kind, size }) = frame.meta.gso {
                    flags_j |= NETRXF_EXTRA_INFO;
                    let t = match kind {
                        GsoKind::TcpV4 => GSO_TYPE_TCPV4,
                        GsoKind::TcpV6 => GSO_TYPE_TCPV6,
                    };
                    extra = Some(ExtraInfo::gso(size, t));
                    self.used += 1;
                }
            }
            if j + 1 < pages {
                flags_j |= NETRXF_MORE_DATA;
            }
            let ops_start = self.ops.len();
            let mut done = 0;
            while done < n {
                let at = j * PAGE_SIZE + done;
                let (source, room, gref) = match bounce {
                    Some(page) => (
                        CopyPtr {
                            u: self.bounce.mfn(page),
                            domid: DOMID_SELF,
                            offset: at as u16,
                        },
                        PAGE_SIZE - at,
                        false,
                    ),
                    None => match src.origin(at) {
                        Some(o) => (o.ptr, o.room, o.gref),
                        // A source that cannot place its bytes: an op that
                        // fails, so the frame is answered with an error.
                        None => (CopyPtr::default(), n - done, true),
                    },
                };
                let chunk = (n - done).min(room).max(1);
                self.ops.push(GrantCopy {
                    source,
                    dest: CopyPtr {
                        u: req.gref.into(),
                        domid: cfg.frontend_domid,
                        offset: done as u16,
                    },
                    len: chunk as u16,
                    flags: GNTCOPY_DEST_GREF | if gref { GNTCOPY_SOURCE_GREF } else { 0 },
                    status: 0,
                });
                done += chunk;
            }
            self.slots.push(Slot {
                rsp: RxResponse {
                    id: req.id,
                    offset: 0,
                    flags: flags_j,
                    status: n as i16,
                },
                extra,
                ops: ops_start..self.ops.len(),
            });
        }
        self.frames.push(Planned {
            slots: first..self.slots.len(),
            len: frame.len,
        });
        Ok(RxPlan::Planned)
    }

    /// Runs the planned copies in one hypercall and answers their requests.
    pub(super) fn commit(
        &mut self,
        counters: &mut Counters,
        copier: &mut impl GrantCopier,
    ) -> Result<RxPass, Fatal> {
        let mut pass = RxPass::default();
        if self.frames.is_empty() {
            self.avail = None;
            return Ok(pass);
        }
        self.ring.consume(self.used);
        let copied = copier.copy(&mut self.ops).is_ok();
        if !copied {
            counters.copy_hypercall_failed += 1;
        }
        for f in self.frames.drain(..) {
            let mut failed = false;
            for s in &self.slots[f.slots.clone()] {
                let mut rsp = s.rsp;
                if !copied
                    || self.ops[s.ops.clone()]
                        .iter()
                        .any(|o| o.status != GNTST_OKAY)
                {
                    rsp.status = RSP_ERROR;
                    failed = true;
                }
                self.ring.respond(rsp);
                if let Some(e) = s.extra {
                    self.ring.respond(e);
                }
            }
            if failed {
                counters.rx_copy_failed += 1;
            } else {
                counters.rx_packets += 1;
                counters.rx_bytes += f.len as u64;
            }
            pass.delivered += 1;
        }
        self.ops.clear();
        self.slots.clear();
        self.avail = None;
        self.used = 0;
        self.bounce_used = 0;
        pass.notify = self.ring.push_responses();
        Ok(pass)
    }

    /// Whether the guest has posted requests not yet taken (peek only).
    pub(super) fn posted(&self) -> bool {
        self.ring.peek_req_prod() != self.ring.req_cons()
    }
}
