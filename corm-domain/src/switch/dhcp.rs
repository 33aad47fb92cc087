//! DHCP (RFC 2131, options RFC 2132) as the switch snoops it: a client's
//! request (its transaction id and hardware address), and the server's ACK
//! or NAK. An ACK that answers a request an endpoint made binds the address
//! it hands out (`yiaddr`) to that endpoint for the lease; see
//! [`super::ipguard`].
//!
//! Only what snooping needs is read, from untrusted bytes with bounds
//! checks: the IPv4 and UDP headers (an unfragmented datagram between ports
//! 67 and 68), the fixed BOOTP fields, and, for replies, the options field
//! (message type 53, lease time 51). Options overloaded into `sname`/`file`
//! (option 52) are not read: such an ACK binds nothing.

use core::net::Ipv4Addr;

use super::frame::{l3, Mac, ETHERTYPE_IPV4};

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;
const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
const HTYPE_ETHER: u8 = 1;
/// The fixed BOOTP header, up to the options' magic cookie.
const BOOTP_FIXED: usize = 236;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
const OPT_PAD: u8 = 0;
const OPT_END: u8 = 255;
const OPT_LEASE: u8 = 51;
const OPT_MSG_TYPE: u8 = 53;
const DHCPACK: u8 = 5;
const DHCPNAK: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// A DHCP message the switch acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dhcp {
    /// A client's message to the servers (DISCOVER, REQUEST, ...; the type
    /// is not read: only the transaction matters).
    Request { xid: u32, chaddr: Mac },
    /// A server's DHCPACK: `yiaddr` is the client's for `lease_s` seconds
    /// (`None`: no lease-time option).
    Ack {
        xid: u32,
        chaddr: Mac,
        yiaddr: Ipv4Addr,
        lease_s: Option<u32>,
    },
    /// A server's DHCPNAK: the client's address is not (any more) valid.
    Nak { xid: u32, chaddr: Mac },
}

/// Parses the DHCP message of an Ethernet frame (after at most one 802.1Q
/// tag); `None` for anything else. `frame` may be a frame's first bytes
/// only: a request needs no options, a reply is snooped only whole.
pub fn parse(frame: &[u8]) -> Option<Dhcp> {
    let (ethertype, at) = l3(frame)?;
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(at..at.checked_add(20)?)?;
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    if ip[0] >> 4 != 4 || ihl < 20 || total < ihl + 8 || fragment || ip[9] != IPPROTO_UDP {
        return None;
    }
    let end = frame.len().min(at + total);
    let udp = at + ihl;
    let u = frame.get(udp..udp.checked_add(8)?)?;
    let (sport, dport) = (
        u16::from_be_bytes([u[0], u[1]]),
        u16::from_be_bytes([u[2], u[3]]),
    );
    let b = frame.get(udp + 8..end)?;
    // op, htype, hlen, hops, xid (4), secs, flags, ciaddr, yiaddr, siaddr,
    // giaddr (4 each), chaddr (16).
    if b.len() < 44 || b[1] != HTYPE_ETHER || b[2] != 6 {
        return None;
    }
    let xid = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    let mut chaddr = [0u8; 6];
    chaddr.copy_from_slice(&b[28..34]);
    match (b[0], sport, dport) {
        (BOOTREQUEST, CLIENT_PORT, SERVER_PORT) => Some(Dhcp::Request { xid, chaddr }),
        (BOOTREPLY, SERVER_PORT, CLIENT_PORT) => {
            if b.get(BOOTP_FIXED..BOOTP_FIXED + 4)? != MAGIC {
                return None;
            }
            let (ty, lease_s) = options(&b[BOOTP_FIXED + 4..])?;
            let yiaddr = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
            match ty {
                DHCPACK => Some(Dhcp::Ack {
                    xid,
                    chaddr,
                    yiaddr,
                    lease_s,
                }),
                DHCPNAK => Some(Dhcp::Nak { xid, chaddr }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The message type and lease time in an options field. `None` without a
/// (well-formed) message type, or if the options run past the end.
fn options(mut o: &[u8]) -> Option<(u8, Option<u32>)> {
    let (mut ty, mut lease) = (None, None);
    while let Some((&code, rest)) = o.split_first() {
        match code {
            OPT_PAD => o = rest,
            OPT_END => break,
            _ => {
                let (&len, rest) = rest.split_first()?;
                let val = rest.get(..usize::from(len))?;
                match (code, val) {
                    (OPT_MSG_TYPE, &[t]) => ty = ty.or(Some(t)),
                    (OPT_LEASE, &[a, b, c, d]) => {
                        lease = lease.or(Some(u32::from_be_bytes([a, b, c, d])))
                    }
                    _ => {}
                }
                o = &rest[usize::from(len)..];
            }
        }
    }
    Some((ty?, lease))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A DHCP message in an untagged frame: `op` 1 from the client port, 2
    /// from the server port, with `opts` after the cookie (an END is added).
    pub(crate) fn dhcp_frame(
        eth_src: Mac,
        op: u8,
        xid: u32,
        chaddr: Mac,
        yiaddr: [u8; 4],
        opts: &[u8],
    ) -> Vec<u8> {
        let mut b = alloc::vec![0u8; BOOTP_FIXED];
        b[0] = op;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&xid.to_be_bytes());
        b[16..20].copy_from_slice(&yiaddr);
        b[28..34].copy_from_slice(&chaddr);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(opts);
        b.push(OPT_END);
        let (sport, dport) = if op == 1 { (68u16, 67u16) } else { (67, 68) };
        let mut f = Vec::new();
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&eth_src);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        f.extend_from_slice(&((20 + 8 + b.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, 1, 255, 255, 255, 255]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&((8 + b.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&b);
        f
    }

    /// Options of an ACK with `lease` seconds.
    pub(crate) fn ack_opts(lease: u32) -> Vec<u8> {
        let mut o = alloc::vec![53, 1, 5, 51, 4];
        o.extend_from_slice(&lease.to_be_bytes());
        o
    }

    const C: Mac = [0, 0x16, 0x3e, 0, 0, 1];
    const S: Mac = [2, 0, 0, 0, 0, 0x53];

    #[test]
    fn requests_acks_naks() {
        let r = dhcp_frame(C, 1, 7, C, [0; 4], &[53, 1, 3]);
        assert_eq!(parse(&r), Some(Dhcp::Request { xid: 7, chaddr: C }));
        // The client's request is read from its first bytes only.
        assert_eq!(parse(&r[..90]), Some(Dhcp::Request { xid: 7, chaddr: C }));
        let mut opts = alloc::vec![0, 0, 12, 3, b'a', b'b', b'c'];
        opts.extend(ack_opts(3600));
        let a = dhcp_frame(S, 2, 7, C, [10, 0, 0, 5], &opts);
        assert_eq!(
            parse(&a),
            Some(Dhcp::Ack {
                xid: 7,
                chaddr: C,
                yiaddr: Ipv4Addr::new(10, 0, 0, 5),
                lease_s: Some(3600)
            })
        );
        let n = dhcp_frame(S, 2, 7, C, [0; 4], &[53, 1, 6]);
        assert_eq!(parse(&n), Some(Dhcp::Nak { xid: 7, chaddr: C }));
        // An OFFER binds nothing; a reply to the server port is no reply.
        assert_eq!(
            parse(&dhcp_frame(S, 2, 7, C, [10, 0, 0, 5], &[53, 1, 2])),
            None
        );
        let mut wrong = a.clone();
        wrong[36..38].copy_from_slice(&67u16.to_be_bytes());
        assert_eq!(parse(&wrong), None);
    }

    #[test]
    fn malformed_is_nothing_and_never_panics() {
        let a = dhcp_frame(S, 2, 7, C, [10, 0, 0, 5], &ack_opts(60));
        // Truncated options (the type's length runs past the end).
        let mut t = dhcp_frame(S, 2, 7, C, [10, 0, 0, 5], &[51, 4, 0]);
        t.pop(); // no END: the lease option claims 4 bytes, 1 is left
        assert_eq!(parse(&t), None);
        // A fragment, another protocol, a bad cookie.
        let mut frag = a.clone();
        frag[20] = 0x20; // MF
        assert_eq!(parse(&frag), None);
        let mut tcp = a.clone();
        tcp[23] = 6;
        assert_eq!(parse(&tcp), None);
        let mut cookie = a.clone();
        cookie[42 + BOOTP_FIXED] = 0;
        assert_eq!(parse(&cookie), None);
        for n in 0..a.len() {
            let _ = parse(&a[..n]);
        }
    }
}
