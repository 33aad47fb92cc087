//! A NIC for data-plane tests: frames to receive, frames "transmitted"
//! (gathered exactly as a driver gathers them into DMA buffers), a ring
//! size and offload capabilities to choose.

use std::collections::VecDeque;
use std::vec::Vec;

use crate::nic::{
    Events, Nic, NicCounters, NicError, TxError, TxFrame, TxOffload, TxOffloads, MAX_FRAME,
};

pub struct FakeNic {
    pub rx: VecDeque<Vec<u8>>,
    pub sent: Vec<(Vec<u8>, Option<TxOffload>)>,
    /// Free transmit descriptors.
    pub space: usize,
    pub caps: TxOffloads,
    /// Bytes gathered into transmit buffers (the one copy on this path).
    pub copied: usize,
    /// Frames transmitted but not yet flushed to the "device".
    pub queued: usize,
    /// `flush_tx` calls that had frames to hand over (doorbells).
    pub doorbells: usize,
    /// The device completes what a doorbell hands it at once (QEMU's
    /// e1000): the queued frames' descriptors become free again.
    pub complete_on_flush: bool,
}

impl FakeNic {
    pub fn new() -> Self {
        FakeNic {
            rx: VecDeque::new(),
            sent: Vec::new(),
            space: 256,
            caps: TxOffloads::default(),
            copied: 0,
            queued: 0,
            doorbells: 0,
            complete_on_flush: false,
        }
    }

    pub fn with_offloads(mut self) -> Self {
        self.caps = TxOffloads {
            csum: true,
            tso_v4: true,
            tso_v6: true,
        };
        self
    }
}

impl Nic for FakeNic {
    fn mac(&self) -> [u8; 6] {
        [0x52, 0x54, 0, 0, 0, 9]
    }

    fn link_up(&self) -> bool {
        true
    }

    fn handle(&mut self) -> Events {
        Events::default()
    }

    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&mut [u8])) -> usize {
        let mut n = 0;
        while n < budget {
            let Some(mut f) = self.rx.pop_front() else {
                break;
            };
            sink(&mut f);
            n += 1;
        }
        n
    }

    fn transmit_frame(
        &mut self,
        frame: &TxFrame<'_>,
        offload: Option<TxOffload>,
    ) -> Result<(), TxError> {
        if self.space == 0 {
            return Err(TxError::Full);
        }
        match offload {
            None if frame.len() > MAX_FRAME => return Err(TxError::Length(frame.len())),
            Some(o) if o.tso_mss.is_some() && !(self.caps.tso_v4 || self.caps.tso_v6) => {
                return Err(TxError::Unsupported)
            }
            Some(o) if o.tso_mss.is_none() && !self.caps.csum => return Err(TxError::Unsupported),
            _ => {}
        }
        let mut buf = vec![0u8; frame.len()];
        if frame.needs_checksum() {
            frame.copy_whole(&mut buf)?;
        } else {
            frame.copy_to(0, &mut buf);
        }
        self.copied += frame.len();
        self.space -= 1;
        self.queued += 1;
        self.sent.push((buf, offload));
        Ok(())
    }

    fn flush_tx(&mut self) {
        if self.queued > 0 {
            if self.complete_on_flush {
                self.space += self.queued;
            }
            self.queued = 0;
            self.doorbells += 1;
        }
    }

    fn tx_space(&self) -> usize {
        self.space
    }

    fn tx_offloads(&self) -> TxOffloads {
        self.caps
    }

    fn counters(&self) -> NicCounters {
        NicCounters::default()
    }

    fn reinit(&mut self) -> Result<(), NicError> {
        Ok(())
    }

    fn stop(&mut self) {
        self.rx.clear();
    }
}
