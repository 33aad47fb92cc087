//! Feature bits and the driver's choice among those offered (Virtio 1.2
//! §2.2, §6 reserved bits, §5.1.3 network device bits).
//!
//! Accepted when offered (see [`select`]):
//! * `CSUM`, `HOST_TSO4`, `HOST_TSO6`, `HOST_ECN`: transmit offloads. The
//!   Corm's endpoints hand it partially checksummed and GSO frames (up to
//!   64 KiB) from their guests; with these the frame goes to the device
//!   whole with a `virtio_net_hdr` saying what to finish (§5.1.6.2), one
//!   copy from the wire's ring into a chain of transmit buffers, instead of
//!   being cut into MSS-sized frames and checksummed by the Corm's CPU.
//!   QEMU's tap backend with vnet headers passes the header to the host
//!   kernel, which segments or checksums only where it must.
//! * `EVENT_IDX`: notifications and interrupts once per batch (§2.7.7,
//!   §2.7.10): the device says where it wants the next notification, the
//!   driver where it wants the next interrupt.
//!
//! Not accepted, on purpose:
//! * `GUEST_CSUM`: the device could then hand us frames whose checksum is
//!   still partial (`NEEDS_CSUM`, §5.1.6.4, e.g. from a local sender on the
//!   host's bridge) as well as `DATA_VALID` ones. `Nic::receive` lends a
//!   frame alone, without metadata, so neither could reach the data plane:
//!   a partial checksum would be delivered wrong, and the one benefit,
//!   skipping the Corm's software TCP checksum check (GRO), needs the
//!   receive API to carry the verdict first. Even then it would not pay in
//!   the lab: its peer is the host's own stack, whose frames would arrive
//!   `NEEDS_CSUM`, and completing them costs the Corm the same pass over
//!   the bytes as verifying them does now (the host skips its pass, but
//!   the host is not the emulated CPU). `DATA_VALID` pays with a physical
//!   NIC that verifies in hardware behind the device.
//! * `GUEST_TSO4/6`, `GUEST_UFO`, `MRG_RXBUF`: large received frames would
//!   span several buffers (`num_buffers`, §5.1.6.4) or need 64 KiB buffers
//!   per descriptor, while `Nic::receive` lends each frame as one
//!   contiguous buffer: assembling it would copy every byte once more
//!   before the one copy into the wire's ring. The Corm's GRO builds 64 KiB
//!   merges for the guests from MTU frames anyway (one copy); taking
//!   merged frames from the device would need a receive API that lends a
//!   frame in pieces.
//! * `CTRL_VQ` and everything that needs it (filters, multiqueue): the
//!   device is promiscuous by default, which a switch wants.

use super::net;
use crate::nic::NicError;

/// §5.1.3: the device completes transmit checksums (`NEEDS_CSUM`).
pub const NET_F_CSUM: u64 = 1 << 0;
/// §5.1.3: the driver can take frames with partial checksums (not taken).
pub const NET_F_GUEST_CSUM: u64 = 1 << 1;
/// §5.1.3: the device has a MAC address in its configuration.
pub const NET_F_MAC: u64 = 1 << 5;
/// §5.1.3: the driver can take TSO frames (not taken, see above).
pub const NET_F_GUEST_TSO4: u64 = 1 << 7;
pub const NET_F_GUEST_TSO6: u64 = 1 << 8;
/// §5.1.3: the device segments TCP over IPv4 / IPv6 (needs `CSUM`).
pub const NET_F_HOST_TSO4: u64 = 1 << 11;
pub const NET_F_HOST_TSO6: u64 = 1 << 12;
/// §5.1.3: the device segments TSO frames with ECN (needs a HOST_TSO).
pub const NET_F_HOST_ECN: u64 = 1 << 13;
/// §5.1.3: receive buffers may be merged (not taken, see above).
pub const NET_F_MRG_RXBUF: u64 = 1 << 15;
/// §5.1.3: the configuration's `status` field reports the link.
pub const NET_F_STATUS: u64 = 1 << 16;
/// §6: `used_event`/`avail_event` notification suppression.
pub const F_EVENT_IDX: u64 = 1 << 29;
/// §6: a Virtio 1.x device; required (no legacy interface here).
pub const F_VERSION_1: u64 = 1 << 32;
/// §6: the device's DMA goes through the platform's IOMMU. Our descriptors
/// carry bus addresses either way, so it is accepted when offered.
pub const F_ACCESS_PLATFORM: u64 = 1 << 33;

/// The features to accept from `offered`: VERSION_1 (else
/// [`NicError::Features`]), ACCESS_PLATFORM, EVENT_IDX, the transmit
/// offloads with their dependencies (§5.1.3.1: HOST_TSO4/6 need CSUM,
/// HOST_ECN needs one of them), and MAC/STATUS when the device
/// configuration window (`device_len` bytes) holds the field they describe.
pub fn select(offered: u64, device_len: usize) -> Result<u64, NicError> {
    if offered & F_VERSION_1 == 0 {
        return Err(NicError::Features);
    }
    let mut wanted = F_VERSION_1 | F_ACCESS_PLATFORM | F_EVENT_IDX | NET_F_CSUM;
    if offered & NET_F_CSUM != 0 {
        wanted |= NET_F_HOST_TSO4 | NET_F_HOST_TSO6;
        if offered & (NET_F_HOST_TSO4 | NET_F_HOST_TSO6) != 0 {
            wanted |= NET_F_HOST_ECN;
        }
    }
    if device_len >= net::CFG_MAC + 6 {
        wanted |= NET_F_MAC;
    }
    if device_len >= net::CFG_STATUS + 2 {
        wanted |= NET_F_STATUS;
    }
    Ok(offered & wanted)
}
