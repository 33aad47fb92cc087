//! The Spike: a netback for one guest's netfront, as sans-IO parts the domain
//! image (main.rs) drives and the host tests exercise: the xenbus handshake
//! ([`xenbus_backend`]), the ring/grant-copy core ([`netback`]) and the
//! route of frames between the guests and the wire ([`dataplane`]).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod counters;
pub mod dataplane;
pub mod netback;
pub mod xenbus_backend;
