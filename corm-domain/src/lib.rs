//! The Corm: a driver domain owning one physical NIC and switching Ethernet
//! frames between it and the Spikes' endpoints, as sans-IO parts the domain
//! image (main.rs) drives and the host tests exercise: the L2 [`switch`].
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod counters;
pub mod dataplane;
pub mod nic;
pub mod switch;
pub mod tunnel;
