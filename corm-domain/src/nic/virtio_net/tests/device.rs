//! A fake virtio-net PCI function: config space with QEMU's capability
//! layout, BARs implementing the common configuration, ISR, device
//! configuration and notify structures, and a device model that moves frames
//! through the driver's rings by bus address (through `FakeDma`, so a bad
//! address is caught), with hostile modes.

use std::cell::RefCell;
use std::rc::Rc;
use std::vec::Vec;

use super::super::common::*;
use super::super::features::*;
use super::super::pci::{CFG_COMMON, CFG_DEVICE, CFG_ISR, CFG_NOTIFY};
use super::super::VirtioNet;
use crate::nic::fake::{FakeConfig, FakeDma};
use crate::nic::{BarMapper, IrqMode, Mmio, NicError};

pub use super::wire::Hostile;

pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub const QEMU_BAR: u8 = 4;
pub const BAR_LEN: usize = 0x4000;
pub const MULT: u32 = 4;
/// What QEMU 7.2 offers a virtio-net-pci on a tap backend with vnet headers
/// (its default host features, less the control queue's and some we never
/// look at).
pub const OFFERED: u64 = F_VERSION_1
    | NET_F_MAC
    | NET_F_STATUS
    | NET_F_CSUM
    | NET_F_GUEST_CSUM
    | NET_F_GUEST_TSO4
    | NET_F_GUEST_TSO6
    | NET_F_HOST_TSO4
    | NET_F_HOST_TSO6
    | NET_F_HOST_ECN
    | NET_F_MRG_RXBUF
    | F_EVENT_IDX
    | 1 << 28; // VIRTIO_RING_F_INDIRECT_DESC
/// What the driver accepts of [`OFFERED`].
pub const ACCEPTED: u64 = F_VERSION_1
    | NET_F_MAC
    | NET_F_STATUS
    | NET_F_CSUM
    | NET_F_HOST_TSO4
    | NET_F_HOST_TSO6
    | NET_F_HOST_ECN
    | F_EVENT_IDX;

/// Where one structure lives, as a `virtio_pci_cap` describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub cfg_type: u8,
    pub bar: u8,
    pub offset: u32,
    pub length: u32,
}

pub fn qemu_layout() -> Vec<Placement> {
    let at = |cfg_type, offset| Placement {
        cfg_type,
        bar: QEMU_BAR,
        offset,
        length: 0x1000,
    };
    vec![
        at(CFG_COMMON, 0),
        at(CFG_ISR, 0x1000),
        at(CFG_DEVICE, 0x2000),
        at(CFG_NOTIFY, 0x3000),
    ]
}

/// Appends a `virtio_pci_cap` (a `virtio_pci_notify_cap` for notify).
pub fn add_vendor_cap(cfg: &mut FakeConfig, p: Placement) -> u8 {
    let cap_len: u8 = if p.cfg_type == CFG_NOTIFY { 20 } else { 16 };
    let mut body = vec![cap_len, p.cfg_type, p.bar, 0, 0, 0];
    body.extend_from_slice(&p.offset.to_le_bytes());
    body.extend_from_slice(&p.length.to_le_bytes());
    if p.cfg_type == CFG_NOTIFY {
        body.extend_from_slice(&MULT.to_le_bytes());
    }
    cfg.add_capability(0x09, &body)
}

/// Config space as QEMU builds it for a transitional virtio-net-pci: an
/// MSI-X capability, the four structures, and a PCI_CFG access capability.
pub fn qemu_config(layout: &[Placement]) -> FakeConfig {
    let mut cfg = FakeConfig::new(0x1af4, 0x1000);
    cfg.set_bar(0, 0xc001);
    cfg.set_bar(1, 0xfeb0_0000);
    cfg.set_bar(4, 0xfe00_000c);
    cfg.add_capability(0x11, &[0x02, 0x00, 0x01, 0, 0, 0, 0x01, 0x08, 0, 0]);
    for p in layout {
        add_vendor_cap(&mut cfg, *p);
    }
    cfg.add_capability(
        0x09,
        &[20, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    cfg
}

#[derive(Clone, Copy, Debug, Default)]
pub struct FakeQueue {
    pub max: u16,
    pub size: u16,
    pub vector: u16,
    pub enabled: bool,
    pub desc: u64,
    pub driver: u64,
    pub device: u64,
    pub last_avail: u16,
    pub used_idx: u16,
}

pub struct DevState {
    pub dma: FakeDma,
    pub layout: Vec<Placement>,
    pub offered: u64,
    pub driver_features: u64,
    dfsel: u32,
    drvsel: u32,
    pub config_vector: u16,
    pub status: u8,
    pub generation: u8,
    queue_sel: u16,
    pub queues: [FakeQueue; 2],
    pub isr: u8,
    pub mac: [u8; 6],
    pub net_status: u16,
    pub never_reset: bool,
    pub refuse_features_ok: bool,
    pub reject_vector: bool,
    pub gone: bool,
    /// Transmit as soon as notified; otherwise only on `complete_tx`.
    pub auto_tx: bool,
    pub hostile_rx: Option<Hostile>,
    pub hostile_tx: Option<Hostile>,
    /// Frames put on the wire (a TSO frame's segments).
    pub tx_frames: Vec<Vec<u8>>,
    /// The header of every transmitted buffer.
    pub tx_headers: Vec<super::fake_tx::Hdr>,
    /// Interrupts the device would have raised, per queue (§2.7.7.2).
    pub interrupts: [usize; 2],
    /// Register accesses by the driver (reads, writes), all BARs.
    pub accesses: (usize, usize),
    /// Driver mistakes the model noticed; every test expects none.
    pub errors: Vec<String>,
    pub notifies: [usize; 2],
    pub maps: Vec<u8>,
    pub resets: usize,
}

impl DevState {
    fn new(dma: FakeDma, layout: Vec<Placement>, max: u16) -> Self {
        let mut s = DevState {
            dma,
            layout,
            offered: OFFERED,
            driver_features: 0,
            dfsel: 0,
            drvsel: 0,
            config_vector: NO_VECTOR,
            status: 0x0f,
            generation: 0,
            queue_sel: 0,
            queues: [FakeQueue::default(); 2],
            isr: 0,
            mac: MAC,
            net_status: 1,
            never_reset: false,
            refuse_features_ok: false,
            reject_vector: false,
            gone: false,
            auto_tx: true,
            hostile_rx: None,
            hostile_tx: None,
            tx_frames: Vec::new(),
            tx_headers: Vec::new(),
            interrupts: [0; 2],
            accesses: (0, 0),
            errors: Vec::new(),
            notifies: [0; 2],
            maps: Vec::new(),
            resets: 0,
        };
        s.queues[0].max = max;
        s.queues[1].max = max;
        s.reset();
        s.resets = 0;
        s
    }

    fn reset(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        self.config_vector = NO_VECTOR;
        self.isr = 0;
        for q in &mut self.queues {
            *q = FakeQueue {
                max: q.max,
                size: q.max,
                vector: NO_VECTOR,
                ..FakeQueue::default()
            };
        }
        self.resets += 1;
    }

    fn queue(&mut self) -> Option<&mut FakeQueue> {
        self.queues.get_mut(usize::from(self.queue_sel))
    }

    fn common_read(&mut self, o: usize) -> u32 {
        let sel = usize::from(self.queue_sel);
        let q = self.queues.get(sel).copied().unwrap_or_default();
        let half = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
        match o {
            DEVICE_FEATURE_SELECT => self.dfsel,
            DEVICE_FEATURE => match self.dfsel {
                0 | 1 => half(self.offered, self.dfsel == 1),
                _ => 0,
            },
            DRIVER_FEATURE_SELECT => self.drvsel,
            DRIVER_FEATURE => half(self.driver_features, self.drvsel == 1),
            MSIX_CONFIG => u32::from(self.config_vector),
            0x12 => 2,
            DEVICE_STATUS => u32::from(self.status),
            CONFIG_GENERATION => u32::from(self.generation),
            QUEUE_SELECT => u32::from(self.queue_sel),
            QUEUE_SIZE => u32::from(q.size),
            QUEUE_MSIX_VECTOR => u32::from(q.vector),
            QUEUE_ENABLE => u32::from(q.enabled),
            QUEUE_NOTIFY_OFF => u32::from(self.queue_sel),
            0x20..=0x37 => {
                let v = [q.desc, q.driver, q.device][(o - 0x20) / 8];
                half(v, o % 8 == 4)
            }
            _ => 0,
        }
    }

    fn common_write(&mut self, o: usize, v: u32) {
        let vector = if self.reject_vector && v as u16 != NO_VECTOR {
            NO_VECTOR
        } else {
            v as u16
        };
        let set_half = |old: u64, hi: bool| {
            if hi {
                old & 0xffff_ffff | u64::from(v) << 32
            } else {
                old & !0xffff_ffff | u64::from(v)
            }
        };
        match o {
            DEVICE_FEATURE_SELECT => self.dfsel = v,
            DRIVER_FEATURE_SELECT => self.drvsel = v,
            DRIVER_FEATURE if self.drvsel < 2 => {
                self.driver_features = set_half(self.driver_features, self.drvsel == 1)
            }
            MSIX_CONFIG => self.config_vector = vector,
            DEVICE_STATUS => self.write_status(v as u8),
            QUEUE_SELECT => self.queue_sel = v as u16,
            QUEUE_SIZE => {
                let Some(q) = self.queue() else { return };
                let ok = v > 0 && (v as u16).is_power_of_two() && v as u16 <= q.max;
                q.size = v as u16;
                if !ok {
                    self.errors.push(format!("queue size {v}"));
                }
            }
            QUEUE_MSIX_VECTOR => {
                if let Some(q) = self.queue() {
                    q.vector = vector;
                }
            }
            QUEUE_ENABLE => {
                let Some(q) = self.queue() else { return };
                q.enabled = v == 1;
                let q = *q;
                for a in [q.desc, q.driver, q.device] {
                    if !a.is_multiple_of(4096) || self.dma.read_u64(a).is_none() {
                        self.errors.push(format!("queue area {a:#x}"));
                    }
                }
            }
            0x20..=0x37 => {
                let Some(q) = self.queue() else { return };
                let hi = o % 8 == 4;
                match (o - 0x20) / 8 {
                    0 => q.desc = set_half(q.desc, hi),
                    1 => q.driver = set_half(q.driver, hi),
                    _ => q.device = set_half(q.device, hi),
                }
            }
            _ => {}
        }
    }

    fn write_status(&mut self, v: u8) {
        if v == 0 {
            if !self.never_reset {
                self.reset();
            }
            return;
        }
        let mut v = v;
        if v & S_FEATURES_OK != 0 && self.status & S_FEATURES_OK == 0 {
            let f = self.driver_features;
            if self.refuse_features_ok || f & !self.offered != 0 || f & F_VERSION_1 == 0 {
                v &= !S_FEATURES_OK;
            }
        }
        self.status = v | (self.status & S_NEEDS_RESET);
    }

    fn device_read(&self, o: usize) -> u8 {
        let [s0, s1] = self.net_status.to_le_bytes();
        match o {
            0..=5 => self.mac[o],
            6 => s0,
            7 => s1,
            _ => 0,
        }
    }
}

pub type Dev = Rc<RefCell<DevState>>;

/// One mapped BAR of the fake function.
pub struct FakeBar {
    dev: Dev,
    bar: u8,
}

impl FakeBar {
    fn read(&self, off: usize, width: usize) -> u32 {
        let ones = (u64::from(u32::MAX) >> (32 - 8 * width)) as u32;
        let mut d = self.dev.borrow_mut();
        d.accesses.0 += 1;
        if d.gone || off + width > BAR_LEN {
            return ones;
        }
        let Some(p) = d.layout.iter().copied().find(|p| self.holds(p, off)) else {
            return ones;
        };
        let o = off - p.offset as usize;
        match p.cfg_type {
            CFG_COMMON => d.common_read(o),
            CFG_ISR => u32::from(std::mem::take(&mut d.isr)),
            CFG_DEVICE => (0..width)
                .map(|i| u32::from(d.device_read(o + i)) << (8 * i))
                .sum(),
            _ => 0,
        }
    }

    fn write(&self, off: usize, v: u32) {
        let mut d = self.dev.borrow_mut();
        d.accesses.1 += 1;
        let Some(p) = d.layout.iter().copied().find(|p| self.holds(p, off)) else {
            d.errors
                .push(format!("write to BAR {} at {off:#x}", self.bar));
            return;
        };
        let o = off - p.offset as usize;
        match p.cfg_type {
            CFG_COMMON => d.common_write(o, v),
            CFG_NOTIFY => d.notify(o, v),
            _ => d.errors.push(format!("write to {} at {o:#x}", p.cfg_type)),
        }
    }

    fn holds(&self, p: &Placement, off: usize) -> bool {
        let start = p.offset as usize;
        p.bar == self.bar && (start..start + p.length as usize).contains(&off)
    }
}

impl Mmio for FakeBar {
    fn len(&self) -> usize {
        BAR_LEN
    }
    fn read8(&self, offset: usize) -> u8 {
        self.read(offset, 1) as u8
    }
    fn read16(&self, offset: usize) -> u16 {
        self.read(offset, 2) as u16
    }
    fn read32(&self, offset: usize) -> u32 {
        self.read(offset, 4)
    }
    fn write8(&self, offset: usize, value: u8) {
        self.write(offset, value.into());
    }
    fn write16(&self, offset: usize, value: u16) {
        self.write(offset, value.into());
    }
    fn write32(&self, offset: usize, value: u32) {
        self.write(offset, value);
    }
}

/// Maps a BAR if some structure lives in it, and records each mapping.
pub struct FakeBars(pub Dev);

impl BarMapper for FakeBars {
    type Mmio = FakeBar;
    fn map_bar(&mut self, index: u8) -> Result<FakeBar, NicError> {
        let mut d = self.0.borrow_mut();
        d.maps.push(index);
        if !d.layout.iter().any(|p| p.bar == index) {
            return Err(NicError::Bar(index));
        }
        Ok(FakeBar {
            dev: self.0.clone(),
            bar: index,
        })
    }
}

/// A fake virtio-net function plus the DMA pool the driver allocates from.
pub struct Fixture {
    pub dev: Dev,
    pub cfg: FakeConfig,
    pub dma: FakeDma,
}

impl Fixture {
    pub fn qemu() -> Self {
        Self::with_layout(qemu_layout(), 256)
    }

    pub fn with_layout(layout: Vec<Placement>, max_queue: u16) -> Self {
        let dma = FakeDma::new();
        let cfg = qemu_config(&layout);
        let dev = Rc::new(RefCell::new(DevState::new(dma.clone(), layout, max_queue)));
        Fixture { dev, cfg, dma }
    }

    pub fn nic(&mut self, irq: IrqMode) -> Result<VirtioNet<FakeBar>, NicError> {
        let mut bars = FakeBars(self.dev.clone());
        VirtioNet::new(&mut self.cfg, &mut bars, &mut self.dma, irq)
    }

    pub fn state(&self) -> std::cell::RefMut<'_, DevState> {
        self.dev.borrow_mut()
    }

    /// Register (reads, writes) since the last call.
    pub fn take_accesses(&self) -> (usize, usize) {
        std::mem::take(&mut self.dev.borrow_mut().accesses)
    }

    pub fn inject(&self, frame: &[u8]) -> bool {
        self.dev.borrow_mut().inject(frame)
    }
}
