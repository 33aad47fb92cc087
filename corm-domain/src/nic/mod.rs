//! NIC drivers for the Corm, each a sans-IO state machine over three narrow
//! traits, so the descriptor-ring logic runs on the host against a fake device
//! model (`tests`) and in the domain against the real, passed-through device:
//!
//! * [`ConfigSpace`]: PCI configuration space (pcifront in the domain).
//! * [`Mmio`]: one mapped memory BAR (mapped from `DOMID_IO`, uncached).
//! * [`Dma`]: pages the device can reach by bus address (the machine address
//!   in a PV domain with an IOMMU: `sync_pt` maps our pages 1:1 by MFN).
//!
//! A driver never waits: `init` programs the device and returns; `handle`
//! reads and acknowledges interrupt causes; `receive` drains at most a budget
//! of frames, lending each one in its DMA buffer; `transmit_frame` gathers
//! one frame's pieces straight into DMA buffers or says the ring is full, and
//! `flush_tx` tells the device about a batch of them at once; `watchdog`
//! checks, at a slow steady rate, that the device still makes progress.
//!
//! Register accesses are the expensive part of a driver (an uncached bus
//! transaction on hardware, an exit to the device model under emulation), so
//! the contract keeps them off the per-frame path: `handle` runs only when
//! the interrupt fired, a batch costs one doorbell each way, and whatever
//! must be sampled regularly (a hung transmitter, a missed link change) is
//! sampled by `watchdog`, about once a second.

pub mod capability;
pub mod dma;
pub mod offload;
pub mod tx_frame;

pub use capability::find_capability;
pub use dma::{Dma, DmaPage};
pub use tx_frame::TxFrame;

use thiserror::Error;

/// Bytes in an Ethernet frame the drivers carry (no jumbo frames): 1514 plus a
/// VLAN tag; receive buffers are 2048 bytes, two per DMA page.
pub const MAX_FRAME: usize = netframe::VLAN_ETH_FRAME_LEN;
/// Receive/transmit buffer size: two buffers per 4 KiB page.
pub const BUF_SIZE: usize = 2048;

/// Width of a config-space access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    U8,
    U16,
    U32,
}

/// PCI configuration space of one function (PCI Local Bus 3.0 §6).
pub trait ConfigSpace {
    fn read(&mut self, offset: u16, width: Width) -> Result<u32, NicError>;
    fn write(&mut self, offset: u16, width: Width, value: u32) -> Result<(), NicError>;
}

/// A mapped memory BAR. Offsets are bytes from the BAR's start; accesses
/// outside the mapped length are ignored (reads return all-ones, as a bus
/// master abort does) so a bad offset can never touch other memory.
#[allow(clippy::len_without_is_empty)] // a BAR is never empty
pub trait Mmio {
    fn len(&self) -> usize;
    fn read8(&self, offset: usize) -> u8;
    fn read16(&self, offset: usize) -> u16;
    fn read32(&self, offset: usize) -> u32;
    fn write8(&self, offset: usize, value: u8);
    fn write16(&self, offset: usize, value: u16);
    fn write32(&self, offset: usize, value: u32);
}

/// Maps BARs on request: drivers decide which BAR (and, for virtio, which
/// capability region) they need.
pub trait BarMapper {
    type Mmio: Mmio;
    /// Maps memory BAR `index` (0..=5), or `Err` when it is absent, an I/O
    /// BAR, or cannot be mapped.
    fn map_bar(&mut self, index: u8) -> Result<Self::Mmio, NicError>;
}

/// How the device's interrupts reach us; chosen by the domain (what pcifront
/// could enable) before `init`, so drivers program the matching registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqMode {
    /// Legacy INTx, level-triggered: the driver must clear the cause.
    Intx,
    /// One MSI vector.
    Msi,
    /// MSI-X with one vector (entry 0) for every cause.
    Msix,
    /// No interrupt: the domain polls on a timer.
    Poll,
}

/// What `handle` found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// The interrupt was ours (a cause bit was set).
    pub ours: bool,
    /// Frames may be waiting: call `receive`.
    pub rx: bool,
    /// Transmit descriptors completed.
    pub tx: bool,
    /// The link state may have changed: read `link_up`.
    pub link: bool,
    /// The device reported an error it cannot recover from by itself: the
    /// caller calls [`Nic::reinit`].
    pub fatal: bool,
}

xs_schema::counters! {
    /// Per-NIC counters, published by the domain in its counter page under
    /// `nic/counters/`.
    pub struct NicCounters {
        /// Frames received and passed on.
        rx_frames,
        /// Their bytes.
        rx_bytes,
        /// Frames the device flagged as bad, or with an impossible length.
        rx_errors,
        /// Frames dropped because they span several buffers (no jumbo support).
        rx_dropped,
        /// Frames the device reported sent.
        tx_frames,
        /// Their bytes.
        tx_bytes,
        /// `transmit` calls refused because the ring was full.
        tx_full,
        /// Frames refused as too short or too long.
        tx_dropped,
        /// Interrupts that were ours (a cause was set).
        interrupts,
        /// Enabled causes found latched in the device with no interrupt
        /// taken for them (`reap_latched`): a lost interrupt message, or
        /// rarely one still on its way. Acknowledged there.
        irq_latched,
        /// Device resets (bring-up again after a fatal error).
        resets,
        /// Link state changes seen.
        link_changes,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum NicError {
    #[error("PCI config access failed")]
    Config,
    #[error("BAR {0} cannot be mapped")]
    Bar(u8),
    #[error("out of DMA memory")]
    NoMemory,
    #[error("device is not a supported model")]
    Unsupported,
    #[error("device did not come out of reset")]
    ResetTimeout,
    #[error("virtio feature negotiation failed")]
    Features,
    #[error("device reports an error")]
    Device,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum TxError {
    #[error("transmit ring full")]
    Full,
    #[error("frame length {0} out of range")]
    Length(usize),
    #[error("device not initialised or link down")]
    NotReady,
    /// The driver cannot perform the requested offload (see [`Nic::tx_offloads`]).
    #[error("transmit offload not supported")]
    Unsupported,
    /// The [`TxOffload`] request does not describe the frame's headers, or asks
    /// for something the device cannot be programmed to do.
    #[error("transmit offload request does not match the frame")]
    Invalid,
}

/// Offloads a driver can perform on transmit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffloads {
    /// TCP/UDP checksum insertion ([`TxOffload::tso_mss`] `None`).
    pub csum: bool,
    /// TCP segmentation over IPv4.
    pub tso_v4: bool,
    /// TCP segmentation over IPv6.
    pub tso_v6: bool,
}

/// One transmit offload request for [`Nic::transmit_offload`].
///
/// What the frame must hold (e1000 driver; see `e1000::offload` for the
/// device's rules, 8254x SDM §3.3.5-§3.3.7, §3.5):
/// * Ethernet (optionally one 802.1Q tag), then IPv4 (`ipv6 == false`, IHL
///   covering `l3_start..l4_start`) or IPv6 (`l4_start` after any extension
///   headers), then the TCP or UDP header at `l4_start`.
/// * The L4 checksum field, and for TSO over IPv4 the IPv4 header checksum,
///   may hold anything: the driver writes what the device needs into its
///   copy (the pseudo-header sum: with the L4 length for checksum insertion,
///   without it for TSO; a zero IPv4 header checksum for TSO).
/// * Checksum insertion: the IP length fields must be right, since the
///   pseudo-header length is taken from them; the frame is sent as it is.
/// * TSO: the IP length fields should describe the whole frame, as Linux
///   leaves a GSO frame; the device rewrites them per segment, with the IPv4
///   identification, TCP sequence number and flags (FIN/PSH on the last
///   segment only) and both checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxOffload {
    /// Offsets from the frame start (including any 802.1Q tag): L3 header start,
    /// L4 header start, L4 checksum field offset within L4 (16 for TCP, 6 for UDP).
    pub l3_start: u16,
    pub l4_start: u16,
    pub csum_offset: u16,
    pub ipv6: bool,
    /// `Some(mss)`: TCP segmentation with this MSS (the frame carries one
    /// TCP/IP header and at least one payload byte); `None`: checksum
    /// insertion only.
    pub tso_mss: Option<u16>,
    /// TCP header length in bytes (needed for TSO's HDRLEN; must match the
    /// header's data offset). Ignored without TSO.
    pub l4_len: u16,
}

/// One NIC, as the Corm's run loop drives it.
pub trait Nic {
    /// The device's permanent MAC address (EEPROM/RAL or virtio config).
    fn mac(&self) -> [u8; 6];
    fn link_up(&self) -> bool;
    /// Reads and acknowledges interrupt causes and re-arms the interrupt.
    /// Call it when the device's interrupt fired (before the EOI), and on
    /// each poll in [`IrqMode::Poll`]; not on other wake-ups: it may read
    /// registers, and frames are found by `receive` without it.
    fn handle(&mut self) -> Events;
    /// Checks that the device still makes progress: transmit work queued
    /// and not completed since the previous call, while the link is up,
    /// counts as a stall, and stalls in a row beyond the driver's limit are
    /// `fatal` (call [`reinit`](Self::reinit)); also notices a vanished
    /// device and a link change whose interrupt was missed, and rings a
    /// doorbell a caller forgot ([`flush_tx`](Self::flush_tx)). Call it at
    /// a slow, steady rate: the Corm calls it once a second, and drivers
    /// size their limits for that. A few register reads per call at most.
    fn watchdog(&mut self) -> Events {
        Events::default()
    }
    /// Acknowledges interrupt causes that are enabled and latched although
    /// no interrupt was taken for them (a lost message), counting each find
    /// in [`NicCounters::irq_latched`]; `watchdog` does it too. One register
    /// read (and a write when something was latched). Call it when frames
    /// turn up in the ring on a wake-up the interrupt did not cause, at a
    /// bounded rate: a device that re-sends no message while a cause stays
    /// latched (the 82574 in MSI/MSI-X mode) would otherwise stay silent.
    /// Drivers whose interrupts cannot be lost that way do nothing.
    fn reap_latched(&mut self) -> Events {
        Events::default()
    }
    /// Lends up to `budget` received frames to `sink`, each in its DMA
    /// buffer (the sink may rewrite it in place, e.g. strip a VLAN tag, and
    /// must copy out what it keeps), and reposts the buffers; returns how
    /// many were passed. Fewer than `budget` means the ring is drained.
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&mut [u8])) -> usize;
    /// Gathers `frame`'s pieces into transmit buffers and queues it for the
    /// device, which learns of it at the next [`flush_tx`](Self::flush_tx)
    /// (one doorbell per batch): 14..=[`MAX_FRAME`] bytes (no FCS) without
    /// `offload`; up to
    /// 65535 plus a VLAN tag with a TSO `offload`, whose headers must lie in
    /// the frame's first piece. A checksum asked for by the frame is
    /// completed in the copy (such frames fit one buffer). An offload the
    /// driver cannot perform ([`tx_offloads`](Self::tx_offloads)) is
    /// `Err(TxError::Unsupported)`. One frame may take several descriptors,
    /// so [`tx_space`](Self::tx_space) bounds how many such frames fit only
    /// loosely.
    fn transmit_frame(
        &mut self,
        frame: &TxFrame<'_>,
        offload: Option<TxOffload>,
    ) -> Result<(), TxError>;
    /// Rings the transmit doorbell once for every frame queued since the
    /// last call (nothing when none was): call it after each batch of
    /// [`transmit_frame`](Self::transmit_frame) calls, and before waiting
    /// for room when the ring is full, since the device cannot complete
    /// frames it has not been told about.
    fn flush_tx(&mut self);
    /// One contiguous frame, no offload, sent at once (queued and flushed).
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        let r = self.transmit_frame(&TxFrame::from(frame), None);
        self.flush_tx();
        r
    }
    /// One contiguous frame with an offload, sent at once.
    fn transmit_offload(&mut self, frame: &[u8], req: TxOffload) -> Result<(), TxError> {
        let r = self.transmit_frame(&TxFrame::from(frame), Some(req));
        self.flush_tx();
        r
    }
    /// Transmit descriptors free right now, counting those the device has
    /// completed but the driver not yet reclaimed (memory reads only).
    fn tx_space(&self) -> usize;
    /// Offloads this driver can perform on transmit.
    fn tx_offloads(&self) -> TxOffloads {
        TxOffloads::default()
    }
    fn counters(&self) -> NicCounters;
    /// Resets the device and programs it again from scratch, reusing the DMA
    /// pages it already has (after `Events::fatal`, or a transmit watchdog).
    /// Frames in flight are lost and counted; `counters` keep counting.
    fn reinit(&mut self) -> Result<(), NicError>;
    /// Resets the device and leaves it idle (receive and transmit off, the
    /// rings forgotten), before the Corm gives the NIC back: whoever turns bus
    /// mastering on next must not find our rings armed, or the frames that
    /// waited for the unowned NIC are written into our old pages (IOMMU
    /// faults in the next owner's context; Xen disables a device that faults
    /// ten times in a row).
    fn stop(&mut self);
}

/// Busy-wait bound for register polls during init/reset (device-side steps
/// are microseconds; a device that never finishes must not hang the Corm).
pub const SPIN_LIMIT: u32 = 1_000_000;

pub mod e1000;
pub mod virtio_net;

#[cfg(test)]
pub mod fake;
#[cfg(test)]
pub mod fake_frames;
