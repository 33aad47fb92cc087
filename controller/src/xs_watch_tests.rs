//! The watcher against a scripted xenstored on the other end of a socket
//! pair: acknowledgements, events in order, hostile events, a lost
//! connection.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use pv_runtime::xenstore::codec::{Header, HEADER_LEN};
use pv_runtime::xenstore::fake::raw;
use pv_runtime::xenstore::MsgType;

use super::*;

const SHORT: Duration = Duration::from_millis(50);
const LONG: Duration = Duration::from_secs(5);

/// The far end: reads one request, returns its type, id and payload.
fn request(s: &mut UnixStream) -> (u32, u32, Vec<u8>) {
    let mut h = [0u8; HEADER_LEN];
    s.read_exact(&mut h).unwrap();
    let header = Header::parse(&h).unwrap();
    let mut p = vec![0u8; header.len as usize];
    s.read_exact(&mut p).unwrap();
    (header.ty as u32, header.req_id, p)
}

pub(crate) fn event(path: &str, token: &str) -> Vec<u8> {
    raw(
        MsgType::WatchEvent as u32,
        0,
        format!("{path}\0{token}\0").as_bytes(),
    )
}

/// A watcher on `paths` whose far end acknowledges each watch (and fires
/// it once, as xenstored does); returns the far end.
pub(crate) fn watching(paths: &'static [&'static str]) -> (Watcher, UnixStream) {
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let far = std::thread::spawn(move || {
        for path in paths {
            let (ty, id, p) = request(&mut theirs);
            assert_eq!(ty, MsgType::Watch as u32);
            assert_eq!(p, format!("{path}\0{TOKEN}\0").as_bytes());
            theirs
                .write_all(&raw(MsgType::Watch as u32, id, b"OK\0"))
                .unwrap();
            theirs.write_all(&event(path, TOKEN)).unwrap();
        }
        theirs
    });
    let w = Watcher::over(Box::new(ours), "pair".into(), paths).unwrap();
    (w, far.join().unwrap())
}

#[test]
fn events_arrive_in_order_after_the_first_fire() {
    let (mut w, mut far) = watching(&["@releaseDomain", "/banana"]);
    assert_eq!(w.wait(LONG), Woken::Event("@releaseDomain".into()));
    assert_eq!(w.wait(LONG), Woken::Event("/banana".into()));
    assert_eq!(w.wait(SHORT), Woken::Timeout);
    far.write_all(&event("@releaseDomain", TOKEN)).unwrap();
    far.write_all(&event("/banana/corm/c0", TOKEN)).unwrap();
    assert_eq!(w.wait(LONG), Woken::Event("@releaseDomain".into()));
    assert_eq!(w.wait(LONG), Woken::Event("/banana/corm/c0".into()));
}

#[test]
fn a_burst_is_drained_at_once() {
    let (mut w, mut far) = watching(&["@releaseDomain"]);
    assert_eq!(w.wait(LONG), Woken::Event("@releaseDomain".into()));
    for _ in 0..10 {
        far.write_all(&event("@releaseDomain", TOKEN)).unwrap();
    }
    assert_eq!(w.wait(LONG), Woken::Event("@releaseDomain".into()));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(w.drain(), 9);
    assert_eq!(w.wait(SHORT), Woken::Timeout);
}

#[test]
fn hostile_events_are_skipped_and_a_flood_is_bounded() {
    let (mut w, mut far) = watching(&["@releaseDomain"]);
    assert_eq!(w.wait(LONG), Woken::Event("@releaseDomain".into()));
    far.write_all(&raw(MsgType::WatchEvent as u32, 0, b"no-nul"))
        .unwrap();
    far.write_all(&event("/x", "someone-else")).unwrap();
    far.write_all(&raw(MsgType::Read as u32, 7, b"stray reply\0"))
        .unwrap();
    far.write_all(&event("@releaseDomain", TOKEN)).unwrap();
    assert_eq!(w.wait(LONG), Woken::Event("@releaseDomain".into()));
    // Nobody reads for a while: the queue holds QUEUE events, the rest go.
    for i in 0..(QUEUE + 100) {
        far.write_all(&event(&format!("/p/{i}"), TOKEN)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.drain(), QUEUE);
}

#[test]
fn an_oversize_message_or_a_closed_connection_ends_the_watcher_once() {
    let (mut w, mut far) = watching(&["@releaseDomain"]);
    assert_eq!(w.wait(LONG), Woken::Event("@releaseDomain".into()));
    let mut huge = raw(MsgType::WatchEvent as u32, 0, b"");
    huge[12..16].copy_from_slice(&100_000u32.to_le_bytes());
    far.write_all(&huge).unwrap();
    match w.wait(LONG) {
        Woken::Closed(why) => assert!(why.contains("100000"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.wait(SHORT), Woken::Timeout, "said once");

    let (mut w, far) = watching(&["@releaseDomain"]);
    assert_eq!(w.wait(LONG), Woken::Event("@releaseDomain".into()));
    drop(far);
    assert!(matches!(w.wait(LONG), Woken::Closed(_)));
}

#[test]
fn a_refused_watch_is_an_error() {
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let far = std::thread::spawn(move || {
        let (_, id, _) = request(&mut theirs);
        theirs
            .write_all(&raw(MsgType::Error as u32, id, b"EACCES\0"))
            .unwrap();
        theirs
    });
    let e = Watcher::over(Box::new(ours), "pair".into(), &["/local/domain/7"])
        .err()
        .unwrap();
    far.join().unwrap();
    assert_eq!(
        e.to_string(),
        "xenstore: watch failed: /local/domain/7: xenstored said EACCES"
    );
}

#[test]
fn outside_a_dom0_it_is_the_one_line_error() {
    let e = Watcher::start_at(
        &[PathBuf::from("/nonexistent/xenstored/socket")],
        Path::new("/nonexistent/xenbus"),
        &["@releaseDomain"],
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().starts_with(
            "not a Xen dom0: xenstored is not reachable at /nonexistent/xenstored/socket or /nonexistent/xenbus"
        ),
        "{e}"
    );
}
