//! The sans-IO netback core: one [`Vif`] per guest netfront, driving its TX and
//! RX rings (`xen/include/public/io/netif.h`) through two tiny seams:
//! [`GrantCopier`] (one batched `GNTTABOP_copy` per pass) and [`TxSink`]
//! (where the guest's frames go: the wire to the Corm).
//!
//! Everything the frontend writes — ring indices, requests, xenstore keys — is
//! hostile input (XEN-FACTS "Netback hostile-input checklist"). A malformed
//! request is answered with an error status and counted; what Linux netback
//! treats as fatal (`xenvif_fatal_tx_err`) returns [`Fatal`], after which the
//! vif refuses all work and the caller must disconnect it. Nothing panics and
//! every loop is bounded by the ring size or a budget.

pub mod counters;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod features;
pub mod netif;
pub mod pages;
pub mod ring;
pub mod rx;
pub mod tx;

#[cfg(test)]
mod tests;

/// The checksum helpers live in `net-offload`, shared with the Corm, which
/// completes the same partial checksums before its offload-less NICs transmit.
pub use net_offload::checksum;

use pv_runtime::abi::grant_table::Copy as GrantCopy;
use pv_runtime::abi::DomId;
use pv_runtime::ring::RingOverflow;
use thiserror::Error;

pub use counters::Counters;
pub use features::{BackendFeatures, FrontendFeatures, Limits, VifConfig};
pub use pages::LocalPages;
pub use ring::{HeapPage, RawPage, SharedPage};
pub use rx::{RxDrop, RxPass};
pub use tx::TxPass;

/// The whole `GNTTABOP_copy` hypercall failed (no op was attempted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("grant copy hypercall failed")]
pub struct CopyFailed;

/// Performs a batch of grant copies: `Err` if the hypercall itself failed,
/// otherwise each op's `status` holds its `GNTST_*` result. The domain
/// implements it with `pv_runtime::grant_table::copy`.
pub trait GrantCopier {
    fn copy(&mut self, ops: &mut [GrantCopy]) -> Result<(), CopyFailed>;
}

impl<T: GrantCopier + ?Sized> GrantCopier for &mut T {
    fn copy(&mut self, ops: &mut [GrantCopy]) -> Result<(), CopyFailed> {
        (**self).copy(ops)
    }
}

/// Checksum state of a frame, as Linux `ip_summed` and the wire protocol's
/// `Checksum` (wire-proto/PROTOCOL.md, "Frame").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CsumMeta {
    #[default]
    None,
    /// The L4 checksum field holds the pseudo-header sum; the sum from `start`
    /// (from the start of the Ethernet frame) to the end goes at `start + offset`.
    Partial { start: u16, offset: u16 },
    /// The sender verified the checksum.
    Validated,
}

/// What a GSO super-frame segments into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoKind {
    TcpV4,
    TcpV6,
}

/// A GSO super-frame's kind and segment size (MSS, never 0).
pub type Gso = (GsoKind, u16);

/// A frame from the guest, linear (headers never split, XSA-423).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxFrame<'a> {
    pub data: &'a [u8],
    pub csum: CsumMeta,
    pub gso: Option<Gso>,
}

/// A frame for the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxFrame<'a> {
    pub data: &'a [u8],
    pub csum: CsumMeta,
    pub gso: Option<Gso>,
}

/// Where TX frames go. `false` means "no room": the frame is dropped, answered
/// `NETIF_RSP_DROPPED` and counted.
pub trait TxSink {
    fn send(&mut self, frame: TxFrame<'_>) -> bool;
}

impl<F: FnMut(TxFrame<'_>) -> bool> TxSink for F {
    fn send(&mut self, frame: TxFrame<'_>) -> bool {
        self(frame)
    }
}

/// A frontend error Linux netback treats as fatal (`xenvif_fatal_tx_err`):
/// the vif must be disconnected. Once returned, the vif returns it forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Fatal {
    #[error("tx ring: {0}")]
    TxRingOverflow(RingOverflow),
    #[error("rx ring: {0}")]
    RxRingOverflow(RingOverflow),
    #[error("tx packet uses more than {max} slots")]
    ChainTooLong { max: usize },
    #[error("tx packet continues past the published requests")]
    IncompleteChain,
    #[error("tx extra info missing from the ring")]
    MissingExtra,
    #[error("more than {max} tx extra info slots")]
    TooManyExtras { max: usize },
    #[error("invalid extra info type {0}")]
    BadExtraType(u8),
    #[error("tx slot crosses a page: offset {offset} + size {size} > 4096")]
    SlotCrossesPage { offset: u16, size: u32 },
    #[error("GSO size zero")]
    GsoSizeZero,
    #[error("bad GSO type {0}")]
    BadGsoType(u8),
}

/// One guest vif: its two rings, its rx queue and its counters.
pub struct Vif<P: SharedPage> {
    cfg: VifConfig,
    tx: tx::TxPath<P>,
    rx: rx::RxPath<P>,
    counters: Counters,
    fatal: Option<Fatal>,
}

impl<P: SharedPage> Vif<P> {
    /// Attaches to the frontend's mapped `tx-ring-ref`/`rx-ring-ref` pages.
    /// `rx_pool` holds frames waiting for the guest's rx buffers; its size
    /// bounds the rx queue's memory.
    pub fn new(cfg: VifConfig, tx_page: P, rx_page: P, rx_pool: LocalPages) -> Result<Self, Fatal> {
        let tx = tx::TxPath::new(tx_page).map_err(Fatal::TxRingOverflow)?;
        let rx = rx::RxPath::new(rx_page, rx_pool).map_err(Fatal::RxRingOverflow)?;
        let counters = Counters {
            frontend_bad_keys: cfg.features.malformed.into(),
            ..Default::default()
        };
        Ok(Self {
            cfg,
            tx,
            rx,
            counters,
            fatal: None,
        })
    }

    /// `(frontend domid, device handle)`.
    pub fn key(&self) -> (DomId, u32) {
        (self.cfg.frontend_domid, self.cfg.handle)
    }

    pub fn config(&self) -> &VifConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The fatal error that disabled this vif, if any.
    pub fn fatal(&self) -> Option<Fatal> {
        self.fatal
    }

    fn check_alive(&self) -> Result<(), Fatal> {
        self.fatal.map_or(Ok(()), Err)
    }

    fn record<T>(&mut self, r: Result<T, Fatal>) -> Result<T, Fatal> {
        if let Err(e) = &r {
            self.fatal = Some(*e);
            self.counters.fatal_errors += 1;
        }
        r
    }

    /// One TX pass: takes up to `limits.tx_budget` frames from the guest,
    /// copies them into `pool` with one batched grant copy, hands the good
    /// ones to `sink`, answers every consumed request.
    pub fn process_tx(
        &mut self,
        copier: &mut impl GrantCopier,
        pool: &mut LocalPages,
        sink: &mut impl TxSink,
    ) -> Result<TxPass, Fatal> {
        self.check_alive()?;
        let r = self
            .tx
            .process(&self.cfg, &mut self.counters, copier, pool, sink);
        self.record(r)
    }

    /// Queues a frame for the guest (copied into the rx pool now); dropped and
    /// counted when it can't be delivered or the queue is full.
    pub fn queue_rx(&mut self, frame: RxFrame<'_>) -> Result<(), RxDrop> {
        if self.fatal.is_some() {
            return Err(RxDrop::Disconnected);
        }
        self.rx.queue(&self.cfg, &mut self.counters, frame)
    }

    /// Delivers queued frames into the guest's posted rx buffers with one
    /// batched grant copy.
    pub fn flush_rx(&mut self, copier: &mut impl GrantCopier) -> Result<RxPass, Fatal> {
        self.check_alive()?;
        let r = self.rx.flush(&self.cfg, &mut self.counters, copier);
        self.record(r)
    }

    /// Drops every queued rx frame (e.g. the guest posted no buffers for the
    /// caller's stall timeout), counted as `rx_no_buffers`.
    pub fn purge_rx(&mut self) -> usize {
        self.rx.purge(&mut self.counters)
    }

    /// Frames waiting for rx buffers.
    pub fn rx_queued(&self) -> usize {
        self.rx.queued()
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS` on the TX ring: true if the guest has
    /// posted requests, else `req_event` is armed for the next one.
    pub fn tx_final_check(&mut self) -> bool {
        self.tx.final_check()
    }
}
