//! Read-only mappings of another domain's granted pages through Linux's grant
//! device, `/dev/xen/gntdev`, for dom0 programs (the `banana` controller reads
//! domains' counter pages with it).
//!
//! This crate is the only dom0 code of Banana that needs `unsafe` (an
//! `ioctl`, `mmap`/`munmap`, and atomic loads from the mapping); it exposes a
//! safe API:
//!
//! ```no_run
//! let dev = xen_gntdev::Gntdev::open(xen_gntdev::DEFAULT_PATH)?;
//! // Grant references 8 and 9 of domain 5, granted (read-only) to dom0:
//! let map = dev.map_read_only(5, &[8, 9])?;
//! let first_word = map.load_u64(0, 0);
//! drop(map); // munmap + IOCTL_GNTDEV_UNMAP_GRANT_REF
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! How gntdev maps (Linux `drivers/xen/gntdev.c`, UAPI `<xen/gntdev.h>`):
//! `IOCTL_GNTDEV_MAP_GRANT_REF` reserves `count` grant references and returns
//! an `index`, the file offset at which to `mmap` them; `mmap` with that
//! offset maps them, and a mapping without `PROT_WRITE` makes the kernel map
//! the grants with `GNTMAP_readonly` (so a grant the other domain made
//! read-only — `GTF_readonly`, Xen's `xen/include/public/grant_table.h` — can
//! be mapped at all). `IOCTL_GNTDEV_UNMAP_GRANT_REF` releases the
//! reservation once the range is unmapped. [`ReadOnlyMapping`] does both on
//! drop: a domain whose pages dom0 still maps cannot be destroyed (it lingers
//! as a zombie), so keep mappings short-lived.
//!
//! The ioctl numbers and structures are copied from the UAPI header, which
//! Debian ships twice: `/usr/include/xen/gntdev.h` (package `linux-libc-dev`,
//! Linux's `include/uapi/xen/gntdev.h`) and `/usr/include/xen/sys/gntdev.h`
//! (package `libxen-dev`, Xen's `tools/include/xen-sys/Linux/gntdev.h`). A
//! host test compiles a C probe against both and compares every size, offset
//! and ioctl number with [`uapi`].
//!
//! Pages are 4096 bytes (x86, where Banana runs; Xen's grant granularity).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the grant device is in dom0.
pub const DEFAULT_PATH: &str = "/dev/xen/gntdev";
/// Bytes of a grant (a Xen page on x86).
pub const PAGE_SIZE: usize = 4096;
/// Most grant references one [`Gntdev::map_read_only`] takes.
pub const MAX_REFS: usize = 32;

/// The UAPI of `<xen/gntdev.h>` this crate uses, as `#[repr(C)]` Rust.
pub mod uapi {
    use super::MAX_REFS;

    /// `struct ioctl_gntdev_grant_ref { uint32_t domid; uint32_t ref; }`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct GrantRef {
        pub domid: u32,
        pub gref: u32,
    }

    /// `struct ioctl_gntdev_map_grant_ref { uint32_t count; uint32_t pad;
    /// uint64_t index; struct ioctl_gntdev_grant_ref refs[1]; }`, whose
    /// `refs` really holds `count` entries (the kernel copies `count` of them
    /// from after the header and writes back only `index`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct MapGrantRef {
        pub count: u32,
        pub pad: u32,
        pub index: u64,
        pub refs: [GrantRef; 1],
    }

    /// [`MapGrantRef`] with room for [`MAX_REFS`] references: the same header,
    /// then the references.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct MapRequest {
        pub count: u32,
        pub pad: u32,
        pub index: u64,
        pub refs: [GrantRef; MAX_REFS],
    }

    /// `struct ioctl_gntdev_unmap_grant_ref { uint64_t index; uint32_t count;
    /// uint32_t pad; }`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct UnmapGrantRef {
        pub index: u64,
        pub count: u32,
        pub pad: u32,
    }

    /// `_IOC(dir, type, nr, size)` of Linux `<asm-generic/ioctl.h>` (x86:
    /// `_IOC_NRSHIFT` 0, `_IOC_TYPESHIFT` 8, `_IOC_SIZESHIFT` 16,
    /// `_IOC_DIRSHIFT` 30).
    const fn ioc(dir: u64, ty: u8, nr: u8, size: usize) -> u64 {
        (dir << 30) | ((size as u64) << 16) | ((ty as u64) << 8) | nr as u64
    }
    /// `_IOC_NONE`.
    const IOC_NONE: u64 = 0;

    /// `_IOC(_IOC_NONE, 'G', 0, sizeof(struct ioctl_gntdev_map_grant_ref))`.
    pub const IOCTL_GNTDEV_MAP_GRANT_REF: u64 = ioc(IOC_NONE, b'G', 0, size_of::<MapGrantRef>());
    /// `_IOC(_IOC_NONE, 'G', 1, sizeof(struct ioctl_gntdev_unmap_grant_ref))`.
    pub const IOCTL_GNTDEV_UNMAP_GRANT_REF: u64 =
        ioc(IOC_NONE, b'G', 1, size_of::<UnmapGrantRef>());
}

use uapi::{GrantRef, MapRequest, UnmapGrantRef};

/// An open grant device.
pub struct Gntdev {
    file: File,
}

impl Gntdev {
    /// Opens the grant device at `path` (normally [`DEFAULT_PATH`]).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
            })?;
        Ok(Gntdev { file })
    }

    /// Maps grant references `refs` (1 to [`MAX_REFS`]) of domain `domid`
    /// read-only, in order, as one contiguous range of `refs.len()` pages.
    pub fn map_read_only(&self, domid: u32, refs: &[u32]) -> io::Result<ReadOnlyMapping<'_>> {
        if refs.is_empty() || refs.len() > MAX_REFS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} grant references (1 to {MAX_REFS})", refs.len()),
            ));
        }
        let mut req = MapRequest {
            count: refs.len() as u32,
            ..Default::default()
        };
        for (slot, &gref) in req.refs.iter_mut().zip(refs) {
            *slot = GrantRef { domid, gref };
        }
        // SAFETY: `self.file` is an open gntdev fd; `req` is a live, exclusively
        // borrowed `MapRequest`, which starts with the UAPI header
        // `ioctl_gntdev_map_grant_ref` (layout checked against both installed
        // headers by `uapi_layout_matches_*`) and has room for `count` ≤
        // MAX_REFS references, all the kernel reads; the kernel writes back
        // only the header's `index`.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                uapi::IOCTL_GNTDEV_MAP_GRANT_REF as _,
                &mut req as *mut MapRequest,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("gntdev cannot take grant references {refs:?} of domain {domid}: {e}"),
            ));
        }
        let reserved = Reserved {
            dev: self,
            index: req.index,
            count: req.count,
        };
        let len = refs.len() * PAGE_SIZE;
        let offset = libc::off_t::try_from(req.index).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("gntdev index {} too large", req.index),
            )
        })?;
        // SAFETY: asks the kernel for a new read-only shared mapping of `len`
        // bytes of the grants reserved above (the offset is the index gntdev
        // returned for exactly `len / PAGE_SIZE` pages) at an address of its
        // choosing; no existing memory is affected and the result is checked.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                offset,
            )
        };
        if addr == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "cannot map grant references {refs:?} of domain {domid} \
                     (not granted to dom0, or gone): {e}"
                ),
            ));
        }
        Ok(ReadOnlyMapping {
            addr: addr.cast(),
            pages: refs.len(),
            _reserved: reserved,
        })
    }
}

/// Grants reserved on a gntdev file; released on drop.
struct Reserved<'a> {
    dev: &'a Gntdev,
    index: u64,
    count: u32,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        let mut op = UnmapGrantRef {
            index: self.index,
            count: self.count,
            pad: 0,
        };
        // SAFETY: an open gntdev fd and a live, exclusively borrowed argument
        // laid out as the UAPI's `ioctl_gntdev_unmap_grant_ref` (checked by
        // the layout tests); the range was unmapped before (field order of
        // `ReadOnlyMapping`). Failure only leaves the grants to be released
        // when the file is closed.
        let rc = unsafe {
            libc::ioctl(
                self.dev.file.as_raw_fd(),
                uapi::IOCTL_GNTDEV_UNMAP_GRANT_REF as _,
                &mut op as *mut UnmapGrantRef,
            )
        };
        if rc != 0 {
            tracing::warn!(
                "gntdev unmap of index {}: {}",
                self.index,
                io::Error::last_os_error()
            );
        }
    }
}

/// `pages` granted pages mapped read-only and contiguously; unmapped and
/// released on drop.
///
/// The other domain may write the pages at any time, so they are never
/// reached through Rust references: the only access is
/// [`load_u64`](Self::load_u64), an atomic (`Relaxed`) load, which Rust
/// permits on read-only memory.
pub struct ReadOnlyMapping<'a> {
    addr: *mut u8,
    pages: usize,
    // Released (dropped) after `Drop::drop` below has unmapped the range;
    // only held for that.
    _reserved: Reserved<'a>,
}

impl ReadOnlyMapping<'_> {
    /// Pages mapped.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// The `word`th aligned 8-byte word of page `page`, loaded atomically
    /// (`Relaxed`; fences are the caller's business).
    ///
    /// # Panics
    ///
    /// If `page >= self.pages()` or `word >= PAGE_SIZE / 8`.
    pub fn load_u64(&self, page: usize, word: usize) -> u64 {
        assert!(
            page < self.pages && word < PAGE_SIZE / 8,
            "word {word} of page {page} outside a {}-page mapping",
            self.pages
        );
        // SAFETY: the offset is inside the mapping (checked above), which stays
        // mapped readable for as long as `self` lives; `addr` is page-aligned
        // (mmap), so the word is 8-aligned. The memory is shared with another
        // domain, hence only an atomic load, never a reference to the data;
        // Relaxed atomic loads are allowed on read-only memory.
        let word =
            unsafe { AtomicU64::from_ptr(self.addr.add(page * PAGE_SIZE + word * 8).cast()) };
        word.load(Ordering::Relaxed)
    }
}

impl Drop for ReadOnlyMapping<'_> {
    fn drop(&mut self) {
        // SAFETY: exactly the region `mmap` returned in `map_read_only`; the
        // only accesses to it are through `&self` methods, which cannot
        // outlive `self`.
        if unsafe { libc::munmap(self.addr.cast(), self.pages * PAGE_SIZE) } != 0 {
            tracing::warn!("munmap of granted pages: {}", io::Error::last_os_error());
        }
        // `self._reserved` drops next and releases the grants.
    }
}

#[cfg(test)]
mod tests {
    use super::uapi::*;
    use super::*;
    use pv_runtime::c_probe::CProbe;
    use std::mem::offset_of;

    fn probe(headers: &[&str]) {
        let mut p = CProbe::new(headers);
        let gr = "struct ioctl_gntdev_grant_ref";
        p.size(gr, size_of::<GrantRef>());
        p.offset(gr, "domid", offset_of!(GrantRef, domid));
        p.offset(gr, "ref", offset_of!(GrantRef, gref));
        let map = "struct ioctl_gntdev_map_grant_ref";
        p.size(map, size_of::<MapGrantRef>());
        p.offset(map, "count", offset_of!(MapGrantRef, count));
        p.offset(map, "pad", offset_of!(MapGrantRef, pad));
        p.offset(map, "index", offset_of!(MapGrantRef, index));
        p.offset(map, "refs", offset_of!(MapGrantRef, refs));
        // The larger request keeps the header's layout.
        p.offset(map, "count", offset_of!(MapRequest, count));
        p.offset(map, "pad", offset_of!(MapRequest, pad));
        p.offset(map, "index", offset_of!(MapRequest, index));
        p.offset(map, "refs", offset_of!(MapRequest, refs));
        let unmap = "struct ioctl_gntdev_unmap_grant_ref";
        p.size(unmap, size_of::<UnmapGrantRef>());
        p.offset(unmap, "index", offset_of!(UnmapGrantRef, index));
        p.offset(unmap, "count", offset_of!(UnmapGrantRef, count));
        p.offset(unmap, "pad", offset_of!(UnmapGrantRef, pad));
        p.constant(
            "IOCTL_GNTDEV_MAP_GRANT_REF",
            IOCTL_GNTDEV_MAP_GRANT_REF as i128,
        );
        p.constant(
            "IOCTL_GNTDEV_UNMAP_GRANT_REF",
            IOCTL_GNTDEV_UNMAP_GRANT_REF as i128,
        );
        p.assert_matches();
    }

    /// Linux's UAPI header, `/usr/include/xen/gntdev.h` (Debian `linux-libc-dev`).
    #[test]
    fn uapi_layout_matches_linux_libc_dev() {
        probe(&["linux/ioctl.h", "xen/grant_table.h", "xen/gntdev.h"]);
    }

    /// Xen's copy, `/usr/include/xen/sys/gntdev.h` (Debian `libxen-dev`).
    #[test]
    fn uapi_layout_matches_libxen_dev() {
        probe(&["linux/ioctl.h", "xen/sys/gntdev.h"]);
    }

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let e = Gntdev::open("/nonexistent/gntdev")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cannot open /nonexistent/gntdev"), "{e}");
    }

    #[test]
    fn bad_reference_counts_are_refused_before_any_ioctl() {
        // Any file will do: the count is checked first.
        let dev = Gntdev::open("/dev/null").unwrap();
        for refs in [&[][..], &[1; MAX_REFS + 1][..]] {
            let e = dev.map_read_only(3, refs).err().unwrap();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
        // A file that is not gntdev refuses the ioctl: an error, not a mapping.
        assert!(dev.map_read_only(3, &[8]).is_err());
    }
}
