//! Host tests of the e1000/e1000e driver against `fake_device`.

mod bringup;
mod doorbells;
mod events;
mod fake_device;
mod fake_tx;
mod faults;
mod offload;
mod prop;
mod traffic;

use std::vec::Vec;

use crate::nic::fake::FakeDma;
use crate::nic::{IrqMode, Nic};

use super::{Model, E1000};
use fake_device::{Dev, FakeE1000};

pub const MODELS: [Model; 2] = [Model::I82540Em, Model::I82574L];

pub struct Rig {
    pub nic: E1000<FakeE1000>,
    pub dev: FakeE1000,
    pub dma: FakeDma,
}

/// A device prepared by `setup`, then a driver brought up on it.
pub fn try_rig(
    model: Model,
    irq: IrqMode,
    setup: impl FnOnce(&mut Dev),
) -> (
    Result<E1000<FakeE1000>, crate::nic::NicError>,
    FakeE1000,
    FakeDma,
) {
    let mut dma = FakeDma::new();
    let dev = FakeE1000::new(model, dma.clone());
    setup(&mut dev.dev());
    let nic = E1000::new(model, dev.clone(), &mut dma, irq);
    (nic, dev, dma)
}

pub fn rig_with(model: Model, irq: IrqMode, setup: impl FnOnce(&mut Dev)) -> Rig {
    let (nic, dev, dma) = try_rig(model, irq, setup);
    Rig {
        nic: nic.expect("bring-up"),
        dev,
        dma,
    }
}

pub fn rig(model: Model, irq: IrqMode) -> Rig {
    rig_with(model, irq, |_| {})
}

/// A frame of `len` bytes whose contents identify `n`.
pub fn frame(n: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xB5]);
    let tag = n.to_le_bytes();
    while f.len() < len {
        let i = f.len();
        f.push(tag[i % 4] ^ (i as u8));
    }
    f.truncate(len);
    f
}

/// Everything `receive` passes with this budget, in order.
pub fn drain(nic: &mut E1000<FakeE1000>, budget: usize) -> (usize, Vec<Vec<u8>>) {
    let mut got = Vec::new();
    let n = nic.receive(budget, &mut |f| got.push(f.to_vec()));
    assert_eq!(n, got.len());
    (n, got)
}
