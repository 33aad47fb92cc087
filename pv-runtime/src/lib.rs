//! pv-runtime: a `no_std` runtime for Rust unikernels running as Xen PV domains.
//!
//! Layering (docs/architecture.md §3, §4):
//! * sans-IO cores, compiled and tested on the host: [`ring`], [`xenstore`],
//!   [`xenbus`], [`timer`], [`mm::frame`], [`mm::vspace`], [`console::ConsoleRing`],
//!   [`counter_page`] (its table and reader; the domain part grants the pages);
//! * the Xen ABI as plain `repr(C)` data: [`abi`];
//! * the thin unsafe layer that talks to the hypervisor, only on
//!   `target_os = "none"`: `arch`, `hypervisor`, `mm::paging`, `runtime`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod abi;
/// Compares Rust ABI definitions with the installed Xen headers (host tests).
#[cfg(any(test, feature = "fake"))]
pub mod c_probe;
pub mod capture_ring;
pub mod console;
pub mod counter_page;
pub mod event;
pub mod grant_table;
pub mod mm;
pub mod pci;
pub mod ring;
pub mod shared_page;
pub mod time;
pub mod timer;
pub mod xenbus;
pub mod xenstore;

#[cfg(target_os = "none")]
mod arch;
/// RDSEED/RDRAND words, to mix into a seeded generator.
#[cfg(target_os = "none")]
pub use arch::cpu_random::hardware_entropy;
/// Pages granted read-only to dom0 (counter page, capture ring).
#[cfg(target_os = "none")]
pub mod dom0_share;
#[cfg(target_os = "none")]
pub mod hypervisor;
#[cfg(target_os = "none")]
pub mod runtime;
