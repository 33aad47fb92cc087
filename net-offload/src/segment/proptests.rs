use proptest::prelude::*;
use std::vec::Vec;

use super::*;
use crate::test_frames::{build, check, cut, Spec, ACK, CWR, FIN, PSH};

/// The largest TCP payload an IPv4 total length (or IPv6 payload length)
/// leaves room for behind 20-byte IP and TCP headers.
const MAX_PAYLOAD: usize = 65535 - 40;

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        any::<bool>(),
        0..=MAX_PAYLOAD,
        any::<bool>(),
        any::<u32>(),
        any::<u16>(),
    )
        .prop_map(|(v6, vlan, payload, fin, seq, ip_id)| Spec {
            flags: ACK | PSH | CWR | if fin { FIN } else { 0 },
            seq,
            ip_id,
            ..Spec::new(v6, vlan, payload)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Payloads concatenate back, sizes stay within the frame limit, sequence
    /// numbers are contiguous and every checksum verifies (all in `check`).
    #[test]
    fn segments_reassemble(s in spec(), mss in 536u16..=1460, garbage in any::<u16>()) {
        let mut f = build(&s);
        let l4 = s.l4();
        f[l4 + 16..l4 + 18].copy_from_slice(&garbage.to_be_bytes());
        // 1460 fits IPv4 (and 1456 IPv4 with a tag); IPv6's header leaves 1440.
        let room = s.max_frame() - s.hdr_len();
        if usize::from(mss).min(s.payload) > room {
            prop_assert_eq!(cut(&f, s.kind(), mss), Err(OffloadError::MssTooLarge { mss, max: room }));
        } else {
            let segs = cut(&f, s.kind(), mss).unwrap();
            check(&s, &f, &segs, mss.into());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        f in proptest::collection::vec(any::<u8>(), 0..2000),
        v6 in any::<bool>(),
        mss in any::<u16>(),
    ) {
        let kind = if v6 { Kind::TcpV6 } else { Kind::TcpV4 };
        let _ = segment(&f, kind, mss, &mut |s| assert!(s.len() <= MAX_FRAME_VLAN));
    }

    /// Random bytes rarely get past the Ethernet header; corrupting a few bytes
    /// of a valid super-frame's headers reaches every check.
    #[test]
    fn corrupted_headers_never_panic(
        s in spec(),
        edits in proptest::collection::vec((0usize..120, any::<u8>()), 1..6),
        cut_at in any::<prop::sample::Index>(),
        mss in 1u16..=1500,
    ) {
        let mut f = build(&Spec { payload: s.payload % 5000, ..s.clone() });
        for (at, v) in edits {
            if let Some(b) = f.get_mut(at) {
                *b = v;
            }
        }
        let len = cut_at.index(f.len() + 1);
        let mut out = Vec::new();
        let r = segment(&f[..len], s.kind(), mss, &mut |g| out.push(g.len()));
        if let Ok(n) = r {
            prop_assert_eq!(n, out.len());
            prop_assert!(out.iter().all(|&l| l <= MAX_FRAME_VLAN));
        }
    }
}
