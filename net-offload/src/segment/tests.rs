use std::vec::Vec;

use super::*;
use crate::checksum::CsumError;
use crate::test_frames::{build, check, cut, Spec, ACK, CWR, ECE, FIN, PSH};

/// Builds, segments and checks; returns the segments.
fn run(s: &Spec, mss: u16) -> Vec<Vec<u8>> {
    let f = build(s);
    let segs = cut(&f, s.kind(), mss).unwrap();
    check(s, &f, &segs, mss.into());
    segs
}

#[test]
fn v4_with_and_without_vlan() {
    for vlan in [false, true] {
        let s = Spec::new(false, vlan, 5000);
        let segs = run(&s, 1460);
        let lens: Vec<usize> = segs.iter().map(Vec::len).collect();
        let full = s.l3() + 20 + 20 + 1460;
        assert_eq!(lens, [full, full, full, s.hdr_len() + 620]);
        assert_eq!(full, if vlan { 1518 } else { 1514 });
    }
}

#[test]
fn v6_with_and_without_vlan() {
    for vlan in [false, true] {
        let s = Spec::new(true, vlan, 4000);
        let segs = run(&s, 1440);
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0].len(), s.max_frame());
    }
}

#[test]
fn ip_and_tcp_options_are_copied() {
    let mut s = Spec::new(false, true, 3000);
    s.ip_opts = 8;
    s.tcp_opts = 12;
    run(&s, 1000);
    let mut s6 = Spec::new(true, false, 3000);
    s6.ip_opts = 16;
    s6.tcp_opts = 12;
    run(&s6, 1000);
}

#[test]
fn fin_psh_on_last_cwr_on_first() {
    let mut s = Spec::new(false, false, 3500);
    s.flags = ACK | PSH | FIN | CWR | ECE;
    let segs = run(&s, 1000);
    let flags: Vec<u8> = segs.iter().map(|g| g[14 + 20 + 13]).collect();
    assert_eq!(
        flags,
        [ACK | CWR | ECE, ACK | ECE, ACK | ECE, ACK | PSH | FIN | ECE]
    );
    s.v6 = true;
    s.payload = 500;
    let one = run(&s, 1000);
    assert_eq!(one[0][14 + 40 + 13], s.flags);
}

#[test]
fn ipv4_id_increments_and_wraps() {
    let mut s = Spec::new(false, false, 4 * 536);
    s.ip_id = 0xFFFE;
    let ids: Vec<u16> = run(&s, 536)
        .iter()
        .map(|g| u16::from_be_bytes([g[18], g[19]]))
        .collect();
    assert_eq!(ids, [0xFFFE, 0xFFFF, 0, 1]);
}

#[test]
fn sequence_numbers_wrap() {
    let mut s = Spec::new(true, false, 3000);
    s.seq = u32::MAX - 100;
    run(&s, 1000);
}

#[test]
fn mss_boundaries() {
    for (payload, mss, count) in [
        (0, 1000, 1),
        (1, 1000, 1),
        (999, 1000, 1),
        (1000, 1000, 1),
        (1001, 1000, 2),
        (3000, 1000, 3),
        (3001, 1000, 4),
        (7, 1, 7),
    ] {
        for (v6, vlan) in [(false, false), (true, true)] {
            let segs = run(&Spec::new(v6, vlan, payload), mss);
            assert_eq!(segs.len(), count, "payload {payload} mss {mss}");
        }
    }
}

#[test]
fn single_segment_gets_a_complete_checksum_whatever_the_input_field() {
    for garbage in [[0, 0], [0xde, 0xad], [0xff, 0xff]] {
        let s = Spec::new(false, false, 100);
        let mut f = build(&s);
        f[14 + 20 + 16..14 + 20 + 18].copy_from_slice(&garbage);
        let segs = cut(&f, Kind::TcpV4, 1460).unwrap();
        check(&s, &f, &segs, 1460);
    }
}

#[test]
fn ethernet_padding_is_dropped_only_from_minimum_frames() {
    let s = Spec::new(false, false, 2);
    let mut f = build(&s);
    f.resize(60, 0);
    let segs = cut(&f, Kind::TcpV4, 1460).unwrap();
    assert_eq!(segs[0].len(), s.hdr_len() + 2);
    let s = Spec::new(false, false, 1000);
    let mut f = build(&s);
    f.push(0);
    assert_eq!(cut(&f, Kind::TcpV4, 500), Err(OffloadError::LengthMismatch));
}

#[test]
fn refuses_truncated_headers() {
    for (v6, vlan) in [(false, false), (false, true), (true, false), (true, true)] {
        let s = Spec::new(v6, vlan, 100);
        let f = build(&s);
        for n in 0..s.hdr_len() {
            assert!(cut(&f[..n], s.kind(), 100).is_err(), "{n} bytes");
        }
        assert_eq!(
            cut(&f[..s.l3() + 10], s.kind(), 100),
            Err(OffloadError::Truncated)
        );
    }
    let mut s = Spec::new(false, false, 0);
    s.tcp_opts = 8;
    let mut f = build(&s);
    f[14 + 20 + 12] = 0xF0;
    assert_eq!(cut(&f, Kind::TcpV4, 100), Err(OffloadError::Truncated));
}

#[test]
fn refuses_ip_length_mismatch() {
    let f = build(&Spec::new(false, false, 1000));
    assert_eq!(
        cut(&f[..f.len() - 1], Kind::TcpV4, 500),
        Err(OffloadError::LengthMismatch)
    );
    let mut short = f.clone();
    short[16..18].copy_from_slice(&39u16.to_be_bytes());
    assert_eq!(
        cut(&short, Kind::TcpV4, 500),
        Err(OffloadError::LengthMismatch)
    );

    let f6 = build(&Spec::new(true, true, 1000));
    assert_eq!(
        cut(&f6[..f6.len() - 1], Kind::TcpV6, 500),
        Err(OffloadError::LengthMismatch)
    );
    let mut jumbo = f6.clone();
    jumbo[22..24].copy_from_slice(&[0, 0]);
    assert_eq!(cut(&jumbo, Kind::TcpV6, 500), Err(OffloadError::BadHeader));
}

#[test]
fn refuses_bad_headers() {
    let f = build(&Spec::new(false, false, 100));
    for (at, v) in [(14, 0x44), (14, 0x65), (14 + 20 + 12, 0x40)] {
        let mut bad = f.clone();
        bad[at] = v;
        assert_eq!(cut(&bad, Kind::TcpV4, 100), Err(OffloadError::BadHeader));
    }
    let mut bad6 = build(&Spec::new(true, false, 100));
    bad6[14] = 0x40;
    assert_eq!(cut(&bad6, Kind::TcpV6, 100), Err(OffloadError::BadHeader));
}

#[test]
fn refuses_fragments() {
    let f = build(&Spec::new(false, false, 100));
    for frag in [[0x20, 0x00], [0x00, 0x01], [0x40 | 0x1F, 0xFF]] {
        let mut bad = f.clone();
        bad[20..22].copy_from_slice(&frag);
        assert_eq!(cut(&bad, Kind::TcpV4, 100), Err(OffloadError::Fragment));
    }
    let mut s = Spec::new(true, false, 100);
    s.ip_opts = 8;
    let mut f6 = build(&s);
    f6[20] = 44;
    assert_eq!(cut(&f6, Kind::TcpV6, 100), Err(OffloadError::Fragment));
}

#[test]
fn refuses_unsupported_ipv6_extension_headers() {
    let mut s = Spec::new(true, false, 100);
    s.ip_opts = 8;
    let f = build(&s);
    for (next, err) in [
        (0, Ok(1)),
        (43, Err(OffloadError::UnsupportedExtension(43))),
        (51, Err(OffloadError::UnsupportedExtension(51))),
    ] {
        let mut e = f.clone();
        e[20] = next;
        assert_eq!(cut(&e, Kind::TcpV6, 100).map(|v| v.len()), err);
    }
    let mut late_hop = f.clone();
    late_hop[54] = 0;
    assert_eq!(
        cut(&late_hop, Kind::TcpV6, 100),
        Err(OffloadError::UnsupportedExtension(0))
    );
}

#[test]
fn refuses_non_tcp_and_wrong_kind() {
    let f = build(&Spec::new(false, false, 100));
    let mut udp = f.clone();
    udp[23] = 17;
    assert_eq!(cut(&udp, Kind::TcpV4, 100), Err(OffloadError::NotTcp(17)));
    let mut f6 = build(&Spec::new(true, false, 100));
    assert_eq!(
        cut(&f6, Kind::TcpV4, 100),
        Err(OffloadError::KindMismatch(0x86DD))
    );
    assert_eq!(
        cut(&f, Kind::TcpV6, 100),
        Err(OffloadError::KindMismatch(0x0800))
    );
    f6[20] = 58;
    assert_eq!(cut(&f6, Kind::TcpV6, 100), Err(OffloadError::NotTcp(58)));
    let mut arp = f.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(
        cut(&arp, Kind::TcpV4, 100),
        Err(OffloadError::KindMismatch(0x0806))
    );
}

#[test]
fn refuses_mss_zero_or_too_large() {
    let s = Spec::new(false, false, 3000);
    let f = build(&s);
    assert_eq!(cut(&f, Kind::TcpV4, 0), Err(OffloadError::MssZero));
    assert_eq!(
        cut(&f, Kind::TcpV4, 1461),
        Err(OffloadError::MssTooLarge {
            mss: 1461,
            max: 1460
        })
    );
    let mut tagged = Spec::new(true, true, 3000);
    tagged.tcp_opts = 12;
    assert_eq!(
        cut(&build(&tagged), Kind::TcpV6, 1440),
        Err(OffloadError::MssTooLarge {
            mss: 1440,
            max: 1428
        })
    );
    run(&tagged, 1428);
    let small = Spec::new(false, false, 1000);
    assert_eq!(run(&small, u16::MAX).len(), 1);
}

#[test]
fn nothing_is_emitted_on_error() {
    let f = build(&Spec::new(false, false, 3000));
    let mut emitted = 0;
    let r = segment(&f[..f.len() - 1], Kind::TcpV4, 1000, &mut |_| emitted += 1);
    assert_eq!((r, emitted), (Err(OffloadError::LengthMismatch), 0));
}

#[test]
fn complete_checksum_finishes_a_partial_checksum() {
    let s = Spec::new(true, true, 300);
    let mut f = build(&s);
    assert_eq!(checksum::verify_l4(&f), Ok(false));
    complete_checksum(&mut f, s.l4(), 16).unwrap();
    assert_eq!(checksum::verify_l4(&f), Ok(true));
    let len = f.len();
    assert_eq!(
        complete_checksum(&mut f, len - 1, 0),
        Err(OffloadError::Checksum(CsumError::OutOfRange))
    );
    assert_eq!(
        complete_checksum(&mut f, 2, 0),
        Err(OffloadError::Checksum(CsumError::OutOfRange))
    );
}

/// Segmenting from the headers alone (the payload stays where it is) gives
/// the same segments, once each is gathered and its checksum completed.
#[test]
fn segmenter_from_headers_alone_matches() {
    for (v6, vlan) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut s = Spec::new(v6, vlan, 9000);
        s.tcp_opts = 12;
        let frame = build(&s);
        let whole = run(&s, 1400);
        let head = &frame[..s.hdr_len() + 7];
        let segs = Segmenter::new(head, frame.len(), s.kind(), 1400).unwrap();
        assert_eq!(segs.segments(), whole.len());
        let mut n = 0;
        for (seg, want) in segs.zip(&whole) {
            let mut got = seg.header().to_vec();
            got.extend_from_slice(&frame[seg.payload.clone()]);
            checksum::complete(&mut got, seg.csum_start.into(), seg.csum_offset.into()).unwrap();
            assert_eq!(&got, want);
            n += 1;
        }
        assert_eq!(n, whole.len());
        // The headers must all be in `head`.
        assert!(Segmenter::new(&frame[..s.hdr_len() - 1], frame.len(), s.kind(), 1400).is_err());
    }
}
