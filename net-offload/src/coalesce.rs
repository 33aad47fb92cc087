//! Software receive coalescing (GRO): merging consecutive in-order TCP
//! segments of one flow into one large frame carried with GSO metadata, as
//! Linux `dev_gro_receive` does with `inet_gro_receive`/`ipv6_gro_receive`
//! and `tcp_gro_receive` (TCP, RFC 9293; IPv4, RFC 791; IPv6, RFC 8200),
//! simplified to one flow at a time.
//!
//! The Corm hands every frame its NIC received to [`Coalescer::push`]; what
//! comes out (through a callback, in arrival order) is either a frame exactly
//! as received, or a merge of 2 to [`MAX_SEGMENTS`] TCP segments: the first
//! segment's headers followed by every segment's payload, with
//!
//! * the IPv4 total length and header checksum, or the IPv6 payload length,
//!   rewritten;
//! * TCP PSH set if the last merged segment had it;
//! * a complete TCP checksum, so the frame is valid even to a receiver that
//!   ignores the metadata;
//! * [`Merged::gso`] naming the kind and the MSS (the first segment's payload
//!   length), which the Spike passes to the guest's netfront as a GSO frame.
//!
//! A segment is merged into the pending one only if:
//!
//! * Ethernet (with at most one 802.1Q tag) and IP headers are identical to
//!   the first segment's except for the lengths, checksums and IPv4
//!   identification: IPv4 with IHL 5, not a fragment, header checksum valid,
//!   same TOS, TTL, DF and addresses (`inet_gro_receive`); IPv6 without
//!   extension headers, same version/class/flow label, hop limit and addresses
//!   (`ipv6_gro_receive`). Without DF, IPv4 identifications must increase by
//!   one per segment (Linux's `flush_id` check); with DF they are ignored.
//! * The frame ends where the IP packet ends: Ethernet padding makes Linux
//!   flush (`tot_len` ≠ `skb_gro_len`), and so does it here.
//! * The frame is no longer than a 1500-byte-MTU frame ([`MAX_FRAME`], or
//!   [`MAX_FRAME_VLAN`] tagged): the merge's MSS is the first segment's
//!   payload, and every frame re-cut from the merge (software GSO, or the
//!   guest forwarding it) must be one the network carries. A giant passes
//!   through unmerged.
//! * Its TCP checksum verifies in software (the same sum as
//!   [`checksum::verify_l4`]); a segment that does not is passed through
//!   unmerged with `validated: false`, for the guest's stack to drop.
//! * Its flags are exactly ACK or ACK|PSH (SYN, FIN, RST, URG, CWR or ECE end
//!   the merge and the segment passes through), and it has a payload.
//! * Ports, acknowledgment number, data offset byte, window and the whole
//!   options area equal the first segment's, byte for byte, as
//!   `tcp_gro_receive` compares them (so timestamps must be equal).
//! * Its sequence number is the next expected one, and its payload is no
//!   longer than the first segment's (the MSS). A shorter segment, or one
//!   with PSH, is merged and then the merge is flushed
//!   (`tcp_gro_receive`'s `out_check_final`).
//! * The merge stays within `N` bytes, the frame limit (at most
//!   [`MAX_FRAME_LEN`], the largest frame netif and the wire carry; see
//!   [`Coalescer::set_limit`]), an IP length of 65535 and [`MAX_SEGMENTS`]
//!   segments; a segment that would not fit flushes the pending merge and
//!   starts the next one. Without the frame limit a merge of 45 full
//!   segments reaches 65,522–65,553 bytes (the IP length bound leaves room
//!   for 65,535 bytes *behind* the Ethernet header), which no netif ring or
//!   wire record can carry.
//!
//! Anything else flushes the pending merge (if any) and is then either
//! passed through or, if mergeable, starts a new merge. Only one flow is
//! pending at a time, so interleaved flows coalesce poorly; order is always
//! preserved.
//!
//! The pending merge lives in a buffer inside the [`Coalescer`], which is
//! the only copy made: nothing allocates and no input panics.

use crate::checksum::{
    self, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETH_HLEN, IPPROTO_TCP,
};
use crate::segment::{Kind, MAX_FRAME, MAX_FRAME_VLAN};

/// The most segments merged into one frame. Linux bounds a GRO packet by
/// `gro_max_size` (64 KiB) and its skb's fragment slots; this cap keeps the
/// guest's per-frame work bounded even for tiny segments.
pub const MAX_SEGMENTS: u8 = 64;
/// A buffer size that holds any merge: the largest IP packet (65535 bytes)
/// behind an Ethernet header with one 802.1Q tag.
pub const MAX_MERGED: usize = 65535 + ETH_HLEN + VLAN_HLEN;
/// The longest frame a merge may become, Ethernet header included: netif's
/// `XEN_NETIF_MAX_TX_SIZE` (`xen/include/public/io/netif.h`), which bounds
/// every frame a netfront sends or receives, and the wire protocol's
/// `MAX_FRAME_LEN`.
pub const MAX_FRAME_LEN: usize = 0xFFFF;

const VLAN_HLEN: usize = 4;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const TCP_MIN_HLEN: usize = 20;
const MAX_IP_LEN: usize = 65535;
/// IPv4 flags/fragment offset word: MF and the 13-bit offset (RFC 791 §3.1).
const IPV4_FRAG_MASK: u16 = 0x3FFF;
const IPV4_DF: u16 = 0x4000;

const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// One frame for the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Merged<'a> {
    /// The frame: as received, or a merge of several segments.
    pub frame: &'a [u8],
    /// `Some((kind, mss))` for a merge of 2 or more segments; `None` for a
    /// frame passed through unchanged.
    pub gso: Option<(Kind, u16)>,
    /// Whether the frame's L4 checksum was verified here (Xen
    /// `NETRXF_data_validated`, Linux `CHECKSUM_UNNECESSARY`): always for a
    /// merge; for a frame passed through, only if it is TCP over IPv4 (IHL 5,
    /// header checksum valid, not a fragment) or IPv6 (no extension headers)
    /// whose TCP checksum verified. UDP and everything else: `false`.
    pub validated: bool,
}

/// A received TCP segment as the coalescer parsed it: where its headers are
/// (offsets from the Ethernet header) and what it carries. From
/// [`TcpSegment::parse`]; opaque to callers.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment {
    v6: bool,
    l3: usize,
    l4: usize,
    /// End of the TCP header: where the payload starts.
    hdr: usize,
    /// End of the IP packet.
    end: usize,
    seq: u32,
    flags: u8,
    /// The payload's folded ones' complement sum (not complemented).
    psum: u16,
    verified: bool,
}

impl TcpSegment {
    /// Parses a received frame: `Some` for a TCP segment over IPv4 or IPv6
    /// (whatever its flags or checksum), `None` for anything else.
    pub fn parse(frame: &[u8]) -> Option<TcpSegment> {
        parse(frame)
    }

    /// Whether its TCP checksum verified.
    pub fn verified(&self) -> bool {
        self.verified
    }

    /// The GSO kind a merge of it would be.
    pub fn kind(&self) -> Kind {
        if self.v6 {
            Kind::TcpV6
        } else {
            Kind::TcpV4
        }
    }

    fn payload_len(&self) -> usize {
        self.end - self.hdr
    }

    /// Whether this segment may take part in a merge at all (`frame_len`:
    /// the received frame's length).
    pub fn mergeable(&self, frame_len: usize) -> bool {
        let max = if self.l3 > ETH_HLEN {
            MAX_FRAME_VLAN
        } else {
            MAX_FRAME
        };
        self.verified
            && frame_len == self.end
            && frame_len <= max
            && (self.flags == TCP_ACK || self.flags == TCP_ACK | TCP_PSH)
            && self.end > self.hdr
    }

    /// Whether it carries PSH: it would end a merge it started.
    pub fn push_flag(&self) -> bool {
        self.flags & TCP_PSH != 0
    }
}

/// One pending merge. Its bytes live in a buffer the caller owns and hands
/// to every call (a wire ring's slot the merge is built in, or the
/// [`Coalescer`]'s own buffer): the first segment's headers, then every
/// segment's payload.
#[derive(Clone, Copy, Debug)]
pub struct Merge {
    /// Bytes of the buffer in use.
    len: usize,
    /// Segments merged (at least 1).
    count: u8,
    /// The first segment's layout (its `end` is not updated).
    first: TcpSegment,
    next_seq: u32,
    mss: u16,
    psh: bool,
    /// The payload sum of the merge, folded.
    psum: u16,
}

/// What [`Merge::push`] did with a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Appended; more may follow.
    Merged,
    /// Appended, and the merge is complete (a short or PSH segment, or the
    /// segment limit): finish it now.
    Complete,
    /// It cannot join (another flow, out of order, no room): finish the
    /// merge, then start a new one with it.
    Refused,
}

impl Merge {
    /// Starts a merge with `frame`, a [`mergeable`](TcpSegment::mergeable)
    /// segment without PSH, copying it to the front of `buf` (which must hold
    /// it: `None` otherwise).
    pub fn start(frame: &[u8], seg: &TcpSegment, buf: &mut [u8]) -> Option<Merge> {
        buf.get_mut(..frame.len())?.copy_from_slice(frame);
        Some(Merge {
            len: frame.len(),
            count: 1,
            first: *seg,
            next_seq: seg.seq.wrapping_add(seg.payload_len() as u32),
            mss: seg.payload_len() as u16,
            psh: false,
            psum: seg.psum,
        })
    }

    /// Segments in the merge.
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// Its length so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never: a merge holds its first segment.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `frame` (a mergeable segment) if it continues the merge in
    /// `buf` (the merge's buffer, whose length bounds it) within `limit`
    /// bytes.
    pub fn push(&mut self, buf: &mut [u8], frame: &[u8], seg: &TcpSegment, limit: usize) -> Pushed {
        if !self.fits(buf, frame, seg, limit) {
            return Pushed::Refused;
        }
        self.append(buf, frame, seg);
        if seg.payload_len() < usize::from(self.mss)
            || seg.flags & TCP_PSH != 0
            || self.count >= MAX_SEGMENTS
        {
            Pushed::Complete
        } else {
            Pushed::Merged
        }
    }

    /// Whether `seg` continues the merge and fits in it.
    fn fits(&self, buf: &[u8], frame: &[u8], seg: &TcpSegment, limit: usize) -> bool {
        let f = self.first;
        let Some(b) = buf.get(..self.len) else {
            return false;
        };
        let plen = seg.payload_len();
        let new_len = self.len + plen;
        if seg.v6 != f.v6
            || seg.l3 != f.l3
            || seg.hdr != f.hdr
            || seg.seq != self.next_seq
            || plen > usize::from(self.mss)
            || new_len > buf.len()
            || new_len > limit.min(MAX_FRAME_LEN)
            || new_len - f.l3 > MAX_IP_LEN
            || self.count >= MAX_SEGMENTS
        {
            return false;
        }
        let same = |from: usize, to: usize| b.get(from..to) == frame.get(from..to);
        // Ethernet header, tag and ethertype.
        if !same(0, f.l3) {
            return false;
        }
        let (l3, l4) = (f.l3, f.l4);
        let ip_ok = if f.v6 {
            // Version, class, flow label; next header, hop limit; addresses.
            same(l3, l3 + 4) && same(l3 + 6, l3 + IPV6_HLEN)
        } else {
            let frag = be16(frame, l3 + 6);
            let id_ok = frag & IPV4_DF != 0
                || be16(frame, l3 + 4) == be16(b, l3 + 4).wrapping_add(u16::from(self.count));
            // Version/IHL, TOS; flags (DF); TTL, protocol; addresses.
            id_ok && same(l3, l3 + 2) && same(l3 + 6, l3 + 10) && same(l3 + 12, l3 + IPV4_HLEN)
        };
        // Ports; acknowledgment; data offset byte; window; options.
        ip_ok
            && same(l4, l4 + 4)
            && same(l4 + 8, l4 + 13)
            && same(l4 + 14, l4 + 16)
            && same(l4 + TCP_MIN_HLEN, f.hdr)
    }

    fn append(&mut self, buf: &mut [u8], frame: &[u8], seg: &TcpSegment) {
        let plen = seg.payload_len();
        // A sum over bytes that start at an odd offset is the byte-swapped
        // sum (RFC 1071 §2(B)).
        let psum = if (self.len - seg.hdr) % 2 == 1 {
            seg.psum.swap_bytes()
        } else {
            seg.psum
        };
        self.psum = checksum::fold(u64::from(self.psum) + u64::from(psum));
        buf[self.len..self.len + plen].copy_from_slice(&frame[seg.hdr..seg.end]);
        self.len += plen;
        self.count += 1;
        self.next_seq = self.next_seq.wrapping_add(plen as u32);
        self.psh |= seg.flags & TCP_PSH != 0;
    }

    /// Ends the merge: for 2 or more segments, rewrites the lengths, flags
    /// and checksums in `buf` and returns the GSO kind and MSS; the frame is
    /// `buf[..len]` ([`len`](Self::len)).
    pub fn finish(self, buf: &mut [u8]) -> Option<(Kind, u16)> {
        if self.count < 2 {
            return None;
        }
        let f = self.first;
        let len = self.len;
        let b = &mut buf[..len];
        let ip_len = len - f.l3;
        let tcp_len = (len - f.l4) as u32;
        let pseudo = if f.v6 {
            put16(b, f.l3 + 4, (ip_len - IPV6_HLEN) as u16);
            let ip = &b[f.l3..];
            checksum::pseudo_v6(&ip[8..24], &ip[24..40], IPPROTO_TCP, tcp_len)
        } else {
            put16(b, f.l3 + 2, ip_len as u16);
            put16(b, f.l3 + 10, 0);
            let c = checksum::checksum(&b[f.l3..f.l4]);
            put16(b, f.l3 + 10, c);
            let ip = &b[f.l3..];
            checksum::pseudo_v4(&ip[12..16], &ip[16..20], IPPROTO_TCP, tcp_len)
        };
        if self.psh {
            b[f.l4 + 13] |= TCP_PSH;
        }
        put16(b, f.l4 + 16, 0);
        let hsum = checksum::sum(&b[f.l4..f.hdr], pseudo);
        let c = !checksum::fold(hsum + u64::from(self.psum));
        put16(b, f.l4 + 16, c);
        let kind = if f.v6 { Kind::TcpV6 } else { Kind::TcpV4 };
        Some((kind, self.mss))
    }
}

/// A GRO engine for one receive queue, holding at most one pending merge in
/// an `N`-byte buffer ([`MAX_MERGED`] merges up to 64 KiB; a smaller `N`
/// just merges less). Keep it in a `static` or a long-lived struct: it is
/// `N` bytes large. (A domain that builds merges in place, in the ring they
/// leave by, drives [`Merge`] itself.)
#[derive(Clone, Debug)]
pub struct Coalescer<const N: usize> {
    buf: [u8; N],
    /// The longest merged frame allowed (at most `N` and [`MAX_FRAME_LEN`]).
    limit: usize,
    merge: Option<Merge>,
}

impl<const N: usize> Default for Coalescer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Coalescer<N> {
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            limit: if N < MAX_FRAME_LEN { N } else { MAX_FRAME_LEN },
            merge: None,
        }
    }

    /// Caps merged frames at `max_frame` bytes (Ethernet header included),
    /// e.g. the largest frame the receiver's record can carry; the cap never
    /// exceeds `N` or [`MAX_FRAME_LEN`]. Takes effect from the next merge.
    pub fn set_limit(&mut self, max_frame: usize) {
        self.limit = max_frame.min(N).min(MAX_FRAME_LEN);
    }

    /// The longest frame a merge may become.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many segments the pending merge holds (0: none pending).
    pub fn pending(&self) -> usize {
        self.merge.map_or(0, |m| m.count())
    }

    /// Offers one received frame. `out` is called zero, one or two times, in
    /// arrival order: with the pending merge if this frame cannot join it,
    /// with the frame itself if it cannot be held (not a mergeable segment,
    /// PSH on a first segment, larger than the limit), and with the merge it
    /// completes (a short or PSH segment, the segment limit). Otherwise the
    /// frame is copied into the pending merge and `out` is not called.
    pub fn push(&mut self, frame: &[u8], out: &mut dyn FnMut(Merged<'_>)) {
        let seg = parse(frame);
        let seg = match seg {
            Some(s) if s.mergeable(frame.len()) => s,
            _ => {
                self.flush(out);
                let validated = seg.is_some_and(|s| s.verified);
                out(Merged {
                    frame,
                    gso: None,
                    validated,
                });
                return;
            }
        };
        if let Some(m) = self.merge.as_mut() {
            match m.push(&mut self.buf, frame, &seg, self.limit) {
                Pushed::Merged => return,
                Pushed::Complete => return self.flush(out),
                Pushed::Refused => self.flush(out),
            }
        }
        // A PSH segment would be flushed right after it; a frame larger than
        // the limit cannot be held (nor grown).
        if seg.flags & TCP_PSH != 0 || frame.len() > self.limit {
            out(Merged {
                frame,
                gso: None,
                validated: true,
            });
            return;
        }
        self.merge = Merge::start(frame, &seg, &mut self.buf);
    }

    /// Emits the pending merge, if any: call it at the end of each receive
    /// batch, so that no segment waits for the next interrupt.
    pub fn flush(&mut self, out: &mut dyn FnMut(Merged<'_>)) {
        let Some(m) = self.merge.take() else {
            return;
        };
        let len = m.len();
        let gso = m.finish(&mut self.buf);
        out(Merged {
            frame: &self.buf[..len],
            gso,
            validated: true,
        });
    }
}

/// Parses Ethernet (at most one 802.1Q tag), IPv4 (IHL 5, valid header
/// checksum, not a fragment) or IPv6 (TCP as next header) and TCP, and
/// verifies the TCP checksum over the IP packet (any bytes after it are
/// ignored). `None` for anything else, malformed or not TCP.
fn parse(frame: &[u8]) -> Option<TcpSegment> {
    let mut l3 = ETH_HLEN;
    let mut ethertype = get16(frame, 12)?;
    if ethertype == ETHERTYPE_VLAN {
        ethertype = get16(frame, ETH_HLEN + 2)?;
        l3 += VLAN_HLEN;
    }
    let (v6, l4, end) = match ethertype {
        ETHERTYPE_IPV4 => {
            let h = frame.get(l3..l3 + IPV4_HLEN)?;
            let total = usize::from(be16(h, 2));
            if h[0] != 0x45
                || h[9] != IPPROTO_TCP
                || be16(h, 6) & IPV4_FRAG_MASK != 0
                || total < IPV4_HLEN
                || checksum::checksum(h) != 0
            {
                return None;
            }
            (false, l3 + IPV4_HLEN, l3 + total)
        }
        ETHERTYPE_IPV6 => {
            let h = frame.get(l3..l3 + IPV6_HLEN)?;
            if h[0] >> 4 != 6 || h[6] != IPPROTO_TCP {
                return None;
            }
            (
                true,
                l3 + IPV6_HLEN,
                l3 + IPV6_HLEN + usize::from(be16(h, 4)),
            )
        }
        _ => return None,
    };
    let packet = frame.get(..end)?;
    let tcp = packet.get(l4..l4 + TCP_MIN_HLEN)?;
    let thlen = usize::from(tcp[12] >> 4) * 4;
    let hdr = l4 + thlen;
    if thlen < TCP_MIN_HLEN || hdr > end {
        return None;
    }
    let (ip, tcp_len) = (&packet[l3..], (end - l4) as u32);
    let pseudo = if v6 {
        checksum::pseudo_v6(&ip[8..24], &ip[24..40], IPPROTO_TCP, tcp_len)
    } else {
        checksum::pseudo_v4(&ip[12..16], &ip[16..20], IPPROTO_TCP, tcp_len)
    };
    let psum = checksum::fold(checksum::sum(&packet[hdr..], 0));
    let total = checksum::sum(&packet[l4..hdr], pseudo) + u64::from(psum);
    Some(TcpSegment {
        v6,
        l3,
        l4,
        hdr,
        end,
        seq: be32(tcp, 4),
        flags: tcp[13],
        psum,
        verified: checksum::fold(total) == 0xFFFF,
    })
}

fn get16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|w| u16::from_be_bytes([w[0], w[1]]))
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

#[cfg(test)]
mod tests;
