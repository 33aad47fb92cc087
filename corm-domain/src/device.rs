//! The passed-through NIC as the drivers see it: pcifront config space,
//! BARs mapped from `DOMID_IO`, DMA pages whose bus address is the machine
//! address (PV with an IOMMU maps our pages 1:1 by MFN: docs/xen-interfaces.md "PCI
//! passthrough"), and the interrupt bound to an event channel.
//!
//! Interrupt choice per device: MSI-X (one vector) when the function has the
//! capability, else MSI, else INTx (`INTERRUPT_LINE` is the GSI libxl mapped
//! to us as a pirq of the same number), else polling.

use alloc::boxed::Box;
use core::ptr::NonNull;

use corm_domain::nic::e1000::{reset_idle, Model, E1000};
use corm_domain::nic::virtio_net::{is_virtio_net, VirtioNet};
use corm_domain::nic::{
    find_capability, BarMapper, ConfigSpace, Dma, DmaPage, IrqMode, Mmio, Nic, NicError, Width,
};
use pv_runtime::event::Events;
use pv_runtime::mm::heap::alloc_page;
use pv_runtime::pci::frontend::{Function, PciError, PciFront};
use pv_runtime::pci::irq::Pirq;
use pv_runtime::pci::mmio::MmioRegion;
use pv_runtime::pci::{config, Address, Bar};
use pv_runtime::println;

/// One function reached through pcifront.
pub struct PciDev<'a> {
    pub front: &'a mut PciFront,
    pub events: &'a mut Events,
    pub address: Address,
}

impl PciDev<'_> {
    fn size(width: Width) -> u8 {
        match width {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
        }
    }

    /// Offset of capability `id` ([`find_capability`]: a bounded walk).
    pub fn find_capability(&mut self, id: u8) -> Result<Option<u8>, NicError> {
        find_capability(self, id)
    }
}

impl ConfigSpace for PciDev<'_> {
    fn read(&mut self, offset: u16, width: Width) -> Result<u32, NicError> {
        self.front
            .read(self.events, self.address, offset, Self::size(width))
            .map_err(|e| {
                println!("CORM-PCI-ERROR read {offset:#x}/{width:?}: {e}");
                NicError::Config
            })
    }

    fn write(&mut self, offset: u16, width: Width, value: u32) -> Result<(), NicError> {
        self.front
            .write(self.events, self.address, offset, Self::size(width), value)
            .map_err(|e| {
                println!("CORM-PCI-ERROR write {offset:#x}/{width:?} = {value:#x}: {e}");
                NicError::Config
            })
    }
}

/// A mapped memory BAR.
pub struct BarMmio(MmioRegion);

impl Mmio for BarMmio {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn read8(&self, offset: usize) -> u8 {
        self.0.read(offset)
    }
    fn read16(&self, offset: usize) -> u16 {
        self.0.read(offset)
    }
    fn read32(&self, offset: usize) -> u32 {
        self.0.read(offset)
    }
    fn write8(&self, offset: usize, value: u8) {
        self.0.write(offset, value)
    }
    fn write16(&self, offset: usize, value: u16) {
        self.0.write(offset, value)
    }
    fn write32(&self, offset: usize, value: u32) {
        self.0.write(offset, value)
    }
}

impl BarMapper for PciDev<'_> {
    type Mmio = BarMmio;
    fn map_bar(&mut self, index: u8) -> Result<BarMmio, NicError> {
        match self.front.bar(self.events, self.address, index) {
            Ok(Some(Bar::Memory { base, size, .. })) => MmioRegion::map(base, size)
                .map(BarMmio)
                .map_err(|_| NicError::Bar(index)),
            _ => Err(NicError::Bar(index)),
        }
    }
}

/// Every memory BAR of a function mapped up front, for drivers that need
/// config space and BARs at once (virtio finds its regions through
/// capabilities). A BAR that cannot be mapped (absent, I/O, or holding an
/// MSI-X table Xen keeps read-only) is simply missing.
pub struct Premapped([Option<BarMmio>; 6]);

impl Premapped {
    pub fn map_all(dev: &mut PciDev<'_>) -> Premapped {
        let mut bars: [Option<BarMmio>; 6] = Default::default();
        let mut i = 0u8;
        while i < 6 {
            let lo = dev
                .read(config::BAR0 + 4 * u16::from(i), Width::U32)
                .unwrap_or(0);
            bars[usize::from(i)] = dev.map_bar(i).ok();
            i += if Bar::is_wide(lo) { 2 } else { 1 };
        }
        Premapped(bars)
    }
}

impl BarMapper for Premapped {
    type Mmio = BarMmio;
    fn map_bar(&mut self, index: u8) -> Result<BarMmio, NicError> {
        self.0
            .get_mut(usize::from(index))
            .and_then(Option::take)
            .ok_or(NicError::Bar(index))
    }
}

/// DMA pages from the domain's own RAM; bus address = machine address.
#[derive(Default)]
pub struct MachineDma {
    pub pages: usize,
}

impl Dma for MachineDma {
    fn alloc_page(&mut self) -> Option<DmaPage> {
        let (va, mfn) = alloc_page().ok()?;
        let ptr = NonNull::new(va as *mut u8)?;
        self.pages += 1;
        // SAFETY: a fresh zeroed direct-mapped page, never freed (see `Dma`),
        // used only through this DmaPage; the IOMMU maps it at its MFN.
        Some(unsafe { DmaPage::new(ptr, mfn << 12) })
    }
}

/// The NIC driver models we have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Intel(Model),
    Virtio,
}

impl Kind {
    pub fn of(f: &Function) -> Option<Kind> {
        if let Some(m) = Model::from_ids(f.vendor, f.device) {
            Some(Kind::Intel(m))
        } else if is_virtio_net(f.vendor, f.device) {
            Some(Kind::Virtio)
        } else {
            None
        }
    }
}

/// The opened NIC and how its interrupts arrive.
pub struct OpenNic {
    pub nic: Box<dyn Nic>,
    pub kind: Kind,
    pub irq: IrqMode,
    /// `None` in [`IrqMode::Poll`].
    pub pirq: Option<Pirq>,
    pub address: Address,
    pub dma_pages: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("pcifront: {0}")]
    Pci(#[from] PciError),
    #[error("no supported NIC among the passed-through functions")]
    NoNic,
    #[error("driver: {0}")]
    Driver(#[from] NicError),
}

/// Picks the first supported function, enables it and brings the driver up.
pub fn open(front: &mut PciFront, events: &mut Events) -> Result<OpenNic, OpenError> {
    for f in &front.functions {
        println!(
            "CORM-PCI {} vendor={:04x} device={:04x}",
            f.address, f.vendor, f.device
        );
    }
    let (f, kind) = front
        .functions
        .iter()
        .find_map(|f| Kind::of(f).map(|k| (*f, k)))
        .ok_or(OpenError::NoNic)?;
    let mut dev = PciDev {
        front,
        events,
        address: f.address,
    };
    let (irq, pirq_no) = choose_irq(&mut dev)?;
    let cmd = dev.read(config::COMMAND, Width::U16)?;
    let mut cmd = cmd | config::COMMAND_MEMORY;
    if irq == IrqMode::Intx {
        cmd &= !config::COMMAND_INTX_DISABLE;
    }
    let mut dma = MachineDma::default();
    let nic: Box<dyn Nic> = match kind {
        Kind::Intel(model) => {
            // Bus mastering only after a global reset (`reset_idle`), and the
            // set-up only after mastering is on (its comment says why). The NIC
            // comes to us unreset (QEMU's e1000 has no FLR: "The kernel
            // doesn't support reset from sysfs") and may still run the rings
            // of the Corm that owned it before and was destroyed: with
            // mastering on, every frame arriving on the segment makes it read
            // a descriptor from that domain's old pages, an IOMMU fault in
            // our context, and ten faults close together make Xen clear
            // PCI_COMMAND_MASTER behind our back (pci_check_disable_device,
            // xen/drivers/passthrough/pci.c): a NIC that says its link is up
            // and never moves a frame again. With mastering off the device
            // cannot DMA at all (PCI 3.0 §6.2.2, Command register bit 2).
            dev.write(
                config::COMMAND,
                Width::U16,
                cmd & !config::COMMAND_BUS_MASTER,
            )?;
            let bar0 = dev.map_bar(0)?;
            reset_idle(&bar0, model)?;
            enable_bus_master(&mut dev, cmd)?;
            Box::new(E1000::new(model, bar0, &mut dma, irq)?)
        }
        Kind::Virtio => {
            // Virtio's set-up itself needs DMA (the device reads the rings
            // it is given); its reset (device status 0) drops any old queues.
            enable_bus_master(&mut dev, cmd)?;
            let mut bars = Premapped::map_all(&mut dev);
            Box::new(VirtioNet::new(&mut dev, &mut bars, &mut dma, irq)?)
        }
    };
    let pirq = match pirq_no {
        Some(n) => match Pirq::bind(dev.events, n, irq == IrqMode::Intx) {
            Ok(p) => Some(p),
            Err(e) => {
                println!("CORM-IRQ-ERROR pirq {n}: {e}; polling instead");
                None
            }
        },
        None => None,
    };
    Ok(OpenNic {
        nic,
        kind,
        irq: if pirq.is_some() { irq } else { IrqMode::Poll },
        pirq,
        address: f.address,
        dma_pages: dma.pages,
    })
}

/// Writes `cmd` with bus mastering on and reads it back: pciback passes the
/// write on, and a device Xen disabled for IOMMU faults would show it here.
fn enable_bus_master(dev: &mut PciDev<'_>, cmd: u32) -> Result<(), NicError> {
    dev.write(
        config::COMMAND,
        Width::U16,
        cmd | config::COMMAND_BUS_MASTER,
    )?;
    let back = dev.read(config::COMMAND, Width::U16)?;
    if back & config::COMMAND_BUS_MASTER == 0 {
        println!("CORM-NIC-WARNING bus mastering did not stick (command {back:#06x})");
    }
    Ok(())
}

/// Enables MSI-X, MSI or INTx, in that order of preference; returns the mode
/// and its pirq.
fn choose_irq(dev: &mut PciDev<'_>) -> Result<(IrqMode, Option<u32>), NicError> {
    if dev.find_capability(config::CAP_ID_MSIX)?.is_some() {
        match dev.front.enable_msix(dev.events, dev.address, 1) {
            Ok(p) => return Ok((IrqMode::Msix, Some(p[0]))),
            Err(e) => println!("CORM-IRQ MSI-X refused: {e}"),
        }
    }
    if dev.find_capability(config::CAP_ID_MSI)?.is_some() {
        match dev.front.enable_msi(dev.events, dev.address) {
            Ok(p) => return Ok((IrqMode::Msi, Some(p))),
            Err(e) => println!("CORM-IRQ MSI refused: {e}"),
        }
    }
    let pin = dev.read(config::INTERRUPT_PIN, Width::U8)?;
    let line = dev.read(config::INTERRUPT_LINE, Width::U8)?;
    if pin != 0 && line != 0 && line != 0xFF {
        return Ok((IrqMode::Intx, Some(line)));
    }
    Ok((IrqMode::Poll, None))
}
