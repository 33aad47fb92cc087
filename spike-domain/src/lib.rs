//! The Spike: a netback for one guest's netfront, as sans-IO parts the domain
//! image (main.rs) drives and the host tests exercise.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod xenbus_backend;
