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

/// Transmit command: extended descriptor (context or data, SDM §3.3.6-§3.3.7).
pub const TXD_CMD_DEXT: u8 = 1 << 5;
/// Data descriptor command: TCP segmentation enable (SDM §3.3.7.1).
pub const TXD_CMD_TSE: u8 = 1 << 2;
/// Context TUCMD: the packet is TCP (else UDP) (SDM §3.3.6.1).
pub const TUCMD_TCP: u8 = 1 << 0;
/// Context TUCMD: the packet is IPv4 (else IPv6).
pub const TUCMD_IP: u8 = 1 << 1;
/// Context TUCMD: TCP segmentation enable.
pub const TUCMD_TSE: u8 = 1 << 2;
/// DTYP of a data descriptor (bits 23:20 of the second dword); a context
/// descriptor's is 0.
pub const DTYP_DATA: u32 = 1 << 20;
/// Data descriptor POPTS: insert the IP checksum (SDM §3.3.7.2).
pub const POPTS_IXSM: u8 = 1 << 0;
/// Data descriptor POPTS: insert the TCP/UDP checksum.
pub const POPTS_TXSM: u8 = 1 << 1;

/// A TCP/IP context descriptor's fields (SDM §3.3.6; QEMU
/// `e1000x_read_tx_ctx_descr`). Offsets are from the frame start; an end of
/// 0 means "to the end of the packet".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    pub ipcss: u8,
    pub ipcso: u8,
    pub ipcse: u16,
    pub tucss: u8,
    pub tucso: u8,
    pub tucse: u16,
    /// TCP payload bytes of the whole TSO frame (20 bits).
    pub paylen: u32,
    pub tucmd: u8,
    pub hdrlen: u8,
    pub mss: u16,
}

/// Writes context descriptor `i` (DTYP 0, DEXT, no RS: it is never
/// written back, the frame's last data descriptor is).
pub fn tx_context(ring: &DmaPage, i: usize, c: &Context) {
    let lower = u64::from(c.ipcss)
        | u64::from(c.ipcso) << 8
        | u64::from(c.ipcse) << 16
        | u64::from(c.tucss) << 32
        | u64::from(c.tucso) << 40
        | u64::from(c.tucse) << 48;
    let cmd = c.tucmd | TXD_CMD_DEXT;
    let upper = u64::from(c.paylen & 0xF_FFFF)
        | u64::from(cmd) << 24
        | u64::from(c.hdrlen) << 40
        | u64::from(c.mss) << 48;
    ring.write_u64(at(i), lower);
    ring.write_u64(at(i) + 8, upper);
}

/// Writes data descriptor `i` (SDM §3.3.7): `cmd` is added to DEXT|IFCS,
/// `popts` asks for checksum insertion.
pub fn tx_data(ring: &DmaPage, i: usize, buf: u64, len: u16, cmd: u8, popts: u8) {
    let cmd = cmd | TXD_CMD_DEXT | TXD_CMD_IFCS;
    let lower = u64::from(len) | u64::from(DTYP_DATA) | u64::from(cmd) << 24;
    ring.write_u64(at(i), buf);
    ring.write_u64(at(i) + 8, lower | u64::from(popts) << 40);
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
