//! The sans-IO netback core: one [`Vif`] per guest netfront, driving its TX and
//! RX rings (`xen/include/public/io/netif.h`) through two tiny seams:
//! [`GrantCopier`] (one batched `GNTTABOP_copy` per pass) and [`TxSink`]
//! (where the guest's frames go: the wire to the Corm).
//!
//! Everything the frontend writes — ring indices, requests, xenstore keys — is
//! hostile input (docs/xen-interfaces.md, "Netback hostile-input checklist"). A malformed
//! request is answered with an error status and counted; what Linux netback
//! treats as fatal (`xenvif_fatal_tx_err`) returns [`Fatal`], after which the
//! vif refuses all work and the caller must disconnect it. Nothing panics and
//! every loop is bounded by the ring size or a budget.

pub mod counters;
pub mod credit;
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
pub use credit::{TxCredit, TxRate};
pub use features::{BackendFeatures, FrontendFeatures, Limits, VifConfig};
pub use pages::LocalPages;
pub use ring::{HeapPage, RawPage, SharedPage};
pub use rx::{RxDrop, RxPass, RxPlan};
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

/// Checksum state, GSO and frame metadata: the one vocabulary
/// (`netframe`), shared with the wire protocol and the offloads.
pub use netframe::{Checksum as CsumMeta, FrameMeta, Gso, GsoKind};

/// Where a frame's bytes land, or come from, for a grant copy: a page of the
/// wire's ring, named as the copy names it (`local_wire::CopyEnd`).
pub use local_wire::CopyEnd;

/// Why a sink did not reserve room for a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkError {
    /// No room now: leave the frame on the guest's ring and wait for the
    /// sink's kick (backpressure, never a drop).
    Full,
    /// Never (the wire is down, the frame too large): drop it and answer.
    Refused,
}

/// Where the guest's TX frames go: room in a ring (the wire to the Corm)
/// that the frame's bytes are grant-copied straight into, from the guest's
/// pages. Its first bytes go to a private copy first: they are checked
/// there (anti-spoof, offload headers) and written into the slot by
/// [`commit`](TxSink::commit), so the ring holds exactly what was checked.
pub trait TxSink {
    /// A reservation.
    type Slot;
    /// Room for a frame of `len` bytes.
    fn reserve(&mut self, len: usize) -> Result<Self::Slot, SinkError>;
    /// Where frame byte `at` of `slot` lands.
    fn target(&mut self, slot: &Self::Slot, at: usize) -> Option<CopyEnd>;
    /// The frame is in place but for its first `header.len()` bytes: write
    /// them and make the frame visible with `meta`. `false`: refused (the
    /// sink counted it).
    fn commit(&mut self, slot: Self::Slot, header: &[u8], len: usize, meta: FrameMeta) -> bool;
    /// Gives up a reservation.
    fn cancel(&mut self, slot: Self::Slot);
}

/// A frame waiting in a ring (the wire from the Corm) for the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxFrame {
    /// Its length.
    pub len: usize,
    /// Its metadata.
    pub meta: FrameMeta,
}

/// Where frames for the guest come from: a ring whose bytes are
/// grant-copied straight into the guest's buffers.
pub trait RxSource {
    /// Where frame byte `at` is.
    fn origin(&mut self, at: usize) -> Option<CopyEnd>;
    /// Copies frame bytes `at..at + dst.len()` into private memory (headers
    /// to decide on, or a frame to finish in software).
    fn read(&mut self, at: usize, dst: &mut [u8]);
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
    /// The toolstack's `rate` limit on the guest's transmissions.
    credit: TxCredit,
    counters: Counters,
    fatal: Option<Fatal>,
}

impl<P: SharedPage> Vif<P> {
    /// Attaches to the frontend's mapped `tx-ring-ref`/`rx-ring-ref` pages.
    /// `rx_pool`: private pages for frames whose checksum is completed in
    /// software (a page a frame, a few per commit).
    pub fn new(cfg: VifConfig, tx_page: P, rx_page: P, rx_pool: LocalPages) -> Result<Self, Fatal> {
        let tx = tx::TxPath::new(tx_page).map_err(Fatal::TxRingOverflow)?;
        let rx = rx::RxPath::new(rx_page, rx_pool).map_err(Fatal::RxRingOverflow)?;
        let counters = Counters {
            frontend_bad_keys: cfg.features.malformed.into(),
            ..Default::default()
        };
        Ok(Self {
            credit: TxCredit::new(cfg.rate),
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

    /// The TX credit (the vif `rate`).
    pub fn tx_credit(&self) -> &TxCredit {
        &self.credit
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
    /// grant-copies each one's headers into `pool` (16 header slots a page)
    /// and the rest straight into room `sink` reserved, in one batch, commits
    /// the good ones, answers every consumed request. A full sink leaves
    /// frames on the ring ([`TxPass::blocked`]); so does a spent credit (the
    /// vif `rate`, [`credit`]) until [`TxPass::credit_wait`]: run a pass then.
    pub fn process_tx(
        &mut self,
        copier: &mut impl GrantCopier,
        pool: &mut LocalPages,
        sink: &mut impl TxSink,
        now_ns: u64,
    ) -> Result<TxPass, Fatal> {
        self.check_alive()?;
        let r = self.tx.process(
            &self.cfg,
            &mut self.counters,
            &mut self.credit,
            now_ns,
            copier,
            pool,
            sink,
        );
        self.record(r)
    }

    /// Plans the delivery of `frame`, read from `src` (the wire's ring),
    /// into the guest's posted buffers: the grant copies run at
    /// [`rx_commit`](Self::rx_commit), so the frame stays in `src` until then.
    /// Frames the frontend cannot take are dropped and counted.
    pub fn rx_plan(&mut self, frame: &RxFrame, src: &mut impl RxSource) -> Result<RxPlan, Fatal> {
        if self.fatal.is_some() {
            return Ok(RxPlan::Dropped(RxDrop::Disconnected));
        }
        let r = self.rx.plan(&self.cfg, &mut self.counters, frame, src);
        self.record(r)
    }

    /// Runs the planned deliveries in one batched grant copy and answers
    /// the guest's requests.
    pub fn rx_commit(&mut self, copier: &mut impl GrantCopier) -> Result<RxPass, Fatal> {
        self.check_alive()?;
        let r = self.rx.commit(&mut self.counters, copier);
        self.record(r)
    }

    /// Frames planned and not yet committed.
    pub fn rx_planned(&self) -> usize {
        self.rx.planned()
    }

    /// Whether the guest has rx buffers posted that were not taken yet.
    pub fn rx_posted(&self) -> bool {
        self.rx.posted()
    }

    /// Counts a frame dropped for this vif by its caller (a guest that has
    /// posted no buffers for too long).
    pub fn rx_dropped_no_buffers(&mut self) {
        self.counters.rx_no_buffers += 1;
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS` on the TX ring: true if the guest has
    /// posted requests, else `req_event` is armed for the next one.
    pub fn tx_final_check(&mut self) -> bool {
        self.tx.final_check()
    }
}
