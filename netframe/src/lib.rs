//! One vocabulary for an Ethernet frame on its way through Banana: netback
//! (the Spike), the wire protocol, the software offloads and the Corm's switch
//! all speak it, so a frame's metadata is defined once and the limits agree.
//!
//! * [`eth`]: addresses, the Ethernet header, 802.1Q tags (IEEE 802.3,
//!   IEEE 802.1Q).
//! * [`meta`]: what travels beside a frame: the checksum state (Linux
//!   `ip_summed`, Xen `NETTXF_csum_blank`/`NETRXF_data_validated`) and GSO
//!   (Xen `XEN_NETIF_GSO_TYPE_TCPV4/6`), validated against the frame length.
//! * Frame limits: [`MAX_FRAME_LEN`] (netif's `XEN_NETIF_MAX_TX_SIZE`), the
//!   largest frame any Banana domain carries, and the MTU-sized limits.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod eth;
pub mod meta;

pub use eth::{parse_mac, EthHeader, Mac, ETH_HLEN, VLAN_HLEN};
pub use meta::{Checksum, FrameMeta, Gso, GsoKind, MetaError, MIN_GSO_SIZE};

/// The longest frame, Ethernet header included: netif's `XEN_NETIF_MAX_TX_SIZE`
/// (`xen/include/public/io/netif.h`), which bounds every frame a netfront sends
/// or receives (a GSO super-frame at most), hence every frame on a wire.
pub const MAX_FRAME_LEN: usize = 0xFFFF;

/// The shortest frame: an Ethernet header.
pub const MIN_FRAME_LEN: usize = ETH_HLEN;

/// The bytes of a frame's start a Banana domain copies privately before it
/// acts on the headers (the double-fetch rule: validate a copy, never the
/// shared original): Ethernet with a tag, IPv4 with options or IPv6 with a
/// few extension headers, TCP with options, with room to spare (Linux
/// netback copies 128, `XEN_NETBACK_TX_COPY_LEN`, then pulls more as
/// needed).
pub const HEADER_COPY_LEN: usize = 256;

/// The standard Ethernet MTU (RFC 894).
pub const ETH_DATA_LEN: u16 = 1500;

/// The longest standard frame without FCS (Linux `ETH_FRAME_LEN`).
pub const ETH_FRAME_LEN: usize = ETH_HLEN + ETH_DATA_LEN as usize;

/// The same with one 802.1Q tag (Linux `VLAN_ETH_FRAME_LEN`).
pub const VLAN_ETH_FRAME_LEN: usize = ETH_FRAME_LEN + VLAN_HLEN;

/// The longest non-GSO frame an `mtu` allows: the Ethernet header, plus one
/// 802.1Q tag if the frame carries one.
pub const fn mtu_frame_len(mtu: u16, tagged: bool) -> usize {
    mtu as usize + ETH_HLEN + if tagged { VLAN_HLEN } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_agree() {
        assert_eq!(ETH_FRAME_LEN, 1514);
        assert_eq!(VLAN_ETH_FRAME_LEN, 1518);
        assert_eq!(mtu_frame_len(ETH_DATA_LEN, true), VLAN_ETH_FRAME_LEN);
        assert_eq!(mtu_frame_len(ETH_DATA_LEN, false), ETH_FRAME_LEN);
    }
}
