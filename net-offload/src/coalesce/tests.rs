use std::boxed::Box;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::test_frames::{payload_byte, received, refresh, Spec, ACK, CWR, ECE, FIN, PSH};

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const URG: u8 = 0x20;
const SPORT: u16 = 40000;
const ACKNO: u32 = 0x0102_0304;

mod proptests;

/// One emitted frame, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Out {
    frame: Vec<u8>,
    gso: Option<(Kind, u16)>,
    validated: bool,
}

fn collect(outs: &mut Vec<Out>) -> impl FnMut(Merged<'_>) + '_ {
    |m| {
        outs.push(Out {
            frame: m.frame.to_vec(),
            gso: m.gso,
            validated: m.validated,
        })
    }
}

/// Pushes every frame, then flushes; returns everything emitted.
fn run<const N: usize>(c: &mut Coalescer<N>, frames: &[Vec<u8>]) -> Vec<Out> {
    let mut outs = Vec::new();
    let mut out = collect(&mut outs);
    for f in frames {
        c.push(f, &mut out);
    }
    c.flush(&mut out);
    drop(out);
    assert_eq!(c.pending(), 0);
    outs
}

fn gro() -> Box<Coalescer<MAX_MERGED>> {
    Box::new(Coalescer::new())
}

/// A segment of the test flow: `len` payload bytes at stream offset `off`
/// (the payload is `payload_byte` of the offset).
fn seg(s: &Spec, off: u32, len: usize, flags: u8) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| payload_byte(off as usize + i)).collect();
    let sp = Spec {
        seq: s.seq.wrapping_add(off),
        flags,
        ..s.clone()
    };
    received(&sp, SPORT, ACKNO, &data)
}

/// `n` full segments of `mss` bytes from offset 0.
fn run_of(s: &Spec, n: usize, mss: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| seg(s, (i * mss) as u32, mss, ACK)).collect()
}

fn arp() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.resize(60, 0);
    f
}

/// Checks a merge of `parts` (received segments shaped by `s`): headers of
/// the first but for lengths, checksums and PSH; payloads concatenated;
/// valid IPv4 header and TCP checksums; GSO metadata.
fn check_merged(s: &Spec, out: &Out, parts: &[Vec<u8>]) {
    let (l3, l4, hdr) = (s.l3(), s.l4(), s.hdr_len());
    assert!(parts.len() >= 2);
    let first = &parts[0];
    let mss = first.len() - hdr;
    assert_eq!(out.gso, Some((s.kind(), mss as u16)));
    assert!(out.validated);
    let f = &out.frame;
    let joined: Vec<u8> = parts.iter().flat_map(|p| p[hdr..].to_vec()).collect();
    assert_eq!(&f[hdr..], &joined[..], "payload");
    if s.v6 {
        assert_eq!(usize::from(be16(f, l3 + 4)), f.len() - l3 - 40);
        assert_eq!(&f[..l3 + 4], &first[..l3 + 4]);
        assert_eq!(&f[l3 + 6..l4], &first[l3 + 6..l4]);
    } else {
        assert_eq!(usize::from(be16(f, l3 + 2)), f.len() - l3);
        assert_eq!(checksum::checksum(&f[l3..l4]), 0, "IPv4 header checksum");
        assert_eq!(&f[..l3 + 2], &first[..l3 + 2]);
        assert_eq!(&f[l3 + 4..l3 + 10], &first[l3 + 4..l3 + 10]);
        assert_eq!(&f[l3 + 12..l4], &first[l3 + 12..l4]);
    }
    assert_eq!(&f[l4..l4 + 13], &first[l4..l4 + 13]);
    assert_eq!(&f[l4 + 14..l4 + 16], &first[l4 + 14..l4 + 16]);
    assert_eq!(&f[l4 + 18..hdr], &first[l4 + 18..hdr]);
    let psh = parts.iter().any(|p| p[l4 + 13] & PSH != 0);
    assert_eq!(f[l4 + 13], if psh { ACK | PSH } else { ACK });
    assert_eq!(checksum::verify_l4(f), Ok(true), "TCP checksum");
}

fn passed(out: &Out, frame: &[u8], validated: bool) {
    assert_eq!(
        out,
        &Out {
            frame: frame.to_vec(),
            gso: None,
            validated
        }
    );
}

fn variants() -> [Spec; 4] {
    [(false, false), (false, true), (true, false), (true, true)].map(|(v6, vlan)| {
        let mut s = Spec::new(v6, vlan, 0);
        s.tcp_opts = 12;
        s
    })
}

#[test]
fn merges_forty_segments_every_variant() {
    for s in variants() {
        let mss = 1448 - if s.v6 { 20 } else { 0 };
        let frames = run_of(&s, 40, mss);
        let outs = run(&mut gro(), &frames);
        assert_eq!(outs.len(), 1, "{s:?}");
        check_merged(&s, &outs[0], &frames);
        assert_eq!(outs[0].frame.len(), s.hdr_len() + 40 * mss);
    }
}

#[test]
fn sequence_numbers_wrap_and_odd_mss_sums_right() {
    for s in variants() {
        let s = Spec {
            seq: u32::MAX - 1500,
            ..s
        };
        let frames = run_of(&s, 7, 333);
        let outs = run(&mut gro(), &frames);
        assert_eq!(outs.len(), 1);
        check_merged(&s, &outs[0], &frames);
    }
}

#[test]
fn single_segment_passes_through_unchanged() {
    for s in variants() {
        let f = seg(&s, 0, 1000, ACK);
        let outs = run(&mut gro(), core::slice::from_ref(&f));
        assert_eq!(outs.len(), 1);
        passed(&outs[0], &f, true);
    }
}

#[test]
fn out_of_order_segment_flushes() {
    let s = &variants()[0];
    let f = [
        seg(s, 0, 1000, ACK),
        seg(s, 1000, 1000, ACK),
        seg(s, 3000, 1000, ACK),
        seg(s, 2000, 1000, ACK),
        seg(s, 3000, 1000, ACK),
    ];
    let mut c = gro();
    let mut outs = Vec::new();
    for fr in &f[..3] {
        c.push(fr, &mut collect(&mut outs));
    }
    assert_eq!((outs.len(), c.pending()), (1, 1));
    let outs = [outs, run(&mut c, &f[3..])].concat();
    assert_eq!(outs.len(), 3);
    check_merged(s, &outs[0], &f[..2]);
    passed(&outs[1], &f[2], true);
    check_merged(s, &outs[2], &f[3..]);
}

#[test]
fn another_flow_flushes() {
    let s = &variants()[1];
    let a = run_of(s, 3, 1000);
    let b: Vec<Vec<u8>> = (0..3u32)
        .map(|i| {
            let mut f = seg(s, i * 1000, 1000, ACK);
            f[s.l4() + 2] ^= 1;
            refresh(&mut f, s);
            f
        })
        .collect();
    let outs = run(&mut gro(), &[a.clone(), b.clone()].concat());
    assert_eq!(outs.len(), 2);
    check_merged(s, &outs[0], &a);
    check_merged(s, &outs[1], &b);

    // Any header byte the flow or the merge depends on.
    let (l3, l4) = (s.l3(), s.l4());
    for at in [0, 6, 11, 15, l3 + 1, l3 + 8, l3 + 12, l3 + 19, l4, l4 + 3] {
        let mut x = seg(s, 2000, 1000, ACK);
        x[at] ^= 0x10;
        refresh(&mut x, s);
        let f = [a[0].clone(), a[1].clone(), x.clone()];
        let outs = run(&mut gro(), &f);
        assert_eq!(outs.len(), 2, "byte {at}");
        check_merged(s, &outs[0], &f[..2]);
        passed(&outs[1], &x, true);
    }
}

#[test]
fn different_ack_window_or_options_flush() {
    let s = &variants()[2];
    let l4 = s.l4();
    for (at, what) in [
        (l4 + 11, "ack"),
        (l4 + 15, "window"),
        (l4 + 20, "options"),
        (l4 + 31, "options"),
    ] {
        let mut x = seg(s, 2000, 1000, ACK);
        x[at] ^= 0x04;
        refresh(&mut x, s);
        let f = [seg(s, 0, 1000, ACK), seg(s, 1000, 1000, ACK), x.clone()];
        let outs = run(&mut gro(), &f);
        assert_eq!(outs.len(), 2, "{what}");
        check_merged(s, &outs[0], &f[..2]);
        passed(&outs[1], &x, true);
    }
}

#[test]
fn control_flags_end_the_merge_and_pass_through() {
    for s in variants() {
        for flags in [
            ACK | FIN,
            SYN | ACK,
            RST,
            ACK | URG,
            ACK | CWR,
            ACK | ECE,
            FIN | PSH | ACK,
        ] {
            let x = seg(&s, 2000, 100, flags);
            let f = [seg(&s, 0, 1000, ACK), seg(&s, 1000, 1000, ACK), x.clone()];
            let outs = run(&mut gro(), &f);
            assert_eq!(outs.len(), 2);
            check_merged(&s, &outs[0], &f[..2]);
            passed(&outs[1], &x, true);
        }
    }
}

#[test]
fn pure_acks_pass_through() {
    let s = &variants()[0];
    let f = [seg(s, 0, 0, ACK), seg(s, 0, 0, ACK)];
    let outs = run(&mut gro(), &f);
    assert_eq!(outs.len(), 2);
    passed(&outs[0], &f[0], true);
    passed(&outs[1], &f[1], true);
}

#[test]
fn bad_checksum_passes_through_unmerged_and_unvalidated() {
    for s in variants() {
        let mut bad = seg(&s, 1000, 1000, ACK);
        let n = bad.len();
        bad[n - 1] ^= 0x80;
        let f = [
            seg(&s, 0, 1000, ACK),
            bad.clone(),
            seg(&s, 1000, 1000, ACK),
            seg(&s, 2000, 1000, ACK),
        ];
        let outs = run(&mut gro(), &f);
        assert_eq!(outs.len(), 3);
        passed(&outs[0], &f[0], true);
        passed(&outs[1], &bad, false);
        check_merged(&s, &outs[2], &f[2..]);
        // Nor can it start a merge.
        let outs = run(&mut gro(), &[bad.clone(), f[3].clone()]);
        passed(&outs[0], &bad, false);
        passed(&outs[1], &f[3], true);
    }
}

#[test]
fn bad_ipv4_header_checksum_is_not_merged() {
    let s = &variants()[0];
    let mut bad = seg(s, 1000, 1000, ACK);
    bad[s.l3() + 8] ^= 1; // TTL, header checksum left stale
    let f = [seg(s, 0, 1000, ACK), bad.clone()];
    let outs = run(&mut gro(), &f);
    passed(&outs[0], &f[0], true);
    passed(&outs[1], &bad, false);
}

#[test]
fn short_segment_ends_the_merge() {
    let s = &variants()[3];
    let f = [
        seg(s, 0, 1000, ACK),
        seg(s, 1000, 1000, ACK),
        seg(s, 2000, 999, ACK),
        seg(s, 2999, 1000, ACK),
        seg(s, 3999, 1001, ACK),
    ];
    let mut c = gro();
    let mut outs = Vec::new();
    for fr in &f[..3] {
        c.push(fr, &mut collect(&mut outs));
    }
    assert_eq!((outs.len(), c.pending()), (1, 0));
    check_merged(s, &outs[0], &f[..3]);
    // A segment longer than the first is not merged either.
    let outs = run(&mut c, &f[3..]);
    assert_eq!(outs.len(), 2);
    passed(&outs[0], &f[3], true);
    passed(&outs[1], &f[4], true);
}

#[test]
fn psh_ends_the_merge() {
    let s = &variants()[0];
    let f = [
        seg(s, 0, 1000, ACK),
        seg(s, 1000, 1000, ACK | PSH),
        seg(s, 2000, 1000, ACK | PSH),
        seg(s, 3000, 1000, ACK),
        seg(s, 4000, 1000, ACK),
    ];
    let mut c = gro();
    let mut outs = Vec::new();
    for fr in &f[..3] {
        c.push(fr, &mut collect(&mut outs));
    }
    // The merge flushed at once, and a first segment with PSH is not held.
    assert_eq!((outs.len(), c.pending()), (2, 0));
    check_merged(s, &outs[0], &f[..2]);
    passed(&outs[1], &f[2], true);
    let outs = run(&mut c, &f[3..]);
    check_merged(s, &outs[0], &f[3..]);
}

#[test]
fn buffer_size_bounds_the_merge() {
    let s = variants()[0].clone();
    let frames = run_of(&s, 10, 1000);
    // Room for the headers and 3.5 payloads.
    const N: usize = 14 + 20 + 32 + 3500;
    let outs = run(&mut Coalescer::<N>::new(), &frames);
    assert_eq!(outs.len(), 4);
    for (o, part) in outs[..3].iter().zip(frames.chunks(3)) {
        check_merged(&s, o, part);
        assert!(o.frame.len() <= N);
    }
    passed(&outs[3], &frames[9], true);
    // A frame larger than the buffer passes through.
    let outs = run(&mut Coalescer::<100>::new(), &frames[..2]);
    passed(&outs[0], &frames[0], true);
    passed(&outs[1], &frames[1], true);
}

#[test]
fn segment_count_and_ip_length_bound_the_merge() {
    let s = variants()[0].clone();
    let frames = run_of(&s, 100, 100);
    let outs = run(&mut gro(), &frames);
    assert_eq!(outs.len(), 2);
    check_merged(&s, &outs[0], &frames[..64]);
    check_merged(&s, &outs[1], &frames[64..]);

    // Segments are at most MTU-sized (1448 bytes behind 32 bytes of TCP
    // header), so the frame bound (65535 - 14 - 20 - 32 = 65469 =
    // 45 * 1448 + 309) binds before the IP length's (65535 - 20 - 32).
    let frames = run_of(&s, 46, 1448);
    let outs = run(&mut gro(), &frames);
    assert_eq!(outs.len(), 2);
    check_merged(&s, &outs[0], &frames[..45]);
    passed(&outs[1], &frames[45], true);
    let ip_len = be16(&outs[0].frame, s.l3() + 2);
    assert_eq!(usize::from(ip_len), 20 + 32 + 45 * 1448);
}

/// The remote attack of issue 9 (A.1): back-to-back segments of one flow
/// (45 × 1448 with timestamps, then a short one) used to merge into a frame
/// of 65,549 bytes (65,553 tagged): within the IP length bound, beyond what
/// netif or a wire record carries. Every merge now stays within
/// [`MAX_FRAME_LEN`], and the stream is intact.
#[test]
fn merges_never_exceed_the_largest_netif_frame() {
    for vlan in [false, true] {
        let mut s = Spec::new(false, vlan, 0);
        s.tcp_opts = 12;
        let mut frames = run_of(&s, 45, 1448);
        let room = 65535 - 20 - 32 - 45 * 1448;
        frames.push(seg(&s, 45 * 1448, room, ACK));
        let outs = run(&mut gro(), &frames);
        assert_eq!(outs.len(), 2, "vlan={vlan}");
        check_merged(&s, &outs[0], &frames[..45]);
        passed(&outs[1], &frames[45], true);
        assert!(outs.iter().all(|o| o.frame.len() <= MAX_FRAME_LEN));
        // The old bound alone (IP length) would have taken the short one too.
        assert!(s.l3() + 20 + 32 + 45 * 1448 + room > MAX_FRAME_LEN);
    }
}

/// Found by the `coalesce` fuzz target: segments longer than an MTU-sized
/// frame (giants from the network) were merged with an MSS no segmenter
/// may cut (`MssTooLarge`), so the merge could not be re-segmented.
#[test]
fn giants_pass_through_unmerged() {
    for s in variants() {
        let hdr = s.hdr_len();
        let max = if s.l3() > 14 { 1518 } else { 1514 };
        let fit = run_of(&s, 2, max - hdr);
        let outs = run(&mut gro(), &fit);
        assert_eq!(outs.len(), 1);
        check_merged(&s, &outs[0], &fit);
        let (kind, mss) = outs[0].gso.unwrap();
        let mut copy = outs[0].frame.clone();
        let loc = checksum::locate(&copy).unwrap();
        checksum::set_pseudo(&mut copy, &loc).unwrap();
        assert!(crate::segment(&copy, kind, mss, &mut |_| {}).is_ok());
        let giants = run_of(&s, 2, max - hdr + 1);
        let outs = run(&mut gro(), &giants);
        assert_eq!(outs.len(), 2);
        passed(&outs[0], &giants[0], true);
        passed(&outs[1], &giants[1], true);
    }
}

#[test]
fn a_lower_limit_caps_every_merge() {
    let s = variants()[0].clone();
    let frames = run_of(&s, 40, 1000);
    let mut c = gro();
    c.set_limit(14 + 20 + 32 + 4500);
    assert_eq!(c.limit(), 14 + 20 + 32 + 4500);
    let outs = run(&mut c, &frames);
    assert_eq!(outs.len(), 10);
    for (o, part) in outs.iter().zip(frames.chunks(4)) {
        check_merged(&s, o, part);
    }
    // Never above the netif bound, whatever is asked.
    c.set_limit(usize::MAX);
    assert_eq!(c.limit(), MAX_FRAME_LEN);
}

#[test]
fn interleaved_frames_keep_arrival_order() {
    let s = variants()[1].clone();
    let d = run_of(&s, 5, 1000);
    let mut udp = seg(&s, 9000, 50, ACK);
    udp[s.l3() + 9] = 17;
    let f = [
        d[0].clone(),
        d[1].clone(),
        arp(),
        d[2].clone(),
        d[3].clone(),
        udp.clone(),
        d[4].clone(),
    ];
    let outs = run(&mut gro(), &f);
    assert_eq!(outs.len(), 5);
    check_merged(&s, &outs[0], &d[..2]);
    passed(&outs[1], &f[2], false);
    check_merged(&s, &outs[2], &d[2..4]);
    passed(&outs[3], &udp, false);
    passed(&outs[4], &d[4], true);
}

#[test]
fn ipv4_identification_without_df_must_increase() {
    let s = variants()[0].clone();
    let l3 = s.l3();
    let with_ids = |ids: [u16; 3]| -> Vec<Vec<u8>> {
        (0..3)
            .map(|i| {
                let mut f = seg(&s, i as u32 * 500, 500, ACK);
                f[l3 + 4..l3 + 6].copy_from_slice(&ids[i].to_be_bytes());
                f[l3 + 6] = 0; // DF clear
                refresh(&mut f, &s);
                f
            })
            .collect()
    };
    let f = with_ids([0xFFFF, 0, 1]);
    let outs = run(&mut gro(), &f);
    assert_eq!(outs.len(), 1);
    check_merged(&s, &outs[0], &f);
    let f = with_ids([7, 7, 7]);
    assert_eq!(run(&mut gro(), &f).len(), 3);
    // With DF the identification is not looked at (but DF must match).
    let f = run_of(&s, 3, 500);
    let outs = run(&mut gro(), &f);
    assert_eq!(outs.len(), 1);
    let mut mixed = with_ids([0x1234, 0x1235, 0x1236]);
    mixed[0] = f[0].clone();
    assert_eq!(run(&mut gro(), &mixed).len(), 2);
}

#[test]
fn padded_and_truncated_frames_pass_through() {
    let s = Spec::new(false, false, 0);
    let mut small = seg(&s, 4, 4, ACK);
    assert!(small.len() < 60);
    small.resize(60, 0);
    let f = [seg(&s, 0, 4, ACK), small.clone()];
    let outs = run(&mut gro(), &f);
    passed(&outs[0], &f[0], true);
    passed(&outs[1], &small, true);

    let whole = seg(&s, 0, 1000, ACK);
    for n in 0..whole.len() {
        let outs = run(&mut gro(), &[whole[..n].to_vec()]);
        passed(&outs[0], &whole[..n], false);
    }
}

#[test]
fn ipv6_extension_headers_are_not_merged() {
    let mut s = variants()[2].clone();
    s.ip_opts = 8;
    let f = run_of(&s, 3, 1000);
    let outs = run(&mut gro(), &f);
    assert_eq!(outs.len(), 3);
    for (o, fr) in outs.iter().zip(&f) {
        passed(o, fr, false);
    }
}
