//! The vif `rate` (TX credit) on the TX ring: frames over the credit stay on
//! the guest's ring, unanswered, until the credit timer; they then go in
//! order, each charged its size once.

use super::*;
use crate::netback::credit::{TxRate, JIFFY_NS};

const MS: u64 = 1_000_000;

fn limited(bytes: u64, usecs: u32, mtu: u16) -> World {
    let mut cfg = config();
    cfg.mtu = mtu;
    cfg.rate = Some(TxRate { bytes, usecs });
    World::with(cfg, 0)
}

#[test]
fn frames_over_the_credit_wait_on_the_ring_for_the_timer() {
    // 1000 bytes a millisecond (8 Mbit/s); the window started at 0.
    let mut w = limited(1000, 1000, 1500);
    let ids: Vec<_> = (0..5)
        .flat_map(|_| w.send(&eth(400), &[400], 0, &[]))
        .collect();
    let p = w.tx().unwrap();
    assert_eq!((p.consumed, p.delivered), (2, 2));
    assert_eq!((p.credit_wait, p.more, p.blocked), (Some(MS), false, false));
    assert_eq!(
        w.tx_rsps().len(),
        2,
        "the rest are not answered: still the guest's"
    );
    assert_eq!(w.vif.counters().tx_credit_waits, 1);
    // Before the timer: nothing moves, and the wait is the same.
    w.now = MS - 1;
    let p = w.tx().unwrap();
    assert_eq!((p.consumed, p.credit_wait), (0, Some(MS)));
    // The timer: a window's credit (1200 with the 200 left) takes three more.
    w.now = MS;
    let p = w.tx().unwrap();
    assert_eq!((p.delivered, p.credit_wait), (3, None));
    let rsps = w.tx_rsps();
    assert_eq!(rsps.iter().map(|r| r.id).collect::<Vec<_>>(), ids[2..]);
    assert!(rsps.iter().all(|r| r.status == netif::RSP_OKAY));
    assert_eq!(w.sent.len(), 5);
    assert_eq!(w.vif.counters().tx_bytes, 2000);
    assert_eq!(w.vif.tx_credit().remaining(), 0);
}

#[test]
fn bad_packets_cost_credit_too() {
    // Linux charges a packet when it takes it, before it judges it.
    let mut w = limited(1000, 1000, 1500);
    let mut spoofed = eth(600);
    spoofed[6] ^= 2;
    w.send(&spoofed, &[600], 0, &[]);
    w.send(&eth(600), &[600], 0, &[]);
    let p = w.tx().unwrap();
    assert_eq!((p.consumed, p.delivered, p.credit_wait), (1, 0, Some(MS)));
    assert_eq!(w.vif.counters().tx_spoofed_mac, 1);
}

#[test]
fn a_frame_larger_than_a_windows_credit_goes_once_credit_builds_up() {
    // 1000 bytes a millisecond; a 9014-byte jumbo frame, then a small one.
    let mut w = limited(1000, 1000, 9000);
    w.fe.queue_tx(&mut w.xen, &eth(9014), &[3000, 4000, 2014], 96, 0, &[]);
    w.send(&eth(100), &[100], 0, &[]);
    let mut passes = 0;
    while let Some(t) = w.tx().unwrap().credit_wait {
        assert!(w.sent.is_empty());
        assert!(t > w.now, "no busy loop: {t} <= {}", w.now);
        w.now = t;
        passes += 1;
        assert!(passes < 20);
    }
    // 1000 at the start and one window a millisecond: 10000 at 9 ms.
    assert_eq!(w.now, 9 * MS);
    assert_eq!(w.sent.len(), 2, "the small frame right behind it");
    assert_eq!(w.sent[0].0, eth(9014));
}

#[test]
fn unlimited_without_a_rate_and_after_idle_a_jiffy_at_a_time() {
    let mut w = World::new();
    for _ in 0..40 {
        w.send(&eth(1500), &[1500], 0, &[]);
    }
    let p = w.tx().unwrap();
    assert_eq!((p.delivered, p.credit_wait), (40, None));
    // libxl's rate=10Mb/s: 62500 bytes per 50 ms. The credit spent, then
    // an hour idle: a 65000-byte frame (more than a window's credit) waits
    // one jiffy, as Linux's timer set in the past does, then goes.
    let mut w = limited(62_500, 50_000, 65_000);
    let mut sizes = vec![4000; 15];
    sizes.push(2500);
    w.send(&eth(62_500), &sizes, 0, &[]);
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(w.vif.tx_credit().remaining(), 0);
    w.now = 3_600_000 * MS;
    let mut sizes = vec![4000; 16];
    sizes.push(1000);
    w.send(&eth(65_000), &sizes, 0, &[]);
    let p = w.tx().unwrap();
    assert_eq!((p.delivered, p.credit_wait), (0, Some(w.now + JIFFY_NS)));
    w.now += JIFFY_NS;
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(w.sent.last().unwrap().0, eth(65_000));
}

/// A packet left on the ring because the wire was full is charged once,
/// when it finally goes, not on every pass that found the wire full.
#[test]
fn a_full_wire_costs_no_credit() {
    let mut w = limited(1000, 1000, 1500);
    w.send(&eth(600), &[600], 0, &[]);
    w.sink_full = true;
    for _ in 0..3 {
        let p = w.tx().unwrap();
        assert!(p.blocked && p.credit_wait.is_none());
    }
    assert_eq!(w.vif.tx_credit().remaining(), 1000);
    w.sink_full = false;
    assert_eq!(w.tx().unwrap().delivered, 1);
    assert_eq!(w.vif.tx_credit().remaining(), 400);
}
