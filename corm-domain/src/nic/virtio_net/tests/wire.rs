//! The device side of the rings: what the fake virtio-net does with the
//! buffers the driver makes available, reached by bus address through
//! `FakeDma`, and the lies it can tell in its used rings.

use super::device::{DevState, MULT};
use super::fake_tx::{self, Hdr};
use crate::nic::virtio_net::common::{ISR_CONFIG, ISR_QUEUE, S_DRIVER_OK};
use crate::nic::virtio_net::features::F_EVENT_IDX;
use crate::nic::virtio_net::queue::need_event;

/// §2.7.5 descriptor flags.
const NEXT: u16 = 1;
const WRITE: u16 = 2;

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

    pub fn event_idx(&self) -> bool {
        self.driver_features & F_EVENT_IDX != 0
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
        let (addr, len, flags, _) = self.desc(qi, id)?;
        Some((id, addr, len, flags))
    }

    /// Descriptor `id` of queue `qi`: (addr, len, flags, next).
    fn desc(&self, qi: usize, id: u16) -> Option<(u64, u32, u16, u16)> {
        let d = self.queues[qi].desc + 16 * u64::from(id);
        Some((
            self.dma.read_u64(d)?,
            self.dma.read_u32(d + 8)?,
            self.dma.read_u16(d + 12)?,
            self.dma.read_u16(d + 14)?,
        ))
    }

    /// The bytes of the (device-readable) chain headed by `id`, or why it
    /// is malformed.
    fn gather(&mut self, qi: usize, id: u16) -> Result<Vec<u8>, String> {
        let size = self.queues[qi].size;
        let (mut at, mut out) = (id, Vec::new());
        for _ in 0..size {
            let (addr, len, flags, next) = self.desc(qi, at).ok_or("descriptor")?;
            if flags & !NEXT != 0 || len == 0 {
                return Err(format!("tx descriptor {at}: {addr:#x} {len} {flags}"));
            }
            let mut buf = vec![0u8; len as usize];
            self.dma
                .read(addr, &mut buf)
                .ok_or(format!("tx buffer {addr:#x}+{len}"))?;
            out.extend_from_slice(&buf);
            if flags & NEXT == 0 {
                return Ok(out);
            }
            if next >= size {
                return Err(format!("next {next}"));
            }
            at = next;
        }
        Err(format!("chain from {id} longer than the ring"))
    }

    /// Offsets of `used_event` in the driver area and `avail_event` in the
    /// device area of queue `qi` (§2.7.6, §2.7.8).
    fn used_event(&self, qi: usize) -> u16 {
        let q = self.queues[qi];
        self.dma
            .read_u16(q.driver + 4 + 2 * u64::from(q.size))
            .unwrap_or(0)
    }

    /// Asks for a notification once the driver adds past what it has
    /// published now (QEMU `virtio_queue_set_notification` with EVENT_IDX).
    fn want_notify(&mut self, qi: usize) {
        let q = self.queues[qi];
        if self.event_idx() && q.enabled {
            let avail = self.dma.read_u16(q.driver + 2).unwrap_or(0);
            self.dma
                .write_u16(q.device + 4 + 8 * u64::from(q.size), avail);
        }
    }

    fn push_used(&mut self, qi: usize, id: u32, len: u32) {
        let q = self.queues[qi];
        let e = q.device + 4 + 8 * u64::from(q.used_idx % q.size);
        self.dma.write_u32(e, id);
        self.dma.write_u32(e + 4, len);
        let (old, new) = (q.used_idx, q.used_idx.wrapping_add(1));
        self.set_used_idx(qi, new);
        self.isr |= ISR_QUEUE;
        // §2.7.7.2 (device side): interrupt if the driver asked for one.
        let wanted = if self.event_idx() {
            need_event(self.used_event(qi), new, old)
        } else {
            let flags = self.dma.read_u16(q.driver).unwrap_or(0);
            flags & 1 == 0
        };
        if wanted {
            self.interrupts[qi] += 1;
        }
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

    /// Sends every frame the driver made available on the transmit queue
    /// (segmenting and checksumming as its header says, `fake_tx`), then
    /// asks to be notified of the next.
    pub fn complete_tx(&mut self) {
        while let Some((id, _, _, _)) = self.pop_avail(1) {
            let sent = self.gather(1, id).and_then(|b| {
                self.tx_headers.push(Hdr::parse(&b));
                fake_tx::transmit(&b, self.driver_features)
            });
            match sent {
                Ok(frames) => self.tx_frames.extend(frames),
                Err(e) => self.errors.push(e),
            }
            let h = self.hostile_tx.take();
            self.misbehave(1, h, id, 0);
        }
        self.want_notify(1);
    }

    /// Receives `frame` from the wire into the next receive buffer; `false`
    /// (dropped) when the driver has none available.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        let Some((id, addr, len, flags)) = self.pop_avail(0) else {
            return false;
        };
        let total = 12 + frame.len();
        self.want_notify(0);
        if flags != WRITE || (len as usize) < total {
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
