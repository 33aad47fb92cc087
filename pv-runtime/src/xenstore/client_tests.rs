//! [`Xenstore`] against the in-memory xenstored of [`super::fake`].

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use super::client::{Config, Xenstore, XsError};
use super::codec::{Errno, FrameError, MsgType};
use super::fake::{raw, FakeIo, FakeXenstored};
use super::perms::{Access, Perm};
use super::reply::ReplyError;
use super::ring::{Field, HeapPage, StoreRing};
use super::watch::WatchEvent;

type Client = Xenstore<FakeIo, HeapPage>;

fn client_with(config: Config) -> Client {
    let page = HeapPage::new();
    let io = FakeIo {
        server: FakeXenstored::new(page.clone()),
        now: 0,
        notifies: 0,
    };
    Xenstore::with_config(StoreRing::new(page), io, config)
}

fn client() -> Client {
    client_with(Config::default())
}

fn server(xs: &mut Client) -> &mut FakeXenstored {
    &mut xs.io_mut().server
}

fn ev(path: &str, token: &str) -> WatchEvent {
    WatchEvent {
        path: path.into(),
        token: token.into(),
    }
}

#[test]
fn read_write_mkdir_rm_directory() {
    let mut xs = client();
    xs.write("/a/b/c", "hello").unwrap();
    assert_eq!(xs.read("/a/b/c").unwrap(), "hello");
    assert_eq!(xs.read("/a/b").unwrap(), "");
    xs.mkdir("/a/d").unwrap();
    let mut dir = xs.directory("/a").unwrap();
    dir.sort();
    assert_eq!(dir, vec![String::from("b"), String::from("d")]);
    xs.rm("/a/b").unwrap();
    assert_eq!(xs.read("/a/b/c"), Err(XsError::Xenstored(Errno::ENOENT)));
    assert_eq!(xs.directory("/a").unwrap(), vec![String::from("d")]);
    assert_eq!(xs.rm("/x/y"), Err(XsError::Xenstored(Errno::ENOENT)));
    xs.write_bytes("/bin", b"\x00\xff").unwrap();
    assert_eq!(xs.read_bytes("/bin").unwrap(), b"\x00\xff");
    assert_eq!(
        xs.read("/bin"),
        Err(XsError::Malformed(ReplyError::NotUtf8))
    );
    assert_eq!(xs.counters(), Default::default());
    assert!(xs.io().notifies > 0);
}

#[test]
fn relative_paths_go_to_home() {
    let mut xs = client();
    xs.write("device/vif/0/state", "1").unwrap();
    assert_eq!(
        xs.io().server.node("/local/domain/1/device/vif/0/state"),
        Some(&b"1"[..])
    );
    assert_eq!(xs.read("/local/domain/1/device/vif/0/state").unwrap(), "1");
}

#[test]
fn invalid_arguments_are_not_sent() {
    let mut xs = client();
    assert_eq!(xs.read("/a//b"), Err(XsError::PathInvalid));
    assert_eq!(xs.write("/a b", "x"), Err(XsError::PathInvalid));
    assert_eq!(xs.watch("/a", "bad token"), Err(XsError::TokenInvalid));
    assert_eq!(xs.set_perms("/", &[]), Err(XsError::NoPerms));
    let big = "x".repeat(4096);
    assert_eq!(xs.write("/a", &big), Err(XsError::TooLarge));
    let long = format!("/{}", "a".repeat(3072));
    assert_eq!(xs.read(&long), Err(XsError::TooLarge));
    assert!(xs.io().server.log.is_empty());
}

#[test]
fn perms_round_trip() {
    let mut xs = client();
    xs.write("/p", "").unwrap();
    let perms = [Perm::new(1, Access::Write), Perm::new(5, Access::Read)];
    xs.set_perms("/p", &perms).unwrap();
    assert_eq!(xs.get_perms("/p").unwrap(), perms);
    assert_eq!(xs.get_perms("/q"), Err(XsError::Xenstored(Errno::ENOENT)));
}

#[test]
fn large_values_cross_the_ring_wrap() {
    let mut xs = client();
    for f in [
        Field::ReqCons,
        Field::ReqProd,
        Field::RspCons,
        Field::RspProd,
    ] {
        server(&mut xs).ring().set_field(f, u32::MAX - 100);
    }
    let value: String = (0..4000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for _ in 0..3 {
        xs.write("/big", &value).unwrap();
        assert_eq!(xs.read("/big").unwrap(), value);
    }
    server(&mut xs).chunk = 5;
    assert_eq!(xs.read("/big").unwrap(), value);
}

#[test]
fn watches_fire_and_are_queued_during_requests() {
    let mut xs = client();
    xs.watch("/dev", "t1").unwrap();
    xs.watch("rel", "t2").unwrap();
    // The initial events arrived while waiting for the replies.
    assert_eq!(xs.poll_watch().unwrap(), Some(ev("/dev", "t1")));
    assert_eq!(xs.poll_watch().unwrap(), Some(ev("rel", "t2")));
    assert_eq!(xs.poll_watch().unwrap(), None);
    xs.write("/dev/x", "1").unwrap();
    xs.write("rel/y", "1").unwrap();
    server(&mut xs).external_write("/dev/z", b"2");
    assert_eq!(xs.read("/dev/x").unwrap(), "1");
    assert_eq!(xs.poll_watch().unwrap(), Some(ev("/dev/x", "t1")));
    assert_eq!(xs.poll_watch().unwrap(), Some(ev("rel/y", "t2")));
    assert_eq!(xs.wait_watch(u64::MAX).unwrap(), Some(ev("/dev/z", "t1")));
    let deadline = xs.io().now + 1_000_000;
    assert_eq!(xs.wait_watch(deadline).unwrap(), None);
    assert!(xs.io().now >= deadline);

    xs.unwatch("/dev", "t1").unwrap();
    server(&mut xs).external_write("/dev/z", b"3");
    assert_eq!(
        xs.unwatch("/dev", "t1"),
        Err(XsError::Xenstored(Errno::ENOENT))
    );
    assert_eq!(xs.poll_watch().unwrap(), None);
    assert_eq!(xs.counters().unknown_watch_token, 0);
}

#[test]
fn wait_watch_token_leaves_other_events() {
    let mut xs = client();
    xs.watch("/a", "ta").unwrap();
    xs.watch("/b", "tb").unwrap();
    assert_eq!(
        xs.wait_watch_token("tb", u64::MAX).unwrap(),
        Some(ev("/b", "tb"))
    );
    assert_eq!(xs.poll_watch().unwrap(), Some(ev("/a", "ta")));
}

#[test]
fn watch_queue_is_bounded_and_counted() {
    let mut xs = client_with(Config {
        watch_queue: 4,
        ..Config::default()
    });
    xs.watch("/w", "t").unwrap();
    for i in 0..10 {
        server(&mut xs).external_write(&format!("/w/{i}"), b"x");
    }
    server(&mut xs).external_write("/w/9", b"y");
    xs.read("/").unwrap();
    let c = xs.counters();
    assert_eq!(c.watch_coalesced, 1);
    assert_eq!(c.watch_overflow, 7);
    let got: Vec<_> = core::iter::from_fn(|| xs.poll_watch().unwrap()).collect();
    let want: Vec<_> = (6..10).map(|i| ev(&format!("/w/{i}"), "t")).collect();
    assert_eq!(got, want);
}

#[test]
fn unknown_token_and_bad_events_counted() {
    let mut xs = client();
    let stray = raw(MsgType::WatchEvent as u32, 0, b"/x\0nobody\0");
    let bad = raw(MsgType::WatchEvent as u32, 0, b"/x\0");
    server(&mut xs).inject = [stray, bad].concat();
    xs.read("/").unwrap();
    assert_eq!(xs.counters().unknown_watch_token, 1);
    assert_eq!(xs.counters().bad_watch_event, 1);
    assert_eq!(xs.poll_watch().unwrap(), None);
}

#[test]
fn transactions_commit_abort_and_retry() {
    let mut xs = client();
    let tx = xs.transaction_start().unwrap();
    xs.tx(tx).write("/t/a", "1").unwrap();
    assert_eq!(xs.tx(tx).read("/t/a").unwrap(), "1");
    assert_eq!(xs.read("/t/a"), Err(XsError::Xenstored(Errno::ENOENT)));
    xs.transaction_end(tx, false).unwrap();
    assert_eq!(xs.read("/t/a"), Err(XsError::Xenstored(Errno::ENOENT)));

    let mut runs = 0;
    server(&mut xs).fail_commits = 2;
    let v = xs
        .transaction(|tx| {
            runs += 1;
            tx.mkdir("/t")?;
            tx.write("/t/b", "2")?;
            tx.directory("/t")
        })
        .unwrap();
    assert_eq!((runs, v), (3, vec![String::from("b")]));
    assert_eq!(xs.read("/t/b").unwrap(), "2");
    assert_eq!(xs.counters().tx_retries, 2);

    server(&mut xs).fail_commits = 100;
    let r = xs.transaction(|tx| tx.write("/t/c", "3"));
    assert_eq!(r, Err(XsError::Xenstored(Errno::EAGAIN)));
    assert_eq!(xs.counters().tx_retries, 2 + 7);

    server(&mut xs).fail_commits = 0;
    let r: Result<(), _> = xs.transaction(|tx| tx.read("/nope").map(drop));
    assert_eq!(r, Err(XsError::Xenstored(Errno::ENOENT)));
    let starts = xs
        .io()
        .server
        .log
        .iter()
        .filter(|h| h.ty == MsgType::TransactionStart);
    assert_eq!(starts.count(), 1 + 3 + 8 + 1);
}

#[test]
fn conflicting_writer_causes_eagain() {
    let mut xs = client();
    let tx = xs.transaction_start().unwrap();
    xs.tx(tx).write("/c", "mine").unwrap();
    server(&mut xs).external_write("/c", b"theirs");
    assert_eq!(
        xs.transaction_end(tx, true),
        Err(XsError::Xenstored(Errno::EAGAIN))
    );
    assert_eq!(xs.read("/c").unwrap(), "theirs");
}

#[test]
fn silent_peer_times_out() {
    let mut xs = client_with(Config {
        timeout_ns: 1_000_000,
        ..Config::default()
    });
    server(&mut xs).mute = true;
    assert_eq!(xs.read("/"), Err(XsError::Timeout));
    assert!(xs.io().now >= 1_000_000);
    assert_eq!(xs.counters().timeouts, 1);
    server(&mut xs).mute = false;
    assert_eq!(xs.read("/").unwrap(), "");
}

#[test]
fn stalled_peer_half_written_request_breaks_the_connection() {
    let mut xs = client_with(Config {
        timeout_ns: 1_000_000,
        ..Config::default()
    });
    server(&mut xs).stall = true;
    // Fits the ring: the stream stays intact and the late reply is dropped.
    assert_eq!(xs.write("/a", "1"), Err(XsError::Timeout));
    assert!(!xs.is_broken());
    server(&mut xs).stall = false;
    assert_eq!(xs.read("/a").unwrap(), "1");
    assert_eq!(xs.counters().unexpected_req_id, 1);
    // Does not fit: a partial request is stranded in the ring.
    server(&mut xs).stall = true;
    let big = "x".repeat(2000);
    assert_eq!(xs.write("/b", &big), Err(XsError::Timeout));
    assert!(xs.is_broken());
    assert_eq!(xs.read("/a"), Err(XsError::Broken));
}

#[test]
fn late_reply_is_dropped_by_req_id() {
    let mut xs = client_with(Config {
        timeout_ns: 1_000_000,
        ..Config::default()
    });
    xs.write("/a", "1").unwrap();
    server(&mut xs).hold = true;
    assert_eq!(xs.read("/a"), Err(XsError::Timeout));
    let held = core::mem::take(&mut server(&mut xs).held);
    server(&mut xs).hold = false;
    server(&mut xs).send_raw(&held);
    assert_eq!(xs.read("/a").unwrap(), "1");
    assert_eq!(xs.counters().unexpected_req_id, 1);
}

#[test]
fn error_and_malformed_replies() {
    let mut xs = client();
    xs.write("/a", "1").unwrap();
    let cases: Vec<(u32, &[u8], XsError)> = vec![
        (
            MsgType::Error as u32,
            b"EACCES\0",
            XsError::Xenstored(Errno::EACCES),
        ),
        (
            MsgType::Error as u32,
            b"ENEWTHING\0",
            XsError::Xenstored(Errno::Unknown),
        ),
        (
            MsgType::Error as u32,
            b"garbage",
            XsError::Malformed(ReplyError::BadErrno),
        ),
        (
            MsgType::Directory as u32,
            b"OK\0",
            XsError::Malformed(ReplyError::WrongType),
        ),
        (
            MsgType::Write as u32,
            b"KO\0",
            XsError::Malformed(ReplyError::BadAck),
        ),
    ];
    let n = cases.len() as u64;
    for (ty, payload, want) in cases {
        let payload = payload.to_vec();
        server(&mut xs).replace_reply =
            Some(alloc::boxed::Box::new(move |id| raw(ty, id, &payload)));
        assert_eq!(xs.write("/a", "2"), Err(want));
        assert!(!xs.is_broken());
    }
    assert_eq!(xs.counters().bad_reply, n - 2);
    assert_eq!(xs.read("/a").unwrap(), "2");
}

#[test]
fn broken_streams_are_typed_and_sticky() {
    let oversize = |id| {
        let mut m = raw(MsgType::Read as u32, id, b"");
        m[12..16].copy_from_slice(&4097u32.to_le_bytes());
        m
    };
    let mut xs = client();
    server(&mut xs).replace_reply = Some(alloc::boxed::Box::new(oversize));
    assert_eq!(
        xs.read("/"),
        Err(XsError::Framing(FrameError::Oversize(4097)))
    );
    assert_eq!(xs.read("/"), Err(XsError::Broken));
    assert_eq!(xs.poll_watch(), Err(XsError::Broken));

    let mut xs = client();
    server(&mut xs).replace_reply = Some(alloc::boxed::Box::new(|id| raw(99, id, b"")));
    assert_eq!(
        xs.read("/"),
        Err(XsError::Framing(FrameError::UnknownType(99)))
    );

    let mut xs = client();
    server(&mut xs).ring().set_field(Field::RspProd, 5000);
    assert!(matches!(xs.read("/"), Err(XsError::RingCorrupt(_))));
    assert!(xs.is_broken());

    let mut xs = client();
    server(&mut xs).ring().set_field(Field::ServerFeatures, 2);
    server(&mut xs).ring().set_field(Field::Error, 3);
    server(&mut xs).mute = true;
    assert_eq!(xs.read("/"), Err(XsError::ServerError(3)));
}

#[test]
fn truncated_reply_times_out() {
    let mut xs = client_with(Config {
        timeout_ns: 1_000_000,
        ..Config::default()
    });
    server(&mut xs).replace_reply = Some(alloc::boxed::Box::new(|id| {
        let mut m = raw(MsgType::Read as u32, id, b"abcdef");
        m.truncate(19);
        m
    }));
    assert_eq!(xs.read("/"), Err(XsError::Timeout));
}

#[test]
fn garbage_from_the_peer_never_panics() {
    use proptest::prelude::*;
    proptest!(ProptestConfig::with_cases(64), |(junk in proptest::collection::vec(any::<u8>(), 0..3000),
                                                chunk in 1usize..200)| {
        let mut xs = client_with(Config { timeout_ns: 1_000_000, ..Config::default() });
        server(&mut xs).chunk = chunk;
        server(&mut xs).inject = junk;
        for _ in 0..3 {
            let _ = xs.read("/");
            let _ = xs.poll_watch();
        }
    });
}
