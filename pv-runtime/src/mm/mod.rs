//! Memory: page frames, virtual-address windows, page tables and the heap.
//!
//! Layout of a domain's address space (x86-64 PV, everything above
//! `HYPERVISOR_VIRT_END` is the guest's):
//!
//! | range | what |
//! |---|---|
//! | `VIRT_BASE + pfn * 4 KiB` | direct map of all RAM (image, bootstrap, then every frame) |
//! | [`layout::HEAP_BASE`].. | the `alloc` heap, grown a chunk at a time from free frames |
//! | [`layout::FOREIGN_BASE`].. | foreign mappings: grant maps, shared_info, grant table, MMIO |

pub mod frame;
pub mod vspace;

#[cfg(target_os = "none")]
pub mod heap;
#[cfg(target_os = "none")]
pub mod paging;

/// Fixed virtual-address layout.
pub mod layout {
    /// Where the image is linked and pfn 0 sits (pv.ld).
    pub const VIRT_BASE: u64 = 0xffff_ffff_8000_0000;
    /// The direct map ends at the top of the address space: at most 2 GiB of RAM.
    pub const DIRECT_MAP_MAX_PAGES: u64 = (1 << 31) >> 12;
    pub const HEAP_BASE: u64 = 0xffff_c000_0000_0000;
    pub const FOREIGN_BASE: u64 = 0xffff_d000_0000_0000;
    /// Pages in the foreign window: rings, grant-table frames and BARs, not data.
    pub const FOREIGN_PAGES: usize = 16 * 1024;
}
