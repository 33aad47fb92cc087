//! Watch events and the bounded queue that holds them between polls.
//!
//! `WATCH_EVENT` messages are unsolicited (`docs/misc/xenstore.txt`,
//! "WATCH_EVENT … req_id and tx_id are both 0") and arrive interleaved with
//! replies. The client must keep them while it waits for a reply, but a peer
//! can generate them without limit, so the queue is bounded.
//!
//! An event only says "re-read this path", so two queued events with the same
//! path and token carry no more information than one: a duplicate is
//! coalesced. When the queue is still full, the *oldest* event is dropped and
//! counted: the newest event is the one closest to the current state, and
//! whoever re-reads the path on its behalf also sees whatever the dropped one
//! announced if it was for the same path.

use alloc::collections::VecDeque;
use alloc::string::String;

/// One `WATCH_EVENT`: `<epath>|<token>|`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchEvent {
    /// The path that changed (relative if the watch was relative).
    pub path: String,
    /// The token given to `watch`.
    pub token: String,
}

/// What [`WatchQueue::push`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Appended.
    Queued,
    /// An identical event was already queued.
    Coalesced,
    /// Appended after dropping the oldest queued event.
    DroppedOldest,
}

/// A FIFO of at most `capacity` events (at least 1).
#[derive(Debug)]
pub struct WatchQueue {
    events: VecDeque<WatchEvent>,
    capacity: usize,
}

impl WatchQueue {
    /// An empty queue holding up to `capacity.max(1)` events.
    pub fn new(capacity: usize) -> WatchQueue {
        WatchQueue {
            events: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues `ev`, coalescing duplicates and dropping the oldest on overflow.
    pub fn push(&mut self, ev: WatchEvent) -> Pushed {
        if self.events.contains(&ev) {
            return Pushed::Coalesced;
        }
        let full = self.events.len() >= self.capacity;
        if full {
            self.events.pop_front();
        }
        self.events.push_back(ev);
        if full {
            Pushed::DroppedOldest
        } else {
            Pushed::Queued
        }
    }

    /// Removes the oldest event.
    pub fn pop(&mut self) -> Option<WatchEvent> {
        self.events.pop_front()
    }

    /// Removes the oldest event for which `pred` holds.
    pub fn take_first(&mut self, mut pred: impl FnMut(&WatchEvent) -> bool) -> Option<WatchEvent> {
        let i = self.events.iter().position(&mut pred)?;
        self.events.remove(i)
    }

    /// Drops every event for which `pred` holds.
    pub fn discard(&mut self, mut pred: impl FnMut(&WatchEvent) -> bool) {
        self.events.retain(|e| !pred(e));
    }

    /// Queued events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn ev(p: &str) -> WatchEvent {
        WatchEvent {
            path: p.into(),
            token: "t".into(),
        }
    }

    #[test]
    fn bounded_coalescing_fifo() {
        let mut q = WatchQueue::new(2);
        assert_eq!(q.push(ev("/a")), Pushed::Queued);
        assert_eq!(q.push(ev("/a")), Pushed::Coalesced);
        assert_eq!(q.push(ev("/b")), Pushed::Queued);
        assert_eq!(q.push(ev("/c")), Pushed::DroppedOldest);
        assert_eq!(q.len(), 2);
        assert_eq!(q.take_first(|e| e.path == "/c"), Some(ev("/c")));
        assert_eq!(q.pop(), Some(ev("/b")));
        assert!(q.is_empty());
        for i in 0..10 {
            q.push(ev(&format!("/{i}")));
        }
        q.discard(|e| e.token == "t");
        assert!(q.is_empty());
    }
}
