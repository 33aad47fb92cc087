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

use alloc::vec::Vec;
use core::ops::Range;

use heapless::Vec as HVec;
use pv_runtime::abi::grant_table::{Copy as GrantCopy, CopyPtr, GNTCOPY_SOURCE_GREF, GNTST_OKAY};
use pv_runtime::abi::DOMID_SELF;
use pv_runtime::ring::RingOverflow;

use super::checksum::{self, IpVersion, ETHERTYPE_VLAN, ETH_HLEN, IPPROTO_TCP};
use super::netif::*;
use super::ring::{BackRing, SharedPage, Tx};
use super::{
    Counters, CsumMeta, Fatal, GrantCopier, Gso, GsoKind, LocalPages, TxFrame, TxSink, VifConfig,
};

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
}

enum Outcome {
    Deliver,
    Respond(i16),
}

struct Pending {
    rsps: Range<usize>,
    ops: Range<usize>,
    first_page: usize,
    len: usize,
    flags: u16,
    gso: Option<Gso>,
    outcome: Outcome,
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
    pending: Vec<Pending>,
    /// Response ids in ring order; `None` = an extra slot (`NETIF_RSP_NULL`).
    rsps: Vec<Option<u16>>,
    scratch: Vec<u8>,
}

impl<P: SharedPage> TxPath<P> {
    pub(super) fn new(page: P) -> Result<Self, RingOverflow> {
        Ok(Self {
            ring: BackRing::attach(page)?,
            ops: Vec::new(),
            pending: Vec::new(),
            rsps: Vec::new(),
            scratch: Vec::new(),
        })
    }

    pub(super) fn final_check(&mut self) -> bool {
        self.ring.final_check()
    }

    pub(super) fn process(
        &mut self,
        cfg: &VifConfig,
        counters: &mut Counters,
        copier: &mut impl GrantCopier,
        pool: &mut LocalPages,
        sink: &mut impl TxSink,
    ) -> Result<TxPass, Fatal> {
        self.ops.clear();
        self.pending.clear();
        self.rsps.clear();
        let mut pass = TxPass::default();
        self.ring.begin().map_err(Fatal::TxRingOverflow)?;
        let mut next_page = 0;
        let mut stopped_early = false;
        while self.ring.remaining() > 0 {
            if self.pending.len() >= cfg.limits.tx_budget {
                stopped_early = true;
                break;
            }
            let rsp_start = self.rsps.len();
            let p = self.parse()?;
            let mut outcome = judge(&p, cfg, counters);
            let pages = p.total.div_ceil(PAGE_SIZE);
            if matches!(outcome, Outcome::Deliver) {
                if pages > pool.len() {
                    counters.tx_no_local_pages += 1;
                    outcome = Outcome::Respond(RSP_DROPPED);
                } else if next_page + pages > pool.len() {
                    // Leave the packet on the ring for the next pass, which
                    // reads and validates it afresh.
                    self.rsps.truncate(rsp_start);
                    stopped_early = true;
                    break;
                }
            }
            self.ring.consume(p.slots);
            counters.tx_requests += u64::from(p.slots);
            pass.consumed += p.slots;
            let ops_start = self.ops.len();
            let first_page = next_page;
            if matches!(outcome, Outcome::Deliver) {
                self.build_ops(&p, cfg, pool, first_page);
                next_page += pages;
            }
            self.pending.push(Pending {
                rsps: rsp_start..self.rsps.len(),
                ops: ops_start..self.ops.len(),
                first_page,
                len: p.total,
                flags: p.flags,
                gso: p.gso,
                outcome,
            });
        }

        let copied = self.ops.is_empty() || copier.copy(&mut self.ops).is_ok();
        if !copied {
            counters.copy_hypercall_failed += 1;
        }
        for f in &self.pending {
            let status = match f.outcome {
                Outcome::Respond(s) => s,
                Outcome::Deliver => {
                    let ops_ok = copied
                        && self.ops[f.ops.clone()]
                            .iter()
                            .all(|o| o.status == GNTST_OKAY);
                    if ops_ok {
                        deliver(f, cfg, counters, pool, &mut self.scratch, sink)
                    } else {
                        counters.tx_copy_failed += 1;
                        RSP_ERROR
                    }
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
        pass.more = stopped_early || self.ring.final_check();
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
                        let kind = match e.gso_type() {
                            GSO_TYPE_TCPV4 => GsoKind::TcpV4,
                            GSO_TYPE_TCPV6 => GsoKind::TcpV6,
                            t => return Err(Fatal::BadGsoType(t)),
                        };
                        gso = Some((kind, size));
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

    /// One grant copy per (slot, local page) piece: at most two per slot.
    fn build_ops(&mut self, p: &Parsed, cfg: &VifConfig, pool: &LocalPages, first_page: usize) {
        let mut pos = 0;
        for (i, s) in p.data.iter().enumerate() {
            let mut len = if i == 0 {
                p.first_len
            } else {
                usize::from(s.size)
            };
            let mut src = usize::from(s.offset);
            while len > 0 {
                let (page, dst) = (first_page + pos / PAGE_SIZE, pos % PAGE_SIZE);
                let chunk = len.min(PAGE_SIZE - dst);
                self.ops.push(GrantCopy {
                    source: CopyPtr {
                        u: s.gref.into(),
                        domid: cfg.frontend_domid,
                        offset: src as u16,
                    },
                    dest: CopyPtr {
                        u: pool.mfn(page),
                        domid: DOMID_SELF,
                        offset: dst as u16,
                    },
                    len: chunk as u16,
                    flags: GNTCOPY_SOURCE_GREF,
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
        Some((GsoKind::TcpV4, _)) if !cfg.offered.gso_tcpv4 => {
            counters.tx_gso_not_offered += 1;
            Outcome::Respond(RSP_ERROR)
        }
        Some((GsoKind::TcpV6, _)) if !cfg.offered.gso_tcpv6 => {
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

/// Checks the copied frame (anti-spoof, size, checksum/GSO headers) and hands
/// it to the sink. Returns the status for the packet's slots.
fn deliver(
    f: &Pending,
    cfg: &VifConfig,
    counters: &mut Counters,
    pool: &mut LocalPages,
    scratch: &mut Vec<u8>,
    sink: &mut impl TxSink,
) -> i16 {
    // Linearise: a frame within one page is used in place, a larger one is
    // gathered so its headers are contiguous whatever the slot split (XSA-423).
    let data: &mut [u8] = if f.len <= PAGE_SIZE {
        &mut pool.page_mut(f.first_page)[..f.len]
    } else {
        scratch.clear();
        for i in 0..f.len.div_ceil(PAGE_SIZE) {
            let n = (f.len - i * PAGE_SIZE).min(PAGE_SIZE);
            scratch.extend_from_slice(&pool.page(f.first_page + i)[..n]);
        }
        &mut scratch[..]
    };
    if data[6..12] != cfg.mac {
        counters.tx_spoofed_mac += 1;
        return RSP_DROPPED;
    }
    let vlan = u16::from_be_bytes([data[12], data[13]]) == ETHERTYPE_VLAN;
    if f.gso.is_none() && f.len > max_frame(cfg.mtu, vlan) {
        counters.tx_oversize += 1;
        return RSP_ERROR;
    }
    let csum = if f.flags & NETTXF_CSUM_BLANK != 0 || f.gso.is_some() {
        let Ok(loc) = checksum::locate(data) else {
            counters.tx_csum_setup_failed += 1;
            return RSP_ERROR;
        };
        if let Some((kind, _)) = f.gso {
            let ip = match kind {
                GsoKind::TcpV4 => IpVersion::V4,
                GsoKind::TcpV6 => IpVersion::V6,
            };
            if loc.ip != ip || loc.proto != IPPROTO_TCP {
                counters.tx_bad_gso += 1;
                return RSP_ERROR;
            }
            // A GSO frame must be CHECKSUM_PARTIAL; buggy frontends omit
            // csum_blank, so Linux recomputes the pseudo-header sum.
            if f.flags & NETTXF_CSUM_BLANK == 0 && checksum::set_pseudo(data, &loc).is_err() {
                counters.tx_csum_setup_failed += 1;
                return RSP_ERROR;
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
    if sink.send(TxFrame {
        data,
        csum,
        gso: f.gso,
    }) {
        counters.tx_packets += 1;
        counters.tx_bytes += f.len as u64;
        RSP_OKAY
    } else {
        counters.tx_sink_full += 1;
        RSP_DROPPED
    }
}
