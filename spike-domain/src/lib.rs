//! The Spike: a netback for one guest's netfront, as sans-IO parts the domain
//! image (main.rs) drives and the host tests exercise: the xenbus handshake
//! ([`xenbus_backend`]) and the ring/grant-copy core ([`netback`]).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod netback;
pub mod xenbus_backend;
