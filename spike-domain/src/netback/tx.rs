//! Guest → world: the TX ring (netif.h "Guest transmit").
//!
//! A packet is a first `netif_tx_request` whose `size` is the *total* length,
//! optional `netif_extra_info` slots (`NETTXF_extra_info`, chained with
//! `XEN_NETIF_EXTRA_FLAG_MORE`), then more requests while `NETTXF_more_data`
//! is set; the first slot's own length is the total minus the others.
//!
//! What is fatal and what is only an error follows Linux netback
//! (`xenvif_tx_build_gops`, `xenvif_count_requests`, `xenvif_get_extras`,
//! `xenvif_set_skb_gso`): an impossible `req_prod`, a chain longer than
//! [`MAX_TX_SLOTS`] or running past the published requests, a slot crossing
//! its page, a missing or unknown extra, a zero or unknown GSO type are fatal;
//! a first size below the sum of the rest, a frame under 14 bytes and unknown
//! flag bits are answered `NETIF_RSP_ERROR` (the slots are still consumed).
//!
//! Responses: one per consumed request, in order. Every data slot gets the
//! packet's status under its own `id` (netfront frees each slot's grant by
//! id), extra-info slots get `NETIF_RSP_NULL` — Linux `make_tx_response`.
//!
//! Where the bytes go: one `GNTTABOP_copy` batch per pass moves each
//! packet's first [`HEADER_COPY_LEN`] bytes into a private header slot (a
//! page of `pool`), and the rest straight into room the [`TxSink`] reserved
//! in the wire's ring (the guest's page to the Corm's, never through ours).
//! The header copy is checked (anti-spoof, offload headers; XSA-155: the
//! guest cannot change it any more) and then written into the ring slot, so
//! the ring holds exactly what was checked. A full sink leaves the packet
//! on the guest's ring: backpressure, never a drop. So does a spent TX
//! credit (the vif `rate`, [`super::credit`]), checked on the packet's
//! private copy of its first request, as Linux does before consuming it.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::ops::Range;

use heapless::Vec as HVec;
use pv_runtime::abi::grant_table::{
    Copy as GrantCopy, CopyPtr, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_OKAY,
};
use pv_runtime::abi::DOMID_SELF;
use pv_runtime::ring::RingOverflow;

use super::checksum::{self, IpVersion, ETHERTYPE_VLAN, ETH_HLEN, IPPROTO_TCP};
use super::netif::*;
use super::ring::{BackRing, SharedPage, Tx};
use super::{
    Counters, CsumMeta, Fatal, FrameMeta, GrantCopier, Gso, GsoKind, LocalPages, SinkError,
    TxCredit, TxSink, VifConfig,
};
use netframe::HEADER_COPY_LEN;

/// Header slots per pool page.
const HEADERS_PER_PAGE: usize = PAGE_SIZE / HEADER_COPY_LEN;

/// Longest slot chain accepted for one packet: at least `XEN_NETIF_NR_SLOTS_MIN`
/// (netif.h); beyond it the frontend is treated as malicious (Linux's
/// `fatal_skb_slots`, default 20, is the same idea with a tighter bound —
/// frames are linearised here, so extra slots cost nothing but ring space).
pub const MAX_TX_SLOTS: usize = 64;
/// One extra slot per defined type is all a sane frontend sends.
pub const MAX_TX_EXTRAS: usize = (EXTRA_TYPE_MAX - 1) as usize;

const _: () = assert!(MAX_TX_SLOTS >= NR_SLOTS_MIN);

/// What one TX pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxPass {
    /// Requests consumed (and answered).
    pub consumed: u32,
    /// Frames handed to the sink.
    pub delivered: u32,
    /// Send the frontend an event (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`).
    pub notify: bool,
    /// Requests are still waiting: run another pass (budget or pool exhausted,
    /// or new requests raced `RING_FINAL_CHECK_FOR_REQUESTS`).
    pub more: bool,
    /// The sink was full: packets were left on the ring; run again when the
    /// sink has room (its kick), not before.
    pub blocked: bool,
    /// The credit (the vif `rate`) ran out: packets were left on the ring;
    /// run again at this time (a timer), not before. The ring's event is not
    /// re-armed meanwhile (Linux: no `napi` rescheduling while
    /// `rate_limited`).
    pub credit_wait: Option<u64>,
}

#[derive(Clone, Copy)]
enum Outcome {
    Deliver,
    Respond(i16),
}

struct Pending<S> {
    rsps: Range<usize>,
    ops: Range<usize>,
    /// Header slot index in the pool (page `hdr / HEADERS_PER_PAGE`).
    hdr: usize,
    len: usize,
    flags: u16,
    gso: Option<Gso>,
    outcome: Outcome,
    slot: Option<S>,
}

/// One packet's requests, copied out and checked for what Linux treats as fatal.
struct Parsed {
    slots: u32,
    data: HVec<TxRequest, MAX_TX_SLOTS>,
    first_len: usize,
    total: usize,
    flags: u16,
    gso: Option<Gso>,
    mcast: bool,
    malformed: bool,
    too_short: bool,
}

pub(super) struct TxPath<P: SharedPage> {
    ring: BackRing<P, Tx>,
    ops: Vec<GrantCopy>,
    /// Response ids in ring order; `None` = an extra slot (`NETIF_RSP_NULL`).
    rsps: Vec<Option<u16>>,
}

impl<P: SharedPage> TxPath<P> {
    pub(super) fn new(page: P) -> Result<Self, RingOverflow> {
        Ok(Self {
            ring: BackRing::attach(page)?,
            ops: Vec::new(),
            rsps: Vec::new(),
        })
    }

    pub(super) fn final_check(&mut self) -> bool {
        self.ring.final_check()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn process<S: TxSink>(
        &mut self,
        cfg: &VifConfig,
        counters: &mut Counters,
        credit: &mut TxCredit,
        now_ns: u64,
        copier: &mut impl GrantCopier,
        pool: &mut LocalPages,
        sink: &mut S,
    ) -> Result<TxPass, Fatal> {
        self.ops.clear();
        self.rsps.clear();
        let mut pending: Vec<Pending<S::Slot>> = Vec::new();
        let mut pass = TxPass::default();
        self.ring.begin().map_err(Fatal::TxRingOverflow)?;
        let headers = pool.len() * HEADERS_PER_PAGE;
        let mut stopped_early = false;
        while self.ring.remaining() > 0 {
            if pending.len() >= cfg.limits.tx_budget || pending.len() >= headers {
                stopped_early = true;
                break;
            }
            let rsp_start = self.rsps.len();
            let p = self.parse()?;
            // Charged on the size this pass read (never re-read from the
            // ring), good packet or bad, like Linux.
            if let Err(until) = credit.take(p.total as u64, now_ns) {
                self.rsps.truncate(rsp_start);
                counters.tx_credit_waits += 1;
                pass.credit_wait = Some(until);
                break;
            }
            let mut outcome = judge(&p, cfg, counters);
            let mut slot = None;
            if matches!(outcome, Outcome::Deliver) {
                match sink.reserve(p.total) {
                    Ok(s) => slot = Some(s),
                    Err(SinkError::Full) => {
                        // Leave the packet on the ring for a later pass,
                        // which reads, validates and charges it afresh.
                        credit.refund(p.total as u64);
                        self.rsps.truncate(rsp_start);
                        pass.blocked = true;
                        break;
                    }
                    Err(SinkError::Refused) => {
                        counters.tx_sink_full += 1;
                        outcome = Outcome::Respond(RSP_DROPPED);
                    }
                }
            }
            self.ring.consume(p.slots);
            counters.tx_requests += u64::from(p.slots);
            pass.consumed += p.slots;
            let ops_start = self.ops.len();
            let hdr = pending.len();
            if let Some(s) = &slot {
                self.build_ops(&p, cfg, pool, hdr, sink, s);
            }
            pending.push(Pending {
                rsps: rsp_start..self.rsps.len(),
                ops: ops_start..self.ops.len(),
                hdr,
                len: p.total,
                flags: p.flags,
                gso: p.gso,
                outcome,
                slot,
            });
        }

        let copied = self.ops.is_empty() || copier.copy(&mut self.ops).is_ok();
        if !copied {
            counters.copy_hypercall_failed += 1;
        }
        for mut f in pending {
            let ops_ok = copied
                && self.ops[f.ops.clone()]
                    .iter()
                    .all(|o| o.status == GNTST_OKAY);
            let status = match (f.outcome, f.slot.take()) {
                (Outcome::Respond(s), _) => s,
                (Outcome::Deliver, Some(slot)) if ops_ok => {
                    deliver(&f, slot, cfg, counters, pool, sink)
                }
                (Outcome::Deliver, slot) => {
                    if let Some(slot) = slot {
                        sink.cancel(slot);
                    }
                    counters.tx_copy_failed += 1;
                    RSP_ERROR
                }
            };
            if status == RSP_OKAY && matches!(f.outcome, Outcome::Deliver) {
                pass.delivered += 1;
            }
            for r in &self.rsps[f.rsps.clone()] {
                let rsp = match r {
                    Some(id) => TxResponse { id: *id, status },
                    None => TxResponse {
                        id: 0,
                        status: RSP_NULL,
                    },
                };
                self.ring.respond(rsp);
            }
        }
        pass.notify = self.ring.push_responses();
        pass.more = !pass.blocked
            && pass.credit_wait.is_none()
            && (stopped_early || self.ring.final_check());
        Ok(pass)
    }

    /// Copies one packet's requests out of the ring (each slot read once) and
    /// applies the fatal checks. Nothing is consumed yet.
    fn parse(&mut self) -> Result<Parsed, Fatal> {
        let avail = self.ring.remaining();
        let first = self.ring.read(0);
        let mut k = 1;
        let mut malformed = first.flags & !NETTXF_KNOWN != 0;
        self.rsps.push(Some(first.id));
        let (mut gso, mut mcast) = (None, false);
        if first.flags & NETTXF_EXTRA_INFO != 0 {
            for n in 0.. {
                if n == MAX_TX_EXTRAS {
                    return Err(Fatal::TooManyExtras { max: MAX_TX_EXTRAS });
                }
                if k >= avail {
                    return Err(Fatal::MissingExtra);
                }
                let e = self.ring.read(k).as_extra();
                k += 1;
                self.rsps.push(None);
                match e.ty {
                    EXTRA_TYPE_GSO => {
                        let size = e.gso_size();
                        if size == 0 {
                            return Err(Fatal::GsoSizeZero);
                        }
                        malformed |= size < netframe::MIN_GSO_SIZE;
                        let kind = match e.gso_type() {
                            GSO_TYPE_TCPV4 => GsoKind::TcpV4,
                            GSO_TYPE_TCPV6 => GsoKind::TcpV6,
                            t => return Err(Fatal::BadGsoType(t)),
                        };
                        gso = Some(Gso { kind, size });
                    }
                    EXTRA_TYPE_MCAST_ADD | EXTRA_TYPE_MCAST_DEL => mcast = true,
                    EXTRA_TYPE_HASH => {}
                    t => return Err(Fatal::BadExtraType(t)),
                }
                malformed |= e.flags & !EXTRA_FLAG_MORE != 0;
                if e.flags & EXTRA_FLAG_MORE == 0 {
                    break;
                }
            }
        }
        let mut data = HVec::new();
        let _ = data.push(first);
        let mut remaining = u32::from(first.size);
        let mut mismatch = false;
        let mut more = first.flags & NETTXF_MORE_DATA != 0;
        while more {
            if data.len() >= MAX_TX_SLOTS {
                return Err(Fatal::ChainTooLong { max: MAX_TX_SLOTS });
            }
            if k >= avail {
                return Err(Fatal::IncompleteChain);
            }
            let t = self.ring.read(k);
            k += 1;
            self.rsps.push(Some(t.id));
            if usize::from(t.offset) + usize::from(t.size) > PAGE_SIZE {
                return Err(Fatal::SlotCrossesPage {
                    offset: t.offset,
                    size: t.size.into(),
                });
            }
            malformed |= t.flags & !NETTXF_KNOWN != 0;
            match remaining.checked_sub(t.size.into()) {
                Some(r) => remaining = r,
                None => {
                    mismatch = true;
                    remaining = 0;
                }
            }
            more = t.flags & NETTXF_MORE_DATA != 0;
            let _ = data.push(t);
        }
        if !mismatch && u32::from(first.offset) + remaining > PAGE_SIZE as u32 {
            return Err(Fatal::SlotCrossesPage {
                offset: first.offset,
                size: remaining,
            });
        }
        let total = usize::from(first.size);
        Ok(Parsed {
            slots: k,
            data,
            first_len: remaining as usize,
            total,
            flags: first.flags,
            gso,
            mcast,
            malformed: malformed || mismatch,
            too_short: total < ETH_HLEN,
        })
    }

    /// One grant copy per piece: each guest slot's bytes, split where the
    /// private header slot ends and where the sink's ring pages end.
    fn build_ops<S: TxSink>(
        &mut self,
        p: &Parsed,
        cfg: &VifConfig,
        pool: &LocalPages,
        hdr: usize,
        sink: &mut S,
        slot: &S::Slot,
    ) {
        let hlen = p.total.min(HEADER_COPY_LEN);
        let (hpage, hoff) = (
            hdr / HEADERS_PER_PAGE,
            (hdr % HEADERS_PER_PAGE) * HEADER_COPY_LEN,
        );
        let mut pos = 0;
        for (i, s) in p.data.iter().enumerate() {
            let mut len = if i == 0 {
                p.first_len
            } else {
                usize::from(s.size)
            };
            let mut src = usize::from(s.offset);
            while len > 0 {
                let (dest, chunk, dest_gref) = if pos < hlen {
                    let dest = CopyPtr {
                        u: pool.mfn(hpage),
                        domid: DOMID_SELF,
                        offset: (hoff + pos) as u16,
                    };
                    (dest, len.min(hlen - pos), false)
                } else {
                    let Some(t) = sink.target(slot, pos) else {
                        // A sink that cannot place its own bytes: the copy
                        // op below fails, answering the packet with an error.
                        self.ops.push(GrantCopy {
                            status: 0,
                            len: 0,
                            flags: u16::MAX,
                            ..GrantCopy::default()
                        });
                        return;
                    };
                    (t.ptr, len.min(t.room), t.gref)
                };
                let flags = GNTCOPY_SOURCE_GREF | if dest_gref { GNTCOPY_DEST_GREF } else { 0 };
                self.ops.push(GrantCopy {
                    source: CopyPtr {
                        u: s.gref.into(),
                        domid: cfg.frontend_domid,
                        offset: src as u16,
                    },
                    dest,
                    len: chunk as u16,
                    flags,
                    status: 0,
                });
                pos += chunk;
                src += chunk;
                len -= chunk;
            }
        }
        debug_assert_eq!(pos, p.total);
    }
}

/// The verdict that needs no packet data.
fn judge(p: &Parsed, cfg: &VifConfig, counters: &mut Counters) -> Outcome {
    if p.malformed {
        counters.tx_bad_request += 1;
        return Outcome::Respond(RSP_ERROR);
    }
    // Multicast-control requests are dummies (netif.h); we do no filtering.
    if p.mcast {
        counters.tx_mcast_ignored += 1;
        return Outcome::Respond(RSP_OKAY);
    }
    if p.too_short {
        counters.tx_bad_request += 1;
        return Outcome::Respond(RSP_ERROR);
    }
    match p.gso {
        Some(Gso {
            kind: GsoKind::TcpV4,
            ..
        }) if !cfg.offered.gso_tcpv4 => {
            counters.tx_gso_not_offered += 1;
            Outcome::Respond(RSP_ERROR)
        }
        Some(Gso {
            kind: GsoKind::TcpV6,
            ..
        }) if !cfg.offered.gso_tcpv6 => {
            counters.tx_gso_not_offered += 1;
            Outcome::Respond(RSP_ERROR)
        }
        None if p.total > max_frame(cfg.mtu, true) => {
            counters.tx_oversize += 1;
            Outcome::Respond(RSP_ERROR)
        }
        _ => Outcome::Deliver,
    }
}

/// MTU plus the Ethernet header, plus one 802.1Q tag if the frame has one.
pub(super) fn max_frame(mtu: u16, vlan: bool) -> usize {
    usize::from(mtu) + ETH_HLEN + if vlan { 4 } else { 0 }
}

/// Checks the packet's private header copy (anti-spoof, size, checksum/GSO
/// headers) and commits the frame to the sink. Returns the status for the
/// packet's slots.
fn deliver<S: TxSink>(
    f: &Pending<S::Slot>,
    slot: S::Slot,
    cfg: &VifConfig,
    counters: &mut Counters,
    pool: &mut LocalPages,
    sink: &mut S,
) -> i16 {
    let hlen = f.len.min(HEADER_COPY_LEN);
    let (hpage, hoff) = (
        f.hdr / HEADERS_PER_PAGE,
        (f.hdr % HEADERS_PER_PAGE) * HEADER_COPY_LEN,
    );
    let data = &mut pool.page_mut(hpage)[hoff..hoff + hlen];
    let status = check(f, cfg, counters, data);
    let meta = match status {
        Ok(meta) => meta,
        Err(status) => {
            sink.cancel(slot);
            return status;
        }
    };
    if sink.commit(slot, data, f.len, meta) {
        counters.tx_packets += 1;
        counters.tx_bytes += f.len as u64;
        RSP_OKAY
    } else {
        counters.tx_sink_full += 1;
        RSP_DROPPED
    }
}

/// The checks on a packet's header copy (`data`, its first bytes), fixing
/// it up where Linux does; its metadata, or the status to answer.
fn check<S>(
    f: &Pending<S>,
    cfg: &VifConfig,
    counters: &mut Counters,
    data: &mut [u8],
) -> Result<FrameMeta, i16> {
    if data[6..12] != cfg.mac {
        counters.tx_spoofed_mac += 1;
        return Err(RSP_DROPPED);
    }
    let vlan = u16::from_be_bytes([data[12], data[13]]) == ETHERTYPE_VLAN;
    if f.gso.is_none() && f.len > max_frame(cfg.mtu, vlan) {
        counters.tx_oversize += 1;
        return Err(RSP_ERROR);
    }
    let csum = if f.flags & NETTXF_CSUM_BLANK != 0 || f.gso.is_some() {
        let Ok(loc) = checksum::locate_in(data, f.len) else {
            counters.tx_csum_setup_failed += 1;
            return Err(RSP_ERROR);
        };
        if let Some(Gso { kind, .. }) = f.gso {
            let ip = match kind {
                GsoKind::TcpV4 => IpVersion::V4,
                GsoKind::TcpV6 => IpVersion::V6,
            };
            if loc.ip != ip || loc.proto != IPPROTO_TCP {
                counters.tx_bad_gso += 1;
                return Err(RSP_ERROR);
            }
            // A GSO frame must be CHECKSUM_PARTIAL; buggy frontends omit
            // csum_blank, so Linux recomputes the pseudo-header sum.
            if f.flags & NETTXF_CSUM_BLANK == 0 && checksum::set_pseudo(data, &loc).is_err() {
                counters.tx_csum_setup_failed += 1;
                return Err(RSP_ERROR);
            }
        }
        CsumMeta::Partial {
            start: loc.start,
            offset: loc.offset,
        }
    } else if f.flags & NETTXF_DATA_VALIDATED != 0 {
        CsumMeta::Validated
    } else {
        CsumMeta::None
    };
    Ok(FrameMeta {
        checksum: csum,
        gso: f.gso,
    })
}
