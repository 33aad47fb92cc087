//! `struct xencons_interface` (io/console.h): the PV console ring page.

pub const IN_SIZE: usize = 1024;
pub const OUT_SIZE: usize = 2048;

/// `struct xencons_interface` (io/console.h).
#[repr(C)]
pub struct XenconsInterface {
    pub input: [u8; IN_SIZE],
    pub out: [u8; OUT_SIZE],
    pub in_cons: u32,
    pub in_prod: u32,
    pub out_cons: u32,
    pub out_prod: u32,
}
