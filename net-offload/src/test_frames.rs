//! Super-frames for the tests, and a checker of everything a segmentation
//! must preserve or rewrite.

use std::vec;
use std::vec::Vec;

use crate::checksum::{self, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_TCP};
use crate::segment::{segment, Kind, MAX_FRAME, MAX_FRAME_VLAN};
use crate::OffloadError;

pub const FIN: u8 = 0x01;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const ECE: u8 = 0x40;
pub const CWR: u8 = 0x80;

/// The shape of a TCP super-frame.
#[derive(Clone, Debug)]
pub struct Spec {
    pub v6: bool,
    pub vlan: bool,
    pub payload: usize,
    /// TCP option bytes (a multiple of 4, NOPs).
    pub tcp_opts: usize,
    /// IPv4 option bytes (a multiple of 4, NOPs) or the size of an IPv6
    /// destination-options header (a multiple of 8, PadN).
    pub ip_opts: usize,
    pub flags: u8,
    pub seq: u32,
    pub ip_id: u16,
}

impl Spec {
    pub fn new(v6: bool, vlan: bool, payload: usize) -> Self {
        Self {
            v6,
            vlan,
            payload,
            tcp_opts: 0,
            ip_opts: 0,
            flags: ACK,
            seq: 0xFFFF_F000,
            ip_id: 0x1234,
        }
    }

    pub fn kind(&self) -> Kind {
        if self.v6 {
            Kind::TcpV6
        } else {
            Kind::TcpV4
        }
    }

    pub fn l3(&self) -> usize {
        if self.vlan {
            18
        } else {
            14
        }
    }

    pub fn l4(&self) -> usize {
        self.l3() + if self.v6 { 40 } else { 20 } + self.ip_opts
    }

    pub fn hdr_len(&self) -> usize {
        self.l4() + 20 + self.tcp_opts
    }

    pub fn max_frame(&self) -> usize {
        if self.vlan {
            MAX_FRAME_VLAN
        } else {
            MAX_FRAME
        }
    }
}

pub fn payload_byte(i: usize) -> u8 {
    (i % 251) as u8 ^ (i >> 8) as u8
}

fn push16(f: &mut Vec<u8>, v: u16) {
    f.extend_from_slice(&v.to_be_bytes());
}

/// Builds the super-frame, its TCP checksum field holding the pseudo-header
/// sum as a Linux `CHECKSUM_PARTIAL` sender leaves it.
pub fn build(s: &Spec) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    if s.vlan {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    }
    let tcp_len = 20 + s.tcp_opts + s.payload;
    if s.v6 {
        push16(&mut f, ETHERTYPE_IPV6);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        push16(&mut f, u16::try_from(s.ip_opts + tcp_len).unwrap());
        f.push(if s.ip_opts > 0 { 60 } else { IPPROTO_TCP });
        f.push(64);
        f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        if s.ip_opts > 0 {
            f.extend_from_slice(&[IPPROTO_TCP, (s.ip_opts / 8 - 1) as u8, 1]);
            f.push((s.ip_opts - 4) as u8);
            f.resize(f.len() + s.ip_opts - 4, 0);
        }
    } else {
        push16(&mut f, ETHERTYPE_IPV4);
        let l3 = f.len();
        let ihl = 20 + s.ip_opts;
        f.extend_from_slice(&[0x40 | (ihl / 4) as u8, 0]);
        push16(&mut f, u16::try_from(ihl + tcp_len).unwrap());
        push16(&mut f, s.ip_id);
        f.extend_from_slice(&[0x40, 0, 64, IPPROTO_TCP, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        f.resize(f.len() + s.ip_opts, 1);
        let c = checksum::checksum(&f[l3..]);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&[0x9c, 0x40, 0x00, 0x50]);
    f.extend_from_slice(&s.seq.to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4, (((20 + s.tcp_opts) / 4) << 4) as u8, s.flags]);
    f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    f.resize(f.len() + s.tcp_opts, 1);
    f.extend((0..s.payload).map(payload_byte));
    let loc = checksum::locate(&f).unwrap();
    checksum::set_pseudo(&mut f, &loc).unwrap();
    f
}

/// Runs [`segment`], collecting the segments.
pub fn cut(frame: &[u8], kind: Kind, mss: u16) -> Result<Vec<Vec<u8>>, OffloadError> {
    let mut segs = Vec::new();
    let n = segment(frame, kind, mss, &mut |s| segs.push(s.to_vec()))?;
    assert_eq!(n, segs.len());
    Ok(segs)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Asserts that `a` and `b` agree outside the byte ranges in `skip`.
fn same_except(a: &[u8], b: &[u8], skip: &[(usize, usize)]) {
    assert_eq!(a.len(), b.len());
    for i in 0..a.len() {
        if !skip.iter().any(|&(s, e)| (s..e).contains(&i)) {
            assert_eq!(a[i], b[i], "header byte {i}");
        }
    }
}

/// Checks the segments cut from `build(s)` with `mss`: sizes, copied and
/// rewritten header fields, flags, checksums, and that their payloads
/// concatenate to the super-frame's.
pub fn check(s: &Spec, frame: &[u8], segs: &[Vec<u8>], mss: usize) {
    let (l3, l4, hdr) = (s.l3(), s.l4(), s.hdr_len());
    let payload = &frame[hdr..];
    assert_eq!(segs.len(), payload.len().div_ceil(mss).max(1));
    let mut joined = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        assert!(
            seg.len() <= s.max_frame(),
            "segment {i}: {} bytes",
            seg.len()
        );
        let data = &seg[hdr..];
        assert!(data.len() <= mss);
        if !last {
            assert_eq!(data.len(), mss);
        }
        let ip_skip = if s.v6 {
            assert_eq!(usize::from(be16(seg, l3 + 4)), seg.len() - l3 - 40);
            [(l3 + 4, l3 + 6), (0, 0), (0, 0)]
        } else {
            assert_eq!(usize::from(be16(seg, l3 + 2)), seg.len() - l3);
            assert_eq!(be16(seg, l3 + 4), s.ip_id.wrapping_add(i as u16));
            assert_eq!(checksum::checksum(&seg[l3..l4]), 0, "IPv4 header checksum");
            [(l3 + 2, l3 + 6), (l3 + 10, l3 + 12), (0, 0)]
        };
        same_except(&seg[..l4], &frame[..l4], &ip_skip);
        same_except(
            &seg[l4..hdr],
            &frame[l4..hdr],
            &[(4, 8), (13, 14), (16, 18)],
        );
        let seq = s.seq.wrapping_add(joined.len() as u32);
        assert_eq!(be32(seg, l4 + 4), seq, "segment {i} sequence number");
        let mut flags = s.flags;
        if !last {
            flags &= !(FIN | PSH);
        }
        if i > 0 {
            flags &= !CWR;
        }
        assert_eq!(seg[l4 + 13], flags, "segment {i} flags");
        assert_eq!(
            checksum::verify_l4(seg),
            Ok(true),
            "segment {i} TCP checksum"
        );
        joined.extend_from_slice(data);
    }
    assert_eq!(joined, payload);
}

/// A segment as a NIC receives it: `build(s)` carrying `payload`, from source
/// port `sport`, acknowledging `ack`, with complete IPv4 header and TCP
/// checksums.
pub fn received(s: &Spec, sport: u16, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = build(&Spec {
        payload: payload.len(),
        ..s.clone()
    });
    let l4 = s.l4();
    f[l4..l4 + 2].copy_from_slice(&sport.to_be_bytes());
    f[l4 + 8..l4 + 12].copy_from_slice(&ack.to_be_bytes());
    f[s.hdr_len()..].copy_from_slice(payload);
    refresh(&mut f, s);
    f
}

/// Recomputes the IPv4 header checksum and the full TCP checksum of a frame
/// shaped by `s` after its bytes were edited.
pub fn refresh(f: &mut [u8], s: &Spec) {
    let (l3, l4) = (s.l3(), s.l4());
    if !s.v6 {
        f[l3 + 10..l3 + 12].fill(0);
        let c = checksum::checksum(&f[l3..l4]);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let loc = checksum::locate(f).unwrap();
    checksum::set_pseudo(f, &loc).unwrap();
    checksum::complete(f, l4, 16).unwrap();
}
