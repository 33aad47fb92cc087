//! Driver scenarios against the fake device in `device`: bring-up and
//! negotiation, traffic, ring limits, hostile used elements, fatal states and
//! reinit. Capability-walk tests are in `pci`, ring-index tests in `queue`,
//! random interleavings in `prop`.

mod batch;
mod device;
mod fake_tx;
mod hostile;
mod offload;
mod pci;
mod prop;
mod queue;
mod wire;

use std::vec::Vec;

use self::device::*;
use super::common::*;
use super::features::*;
use super::*;
use crate::nic::{IrqMode, Nic, NicError, TxError, MAX_FRAME};

/// A frame of `len` bytes whose payload carries `seq`, so reordering,
/// duplication and corruption all show.
pub fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xaa]);
    f[6..12].copy_from_slice(&MAC);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    for (i, b) in f.iter_mut().enumerate().skip(14) {
        *b = (seq as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
    if len >= 18 {
        f[14..18].copy_from_slice(&seq.to_le_bytes());
    }
    f
}

pub fn drain(nic: &mut impl Nic, budget: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    nic.receive(budget, &mut |f| got.push(f.to_vec()));
    got
}

/// Pages: 3 ring pages and 128 buffer pages for each 256-entry queue.
const PAGES: usize = 2 * (3 + 128);

#[test]
fn identifies_virtio_net() {
    assert!(is_virtio_net(0x1af4, 0x1041));
    assert!(is_virtio_net(0x1af4, 0x1000));
    assert!(!is_virtio_net(0x1af4, 0x1001));
    assert!(!is_virtio_net(0x1af4, 0x1042));
    assert!(!is_virtio_net(0x8086, 0x1041));
    let mut fx = Fixture::qemu();
    fx.cfg.bytes[2..4].copy_from_slice(&0x1001u16.to_le_bytes());
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::Unsupported));
}

#[test]
fn bring_up_programs_queues_as_qemu_expects() {
    let mut fx = Fixture::qemu();
    let nic = fx.nic(IrqMode::Msix).unwrap();
    let s = fx.state();
    assert_eq!(s.errors, Vec::<String>::new());
    assert_eq!(
        s.status,
        S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK
    );
    assert_eq!(s.driver_features, ACCEPTED);
    assert_eq!(nic.features(), s.driver_features);
    assert_eq!(s.config_vector, 0);
    assert_eq!(s.maps, [QEMU_BAR]);
    let mut areas = Vec::new();
    for q in &s.queues {
        assert!(q.enabled);
        assert_eq!((q.size, q.vector), (256, 0));
        areas.extend([q.desc, q.driver, q.device]);
    }
    areas.sort();
    areas.dedup();
    assert_eq!(areas.len(), 6);
    assert!(areas.iter().all(|a| a.is_multiple_of(4096)));
    let rx = s.queues[0];
    assert_eq!(s.dma.read_u16(rx.driver + 2), Some(256));
    for id in 0..256u64 {
        let d = rx.desc + 16 * id;
        assert_eq!(s.dma.read_u32(d + 8), Some(2048));
        assert_eq!(s.dma.read_u16(d + 12), Some(DESC_F_WRITE));
        assert!(s
            .dma
            .read(s.dma.read_u64(d).unwrap(), &mut [0; 2048])
            .is_some());
    }
    assert_eq!(s.notifies, [1, 0]);
    assert_eq!((nic.mac(), nic.link_up()), (MAC, true));
    assert_eq!(fx.dma.pages(), PAGES);
}

#[test]
fn other_irq_modes_program_no_vector() {
    for irq in [IrqMode::Intx, IrqMode::Msi, IrqMode::Poll] {
        let mut fx = Fixture::qemu();
        fx.nic(irq).unwrap();
        let s = fx.state();
        assert_eq!(s.config_vector, NO_VECTOR);
        assert!(s.queues.iter().all(|q| q.vector == NO_VECTOR && q.enabled));
    }
}

#[test]
fn version_1_is_required() {
    let mut fx = Fixture::qemu();
    fx.state().offered = NET_F_MAC | NET_F_STATUS;
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::Features));
    assert_ne!(fx.state().status & S_FAILED, 0);
}

#[test]
fn only_allowed_features_are_accepted() {
    let mut fx = Fixture::qemu();
    fx.state().offered = u64::MAX;
    let nic = fx.nic(IrqMode::Msix).unwrap();
    let want = ACCEPTED | F_ACCESS_PLATFORM;
    assert_eq!((fx.state().driver_features, nic.features()), (want, want));
}

#[test]
fn features_ok_refused_is_a_features_error() {
    let mut fx = Fixture::qemu();
    fx.state().refuse_features_ok = true;
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::Features));
}

#[test]
fn without_mac_and_status_features() {
    let mut fx = Fixture::qemu();
    fx.state().offered = F_VERSION_1;
    fx.state().net_status = 0;
    let nic = fx.nic(IrqMode::Msix).unwrap();
    assert_eq!(fx.state().driver_features, F_VERSION_1);
    assert_eq!((nic.mac(), nic.link_up()), (net::FALLBACK_MAC, true));
}

#[test]
fn link_down_at_start_refuses_transmit() {
    let mut fx = Fixture::qemu();
    fx.state().net_status = 0;
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    assert!(!nic.link_up());
    assert_eq!(nic.transmit(&frame(0, 60)), Err(TxError::NotReady));
}

#[test]
fn device_that_never_resets_times_out() {
    let mut fx = Fixture::qemu();
    fx.state().never_reset = true;
    fx.state().status = S_ACKNOWLEDGE | S_DRIVER | S_DRIVER_OK;
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::ResetTimeout));
}

#[test]
fn rejected_msix_vector_is_a_device_error() {
    let mut fx = Fixture::qemu();
    fx.state().reject_vector = true;
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::Device));
    assert_ne!(fx.state().status & S_FAILED, 0);
    let mut fx = Fixture::qemu();
    fx.state().reject_vector = true;
    assert!(fx.nic(IrqMode::Intx).is_ok());
}

#[test]
fn queue_size_is_capped_and_rounded_to_a_power_of_two() {
    for (max, want) in [(1024, 256), (256, 256), (100, 64), (1, 1)] {
        let mut fx = Fixture::with_layout(qemu_layout(), max);
        let mut nic = fx.nic(IrqMode::Msix).unwrap();
        assert_eq!(fx.state().queues.map(|q| q.size), [want, want]);
        assert_eq!(nic.tx_space(), usize::from(want));
        nic.transmit(&frame(1, 60)).unwrap();
        assert!(fx.inject(&frame(2, 60)));
        assert_eq!(drain(&mut nic, 8), [frame(2, 60)]);
        assert_eq!(fx.state().errors, Vec::<String>::new());
    }
    let mut fx = Fixture::with_layout(qemu_layout(), 0);
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::Device));
}

#[test]
fn out_of_dma_memory() {
    let mut fx = Fixture::qemu();
    fx.dma.limit = Some(100);
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::NoMemory));
}

#[test]
fn round_trip() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    let (small, big) = (frame(1, 14), frame(2, MAX_FRAME));
    nic.transmit(&small).unwrap();
    nic.transmit(&big).unwrap();
    assert_eq!(fx.state().tx_frames, [small.clone(), big.clone()]);
    assert!(fx.inject(&big) && fx.inject(&small));
    let ev = nic.handle();
    assert!(ev.ours && ev.rx && ev.tx && !ev.fatal);
    assert_eq!(drain(&mut nic, 64), [big, small]);
    let c = nic.counters();
    assert_eq!((c.tx_frames, c.tx_bytes), (2, 14 + MAX_FRAME as u64));
    assert_eq!((c.rx_frames, c.rx_bytes), (2, 14 + MAX_FRAME as u64));
    assert_eq!((c.rx_errors, nic.bad_completions()), (0, 0));
    assert_eq!(nic.tx_space(), 256);
    assert_eq!(fx.state().errors, Vec::<String>::new());
}

#[test]
fn receive_respects_budget_and_notifies_once_per_batch() {
    // Without EVENT_IDX: a notification per batch that reposts buffers.
    let mut fx = Fixture::qemu();
    fx.state().offered &= !F_EVENT_IDX;
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    for i in 0..10 {
        assert!(fx.inject(&frame(i, 64)));
    }
    assert_eq!(drain(&mut nic, 0), Vec::<Vec<u8>>::new());
    assert_eq!(
        drain(&mut nic, 4),
        (0..4).map(|i| frame(i, 64)).collect::<Vec<_>>()
    );
    assert_eq!(fx.state().notifies[0], 2);
    assert_eq!(
        drain(&mut nic, 4),
        (4..8).map(|i| frame(i, 64)).collect::<Vec<_>>()
    );
    assert_eq!(nic.receive(4, &mut |_| {}), 2);
    assert_eq!(nic.receive(4, &mut |_| {}), 0);
    assert_eq!(fx.state().notifies[0], 4);
}

#[test]
fn no_notify_flag_suppresses_kicks() {
    let mut fx = Fixture::qemu();
    fx.state().offered &= !F_EVENT_IDX;
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    fx.state().set_no_notify(0, true);
    fx.state().set_no_notify(1, true);
    fx.state().auto_tx = false;
    nic.transmit(&frame(1, 60)).unwrap();
    assert!(fx.inject(&frame(2, 60)));
    assert_eq!(drain(&mut nic, 8).len(), 1);
    assert_eq!(fx.state().notifies, [1, 0]);
    fx.state().complete_tx();
    assert_eq!(fx.state().tx_frames, [frame(1, 60)]);
}

#[test]
fn indices_wrap_past_u16_end_to_end() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    let n = 70_000u32;
    let mut received = 0u32;
    for i in 0..n {
        nic.transmit(&frame(i, 60)).unwrap();
        assert!(fx.inject(&frame(i, 60)));
        if i % 100 == 99 || i == n - 1 {
            for f in drain(&mut nic, 200) {
                assert_eq!(f, frame(received, 60));
                received += 1;
            }
        }
    }
    assert_eq!(received, n);
    let s = fx.state();
    assert_eq!(s.tx_frames.len(), n as usize);
    assert!(s
        .tx_frames
        .iter()
        .enumerate()
        .all(|(i, f)| *f == frame(i as u32, 60)));
    assert!(s.queues.iter().all(|q| q.used_idx == (n % 65536) as u16));
    assert_eq!(s.errors, Vec::<String>::new());
}

#[test]
fn full_ring_then_recovery() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    fx.state().auto_tx = false;
    for i in 0..256 {
        nic.transmit(&frame(i, 60)).unwrap();
    }
    assert_eq!(nic.tx_space(), 0);
    assert_eq!(nic.transmit(&frame(256, 60)), Err(TxError::Full));
    assert_eq!(nic.counters().tx_full, 1);
    fx.state().complete_tx();
    assert!(nic.handle().tx);
    assert_eq!(nic.tx_space(), 256);
    nic.transmit(&frame(256, 60)).unwrap();
    fx.state().complete_tx();
    let s = fx.state();
    assert_eq!(s.tx_frames.len(), 257);
    assert!(s
        .tx_frames
        .iter()
        .enumerate()
        .all(|(i, f)| *f == frame(i as u32, 60)));
}

#[test]
fn bad_transmit_lengths_are_refused() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    assert_eq!(nic.transmit(&[0; 13]), Err(TxError::Length(13)));
    assert_eq!(nic.transmit(&[0; 1519]), Err(TxError::Length(1519)));
    assert_eq!(nic.transmit(&[]), Err(TxError::Length(0)));
    assert_eq!(nic.counters().tx_dropped, 3);
    assert!(fx.state().tx_frames.is_empty());
    assert_eq!(nic.tx_space(), 256);
}

#[test]
fn intx_reads_isr_and_reports_link_changes() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Intx).unwrap();
    assert!(!nic.handle().ours);
    assert!(fx.inject(&frame(1, 60)));
    let ev = nic.handle();
    assert!(ev.ours && ev.rx && !ev.link);
    assert_eq!(fx.state().isr, 0);
    assert!(!nic.handle().ours);
    fx.state().set_link(false);
    let ev = nic.handle();
    assert!(ev.ours && ev.link && !ev.rx);
    assert!(!nic.link_up());
    let c = nic.counters();
    assert_eq!((c.interrupts, c.link_changes), (2, 1));
    assert_eq!(drain(&mut nic, 8).len(), 1);
}

#[test]
fn msix_and_poll_assume_every_cause() {
    let mut fx = Fixture::qemu();
    let mut nic = fx.nic(IrqMode::Msix).unwrap();
    let ev = nic.handle();
    assert!(ev.ours && ev.rx && ev.tx && !ev.link);
    // The cause is not read: a link change is the watchdog's to see.
    fx.state().set_link(false);
    assert!(!nic.handle().link);
    assert!(nic.watchdog().link);
    assert!(!nic.link_up());
    fx.state().set_link(true);
    assert!(nic.watchdog().link && nic.link_up());
    assert!(!nic.watchdog().link);
    assert_eq!(fx.state().isr, ISR_CONFIG, "never read");
    assert_eq!(
        (nic.counters().interrupts, nic.counters().link_changes),
        (2, 2)
    );

    for event_idx in [true, false] {
        let mut fx = Fixture::qemu();
        if !event_idx {
            fx.state().offered &= !F_EVENT_IDX;
        }
        let mut nic = fx.nic(IrqMode::Poll).unwrap();
        let ev = nic.handle();
        assert!(ev.rx && ev.tx);
        assert_eq!(nic.counters().interrupts, 0);
        assert!(fx.inject(&frame(1, 60)));
        nic.transmit(&frame(2, 60)).unwrap();
        assert_eq!(drain(&mut nic, 8).len(), 1);
        assert!(fx.inject(&frame(3, 60)));
        assert_eq!(fx.state().interrupts, [0, 0], "polling: none asked for");
        let s = fx.state();
        let flags = u16::from(!event_idx);
        assert!(s
            .queues
            .iter()
            .all(|q| s.dma.read_u16(q.driver) == Some(flags)));
    }
}
