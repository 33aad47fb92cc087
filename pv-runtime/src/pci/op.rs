//! The pcifront request protocol over the shared page (io/pciif.h): the
//! frontend writes one `xen_pci_op`, sets `_XEN_PCIF_active` in `flags` and
//! kicks the event channel; pciback answers in place and clears the bit.
//! Linux `pcifront do_pci_op` is the reference client. Sans-IO: the caller
//! kicks and waits; this module only reads and writes the page.
//!
//! The page is hostile once the backend owns it: the answer is copied out
//! once after the bit clears, and every field is validated from that copy.

use core::mem::{offset_of, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, Ordering};

use crate::abi::pciif::*;
use crate::shared_page::SharedPage;

use super::Address;

/// One request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Read `size` (1, 2 or 4) bytes at `offset`.
    ConfRead {
        offset: u16,
        size: u8,
    },
    ConfWrite {
        offset: u16,
        size: u8,
        value: u32,
    },
    /// Enable MSI; the answer is the pirq.
    EnableMsi,
    DisableMsi,
    /// Enable MSI-X entries `0..n`; the answer is one pirq per entry.
    EnableMsix {
        n: u8,
    },
    DisableMsix,
}

/// The answer, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Done,
    Value(u32),
    /// pirqs of MSI-X entries `0..n` (only the first `n` are meaningful).
    Pirqs {
        n: u8,
        pirqs: [u32; MAX_MSIX],
    },
}

/// MSI-X entries we ask for at most (a NIC needs one to three).
pub const MAX_MSIX: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("pciback: device not found")]
    NotFound,
    #[error("pciback: invalid config offset")]
    InvalidOffset,
    #[error("pciback: access denied")]
    AccessDenied,
    #[error("pciback: not implemented")]
    NotImplemented,
    #[error("pciback: operation failed")]
    Failed,
    #[error("pciback: error {0}")]
    Other(i32),
    #[error("pciback answered an invalid value {0:#x}")]
    BadAnswer(u32),
    #[error("bad request (size or offset)")]
    BadRequest,
    #[error("an operation is already in flight")]
    Busy,
    #[error("pciback did not answer in time")]
    Timeout,
}

/// The shared page as pcifront sees it.
pub struct OpPage<M: SharedPage> {
    page: M,
    in_flight: Option<Request>,
}

impl<M: SharedPage> OpPage<M> {
    pub fn new(page: M) -> Self {
        OpPage {
            page,
            in_flight: None,
        }
    }

    pub fn page(&self) -> &M {
        &self.page
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: offset 0 of a live, page-aligned shared page holds the u32
        // `flags` (pciif.h), which both ends only touch atomically.
        unsafe { AtomicU32::from_ptr(self.page.base().as_ptr().cast::<u32>()) }
    }

    fn op_ptr(&self) -> NonNull<PciOp> {
        // SAFETY: `op` lies within the page (size checked at compile time below).
        unsafe { self.page.base().add(offset_of!(PciSharedInfo, op)).cast() }
    }

    /// Writes `req` for `dev` and marks it active; the caller then kicks the
    /// event channel. Refuses while another is in flight, or a bad size/offset.
    pub fn start(&mut self, dev: Address, req: Request) -> Result<(), OpError> {
        if self.in_flight.is_some() {
            return Err(OpError::Busy);
        }
        let mut op = PciOp {
            cmd: 0,
            err: 0,
            domain: u32::from(dev.domain),
            bus: u32::from(dev.bus),
            devfn: u32::from(dev.devfn),
            offset: 0,
            size: 0,
            value: 0,
            info: 0,
            msix_entries: [MsixEntry::default(); SH_INFO_MAX_VEC],
        };
        let access = |offset: u16, size: u8| {
            let ok = matches!(size, 1 | 2 | 4)
                && offset < 4096
                && offset.is_multiple_of(u16::from(size));
            ok.then_some((i32::from(offset), i32::from(size)))
                .ok_or(OpError::BadRequest)
        };
        match req {
            Request::ConfRead { offset, size } => {
                op.cmd = XEN_PCI_OP_CONF_READ;
                (op.offset, op.size) = access(offset, size)?;
            }
            Request::ConfWrite {
                offset,
                size,
                value,
            } => {
                op.cmd = XEN_PCI_OP_CONF_WRITE;
                (op.offset, op.size) = access(offset, size)?;
                op.value = value;
            }
            Request::EnableMsi => op.cmd = XEN_PCI_OP_ENABLE_MSI,
            Request::DisableMsi => op.cmd = XEN_PCI_OP_DISABLE_MSI,
            Request::EnableMsix { n } => {
                if n == 0 || usize::from(n) > MAX_MSIX {
                    return Err(OpError::BadRequest);
                }
                op.cmd = XEN_PCI_OP_ENABLE_MSIX;
                op.value = u32::from(n);
                for (i, e) in op.msix_entries.iter_mut().take(usize::from(n)).enumerate() {
                    // Linux writes -1: the vector is an output.
                    *e = MsixEntry {
                        entry: i as u16,
                        vector: u16::MAX,
                    };
                }
            }
            Request::DisableMsix => op.cmd = XEN_PCI_OP_DISABLE_MSIX,
        }
        // SAFETY: op_ptr is in bounds and aligned (the page is page-aligned,
        // `op` sits at offset 4 with 4-byte alignment); the backend does not
        // read it until the active bit is set below.
        unsafe { self.op_ptr().write_volatile(op) };
        fence(Ordering::Release);
        self.flags().fetch_or(XEN_PCIF_ACTIVE, Ordering::AcqRel);
        self.in_flight = Some(req);
        Ok(())
    }

    /// The answer once pciback cleared the active bit, else `None`.
    pub fn poll(&mut self) -> Option<Result<Answer, OpError>> {
        let req = self.in_flight?;
        if self.flags().load(Ordering::Acquire) & XEN_PCIF_ACTIVE != 0 {
            return None;
        }
        self.in_flight = None;
        // SAFETY: as in `start`; the backend is done with the op (bit clear).
        let op = unsafe { self.op_ptr().read_volatile() };
        Some(Self::answer(req, &op))
    }

    /// Gives up on the request in flight (Linux does the same after its
    /// timeout): clears the bit so a late answer cannot be mistaken for the
    /// next one's... as far as the protocol allows.
    pub fn abandon(&mut self) {
        if self.in_flight.take().is_some() {
            self.flags().fetch_and(!XEN_PCIF_ACTIVE, Ordering::AcqRel);
        }
    }

    fn answer(req: Request, op: &PciOp) -> Result<Answer, OpError> {
        match op.err {
            XEN_PCI_ERR_SUCCESS => {}
            XEN_PCI_ERR_DEV_NOT_FOUND => return Err(OpError::NotFound),
            XEN_PCI_ERR_INVALID_OFFSET => return Err(OpError::InvalidOffset),
            XEN_PCI_ERR_ACCESS_DENIED => return Err(OpError::AccessDenied),
            XEN_PCI_ERR_NOT_IMPLEMENTED => return Err(OpError::NotImplemented),
            XEN_PCI_ERR_OP_FAILED => return Err(OpError::Failed),
            e => return Err(OpError::Other(e)),
        }
        match req {
            // pciback merges its virtual fields into a narrow read and may
            // leave bits above the access width set (Linux pcifront ignores
            // them by truncating): keep only the bytes asked for.
            Request::ConfRead { size, .. } => Ok(Answer::Value(match size {
                1 => op.value & 0xFF,
                2 => op.value & 0xFFFF,
                _ => op.value,
            })),
            Request::EnableMsi => match op.value {
                0 => Err(OpError::BadAnswer(0)),
                pirq => Ok(Answer::Value(pirq)),
            },
            Request::EnableMsix { n } => {
                // pciback sets `value` to a non-zero error on failure.
                if op.value != 0 {
                    return Err(OpError::BadAnswer(op.value));
                }
                let mut pirqs = [0; MAX_MSIX];
                for (p, e) in pirqs.iter_mut().zip(&op.msix_entries).take(usize::from(n)) {
                    if e.vector == 0 || e.vector == u16::MAX {
                        return Err(OpError::BadAnswer(u32::from(e.vector)));
                    }
                    *p = u32::from(e.vector);
                }
                Ok(Answer::Pirqs { n, pirqs })
            }
            Request::ConfWrite { .. } | Request::DisableMsi | Request::DisableMsix => {
                Ok(Answer::Done)
            }
        }
    }
}

const _: () = assert!(size_of::<PciSharedInfo>() <= crate::abi::PAGE_SIZE);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_page::HeapPage;

    const DEV: Address = Address {
        domain: 0,
        bus: 0,
        devfn: 0,
    };

    /// Plays pciback on a clone of the page: reads the op, answers, clears the bit.
    fn backend(page: &HeapPage, answer: impl FnOnce(&mut PciOp)) {
        let base = page.base().as_ptr();
        // SAFETY: test-only: the page is live; this is the peer's side.
        unsafe {
            let flags = AtomicU32::from_ptr(base.cast::<u32>());
            assert_eq!(flags.load(Ordering::Acquire) & XEN_PCIF_ACTIVE, 1);
            let op = base.add(4).cast::<PciOp>();
            let mut o = op.read_volatile();
            answer(&mut o);
            op.write_volatile(o);
            flags.fetch_and(!XEN_PCIF_ACTIVE, Ordering::AcqRel);
        }
    }

    #[test]
    fn conf_read_round_trip() {
        let page = HeapPage::new();
        let mut p = OpPage::new(page.clone());
        p.start(DEV, Request::ConfRead { offset: 0, size: 4 })
            .unwrap();
        assert_eq!(
            p.poll(),
            None,
            "no answer before the backend clears the bit"
        );
        assert_eq!(p.start(DEV, Request::EnableMsi), Err(OpError::Busy));
        backend(&page, |o| {
            assert_eq!((o.cmd, o.offset, o.size), (XEN_PCI_OP_CONF_READ, 0, 4));
            o.value = 0x100e_8086;
        });
        assert_eq!(p.poll(), Some(Ok(Answer::Value(0x100e_8086))));
        assert_eq!(p.poll(), None);
    }

    #[test]
    fn errors_and_hostile_answers() {
        let page = HeapPage::new();
        let mut p = OpPage::new(page.clone());
        p.start(
            DEV,
            Request::ConfWrite {
                offset: 4,
                size: 2,
                value: 6,
            },
        )
        .unwrap();
        backend(&page, |o| o.err = XEN_PCI_ERR_ACCESS_DENIED);
        assert_eq!(p.poll(), Some(Err(OpError::AccessDenied)));
        // a 1-byte read answered with more than 8 bits: truncated
        p.start(
            DEV,
            Request::ConfRead {
                offset: 0x3c,
                size: 1,
            },
        )
        .unwrap();
        backend(&page, |o| o.value = 0x1ff);
        assert_eq!(p.poll(), Some(Ok(Answer::Value(0xff))));
        p.start(DEV, Request::EnableMsi).unwrap();
        backend(&page, |o| o.value = 0);
        assert_eq!(p.poll(), Some(Err(OpError::BadAnswer(0))));
        p.start(DEV, Request::EnableMsix { n: 2 }).unwrap();
        backend(&page, |o| {
            assert_eq!(o.value, 2);
            o.value = 0;
            o.msix_entries[0].vector = 55;
        });
        assert_eq!(p.poll(), Some(Err(OpError::BadAnswer(0xffff))));
        p.start(DEV, Request::EnableMsix { n: 1 }).unwrap();
        backend(&page, |o| {
            o.value = 0;
            o.msix_entries[0].vector = 55;
        });
        let Some(Ok(Answer::Pirqs { n: 1, pirqs })) = p.poll() else {
            panic!()
        };
        assert_eq!(pirqs[0], 55);
        p.start(DEV, Request::EnableMsi).unwrap();
        backend(&page, |o| o.err = -99);
        assert_eq!(p.poll(), Some(Err(OpError::Other(-99))));
    }

    #[test]
    fn refuses_bad_requests() {
        let mut p = OpPage::new(HeapPage::new());
        for r in [
            Request::ConfRead { offset: 0, size: 3 },
            Request::ConfRead { offset: 2, size: 4 },
            Request::ConfRead {
                offset: 4096,
                size: 1,
            },
            Request::EnableMsix { n: 0 },
            Request::EnableMsix {
                n: MAX_MSIX as u8 + 1,
            },
        ] {
            assert_eq!(p.start(DEV, r), Err(OpError::BadRequest), "{r:?}");
        }
    }

    #[test]
    fn abandon_frees_the_slot() {
        let mut p = OpPage::new(HeapPage::new());
        p.start(DEV, Request::EnableMsi).unwrap();
        p.abandon();
        assert_eq!(p.poll(), None);
        p.start(DEV, Request::DisableMsi).unwrap();
    }
}
