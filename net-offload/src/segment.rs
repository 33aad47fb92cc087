//! Software TCP segmentation: cutting a GSO super-frame into MSS-sized frames
//! a NIC without TSO can transmit, as Linux `tcp_gso_segment`/`skb_segment`
//! (TCP, RFC 9293) and `inet_gso_segment`/`ipv6_gso_segment` (IPv4, RFC 791;
//! IPv6, RFC 8200) do for a device without `NETIF_F_TSO`.
//!
//! Every segment is a copy of the super-frame's headers followed by at most
//! MSS bytes of its payload, with the fields that describe one segment
//! rewritten:
//!
//! * IPv4 total length, identification (the super-frame's plus the segment
//!   index, as Linux does unless `SKB_GSO_TCP_FIXEDID`) and header checksum;
//! * IPv6 payload length;
//! * the TCP sequence number, advanced by the payload bytes before the segment;
//! * TCP flags: FIN and PSH belong to the end of the data, so only the last
//!   segment keeps them; CWR acknowledges ECE once (RFC 3168 §6.1.2), so only
//!   the first keeps it;
//! * the TCP checksum, computed in full (RFC 1071) over the pseudo-header, the
//!   header and the segment's payload: the NIC does no checksum offload either.
//!
//! The super-frame's own TCP checksum field is ignored: a Linux sender leaves
//! the pseudo-header sum there (`CHECKSUM_PARTIAL`), a hostile one anything.
//! Other TCP header fields, options and URG included, are copied unchanged,
//! as Linux does.
//!
//! Segments are built one at a time in a fixed stack buffer and handed to a
//! callback, so segmenting never allocates and a segment never exceeds
//! [`MAX_FRAME`] (or [`MAX_FRAME_VLAN`] with an 802.1Q tag).

use crate::checksum::{
    self, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETH_HLEN, IPPROTO_TCP,
};
use crate::OffloadError;

/// The largest untagged frame, FCS excluded: a 1500-byte MTU plus the
/// Ethernet header.
pub const MAX_FRAME: usize = 1514;
/// The largest frame with one 802.1Q tag (IEEE 802.1Q adds 4 bytes to the
/// maximum frame size).
pub const MAX_FRAME_VLAN: usize = MAX_FRAME + VLAN_HLEN;

const VLAN_HLEN: usize = 4;
/// Frames up to the Ethernet minimum (60 bytes, `ETH_ZLEN`, plus a tag) may
/// carry padding after the IP packet; longer frames must end where it ends.
const MAX_PADDED_FRAME: usize = 60 + VLAN_HLEN;

const IPV4_MIN_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const TCP_MIN_HLEN: usize = 20;
/// IPv4 flags/fragment offset word: MF and the 13-bit offset (RFC 791 §3.1).
const IPV4_FRAG_MASK: u16 = 0x3FFF;

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// IPv6 extension headers this module can copy unchanged into every segment:
/// their contents neither depend on the payload nor enter the TCP
/// pseudo-header (RFC 8200 §4.3, §4.6).
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_DEST_OPTS: u8 = 60;
/// Other extension headers (IANA "IPv6 Extension Header Types"): routing
/// changes the pseudo-header's destination, fragment has no TCP header to
/// follow, AH/ESP authenticate the payload, the rest are exotic.
const IPV6_OTHER_EXT: [u8; 9] = [43, 44, 50, 51, 135, 139, 140, 253, 254];
const IPV6_FRAGMENT: u8 = 44;
/// Hop-by-hop (first), then destination options: RFC 8200 §4.1's order
/// without a routing header allows no more.
const MAX_IPV6_EXT_HEADERS: usize = 2;

/// What kind of GSO super-frame to segment: the one GSO vocabulary
/// (`netframe::GsoKind`, Linux `SKB_GSO_TCPV4`/`SKB_GSO_TCPV6`).
pub use netframe::GsoKind as Kind;

/// Where a super-frame's headers are; all offsets from the Ethernet header.
#[derive(Clone, Copy, Debug)]
struct Layout {
    kind: Kind,
    l3: usize,
    l4: usize,
    /// End of the TCP header: where the payload starts.
    payload: usize,
    /// End of the IP packet (any Ethernet padding after it is dropped).
    end: usize,
    max_frame: usize,
}

/// Completes a `CHECKSUM_PARTIAL` checksum in place (`wire_proto::Checksum::
/// Partial`): the ones' complement sum from `start` to the end of the frame,
/// whose field at `start + offset` holds the pseudo-header sum, replaces that
/// field (Linux `skb_checksum_help`). The range is checked against the frame,
/// since `start`/`offset` come from the guest.
pub fn complete_checksum(
    frame: &mut [u8],
    start: usize,
    offset: usize,
) -> Result<(), OffloadError> {
    checksum::complete(frame, start, offset).map_err(OffloadError::from)
}

/// The longest header block a segment may carry (Ethernet, one tag, IP with
/// options or extension headers, TCP with options): what a Banana domain
/// copies privately from a frame and acts on (`netframe::HEADER_COPY_LEN`).
pub const MAX_HEADERS: usize = netframe::HEADER_COPY_LEN;

/// One segment: its own header block, then frame bytes `payload` of the
/// super-frame; its TCP checksum field holds the pseudo-header sum, to be
/// completed over the assembled segment from `csum_start` with the field at
/// `csum_start + csum_offset` (a `CHECKSUM_PARTIAL` frame, as a NIC's copy
/// finishes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    header: [u8; MAX_HEADERS],
    header_len: usize,
    /// The super-frame bytes that follow the header.
    pub payload: core::ops::Range<usize>,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl Segment {
    /// The segment's header block.
    pub fn header(&self) -> &[u8] {
        &self.header[..self.header_len]
    }

    /// The segment's length.
    pub fn len(&self) -> usize {
        self.header_len + self.payload.len()
    }

    /// Never: a segment has at least its headers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Cuts a TCP super-frame into segments of at most `mss` payload bytes,
/// from its headers alone: each [`Segment`] names the payload bytes it
/// carries, so whoever transmits it gathers them from wherever the
/// super-frame is (one copy per byte, straight into a NIC's buffer).
#[derive(Clone, Debug)]
pub struct Segmenter {
    head: [u8; MAX_HEADERS],
    l: Layout,
    mss: usize,
    count: usize,
    next: usize,
    flags: u8,
    seq: u32,
    ip_id: u16,
}

impl Segmenter {
    /// Segments a super-frame of `len` bytes whose first bytes (at least its
    /// whole header block) are `head`: Ethernet with at most one 802.1Q tag,
    /// then IPv4 (options allowed, not a fragment) or IPv6 (only hop-by-hop
    /// and destination-options extension headers), then TCP; `kind` must
    /// match the IP version. `mss` must leave every segment within
    /// [`MAX_FRAME`] ([`MAX_FRAME_VLAN`] when tagged). A payload that fits one
    /// MSS, including an empty one, gives one segment.
    pub fn new(head: &[u8], len: usize, kind: Kind, mss: u16) -> Result<Self, OffloadError> {
        if mss == 0 {
            return Err(OffloadError::MssZero);
        }
        let l = parse(head, len, kind)?;
        if l.payload > MAX_HEADERS {
            return Err(OffloadError::HeadersTooLong(l.payload));
        }
        let seg_max = usize::from(mss);
        let room = l.max_frame.saturating_sub(l.payload);
        let payload = l.end - l.payload;
        if seg_max.min(payload) > room || l.payload > l.max_frame {
            return Err(OffloadError::MssTooLarge { mss, max: room });
        }
        let mut h = [0u8; MAX_HEADERS];
        h[..l.payload].copy_from_slice(&head[..l.payload]);
        let ip_id = match l.kind {
            Kind::TcpV4 => be16(&h, l.l3 + 4),
            Kind::TcpV6 => 0,
        };
        Ok(Segmenter {
            flags: h[l.l4 + 13],
            seq: be32(&h, l.l4 + 4),
            head: h,
            l,
            mss: seg_max,
            count: payload.div_ceil(seg_max).max(1),
            next: 0,
            ip_id,
        })
    }

    /// How many segments the super-frame makes.
    pub fn segments(&self) -> usize {
        self.count
    }
}

impl Iterator for Segmenter {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        let (i, l) = (self.next, self.l);
        if i >= self.count {
            return None;
        }
        self.next += 1;
        let from = l.payload + i * self.mss;
        let to = l.end.min(from + self.mss);
        let len = l.payload + (to - from);
        let mut header = self.head;
        let h = &mut header[..l.payload];
        match l.kind {
            Kind::TcpV4 => {
                put16(h, l.l3 + 2, (len - l.l3) as u16);
                put16(h, l.l3 + 4, self.ip_id.wrapping_add(i as u16));
                put16(h, l.l3 + 10, 0);
                let c = checksum::checksum(&h[l.l3..l.l4]);
                put16(h, l.l3 + 10, c);
            }
            Kind::TcpV6 => put16(h, l.l3 + 4, (len - l.l3 - IPV6_HLEN) as u16),
        }
        let mut f = self.flags;
        if i + 1 < self.count {
            f &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            f &= !TCP_CWR;
        }
        h[l.l4 + 13] = f;
        put32(
            h,
            l.l4 + 4,
            self.seq.wrapping_add((from - l.payload) as u32),
        );
        put16(h, l.l4 + 16, checksum::fold(pseudo(h, &l, len)));
        Some(Segment {
            header,
            header_len: l.payload,
            payload: from..to,
            csum_start: l.l4 as u16,
            csum_offset: 16,
        })
    }
}

/// Cuts the TCP super-frame `frame` into segments of at most `mss` payload
/// bytes ([`Segmenter`]), calling `out` with each complete frame in order,
/// checksum completed, and returns how many there were.
///
/// Nothing is emitted unless the whole frame parses, so on an error the
/// caller has sent nothing.
pub fn segment(
    frame: &[u8],
    kind: Kind,
    mss: u16,
    out: &mut dyn FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    let segs = Segmenter::new(frame, frame.len(), kind, mss)?;
    let count = segs.segments();
    let mut buf = [0u8; MAX_FRAME_VLAN];
    for seg in segs {
        let n = seg.len();
        let h = seg.header();
        buf[..h.len()].copy_from_slice(h);
        buf[h.len()..n].copy_from_slice(&frame[seg.payload.clone()]);
        checksum::complete(
            &mut buf[..n],
            usize::from(seg.csum_start),
            usize::from(seg.csum_offset),
        )?;
        out(&buf[..n]);
    }
    Ok(count)
}

/// The TCP pseudo-header sum of a `len`-byte segment whose IP header (in
/// `hdr`) is final.
fn pseudo(hdr: &[u8], l: &Layout, len: usize) -> u64 {
    let tcp_len = (len - l.l4) as u32;
    let ip = &hdr[l.l3..];
    match l.kind {
        Kind::TcpV4 => checksum::pseudo_v4(&ip[12..16], &ip[16..20], IPPROTO_TCP, tcp_len),
        Kind::TcpV6 => checksum::pseudo_v6(&ip[8..24], &ip[24..40], IPPROTO_TCP, tcp_len),
    }
}

/// Parses and checks the headers (in `frame`, the first bytes of a `len`-byte
/// frame) strictly: every length field must agree with the others and with
/// the frame, since a segment is built from them alone.
fn parse(frame: &[u8], len: usize, kind: Kind) -> Result<Layout, OffloadError> {
    let mut l3 = ETH_HLEN;
    let mut max_frame = MAX_FRAME;
    let mut ethertype = get16(frame, 12)?;
    if ethertype == ETHERTYPE_VLAN {
        ethertype = get16(frame, ETH_HLEN + 2)?;
        l3 += VLAN_HLEN;
        max_frame = MAX_FRAME_VLAN;
    }
    let (l4, end) = match (kind, ethertype) {
        (Kind::TcpV4, ETHERTYPE_IPV4) => parse_v4(frame, len, l3)?,
        (Kind::TcpV6, ETHERTYPE_IPV6) => parse_v6(frame, len, l3)?,
        _ => return Err(OffloadError::KindMismatch(ethertype)),
    };
    if end < len && len > MAX_PADDED_FRAME {
        return Err(OffloadError::LengthMismatch);
    }
    if l4 + TCP_MIN_HLEN > end || l4 + TCP_MIN_HLEN > frame.len() {
        return Err(OffloadError::Truncated);
    }
    let thlen = usize::from(frame[l4 + 12] >> 4) * 4;
    if thlen < TCP_MIN_HLEN {
        return Err(OffloadError::BadHeader);
    }
    if l4 + thlen > end || l4 + thlen > frame.len() {
        return Err(OffloadError::Truncated);
    }
    Ok(Layout {
        kind,
        l3,
        l4,
        payload: l4 + thlen,
        end,
        max_frame,
    })
}

/// IPv4 (RFC 791 §3.1): returns where TCP starts and where the packet ends.
fn parse_v4(frame: &[u8], len: usize, l3: usize) -> Result<(usize, usize), OffloadError> {
    let h = frame
        .get(l3..l3 + IPV4_MIN_HLEN)
        .ok_or(OffloadError::Truncated)?;
    let ihl = usize::from(h[0] & 0x0F) * 4;
    if h[0] >> 4 != 4 || ihl < IPV4_MIN_HLEN {
        return Err(OffloadError::BadHeader);
    }
    let total = usize::from(be16(h, 2));
    if total < ihl + TCP_MIN_HLEN || l3 + total > len || l3 + ihl > frame.len() {
        return Err(OffloadError::LengthMismatch);
    }
    if be16(h, 6) & IPV4_FRAG_MASK != 0 {
        return Err(OffloadError::Fragment);
    }
    if h[9] != IPPROTO_TCP {
        return Err(OffloadError::NotTcp(h[9]));
    }
    Ok((l3 + ihl, l3 + total))
}

/// IPv6 (RFC 8200 §3, §4): returns where TCP starts and where the packet ends.
fn parse_v6(frame: &[u8], len: usize, l3: usize) -> Result<(usize, usize), OffloadError> {
    let h = frame
        .get(l3..l3 + IPV6_HLEN)
        .ok_or(OffloadError::Truncated)?;
    if h[0] >> 4 != 6 {
        return Err(OffloadError::BadHeader);
    }
    // Payload length 0 announces a jumbogram (RFC 2675); a TCP segment needs
    // at least its header anyway.
    let plen = usize::from(be16(h, 4));
    if plen == 0 {
        return Err(OffloadError::BadHeader);
    }
    let end = l3 + IPV6_HLEN + plen;
    if end > len {
        return Err(OffloadError::LengthMismatch);
    }
    let mut next = h[6];
    let mut at = l3 + IPV6_HLEN;
    for n in 0..=MAX_IPV6_EXT_HEADERS {
        let allowed = match next {
            IPPROTO_TCP => return Ok((at, end)),
            IPV6_HOP_BY_HOP => n == 0,
            IPV6_DEST_OPTS => true,
            IPV6_FRAGMENT => return Err(OffloadError::Fragment),
            x if IPV6_OTHER_EXT.contains(&x) => false,
            x => return Err(OffloadError::NotTcp(x)),
        };
        if !allowed || n == MAX_IPV6_EXT_HEADERS {
            return Err(OffloadError::UnsupportedExtension(next));
        }
        if at + 2 > end || at + 2 > frame.len() {
            return Err(OffloadError::Truncated);
        }
        next = frame[at];
        at += (usize::from(frame[at + 1]) + 1) * 8;
        if at > end {
            return Err(OffloadError::Truncated);
        }
    }
    Err(OffloadError::UnsupportedExtension(next))
}

fn get16(b: &[u8], at: usize) -> Result<u16, OffloadError> {
    match b.get(at..at + 2) {
        Some(w) => Ok(u16::from_be_bytes([w[0], w[1]])),
        None => Err(OffloadError::Truncated),
    }
}

/// Reads a field the caller has already bounds-checked.
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
