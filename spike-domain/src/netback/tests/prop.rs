//! Property tests: whatever the frontend puts in its ring pages and whatever
//! the copies return, the netback never panics and keeps the ring consistent.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::netback::netif::{RX_RING_SIZE, SRING_ENTRIES_OFFSET, TX_RING_SIZE};

/// Writes hostile bytes over the ring entries and sets `req_prod` to
/// `start + n` (n may exceed the ring).
fn scribble(page: &HeapPage, start: u32, n: u32, body: &[u8]) {
    let base = page.base().as_ptr();
    for (i, b) in body.iter().enumerate().take(4096 - SRING_ENTRIES_OFFSET) {
        // SAFETY: inside the test-owned page, after the header.
        unsafe { base.add(SRING_ENTRIES_OFFSET + i).write_volatile(*b) };
    }
    // SAFETY: aligned index words of the page.
    unsafe {
        (base as *mut u32).write_volatile(start.wrapping_add(n));
        (base.add(8) as *mut u32).write_volatile(start);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_tx_ring_never_panics(
        start in prop_oneof![Just(0u32), Just(u32::MAX - 5), any::<u32>()],
        n in prop_oneof![0u32..=TX_RING_SIZE, any::<u32>()],
        body in vec(any::<u8>(), 4032),
        statuses in vec(prop_oneof![Just(0i16), -12i16..0], 0..64),
        grants in vec(0u32..16, 0..8),
        gso in any::<bool>(),
        fail in any::<bool>(),
    ) {
        let mut cfg = config();
        cfg.offered.gso_tcpv4 = gso;
        cfg.offered.gso_tcpv6 = gso;
        cfg.limits.tx_budget = 16;
        let mut w = World::build(cfg, start, 8, 4);
        for g in grants {
            w.xen.grant(FE, g)[6..12].copy_from_slice(&MAC);
        }
        w.xen.forced = statuses.into_iter().collect();
        w.xen.fail_hypercall = fail;
        scribble(&w.fe.tx.page, start, n, &body);
        for _ in 0..4 {
            match w.tx() {
                Ok(p) => {
                    prop_assert!(p.consumed <= TX_RING_SIZE);
                    prop_assert!(p.delivered <= p.consumed);
                    let r = w.fe.tx.responses::<crate::netback::netif::TxResponse>();
                    prop_assert_eq!(r.len() as u32, p.consumed);
                }
                Err(_) => prop_assert!(w.vif.fatal().is_some()),
            }
        }
    }

    #[test]
    fn random_rx_ring_and_frames_never_panic(
        start in any::<u32>(),
        n in prop_oneof![0u32..=RX_RING_SIZE, any::<u32>()],
        body in vec(any::<u8>(), 4032),
        frames in vec((vec(any::<u8>(), 0..9100), any::<u16>(), any::<u16>(), 0u8..4, any::<u16>()), 0..6),
        statuses in vec(prop_oneof![Just(0i16), -12i16..0], 0..32),
        sg in any::<bool>(),
        gso in any::<bool>(),
        no_csum in any::<bool>(),
    ) {
        let mut cfg = config();
        cfg.mtu = 9000;
        cfg.features.sg = sg;
        cfg.features.gso_tcpv4 = gso;
        cfg.features.no_csum_offload = no_csum;
        let mut w = World::build(cfg, start, 2, 8);
        w.xen.forced = statuses.into_iter().collect();
        scribble(&w.fe.rx.page, start, n, &body);
        for (data, s, o, kind, mss) in &frames {
            let csum = match kind {
                0 => CsumMeta::None,
                1 => CsumMeta::Validated,
                _ => CsumMeta::Partial { start: *s % 200, offset: *o % 64 },
            };
            let g = (*kind == 3).then_some(Gso { kind: GsoKind::TcpV4, size: *mss });
            if w.rx_plan(data, csum, g).is_err() {
                prop_assert!(w.vif.fatal().is_some());
            }
        }
        for _ in 0..3 {
            match w.rx_commit() {
                Ok(p) => prop_assert!(p.delivered as usize <= frames.len()),
                Err(_) => prop_assert!(w.vif.fatal().is_some()),
            }
        }
    }
}
