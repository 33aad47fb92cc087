//! Checking a transmit offload request ([`TxOffload`]) against the frame's
//! own headers, for every driver: the offsets must name an IPv4 or IPv6
//! header and a TCP or UDP header whose fields agree with them, and the
//! pseudo-header sums the device needs are computed here from the frame's
//! addresses and lengths (the caller's checksum fields are ignored).
//! Each driver then programs its device from the result (`e1000::offload`:
//! a context descriptor; `virtio_net`: a `virtio_net_hdr`).

use net_offload::checksum::{fold, pseudo_v4, pseudo_v6, ETH_HLEN, IPPROTO_TCP, IPPROTO_UDP};

use super::{TxError, TxOffload, MAX_FRAME};

/// Shortest frame a driver sends: an Ethernet header.
pub const MIN_FRAME: usize = 14;

/// Largest TSO frame, as the `Nic` trait defines it: 64 KiB plus a tag.
pub const MAX_TSO_FRAME: usize = 65535 + 4;

/// TCP header length bounds (RFC 9293 §3.1: data offset 5..=15 words).
const TCP_MIN_HLEN: usize = 20;
const TCP_MAX_HLEN: usize = 60;

/// A request found to describe its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// L3 and L4 header offsets, and the L4 checksum field's, from the
    /// frame's start.
    pub l3: usize,
    pub l4: usize,
    pub field: usize,
    pub tcp: bool,
    pub ipv6: bool,
    /// TSO: the MSS and the header length (`l4` + TCP header).
    pub tso: Option<(u16, usize)>,
    /// Checksum insertion: the L4 length from the IP header's length field;
    /// TSO: the whole frame's L4 length.
    pub l4_len: usize,
    /// The pseudo-header sum with `l4_len`, as Linux leaves it in a
    /// partially checksummed frame (`CHECKSUM_PARTIAL`, GSO or not).
    pub pseudo: u16,
    /// The pseudo-header sum with a zero length, as the 8254x's TSO wants.
    pub pseudo_no_len: u16,
}

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

/// Checks `req` against a frame of `len` bytes whose headers are in `head`
/// (its first bytes); every offset the result names, up to the end of the
/// TSO headers, is below `max_offset` (a device's field width). `Length`
/// for a frame too short or too long for the request, `Invalid` for
/// offsets or header fields that disagree with it, or headers not all in
/// `head`.
pub fn check(
    head: &[u8],
    len: usize,
    req: &TxOffload,
    max_offset: usize,
) -> Result<Checked, TxError> {
    let frame = head;
    let max = if req.tso_mss.is_some() {
        MAX_TSO_FRAME
    } else {
        MAX_FRAME
    };
    if !(MIN_FRAME..=max).contains(&len) {
        return Err(TxError::Length(len));
    }
    let (l3, l4) = (usize::from(req.l3_start), usize::from(req.l4_start));
    let off = usize::from(req.csum_offset);
    let proto = match off {
        16 => IPPROTO_TCP,
        6 => IPPROTO_UDP,
        _ => return Err(TxError::Invalid),
    };
    let ip_min = if req.ipv6 { 40 } else { 20 };
    if l3 < ETH_HLEN
        || l4 < l3 + ip_min
        || l4 + off > max_offset
        || l4 + off + 2 > len.min(frame.len())
    {
        return Err(TxError::Invalid);
    }
    let ip = &frame[l3..l4];
    let (src, dst) = if req.ipv6 {
        let next_ok = l4 > l3 + 40 || ip[6] == proto;
        if ip[0] >> 4 != 6 || !next_ok {
            return Err(TxError::Invalid);
        }
        (&ip[8..24], &ip[24..40])
    } else {
        if ip[0] >> 4 != 4 || usize::from(ip[0] & 0x0F) * 4 != ip.len() || ip[9] != proto {
            return Err(TxError::Invalid);
        }
        (&ip[12..16], &ip[16..20])
    };
    let pseudo = |l4_len: usize| {
        let f = if req.ipv6 { pseudo_v6 } else { pseudo_v4 };
        fold(f(src, dst, proto, l4_len as u32))
    };
    let mut c = Checked {
        l3,
        l4,
        field: l4 + off,
        tcp: proto == IPPROTO_TCP,
        ipv6: req.ipv6,
        tso: None,
        l4_len: 0,
        pseudo: 0,
        pseudo_no_len: pseudo(0),
    };
    let Some(mss) = req.tso_mss else {
        let end = if req.ipv6 {
            l3 + 40 + be16(ip, 4)
        } else {
            l3 + be16(ip, 2)
        };
        if end > len || end < c.field + 2 {
            return Err(TxError::Invalid);
        }
        c.l4_len = end - l4;
        c.pseudo = pseudo(c.l4_len);
        return Ok(c);
    };
    let th = usize::from(req.l4_len);
    let hdr = l4 + th;
    let tcp_ok = c.tcp
        && (TCP_MIN_HLEN..=TCP_MAX_HLEN).contains(&th)
        && hdr <= max_offset
        && hdr < len
        && hdr <= frame.len()
        && usize::from(frame[l4 + 12] >> 4) * 4 == th;
    if !tcp_ok || mss == 0 || hdr + usize::from(mss) > MAX_FRAME {
        return Err(TxError::Invalid);
    }
    c.tso = Some((mss, hdr));
    c.l4_len = len - l4;
    c.pseudo = pseudo(c.l4_len);
    Ok(c)
}
