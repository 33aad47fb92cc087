//! ARP for the Corm's underlay address (RFC 826): the frames the underlay
//! sends, a reply to a request for our address and a request for a next
//! hop. Parsing is the switch's (`switch::arp::parse`), which already
//! refuses anything a receiver would not act on.

use core::net::Ipv4Addr;

use netframe::{eth, Mac};

use crate::switch::arp::{Arp, ARP_LEN, HRD_ETHER, OP_REPLY, OP_REQUEST};

/// An ARP frame padded to Ethernet's 60-byte minimum (without FCS).
pub const FRAME_LEN: usize = 60;

/// One ARP frame: `dst` and our `src` MAC, then the packet.
fn frame(dst: Mac, op: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&sha);
    f[12..14].copy_from_slice(&eth::ETHERTYPE_ARP.to_be_bytes());
    let p = &mut f[14..14 + ARP_LEN];
    p[0..2].copy_from_slice(&HRD_ETHER.to_be_bytes());
    p[2..4].copy_from_slice(&eth::ETHERTYPE_IPV4.to_be_bytes());
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&op.to_be_bytes());
    p[8..14].copy_from_slice(&sha);
    p[14..18].copy_from_slice(&spa.octets());
    p[18..24].copy_from_slice(&tha);
    p[24..28].copy_from_slice(&tpa.octets());
    f
}

/// Our answer to `req` (a request for our address), sent to its sender.
pub fn reply(req: &Arp, our_mac: Mac, our_ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    frame(req.sha, OP_REPLY, our_mac, our_ip, req.sha, req.spa)
}

/// A broadcast request for `target`.
pub fn request(our_mac: Mac, our_ip: Ipv4Addr, target: Ipv4Addr) -> [u8; FRAME_LEN] {
    frame(eth::BROADCAST, OP_REQUEST, our_mac, our_ip, [0; 6], target)
}

/// Whether `arp` is a request we must answer: for our address, from a host
/// that says who it is (a unicast sender MAC; a probe's zero sender address
/// is answered too, RFC 5227 §2.1.1).
pub fn is_request_for(arp: &Arp, our_ip: Ipv4Addr) -> bool {
    arp.op == OP_REQUEST && arp.tpa == our_ip && eth::is_valid_source(&arp.sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::arp::parse;

    const US: Mac = [0x52, 0x54, 0, 0x77, 0, 3];
    const PEER: Mac = [0x02, 0, 0, 0, 0, 1];

    #[test]
    fn request_and_reply_parse_back() {
        let ip = Ipv4Addr::new(10, 77, 0, 40);
        let peer_ip = Ipv4Addr::new(10, 77, 0, 1);
        let q = request(US, ip, peer_ip);
        assert_eq!(&q[..6], &eth::BROADCAST);
        let a = parse(&q).unwrap();
        assert_eq!((a.op, a.sha, a.spa, a.tpa), (OP_REQUEST, US, ip, peer_ip));
        // The peer asks for us; we answer it.
        let theirs = parse(&request(PEER, peer_ip, ip)).unwrap();
        assert!(is_request_for(&theirs, ip));
        assert!(!is_request_for(&theirs, peer_ip));
        let r = reply(&theirs, US, ip);
        assert_eq!(&r[..6], &PEER);
        let a = parse(&r).unwrap();
        assert_eq!(
            (a.op, a.sha, a.spa, a.tha, a.tpa),
            (OP_REPLY, US, ip, PEER, peer_ip)
        );
    }
}
