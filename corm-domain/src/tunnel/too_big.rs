//! The answer to an inner frame too big for a tunnel: ICMP Destination
//! Unreachable, Fragmentation Needed (RFC 792, with the next-hop MTU of RFC
//! 1191 §4) for IPv4 with DF set, ICMPv6 Packet Too Big (RFC 4443 §3.2) for
//! IPv6, sent back to the guest that sent it, so its path-MTU discovery
//! (RFC 1191, RFC 8201) settles on the tunnel's inner MTU instead of its
//! frames vanishing. As Linux does for a bridged tunnel
//! (`iptunnel_pmtud_build_icmp`): the error comes from the address the
//! guest was sending to, between the frame's own MACs swapped, since a
//! bridge has no address of its own on the guest's segment.
//!
//! Built only from the frame's private head (the copy the switch acted on):
//! the IP header and as much of what follows as the head holds (at least
//! the 8 bytes RFC 792 asks for).

use alloc::vec::Vec;

use net_offload::checksum;
use netframe::eth;

const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const ICMP_HLEN: usize = 8;
/// IPv6's minimum MTU (RFC 8200 §5): a Packet Too Big never says less.
const IPV6_MIN_MTU: u16 = 1280;

/// The error frame for an inner frame (its first bytes `head`, untagged)
/// that does not fit a tunnel whose inner MTU is `mtu`; `None` if no error
/// is due (not IP, IPv4 without DF, an ICMP error itself, a source that is
/// not a host's).
pub fn answer(head: &[u8], mtu: u16) -> Option<Vec<u8>> {
    let (ethertype, l3) = eth::l3(head)?;
    if l3 != eth::ETH_HLEN {
        return None;
    }
    let src_mac: [u8; 6] = head.get(6..12)?.try_into().ok()?;
    if !eth::is_valid_source(&src_mac) {
        return None;
    }
    let ip = &head[l3..];
    match ethertype {
        eth::ETHERTYPE_IPV4 => v4(head, ip, mtu),
        eth::ETHERTYPE_IPV6 => v6(head, ip, mtu.max(IPV6_MIN_MTU)),
        _ => None,
    }
}

/// The Ethernet header back to the sender: its own MACs swapped.
fn ethernet(head: &[u8], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&head[6..12]);
    f.extend_from_slice(&head[0..6]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn v4(head: &[u8], ip: &[u8], mtu: u16) -> Option<Vec<u8>> {
    let ihl = usize::from(*ip.first()? & 0x0F) * 4;
    if ip[0] >> 4 != 4 || ihl < IPV4_HLEN || ip.len() < ihl + 8 {
        return None;
    }
    let df = ip[6] & 0x40 != 0;
    let first_fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x1FFF == 0;
    let (src, dst) = (&ip[12..16], &ip[16..20]);
    let unicast = |a: &[u8]| !(a[0] == 0 || a[0] == 127 || a[0] >= 224);
    // ICMP errors about ICMP errors are never sent (RFC 1122 §3.2.2).
    let icmp_error = ip[9] == 1 && !matches!(ip.get(ihl), Some(0 | 8 | 13 | 14));
    if !df || !first_fragment || !unicast(src) || icmp_error {
        return None;
    }
    let quoted = &ip[..ip.len().min(ihl + 64)];
    let total = (IPV4_HLEN + ICMP_HLEN + quoted.len()) as u16;
    let mut f = ethernet(head, eth::ETHERTYPE_IPV4);
    let at = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
    f.extend_from_slice(dst);
    f.extend_from_slice(src);
    let c = checksum::checksum(&f[at..at + IPV4_HLEN]);
    f[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
    let icmp = f.len();
    f.extend_from_slice(&[3, 4, 0, 0, 0, 0]);
    f.extend_from_slice(&mtu.to_be_bytes());
    f.extend_from_slice(quoted);
    let c = checksum::checksum(&f[icmp..]);
    f[icmp + 2..icmp + 4].copy_from_slice(&c.to_be_bytes());
    Some(f)
}

fn v6(head: &[u8], ip: &[u8], mtu: u16) -> Option<Vec<u8>> {
    if ip.len() < IPV6_HLEN + 8 || ip[0] >> 4 != 6 {
        return None;
    }
    let (src, dst) = (&ip[8..24], &ip[24..40]);
    let unspecified = src.iter().all(|&b| b == 0);
    // From a multicast source, or about a packet to a group (we answer
    // from the address the guest addressed): no error.
    let multicast_src = src[0] == 0xFF || dst[0] == 0xFF;
    // No error about an ICMPv6 error (RFC 4443 §2.4 (e)): types below 128.
    let icmp_error = ip[6] == 58 && ip[IPV6_HLEN] < 128;
    if unspecified || multicast_src || icmp_error {
        return None;
    }
    let quoted = &ip[..ip.len().min(IPV6_HLEN + 64)];
    let len = (ICMP_HLEN + quoted.len()) as u32;
    let mut f = ethernet(head, eth::ETHERTYPE_IPV6);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(len as u16).to_be_bytes());
    f.extend_from_slice(&[58, 64]);
    f.extend_from_slice(dst);
    f.extend_from_slice(src);
    let icmp = f.len();
    f.extend_from_slice(&[2, 0, 0, 0]);
    f.extend_from_slice(&u32::from(mtu).to_be_bytes());
    f.extend_from_slice(quoted);
    let c = !checksum::fold(checksum::sum(
        &f[icmp..],
        checksum::pseudo_v6(dst, src, 58, len),
    ));
    f[icmp + 2..icmp + 4].copy_from_slice(&c.to_be_bytes());
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: [u8; 6] = [0, 0x16, 0x3e, 0, 0x0b, 1];
    const PEER: [u8; 6] = [0x02, 0x88, 0, 0, 0, 1];

    fn v4_frame(flags: u8, proto: u8) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&GUEST);
        f.extend_from_slice(&[
            0x08, 0x00, 0x45, 0, 0x05, 0xdc, 0, 1, flags, 0, 64, proto, 0, 0,
        ]);
        f.extend_from_slice(&[10, 88, 0, 51, 10, 88, 0, 1]);
        f.extend((0..100).map(|i| i as u8));
        f
    }

    #[test]
    fn ipv4_with_df_gets_fragmentation_needed() {
        let head = v4_frame(0x40, 6);
        let a = answer(&head[..128], 1450).unwrap();
        assert_eq!((&a[0..6], &a[6..12]), (&GUEST[..], &PEER[..]));
        let ip = &a[14..];
        assert_eq!(checksum::checksum(&ip[..20]), 0, "IPv4 header checksum");
        assert_eq!(
            (&ip[12..16], &ip[16..20]),
            (&[10u8, 88, 0, 1][..], &[10u8, 88, 0, 51][..])
        );
        assert_eq!(ip[9], 1);
        let icmp = &ip[20..];
        assert_eq!((icmp[0], icmp[1]), (3, 4));
        assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1450);
        assert_eq!(checksum::checksum(icmp), 0, "ICMP checksum");
        // It quotes the original IP header and more than 8 bytes after it.
        assert_eq!(&icmp[8..28], &head[14..34]);
        assert!(icmp.len() >= 8 + 20 + 8);
        assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, ip.len());
    }

    #[test]
    fn no_answer_when_none_is_due() {
        assert_eq!(answer(&v4_frame(0, 6)[..128], 1450), None, "no DF");
        // An ICMP error (type 3) is not answered; an echo request is.
        let mut err = v4_frame(0x40, 1);
        err[34] = 3;
        assert_eq!(answer(&err[..128], 1450), None);
        let mut echo = v4_frame(0x40, 1);
        echo[34] = 8;
        assert!(answer(&echo[..128], 1450).is_some());
        let mut arp = v4_frame(0x40, 6);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(answer(&arp, 1450), None);
        assert_eq!(answer(&arp[..20], 1450), None);
    }

    #[test]
    fn ipv6_gets_packet_too_big_of_at_least_1280() {
        let mut f = Vec::new();
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&GUEST);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0x05, 0xa0, 6, 64]);
        let src = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x51];
        let dst = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend((0..60).map(|i| i as u8));
        let a = answer(&f, 1450).unwrap();
        let ip = &a[14..];
        assert_eq!((&ip[8..24], &ip[24..40]), (&dst[..], &src[..]));
        let icmp = &ip[40..];
        assert_eq!(icmp[0], 2);
        assert_eq!(
            u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]),
            1450
        );
        let sum = checksum::sum(icmp, checksum::pseudo_v6(&dst, &src, 58, icmp.len() as u32));
        assert_eq!(checksum::fold(sum), 0xFFFF, "ICMPv6 checksum");
        assert_eq!(u16::from_be_bytes([ip[4], ip[5]]) as usize, icmp.len());
        let small = answer(&f, 1000).unwrap();
        assert_eq!(
            u32::from_be_bytes([small[54 + 4], small[54 + 5], small[54 + 6], small[54 + 7]]),
            1280
        );
    }
}
