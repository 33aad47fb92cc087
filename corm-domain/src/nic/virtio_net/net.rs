//! Network-device specifics: `struct virtio_net_config` (Virtio 1.2 §5.1.4)
//! and `struct virtio_net_hdr` (§5.1.6).

use crate::nic::MAX_FRAME;

/// `mac[6]` in the device configuration, valid with `VIRTIO_NET_F_MAC`.
pub(super) const CFG_MAC: usize = 0;
/// `le16 status`, valid with `VIRTIO_NET_F_STATUS`.
pub(super) const CFG_STATUS: usize = 6;
/// `VIRTIO_NET_S_LINK_UP` in `status`.
pub(super) const S_LINK_UP: u16 = 1;

/// `virtio_net_hdr` as laid out once `VIRTIO_F_VERSION_1` is negotiated
/// (§5.1.6: `num_buffers` is always present): flags, gso_type, hdr_len,
/// gso_size, csum_start, csum_offset, num_buffers, little-endian. On
/// receive the driver ignores what the device writes in it (no receive
/// offload is negotiated, so it carries nothing the frame needs, §5.1.6.3).
pub(super) const HDR_LEN: usize = 12;

/// §5.1.6 `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the device completes the checksum
/// from `csum_start` to the end, stored at `csum_start + csum_offset`.
pub(super) const HDR_F_NEEDS_CSUM: u8 = 1;
/// §5.1.6 `gso_type` values, and the ECN bit.
pub(super) const GSO_NONE: u8 = 0;
pub(super) const GSO_TCPV4: u8 = 1;
pub(super) const GSO_TCPV6: u8 = 4;
pub(super) const GSO_ECN: u8 = 0x80;

/// The transmit header of one frame (§5.1.6.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct NetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl NetHdr {
    pub(super) fn bytes(&self) -> [u8; HDR_LEN] {
        let mut b = [0u8; HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }
}

/// Shortest Ethernet frame accepted either way: the 14-byte header.
pub(super) const MIN_FRAME: usize = 14;

/// Used-ring lengths a well-behaved device reports for a received frame:
/// header plus 14..=[`MAX_FRAME`] bytes (§5.1.6.4: `len` counts the header).
pub(super) fn rx_len_ok(len: u32) -> bool {
    (HDR_LEN + MIN_FRAME..=HDR_LEN + MAX_FRAME).contains(&(len as usize))
}

/// MAC reported without `VIRTIO_NET_F_MAC` (§5.1.5 has the driver pick
/// one): locally administered, unicast, recognisably made up.
pub(super) const FALLBACK_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
