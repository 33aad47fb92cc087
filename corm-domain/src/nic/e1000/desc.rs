//! Legacy descriptor layouts (SDM §3.2.3 receive, §3.3.3 transmit; the
//! 82574 uses the same format while RFCTL.EXTEN is clear, 82574 §7.1.4 and
//! §7.2.10) and the ring index arithmetic both rings share.
//!
//! Both rings are one 4 KiB page of 256 16-byte descriptors. A ring is empty
//! when head == tail, so software never lets tail catch up with head: at most
//! `RING_LEN - 1` descriptors belong to the device (SDM §3.2.6, §3.4).

use crate::nic::dma::{DmaPage, PAGE_SIZE};

/// Descriptors per ring.
pub const RING_LEN: usize = 256;
/// Bytes per legacy descriptor.
pub const DESC_LEN: usize = 16;
/// RDLEN/TDLEN: one page, a multiple of 128 as SDM §13.4.27 requires.
pub const RING_BYTES: u32 = (RING_LEN * DESC_LEN) as u32;
const _: () = assert!(RING_LEN * DESC_LEN == PAGE_SIZE);

/// Receive status: descriptor done (SDM §3.2.3.1).
pub const RXD_STAT_DD: u8 = 1 << 0;
/// Receive status: end of packet.
pub const RXD_STAT_EOP: u8 = 1 << 1;

/// Receive errors that mean the frame itself is bad: CRC (CE), symbol (SE),
/// sequence (SEQ), carrier extension (CXE) and RX data error (RXE)
/// (SDM §3.2.3.2). TCPE/IPE are checksum-offload verdicts; RXCSUM is 0 so
/// they never appear, and a switch forwards such frames anyway.
pub const RXD_ERR_FRAME: u8 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 4) | (1 << 7);

/// Transmit command: end of packet (SDM §3.3.3.1).
pub const TXD_CMD_EOP: u8 = 1 << 0;
/// Transmit command: insert FCS.
pub const TXD_CMD_IFCS: u8 = 1 << 1;
/// Transmit command: report status (write DD back).
pub const TXD_CMD_RS: u8 = 1 << 3;
/// Transmit status: descriptor done (SDM §3.3.3.2).
pub const TXD_STAT_DD: u8 = 1 << 0;

pub fn next(i: usize) -> usize {
    (i + 1) % RING_LEN
}

pub fn prev(i: usize) -> usize {
    (i + RING_LEN - 1) % RING_LEN
}

/// Descriptors from `from` up to (not including) `to`, going forward.
pub fn distance(from: usize, to: usize) -> usize {
    (to % RING_LEN + RING_LEN - from % RING_LEN) % RING_LEN
}

fn at(i: usize) -> usize {
    (i % RING_LEN) * DESC_LEN
}

/// What the device wrote back into a legacy receive descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxWriteBack {
    pub length: u16,
    pub status: u8,
    pub errors: u8,
}

/// Reads bytes 8..16 of receive descriptor `i` in one 64-bit access, so the
/// length, status and errors come from the same device write.
pub fn rx_writeback(ring: &DmaPage, i: usize) -> RxWriteBack {
    let upper = ring.read_u64(at(i) + 8);
    RxWriteBack {
        length: upper as u16,
        status: (upper >> 32) as u8,
        errors: (upper >> 40) as u8,
    }
}

/// Hands descriptor `i` to the device with buffer `buf` and a cleared
/// write-back area. The address is written again each time because the
/// device writes whole descriptors back and a faulty one could change it.
pub fn rx_post(ring: &DmaPage, i: usize, buf: u64) {
    ring.write_u64(at(i), buf);
    ring.write_u64(at(i) + 8, 0);
}

/// Fills transmit descriptor `i`: one buffer, one whole frame.
pub fn tx_fill(ring: &DmaPage, i: usize, buf: u64, len: u16) {
    let cmd = TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS;
    ring.write_u64(at(i), buf);
    ring.write_u64(at(i) + 8, u64::from(len) | (u64::from(cmd) << 24));
}

/// Whether the device wrote DD back into transmit descriptor `i`.
pub fn tx_done(ring: &DmaPage, i: usize) -> bool {
    (ring.read_u64(at(i) + 8) >> 32) as u8 & TXD_STAT_DD != 0
}

/// Zeroes descriptor `i`.
pub fn clear(ring: &DmaPage, i: usize) {
    ring.write_u64(at(i), 0);
    ring.write_u64(at(i) + 8, 0);
}
