//! The page-frame allocator: a bump pointer over never-used frames plus an
//! intrusive free list of returned ones (the link lives in the free page itself,
//! reached through [`FrameLinks`], so the allocator needs no memory of its own).

use crate::abi::Pfn;

/// Reads and writes the free-list link stored in a free frame.
pub trait FrameLinks {
    fn read_link(&self, pfn: Pfn) -> Pfn;
    fn write_link(&mut self, pfn: Pfn, next: Pfn);
}

const NIL: Pfn = Pfn::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("out of page frames")]
    Exhausted,
    #[error("frame {0} is not one this allocator hands out")]
    Foreign(Pfn),
}

/// Frames `[first, end)` are this allocator's; lower ones hold the image and the
/// bootstrap structures Xen built.
pub struct FrameAllocator {
    first: Pfn,
    next_unused: Pfn,
    end: Pfn,
    free_head: Pfn,
    free_count: u64,
}

impl FrameAllocator {
    pub const fn new(first: Pfn, end: Pfn) -> Self {
        Self {
            first,
            next_unused: first,
            end,
            free_head: NIL,
            free_count: 0,
        }
    }

    pub fn alloc(&mut self, links: &impl FrameLinks) -> Result<Pfn, FrameError> {
        if self.free_head != NIL {
            let pfn = self.free_head;
            let next = links.read_link(pfn);
            // A corrupted link (stray write into a freed page) must not send us
            // outside our frames: drop the rest of the list instead.
            self.free_head = if next == NIL || (self.first..self.next_unused).contains(&next) {
                next
            } else {
                NIL
            };
            self.free_count = if self.free_head == NIL {
                0
            } else {
                self.free_count - 1
            };
            return Ok(pfn);
        }
        if self.next_unused < self.end {
            self.next_unused += 1;
            return Ok(self.next_unused - 1);
        }
        Err(FrameError::Exhausted)
    }

    pub fn free(&mut self, pfn: Pfn, links: &mut impl FrameLinks) -> Result<(), FrameError> {
        if !(self.first..self.next_unused).contains(&pfn) {
            return Err(FrameError::Foreign(pfn));
        }
        links.write_link(pfn, self.free_head);
        self.free_head = pfn;
        self.free_count += 1;
        Ok(())
    }

    /// Frames that can still be allocated.
    pub fn available(&self) -> u64 {
        (self.end - self.next_unused) + self.free_count
    }

    /// First frame never handed out: everything below it may be in use.
    pub fn high_water(&self) -> Pfn {
        self.next_unused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Links(HashMap<Pfn, Pfn>);
    impl FrameLinks for Links {
        fn read_link(&self, pfn: Pfn) -> Pfn {
            self.0[&pfn]
        }
        fn write_link(&mut self, pfn: Pfn, next: Pfn) {
            self.0.insert(pfn, next);
        }
    }

    #[test]
    fn bump_then_reuse_freed_frames_lifo() {
        let mut l = Links::default();
        let mut a = FrameAllocator::new(10, 13);
        assert_eq!(a.available(), 3);
        assert_eq!(a.alloc(&l), Ok(10));
        assert_eq!(a.alloc(&l), Ok(11));
        a.free(10, &mut l).unwrap();
        a.free(11, &mut l).unwrap();
        assert_eq!(a.available(), 3);
        assert_eq!(a.alloc(&l), Ok(11));
        assert_eq!(a.alloc(&l), Ok(10));
        assert_eq!(a.alloc(&l), Ok(12));
        assert_eq!(a.alloc(&l), Err(FrameError::Exhausted));
        assert_eq!(a.available(), 0);
    }

    #[test]
    fn refuses_frames_it_never_gave_out() {
        let mut l = Links::default();
        let mut a = FrameAllocator::new(10, 20);
        assert_eq!(a.free(5, &mut l), Err(FrameError::Foreign(5)));
        assert_eq!(a.free(15, &mut l), Err(FrameError::Foreign(15)));
    }

    #[test]
    fn corrupt_link_is_contained() {
        let mut l = Links::default();
        let mut a = FrameAllocator::new(10, 20);
        let f = a.alloc(&l).unwrap();
        a.free(f, &mut l).unwrap();
        l.0.insert(f, 9999);
        assert_eq!(a.alloc(&l), Ok(f));
        assert_eq!(a.alloc(&l), Ok(11));
    }
}
