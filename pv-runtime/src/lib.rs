//! pv-runtime: a `no_std` runtime for Rust unikernels running as Xen PV domains.
//!
//! Layering (see DESIGN.md §3, §4):
//! * sans-IO cores, compiled and tested on the host: [`ring`], [`xenstore`], [`xenbus`];
//! * the Xen ABI as plain `repr(C)` data: [`abi`];
//! * the thin unsafe layer that talks to the hypervisor, only on `target_os = "none"`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod abi;
pub mod ring;
pub mod xenbus;
pub mod xenstore;
