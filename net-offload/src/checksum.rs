//! Internet checksums (RFC 1071) and the partial-checksum convention shared by
//! Xen `NETTXF_csum_blank`/`NETRXF_csum_blank` and Linux `CHECKSUM_PARTIAL`:
//! the L4 checksum field holds the folded pseudo-header sum, and whoever
//! completes the checksum sums from `start` to the end of the frame and stores
//! the complement at `start + offset`.
//!
//! [`locate`] finds `start`/`offset` from the Ethernet, IPv4/IPv6 and TCP/UDP
//! headers, as Linux `skb_checksum_setup` does for netback's `csum_blank`.

use thiserror::Error;

pub const ETH_HLEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

/// IPv6 extension headers followed before giving up (RFC 8200 recommends
/// an order with at most a handful; a longer chain is hostile or exotic).
const MAX_IPV6_EXT_HEADERS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum CsumError {
    #[error("frame too short for its headers")]
    Truncated,
    #[error("not IPv4 or IPv6 (ethertype {0:#06x})")]
    NotIp(u16),
    #[error("malformed IP header")]
    BadIpHeader,
    #[error("IP fragment: no L4 header to checksum")]
    Fragment,
    #[error("L4 protocol {0} has no offloadable checksum")]
    Unsupported(u8),
    #[error("checksum start/offset outside the frame")]
    OutOfRange,
}

/// Adds `data` as big-endian 16-bit words (odd tail padded with zero) to `acc`.
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = words.remainder() {
        acc += u64::from(*b) << 8;
    }
    acc
}

/// Folds a running sum to 16 bits with end-around carry (not complemented).
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// The RFC 1071 checksum of `data`: the complement of the folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// IPv4 pseudo-header sum (RFC 9293 §3.1 for TCP, RFC 768 for UDP).
pub fn pseudo_v4(src: &[u8], dst: &[u8], proto: u8, l4_len: u32) -> u64 {
    sum(dst, sum(src, 0)) + u64::from(proto) + u64::from(l4_len)
}

/// IPv6 pseudo-header sum (RFC 8200 §8.1).
pub fn pseudo_v6(src: &[u8], dst: &[u8], proto: u8, l4_len: u32) -> u64 {
    sum(dst, sum(src, 0)) + u64::from(proto) + u64::from(l4_len >> 16) + u64::from(l4_len & 0xFFFF)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

/// Where a frame's L4 checksum lives, and what the pseudo-header adds up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L4Location {
    pub ip: IpVersion,
    pub proto: u8,
    /// First byte of the L4 header, from the start of the Ethernet frame.
    pub start: u16,
    /// The checksum field, from `start` (16 for TCP, 6 for UDP).
    pub offset: u16,
    /// The pseudo-header sum (unfolded).
    pub pseudo: u64,
}

fn be16(b: &[u8], at: usize) -> Result<u16, CsumError> {
    match b.get(at..at + 2) {
        Some(w) => Ok(u16::from_be_bytes([w[0], w[1]])),
        None => Err(CsumError::Truncated),
    }
}

/// Parses Ethernet (one optional 802.1Q tag), IPv4 or IPv6 (hop-by-hop,
/// routing, destination-options and AH headers skipped; fragments refused),
/// and a TCP or UDP header that must be complete.
pub fn locate(frame: &[u8]) -> Result<L4Location, CsumError> {
    locate_in(frame, frame.len())
}

/// [`locate`] for a frame of `len` bytes of which `frame` holds the first
/// ones (at least every header): a private copy of a frame's headers whose
/// rest is elsewhere.
pub fn locate_in(frame: &[u8], len: usize) -> Result<L4Location, CsumError> {
    let mut l3 = ETH_HLEN;
    let mut ethertype = be16(frame, 12)?;
    if ethertype == ETHERTYPE_VLAN {
        ethertype = be16(frame, 16)?;
        l3 += 4;
    }
    let (ip, proto, l4, l4_len): (_, _, usize, u32) = match ethertype {
        ETHERTYPE_IPV4 => {
            let h = frame.get(l3..l3 + 20).ok_or(CsumError::Truncated)?;
            let ihl = usize::from(h[0] & 0x0F) * 4;
            let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
            if h[0] >> 4 != 4 || ihl < 20 || total < ihl || l3 + total > len {
                return Err(CsumError::BadIpHeader);
            }
            if u16::from_be_bytes([h[6], h[7]]) & 0x3FFF != 0 {
                return Err(CsumError::Fragment);
            }
            (IpVersion::V4, h[9], l3 + ihl, (total - ihl) as u32)
        }
        ETHERTYPE_IPV6 => {
            let h = frame.get(l3..l3 + 40).ok_or(CsumError::Truncated)?;
            if h[0] >> 4 != 6 {
                return Err(CsumError::BadIpHeader);
            }
            let end = l3 + 40 + usize::from(u16::from_be_bytes([h[4], h[5]]));
            if end > len {
                return Err(CsumError::BadIpHeader);
            }
            let (proto, l4) = skip_ipv6_ext(frame, h[6], l3 + 40, end)?;
            (IpVersion::V6, proto, l4, (end - l4) as u32)
        }
        other => return Err(CsumError::NotIp(other)),
    };
    let (offset, min_len) = match proto {
        IPPROTO_TCP => (16, 20),
        IPPROTO_UDP => (6, 8),
        p => return Err(CsumError::Unsupported(p)),
    };
    if (l4_len as usize) < min_len || l4 + min_len > frame.len().min(len) {
        return Err(CsumError::Truncated);
    }
    let pseudo = match ip {
        IpVersion::V4 => pseudo_v4(
            &frame[l3 + 12..l3 + 16],
            &frame[l3 + 16..l3 + 20],
            proto,
            l4_len,
        ),
        IpVersion::V6 => pseudo_v6(
            &frame[l3 + 8..l3 + 24],
            &frame[l3 + 24..l3 + 40],
            proto,
            l4_len,
        ),
    };
    let start = u16::try_from(l4).map_err(|_| CsumError::OutOfRange)?;
    Ok(L4Location {
        ip,
        proto,
        start,
        offset,
        pseudo,
    })
}

fn skip_ipv6_ext(
    frame: &[u8],
    mut next: u8,
    mut at: usize,
    end: usize,
) -> Result<(u8, usize), CsumError> {
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        let len = match next {
            0 | 43 | 60 => {
                let h = frame
                    .get(at..at + 2)
                    .filter(|_| at + 2 <= end)
                    .ok_or(CsumError::Truncated)?;
                (usize::from(h[1]) + 1) * 8
            }
            51 => {
                let h = frame
                    .get(at..at + 2)
                    .filter(|_| at + 2 <= end)
                    .ok_or(CsumError::Truncated)?;
                (usize::from(h[1]) + 2) * 4
            }
            44 => return Err(CsumError::Fragment),
            _ => return Ok((next, at)),
        };
        next = frame[at];
        at += len;
        if at > end {
            return Err(CsumError::Truncated);
        }
    }
    Err(CsumError::Unsupported(next))
}

/// Checks that a partial checksum's field lies inside the frame.
pub fn check_partial(len: usize, start: usize, offset: usize) -> Result<(), CsumError> {
    if start < ETH_HLEN || start.saturating_add(offset).saturating_add(2) > len {
        return Err(CsumError::OutOfRange);
    }
    Ok(())
}

/// Completes a partial checksum in place: sums `frame[start..]` (whose field
/// holds the pseudo-header sum) and stores the complement at `start + offset`,
/// 0 written as 0xFFFF (Linux `skb_checksum_help`, `CSUM_MANGLED_0`).
pub fn complete(frame: &mut [u8], start: usize, offset: usize) -> Result<(), CsumError> {
    check_partial(frame.len(), start, offset)?;
    let c = match checksum(&frame[start..]) {
        0 => 0xFFFF,
        c => c,
    };
    frame[start + offset..start + offset + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Writes the folded pseudo-header sum into the checksum field, turning a
/// frame into a valid `CHECKSUM_PARTIAL` one (Linux netback's
/// `recalculate_partial_csum` fix-up for GSO frames sent without `csum_blank`).
pub fn set_pseudo(frame: &mut [u8], loc: &L4Location) -> Result<(), CsumError> {
    let (start, offset) = (usize::from(loc.start), usize::from(loc.offset));
    check_partial(frame.len(), start, offset)?;
    frame[start + offset..start + offset + 2].copy_from_slice(&fold(loc.pseudo).to_be_bytes());
    Ok(())
}

/// Whether the frame's TCP/UDP checksum verifies (pseudo-header included).
pub fn verify_l4(frame: &[u8]) -> Result<bool, CsumError> {
    let loc = locate(frame)?;
    Ok(fold(sum(&frame[usize::from(loc.start)..], loc.pseudo)) == 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// IPv4/UDP 192.168.0.1:1234 -> 192.168.0.199:53, "hello banana"; checksum
    /// field zero. Reference values from an independent Python implementation.
    const UDP4: &str = "0200000000020200000000010800450000281c46400040119c66c0a80001c0a800c7\
                        04d200350014000068656c6c6f2062616e616e61";
    const UDP4_CSUM: u16 = 0xf58f;
    /// IPv6/TCP fe80::1:40000 -> fe80::2:80 PSH|ACK with 19 bytes of payload.
    const TCP6: &str = "02000000000202000000000186dd6000000000270640fe80000000000000000000000000\
                        0001fe8000000000000000000000000000029c40005001020304050607085018ffff\
                        00000000474554202f20485454502f312e300d0a0d0a21";
    const TCP6_CSUM: u16 = 0x0671;

    #[test]
    fn rfc1071_examples() {
        assert_eq!(
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0)),
            0xddf2
        );
        let ip = hex("450000730000400040110000c0a80001c0a800c7");
        assert_eq!(checksum(&ip), 0xb861);
        assert_eq!(fold(sum(&[0xab], 0)), 0xab00);
    }

    fn partial_then_complete(frame_hex: &str, expect: u16) {
        let mut f = hex(frame_hex);
        let loc = locate(&f).unwrap();
        set_pseudo(&mut f, &loc).unwrap();
        assert!(!verify_l4(&f).unwrap());
        complete(&mut f, loc.start.into(), loc.offset.into()).unwrap();
        let at = usize::from(loc.start + loc.offset);
        assert_eq!(u16::from_be_bytes([f[at], f[at + 1]]), expect);
        assert!(verify_l4(&f).unwrap());
    }

    #[test]
    fn completes_udp_over_ipv4() {
        let loc = locate(&hex(UDP4)).unwrap();
        assert_eq!(
            (loc.ip, loc.proto, loc.start, loc.offset),
            (IpVersion::V4, IPPROTO_UDP, 34, 6)
        );
        partial_then_complete(UDP4, UDP4_CSUM);
    }

    #[test]
    fn completes_tcp_over_ipv6() {
        let loc = locate(&hex(TCP6)).unwrap();
        assert_eq!(
            (loc.ip, loc.proto, loc.start, loc.offset),
            (IpVersion::V6, IPPROTO_TCP, 54, 16)
        );
        partial_then_complete(TCP6, TCP6_CSUM);
    }

    #[test]
    fn vlan_tag_and_extension_headers() {
        let f = hex(UDP4);
        let mut v = f[..12].to_vec();
        v.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        v.extend_from_slice(&f[12..]);
        assert_eq!(locate(&v).unwrap().start, 38);

        let t = hex(TCP6);
        let mut e = t[..54].to_vec();
        e[20] = 0;
        let plen = u16::from_be_bytes([t[18], t[19]]) + 8;
        e[18..20].copy_from_slice(&plen.to_be_bytes());
        e.extend_from_slice(&[IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0]);
        e.extend_from_slice(&t[54..]);
        let loc = locate(&e).unwrap();
        assert_eq!(loc.start, 62);
        assert_eq!(loc.pseudo, locate(&t).unwrap().pseudo);
        e[20] = 44;
        assert_eq!(locate(&e), Err(CsumError::Fragment));
    }

    #[test]
    fn hostile_headers_are_refused_not_panicked() {
        let f = hex(UDP4);
        for n in 0..f.len() {
            let _ = locate(&f[..n]);
        }
        let mut bad = f.clone();
        bad[14] = 0x4f;
        assert_eq!(locate(&bad), Err(CsumError::BadIpHeader));
        let mut frag = f.clone();
        frag[20] = 0x20;
        assert_eq!(locate(&frag), Err(CsumError::Fragment));
        let mut icmp = f.clone();
        icmp[23] = 1;
        assert_eq!(locate(&icmp), Err(CsumError::Unsupported(1)));
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(locate(&arp), Err(CsumError::NotIp(0x0806)));
        let mut short = f.clone();
        assert_eq!(complete(&mut short, 13, 0), Err(CsumError::OutOfRange));
        assert_eq!(
            complete(&mut short, 34, usize::MAX),
            Err(CsumError::OutOfRange)
        );
        assert_eq!(
            complete(&mut short, f.len() - 1, 0),
            Err(CsumError::OutOfRange)
        );
    }
}
