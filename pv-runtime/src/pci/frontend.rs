//! pcifront: the xenbus handshake with dom0's pciback and the config-space
//! and MSI operations over it (io/pciif.h; Linux `xen-pcifront.c` is the
//! reference frontend, `xen-pciback/xenbus.c` the backend we talk to).
//!
//! Handshake: libxl creates `device/pci/0` (state Initialising) and pciback
//! reaches InitWait/Initialised once it exported the devices; we grant the op
//! page, allocate a port, write `pci-op-ref`, `event-channel` and `magic`,
//! and switch to Initialised; pciback maps them and goes Connected; we read
//! `root_num`/`root-N`, scan those buses and switch to Connected.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::abi::{DomId, GrantRef, Port, DOMID_SELF};
use crate::event::Events;
use crate::mm::heap::alloc_page;
use crate::pci::address::parse_root_num;
use crate::pci::op::{Answer, MAX_MSIX};
use crate::pci::{config, Address, OpError, OpPage, Request, Root};
use crate::println;
use crate::runtime::Runtime;
use crate::shared_page::RawPage;
use crate::time::now_ns;
use crate::xenbus::{self, XenbusState};

/// How long pciback gets to answer one op (Linux pcifront: 3 s).
const OP_TIMEOUT_NS: u64 = 3_000_000_000;

/// The device directory libxl makes for the first (only) PCI frontend.
pub const DEVICE: &str = "device/pci/0";

#[derive(Debug, thiserror::Error)]
pub enum PciError {
    #[error("no PCI frontend in xenstore ({0}): was the domain created with pci=[...]?")]
    NoDevice(&'static str),
    #[error("xenstore value {0} is malformed")]
    BadValue(String),
    #[error("out of memory or grants for the op page")]
    NoResources,
    #[error("event channel: {0}")]
    Event(#[from] crate::hypervisor::XenError),
    #[error("xenbus: {0}")]
    Xenbus(#[from] crate::xenbus::XenbusError),
    #[error("xenstore: {0}")]
    Xenstore(#[from] crate::xenstore::XsError),
    #[error("pciback went to state {0:?} instead of Connected")]
    BackendState(Option<XenbusState>),
    #[error("pci op: {0}")]
    Op(#[from] OpError),
}

/// A function the backend exports.
#[derive(Clone, Copy, Debug)]
pub struct Function {
    pub address: Address,
    pub vendor: u16,
    pub device: u16,
}

pub struct PciFront {
    ops: OpPage<RawPage>,
    port: Port,
    pub backend_id: DomId,
    pub backend: String,
    /// Kept granted for our lifetime: pciback keeps the page mapped.
    _gref: GrantRef,
    pub functions: Vec<Function>,
}

impl PciFront {
    /// Runs the handshake and scans the exported buses; `deadline_ns` bounds
    /// every wait for pciback.
    pub fn connect(rt: &mut Runtime, deadline_ns: u64) -> Result<PciFront, PciError> {
        let backend = rt
            .xs
            .read(&format!("{DEVICE}/backend"))
            .map_err(|_| PciError::NoDevice(DEVICE))?;
        let id_text = rt.xs.read(&format!("{DEVICE}/backend-id"))?;
        let backend_id = crate::xenstore::parse_decimal(&id_text)
            .and_then(|d| DomId::try_from(d).ok())
            .filter(|&d| d < DOMID_SELF)
            .ok_or(PciError::BadValue(id_text))?;
        let (va, mfn) = alloc_page().map_err(|_| PciError::NoResources)?;
        let gref = rt
            .grants
            .grant(backend_id, mfn, false)
            .map_err(|_| PciError::NoResources)?;
        let port = rt.events.alloc_unbound(backend_id)?;
        rt.xs.transaction(|tx| {
            tx.write(&format!("{DEVICE}/pci-op-ref"), &format!("{gref}"))?;
            tx.write(&format!("{DEVICE}/event-channel"), &format!("{port}"))?;
            tx.write(&format!("{DEVICE}/magic"), crate::abi::pciif::XEN_PCI_MAGIC)?;
            Ok(())
        })?;
        xenbus::switch_state(&mut rt.xs, DEVICE, XenbusState::Initialised)?;
        println!("PCIFRONT: offered page {gref} port {port} to {backend}");
        let st = xenbus::wait_for_state(
            &mut rt.xs,
            &backend,
            |s| {
                !matches!(
                    s,
                    Some(
                        XenbusState::Initialising
                            | XenbusState::InitWait
                            | XenbusState::Initialised
                    )
                )
            },
            deadline_ns,
        )?;
        if st != Some(XenbusState::Connected) {
            return Err(PciError::BackendState(st));
        }
        println!("PCIFRONT: backend connected");
        // SAFETY: a fresh direct-mapped page that stays allocated (never
        // freed) and is reached only through OpPage's atomics/volatile copies.
        let page = unsafe { RawPage::new(va as *mut u8) }.ok_or(PciError::NoResources)?;
        let mut front = PciFront {
            ops: OpPage::new(page),
            port,
            backend_id,
            backend,
            _gref: gref,
            functions: Vec::new(),
        };
        let roots = front.roots(rt)?;
        for root in roots {
            front.scan(&mut rt.events, root)?;
        }
        xenbus::switch_state(&mut rt.xs, DEVICE, XenbusState::Connected)?;
        println!("PCIFRONT: connected, {} function(s)", front.functions.len());
        Ok(front)
    }

    fn roots(&self, rt: &mut Runtime) -> Result<Vec<Root>, PciError> {
        let n_text = rt.xs.read(&format!("{}/root_num", self.backend))?;
        let n = parse_root_num(&n_text).ok_or(PciError::BadValue(n_text))?;
        (0..n)
            .map(|i| {
                let v = rt.xs.read(&format!("{}/root-{i}", self.backend))?;
                Root::parse(&v).ok_or(PciError::BadValue(v))
            })
            .collect()
    }

    fn scan(&mut self, events: &mut Events, root: Root) -> Result<(), PciError> {
        for slot in 0..32 {
            let Some(f0) = Address::new(root, slot, 0) else {
                continue;
            };
            let Some(first) = self.probe(events, f0)? else {
                continue;
            };
            self.functions.push(first);
            let header = self.read(events, f0, config::HEADER_TYPE, 1)?;
            if header & 0x80 != 0 {
                for func in 1..8 {
                    let Some(a) = Address::new(root, slot, func) else {
                        continue;
                    };
                    if let Some(f) = self.probe(events, a)? {
                        self.functions.push(f);
                    }
                }
            }
        }
        Ok(())
    }

    /// The function's IDs, or `None` if nothing answers there.
    fn probe(&mut self, events: &mut Events, a: Address) -> Result<Option<Function>, PciError> {
        match self.read(events, a, config::VENDOR_ID, 4) {
            Ok(v) if v & 0xFFFF != 0xFFFF && v & 0xFFFF != 0 => Ok(Some(Function {
                address: a,
                vendor: v as u16,
                device: (v >> 16) as u16,
            })),
            Ok(_) | Err(PciError::Op(OpError::NotFound)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn exchange(
        &mut self,
        events: &mut Events,
        dev: Address,
        req: Request,
    ) -> Result<Answer, PciError> {
        self.ops.start(dev, req)?;
        events.notify(self.port)?;
        let deadline = now_ns() + OP_TIMEOUT_NS;
        loop {
            if let Some(answer) = self.ops.poll() {
                return Ok(answer?);
            }
            if now_ns() >= deadline {
                self.ops.abandon();
                return Err(OpError::Timeout.into());
            }
            events.wait_one(self.port, deadline);
        }
    }

    pub fn read(
        &mut self,
        events: &mut Events,
        dev: Address,
        offset: u16,
        size: u8,
    ) -> Result<u32, PciError> {
        match self.exchange(events, dev, Request::ConfRead { offset, size })? {
            Answer::Value(v) => Ok(v),
            _ => Err(OpError::BadAnswer(0).into()),
        }
    }

    pub fn write(
        &mut self,
        events: &mut Events,
        dev: Address,
        offset: u16,
        size: u8,
        value: u32,
    ) -> Result<(), PciError> {
        self.exchange(
            events,
            dev,
            Request::ConfWrite {
                offset,
                size,
                value,
            },
        )
        .map(|_| ())
    }

    /// Enables MSI; returns the pirq Xen delivers it on.
    pub fn enable_msi(&mut self, events: &mut Events, dev: Address) -> Result<u32, PciError> {
        match self.exchange(events, dev, Request::EnableMsi)? {
            Answer::Value(pirq) => Ok(pirq),
            _ => Err(OpError::BadAnswer(0).into()),
        }
    }

    /// Enables MSI-X entries `0..n`; returns their pirqs.
    pub fn enable_msix(
        &mut self,
        events: &mut Events,
        dev: Address,
        n: u8,
    ) -> Result<[u32; MAX_MSIX], PciError> {
        match self.exchange(events, dev, Request::EnableMsix { n })? {
            Answer::Pirqs { pirqs, .. } => Ok(pirqs),
            _ => Err(OpError::BadAnswer(0).into()),
        }
    }

    pub fn disable_msi(&mut self, events: &mut Events, dev: Address) -> Result<(), PciError> {
        self.exchange(events, dev, Request::DisableMsi).map(|_| ())
    }

    pub fn disable_msix(&mut self, events: &mut Events, dev: Address) -> Result<(), PciError> {
        self.exchange(events, dev, Request::DisableMsix).map(|_| ())
    }

    /// The BAR at `index` (0..=5): value and size from the all-ones probe,
    /// with the original value restored. `None`: absent.
    pub fn bar(
        &mut self,
        events: &mut Events,
        dev: Address,
        index: u8,
    ) -> Result<Option<crate::pci::Bar>, PciError> {
        if index > 5 {
            return Ok(None);
        }
        let off = config::BAR0 + 4 * u16::from(index);
        let lo = self.read(events, dev, off, 4)?;
        let wide = crate::pci::Bar::is_wide(lo) && index < 5;
        let hi = if wide {
            self.read(events, dev, off + 4, 4)?
        } else {
            0
        };
        self.write(events, dev, off, 4, u32::MAX)?;
        let mask_lo = self.read(events, dev, off, 4)?;
        self.write(events, dev, off, 4, lo)?;
        let mask_hi = if wide {
            self.write(events, dev, off + 4, 4, u32::MAX)?;
            let m = self.read(events, dev, off + 4, 4)?;
            self.write(events, dev, off + 4, 4, hi)?;
            m
        } else {
            0
        };
        Ok(crate::pci::Bar::decode(lo, hi, mask_lo, mask_hi))
    }
}
