//! Intel 82540EM ("e1000") and 82574L ("e1000e") driver: legacy descriptors,
//! one receive and one transmit ring, promiscuous; on transmit, checksum
//! insertion and TCP segmentation through context and data descriptors
//! (`offload`).
//!
//! Layers, bottom up, none of which does I/O on its own:
//! * [`regs`]: BAR0 offsets and bits; [`desc`]: descriptor layout and ring
//!   arithmetic; [`model`]: where the two controllers differ.
//! * `offload`: checks a transmit offload request and plans its context
//!   descriptor and header fix-ups.
//! * `rx`/`tx`: ring state machines over DMA pages (what to read, what to
//!   drop, which tail to write next, is the transmitter hung).
//! * `init`: the bring-up register sequence; `irq`: cause masks and what a
//!   cause word means.
//! * [`E1000`]: glues them to an [`Mmio`] BAR and implements [`Nic`].
//!
//! Memory: 2 descriptor pages plus 256 receive and 256 transmit buffers of
//! 2 KiB (128 pages each), 258 pages (~1 MiB), allocated once in `new` and
//! reused by `reinit`. A transmit buffer per descriptor keeps slot and
//! buffer in lockstep; fewer would need a free list to save half a MiB.

pub mod desc;
pub mod model;
pub mod regs;

mod buf;
mod init;
mod irq;
mod offload;
mod rx;
mod tx;

#[cfg(test)]
mod tests;

use core::sync::atomic::{fence, Ordering};

use crate::nic::{
    Dma, Events, IrqMode, Mmio, Nic, NicCounters, NicError, TxError, TxFrame, TxOffload,
    TxOffloads, MAX_FRAME,
};

pub use irq::ITR_INTERVAL;
pub use model::Model;
pub use offload::MAX_TSO_FRAME;
pub use rx::MIN_FRAME;
pub use tx::TX_WATCHDOG_TICKS;

/// Resets a device we were just given and leaves it idle: receive and
/// transmit off, its rings forgotten, interrupts masked. Called with bus
/// mastering still off, before anything else touches the device: a NIC
/// handed over without a function reset may still run its previous owner's
/// rings. Only then may mastering go on and [`E1000::new`] program it (its
/// own reset again, now harmless): the 82574's MSI-X messages are bus
/// master writes, and an interrupt raised while mastering is off is lost
/// with its cause latched, which stops that vector for good.
pub fn reset_idle<M: Mmio>(mmio: &M, model: Model) -> Result<(), NicError> {
    if mmio.len() < BAR0_LEN {
        return Err(NicError::Bar(0));
    }
    init::reset(mmio, model)?;
    // QEMU's reset keeps some registers (`tests/bringup.rs`): receive and
    // transmit off by hand too.
    mmio.write32(regs::RCTL, 0);
    mmio.write32(regs::TCTL, 0);
    init::mask_and_clear(mmio);
    Ok(())
}

use regs::{ALL_ONES, ICR, RDT, STATUS, STATUS_LU, TDH, TDT};
use rx::RxRing;
use tx::{TxRing, Watch};

/// BAR0 size of both controllers (SDM §4, memory BAR; 82574 PCIe
/// configuration, BAR0): every register this driver uses lies below it.
pub const BAR0_LEN: usize = 128 * 1024;

/// Writes a ring tail. Descriptor and buffer stores must be visible to the
/// device before it sees the new tail: they are volatile stores to
/// write-back RAM, ordered before the uncached MMIO store on x86, and the
/// fence keeps the compiler from moving them past it.
fn doorbell(mmio: &impl Mmio, reg: usize, tail: u32) {
    fence(Ordering::Release);
    mmio.write32(reg, tail);
}

/// One 82540EM or 82574L behind BAR0 `mmio`.
pub struct E1000<M: Mmio> {
    model: Model,
    mmio: M,
    irq: IrqMode,
    rx: RxRing,
    tx: TxRing,
    mac: [u8; 6],
    link: bool,
    /// Set by a failed bring-up, a vanished device or a hung transmitter:
    /// the datapath refuses work until `reinit` succeeds.
    failed: bool,
    counters: NicCounters,
}

impl<M: Mmio> E1000<M> {
    /// The common tail of both transmit paths: reclaim written-back slots
    /// and let `push` fill descriptors, queued for the next `flush_tx`. A
    /// ring that is full only of frames not yet published is published
    /// first (the device cannot complete what it was not told about), and
    /// `push` is tried again on what that freed: QEMU completes a TDT write
    /// synchronously, hardware a little later.
    fn enqueue(
        &mut self,
        mut push: impl FnMut(&mut TxRing) -> Result<(), TxError>,
    ) -> Result<(), TxError> {
        if self.failed || !self.link {
            return Err(TxError::NotReady);
        }
        self.tx.reclaim(&mut self.counters);
        let mut r = push(&mut self.tx);
        if r == Err(TxError::Full) && self.tx.published_in_flight() < self.tx.in_flight() {
            self.flush_tx();
            self.tx.reclaim(&mut self.counters);
            r = push(&mut self.tx);
        }
        match r {
            Err(TxError::Full) => self.counters.tx_full += 1,
            Err(_) => self.counters.tx_dropped += 1,
            Ok(()) => {}
        }
        r
    }

    /// Reads STATUS: the link state, or `None` for a vanished device.
    fn read_link(&mut self) -> Option<bool> {
        let status = self.mmio.read32(STATUS);
        (status != ALL_ONES).then_some(status & STATUS_LU != 0)
    }

    /// Records the link state; whether it changed.
    fn set_link(&mut self, up: bool) -> bool {
        let changed = up != self.link;
        if changed {
            self.link = up;
            self.counters.link_changes += 1;
        }
        changed
    }

    /// Allocates the rings and buffers, then resets and programs the device.
    /// PCI configuration (memory space, bus mastering, the interrupt mode's
    /// capability) is the caller's.
    pub fn new(model: Model, mmio: M, dma: &mut impl Dma, irq: IrqMode) -> Result<Self, NicError> {
        if !model.supports(irq) {
            return Err(NicError::Unsupported);
        }
        if mmio.len() < BAR0_LEN {
            return Err(NicError::Bar(0));
        }
        let rx = RxRing::alloc(dma)?;
        let tx = TxRing::alloc(dma)?;
        let mut nic = E1000 {
            model,
            mmio,
            irq,
            rx,
            tx,
            mac: [0; 6],
            link: false,
            failed: true,
            counters: NicCounters::default(),
        };
        nic.bring_up()?;
        Ok(nic)
    }

    pub fn model(&self) -> Model {
        self.model
    }

    pub fn irq_mode(&self) -> IrqMode {
        self.irq
    }

    fn bring_up(&mut self) -> Result<(), NicError> {
        self.failed = true;
        let up = init::bring_up(&self.mmio, self.model, self.irq, &mut self.rx, &mut self.tx)?;
        self.mac = up.mac;
        self.link = up.link;
        self.counters.rx_dropped += up.lost_rx as u64;
        self.counters.tx_dropped += up.lost_tx as u64;
        self.failed = false;
        Ok(())
    }

    /// Reads ICR and acknowledges exactly the causes read (see `irq`): the
    /// word and what it means, `None` for a vanished device (all ones).
    fn take_causes(&mut self) -> Option<(u32, Events)> {
        let icr = self.mmio.read32(ICR);
        if icr == ALL_ONES {
            return None;
        }
        if icr != 0 && self.model.is_pcie() {
            self.mmio.write32(ICR, icr);
        }
        Some((icr, irq::events(icr)))
    }

    /// Acts on causes taken: the link state on LSC (a STATUS read),
    /// completed transmits reclaimed.
    fn after_causes(&mut self, events: Events) -> Events {
        if events.link {
            let Some(up) = self.read_link() else {
                return self.fail(events);
            };
            self.set_link(up);
        }
        if events.tx {
            self.tx.reclaim(&mut self.counters);
        }
        events
    }

    fn fail(&mut self, mut events: Events) -> Events {
        self.failed = true;
        events.fatal = true;
        events
    }
}

impl<M: Mmio> Nic for E1000<M> {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&self) -> bool {
        self.link && !self.failed
    }

    /// Reads ICR and acknowledges exactly the causes read (see `irq`), maps
    /// them to [`Events`], refreshes the link state on LSC and reclaims
    /// completed transmits. One ICR read, and on the 82574 one ICR write;
    /// a STATUS read on LSC. The transmitter is checked by `watchdog`.
    fn handle(&mut self) -> Events {
        if self.failed {
            return Events {
                fatal: true,
                ..Events::default()
            };
        }
        let Some((_, events)) = self.take_causes() else {
            return self.fail(Events::default());
        };
        if events.ours {
            self.counters.interrupts += 1;
        }
        self.after_causes(events)
    }

    /// The causes no interrupt announced (`reap_latched`), one STATUS read
    /// (a vanished device, a link change whose LSC was lost); publishes
    /// frames a caller forgot to flush; reclaims; and only when published
    /// frames have made no progress since the previous call, one TDH read
    /// (see [`TX_WATCHDOG_TICKS`]).
    ///
    /// Why reap: a lost interrupt message would otherwise be for good. The
    /// 82574 in MSI/MSI-X mode sends a message only when a cause newly
    /// appears in ICR & IMS, and nothing clears ICR but the handler the lost
    /// message should have woken (QEMU e1000e `e1000e_send_msi`: a cause
    /// still pending is not sent again). Linux's e1000e watchdog has the
    /// same remedy (`e1000_watchdog_task` raises a receive interrupt through
    /// ICS every 2 s "to ensure Rx ring is cleaned"). Seen in the nested lab
    /// on the 82574's MSI-X under load (1-4 a minute in `run-xen.sh bench`):
    /// without it the receive path then ran only on other wake-ups (RTT
    /// ~100 ms, 1.8 Mbit/s peer to guest). Costs one ICR read a second.
    fn watchdog(&mut self) -> Events {
        let mut events = self.reap_latched();
        if events.fatal {
            return events;
        }
        let Some(up) = self.read_link() else {
            return self.fail(events);
        };
        events.link |= self.set_link(up);
        self.flush_tx();
        self.tx.reclaim(&mut self.counters);
        let mmio = &self.mmio;
        match self.tx.watch(self.link, || mmio.read32(TDH)) {
            Watch::Healthy => events,
            Watch::Hung | Watch::BadHead | Watch::Gone => self.fail(events),
        }
    }

    /// See the trait and `watchdog`. In [`IrqMode::Poll`] nothing: the poll
    /// tick's `handle` reads ICR anyway.
    fn reap_latched(&mut self) -> Events {
        if self.failed || self.irq == IrqMode::Poll {
            return Events {
                fatal: self.failed,
                ..Events::default()
            };
        }
        let Some((icr, latched)) = self.take_causes() else {
            return self.fail(Events::default());
        };
        if icr & irq::ims(self.irq) != 0 {
            self.counters.irq_latched += 1;
        }
        self.after_causes(latched)
    }

    /// Walks the ring while descriptors are done; passes only whole,
    /// error-free frames of `MIN_FRAME..=MAX_FRAME` bytes, each copied out
    /// once, and re-posts every descriptor it read with one RDT write.
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&mut [u8])) -> usize {
        if self.failed {
            return 0;
        }
        let (passed, tail) = self.rx.receive(budget, &mut self.counters, sink);
        if let Some(tail) = tail {
            doorbell(&self.mmio, RDT, tail);
        }
        passed
    }

    /// One frame, one legacy descriptor (EOP|IFCS|RS), or a context
    /// descriptor and data descriptors for an offload, queued: the TDT write
    /// that hands a batch to the device is `flush_tx`'s. Short frames are
    /// padded by the device (TCTL.PSP). Frames count as sent once written
    /// back.
    fn transmit_frame(
        &mut self,
        frame: &TxFrame<'_>,
        offload: Option<TxOffload>,
    ) -> Result<(), TxError> {
        let Some(req) = offload else {
            if !(MIN_FRAME..=MAX_FRAME).contains(&frame.len()) {
                self.counters.tx_dropped += 1;
                return Err(TxError::Length(frame.len()));
            }
            return self.enqueue(|tx| tx.push(frame));
        };
        let caps = self.tx_offloads();
        let able = match (req.tso_mss, req.ipv6) {
            (None, _) => caps.csum,
            (Some(_), false) => caps.tso_v4,
            (Some(_), true) => caps.tso_v6,
        };
        if !able || frame.needs_checksum() {
            return Err(TxError::Unsupported);
        }
        let plan = offload::plan(frame.head(), frame.len(), &req)
            .inspect_err(|_| self.counters.tx_dropped += 1)?;
        self.enqueue(|tx| tx.push_offload(frame, &plan))
    }

    /// One TDT write for everything queued since the last one; none when
    /// nothing was.
    fn flush_tx(&mut self) {
        if self.failed {
            return;
        }
        if let Some(tail) = self.tx.publish() {
            doorbell(&self.mmio, TDT, tail);
        }
    }

    /// Checksum insertion and IPv4 TSO on both models, IPv6 TSO on the
    /// 82574L only (see `offload`).
    fn tx_offloads(&self) -> TxOffloads {
        offload::offloads(self.model)
    }

    fn tx_space(&self) -> usize {
        if self.failed {
            0
        } else {
            self.tx.space()
        }
    }

    fn counters(&self) -> NicCounters {
        self.counters
    }

    /// Resets and reprograms the device on the same pages. Transmit frames
    /// not yet written back are counted in `tx_dropped`, received frames not
    /// yet read in `rx_dropped`.
    fn reinit(&mut self) -> Result<(), NicError> {
        self.counters.resets += 1;
        self.tx.reclaim(&mut self.counters);
        self.bring_up()
    }

    /// [`reset_idle`]: a global reset (SDM §13.4.1), receive and transmit
    /// off, interrupts masked.
    fn stop(&mut self) {
        self.failed = true;
        self.link = false;
        // A device that does not finish its reset is left as it is: the
        // caller turns bus mastering off next anyway.
        let _ = reset_idle(&self.mmio, self.model);
    }
}
