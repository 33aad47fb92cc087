//! ARP (RFC 826) as the switch reads it: what an ARP packet says about who
//! holds an IPv4 address. A receiver's cache learns "`spa` is at `sha`" from
//! both requests and replies (RFC 826 "Packet Reception": the merge happens
//! before the opcode is looked at), so either kind, and a gratuitous one
//! (`spa == tpa`), is a claim on `spa`.
//!
//! Parsed from untrusted bytes with bounds checks; anything a Linux receiver
//! would discard (`arp_rcv`/`arp_process`: another protocol, other address
//! lengths, an opcode other than request/reply) is not a claim.

use core::net::Ipv4Addr;

use super::frame::{l3, Mac, ETHERTYPE_ARP};

/// `ar_hrd`: Ethernet.
pub const HRD_ETHER: u16 = 1;
/// `ar_hrd`: IEEE 802, which Linux also accepts on Ethernet devices
/// (`arp_process`, after RFC 2625): a spoof must not slip through as it.
pub const HRD_IEEE802: u16 = 6;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;
/// The fixed part for Ethernet/IPv4: 8 header bytes and two (MAC, IPv4) pairs.
pub const ARP_LEN: usize = 28;

/// An Ethernet/IPv4 ARP request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    /// Sender hardware address: where the sender says `spa` is.
    pub sha: Mac,
    /// Sender protocol address (0.0.0.0 in an RFC 5227 probe: no claim).
    pub spa: Ipv4Addr,
    pub tha: Mac,
    pub tpa: Ipv4Addr,
}

impl Arp {
    /// The address this packet claims for `sha`, if any (a probe claims none).
    pub fn claim(&self) -> Option<Ipv4Addr> {
        (!self.spa.is_unspecified()).then_some(self.spa)
    }
}

/// Parses the ARP packet of an Ethernet frame (after at most one 802.1Q
/// tag); `None` if the frame is not ARP or not one a receiver would act on.
pub fn parse(frame: &[u8]) -> Option<Arp> {
    let (ethertype, at) = l3(frame)?;
    if ethertype != ETHERTYPE_ARP {
        return None;
    }
    let p = frame.get(at..at.checked_add(ARP_LEN)?)?;
    let be16 = |i: usize| u16::from_be_bytes([p[i], p[i + 1]]);
    let hrd = be16(0);
    if !matches!(hrd, HRD_ETHER | HRD_IEEE802)
        || be16(2) != super::frame::ETHERTYPE_IPV4
        || p[4] != 6
        || p[5] != 4
    {
        return None;
    }
    let op = be16(6);
    if !matches!(op, OP_REQUEST | OP_REPLY) {
        return None;
    }
    let mac = |i: usize| -> Mac {
        let mut m = [0; 6];
        m.copy_from_slice(&p[i..i + 6]);
        m
    };
    let ip = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
    Some(Arp {
        op,
        sha: mac(8),
        spa: ip(14),
        tha: mac(18),
        tpa: ip(24),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn arp(op: u16, sha: Mac, spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&sha);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&sha);
        f.extend_from_slice(&spa);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&tpa);
        f
    }

    #[test]
    fn requests_replies_and_probes() {
        let m = [2, 0, 0, 0, 0, 1];
        let a = parse(&arp(OP_REPLY, m, [10, 0, 0, 1], [10, 0, 0, 2])).unwrap();
        assert_eq!((a.op, a.sha), (OP_REPLY, m));
        assert_eq!(a.claim(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        let probe = parse(&arp(OP_REQUEST, m, [0; 4], [10, 0, 0, 2])).unwrap();
        assert_eq!(probe.claim(), None);
        // Tagged: read after the tag.
        let mut t = arp(OP_REQUEST, m, [10, 0, 0, 1], [10, 0, 0, 1]);
        t.splice(12..12, [0x81, 0, 0, 5]);
        assert_eq!(parse(&t).unwrap().tpa, Ipv4Addr::new(10, 0, 0, 1));
        // IEEE 802 hardware type: Linux takes it, so do we.
        let mut h = arp(OP_REPLY, m, [10, 0, 0, 1], [10, 0, 0, 2]);
        h[15] = 6;
        assert!(parse(&h).is_some());
    }

    #[test]
    fn what_receivers_discard_is_no_claim() {
        let m = [2, 0, 0, 0, 0, 1];
        let good = arp(OP_REPLY, m, [10, 0, 0, 1], [10, 0, 0, 2]);
        assert!(parse(&good[..41]).is_none(), "truncated");
        for (i, v) in [(15usize, 7u8), (17, 0xdd), (18, 8), (19, 16), (21, 3)] {
            let mut f = good.clone();
            f[i] = v;
            assert!(parse(&f).is_none(), "byte {i} = {v}");
        }
        let mut ip = good.clone();
        ip[13] = 0x00;
        assert!(parse(&ip).is_none(), "not ARP");
    }
}
