//! Frames an attacker on the physical network would send, built exactly
//! (valid checksums where the attack needs the receiver to believe them),
//! and a raw `AF_PACKET` sender to put them on a Linux interface. The
//! nested-Xen tests run `banana-lab` in dom0, whose own NIC sits on the lab
//! segment beside the Corm's, so every frame reaches the Corm from outside
//! exactly as a hostile host's would.
#![forbid(unsafe_code)]

pub mod craft;
pub mod tunnel;
