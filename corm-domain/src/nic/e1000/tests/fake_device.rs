//! A fake 82540EM/82574L behind `Mmio`, modelled on the datasheets and on
//! QEMU 7.2's hw/net/e1000.c and e1000e_core.c where they matter to the
//! driver: CTRL.RST only self-clears (registers survive it, as in QEMU),
//! ICR clears on read on the 82540 but on the 82574 only when IMS is 0 or
//! IAME is set, MSI-X mode raises RXQ0/TXQ0/OTHER, the 82574 only
//! transmits with TARC0.ENABLE, EERD uses each model's layout. Transmit
//! descriptors go through `fake_tx` (context/data descriptors, checksum
//! insertion, TSO).
//!
//! The device reaches the driver's memory only through `FakeDma`, and any
//! bus address outside the pages the driver allocated panics (fails the
//! test), as does a receive descriptor handed over with a stale status.

use std::cell::RefCell;
use std::rc::Rc;
use std::vec::Vec;

use crate::nic::fake::FakeDma;
use crate::nic::Mmio;

use super::super::desc::{RXD_STAT_DD, RXD_STAT_EOP, TXD_CMD_RS, TXD_STAT_DD};
use super::super::model::Model;
use super::super::regs::*;
use super::fake_tx::TxEngine;

/// How an injected frame is delivered.
#[derive(Clone, Copy, Debug, Default)]
pub struct RxOpts {
    /// Errors byte written into the (last) descriptor.
    pub errors: u8,
    /// Split the frame over two descriptors after this many bytes.
    pub split: Option<usize>,
    /// Write this length instead of the real one (a lying device).
    pub length: Option<u16>,
}

pub struct Dev {
    pub model: Model,
    pub dma: FakeDma,
    regs: Vec<u32>,
    pub eeprom: [u16; 64],
    /// `Some(n)`: CTRL.RST reads back set for `n` reads after a reset, then
    /// clears. `None`: it never clears.
    pub reset_reads: Option<u32>,
    rst_left: Option<u32>,
    pub resets: u32,
    /// Reads return all-ones and writes are lost.
    pub gone: bool,
    pub link: bool,
    /// MSI-X enabled in config space (the caller's doing).
    pub msix: bool,
    /// Process the transmit ring on every TDT write; otherwise only on
    /// `complete_tx`.
    pub tx_auto: bool,
    /// Force TDH to read as this value (a corrupt device).
    pub tdh_override: Option<u32>,
    /// Frames the device put on the wire, in order.
    pub sent: Vec<Vec<u8>>,
    /// Command bytes of every transmit descriptor processed.
    pub tx_cmds: Vec<u8>,
    /// Context and data descriptor processing (`fake_tx`); reset by CTRL.RST.
    pub tx: TxEngine,
    /// Frames that found no free receive descriptor.
    pub rx_missed: u32,
    /// Register accesses by the driver: (offset, is_write), in order.
    pub accesses: Vec<(usize, bool)>,
    /// Interrupt messages sent (MSI/MSI-X): one each time a cause newly
    /// appears in ICR & IMS, none for a cause still latched (QEMU e1000e
    /// `e1000e_send_msi`), so a lost one is never repeated.
    pub messages: u32,
}

#[derive(Clone)]
pub struct FakeE1000(pub Rc<RefCell<Dev>>);

pub const TEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// Filler the MTA starts with, so the test sees the driver clear it.
pub const MTA_JUNK: u32 = 0xDEAD_BEEF;

impl FakeE1000 {
    /// A device whose MAC is in RAL0/RAH0 (as QEMU loads it at reset).
    pub fn new(model: Model, dma: FakeDma) -> Self {
        let mut eeprom = [0u16; 64];
        for (w, pair) in TEST_MAC.chunks_exact(2).enumerate() {
            eeprom[w] = u16::from_le_bytes([pair[0], pair[1]]);
        }
        let mut dev = Dev {
            model,
            dma,
            regs: vec![0; 0x8000],
            eeprom,
            reset_reads: Some(0),
            rst_left: None,
            resets: 0,
            gone: false,
            link: true,
            msix: false,
            tx_auto: true,
            tdh_override: None,
            sent: Vec::new(),
            tx_cmds: Vec::new(),
            tx: TxEngine::default(),
            rx_missed: 0,
            accesses: Vec::new(),
            messages: 0,
        };
        dev.set(CTRL, CTRL_FD | CTRL_SLU | CTRL_LRST);
        dev.set(EECD, EECD_AUTO_RD);
        let ral = u32::from_le_bytes([TEST_MAC[0], TEST_MAC[1], TEST_MAC[2], TEST_MAC[3]]);
        dev.set(RAL0, ral);
        dev.set(
            RAH0,
            u32::from_le_bytes([TEST_MAC[4], TEST_MAC[5], 0, 0]) | RAH_AV,
        );
        for i in 0..MTA_WORDS {
            dev.set(MTA + 4 * i, MTA_JUNK);
        }
        FakeE1000(Rc::new(RefCell::new(dev)))
    }

    pub fn dev(&self) -> std::cell::RefMut<'_, Dev> {
        self.0.borrow_mut()
    }
}

impl Dev {
    /// Register reads and writes since the last call, which forgets them.
    pub fn take_accesses(&mut self) -> (usize, usize) {
        let a = std::mem::take(&mut self.accesses);
        let writes = a.iter().filter(|(_, w)| *w).count();
        (a.len() - writes, writes)
    }

    pub fn reg(&self, off: usize) -> u32 {
        self.regs[off / 4]
    }

    /// Sets a register behind the driver's back (no side effects).
    pub fn set(&mut self, off: usize, v: u32) {
        self.regs[off / 4] = v;
    }

    fn pcie(&self) -> bool {
        self.model == Model::I82574L
    }

    /// Raises causes the way QEMU does: in MSI-X mode LSC/RXO also set OTHER.
    pub fn raise(&mut self, cause: u32) {
        let was = self.reg(ICR) & self.reg(IMS);
        let mut icr = self.reg(ICR) | cause;
        if self.msix && icr & (ICR_LSC | ICR_RXO) != 0 {
            icr |= ICR_OTHER;
        }
        self.set(ICR, icr);
        if icr & self.reg(IMS) & !was != 0 {
            self.messages += 1;
        }
    }

    /// Whether the interrupt line/message would be pending.
    pub fn irq_pending(&self) -> bool {
        self.reg(ICR) & self.reg(IMS) != 0
    }

    pub fn set_link(&mut self, up: bool) {
        self.link = up;
        self.raise(ICR_LSC);
    }

    fn read(&mut self, off: usize) -> u32 {
        match off {
            CTRL => {
                if let Some(n) = self.rst_left {
                    if n == 0 {
                        self.rst_left = None;
                        let c = self.reg(CTRL) & !CTRL_RST;
                        self.set(CTRL, c);
                    } else {
                        self.rst_left = Some(n - 1);
                    }
                }
                self.reg(CTRL)
            }
            STATUS => {
                let mut s = if self.link { STATUS_LU | 1 } else { 1 };
                if self.pcie() && self.reg(CTRL) & CTRL_GIO_MASTER_DISABLE == 0 {
                    s |= STATUS_GIO_MASTER_EN;
                }
                s
            }
            ICR => {
                let icr = self.reg(ICR);
                if !self.pcie() {
                    self.set(ICR, 0);
                    return icr;
                }
                let icr = if icr != 0 { icr | ICR_INT_ASSERTED } else { 0 };
                if self.reg(IMS) == 0 || self.reg(CTRL_EXT) & CTRL_EXT_IAME != 0 {
                    self.set(ICR, 0);
                }
                icr
            }
            EERD if !self.pcie() => {
                let v = self.reg(EERD);
                if v & EERD_START == 0 {
                    return v;
                }
                let addr = ((v >> 8) & 0xFF) as usize;
                let data = self.eeprom.get(addr).copied().unwrap_or(0) as u32;
                (data << 16) | (1 << 4) | (v & !EERD_START)
            }
            TDH => self.tdh_override.unwrap_or(self.reg(TDH)),
            _ => self.reg(off),
        }
    }

    fn write(&mut self, off: usize, v: u32) {
        match off {
            CTRL => {
                self.set(CTRL, v & !CTRL_RST);
                if v & CTRL_RST != 0 {
                    self.resets += 1;
                    self.tx.reset();
                    match self.reset_reads {
                        Some(0) => {}
                        Some(n) => {
                            self.set(CTRL, v);
                            self.rst_left = Some(n);
                        }
                        None => {
                            self.set(CTRL, v);
                            self.rst_left = Some(u32::MAX);
                        }
                    }
                }
            }
            ICR => {
                let mut clear = v;
                if v & ICR_OTHER != 0 {
                    clear |= ICR_LSC | ICR_RXO;
                }
                let icr = self.reg(ICR) & !clear;
                self.set(ICR, icr);
            }
            ICS => self.raise(v),
            IMS => {
                let ims = self.reg(IMS) | v;
                self.set(IMS, ims);
            }
            IMC => {
                let ims = self.reg(IMS) & !v;
                self.set(IMS, ims);
            }
            EERD if self.pcie() => {
                let addr = ((v >> 2) & 0x3FFF) as usize;
                let data = self.eeprom.get(addr).copied().unwrap_or(0) as u32;
                let done = if v & EERD_START != 0 { 1 << 1 } else { 0 };
                self.set(EERD, (data << 16) | (addr as u32) << 2 | done);
            }
            TDT | TCTL => {
                self.set(off, v);
                if self.tx_auto {
                    self.complete_tx();
                }
            }
            _ => self.set(off, v),
        }
    }

    fn ring_len(&self, len_reg: usize) -> u32 {
        self.reg(len_reg) / 16
    }

    fn base(&self, lo: usize, hi: usize) -> u64 {
        (u64::from(self.reg(hi)) << 32) | u64::from(self.reg(lo))
    }

    /// Processes transmit descriptors from TDH to TDT (QEMU `start_xmit`).
    pub fn complete_tx(&mut self) {
        if self.reg(TCTL) & TCTL_EN == 0 || (self.pcie() && self.reg(TARC0) & TARC_ENABLE == 0) {
            return;
        }
        let n = self.ring_len(TDLEN);
        if n == 0 || self.reg(TDT) >= n {
            return;
        }
        let mut done = false;
        while self.reg(TDH) != self.reg(TDT) {
            let at = self.base(TDBAL, TDBAH) + 16 * u64::from(self.reg(TDH));
            let first = self
                .dma
                .read_u64(at)
                .expect("TX descriptor outside DMA pages");
            let second = self.dma.read_u64(at + 8).expect("TX descriptor");
            let cmd = (second >> 24) as u8;
            let dma = &self.dma;
            let frames = self.tx.descriptor(first, second, |addr, len| {
                let mut data = vec![0u8; len];
                dma.read(addr, &mut data)
                    .expect("TX buffer outside DMA pages");
                data
            });
            self.tx_cmds.push(cmd);
            self.sent.extend(frames);
            if cmd & TXD_CMD_RS != 0 {
                let upper = self.dma.read_u32(at + 12).unwrap();
                self.dma
                    .write_u32(at + 12, upper | u32::from(TXD_STAT_DD))
                    .unwrap();
            }
            let head = (self.reg(TDH) + 1) % n;
            self.set(TDH, head);
            done = true;
        }
        if done {
            self.raise(if self.msix { ICR_TXQ0 } else { ICR_TXDW } | ICR_TXQE);
        }
    }

    pub fn inject(&mut self, frame: &[u8]) -> bool {
        self.inject_with(frame, RxOpts::default())
    }

    /// Writes `frame` into the next free receive descriptor(s) (QEMU
    /// `e1000_receive_iov`); false (and RXO) if the driver posted none.
    pub fn inject_with(&mut self, frame: &[u8], opts: RxOpts) -> bool {
        let n = self.ring_len(RDLEN);
        if self.reg(RCTL) & RCTL_EN == 0 || n == 0 {
            self.rx_missed += 1;
            return false;
        }
        let pieces: Vec<&[u8]> = match opts.split {
            Some(k) => vec![&frame[..k], &frame[k..]],
            None => vec![frame],
        };
        let free = (self.reg(RDT) + n - self.reg(RDH)) % n;
        if (free as usize) < pieces.len() {
            self.rx_missed += 1;
            self.raise(ICR_RXO);
            return false;
        }
        let last = pieces.len() - 1;
        for (k, piece) in pieces.iter().enumerate() {
            assert!(piece.len() <= 2048, "frame larger than RCTL.BSIZE");
            let at = self.base(RDBAL, RDBAH) + 16 * u64::from(self.reg(RDH));
            let buf = self
                .dma
                .read_u64(at)
                .expect("RX descriptor outside DMA pages");
            let old = self.dma.read_u64(at + 8).unwrap();
            assert_eq!(
                old >> 32 & 0xFF,
                0,
                "RX descriptor posted with stale status"
            );
            self.dma
                .write(buf, piece)
                .expect("RX buffer outside DMA pages");
            let (status, errors) = if k == last {
                (RXD_STAT_DD | RXD_STAT_EOP, opts.errors)
            } else {
                (RXD_STAT_DD, 0)
            };
            let len = opts.length.unwrap_or(piece.len() as u16);
            self.dma.write_u16(at + 8, len).unwrap();
            self.dma.write(at + 12, &[status, errors]).unwrap();
            let head = (self.reg(RDH) + 1) % n;
            self.set(RDH, head);
        }
        self.raise(if self.msix { ICR_RXQ0 } else { ICR_RXT0 });
        true
    }
}

impl Mmio for FakeE1000 {
    fn len(&self) -> usize {
        0x20000
    }
    fn read8(&self, _offset: usize) -> u8 {
        panic!("the e1000 driver only uses 32-bit register accesses")
    }
    fn read16(&self, _offset: usize) -> u16 {
        panic!("the e1000 driver only uses 32-bit register accesses")
    }
    fn read32(&self, offset: usize) -> u32 {
        let mut d = self.0.borrow_mut();
        assert!(
            offset.is_multiple_of(4) && offset < 0x20000,
            "bad register offset {offset:#x}"
        );
        d.accesses.push((offset, false));
        if d.gone {
            return ALL_ONES;
        }
        d.read(offset)
    }
    fn write8(&self, _offset: usize, _value: u8) {
        panic!("the e1000 driver only uses 32-bit register accesses")
    }
    fn write16(&self, _offset: usize, _value: u16) {
        panic!("the e1000 driver only uses 32-bit register accesses")
    }
    fn write32(&self, offset: usize, value: u32) {
        let mut d = self.0.borrow_mut();
        assert!(
            offset.is_multiple_of(4) && offset < 0x20000,
            "bad register offset {offset:#x}"
        );
        d.accesses.push((offset, true));
        if d.gone {
            return;
        }
        d.write(offset, value);
    }
}
