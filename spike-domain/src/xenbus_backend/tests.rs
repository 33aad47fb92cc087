use super::*;
use pv_runtime::xenstore::fake::{FakeIo, FakeXenstored};
use pv_runtime::xenstore::{HeapPage, StoreRing};

const BE: &str = "/local/domain/1/backend/vif/7/0";

/// Another domain (the toolstack, the frontend) writes `path`.
fn put(xs: &mut Xenstore<FakeIo, HeapPage>, path: &str, value: &[u8]) {
    xs.io_mut().server.external_write(path, value);
}

/// The step refuses `key`'s value and closes the backend (state 6).
fn closed_over(xs: &mut Xenstore<FakeIo, HeapPage>, vif: &mut VifBackend, key: &str) {
    match vif.step(xs) {
        Err(BackendError::BadValue { key: k, .. }) => assert_eq!(k, key),
        other => panic!("{key}: {other:?}"),
    }
    assert_eq!(node(xs, &format!("{BE}/state")).as_deref(), Some("6"));
}
const FE: &str = "/local/domain/7/device/vif/0";

fn client() -> Xenstore<FakeIo, HeapPage> {
    let page = HeapPage::new();
    let server = FakeXenstored::new(page.clone());
    Xenstore::new(
        StoreRing::new(page),
        FakeIo {
            server,
            now: 0,
            notifies: 0,
        },
    )
}

fn libxl_creates(xs: &mut Xenstore<FakeIo, HeapPage>) {
    let s = &mut xs.io_mut().server;
    for (k, v) in [
        ("frontend", FE),
        ("frontend-id", "7"),
        ("online", "1"),
        ("state", "1"),
        ("mac", "00:16:3e:00:00:07"),
        ("handle", "0"),
        ("type", "vif"),
    ] {
        s.external_write(&format!("{BE}/{k}"), v.as_bytes());
    }
    for (k, v) in [
        ("backend", "/local/domain/1/backend/vif/7/0"),
        ("backend-id", "1"),
        ("state", "1"),
        ("handle", "0"),
    ] {
        s.external_write(&format!("{FE}/{k}"), v.as_bytes());
    }
}

fn netfront_connects(xs: &mut Xenstore<FakeIo, HeapPage>) {
    let s = &mut xs.io_mut().server;
    for (k, v) in [
        ("tx-ring-ref", "8"),
        ("rx-ring-ref", "9"),
        ("event-channel", "11"),
        ("request-rx-copy", "1"),
        ("state", "4"),
    ] {
        s.external_write(&format!("{FE}/{k}"), v.as_bytes());
    }
}

fn node(xs: &Xenstore<FakeIo, HeapPage>, p: &str) -> Option<String> {
    xs.io()
        .server
        .node(p)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// After the backend closed: netfront goes Initialising (the backend
/// answers InitWait), then Connected with the keys as they are now.
fn netfront_restarts(xs: &mut Xenstore<FakeIo, HeapPage>, vif: &mut VifBackend) {
    put(xs, &format!("{FE}/state"), b"1");
    assert_eq!(vif.step(xs), Ok(Step::Nothing));
    assert_eq!(node(xs, &format!("{BE}/state")).as_deref(), Some("2"));
    put(xs, &format!("{FE}/state"), b"4");
}

/// The toolstack's removal: Closed first (libxl reads 6), the directory
/// removed after the grace.
fn removed_after_grace(xs: &mut Xenstore<FakeIo, HeapPage>, vif: &mut VifBackend) {
    assert_eq!(vif.step(xs).unwrap(), Step::RemoveLater);
    assert_eq!(node(xs, &format!("{BE}/state")).as_deref(), Some("6"));
    assert_eq!(vif.remove(xs).unwrap(), Step::Removed);
    assert_eq!(node(xs, &format!("{BE}/state")), None);
}

const KEY: VifKey = VifKey {
    frontend: 7,
    devid: 0,
};

#[test]
fn full_handshake_and_toolstack_removal() {
    let mut xs = client();
    libxl_creates(&mut xs);
    assert_eq!(scan(&mut xs).unwrap(), [KEY]);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    assert_eq!(vif.mac, [0, 0x16, 0x3e, 0, 0, 7]);
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("2"));
    assert_eq!(
        node(&xs, &format!("{BE}/feature-rx-copy")).as_deref(),
        Some("1")
    );
    assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
    netfront_connects(&mut xs);
    let rings = FrontendRings {
        tx_ring_ref: 8,
        rx_ring_ref: 9,
        event_channel: 11,
    };
    assert_eq!(vif.step(&mut xs).unwrap(), Step::Connect(rings));
    vif.connected(&mut xs).unwrap();
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("4"));
    assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
    // xl network-detach / destroy: online=0, state=5
    put(&mut xs, &format!("{BE}/online"), b"0");
    put(&mut xs, &format!("{BE}/state"), b"5");
    assert_eq!(vif.step(&mut xs).unwrap(), Step::Disconnect(Why::Removal));
    assert_eq!(vif.disconnected(&mut xs).unwrap(), Step::RemoveLater);
    // libxl must read 6 before the directory goes.
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
    assert_eq!(vif.remove(&mut xs).unwrap(), Step::Removed);
    assert_eq!(
        node(&xs, &format!("{BE}/state")),
        None,
        "backend dir removed"
    );
}

/// A vif the Spike already closed (a hostile frontend) is at 6 with
/// `online=1`; libxl's removal then writes only `online=0`.
#[test]
fn removal_of_an_already_closed_backend() {
    let mut xs = client();
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    netfront_connects(&mut xs);
    assert!(matches!(vif.step(&mut xs).unwrap(), Step::Connect(_)));
    vif.connected(&mut xs).unwrap();
    assert_eq!(vif.disconnected(&mut xs).unwrap(), Step::Nothing);
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
    assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
    put(&mut xs, &format!("{BE}/online"), b"0");
    removed_after_grace(&mut xs, &mut vif);
}

/// Unusable frontend keys close the backend with an `error` node instead
/// of leaving both ends waiting; a re-initialising frontend may retry.
#[test]
fn bad_frontend_keys_close_with_an_error_node() {
    let mut xs = client();
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    netfront_connects(&mut xs);
    put(&mut xs, &format!("{FE}/tx-ring-ref"), b"12x");
    closed_over(&mut xs, &mut vif, "tx-ring-ref");
    let err = node(&xs, &format!("{BE}/error")).unwrap();
    assert!(err.contains("tx-ring-ref"), "{err}");
    // Still Connected on its side: we wait, without spinning.
    assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
    put(&mut xs, &format!("{FE}/state"), b"1");
    assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("2"));
    assert_eq!(node(&xs, &format!("{BE}/error")), None);
}

#[test]
fn frontend_close_and_reconnect_keeps_the_device() {
    let mut xs = client();
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    netfront_connects(&mut xs);
    assert!(matches!(vif.step(&mut xs).unwrap(), Step::Connect(_)));
    vif.connected(&mut xs).unwrap();
    put(&mut xs, &format!("{FE}/state"), b"5");
    assert_eq!(
        vif.step(&mut xs).unwrap(),
        Step::Disconnect(Why::FrontendClosed)
    );
    assert_eq!(vif.disconnected(&mut xs).unwrap(), Step::Nothing);
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
    put(&mut xs, &format!("{FE}/state"), b"1");
    assert_eq!(vif.step(&mut xs).unwrap(), Step::Nothing);
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("2"));
    put(&mut xs, &format!("{FE}/state"), b"4");
    assert!(matches!(vif.step(&mut xs).unwrap(), Step::Connect(_)));
}

#[test]
fn frontend_vanishing_disconnects() {
    let mut xs = client();
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    netfront_connects(&mut xs);
    assert!(matches!(vif.step(&mut xs).unwrap(), Step::Connect(_)));
    vif.connected(&mut xs).unwrap();
    xs.io_mut().server.external_rm(FE);
    assert_eq!(
        vif.step(&mut xs).unwrap(),
        Step::Disconnect(Why::FrontendGone)
    );
}

#[test]
fn dead_frontend_domain_reads_as_gone_not_error() {
    let mut xs = client();
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    // libxl removes the whole frontend domain; we may not read /local/domain.
    put(&mut xs, "/local/domain", b"");
    xs.io_mut().server.unreadable.push("/local/domain".into());
    xs.io_mut().server.external_rm("/local/domain/7");
    put(&mut xs, &format!("{BE}/online"), b"0");
    put(&mut xs, &format!("{BE}/state"), b"5");
    removed_after_grace(&mut xs, &mut vif);
}

#[test]
fn hostile_values_are_refused() {
    let mut xs = client();
    libxl_creates(&mut xs);
    put(&mut xs, &format!("{BE}/mac"), b"00:16:3e:00:00:7");
    assert!(matches!(
        VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()),
        Err(BackendError::BadValue { key: "mac", .. })
    ));
    libxl_creates(&mut xs);
    put(
        &mut xs,
        &format!("{BE}/frontend"),
        b"/local/domain/0/device/vif/0",
    );
    assert!(matches!(
        VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()),
        Err(BackendError::BadValue {
            key: "frontend",
            ..
        })
    ));
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    netfront_connects(&mut xs);
    put(&mut xs, &format!("{FE}/tx-ring-ref"), b"-8");
    assert!(matches!(
        vif.step(&mut xs),
        Err(BackendError::BadValue {
            key: "tx-ring-ref",
            ..
        })
    ));
    put(&mut xs, &format!("{FE}/tx-ring-ref"), b"8");
    put(&mut xs, &format!("{FE}/request-rx-copy"), b"0");
    // The refusal closed the backend; netfront starts over.
    netfront_restarts(&mut xs, &mut vif);
    assert_eq!(vif.step(&mut xs), Err(BackendError::NoRxCopy));
    // Queues we never offered, zero among them.
    for n in [b"0".as_slice(), b"4", b"01"] {
        put(&mut xs, &format!("{FE}/request-rx-copy"), b"1");
        put(&mut xs, &format!("{FE}/multi-queue-num-queues"), n);
        netfront_restarts(&mut xs, &mut vif);
        assert!(matches!(
            vif.step(&mut xs),
            Err(BackendError::BadValue {
                key: "multi-queue-num-queues",
                ..
            })
        ));
    }
}

/// The vif `rate` key (libxl: `<bytes>,<usecs>`): read at probe, handed
/// to the netback; a malformed one refuses the device with an `error`
/// node and a Closed backend, like any bad key.
#[test]
fn rate_key_is_read_strictly() {
    let mut xs = client();
    libxl_creates(&mut xs);
    let vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    assert_eq!(vif.rate, None, "absent: unlimited");
    libxl_creates(&mut xs);
    put(&mut xs, &format!("{BE}/rate"), b"62500,50000");
    let vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    assert_eq!(
        vif.rate,
        Some(TxRate {
            bytes: 62500,
            usecs: 50000
        })
    );
    for bad in [
        &b"62500"[..],
        b"62500,0",
        b"-1,50000",
        b"62500,50000\0",
        b"1e6,1",
    ] {
        libxl_creates(&mut xs);
        put(&mut xs, &format!("{BE}/rate"), bad);
        assert!(matches!(
            VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()),
            Err(BackendError::BadValue { key: "rate", .. })
        ));
        assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
        let err = node(&xs, &format!("{BE}/error")).unwrap();
        assert!(err.contains("rate"), "{err}");
    }
}

/// Found by the `xenbus_values` fuzz target: a frontend `state` that is
/// no xenbus state failed every step without closing, so the backend sat
/// in InitWait (or stayed connected) for ever.
#[test]
fn invalid_frontend_state_closes_with_an_error_node() {
    let mut xs = client();
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    put(&mut xs, &format!("{FE}/state"), b"04");
    assert!(matches!(
        vif.step(&mut xs),
        Err(BackendError::BadValue { key: "state", .. })
    ));
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
    assert!(node(&xs, &format!("{BE}/error")).is_some());
    assert_eq!(vif.step(&mut xs), Ok(Step::Nothing), "refused once");
    put(&mut xs, &format!("{FE}/state"), b"1");
    assert_eq!(vif.step(&mut xs), Ok(Step::Nothing));
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("2"));
    // Connected, then garbage: disconnected.
    netfront_connects(&mut xs);
    assert!(matches!(vif.step(&mut xs).unwrap(), Step::Connect(_)));
    vif.connected(&mut xs).unwrap();
    put(&mut xs, &format!("{FE}/state"), b"\xff");
    assert_eq!(
        vif.step(&mut xs),
        Ok(Step::Disconnect(Why::FrontendInvalid))
    );
    assert_eq!(vif.disconnected(&mut xs), Ok(Step::Nothing));
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
    // A removal still goes on.
    put(&mut xs, &format!("{BE}/online"), b"0");
    assert_eq!(vif.step(&mut xs), Ok(Step::RemoveLater));
}

/// Found by the `xenbus_values` fuzz target: a ring ref that is not
/// UTF-8 failed as a xenstore error, without the `error` node and close
/// every other bad value gets.
#[test]
fn non_utf8_frontend_values_are_bad_values() {
    let mut xs = client();
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    netfront_connects(&mut xs);
    put(&mut xs, &format!("{FE}/rx-ring-ref"), b"9\xff");
    closed_over(&mut xs, &mut vif, "rx-ring-ref");
    assert!(node(&xs, &format!("{BE}/error")).is_some());
    // A non-UTF-8 request-rx-copy is not "1".
    put(&mut xs, &format!("{FE}/rx-ring-ref"), b"9");
    put(&mut xs, &format!("{FE}/request-rx-copy"), b"\xc3");
    for state in [b"1", b"4"] {
        put(&mut xs, &format!("{FE}/state"), state);
        if state == b"1" {
            assert_eq!(vif.step(&mut xs), Ok(Step::Nothing));
        }
    }
    assert_eq!(vif.step(&mut xs), Err(BackendError::NoRxCopy));
}

/// Found by the `xenbus_values` fuzz target: a bad value as long as
/// xenstore allows made the `error` node too large to write, so the
/// backend failed with `TooLarge` and never closed.
#[test]
fn huge_bad_values_still_close() {
    for key in ["tx-ring-ref", "multi-queue-num-queues"] {
        let mut xs = client();
        libxl_creates(&mut xs);
        let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
        netfront_connects(&mut xs);
        put(&mut xs, &format!("{FE}/{key}"), &[0xff; 4000]);
        match vif.step(&mut xs) {
            Err(BackendError::BadValue { key: k, value }) => {
                assert_eq!(k, key);
                assert!(value.len() <= MAX_SHOWN + '…'.len_utf8());
            }
            other => panic!("{key}: {other:?}"),
        }
        assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
        let err = node(&xs, &format!("{BE}/error")).unwrap();
        assert!(err.len() <= MAX_ERROR_NODE + 3, "{}", err.len());
    }
    assert_eq!(shorten("ab€".into(), 3), "ab…");
}

#[test]
fn strict_parsers() {
    assert_eq!(
        parse_mac("00:16:3E:0a:ff:01"),
        Some([0, 0x16, 0x3e, 0x0a, 0xff, 1])
    );
    for bad in [
        "",
        "00:16:3e:00:00",
        "00:16:3e:00:00:07:08",
        "0:16:3e:00:00:07",
        "zz:16:3e:00:00:07",
        "00-16-3e-00-00-07",
    ] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
    assert_eq!(parse_decimal("4294967295"), Some(u32::MAX));
    for bad in ["", "+1", "1 ", "4294967296", "0x1", "08", "00"] {
        assert_eq!(parse_decimal(bad), None, "{bad}");
    }
}

#[test]
fn a_frontend_initialised_without_its_rings_is_refused() {
    // netfront writes ring refs and the event channel before the state
    // (io/netif.h); a frontend that skips one must get an error node and a
    // Closed backend, not a backend that retries a xenstore read for ever.
    for key in ["tx-ring-ref", "rx-ring-ref", "event-channel"] {
        let mut xs = client();
        libxl_creates(&mut xs);
        let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
        netfront_connects(&mut xs);
        xs.io_mut().server.external_rm(&format!("{FE}/{key}"));
        let e = vif.step(&mut xs).unwrap_err();
        assert!(
            matches!(e, BackendError::Missing { key: k } if k == key),
            "{e:?}"
        );
        assert!(e.is_refusal());
        assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
        assert_eq!(
            node(&xs, &format!("{BE}/error")).as_deref(),
            Some(format!("frontend wrote no {key}").as_str())
        );
    }
}

#[test]
fn a_refusal_closes_even_over_an_overwritten_state() {
    // Our state node overwritten with 0 (Unknown): a refusal still ends
    // Closed, as xenbus_dev_fatal closes from any state.
    let mut xs = client();
    libxl_creates(&mut xs);
    let mut vif = VifBackend::probe(&mut xs, KEY, &BackendFeatures::default()).unwrap();
    put(&mut xs, &format!("{BE}/state"), b"0");
    put(&mut xs, &format!("{FE}/state"), b"");
    assert!(vif.step(&mut xs).unwrap_err().is_refusal());
    assert_eq!(node(&xs, &format!("{BE}/state")).as_deref(), Some("6"));
}
