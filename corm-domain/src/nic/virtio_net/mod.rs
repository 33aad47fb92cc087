//! virtio-net (Virtio 1.2 §5.1) over the modern virtio PCI transport (§4.1),
//! as a sans-IO driver: every device access goes through [`Mmio`] and
//! [`DmaPage`](crate::nic::DmaPage), so the host tests run it against a fake
//! device model.
//!
//! Layers, bottom up: [`pci`] finds the virtio structures through vendor
//! capabilities (§4.1.4); `bars` maps each distinct BAR they name once and
//! bounds-checks every access to its structure; `transport` gives typed
//! access to the common configuration (`common`), ISR, notify and device
//! structures; `queue` is a split virtqueue (§2.7) and `buffers` its frame
//! buffers; this file runs the init sequence (§3.1.1, §4.1.5, §5.1.5) and
//! implements [`Nic`].
//!
//! One receive queue (receiveq1, index 0) and one transmit queue (transmitq1,
//! index 1), each up to 256 entries, one 2048-byte buffer per descriptor,
//! a 12-byte `virtio_net_hdr` (§5.1.6) in front of every frame. A received
//! frame takes one buffer; a transmitted one a chain of them (a TSO frame
//! up to 33, see `tx`). Features accepted: see [`features::select`].
//!
//! Register accesses: `handle` reads nothing with MSI-X/MSI (one vector for
//! every cause: completions are found in memory, the link and the device
//! status are read by `watchdog`), only the ISR byte with INTx; a receive
//! batch and a transmit batch cost at most one notification each, and with
//! `VIRTIO_F_EVENT_IDX` none while the device is already busy with the
//! queue.
//!
//! QEMU's `-device virtio-net-pci` (transitional 1AF4:1000 by default) has
//! all four structures in 64-bit memory BAR 4 (common at 0, ISR 0x1000,
//! device 0x2000, notify 0x3000 with multiplier 4 and `queue_notify_off` =
//! queue index), MSI-X in BAR 1, the legacy I/O interface in BAR 0 (unused
//! here), and 256-entry queues. Structures in different BARs work too.
//!
//! The device is untrusted: used-ring ids and lengths are checked, bad ones
//! counted ([`VirtioNet::bad_completions`], and `rx_errors` for the receive
//! queue) and skipped; a used index that runs more than a ring ahead, a
//! status with `DEVICE_NEEDS_RESET`, or a device that reads as all-ones makes
//! [`Nic::handle`] report `fatal`, and [`Nic::reinit`] starts over.

mod bars;
mod buffers;
mod common;
pub mod features;
mod net;
mod pci;
mod queue;
mod transport;
mod tx;

#[cfg(test)]
mod tests;

use buffers::Buffers;
use common::*;
use features::{F_EVENT_IDX, NET_F_MAC, NET_F_STATUS};
use net::HDR_LEN;
use queue::{pow2_floor, Completion, SplitQueue, DESC_F_WRITE, MAX_SIZE};
use transport::Transport;

use super::{
    BarMapper, ConfigSpace, Dma, Events, IrqMode, Mmio, Nic, NicCounters, NicError, TxError,
    TxFrame, TxOffload, TxOffloads, Width, BUF_SIZE,
};

const VENDOR_ID: u16 = 0x1af4;
/// 0x1040 + virtio device ID 1 (§4.1.2.1).
const DEVICE_ID_NET: u16 = 0x1040 + 1;
/// Transitional network device (§4.1.2.3); it has the modern capabilities.
const DEVICE_ID_NET_TRANSITIONAL: u16 = 0x1000;

/// Virtqueue indices (§5.1.2).
const RX_QUEUE: u16 = 0;
const TX_QUEUE: u16 = 1;

/// Whether a PCI function is a virtio network device this driver can run.
pub fn is_virtio_net(vendor: u16, device: u16) -> bool {
    vendor == VENDOR_ID && matches!(device, DEVICE_ID_NET | DEVICE_ID_NET_TRANSITIONAL)
}

struct Queue {
    index: u16,
    vq: SplitQueue,
    bufs: Buffers,
    /// Offset of this queue's notification address in the notify structure.
    notify: usize,
}

impl Queue {
    fn alloc(dma: &mut impl Dma, index: u16, size: u16) -> Result<Self, NicError> {
        let vq = SplitQueue::alloc(dma, size)?;
        let bufs = Buffers::alloc(dma, vq.capacity())?;
        Ok(Queue {
            index,
            vq,
            bufs,
            notify: 0,
        })
    }

    /// Publishes what was pushed and notifies the device if it asked to be.
    fn kick<M: Mmio>(&mut self, t: &Transport<M>) {
        self.vq.publish();
        if self.vq.needs_notify() {
            t.notify(self.notify, self.index);
        }
    }
}

/// A virtio network device, initialised and running.
pub struct VirtioNet<M: Mmio> {
    t: Transport<M>,
    irq: IrqMode,
    features: u64,
    mac: [u8; 6],
    link: bool,
    /// Cleared by anything `handle` reports as fatal, set by a good init.
    ready: bool,
    rx: Queue,
    tx: Queue,
    /// Transmit buffers pushed and not yet published (`flush_tx`).
    tx_queued: usize,
    counters: NicCounters,
    bad_completions: u64,
}

/// §3.1.1 steps 1–6: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK.
fn negotiate<M: Mmio>(t: &Transport<M>) -> Result<u64, NicError> {
    t.reset()?;
    t.set_status(S_ACKNOWLEDGE);
    t.set_status(S_ACKNOWLEDGE | S_DRIVER);
    let features =
        features::select(t.device_features(), t.device_len()).inspect_err(|_| t.fail())?;
    t.set_driver_features(features);
    t.set_status(S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    if t.status() & S_FEATURES_OK == 0 {
        t.fail();
        return Err(NicError::Features);
    }
    Ok(features)
}

/// The size to program for queue `index`: the device's maximum, at most
/// `limit`, rounded down to a power of two (split rings, §2.7).
fn queue_size<M: Mmio>(t: &Transport<M>, index: u16, limit: u16) -> Result<u16, NicError> {
    t.select_queue(index);
    match t.queue_size() {
        0 => Err(NicError::Device),
        max => Ok(pow2_floor(max.min(limit))),
    }
}

impl<M: Mmio> VirtioNet<M> {
    /// Finds the device's structures, maps their BARs, allocates the queues
    /// and their buffers from `dma` (kept for the driver's lifetime, reused
    /// by [`Nic::reinit`]) and brings the device up for `irq`. Enabling
    /// memory decoding and bus mastering in the PCI command register is the
    /// caller's job.
    pub fn new<C: ConfigSpace, B: BarMapper<Mmio = M>>(
        cfg: &mut C,
        bars: &mut B,
        dma: &mut impl Dma,
        irq: IrqMode,
    ) -> Result<Self, NicError> {
        let vendor = cfg.read(0x00, Width::U16)? as u16;
        let device = cfg.read(0x02, Width::U16)? as u16;
        if !is_virtio_net(vendor, device) {
            return Err(NicError::Unsupported);
        }
        let layout = pci::find_layout(cfg)?;
        let t = Transport::map(bars, &layout)?;
        let features = negotiate(&t)?;
        let queues = queue_size(&t, RX_QUEUE, MAX_SIZE)
            .and_then(|n| Queue::alloc(dma, RX_QUEUE, n))
            .and_then(|rx| {
                let n = queue_size(&t, TX_QUEUE, MAX_SIZE)?;
                Ok((rx, Queue::alloc(dma, TX_QUEUE, n)?))
            });
        let (rx, tx) = queues.inspect_err(|_| t.fail())?;
        let mut nic = VirtioNet {
            t,
            irq,
            features,
            mac: net::FALLBACK_MAC,
            link: false,
            ready: false,
            rx,
            tx,
            tx_queued: 0,
            counters: NicCounters::default(),
            bad_completions: 0,
        };
        nic.activate()?;
        Ok(nic)
    }

    /// The feature bits negotiated (see [`features`]).
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Used-ring elements the device got wrong (unknown or repeated ids,
    /// runaway used index), on either queue, since creation.
    pub fn bad_completions(&self) -> u64 {
        self.bad_completions
    }

    fn activate(&mut self) -> Result<(), NicError> {
        let r = self.program();
        if r.is_err() {
            self.t.fail();
        }
        r
    }

    /// §3.1.1 steps 7–8 (§4.1.5.1.3 per queue) and §5.1.5: vectors, queues,
    /// device configuration, DRIVER_OK, then the receive buffers. The device
    /// may not be notified before DRIVER_OK (§3.1.1).
    fn program(&mut self) -> Result<(), NicError> {
        let vector = if self.irq == IrqMode::Msix {
            0
        } else {
            NO_VECTOR
        };
        if self.t.set_config_vector(vector) != vector {
            return Err(NicError::Device);
        }
        for q in [&mut self.rx, &mut self.tx] {
            self.t.select_queue(q.index);
            let (desc, driver, device) = q.vq.areas();
            self.t.set_queue(q.vq.size(), desc, driver, device);
            if self.t.set_queue_vector(vector) != vector {
                return Err(NicError::Device);
            }
            q.notify = self.t.queue_notify_offset().ok_or(NicError::Device)?;
            q.vq.set_mode(self.features & F_EVENT_IDX != 0, self.irq == IrqMode::Poll);
            self.t.enable_queue();
        }
        // Transmit completions are reclaimed as frames are sent; an
        // interrupt is only asked for when the ring runs low (`flush_tx`).
        self.tx.vq.interrupt_at(None);
        self.tx_queued = 0;
        self.mac = net::FALLBACK_MAC;
        if self.features & NET_F_MAC != 0 {
            self.t.device_bytes(net::CFG_MAC, &mut self.mac)?;
        }
        self.link = self.read_link();
        self.t
            .set_status(S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
        while let Some(id) = self.rx.vq.take_free() {
            self.rx
                .vq
                .push(id, self.rx.bufs.bus(id), BUF_SIZE as u32, DESC_F_WRITE);
        }
        self.rx.kick(&self.t);
        self.ready = true;
        Ok(())
    }

    fn read_link(&self) -> bool {
        self.features & NET_F_STATUS == 0
            || self.t.device_u16(net::CFG_STATUS) & net::S_LINK_UP != 0
    }

    fn refresh_link(&mut self) -> bool {
        let up = self.read_link();
        let changed = up != self.link;
        if changed {
            self.link = up;
            self.counters.link_changes += 1;
        }
        changed
    }

    /// Reads the device status and, if it is sound, the link: `fatal` for
    /// a device that is gone, needs a reset or dropped `DRIVER_OK`.
    fn check_device(&mut self, mut ev: Events) -> Events {
        let status = self.t.status();
        let broken = !self.ready
            || status == u8::MAX
            || status & S_NEEDS_RESET != 0
            || status & S_DRIVER_OK == 0;
        if broken {
            self.ready = false;
            ev.ours = true;
            ev.fatal = true;
            return ev;
        }
        ev.link |= self.refresh_link();
        ev
    }

    /// Takes back every transmit chain the device has used.
    fn reclaim_tx(&mut self) {
        for _ in 0..self.tx.vq.size() {
            match self.tx.vq.pop() {
                Completion::Empty => break,
                Completion::Done { id, .. } => self.tx.vq.put_free(id),
                Completion::Bogus => self.bad_completions += 1,
                Completion::Overrun => {
                    self.bad_completions += 1;
                    self.ready = false;
                    break;
                }
            }
        }
    }

    fn repost_rx(&mut self, ids: &[u16]) {
        if ids.is_empty() {
            return;
        }
        for &id in ids {
            let bus = self.rx.bufs.bus(id);
            self.rx.vq.push(id, bus, BUF_SIZE as u32, DESC_F_WRITE);
        }
        self.rx.kick(&self.t);
    }
}

impl<M: Mmio> Nic for VirtioNet<M> {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn link_up(&self) -> bool {
        self.link
    }

    /// With INTx the ISR byte says which causes fired (reading it clears it
    /// and deasserts the line, §4.1.4.5), and a configuration change is
    /// read at once (device status, link). With MSI-X (vector 0 for config
    /// and both queues) or MSI the cause is not told apart without reading
    /// registers, so none is read: queue work is assumed (completions are
    /// found in memory) and the link and device status are left to
    /// `watchdog`, a second later at most. Polling: the same, no interrupt
    /// counted.
    fn handle(&mut self) -> Events {
        let mut ev = Events::default();
        if !self.ready {
            ev.ours = true;
            ev.fatal = true;
            return ev;
        }
        let isr = match self.irq {
            IrqMode::Intx => self.t.isr(),
            _ => ISR_QUEUE,
        };
        ev.ours = isr & (ISR_QUEUE | ISR_CONFIG) != 0;
        if ev.ours && self.irq != IrqMode::Poll {
            self.counters.interrupts += 1;
        }
        if isr & ISR_CONFIG != 0 {
            ev = self.check_device(ev);
            if ev.fatal {
                return ev;
            }
        }
        if isr & ISR_QUEUE != 0 {
            ev.rx = true;
            ev.tx = true;
            self.reclaim_tx();
        }
        ev.fatal = !self.ready;
        ev
    }

    /// Reads the device status (two register reads with the link): a
    /// device that needs a reset, is gone or lost `DRIVER_OK` is fatal; a
    /// link change is reported. Also rings a transmit doorbell a caller
    /// forgot. Nothing else: the device has no transmit watchdog of its own
    /// to feed, and a stuck queue shows as a full ring.
    fn watchdog(&mut self) -> Events {
        let ev = self.check_device(Events::default());
        if !ev.fatal {
            self.flush_tx();
        }
        ev
    }

    /// Delivers up to `budget` frames. Buffers go back to the device at the
    /// end of the batch (one notification at most), so an id the device
    /// repeats within a batch is caught as not outstanding. A batch that
    /// drains the queue re-arms its interrupt; one that fills its budget
    /// does not (the caller comes back at once).
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&mut [u8])) -> usize {
        let mut delivered = 0;
        let mut bogus = 0;
        let mut rearms = 0;
        let mut done = heapless::Vec::<u16, { MAX_SIZE as usize }>::new();
        while self.ready && delivered < budget && bogus < self.rx.vq.size() {
            if done.is_full() {
                self.repost_rx(&done);
                done.clear();
            }
            match self.rx.vq.pop() {
                // Drained: ask for an interrupt at the next frame, and take
                // the frames that came in before the request was seen.
                Completion::Empty if rearms < self.rx.vq.size() && self.rx.vq.rearm() => {
                    rearms += 1;
                }
                Completion::Empty => break,
                Completion::Overrun => {
                    self.bad_completions += 1;
                    self.counters.rx_errors += 1;
                    self.ready = false;
                }
                Completion::Bogus => {
                    bogus += 1;
                    self.bad_completions += 1;
                    self.counters.rx_errors += 1;
                }
                Completion::Done { id, len } => {
                    if net::rx_len_ok(len) {
                        let n = len as usize - HDR_LEN;
                        // SAFETY: popped from the used ring, reposted only
                        // at the end of the batch.
                        unsafe { self.rx.bufs.lend(id, HDR_LEN, n, sink) };
                        self.counters.rx_frames += 1;
                        self.counters.rx_bytes += n as u64;
                        delivered += 1;
                    } else {
                        self.counters.rx_errors += 1;
                    }
                    let _ = done.push(id);
                }
            }
        }
        self.repost_rx(&done);
        delivered
    }

    /// A chain of transmit buffers per frame: the `virtio_net_hdr` (with
    /// the offload asked for) then the frame, gathered once (see `tx`).
    fn transmit_frame(
        &mut self,
        frame: &TxFrame<'_>,
        offload: Option<TxOffload>,
    ) -> Result<(), TxError> {
        self.queue_frame(frame, offload)
    }

    /// Publishes the queued frames with one notification at most (none if
    /// the device is still working through the queue and said so).
    fn flush_tx(&mut self) {
        self.publish_tx();
    }

    /// Checksum insertion and TSO over IPv4/IPv6 as negotiated (TSO only
    /// with checksum insertion, §5.1.3.1).
    fn tx_offloads(&self) -> TxOffloads {
        tx::offloads(self.features)
    }

    /// Free transmit descriptors, counting those of chains the device has
    /// used and the driver not yet reclaimed (memory reads only).
    fn tx_space(&self) -> usize {
        if self.ready {
            self.tx.vq.free_count() + self.tx.vq.completed_descriptors()
        } else {
            0
        }
    }

    fn counters(&self) -> NicCounters {
        self.counters
    }

    /// Frames still queued for transmit are lost and counted in
    /// `tx_dropped`; queue sizes are capped at what was first allocated.
    fn reinit(&mut self) -> Result<(), NicError> {
        self.counters.resets += 1;
        self.ready = false;
        self.counters.tx_dropped += self.tx.vq.outstanding() as u64;
        self.tx_queued = 0;
        self.features = negotiate(&self.t)?;
        let sizes = queue_size(&self.t, RX_QUEUE, self.rx.vq.capacity())
            .and_then(|rx| Ok((rx, queue_size(&self.t, TX_QUEUE, self.tx.vq.capacity())?)));
        let (rx, tx) = sizes.inspect_err(|_| self.t.fail())?;
        self.rx.vq.reset(rx);
        self.tx.vq.reset(tx);
        self.activate()
    }

    /// Device status 0 resets the device and forgets its queues (virtio 1.2
    /// §2.1, §4.1.4.3).
    fn stop(&mut self) {
        self.ready = false;
        let _ = self.t.reset();
    }
}
