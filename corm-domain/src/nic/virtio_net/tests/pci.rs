//! The capability walk and BAR mapping on well-formed and malformed
//! configuration spaces.

use std::vec::Vec;

use super::device::*;
use super::{drain, frame};
use crate::nic::fake::FakeConfig;
use crate::nic::virtio_net::pci::*;
use crate::nic::{IrqMode, Nic, NicError};

fn region(bar: u8, offset: u32, length: u32) -> Region {
    Region {
        bar,
        offset,
        length,
    }
}

#[test]
fn finds_the_qemu_layout() {
    let mut cfg = qemu_config(&qemu_layout());
    let layout = find_layout(&mut cfg).unwrap();
    assert_eq!(
        layout,
        Layout {
            common: region(4, 0, 0x1000),
            notify: region(4, 0x3000, 0x1000),
            notify_off_multiplier: MULT,
            isr: region(4, 0x1000, 0x1000),
            device: region(4, 0x2000, 0x1000),
        }
    );
    assert!(cfg.writes.is_empty());
}

#[test]
fn requires_the_capability_list_and_every_structure() {
    let mut cfg = qemu_config(&qemu_layout());
    cfg.bytes[6] &= !0x10;
    assert_eq!(find_layout(&mut cfg), Err(NicError::Unsupported));
    for missing in [CFG_COMMON, CFG_NOTIFY, CFG_ISR, CFG_DEVICE] {
        let layout: Vec<_> = qemu_layout()
            .into_iter()
            .filter(|p| p.cfg_type != missing)
            .collect();
        let mut cfg = qemu_config(&layout);
        assert_eq!(
            find_layout(&mut cfg),
            Err(NicError::Unsupported),
            "{missing}"
        );
    }
}

#[test]
fn rejects_cyclic_lists() {
    let mut cfg = qemu_config(&qemu_layout());
    let last = cfg.add_capability(0x05, &[0; 6]);
    cfg.bytes[usize::from(last) + 1] = cfg.bytes[0x34];
    assert_eq!(find_layout(&mut cfg), Err(NicError::Unsupported));
    cfg.bytes[usize::from(last) + 1] = last;
    assert_eq!(find_layout(&mut cfg), Err(NicError::Unsupported));
}

#[test]
fn rejects_pointers_into_the_header() {
    let mut cfg = qemu_config(&qemu_layout());
    cfg.bytes[0x34] = 0x10;
    assert_eq!(find_layout(&mut cfg), Err(NicError::Unsupported));
}

#[test]
fn ignores_reserved_and_short_capabilities_and_keeps_the_first() {
    let mut cfg = FakeConfig::new(0x1af4, 0x1041);
    add_vendor_cap(
        &mut cfg,
        Placement {
            cfg_type: CFG_COMMON,
            bar: 7,
            offset: 0x800,
            length: 0x100,
        },
    );
    add_vendor_cap(
        &mut cfg,
        Placement {
            cfg_type: 9,
            bar: 4,
            offset: 0x800,
            length: 0x100,
        },
    );
    add_vendor_cap(
        &mut cfg,
        Placement {
            cfg_type: CFG_COMMON,
            bar: 4,
            offset: 0x800,
            length: 0x10,
        },
    );
    let short = add_vendor_cap(
        &mut cfg,
        Placement {
            cfg_type: CFG_ISR,
            bar: 4,
            offset: 0x900,
            length: 1,
        },
    );
    cfg.bytes[usize::from(short) + 2] = 12;
    for p in qemu_layout() {
        add_vendor_cap(&mut cfg, p);
    }
    add_vendor_cap(
        &mut cfg,
        Placement {
            cfg_type: CFG_ISR,
            bar: 2,
            offset: 0,
            length: 4,
        },
    );
    let layout = find_layout(&mut cfg).unwrap();
    assert_eq!(layout.common, region(4, 0, 0x1000));
    assert_eq!(layout.isr, region(4, 0x1000, 0x1000));
}

#[test]
fn rejects_structures_outside_their_bar() {
    for bad in [
        Placement {
            cfg_type: CFG_NOTIFY,
            bar: 4,
            offset: 0x3000,
            length: 0x2000,
        },
        Placement {
            cfg_type: CFG_DEVICE,
            bar: 4,
            offset: u32::MAX,
            length: 0x10,
        },
        Placement {
            cfg_type: CFG_COMMON,
            bar: 4,
            offset: 0x3ff0,
            length: 0x38,
        },
    ] {
        let mut layout = qemu_layout();
        layout.retain(|p| p.cfg_type != bad.cfg_type);
        layout.insert(0, bad);
        let mut fx = Fixture::with_layout(layout, 256);
        assert_eq!(
            fx.nic(IrqMode::Msix).err(),
            Some(NicError::Unsupported),
            "{bad:?}"
        );
    }
}

#[test]
fn unmappable_bar_is_reported() {
    let mut fx = Fixture::qemu();
    let mut layout = qemu_layout();
    layout[2].bar = 3;
    fx.cfg = qemu_config(&layout);
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::Bar(3)));
}

#[test]
fn notify_address_outside_the_structure_is_a_device_error() {
    let mut layout = qemu_layout();
    layout[3].length = 2;
    let mut fx = Fixture::with_layout(layout, 256);
    assert_eq!(fx.nic(IrqMode::Msix).err(), Some(NicError::Device));
}

#[test]
fn structures_in_two_bars_map_each_bar_once() {
    let mut layout = qemu_layout();
    layout[2] = Placement {
        cfg_type: CFG_DEVICE,
        bar: 2,
        offset: 0x100,
        length: 0x100,
    };
    layout[1] = Placement {
        cfg_type: CFG_ISR,
        bar: 2,
        offset: 0,
        length: 4,
    };
    let mut fx = Fixture::with_layout(layout, 256);
    let mut nic = fx.nic(IrqMode::Intx).unwrap();
    assert_eq!(fx.state().maps, [4, 2]);
    assert_eq!(nic.mac(), MAC);
    nic.transmit(&frame(1, 60)).unwrap();
    assert!(fx.inject(&frame(2, 60)));
    assert!(nic.handle().rx);
    assert_eq!(drain(&mut nic, 4), [frame(2, 60)]);
    assert_eq!(fx.state().tx_frames, [frame(1, 60)]);
}

#[test]
fn short_device_structure_drops_mac_and_status() {
    let mut layout = qemu_layout();
    layout[2].length = 6;
    let mut fx = Fixture::with_layout(layout, 256);
    let nic = fx.nic(IrqMode::Msix).unwrap();
    assert_eq!(nic.mac(), MAC);
    assert_eq!(nic.features() & super::NET_F_STATUS, 0);
    assert!(nic.link_up());
}
