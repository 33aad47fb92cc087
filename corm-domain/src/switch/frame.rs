//! The Ethernet header as the switch reads it: `netframe::eth`, one
//! definition for every crate that parses frames.

pub use netframe::eth::*;
