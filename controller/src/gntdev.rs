//! [`PageSource`] over Linux's grant device, `/dev/xen/gntdev`, through the
//! safe API of the `xen-gntdev` crate (which holds the `ioctl`/`mmap` code;
//! the controller itself stays `#![forbid(unsafe_code)]`).
//!
//! Each read opens the device, maps the domain's pages read-only, copies them
//! out under their seqlock ([`pv_runtime::counter_page::copy_with`]) and
//! immediately unmaps them: a domain whose pages dom0 still maps cannot be
//! destroyed (it lingers as a zombie). What it returns is a plain byte image
//! that [`crate::counters`] validates like any hostile input.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pv_runtime::counter_page::{copy_with, ReadError, MAX_PAGES, READ_TRIES};

use crate::counters::{PageError, PageSource};

/// Where the grant device is in dom0.
pub const GNTDEV: &str = xen_gntdev::DEFAULT_PATH;
/// How long to keep trying for a consistent copy while the domain renames
/// counters, before reporting the table as unstable.
const UNSTABLE_WAIT: Duration = Duration::from_millis(500);

// The counter page's set must fit one gntdev map request.
const _: () = assert!(MAX_PAGES <= xen_gntdev::MAX_REFS);
const _: () = assert!(pv_runtime::abi::PAGE_SIZE == xen_gntdev::PAGE_SIZE);

/// The real page source: the grant device.
pub struct Gntdev {
    pub path: PathBuf,
}

impl Default for Gntdev {
    fn default() -> Self {
        Gntdev {
            path: PathBuf::from(GNTDEV),
        }
    }
}

impl PageSource for Gntdev {
    fn read(&self, domid: u32, refs: &[u32]) -> Result<Vec<u8>, PageError> {
        if refs.is_empty() || refs.len() > MAX_PAGES {
            return Err(PageError::BadRefs(format!("{} references", refs.len())));
        }
        let t0 = Instant::now();
        let us = || t0.elapsed().as_micros() as u64;
        let dev =
            xen_gntdev::Gntdev::open(&self.path).map_err(|e| PageError::Device(e.to_string()))?;
        let map = dev
            .map_read_only(domid, refs)
            .map_err(|e| PageError::Device(e.to_string()))?;
        tracing::debug!(domid, ?refs, us = us(), "gntdev: mapped");
        // A domain descheduled in the middle of renaming counters keeps the
        // sequence word odd for as long as it does not run: spinning does not
        // help then, waiting does.
        let image = loop {
            match copy_with(map.pages(), READ_TRIES, |p, w| map.load_u64(p, w)) {
                Err(ReadError::Unstable { .. }) if t0.elapsed() < UNSTABLE_WAIT => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                r => break r,
            }
        };
        tracing::debug!(domid, us = us(), "gntdev: copied");
        drop(map);
        drop(dev);
        tracing::debug!(domid, us = us(), "gntdev: unmapped and released");
        Ok(image?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let g = Gntdev {
            path: PathBuf::from("/nonexistent/gntdev"),
        };
        let e = g.read(3, &[8]).unwrap_err().to_string();
        assert!(e.contains("cannot open /nonexistent/gntdev"), "{e}");
        assert!(g.read(3, &[]).is_err());
        assert!(g.read(3, &[1; 33]).is_err());
    }

    #[test]
    fn a_device_that_is_not_gntdev_is_an_error_not_a_mapping() {
        let g = Gntdev {
            path: PathBuf::from("/dev/null"),
        };
        assert!(g.read(3, &[8]).is_err());
    }
}
