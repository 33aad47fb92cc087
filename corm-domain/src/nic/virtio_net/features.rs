//! Feature bits and the driver's choice among those offered (Virtio 1.2
//! §2.2, §6 reserved bits, §5.1.3 network device bits).
//!
//! The driver takes frames of at most [`MAX_FRAME`](crate::nic::MAX_FRAME)
//! bytes in one buffer each, behind a 12-byte `virtio_net_hdr`, so it accepts
//! no offloads, no mergeable buffers, no event index, no control queue.

use super::net;
use crate::nic::NicError;

/// §5.1.3: the device has a MAC address in its configuration.
pub const NET_F_MAC: u64 = 1 << 5;
/// §5.1.3: the configuration's `status` field reports the link.
pub const NET_F_STATUS: u64 = 1 << 16;
/// §6: a Virtio 1.x device; required (no legacy interface here).
pub const F_VERSION_1: u64 = 1 << 32;
/// §6: the device's DMA goes through the platform's IOMMU. Our descriptors
/// carry bus addresses either way, so it is accepted when offered.
pub const F_ACCESS_PLATFORM: u64 = 1 << 33;

/// The features to accept from `offered`: VERSION_1 (else
/// [`NicError::Features`]), ACCESS_PLATFORM, and MAC/STATUS when the device
/// configuration window (`device_len` bytes) holds the field they describe.
pub fn select(offered: u64, device_len: usize) -> Result<u64, NicError> {
    if offered & F_VERSION_1 == 0 {
        return Err(NicError::Features);
    }
    let mut wanted = F_VERSION_1 | F_ACCESS_PLATFORM;
    if device_len >= net::CFG_MAC + 6 {
        wanted |= NET_F_MAC;
    }
    if device_len >= net::CFG_STATUS + 2 {
        wanted |= NET_F_STATUS;
    }
    Ok(offered & wanted)
}
