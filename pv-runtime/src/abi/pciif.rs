//! The pcifront/pciback shared page (io/pciif.h): one `xen_pci_op` in flight,
//! handed over by setting `_XEN_PCIF_active` in `flags` and kicking the event
//! channel; the backend clears the bit when `err`/`value` hold the answer.

pub const XEN_PCIF_ACTIVE_BIT: u32 = 0;
pub const XEN_PCIF_ACTIVE: u32 = 1 << XEN_PCIF_ACTIVE_BIT;

pub const XEN_PCI_OP_CONF_READ: u32 = 0;
pub const XEN_PCI_OP_CONF_WRITE: u32 = 1;
pub const XEN_PCI_OP_ENABLE_MSI: u32 = 2;
pub const XEN_PCI_OP_DISABLE_MSI: u32 = 3;
pub const XEN_PCI_OP_ENABLE_MSIX: u32 = 4;
pub const XEN_PCI_OP_DISABLE_MSIX: u32 = 5;

pub const XEN_PCI_ERR_SUCCESS: i32 = 0;
pub const XEN_PCI_ERR_DEV_NOT_FOUND: i32 = -1;
pub const XEN_PCI_ERR_INVALID_OFFSET: i32 = -2;
pub const XEN_PCI_ERR_ACCESS_DENIED: i32 = -3;
pub const XEN_PCI_ERR_NOT_IMPLEMENTED: i32 = -4;
pub const XEN_PCI_ERR_OP_FAILED: i32 = -5;

/// `SH_INFO_MAX_VEC`: MSI-X entries one op can carry.
pub const SH_INFO_MAX_VEC: usize = 128;

/// `XEN_PCI_MAGIC` (xenbus `magic` node; Linux pcifront writes "7").
pub const XEN_PCI_MAGIC: &str = "7";

/// `struct xen_msix_entry`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MsixEntry {
    pub vector: u16,
    pub entry: u16,
}

/// `struct xen_pci_op`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PciOp {
    pub cmd: u32,
    pub err: i32,
    pub domain: u32,
    pub bus: u32,
    pub devfn: u32,
    pub offset: i32,
    pub size: i32,
    pub value: u32,
    pub info: u32,
    pub msix_entries: [MsixEntry; SH_INFO_MAX_VEC],
}

/// `struct xen_pcie_aer_op`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PcieAerOp {
    pub cmd: u32,
    pub err: i32,
    pub domain: u32,
    pub bus: u32,
    pub devfn: u32,
}

/// `struct xen_pci_sharedinfo`: the whole shared page's used prefix.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PciSharedInfo {
    pub flags: u32,
    pub op: PciOp,
    pub aer_op: PcieAerOp,
}
