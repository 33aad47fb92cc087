//! IPv6 Neighbor Discovery (RFC 4861) as the switch reads it: what a
//! Neighbor Solicitation or Advertisement says about who holds an IPv6
//! address.
//!
//! * A Neighbor Advertisement (§4.4, ICMPv6 type 136) claims its target
//!   address for the Target Link-Layer Address option's MAC (§7.2.5: that
//!   is what updates a receiver's cache).
//! * A Neighbor Solicitation (§4.3, type 135) from a specified source
//!   claims that source for its Source Link-Layer Address option's MAC
//!   (§7.2.3: receivers create or update the entry from it). One from the
//!   unspecified address is Duplicate Address Detection (RFC 4862 §5.4):
//!   the sender only asks whether the target is free.
//!
//! A message a receiver must discard (§7.1.1/§7.1.2: hop limit other than
//! 255, code other than 0, too short, an option of length zero) claims
//! nothing. Extension headers before the ICMPv6 header are walked (a
//! bounded number): an attacker cannot hide an advertisement behind a
//! destination-options header. A non-first fragment cannot be an ND message
//! the switch can read; RFC 6980 has receivers drop fragmented ND anyway.
//! Parsed from untrusted bytes with bounds checks; never panics.

use core::net::Ipv6Addr;

use super::frame::{l3, Mac, ETHERTYPE_IPV6};

pub const ICMPV6_NS: u8 = 135;
pub const ICMPV6_NA: u8 = 136;
const NEXT_HOP_BY_HOP: u8 = 0;
const NEXT_ROUTING: u8 = 43;
const NEXT_FRAGMENT: u8 = 44;
const NEXT_DEST_OPTS: u8 = 60;
const NEXT_ICMPV6: u8 = 58;
const IPV6_HLEN: usize = 40;
/// Extension headers walked before giving up (a legitimate ND message has
/// none; RFC 7112 wants the whole chain in the first fragment).
const MAX_EXT_HEADERS: usize = 8;
/// ND option types (§4.6).
const OPT_SLLA: u8 = 1;
const OPT_TLLA: u8 = 2;

/// A Neighbor Solicitation or Advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nd {
    Solicit {
        /// The IPv6 source (unspecified: DAD).
        src: Ipv6Addr,
        target: Ipv6Addr,
        /// The Source Link-Layer Address option, if any.
        slla: Option<Mac>,
    },
    Advert {
        target: Ipv6Addr,
        /// The Target Link-Layer Address option, if any.
        tlla: Option<Mac>,
    },
}

/// What an ND message asserts about an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdClaim {
    /// "`ip` is at `mac`" (`mac`: the link-layer option, or the frame's
    /// Ethernet source when the option is absent).
    Binds { ip: Ipv6Addr, mac: Mac },
    /// DAD: the sender wants `ip` and asks whether anyone holds it.
    Tentative(Ipv6Addr),
}

impl Nd {
    /// What this message claims, given the frame's Ethernet source.
    pub fn claim(&self, eth_src: Mac) -> NdClaim {
        match *self {
            Nd::Solicit { src, target, .. } if src.is_unspecified() => NdClaim::Tentative(target),
            Nd::Solicit { src, slla, .. } => NdClaim::Binds {
                ip: src,
                mac: slla.unwrap_or(eth_src),
            },
            Nd::Advert { target, tlla } => NdClaim::Binds {
                ip: target,
                mac: tlla.unwrap_or(eth_src),
            },
        }
    }
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

/// Parses the NS or NA an Ethernet frame carries (after at most one 802.1Q
/// tag); `None` for anything else, or one a receiver would discard.
pub fn parse(frame: &[u8]) -> Option<Nd> {
    let (ethertype, at) = l3(frame)?;
    if ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = frame.get(at..at.checked_add(IPV6_HLEN)?)?;
    if ip[0] >> 4 != 6 || ip[7] != 255 {
        return None;
    }
    let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    // The packet ends where its header says, or where the bytes we hold do.
    let end = frame.len().min(at + IPV6_HLEN + payload);
    let src = addr(&ip[8..24]);
    let mut next = ip[6];
    let mut pos = at + IPV6_HLEN;
    for _ in 0..MAX_EXT_HEADERS {
        match next {
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTS => {
                let h = frame.get(pos..pos.checked_add(2)?)?;
                next = h[0];
                pos = pos.checked_add((usize::from(h[1]) + 1) * 8)?;
            }
            NEXT_FRAGMENT => {
                let h = frame.get(pos..pos.checked_add(8)?)?;
                if u16::from_be_bytes([h[2], h[3]]) & 0xfff8 != 0 {
                    return None; // not the first fragment
                }
                next = h[0];
                pos += 8;
            }
            _ => break,
        }
    }
    if next != NEXT_ICMPV6 || pos > end {
        return None;
    }
    let icmp = frame.get(pos..end)?;
    // Type, code, checksum, reserved/flags, then the 16-byte target.
    if icmp.len() < 24 || icmp[1] != 0 {
        return None;
    }
    let target = addr(&icmp[8..24]);
    if target.is_multicast() {
        return None;
    }
    let want = match icmp[0] {
        ICMPV6_NS => OPT_SLLA,
        ICMPV6_NA => OPT_TLLA,
        _ => return None,
    };
    let lla = link_layer_option(&icmp[24..], want)?;
    Some(match icmp[0] {
        ICMPV6_NS => Nd::Solicit {
            src,
            target,
            slla: lla,
        },
        _ => Nd::Advert { target, tlla: lla },
    })
}

/// The first option of type `want` (a 6-byte Ethernet address); `None` if
/// the options are malformed (a zero length, or running past the end:
/// receivers discard the message, §7.1), `Some(None)` if absent.
fn link_layer_option(mut opts: &[u8], want: u8) -> Option<Option<Mac>> {
    let mut found = None;
    while !opts.is_empty() {
        let (&ty, rest) = opts.split_first()?;
        let len = usize::from(*rest.first()?) * 8;
        if len == 0 || len > opts.len() {
            return None;
        }
        if ty == want && found.is_none() && len >= 8 {
            let mut m = [0u8; 6];
            m.copy_from_slice(&opts[2..8]);
            found = Some(m);
        }
        opts = &opts[len..];
    }
    Some(found)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// An NS (`ty` 135) or NA (136) from `src_ip` for `target`, with an
    /// optional link-layer option; hop limit 255.
    pub(crate) fn nd_frame(
        eth_src: Mac,
        ty: u8,
        src_ip: Ipv6Addr,
        target: Ipv6Addr,
        lla: Option<Mac>,
    ) -> Vec<u8> {
        let mut icmp = Vec::new();
        icmp.extend_from_slice(&[ty, 0, 0, 0]);
        icmp.extend_from_slice(&if ty == ICMPV6_NA {
            [0x60, 0, 0, 0]
        } else {
            [0; 4]
        });
        icmp.extend_from_slice(&target.octets());
        if let Some(m) = lla {
            icmp.push(if ty == ICMPV6_NS { OPT_SLLA } else { OPT_TLLA });
            icmp.push(1);
            icmp.extend_from_slice(&m);
        }
        let mut f = Vec::new();
        f.extend_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
        f.extend_from_slice(&eth_src);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
        f.extend_from_slice(&[58, 255]);
        f.extend_from_slice(&src_ip.octets());
        f.extend_from_slice(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets());
        f.extend_from_slice(&icmp);
        f
    }

    const M: Mac = [2, 0, 0, 0, 0, 7];
    const A: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 7);

    #[test]
    fn advertisements_and_solicitations() {
        let na = parse(&nd_frame(M, ICMPV6_NA, A, A, Some([2, 0, 0, 0, 0, 9]))).unwrap();
        assert_eq!(
            na.claim(M),
            NdClaim::Binds {
                ip: A,
                mac: [2, 0, 0, 0, 0, 9]
            }
        );
        let bare = parse(&nd_frame(M, ICMPV6_NA, A, A, None)).unwrap();
        assert_eq!(bare.claim(M), NdClaim::Binds { ip: A, mac: M });
        let dad = parse(&nd_frame(M, ICMPV6_NS, Ipv6Addr::UNSPECIFIED, A, None)).unwrap();
        assert_eq!(dad.claim(M), NdClaim::Tentative(A));
        let other = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 8);
        let ns = parse(&nd_frame(M, ICMPV6_NS, A, other, Some(M))).unwrap();
        assert_eq!(ns.claim([2; 6]), NdClaim::Binds { ip: A, mac: M });
    }

    #[test]
    fn extension_headers_are_walked_fragments_are_not_nd() {
        let plain = nd_frame(M, ICMPV6_NA, A, A, Some(M));
        // A destination-options header (8 bytes of PadN) before the ICMPv6.
        let mut dopt = plain.clone();
        dopt[20] = NEXT_DEST_OPTS;
        dopt.splice(54..54, [58, 0, 1, 4, 0, 0, 0, 0]);
        let len = u16::from_be_bytes([dopt[18], dopt[19]]) + 8;
        dopt[18..20].copy_from_slice(&len.to_be_bytes());
        assert_eq!(parse(&dopt), parse(&plain));
        assert!(parse(&plain).is_some());
        // A first fragment is read; a later one is not ND.
        let mut frag = plain.clone();
        frag[20] = NEXT_FRAGMENT;
        frag.splice(54..54, [58, 0, 0, 0, 0, 0, 0, 1]);
        let len = u16::from_be_bytes([frag[18], frag[19]]) + 8;
        frag[18..20].copy_from_slice(&len.to_be_bytes());
        assert!(parse(&frag).is_some());
        frag[57] = 0x08;
        assert!(parse(&frag).is_none());
    }

    #[test]
    fn what_receivers_discard_is_no_claim() {
        let good = nd_frame(M, ICMPV6_NA, A, A, Some(M));
        let mut hop = good.clone();
        hop[21] = 64;
        assert!(parse(&hop).is_none(), "hop limit");
        let mut code = good.clone();
        code[55] = 1;
        assert!(parse(&code).is_none(), "code");
        let mut zero = good.clone();
        zero[79] = 0;
        assert!(parse(&zero).is_none(), "zero-length option");
        let mut long = good.clone();
        long[79] = 2;
        assert!(parse(&long).is_none(), "option past the end");
        assert!(parse(&good[..70]).is_none(), "truncated");
        let mut mc = good.clone();
        mc[62] = 0xff;
        assert!(parse(&mc).is_none(), "multicast target");
        // Random bytes never panic.
        for n in 0..good.len() {
            let _ = parse(&good[..n]);
        }
    }
}
