//! Test frames for transmit offloads, shared by the drivers' tests: TCP or
//! UDP over IPv4 or IPv6, optionally tagged, with junk in the checksum
//! fields (the driver or device fills them), and a checker for the
//! segments a TSO frame must come out as.

use std::vec::Vec;

use net_offload::checksum::{checksum, verify_l4};

use super::TxOffload;

pub const FIN: u8 = 0x01;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const SEQ: u32 = 0xFFFF_F000;
pub const IP_ID: u16 = 0xFFFE;

/// The shape of a test frame.
#[derive(Clone, Copy)]
pub struct Shape {
    pub v6: bool,
    pub vlan: bool,
    pub udp: bool,
    /// TCP option bytes (NOPs).
    pub opts: usize,
    pub payload: usize,
    pub flags: u8,
}

pub fn tcp4(payload: usize) -> Shape {
    Shape {
        v6: false,
        vlan: false,
        udp: false,
        opts: 0,
        payload,
        flags: ACK | PSH | FIN,
    }
}

/// A frame of `s` whose checksum fields hold junk (the driver fills them),
/// except the IPv4 header checksum, valid as a guest leaves it; and the
/// request describing it.
pub fn build(s: Shape, mss: Option<u16>) -> (Vec<u8>, TxOffload) {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if s.vlan {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    }
    let l3 = f.len() + 2;
    let l4_len = if s.udp { 8 } else { 20 + s.opts };
    let l4_total = l4_len + s.payload;
    let proto = if s.udp { 17 } else { 6 };
    if s.v6 {
        f.extend_from_slice(&[0x86, 0xDD, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4_total as u16).to_be_bytes());
        f.extend_from_slice(&[proto, 64]);
        f.extend_from_slice(&[0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        f.extend_from_slice(&((20 + l4_total) as u16).to_be_bytes());
        f.extend_from_slice(&IP_ID.to_be_bytes());
        f.extend_from_slice(&[0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let c = checksum(&f[l3..l3 + 20]);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let l4 = f.len();
    f.extend_from_slice(&[0x9C, 0x40, 0x00, 0x50]);
    if s.udp {
        f.extend_from_slice(&(l4_total as u16).to_be_bytes());
        f.extend_from_slice(&[0xBE, 0xEF]);
    } else {
        f.extend_from_slice(&SEQ.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, ((l4_len / 4) as u8) << 4, s.flags]);
        f.extend_from_slice(&[0xFF, 0xFF, 0xBE, 0xEF, 0, 0]);
        f.resize(l4 + l4_len, 1);
    }
    f.extend((0..s.payload).map(|i| (i * 7 + i / 251) as u8));
    let req = TxOffload {
        l3_start: l3 as u16,
        l4_start: l4 as u16,
        csum_offset: if s.udp { 6 } else { 16 },
        ipv6: s.v6,
        tso_mss: mss,
        l4_len: l4_len as u16,
    };
    (f, req)
}

/// Checks TSO output against its input and returns the segment count.
pub fn check_segments(s: Shape, input: &[u8], req: &TxOffload, segs: &[Vec<u8>]) {
    let (l3, l4) = (usize::from(req.l3_start), usize::from(req.l4_start));
    let hdr = l4 + usize::from(req.l4_len);
    let mss = usize::from(req.tso_mss.unwrap());
    assert_eq!(segs.len(), s.payload.div_ceil(mss));
    let mut payload = Vec::new();
    for (k, seg) in segs.iter().enumerate() {
        assert!(seg.len() <= hdr + mss);
        assert_eq!(verify_l4(seg), Ok(true), "segment {k}");
        assert_eq!(seg[..l3], input[..l3]);
        if s.v6 {
            assert_eq!(
                usize::from(u16::from_be_bytes([seg[l3 + 4], seg[l3 + 5]])),
                seg.len() - l3 - 40
            );
        } else {
            assert_eq!(checksum(&seg[l3..l4]), 0, "IPv4 header checksum");
            assert_eq!(
                usize::from(u16::from_be_bytes([seg[l3 + 2], seg[l3 + 3]])),
                seg.len() - l3
            );
            assert_eq!(
                u16::from_be_bytes([seg[l3 + 4], seg[l3 + 5]]),
                IP_ID.wrapping_add(k as u16)
            );
        }
        let seq = u32::from_be_bytes(seg[l4 + 4..l4 + 8].try_into().unwrap());
        assert_eq!(seq, SEQ.wrapping_add((k * mss) as u32));
        let last = k + 1 == segs.len();
        let want = if last {
            s.flags
        } else {
            s.flags & !(FIN | PSH)
        };
        assert_eq!(seg[l4 + 13], want);
        assert_eq!(seg[l4 + 20..hdr], input[l4 + 20..hdr], "TCP options");
        payload.extend_from_slice(&seg[hdr..]);
    }
    assert_eq!(payload, input[hdr..]);
}
