//! The Xen public ABI this runtime uses, as plain `repr(C)` data and constants.
//!
//! Every definition names the header under `xen/include/public/` it comes from
//! (Xen 4.17, x86_64). Layouts are checked against the installed headers
//! (Debian `libxen-dev`) by `tests/abi_layout.rs`, which compiles a C probe.
//! Nothing here performs I/O.

pub mod console;
pub mod event_channel;
pub mod grant_table;
pub mod hypercall;
pub mod mmu;
pub mod pciif;
pub mod physdev;
pub mod sched;
pub mod shared_info;
pub mod start_info;

/// `domid_t` (xen.h).
pub type DomId = u16;
/// `evtchn_port_t` (event_channel.h).
pub type Port = u32;
/// `grant_ref_t` (grant_table.h).
pub type GrantRef = u32;
/// A machine frame number (`xen_pfn_t` when it names a machine frame).
pub type Mfn = u64;
/// A pseudo-physical frame number of this domain.
pub type Pfn = u64;

/// `DOMID_SELF` (xen.h).
pub const DOMID_SELF: DomId = 0x7FF0;
/// `DOMID_IO` (xen.h): foreign domain for MMIO mappings.
pub const DOMID_IO: DomId = 0x7FF1;

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

#[cfg(test)]
mod layout_tests;
