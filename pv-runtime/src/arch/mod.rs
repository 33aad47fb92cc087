//! The thin layer that touches the hypervisor and raw memory. Only built for the
//! domain target; everything above it is plain Rust tested on the host.

pub mod boot;
pub mod cpu_random;
pub mod hypercall;
