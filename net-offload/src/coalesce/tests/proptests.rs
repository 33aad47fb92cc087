use proptest::prelude::*;
use std::vec::Vec;

use super::*;

/// A flow's shape: IP version, tag, MSS and TCP options.
fn flow() -> impl Strategy<Value = (Spec, usize)> {
    (
        any::<bool>(),
        any::<bool>(),
        1usize..=1400,
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(|(v6, vlan, mss, opts, seq)| {
            let mut s = Spec::new(v6, vlan, 0);
            s.tcp_opts = if opts { 12 } else { 0 };
            s.seq = seq;
            (s, mss)
        })
}

#[derive(Clone, Debug)]
enum Ev {
    /// The flow's next segment: full-sized, or `short` bytes, maybe PSH.
    Seg {
        flow: usize,
        short: Option<usize>,
        psh: bool,
    },
    /// The flow's next segment is lost.
    Drop(usize),
    /// The flow's next segment arrives with a corrupted payload.
    Bad(usize),
    /// The flow's next segment carries FIN.
    Fin(usize),
    Arp,
    /// The end of a receive batch.
    Flush,
    /// The last two frames arrive the other way round.
    Swap,
}

fn ev() -> impl Strategy<Value = Ev> {
    let f = 0usize..4;
    prop_oneof![
        12 => (f.clone(), any::<bool>()).prop_map(|(flow, psh)| Ev::Seg {
            flow,
            short: None,
            psh: psh && flow == 0
        }),
        2 => (f.clone(), 0usize..1400, any::<bool>()).prop_map(|(flow, n, psh)| Ev::Seg {
            flow,
            short: Some(n),
            psh
        }),
        1 => f.clone().prop_map(Ev::Drop),
        1 => f.clone().prop_map(Ev::Bad),
        1 => f.prop_map(Ev::Fin),
        1 => Just(Ev::Arp),
        1 => Just(Ev::Flush),
        1 => Just(Ev::Swap),
    ]
}

/// One received frame and what it carries.
#[derive(Clone, Debug)]
struct Arrival {
    frame: Vec<u8>,
    /// The flow index for TCP frames.
    flow: Option<usize>,
    seq: u32,
    payload: Vec<u8>,
}

fn data_at(flow: usize, seq: u32) -> u8 {
    (seq.wrapping_mul(2_654_435_761) >> 13) as u8 ^ flow as u8
}

/// Builds the arrivals (`None` marks a batch end).
fn arrivals(flows: &[(Spec, usize)], evs: &[Ev]) -> Vec<Option<Arrival>> {
    let mut next: Vec<u32> = flows.iter().map(|f| f.0.seq).collect();
    let mut out: Vec<Option<Arrival>> = Vec::new();
    let make = |k: usize, len: usize, flags: u8, next: &mut Vec<u32>| {
        let k = k % flows.len();
        let (s, _) = &flows[k];
        let seq = next[k];
        let payload: Vec<u8> = (0..len as u32)
            .map(|i| data_at(k, seq.wrapping_add(i)))
            .collect();
        next[k] = seq.wrapping_add(len as u32);
        let sp = Spec {
            seq,
            flags,
            ..s.clone()
        };
        let frame = received(&sp, 1000 + k as u16, ACKNO, &payload);
        Arrival {
            frame,
            flow: Some(k),
            seq,
            payload,
        }
    };
    for e in evs {
        match *e {
            Ev::Seg { flow, short, psh } => {
                let mss = flows[flow % flows.len()].1;
                let len = short.map_or(mss, |n| n.min(mss));
                let flags = if psh { ACK | PSH } else { ACK };
                out.push(Some(make(flow, len, flags, &mut next)));
            }
            Ev::Drop(k) => {
                let k = k % flows.len();
                next[k] = next[k].wrapping_add(flows[k].1 as u32);
            }
            Ev::Bad(k) => {
                let mut a = make(k, flows[k % flows.len()].1, ACK, &mut next);
                let n = a.frame.len();
                a.frame[n - 1] ^= 0x20;
                let m = a.payload.len();
                a.payload[m - 1] ^= 0x20;
                out.push(Some(a));
            }
            Ev::Fin(k) => out.push(Some(make(k, 10, ACK | FIN, &mut next))),
            Ev::Arp => out.push(Some(Arrival {
                frame: arp(),
                flow: None,
                seq: 0,
                payload: Vec::new(),
            })),
            Ev::Flush => out.push(None),
            Ev::Swap => {
                let n = out.len();
                if n >= 2 && out[n - 1].is_some() && out[n - 2].is_some() {
                    out.swap(n - 1, n - 2);
                }
            }
        }
    }
    out
}

/// Runs the arrivals through a `Coalescer<N>` and checks that the frames
/// emitted are, in order, the arrivals with runs of consecutive in-order
/// segments of one flow merged, and that per flow the payload stream is
/// unchanged.
fn check_stream<const N: usize>(flows: &[(Spec, usize)], items: &[Option<Arrival>]) {
    let mut c = Box::new(Coalescer::<N>::new());
    let mut outs = Vec::new();
    for it in items {
        let mut out = collect(&mut outs);
        match it {
            Some(a) => c.push(&a.frame, &mut out),
            None => c.flush(&mut out),
        }
    }
    c.flush(&mut collect(&mut outs));
    let a: Vec<&Arrival> = items.iter().flatten().collect();
    let mut sent = vec![Vec::new(); flows.len()];
    let mut got = vec![Vec::new(); flows.len()];
    for x in &a {
        if let Some(k) = x.flow {
            sent[k].extend_from_slice(&x.payload);
        }
    }
    let mut i = 0;
    for o in &outs {
        assert!(o.frame.len() <= N);
        assert!(o.gso.is_none() || o.frame.len() <= MAX_FRAME_LEN);
        match o.gso {
            None => {
                assert_eq!(o.frame, a[i].frame, "arrival {i}");
                if o.validated {
                    assert_eq!(checksum::verify_l4(&o.frame), Ok(true));
                }
                if let Some(k) = a[i].flow {
                    got[k].extend_from_slice(&a[i].payload);
                }
                i += 1;
            }
            Some((_, mss)) => {
                let k = a[i].flow.expect("a merge starts with TCP");
                let s = &flows[k].0;
                let plen = o.frame.len() - s.hdr_len();
                let (mut j, mut seq, mut n) = (i, a[i].seq, 0);
                while n < plen {
                    assert_eq!(a[j].flow, Some(k));
                    assert_eq!(a[j].seq, seq, "arrival {j}");
                    assert!(a[j].payload.len() <= usize::from(mss));
                    seq = seq.wrapping_add(a[j].payload.len() as u32);
                    n += a[j].payload.len();
                    j += 1;
                }
                let parts: Vec<Vec<u8>> = a[i..j].iter().map(|x| x.frame.clone()).collect();
                check_merged(s, o, &parts);
                got[k].extend_from_slice(&o.frame[s.hdr_len()..]);
                i = j;
            }
        }
    }
    assert_eq!(i, a.len());
    assert_eq!(got, sent);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merges_preserve_every_flows_stream(
        flows in proptest::collection::vec(flow(), 1..4),
        evs in proptest::collection::vec(ev(), 0..160),
    ) {
        let items = arrivals(&flows, &evs);
        check_stream::<MAX_MERGED>(&flows, &items);
        check_stream::<3000>(&flows, &items);
        check_stream::<1600>(&flows, &items);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
    ) {
        let mut c = Coalescer::<256>::new();
        for f in &frames {
            c.push(f, &mut |m| {
                assert!(m.gso.is_none());
                assert_eq!(m.frame, &f[..]);
            });
        }
        c.flush(&mut |_| panic!("nothing can be pending"));
    }

    /// Random bytes rarely get past the Ethernet header; corrupting (and
    /// maybe re-checksumming) a few header bytes of valid segments reaches
    /// every check.
    #[test]
    fn corrupted_segments_never_panic(
        (s, mss) in flow(),
        edits in proptest::collection::vec(
            (0usize..8, 0usize..100, any::<u8>(), any::<bool>()), 0..12),
        cut_at in proptest::collection::vec(any::<prop::sample::Index>(), 8),
    ) {
        let mut frames: Vec<Vec<u8>> = (0..8).map(|i| seg(&s, (i * mss) as u32, mss, ACK)).collect();
        for (k, at, v, fix) in edits {
            let f = &mut frames[k];
            if let Some(b) = f.get_mut(at) {
                *b = v;
            }
            if fix {
                let l3 = s.l3();
                if let Some(h) = f.get_mut(l3..l3 + 20) {
                    h[10..12].fill(0);
                    let c = checksum::checksum(h);
                    h[10..12].copy_from_slice(&c.to_be_bytes());
                }
                if let Ok(loc) = checksum::locate(f) {
                    let _ = checksum::set_pseudo(f, &loc);
                    let _ = checksum::complete(f, loc.start.into(), loc.offset.into());
                }
            }
        }
        for (f, at) in frames.iter_mut().zip(cut_at) {
            if at.index(4) == 0 {
                f.truncate(at.index(f.len() + 1));
            }
        }
        let mut big = Box::new(Coalescer::<MAX_MERGED>::new());
        let mut small = Coalescer::<1200>::new();
        let mut check = |m: Merged<'_>| {
            if m.gso.is_some() {
                assert!(m.validated);
                assert_eq!(checksum::verify_l4(m.frame), Ok(true));
            }
        };
        for f in &frames {
            big.push(f, &mut check);
            small.push(f, &mut |m| assert!(m.frame.len() <= 1200 || m.frame == &f[..]));
        }
        big.flush(&mut check);
        small.flush(&mut |m| assert!(m.frame.len() <= 1200));
    }
}
