//! Arbitrary TX ring contents and grant-copy statuses into `Vif::process_tx`
//! with a sink that plays the wire's ring (frames grant-copied into its
//! pages): it must never panic, every pass must answer exactly what it
//! consumed, and every frame committed must carry the vif's MAC.
//!
//! Input layout: `start: u32`, `n: u8` (requests claimed; 0xff = a wild
//! `req_prod`), `cfg: u8` (offered GSO, budget), 4032 bytes of ring entries,
//! then bytes that become grant-copy statuses and guest page contents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spike_domain::netback::fake::{FakeFrontend, FakeSink, FakeXen};
use spike_domain::netback::netif::{TxResponse, SRING_ENTRIES_OFFSET, TX_RING_SIZE};
use spike_domain::netback::{FrontendFeatures, LocalPages, SharedPage, TxRate, Vif, VifConfig};

const FE: u16 = 3;
const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x12, 0x34, 0x56];
const BODY: usize = 4096 - SRING_ENTRIES_OFFSET;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let start = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let (n, cfg_bits) = (data[4], data[5]);
    let rest = &data[6..];
    let (body, tail) = rest.split_at(rest.len().min(BODY));

    let mut xen = FakeXen::new();
    let fe = FakeFrontend::new(FE, start);
    let base = fe.tx.page.base().as_ptr();
    for (i, b) in body.iter().enumerate() {
        // SAFETY: inside the fuzz-owned ring page, after the header.
        unsafe { base.add(SRING_ENTRIES_OFFSET + i).write_volatile(*b) };
    }
    let prod = if n == 0xff {
        u32::from_le_bytes([data[3], data[2], data[1], data[0]])
    } else {
        start.wrapping_add(u32::from(n))
    };
    fe.tx.set(0, prod);

    let (statuses, pages) = tail.split_at(tail.len() / 2);
    xen.forced = statuses
        .iter()
        .map(|&b| if b < 160 { 0 } else { -((b % 13) as i16) })
        .collect();
    for g in 0..16u32 {
        let page = xen.grant(FE, g);
        for (i, b) in page.iter_mut().enumerate() {
            *b = pages
                .get((i + g as usize * 97) % pages.len().max(1))
                .copied()
                .unwrap_or(0);
        }
        if cfg_bits & 0x80 != 0 {
            page[6..12].copy_from_slice(&MAC);
        }
    }

    let mut cfg = VifConfig::new(FE, 0, MAC, FrontendFeatures::default());
    cfg.offered.gso_tcpv4 = cfg_bits & 1 != 0;
    cfg.offered.gso_tcpv6 = cfg_bits & 2 != 0;
    cfg.limits.tx_budget = usize::from(cfg_bits >> 2 & 0x1f) + 1;
    // The ring's start index doubles as a vif `rate` (any credit, any window):
    // a spent credit leaves requests on the ring, never answered twice.
    if start & 0x8000_0000 != 0 {
        cfg.rate = Some(TxRate {
            bytes: u64::from(start >> 16 & 0x7fff).max(1),
            usecs: (start & 0xffff).max(1),
        });
    }
    let mut pool = LocalPages::heap(2, 0x1000);
    let mut sink = FakeSink::new(&mut xen, 1, 5000, 32);
    sink.full = cfg_bits & 0x40 != 0 && statuses.first().is_some_and(|b| b & 1 != 0);
    let rx_pool = LocalPages::heap(2, 0x2000);
    // SAFETY: both pools outlive every copy below.
    unsafe {
        xen.attach(&pool);
        xen.attach(&rx_pool);
    }
    let Ok(mut vif) = Vif::new(cfg, fe.tx.page.clone(), fe.rx.page.clone(), rx_pool) else {
        return;
    };
    let mut front = fe.tx.clone();
    for pass in 0..4u64 {
        match vif.process_tx(&mut xen, &mut pool, &mut sink, pass * 20_000_000) {
            Ok(p) => {
                assert!(p.consumed <= TX_RING_SIZE && p.delivered <= p.consumed);
                assert_eq!(front.responses::<TxResponse>().len() as u32, p.consumed);
                for (f, _) in sink.sent.drain(..) {
                    assert!(f.len() >= 14 && f[6..12] == MAC);
                }
            }
            Err(_) => assert!(vif.fatal().is_some()),
        }
    }
});
