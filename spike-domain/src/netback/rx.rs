//! World → guest: the RX ring (netif.h "Guest receive").
//!
//! The frontend posts `netif_rx_request`s, each granting one page. A packet
//! takes one request per 4 KiB of data (at offset 0, `status` = bytes), the
//! first flagged with its checksum state and `NETRXF_extra_info` when a GSO
//! `netif_extra_info` follows in the *next* slot, every data slot but the last
//! with `NETRXF_more_data`. Responses must sit in the same ring slot as the
//! request they answer (netif.h: netfront ignores the rx response id), which
//! holds because every flush answers all the requests it consumed, in order.
//!
//! Delivery policy, from the frontend's keys:
//! * more than one slot only with `feature-sg`; otherwise larger frames drop;
//! * GSO only with `feature-gso-tcpv4/6` (and checksum offload, which GSO
//!   needs); otherwise the frame is dropped and counted — not segmented: a
//!   Spike that did not offer GSO towards the guest never receives such frames
//!   from a wire that agreed the same features;
//! * a partial checksum is passed on (`csum_blank | data_validated`, as Linux
//!   `xenvif_rx_data_slot`) unless the frontend wrote `feature-no-csum-offload`
//!   (IPv4) or lacks `feature-ipv6-csum-offload` (IPv6): then it is completed
//!   in software first.
//!
//! Frames wait in a queue bounded in frames and in pool pages (XEN-FACTS
//! checklist 5); when it is full the frame is dropped and counted as
//! `rx_no_buffers` if the guest has no buffers posted, `rx_queue_full` if it has.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use heapless::Vec as HVec;
use pv_runtime::abi::grant_table::{Copy as GrantCopy, CopyPtr, GNTCOPY_DEST_GREF, GNTST_OKAY};
use pv_runtime::abi::DOMID_SELF;
use pv_runtime::ring::RingOverflow;
use thiserror::Error;

use super::checksum::{self, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETH_HLEN};
use super::netif::*;
use super::ring::{BackRing, Rx, SharedPage};
use super::tx::max_frame;
use super::{Counters, CsumMeta, Fatal, GrantCopier, Gso, GsoKind, LocalPages, RxFrame, VifConfig};

/// Pages of the largest frame (`XEN_NETIF_MAX_TX_SIZE`, the same bound both ways).
const MAX_RX_PAGES: usize = MAX_TX_SIZE.div_ceil(PAGE_SIZE);

/// Why [`Vif::queue_rx`](super::Vif::queue_rx) refused a frame (each counted).
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
    #[error("guest posted no rx buffers and the queue is full")]
    NoBuffers,
    #[error("rx queue full")]
    QueueFull,
}

/// What one RX flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxPass {
    /// Frames written into the guest's buffers (including failed copies,
    /// which are answered `NETIF_RSP_ERROR`).
    pub delivered: u32,
    /// Send the frontend an event.
    pub notify: bool,
    /// Frames are still queued and buffers are available: flush again.
    pub more: bool,
}

struct Queued {
    pages: HVec<u16, MAX_RX_PAGES>,
    len: usize,
    flags: u16,
    gso: Option<Gso>,
}

pub(super) struct RxPath<P: SharedPage> {
    ring: BackRing<P, Rx>,
    pool: LocalPages,
    free: Vec<u16>,
    queue: VecDeque<Queued>,
    ops: Vec<GrantCopy>,
    /// Per data slot: its response, and the extra that follows it.
    plan: Vec<(RxResponse, Option<ExtraInfo>)>,
    scratch: Vec<u8>,
}

fn ethertype(data: &[u8]) -> u16 {
    let at = if u16::from_be_bytes([data[12], data[13]]) == ETHERTYPE_VLAN {
        16
    } else {
        12
    };
    data.get(at..at + 2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

impl<P: SharedPage> RxPath<P> {
    pub(super) fn new(page: P, pool: LocalPages) -> Result<Self, RingOverflow> {
        let n = pool.len().min(usize::from(u16::MAX)) as u16;
        Ok(Self {
            ring: BackRing::attach(page)?,
            pool,
            free: (0..n).rev().collect(),
            queue: VecDeque::new(),
            ops: Vec::new(),
            plan: Vec::new(),
            scratch: Vec::new(),
        })
    }

    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn queue(
        &mut self,
        cfg: &VifConfig,
        counters: &mut Counters,
        frame: RxFrame<'_>,
    ) -> Result<(), RxDrop> {
        let r = self.check_and_queue(cfg, counters, frame);
        if let Err(e) = r {
            *match e {
                RxDrop::Disconnected => return r,
                RxDrop::BadFrame => &mut counters.rx_bad_frame,
                RxDrop::Oversize => &mut counters.rx_oversize,
                RxDrop::GsoUnsupported => &mut counters.rx_gso_unsupported,
                RxDrop::NoBuffers => &mut counters.rx_no_buffers,
                RxDrop::QueueFull => &mut counters.rx_queue_full,
            } += 1;
        }
        r
    }

    fn check_and_queue(
        &mut self,
        cfg: &VifConfig,
        counters: &mut Counters,
        frame: RxFrame<'_>,
    ) -> Result<(), RxDrop> {
        let (data, len) = (frame.data, frame.data.len());
        if !(ETH_HLEN..=MAX_TX_SIZE).contains(&len) {
            return Err(RxDrop::BadFrame);
        }
        let partial = match frame.csum {
            CsumMeta::Partial { start, offset } => {
                let (s, o) = (usize::from(start), usize::from(offset));
                checksum::check_partial(len, s, o).map_err(|_| RxDrop::BadFrame)?;
                Some((s, o))
            }
            _ => None,
        };
        let f = &cfg.features;
        let ipv6 = ethertype(data) == ETHERTYPE_IPV6;
        let complete_sw =
            partial.is_some() && (f.no_csum_offload || (ipv6 && !f.ipv6_csum_offload));
        match frame.gso {
            Some((_, 0)) => return Err(RxDrop::BadFrame),
            Some(_) if partial.is_none() => return Err(RxDrop::BadFrame),
            Some((kind, _)) => {
                let wanted = match kind {
                    GsoKind::TcpV4 => f.gso_tcpv4,
                    GsoKind::TcpV6 => f.gso_tcpv6,
                };
                if !wanted || complete_sw || (!f.sg && len > PAGE_SIZE) {
                    return Err(RxDrop::GsoUnsupported);
                }
            }
            None => {
                let vlan = u16::from_be_bytes([data[12], data[13]]) == ETHERTYPE_VLAN;
                if len > max_frame(cfg.mtu, vlan) || (!f.sg && len > PAGE_SIZE) {
                    return Err(RxDrop::Oversize);
                }
            }
        }
        let npages = len.div_ceil(PAGE_SIZE);
        if self.queue.len() >= cfg.limits.rx_queue_frames || self.free.len() < npages {
            let posted = self.ring.peek_req_prod() != self.ring.req_cons();
            return Err(if posted {
                RxDrop::QueueFull
            } else {
                RxDrop::NoBuffers
            });
        }
        let flags = match (frame.csum, complete_sw) {
            (CsumMeta::Partial { .. }, false) => NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED,
            (CsumMeta::Validated, _) => NETRXF_DATA_VALIDATED,
            _ => 0,
        };
        let src = match partial {
            Some((s, o)) if complete_sw => {
                self.scratch.clear();
                self.scratch.extend_from_slice(data);
                checksum::complete(&mut self.scratch, s, o).map_err(|_| RxDrop::BadFrame)?;
                counters.rx_csum_completed += 1;
                &self.scratch[..]
            }
            _ => data,
        };
        let mut pages = HVec::new();
        for chunk in src.chunks(PAGE_SIZE) {
            let Some(pg) = self.free.pop() else { break };
            self.pool.page_mut(pg.into())[..chunk.len()].copy_from_slice(chunk);
            let _ = pages.push(pg);
        }
        self.queue.push_back(Queued {
            pages,
            len,
            flags,
            gso: frame.gso,
        });
        Ok(())
    }

    pub(super) fn purge(&mut self, counters: &mut Counters) -> usize {
        let n = self.queue.len();
        for q in self.queue.drain(..) {
            self.free.extend_from_slice(&q.pages);
        }
        counters.rx_no_buffers += n as u64;
        n
    }

    pub(super) fn flush(
        &mut self,
        cfg: &VifConfig,
        counters: &mut Counters,
        copier: &mut impl GrantCopier,
    ) -> Result<RxPass, Fatal> {
        let mut pass = RxPass::default();
        if self.queue.is_empty() {
            return Ok(pass);
        }
        let avail = self.ring.begin().map_err(Fatal::RxRingOverflow)? as usize;
        self.ops.clear();
        self.plan.clear();
        let mut used = 0;
        let mut frames = 0;
        let mut stalled = None;
        for q in self.queue.iter().take(cfg.limits.rx_budget) {
            let need = q.pages.len() + usize::from(q.gso.is_some());
            if used + need > avail {
                stalled = Some(need);
                break;
            }
            for (j, &pg) in q.pages.iter().enumerate() {
                let req = self.ring.read(used as u32);
                used += 1;
                let n = (q.len - j * PAGE_SIZE).min(PAGE_SIZE);
                let mut flags = 0;
                let mut extra = None;
                if j == 0 {
                    flags = q.flags;
                    if let Some((kind, size)) = q.gso {
                        flags |= NETRXF_EXTRA_INFO;
                        let t = match kind {
                            GsoKind::TcpV4 => GSO_TYPE_TCPV4,
                            GsoKind::TcpV6 => GSO_TYPE_TCPV6,
                        };
                        extra = Some(ExtraInfo::gso(size, t));
                        used += 1;
                    }
                }
                if j + 1 < q.pages.len() {
                    flags |= NETRXF_MORE_DATA;
                }
                self.ops.push(GrantCopy {
                    source: CopyPtr {
                        u: self.pool.mfn(pg.into()),
                        domid: DOMID_SELF,
                        offset: 0,
                    },
                    dest: CopyPtr {
                        u: req.gref.into(),
                        domid: cfg.frontend_domid,
                        offset: 0,
                    },
                    len: n as u16,
                    flags: GNTCOPY_DEST_GREF,
                    status: 0,
                });
                self.plan.push((
                    RxResponse {
                        id: req.id,
                        offset: 0,
                        flags,
                        status: n as i16,
                    },
                    extra,
                ));
            }
            frames += 1;
        }
        self.ring.consume(used as u32);

        let copied = self.ops.is_empty() || copier.copy(&mut self.ops).is_ok();
        if !copied {
            counters.copy_hypercall_failed += 1;
        }
        let mut slot = 0;
        for _ in 0..frames {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            let mut failed = false;
            for _ in 0..q.pages.len() {
                let (mut rsp, extra) = self.plan[slot];
                if !copied || self.ops[slot].status != GNTST_OKAY {
                    rsp.status = RSP_ERROR;
                    failed = true;
                }
                self.ring.respond(rsp);
                if let Some(e) = extra {
                    self.ring.respond(e);
                }
                slot += 1;
            }
            if failed {
                counters.rx_copy_failed += 1;
            } else {
                counters.rx_packets += 1;
                counters.rx_bytes += q.len as u64;
            }
            self.free.extend_from_slice(&q.pages);
            pass.delivered += 1;
        }
        pass.notify = self.ring.push_responses();
        pass.more = match stalled {
            // Ask the frontend to kick us once the head frame fits
            // (Linux `xenvif_rx_ring_slots_available`).
            Some(need) => {
                let want = self.ring.req_cons().wrapping_add(need as u32);
                self.ring.set_req_event(want);
                self.ring.peek_req_prod().wrapping_sub(self.ring.req_cons()) as usize >= need
            }
            None => !self.queue.is_empty(),
        };
        Ok(pass)
    }
}
