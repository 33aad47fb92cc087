//! The socket registry against pv-runtime's in-memory xenstored (real
//! transactions, `EAGAIN` on demand, permissions), bridged to a byte
//! stream, and against hostile replies.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use pv_runtime::xenstore::fake::{raw, FakeXenstored};
use pv_runtime::xenstore::{HeapPage, StoreRing};

use super::*;

/// A byte stream whose far end is a fake xenstored (shared, so the test
/// can look at its tree and set its knobs).
struct Bridge {
    xs: Rc<RefCell<FakeXenstored>>,
    ring: StoreRing<HeapPage>,
}

impl Write for Bridge {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.ring.write_request(&buf[done..]).unwrap_or(0);
            done += n;
            if !self.xs.borrow_mut().step() && n == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
        }
        Ok(done)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for Bridge {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for _ in 0..1000 {
            let n = self.ring.read_response(buf).unwrap_or(0);
            if n > 0 {
                return Ok(n);
            }
            if !self.xs.borrow_mut().step() {
                break;
            }
        }
        Err(std::io::ErrorKind::UnexpectedEof.into())
    }
}

fn registry() -> (SocketRegistry, Rc<RefCell<FakeXenstored>>) {
    let page = HeapPage::new();
    let xs = Rc::new(RefCell::new(FakeXenstored::new(page.clone())));
    let bridge = Bridge {
        xs: xs.clone(),
        ring: StoreRing::new(page),
    };
    (SocketRegistry::over(Box::new(bridge), "fake"), xs)
}

#[test]
fn reads_lists_and_batches_are_real_xenstore_operations() {
    let (r, xs) = registry();
    assert_eq!(r.get("/banana/x").unwrap(), None);
    assert!(r.list("/banana").unwrap().is_empty());
    r.apply(
        Batch::new()
            .put("/banana/corm/c0/domid", 5)
            .put("/banana/corm/c0/state", "running")
            .put("/banana/config/5/name", "c0")
            .restrict("/banana/config/5", Access::ReadableBy(5)),
    )
    .unwrap();
    assert_eq!(
        r.get("/banana/corm/c0/domid").unwrap().as_deref(),
        Some("5")
    );
    let mut l = r.list("/banana/corm/c0").unwrap();
    l.sort();
    assert_eq!(l, ["domid", "state"]);
    assert_eq!(xs.borrow().node("/banana/config/5/name"), Some(&b"c0"[..]));
    // Removing what is not there is fine; removing a subtree takes it all.
    r.apply(Batch::new().rm("/banana/nothing").rm("/banana/corm"))
        .unwrap();
    assert_eq!(r.get("/banana/corm/c0/state").unwrap(), None);
    assert_eq!(
        r.get("/banana/config/5/name").unwrap().as_deref(),
        Some("c0")
    );
}

#[test]
fn a_commit_that_loses_a_race_is_tried_again() {
    let (r, xs) = registry();
    xs.borrow_mut().fail_commits = 3;
    r.apply(Batch::new().put("/a", "1")).unwrap();
    assert_eq!(r.get("/a").unwrap().as_deref(), Some("1"));
    let commits = xs
        .borrow()
        .log
        .iter()
        .filter(|h| h.ty == MsgType::TransactionEnd)
        .count();
    assert_eq!(commits, 4, "three EAGAINs, then the commit");
    xs.borrow_mut().fail_commits = 100;
    let e = r
        .apply(Batch::new().put("/a", "2"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("EAGAIN"), "{e}");
    assert_eq!(
        r.get("/a").unwrap().as_deref(),
        Some("1"),
        "nothing half-applied"
    );
}

#[test]
fn hostile_replies_are_errors_not_panics() {
    // A reply to another request id.
    let (r, xs) = registry();
    xs.borrow_mut().replace_reply = Some(Box::new(|id| raw(2, id + 7, b"x")));
    let e = r.get("/a").unwrap_err().to_string();
    assert!(e.contains("reply to request"), "{e}");
    // A reply of another type.
    let (r, xs) = registry();
    xs.borrow_mut().replace_reply = Some(Box::new(|id| raw(1, id, b"x\0")));
    let e = r.get("/a").unwrap_err().to_string();
    assert!(e.contains("reply to"), "{e}");
    // A malformed error.
    let (r, xs) = registry();
    xs.borrow_mut().replace_reply = Some(Box::new(|id| raw(16, id, b"nonsense")));
    assert!(r.get("/a").is_err());
}

#[test]
fn a_silent_xenstored_is_an_error() {
    struct Dead(VecDeque<u8>);
    impl Read for Dead {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Ok(0)
        }
    }
    impl Write for Dead {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.extend(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let r = SocketRegistry::over(Box::new(Dead(VecDeque::new())), "dead");
    let e = r.get("/a").unwrap_err().to_string();
    assert!(e.contains("dead"), "{e}");
}

#[test]
fn outside_a_dom0_the_error_says_so() {
    let e = SocketRegistry::connect_at(
        &[PathBuf::from("/nonexistent/xenstored/socket")],
        Path::new("/nonexistent/xenbus"),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("not a Xen dom0: xenstored is not reachable at /nonexistent/xenstored/socket or /nonexistent/xenbus"), "{e}");
    assert!(!e.contains('\n'));
}
