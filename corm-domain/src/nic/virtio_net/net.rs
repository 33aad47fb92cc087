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
/// gso_size, csum_start, csum_offset, num_buffers. Without offloads the
/// driver sends it all zero and ignores what the device writes in it.
pub(super) const HDR_LEN: usize = 12;

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
