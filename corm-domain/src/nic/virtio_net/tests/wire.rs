//! The device side of the rings: what the fake virtio-net does with the
//! buffers the driver makes available, reached by bus address through
//! `FakeDma`, and the lies it can tell in its used rings.

use super::device::{DevState, MULT};
use crate::nic::virtio_net::common::{ISR_CONFIG, ISR_QUEUE, S_DRIVER_OK};

/// One-shot misbehaviour of the device model on its next used element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// An extra element naming a descriptor beyond the queue.
    IdOutOfRange,
    /// The real element, then the same id again.
    DuplicateId,
    /// The frame's length reported as longer than any allowed frame.
    LenTooLarge,
    /// The frame's length reported as shorter than an Ethernet header.
    LenTooSmall,
    /// The used index jumps by a thousand.
    Overrun,
}

impl DevState {
    pub(super) fn notify(&mut self, o: usize, v: u32) {
        let q = o / MULT as usize;
        if q > 1 || v as usize != q || self.status & S_DRIVER_OK == 0 {
            self.errors.push(format!("notify {o:#x} value {v}"));
            return;
        }
        self.notifies[q] += 1;
        if q == 1 && self.auto_tx {
            self.complete_tx();
        }
    }

    /// The next available descriptor of queue `qi`: (id, addr, len, flags).
    fn pop_avail(&mut self, qi: usize) -> Option<(u16, u64, u32, u16)> {
        let q = self.queues[qi];
        if !q.enabled || self.status & S_DRIVER_OK == 0 {
            return None;
        }
        let avail = self.dma.read_u16(q.driver + 2)?;
        if avail == q.last_avail {
            return None;
        }
        let slot = u64::from(q.last_avail % q.size);
        let id = self.dma.read_u16(q.driver + 4 + 2 * slot)?;
        self.queues[qi].last_avail = q.last_avail.wrapping_add(1);
        let d = q.desc + 16 * u64::from(id);
        let addr = self.dma.read_u64(d)?;
        let len = self.dma.read_u32(d + 8)?;
        let flags = self.dma.read_u16(d + 12)?;
        Some((id, addr, len, flags))
    }

    fn push_used(&mut self, qi: usize, id: u32, len: u32) {
        let q = self.queues[qi];
        let e = q.device + 4 + 8 * u64::from(q.used_idx % q.size);
        self.dma.write_u32(e, id);
        self.dma.write_u32(e + 4, len);
        self.set_used_idx(qi, q.used_idx.wrapping_add(1));
        self.isr |= ISR_QUEUE;
    }

    pub fn set_used_idx(&mut self, qi: usize, idx: u16) {
        self.queues[qi].used_idx = idx;
        let dev = self.queues[qi].device;
        self.dma.write_u16(dev + 2, idx);
    }

    /// Sets or clears `VIRTQ_USED_F_NO_NOTIFY` in queue `qi`'s used ring.
    pub fn set_no_notify(&mut self, qi: usize, on: bool) {
        let dev = self.queues[qi].device;
        self.dma.write_u16(dev, u16::from(on));
    }

    fn misbehave(&mut self, qi: usize, h: Option<Hostile>, id: u16, len: u32) {
        let size = u32::from(self.queues[qi].size);
        match h {
            Some(Hostile::IdOutOfRange) => {
                self.push_used(qi, size + 7, len);
                self.push_used(qi, id.into(), len);
            }
            Some(Hostile::DuplicateId) => {
                self.push_used(qi, id.into(), len);
                self.push_used(qi, id.into(), len);
            }
            Some(Hostile::LenTooLarge) => self.push_used(qi, id.into(), 12 + 1519),
            Some(Hostile::LenTooSmall) => self.push_used(qi, id.into(), 12 + 13),
            Some(Hostile::Overrun) => {
                self.push_used(qi, id.into(), len);
                let idx = self.queues[qi].used_idx.wrapping_add(1000);
                self.set_used_idx(qi, idx);
            }
            None => self.push_used(qi, id.into(), len),
        }
    }

    /// Sends every frame the driver made available on the transmit queue.
    pub fn complete_tx(&mut self) {
        while let Some((id, addr, len, flags)) = self.pop_avail(1) {
            let mut buf = vec![0u8; len as usize];
            if flags != 0 || len < 12 || self.dma.read(addr, &mut buf).is_none() {
                self.errors
                    .push(format!("tx descriptor {id}: {addr:#x} {len} {flags}"));
            } else if buf[..12] != [0; 12] {
                self.errors.push(format!("tx header {:?}", &buf[..12]));
            } else {
                self.tx_frames.push(buf[12..].to_vec());
            }
            let h = self.hostile_tx.take();
            self.misbehave(1, h, id, 0);
        }
    }

    /// Receives `frame` from the wire into the next receive buffer; `false`
    /// (dropped) when the driver has none available.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        let Some((id, addr, len, flags)) = self.pop_avail(0) else {
            return false;
        };
        let total = 12 + frame.len();
        if flags != 2 || (len as usize) < total {
            self.errors
                .push(format!("rx descriptor {id}: {len} {flags}"));
            return false;
        }
        let mut hdr = [0u8; 12];
        hdr[10] = 1;
        self.dma.write(addr, &hdr);
        self.dma.write(addr + 12, frame);
        let h = self.hostile_rx.take();
        self.misbehave(0, h, id, total as u32);
        true
    }

    /// Link state change: new `status`, config-change ISR bit, generation.
    pub fn set_link(&mut self, up: bool) {
        self.net_status = u16::from(up);
        self.generation = self.generation.wrapping_add(1);
        self.isr |= ISR_CONFIG;
    }
}
