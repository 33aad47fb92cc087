//! pcifront's answers (`xen/include/public/io/pciif.h`): the Corm reads and
//! writes its NIC's config space and enables MSI/MSI-X through one
//! `xen_pci_op` in a page shared with pciback, which answers in place and
//! clears `_XEN_PCIF_active`. The fuzz input plays pciback: per op it answers
//! honestly from a fuzz-chosen config space, or sets bits above the access
//! width, returns any `err`, scribbles anywhere over the page (flags, op,
//! MSI-X entries), or never answers (the caller abandons). On top of that
//! op layer run the Corm's capability walk (`nic::find_capability`), the BAR
//! decoding of sizing answers (`pci::Bar::decode`), and the parsers of
//! pciback's xenstore values (`root_num`, `root-N`, `dev-N`).
//!
//! Asserted, besides "no panic":
//! * the page holds exactly the request (`cmd`, `domain`/`bus`/`devfn`,
//!   `offset`/`size`/`value`, MSI-X entry numbers) when the bit is set;
//! * no answer is taken while the bit is set; once taken, the slot is free
//!   (a new op starts) and the same answer is never taken twice;
//! * a non-zero `err` is never success; a read's value fits the access
//!   width and is the backend's value masked; an MSI pirq is non-zero; MSI-X
//!   pirqs are the first `n` entries' vectors, none 0 or 0xffff, the rest 0;
//! * the capability walk makes a bounded number of reads and returns only a
//!   4-aligned offset >= 0x40 whose byte pciback answered as the id;
//! * a decoded BAR is a power-of-two size, naturally aligned, not wrapping;
//! * `root_num`, `root-N` and `dev-N` parse only their canonical text.
#![no_main]

use std::collections::BTreeMap;

use corm_domain::nic::capability::MAX_CAPABILITIES;
use corm_domain::nic::{find_capability, ConfigSpace, NicError, Width};
use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use pv_runtime::abi::pciif::*;
use pv_runtime::pci::address::{parse_root_num, MAX_ROOTS};
use pv_runtime::pci::op::{Answer, MAX_MSIX};
use pv_runtime::pci::{config, Address, Bar, OpError, OpPage, Request, Root};
use pv_runtime::shared_page::{HeapPage, SharedPage};

const OP: usize = 4;
const MAX_OPS: usize = 160;

const DEV: Address = Address {
    domain: 0,
    bus: 0,
    devfn: 3 << 3,
};

fn op_of(page: &HeapPage) -> PciOp {
    // SAFETY: the op sits at offset 4 of the live, page-aligned page; the
    // fuzz target is the only thread.
    unsafe { page.base().as_ptr().add(OP).cast::<PciOp>().read_volatile() }
}

fn set_op(page: &HeapPage, op: PciOp) {
    // SAFETY: as in `op_of`.
    unsafe {
        page.base()
            .as_ptr()
            .add(OP)
            .cast::<PciOp>()
            .write_volatile(op)
    }
}

fn flags(page: &HeapPage) -> u32 {
    // SAFETY: offset 0 of the page, aligned.
    unsafe { page.base().as_ptr().cast::<u32>().read_volatile() }
}

fn set_flags(page: &HeapPage, v: u32) {
    // SAFETY: as in `flags`.
    unsafe { page.base().as_ptr().cast::<u32>().write_volatile(v) }
}

/// pciback, hostile as the input says, over a config space.
struct Pciback<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    cfg: [u8; 256],
    page: HeapPage,
    ops: OpPage<HeapPage>,
    /// Reads made, and what each byte offset was last answered as.
    reads: usize,
    answered: BTreeMap<u16, u8>,
}

impl Pciback<'_, '_> {
    /// Checks the page holds `req`.
    fn check_request(&self, req: Request) {
        assert_eq!(flags(&self.page) & XEN_PCIF_ACTIVE, XEN_PCIF_ACTIVE);
        let op = op_of(&self.page);
        assert_eq!((op.domain, op.bus, op.devfn), (0, 0, u32::from(DEV.devfn)));
        match req {
            Request::ConfRead { offset, size } => {
                assert_eq!(op.cmd, XEN_PCI_OP_CONF_READ);
                assert_eq!((op.offset, op.size), (i32::from(offset), i32::from(size)));
            }
            Request::ConfWrite {
                offset,
                size,
                value,
            } => {
                assert_eq!(op.cmd, XEN_PCI_OP_CONF_WRITE);
                assert_eq!(
                    (op.offset, op.size, op.value),
                    (i32::from(offset), i32::from(size), value)
                );
            }
            Request::EnableMsi => assert_eq!(op.cmd, XEN_PCI_OP_ENABLE_MSI),
            Request::DisableMsi => assert_eq!(op.cmd, XEN_PCI_OP_DISABLE_MSI),
            Request::EnableMsix { n } => {
                assert_eq!((op.cmd, op.value), (XEN_PCI_OP_ENABLE_MSIX, u32::from(n)));
                for (i, e) in op.msix_entries.iter().take(usize::from(n)).enumerate() {
                    assert_eq!((e.entry, e.vector), (i as u16, u16::MAX));
                }
            }
            Request::DisableMsix => assert_eq!(op.cmd, XEN_PCI_OP_DISABLE_MSIX),
        }
    }

    /// Plays pciback on the op in the page; `false`: it never answers.
    fn answer(&mut self, req: Request) -> AResult<bool> {
        let mut op = op_of(&self.page);
        let honest = |op: &mut PciOp, cfg: &mut [u8; 256]| {
            op.err = 0;
            match req {
                Request::ConfRead { offset, size } => {
                    let mut v = [0u8; 4];
                    for (i, b) in v.iter_mut().take(usize::from(size)).enumerate() {
                        *b = cfg.get(usize::from(offset) + i).copied().unwrap_or(0xff);
                    }
                    op.value = u32::from_le_bytes(v);
                }
                Request::ConfWrite {
                    offset,
                    size,
                    value,
                } => {
                    let v = value.to_le_bytes();
                    for (i, byte) in v.iter().take(usize::from(size)).enumerate() {
                        if let Some(b) = cfg.get_mut(usize::from(offset) + i) {
                            *b = *byte;
                        }
                    }
                }
                _ => {}
            }
        };
        match self.u.int_in_range(0..=15u8)? {
            // Never answers: the caller times out.
            0 => return Ok(false),
            // Any err.
            1 => {
                honest(&mut op, &mut self.cfg);
                op.err = self.u.arbitrary()?;
            }
            // Bits above the access width, or any value.
            2 => {
                honest(&mut op, &mut self.cfg);
                op.value |= self.u.arbitrary::<u32>()? & !0xff;
            }
            3 => op.value = self.u.arbitrary()?,
            // MSI(-X) answers.
            4 | 5 => {
                op.err = if self.u.ratio(3, 4)? {
                    0
                } else {
                    self.u.arbitrary()?
                };
                op.value = if self.u.ratio(1, 2)? {
                    0
                } else {
                    self.u.arbitrary()?
                };
                for e in op.msix_entries.iter_mut().take(MAX_MSIX + 2) {
                    e.vector = match self.u.int_in_range(0..=3u8)? {
                        0 => 0,
                        1 => u16::MAX,
                        _ => self.u.arbitrary()?,
                    };
                }
            }
            // Raw bytes anywhere over the op.
            6 => {
                let at = self.u.int_in_range(0..=size_of::<PciOp>() - 1)?;
                let n = self.u.int_in_range(1..=32usize)?;
                let base = self.page.base().as_ptr();
                for i in 0..n.min(size_of::<PciOp>() - at) {
                    let b: u8 = self.u.arbitrary()?;
                    // SAFETY: inside the op, inside the page; single thread.
                    unsafe { base.add(OP + at + i).write_volatile(b) };
                }
                op = op_of(&self.page);
            }
            _ => honest(&mut op, &mut self.cfg),
        }
        set_op(&self.page, op);
        // Clear the bit; other flag bits as the backend likes.
        let other: u32 = if self.u.ratio(1, 8)? {
            self.u.arbitrary()?
        } else {
            0
        };
        set_flags(&self.page, other & !XEN_PCIF_ACTIVE);
        Ok(true)
    }

    /// One op, start to answer, with every property checked.
    fn exchange(&mut self, req: Request) -> AResult<Result<Answer, OpError>> {
        if let Err(e) = self.ops.start(DEV, req) {
            assert_eq!(e, OpError::BadRequest, "{req:?}");
            return Ok(Err(e));
        }
        self.check_request(req);
        assert_eq!(self.ops.poll(), None, "answer taken while active");
        assert_eq!(self.ops.start(DEV, req), Err(OpError::Busy));
        let answered = self.answer(req);
        if answered.is_err() {
            self.ops.abandon();
        }
        if !answered? {
            assert_eq!(self.ops.poll(), None);
            self.ops.abandon();
            assert_eq!(flags(&self.page) & XEN_PCIF_ACTIVE, 0);
            assert_eq!(self.ops.poll(), None);
            return Ok(Err(OpError::Timeout));
        }
        let op = op_of(&self.page);
        let got = self.ops.poll().expect("answer once the bit is clear");
        assert_eq!(self.ops.poll(), None, "one answer taken twice");
        check_answer(req, &op, &got);
        Ok(got)
    }
}

fn check_answer(req: Request, op: &PciOp, got: &Result<Answer, OpError>) {
    if op.err != XEN_PCI_ERR_SUCCESS {
        assert!(got.is_err(), "err {} taken as success", op.err);
        return;
    }
    match (req, got) {
        (Request::ConfRead { size, .. }, Ok(Answer::Value(v))) => {
            let mask = match size {
                1 => 0xff,
                2 => 0xffff,
                _ => u32::MAX,
            };
            assert_eq!(*v, op.value & mask);
        }
        (Request::EnableMsi, Ok(Answer::Value(p))) => assert!(*p != 0 && *p == op.value),
        (Request::EnableMsix { n }, Ok(Answer::Pirqs { n: m, pirqs })) => {
            assert_eq!(*m, n);
            assert_eq!(op.value, 0);
            for (i, p) in pirqs.iter().enumerate() {
                if i < usize::from(n) {
                    assert_eq!(*p, u32::from(op.msix_entries[i].vector));
                    assert!(*p != 0 && *p != 0xffff);
                } else {
                    assert_eq!(*p, 0);
                }
            }
        }
        (
            Request::ConfWrite { .. } | Request::DisableMsi | Request::DisableMsix,
            Ok(Answer::Done),
        ) => {}
        (Request::ConfRead { .. }, Err(_)) => panic!("read with err 0 refused: {got:?}"),
        (Request::EnableMsi | Request::EnableMsix { .. }, Err(OpError::BadAnswer(_))) => {}
        (r, g) => panic!("{r:?} answered {g:?}"),
    }
}

impl ConfigSpace for Pciback<'_, '_> {
    fn read(&mut self, offset: u16, width: Width) -> Result<u32, NicError> {
        let size = match width {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
        };
        self.reads += 1;
        match self.exchange(Request::ConfRead { offset, size }) {
            Ok(Ok(Answer::Value(v))) => {
                for (i, b) in v.to_le_bytes().iter().take(usize::from(size)).enumerate() {
                    self.answered.insert(offset + i as u16, *b);
                }
                Ok(v)
            }
            _ => Err(NicError::Config),
        }
    }

    fn write(&mut self, offset: u16, width: Width, value: u32) -> Result<(), NicError> {
        let size = match width {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
        };
        match self.exchange(Request::ConfWrite {
            offset,
            size,
            value,
        }) {
            Ok(Ok(_)) => Ok(()),
            _ => Err(NicError::Config),
        }
    }
}

/// The BAR sizing sequence pcifront runs (`PciFront::bar`), then `decode`.
fn size_bar(p: &mut Pciback, index: u8) -> Result<Option<Bar>, NicError> {
    let off = config::BAR0 + 4 * u16::from(index);
    let lo = p.read(off, Width::U32)?;
    let wide = Bar::is_wide(lo) && index < 5;
    let hi = if wide {
        p.read(off + 4, Width::U32)?
    } else {
        0
    };
    p.write(off, Width::U32, u32::MAX)?;
    let mask_lo = p.read(off, Width::U32)?;
    p.write(off, Width::U32, lo)?;
    let mask_hi = if wide {
        p.write(off + 4, Width::U32, u32::MAX)?;
        let m = p.read(off + 4, Width::U32)?;
        p.write(off + 4, Width::U32, hi)?;
        m
    } else {
        0
    };
    let bar = Bar::decode(lo, hi, mask_lo, mask_hi);
    match bar {
        Some(Bar::Memory {
            base, size, wide, ..
        }) => {
            assert!(size.is_power_of_two() && base % size == 0);
            assert!(base.checked_add(size).is_some());
            if !wide {
                assert!(base + size <= 1 << 32);
            }
        }
        Some(Bar::Io { base, size }) => {
            assert!(size.is_power_of_two() && size <= 0x1_0000 && base % size == 0);
        }
        None => {}
    }
    Ok(bar)
}

fn check_xenstore_text(u: &mut Unstructured) -> AResult<()> {
    const TEXTS: &[&str] = &[
        "0",
        "1",
        "4",
        "5",
        "01",
        "+1",
        " 1",
        "0000:00",
        "abcd:EF",
        "0000:00:03.0",
        "0000:00:1f.7",
        "0000:00:20.0",
        "0000:00:03.8",
        "ABCD:ef:1F.7",
        "0000:00:03.00",
        "0:0:0.0",
    ];
    let s = if u.arbitrary()? {
        TEXTS[u.choose_index(TEXTS.len())?].to_string()
    } else {
        let n = u.int_in_range(0..=16usize)?;
        String::from_utf8_lossy(u.bytes(n)?).into_owned()
    };
    if let Some(n) = parse_root_num(&s) {
        assert!(n <= MAX_ROOTS && n.to_string() == s, "root_num {s:?}");
    }
    if let Some(r) = Root::parse(&s) {
        assert_eq!(
            format!("{:04x}:{:02x}", r.domain, r.bus),
            s.to_ascii_lowercase()
        );
    }
    if let Some(a) = Address::parse(&s) {
        assert!(a.slot() < 32 && a.function() < 8);
        assert_eq!(a.to_string(), s.to_ascii_lowercase());
    }
    Ok(())
}

fn run(u: &mut Unstructured) -> AResult<()> {
    let mut cfg = [0u8; 256];
    u.fill_buffer(&mut cfg)?;
    if u.ratio(1, 2)? {
        // A plausible header: the list bit and a pointer past the header.
        cfg[6] |= config::STATUS_CAP_LIST as u8;
        cfg[0x34] = u.int_in_range(0x40..=0xfc)?;
    }
    let page = HeapPage::new();
    let mut p = Pciback {
        u,
        cfg,
        ops: OpPage::new(page.clone()),
        page,
        reads: 0,
        answered: BTreeMap::new(),
    };
    for _ in 0..MAX_OPS {
        if p.u.is_empty() {
            break;
        }
        match p.u.int_in_range(0..=9u8)? {
            0..=2 => {
                let id = match p.u.int_in_range(0..=3u8)? {
                    0 => config::CAP_ID_MSI,
                    1 => config::CAP_ID_MSIX,
                    2 => config::CAP_ID_VENDOR,
                    _ => p.u.arbitrary()?,
                };
                p.reads = 0;
                p.answered.clear();
                if let Ok(Some(at)) = find_capability(&mut p, id) {
                    assert!(at >= 0x40 && at % 4 == 0, "capability at {at:#x}");
                    assert_eq!(p.answered.get(&u16::from(at)), Some(&id));
                }
                assert!(p.reads <= 2 + 2 * MAX_CAPABILITIES, "{} reads", p.reads);
            }
            3 | 4 => {
                let index = p.u.int_in_range(0..=5u8)?;
                let _ = size_bar(&mut p, index);
            }
            5 => {
                let req = match p.u.int_in_range(0..=3u8)? {
                    0 => Request::EnableMsi,
                    1 => Request::DisableMsi,
                    2 => Request::EnableMsix {
                        n: p.u.int_in_range(0..=MAX_MSIX as u8 + 1)?,
                    },
                    _ => Request::DisableMsix,
                };
                let _ = p.exchange(req)?;
            }
            6 | 7 => {
                let req = Request::ConfRead {
                    offset: p.u.int_in_range(0..=4100u16)?,
                    size: p.u.int_in_range(0..=5u8)?,
                };
                let _ = p.exchange(req)?;
            }
            8 => {
                let req = Request::ConfWrite {
                    offset: p.u.int_in_range(0..=300u16)?,
                    size: *p.u.choose(&[1u8, 2, 4])?,
                    value: p.u.arbitrary()?,
                };
                let _ = p.exchange(req)?;
            }
            _ => check_xenstore_text(p.u)?,
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
