//! Page-table updates for PV guests (xen.h: `mmu_update`, `mmuext_op`,
//! `update_va_mapping`) and the x86-64 PTE bits.

pub const MMU_NORMAL_PT_UPDATE: u64 = 0;
pub const MMU_MACHPHYS_UPDATE: u64 = 1;

pub const UVMF_NONE: u64 = 0;
pub const UVMF_TLB_FLUSH: u64 = 1;
pub const UVMF_INVLPG: u64 = 2;
pub const UVMF_LOCAL: u64 = 0;
pub const UVMF_ALL: u64 = 4;

pub const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
pub const MMUEXT_INVLPG_LOCAL: u32 = 7;

/// `struct mmu_update` (xen.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MmuUpdate {
    /// Machine address of the PTE, low bits = `MMU_*` command.
    pub ptr: u64,
    pub val: u64,
}

pub const PTE_PRESENT: u64 = 1 << 0;
pub const PTE_RW: u64 = 1 << 1;
pub const PTE_USER: u64 = 1 << 2;
pub const PTE_PWT: u64 = 1 << 3;
pub const PTE_PCD: u64 = 1 << 4;
pub const PTE_ACCESSED: u64 = 1 << 5;
pub const PTE_DIRTY: u64 = 1 << 6;
pub const PTE_NX: u64 = 1 << 63;
pub const PTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Leaf PTE for this domain's own memory (Mini-OS `L1_PROT`; Xen adds `_PAGE_USER`
/// itself for 64-bit PV kernels).
pub const L1_PROT: u64 = PTE_PRESENT | PTE_RW | PTE_ACCESSED;
/// Leaf PTE for a page that must stay read-only to the guest (page tables).
pub const L1_PROT_RO: u64 = PTE_PRESENT | PTE_ACCESSED;
/// Non-leaf entries (Mini-OS `L2_PROT`..`L4_PROT`).
pub const TABLE_PROT: u64 = PTE_PRESENT | PTE_RW | PTE_ACCESSED | PTE_DIRTY | PTE_USER;

/// Start of the read-only machine-to-phys table Xen maps into every 64-bit PV
/// guest (`HYPERVISOR_VIRT_START` / `MACH2PHYS_VIRT_START`, arch-x86/xen-x86_64.h).
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// First address past the hypervisor's hole in a PV guest's address space.
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;
