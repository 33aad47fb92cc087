//! The Spike's xenbus backend (`xenbus_backend::{scan, VifBackend}`,
//! `netback::FrontendFeatures::from_kv`) against hostile xenstore values,
//! through the in-memory xenstored (`pv_runtime::xenstore::fake`).
//!
//! The fuzz input writes, removes and re-writes the keys netfront publishes
//! under `device/vif/<dev>/` (`state`, `tx-ring-ref`, `rx-ring-ref`,
//! `event-channel`, `multi-queue-num-queues`, `request-rx-copy`,
//! `feature-*`; `xen/include/public/io/netif.h`, states per
//! `io/xenbus.h`) with canonical numbers, near misses or
//! arbitrary bytes (non-UTF-8 included), removes the frontend's directory or
//! domain, and — in one mode — lets the toolstack's backend keys (`mac`,
//! `mtu`, `frontend`, `frontend-id`, `online`, `state`) and the
//! `backend/vif` directory names be hostile too. The backend is probed and
//! stepped the way the Spike's `vifs` loop drives it.
//!
//! Asserted, besides "no panic":
//! * a `Connect` carries exactly the values the frontend wrote: each of
//!   `tx-ring-ref`, `rx-ring-ref`, `event-channel` is present, strict
//!   decimal (`parse_decimal`) of the value and exactly its canonical text
//!   (the value round-trips), `request-rx-copy` is exactly "1",
//!   `multi-queue-num-queues` is absent or "1", the frontend's state
//!   is Initialised or Connected, and the vif was not connected;
//! * a probe that succeeds read a MAC and MTU that are exactly the
//!   toolstack's text (MTU in 68..=65535, 1500 when absent) and left the
//!   backend in InitWait;
//! * with only the frontend hostile, `step` fails only by refusing a
//!   frontend value, and then the backend is Closed with an `error` node
//!   (`xenbus_dev_fatal`), so netfront does not wait for ever; every
//!   backend state change is one `backend_may_switch` allows;
//! * `from_kv` sets a feature exactly when its key reads "1" and counts every
//!   present value other than "0"/"1" as malformed;
//! * `scan` returns only keys whose directory names are strict decimal.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use pv_runtime::xenbus::XenbusState;
use pv_runtime::xenstore::fake::{FakeIo, FakeXenstored};
use pv_runtime::xenstore::{parse_decimal, HeapPage, StoreRing, Xenstore};
use spike_domain::netback::{BackendFeatures, FrontendFeatures};
use spike_domain::xenbus_backend::{scan, Step, VifBackend, VifKey};

type Xs = Xenstore<FakeIo, HeapPage>;

const BE: &str = "/local/domain/1/backend/vif/7/0";
const FE: &str = "/local/domain/7/device/vif/0";
const KEY: VifKey = VifKey {
    frontend: 7,
    devid: 0,
};
const MAX_STEPS: usize = 64;
const FEATURES: [&str; 7] = [
    "request-rx-copy",
    "feature-rx-notify",
    "feature-sg",
    "feature-gso-tcpv4",
    "feature-gso-tcpv6",
    "feature-no-csum-offload",
    "feature-ipv6-csum-offload",
];
const FE_KEYS: [&str; 5] = [
    "state",
    "tx-ring-ref",
    "rx-ring-ref",
    "event-channel",
    "multi-queue-num-queues",
];
const BE_KEYS: [&str; 6] = ["mac", "mtu", "frontend", "frontend-id", "online", "state"];
const TEXTS: &[&str] = &[
    "",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "00",
    "01",
    "08",
    " 8",
    "8 ",
    "+8",
    "-8",
    "8\0",
    "0x8",
    "4294967295",
    "4294967296",
    "0000000008",
    "00000000008",
    "99999999999",
    "yes",
    "00:16:3e:00:00:07",
    "00:16:3E:0a:ff:01",
    "0:16:3e:00:00:07",
    "00:16:3e:00:00:07:08",
    "00-16-3e-00-00-07",
    "/local/domain/7/device/vif/0",
    "/local/domain/0/device/vif/0",
    "67",
    "68",
    "1500",
    "65535",
    "65536",
];

fn client() -> Xs {
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

fn node(xs: &Xs, p: &str) -> Option<Vec<u8>> {
    xs.io().server.node(p).map(<[u8]>::to_vec)
}

fn text_of(xs: &Xs, p: &str) -> Option<String> {
    node(xs, p).and_then(|v| String::from_utf8(v).ok())
}

fn write(xs: &mut Xs, p: &str, v: &[u8]) {
    xs.io_mut().server.external_write(p, v);
}

/// A hostile value: a near miss, a number or arbitrary bytes.
fn value(u: &mut Unstructured) -> AResult<Vec<u8>> {
    Ok(match u.int_in_range(0..=5u8)? {
        // Long values, up to xenstore's limit (XENSTORE_PAYLOAD_MAX).
        5 => vec![u.arbitrary::<u8>()?; u.int_in_range(40..=4000usize)?],
        0 | 1 => TEXTS[u.choose_index(TEXTS.len())?].as_bytes().to_vec(),
        2 => u.int_in_range(0..=12u32)?.to_string().into_bytes(),
        3 => u.arbitrary::<u32>()?.to_string().into_bytes(),
        _ => {
            let n = u.int_in_range(0..=40usize)?;
            u.bytes(n)?.to_vec()
        }
    })
}

/// What libxl writes when it creates the device (`libxl__device_nic_add`).
fn libxl_creates(xs: &mut Xs) {
    for (k, v) in [
        ("frontend", FE),
        ("frontend-id", "7"),
        ("online", "1"),
        ("state", "1"),
        ("mac", "00:16:3e:00:00:07"),
        ("handle", "0"),
        ("type", "vif"),
    ] {
        write(xs, &format!("{BE}/{k}"), v.as_bytes());
    }
    for (k, v) in [
        ("backend", BE),
        ("backend-id", "1"),
        ("state", "1"),
        ("handle", "0"),
    ] {
        write(xs, &format!("{FE}/{k}"), v.as_bytes());
    }
}

/// A well-behaved netfront's connect (netfront.c `talk_to_netback`).
fn netfront_connects(xs: &mut Xs, u: &mut Unstructured) -> AResult<()> {
    for (k, v) in [
        ("tx-ring-ref", u.int_in_range(8..=4096u32)?.to_string()),
        ("rx-ring-ref", u.int_in_range(8..=4096u32)?.to_string()),
        ("event-channel", u.int_in_range(1..=1023u32)?.to_string()),
        ("request-rx-copy", "1".to_string()),
        ("feature-sg", "1".to_string()),
        ("state", if u.arbitrary()? { "4" } else { "3" }.to_string()),
    ] {
        write(xs, &format!("{FE}/{k}"), v.as_bytes());
    }
    Ok(())
}

fn check_probe(xs: &Xs, vif: &VifBackend) {
    let mac = text_of(xs, &format!("{BE}/mac")).expect("probe read a mac");
    let want: Vec<String> = vif.mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(mac.to_ascii_lowercase(), want.join(":"));
    match text_of(xs, &format!("{BE}/mtu")) {
        None => assert_eq!(vif.mtu, 1500),
        Some(t) => {
            assert!(vif.mtu >= 68);
            assert_eq!(parse_decimal(&t), Some(u32::from(vif.mtu)));
        }
    }
    assert_eq!(node(xs, &format!("{BE}/state")).as_deref(), Some(&b"2"[..]));
    assert_eq!(vif.fe_path, FE);
}

fn check_connect(
    xs: &Xs,
    was_connected: bool,
    rings: &spike_domain::xenbus_backend::FrontendRings,
) {
    assert!(!was_connected, "Connect while connected");
    for (k, v) in [
        ("tx-ring-ref", rings.tx_ring_ref),
        ("rx-ring-ref", rings.rx_ring_ref),
        ("event-channel", rings.event_channel),
    ] {
        let t = text_of(xs, &format!("{FE}/{k}")).expect("Connect from a missing key");
        assert_eq!(parse_decimal(&t), Some(v), "{k} = {t:?}");
        assert_eq!(t, v.to_string(), "{k}: two texts for one number");
    }
    assert_eq!(
        text_of(xs, &format!("{FE}/request-rx-copy")).as_deref(),
        Some("1")
    );
    let queues = node(xs, &format!("{FE}/multi-queue-num-queues"));
    assert!(
        matches!(queues.as_deref(), None | Some(b"1")),
        "{queues:?} queues"
    );
    let fe = node(xs, &format!("{FE}/state"));
    assert!(
        matches!(fe.as_deref(), Some(b"3" | b"4")),
        "frontend state {fe:?}"
    );
    let ours = node(xs, &format!("{BE}/state"));
    assert!(ours.as_deref() != Some(b"6"), "Connect while Closed");
}

fn check_features(xs: &mut Xs, vif: &VifBackend) {
    // As the Spike reads them (`vifs::connect`): through a RefCell.
    let cell = std::cell::RefCell::new(&mut *xs);
    let f = FrontendFeatures::from_kv(|k| vif.frontend_key(&mut **cell.borrow_mut(), k));
    let mut malformed = 0;
    let mut want = [false; 7];
    for (i, k) in FEATURES.iter().enumerate() {
        match node(xs, &format!("{FE}/{k}")).as_deref() {
            Some(b"1") => want[i] = true,
            Some(b"0") | None => {}
            Some(_) => malformed += 1,
        }
    }
    let got = [
        f.rx_copy,
        f.rx_notify,
        f.sg,
        f.gso_tcpv4,
        f.gso_tcpv6,
        f.no_csum_offload,
        f.ipv6_csum_offload,
    ];
    assert_eq!(got, want);
    assert_eq!(f.malformed, malformed);
}

fn state_of(xs: &Xs) -> Option<XenbusState> {
    node(xs, &format!("{BE}/state")).and_then(|t| XenbusState::parse(&t).ok())
}

fn run(u: &mut Unstructured) -> AResult<()> {
    // Mode: only the frontend is hostile (the strong properties hold), or
    // the toolstack's keys too.
    let toolstack_hostile = u.ratio(1, 4)?;
    let mut xs = client();
    libxl_creates(&mut xs);
    if toolstack_hostile {
        for _ in 0..u.int_in_range(0..=4u8)? {
            let k = BE_KEYS[u.choose_index(BE_KEYS.len())?];
            let v = value(u)?;
            write(&mut xs, &format!("{BE}/{k}"), &v);
        }
        for _ in 0..u.int_in_range(0..=3u8)? {
            let fe = String::from_utf8_lossy(&value(u)?).replace('/', "_");
            let dev = String::from_utf8_lossy(&value(u)?).replace('/', "_");
            write(
                &mut xs,
                &format!("/local/domain/1/backend/vif/{fe}/{dev}/state"),
                b"1",
            );
        }
    }
    let keys = scan(&mut xs).unwrap_or_default();
    let names: BTreeSet<String> = keys
        .iter()
        .map(|k| format!("{}/{}", k.frontend, k.devid))
        .collect();
    for k in &keys {
        let dir = format!("/local/domain/1/backend/vif/{}/{}", k.frontend, k.devid);
        assert!(node(&xs, &dir).is_some(), "scan invented {dir}");
    }
    assert_eq!(names.len(), keys.len(), "scan returned a key twice");

    let offered = BackendFeatures::default();
    let mut vif = match VifBackend::probe(&mut xs, KEY, &offered) {
        Ok(v) => v,
        Err(_) => {
            assert!(toolstack_hostile, "probe refused libxl's own keys");
            return Ok(());
        }
    };
    check_probe(&xs, &vif);

    let mut removed = false;
    for _ in 0..MAX_STEPS {
        if u.is_empty() || removed {
            break;
        }
        let before = state_of(&xs);
        let mut toolstack_moved = false;
        match u.int_in_range(0..=11u8)? {
            0..=3 => {
                let k = FE_KEYS[u.choose_index(FE_KEYS.len())?];
                let v = value(u)?;
                write(&mut xs, &format!("{FE}/{k}"), &v);
            }
            4 => {
                let k = FEATURES[u.choose_index(FEATURES.len())?];
                let v = value(u)?;
                write(&mut xs, &format!("{FE}/{k}"), &v);
            }
            5 | 6 => netfront_connects(&mut xs, u)?,
            7 => {
                let k = FE_KEYS[u.choose_index(FE_KEYS.len())?];
                xs.io_mut().server.external_rm(&format!("{FE}/{k}"));
            }
            8 => {
                if u.arbitrary()? {
                    xs.io_mut().server.external_rm(FE);
                } else {
                    // The whole frontend domain is gone and unreadable.
                    write(&mut xs, "/local/domain", b"");
                    xs.io_mut().server.unreadable.push("/local/domain".into());
                    xs.io_mut().server.external_rm("/local/domain/7");
                }
            }
            9 => {
                // The toolstack removes the device (xl network-detach).
                toolstack_moved = true;
                write(&mut xs, &format!("{BE}/online"), b"0");
                if u.arbitrary()? {
                    write(&mut xs, &format!("{BE}/state"), b"5");
                }
            }
            10 if toolstack_hostile => {
                toolstack_moved = true;
                let k = BE_KEYS[u.choose_index(BE_KEYS.len())?];
                let v = value(u)?;
                write(&mut xs, &format!("{BE}/{k}"), &v);
            }
            10 => check_features(&mut xs, &vif),
            _ => {
                toolstack_moved = true;
                xs.io_mut().server.external_rm(BE);
            }
        }
        let before = if toolstack_moved {
            state_of(&xs)
        } else {
            before
        };
        let was_connected = vif.is_connected();
        let mut step = vif.step(&mut xs);
        if let Ok(Step::Disconnect(_)) = step {
            assert!(was_connected, "Disconnect while not connected");
            step = vif.disconnected(&mut xs);
        }
        match step {
            Ok(Step::Connect(rings)) => {
                check_connect(&xs, was_connected, &rings);
                check_features(&mut xs, &vif);
                if u.ratio(3, 4)? {
                    let _ = vif.connected(&mut xs);
                } else {
                    let _ = vif.fail(&mut xs, "connect: cannot map");
                }
            }
            Ok(Step::RemoveLater) => {
                let online = node(&xs, &format!("{BE}/online"));
                assert!(online.as_deref() != Some(b"1"), "removal while online");
                assert_eq!(state_of(&xs), Some(XenbusState::Closed));
                if u.arbitrary()? {
                    let _ = vif.remove(&mut xs);
                }
            }
            Ok(Step::Removed) => removed = true,
            Ok(Step::Nothing | Step::Disconnect(_)) => {}
            Err(e) => {
                if !toolstack_hostile && node(&xs, BE).is_some() {
                    assert!(
                        e.is_refusal(),
                        "step failed on frontend text without refusing it: {e:?}"
                    );
                }
                if e.is_refusal() && node(&xs, BE).is_some()
                {
                    assert_eq!(state_of(&xs), Some(XenbusState::Closed));
                    assert!(node(&xs, &format!("{BE}/error")).is_some());
                }
            }
        }
        if !toolstack_hostile {
            if let (Some(a), Some(b)) = (before, state_of(&xs)) {
                // One pass may take two moves (Closing → Closed after a
                // refusal, InitWait → Connected → ... is one).
                let legal = a.backend_may_switch(b)
                    || XenbusState::ALL
                        .iter()
                        .any(|&m| a.backend_may_switch(m) && m.backend_may_switch(b));
                assert!(legal, "backend went {a:?} -> {b:?}");
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
