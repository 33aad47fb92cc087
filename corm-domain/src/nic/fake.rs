//! Host-side fakes for driver tests: DMA pages a fake device model can reach
//! by bus address, and a config space backed by a byte array.

use std::boxed::Box;
use std::cell::RefCell;
use std::rc::Rc;
use std::vec::Vec;

use core::ptr::NonNull;

use super::dma::{Dma, DmaPage, PAGE_SIZE};
use super::{ConfigSpace, NicError, Width};

#[repr(C, align(4096))]
struct Page([u8; PAGE_SIZE]);

/// Pages handed to the driver, kept alive (and reachable by bus address) for
/// the fake device. Clones share the pages.
type Pages = Rc<RefCell<Vec<(u64, NonNull<u8>)>>>;

#[derive(Clone, Default)]
pub struct FakeDma {
    pages: Pages,
    /// Refuse allocations after this many pages (memory-pressure tests).
    pub limit: Option<usize>,
}

/// Fake bus addresses start here, so a zero or small address is always a bug.
const BUS_BASE: u64 = 0x1_0000_0000;

impl FakeDma {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn pages(&self) -> usize {
        self.pages.borrow().len()
    }

    /// The device's view: `len` bytes at bus address `bus`, or `None` if any
    /// byte is outside the pages given out (a driver bug the tests catch).
    pub fn read(&self, bus: u64, out: &mut [u8]) -> Option<()> {
        let p = self.resolve(bus, out.len())?;
        // SAFETY: resolve checked the range lies within one live page.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        Some(())
    }

    pub fn write(&self, bus: u64, data: &[u8]) -> Option<()> {
        let p = self.resolve(bus, data.len())?;
        // SAFETY: resolve checked the range lies within one live page.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        Some(())
    }

    pub fn read_u16(&self, bus: u64) -> Option<u16> {
        let mut b = [0; 2];
        self.read(bus, &mut b).map(|_| u16::from_le_bytes(b))
    }
    pub fn read_u32(&self, bus: u64) -> Option<u32> {
        let mut b = [0; 4];
        self.read(bus, &mut b).map(|_| u32::from_le_bytes(b))
    }
    pub fn read_u64(&self, bus: u64) -> Option<u64> {
        let mut b = [0; 8];
        self.read(bus, &mut b).map(|_| u64::from_le_bytes(b))
    }
    pub fn write_u16(&self, bus: u64, v: u16) -> Option<()> {
        self.write(bus, &v.to_le_bytes())
    }
    pub fn write_u32(&self, bus: u64, v: u32) -> Option<()> {
        self.write(bus, &v.to_le_bytes())
    }
    pub fn write_u64(&self, bus: u64, v: u64) -> Option<()> {
        self.write(bus, &v.to_le_bytes())
    }

    fn resolve(&self, bus: u64, len: usize) -> Option<*mut u8> {
        let page = bus & !(PAGE_SIZE as u64 - 1);
        let off = (bus - page) as usize;
        if off + len > PAGE_SIZE {
            return None;
        }
        let pages = self.pages.borrow();
        let (_, ptr) = pages.iter().find(|(b, _)| *b == page)?;
        // SAFETY: off < PAGE_SIZE and the page is live (leaked below).
        Some(unsafe { ptr.as_ptr().add(off) })
    }
}

impl Dma for FakeDma {
    fn alloc_page(&mut self) -> Option<DmaPage> {
        let mut pages = self.pages.borrow_mut();
        if self.limit.is_some_and(|l| pages.len() >= l) {
            return None;
        }
        let bus = BUS_BASE + (pages.len() as u64) * PAGE_SIZE as u64;
        // Leaked on purpose: a DMA page outlives the driver (see `Dma`).
        let ptr = NonNull::from(Box::leak(Box::new(Page([0; PAGE_SIZE])))).cast::<u8>();
        pages.push((bus, ptr));
        // SAFETY: a fresh, leaked, page-aligned 4 KiB allocation used only here.
        Some(unsafe { DmaPage::new(ptr, bus) })
    }
}

/// A 4 KiB extended config space; writes to the first 4 bytes (IDs) are
/// ignored like a real device does. Every write is also logged.
pub struct FakeConfig {
    pub bytes: Vec<u8>,
    pub writes: Vec<(u16, Width, u32)>,
    next_cap: usize,
    last_cap: Option<usize>,
}

impl FakeConfig {
    pub fn new(vendor: u16, device: u16) -> Self {
        let mut bytes = vec![0u8; 4096];
        bytes[0..2].copy_from_slice(&vendor.to_le_bytes());
        bytes[2..4].copy_from_slice(&device.to_le_bytes());
        FakeConfig {
            bytes,
            writes: Vec::new(),
            next_cap: 0x40,
            last_cap: None,
        }
    }

    /// Appends a capability (`id`, then `body` after the id/next bytes) to
    /// the list starting at 0x34 and returns its offset.
    pub fn add_capability(&mut self, id: u8, body: &[u8]) -> u8 {
        let at = self.next_cap;
        assert!(
            at + 2 + body.len() <= 0x100,
            "capabilities overflow config space"
        );
        self.bytes[6] |= 0x10; // status: capabilities list present
        match self.last_cap {
            None => self.bytes[0x34] = at as u8,
            Some(prev) => self.bytes[prev + 1] = at as u8,
        }
        self.bytes[at] = id;
        self.bytes[at + 1] = 0;
        self.bytes[at + 2..at + 2 + body.len()].copy_from_slice(body);
        self.last_cap = Some(at);
        self.next_cap = (at + 2 + body.len() + 3) & !3;
        at as u8
    }

    pub fn set_bar(&mut self, index: usize, value: u32) {
        let off = 0x10 + 4 * index;
        self.bytes[off..off + 4].copy_from_slice(&value.to_le_bytes());
    }
}

fn width_len(w: Width) -> usize {
    match w {
        Width::U8 => 1,
        Width::U16 => 2,
        Width::U32 => 4,
    }
}

impl ConfigSpace for FakeConfig {
    fn read(&mut self, offset: u16, width: Width) -> Result<u32, NicError> {
        let (o, n) = (offset as usize, width_len(width));
        let b = self.bytes.get(o..o + n).ok_or(NicError::Config)?;
        let mut v = [0u8; 4];
        v[..n].copy_from_slice(b);
        Ok(u32::from_le_bytes(v))
    }

    fn write(&mut self, offset: u16, width: Width, value: u32) -> Result<(), NicError> {
        let (o, n) = (offset as usize, width_len(width));
        if o + n > self.bytes.len() {
            return Err(NicError::Config);
        }
        self.writes.push((offset, width, value));
        for i in 0..n {
            if o + i >= 4 {
                self.bytes[o + i] = (value >> (8 * i)) as u8;
            }
        }
        Ok(())
    }
}
