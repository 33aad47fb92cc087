//! Pages a device reaches by DMA. In the domain they are direct-mapped RAM
//! frames whose bus address is the machine address (PV with an IOMMU,
//! docs/xen-interfaces.md, "PCI passthrough"); on the host a fake device model resolves bus
//! addresses to the same pages. Every access is bounds-checked to the page and
//! volatile, because the device reads and writes it concurrently.

use core::mem::size_of;
use core::ptr::{copy_nonoverlapping, NonNull};
use core::sync::atomic::{fence, Ordering};

pub const PAGE_SIZE: usize = 4096;

/// Allocates DMA pages. Pages are never given back while the driver lives: a
/// device may still write into a page the driver has forgotten.
pub trait Dma {
    /// One zeroed, page-aligned, 4 KiB page, or `None` when memory is short.
    fn alloc_page(&mut self) -> Option<DmaPage>;
}

/// One 4 KiB page the device can reach at `bus`.
#[derive(Debug)]
pub struct DmaPage {
    ptr: NonNull<u8>,
    bus: u64,
}

// SAFETY: the page is owned by whoever holds the DmaPage; the device is the
// only other party and all accesses are volatile.
unsafe impl Send for DmaPage {}

impl DmaPage {
    /// # Safety
    /// `ptr` must point to a 4 KiB page, valid for reads and writes for the
    /// rest of the program, used by nothing but this `DmaPage` (and the
    /// device), whose bus address is `bus`.
    pub unsafe fn new(ptr: NonNull<u8>, bus: u64) -> Self {
        DmaPage { ptr, bus }
    }

    /// The address the device uses for byte 0 of the page.
    pub fn bus(&self) -> u64 {
        self.bus
    }

    fn check(off: usize, len: usize) -> bool {
        off.checked_add(len).is_some_and(|end| end <= PAGE_SIZE)
    }

    /// Naturally aligned little-endian fields (descriptor words) are read and
    /// written with one volatile access, so the device never sees a torn value.
    pub fn read_u16(&self, off: usize) -> u16 {
        u16::from_le(self.load::<u16>(off))
    }
    pub fn read_u32(&self, off: usize) -> u32 {
        u32::from_le(self.load::<u32>(off))
    }
    pub fn read_u64(&self, off: usize) -> u64 {
        u64::from_le(self.load::<u64>(off))
    }
    pub fn write_u16(&self, off: usize, v: u16) {
        self.store(off, v.to_le());
    }
    pub fn write_u32(&self, off: usize, v: u32) {
        self.store(off, v.to_le());
    }
    pub fn write_u64(&self, off: usize, v: u64) {
        self.store(off, v.to_le());
    }

    fn aligned<T>(off: usize) -> bool {
        Self::check(off, size_of::<T>()) && off.is_multiple_of(size_of::<T>())
    }

    /// Misaligned or out-of-range offsets read as zero (a driver bug, never UB).
    fn load<T: Copy + Default>(&self, off: usize) -> T {
        if !Self::aligned::<T>(off) {
            return T::default();
        }
        // SAFETY: in bounds and aligned (checked above); the page is valid (new's contract).
        unsafe { self.ptr.as_ptr().add(off).cast::<T>().read_volatile() }
    }

    fn store<T: Copy>(&self, off: usize, v: T) {
        if !Self::aligned::<T>(off) {
            return;
        }
        // SAFETY: in bounds and aligned (checked above); the page is valid (new's contract).
        unsafe { self.ptr.as_ptr().add(off).cast::<T>().write_volatile(v) }
    }

    /// Copies bytes out of the page; out-of-range requests read zeros.
    pub fn read(&self, off: usize, out: &mut [u8]) {
        if !Self::check(off, out.len()) {
            out.fill(0);
            return;
        }
        // The device finished with these bytes before it published the
        // descriptor the caller just read; order this copy after that read.
        fence(Ordering::Acquire);
        // SAFETY: [off, off + len) is inside the page (checked above) and the
        // page is valid (new's contract); `out` is ours and cannot overlap it.
        unsafe { copy_nonoverlapping(self.ptr.as_ptr().add(off), out.as_mut_ptr(), out.len()) };
    }

    /// Bytes `off..off + len` of the page as a slice, to fill or read in
    /// place (a transmit frame gathered straight into its buffer, a received
    /// frame lent to the caller); `None` out of range. The accesses of the
    /// caller are ordered after the descriptor read that handed the bytes
    /// over, and before the next descriptor or doorbell write.
    ///
    /// # Safety
    /// The device does not own these bytes now (no posted descriptor names
    /// them) and no other view of them is used while the slice lives.
    #[allow(clippy::mut_from_ref)] // exclusivity is the caller's contract
    pub unsafe fn bytes_mut(&self, off: usize, len: usize) -> Option<&mut [u8]> {
        if !Self::check(off, len) {
            return None;
        }
        // The device finished with these bytes before it published the
        // descriptor the caller just read (receive); our writes (transmit)
        // are ordered before the descriptor the caller writes next, by the
        // release fence its volatile descriptor stores follow (`write`'s
        // fence, `done_with`).
        fence(Ordering::Acquire);
        // SAFETY: in bounds (checked above), the page is valid (new's
        // contract), exclusivity is the caller's contract.
        Some(unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr().add(off), len) })
    }

    /// Orders the caller's writes through [`bytes_mut`](Self::bytes_mut)
    /// before the descriptor or doorbell writes that follow.
    pub fn done_with(&self) {
        fence(Ordering::Release);
    }

    /// Copies bytes into the page; out-of-range requests are ignored.
    pub fn write(&self, off: usize, data: &[u8]) {
        if !Self::check(off, data.len()) {
            return;
        }
        // SAFETY: as in `read`; the device does not own these bytes until
        // the caller publishes a descriptor, after the fence below.
        unsafe { copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(off), data.len()) };
        fence(Ordering::Release);
    }
}
