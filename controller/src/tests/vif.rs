//! The xenstore side of moving a vif (crate::vif).

use std::collections::BTreeMap;

use crate::registry::{Access, Batch, Op};
use crate::vif::{parse_backend_path, GuestVif};

fn record(guest: u32, backend: u32) -> BTreeMap<String, String> {
    [
        ("frontend", format!("/local/domain/{guest}/device/vif/0")),
        (
            "backend",
            format!("/local/domain/{backend}/backend/vif/{guest}/0"),
        ),
        ("frontend-id", guest.to_string()),
        ("online", "1".into()),
        ("state", "1".into()),
        ("mac", "00:16:3e:00:00:02".into()),
        ("handle", "0".into()),
        ("type", "vif".into()),
        ("hotplug-status", "".into()),
        ("mtu", "9000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[test]
fn backend_paths_are_parsed_as_strictly_as_libxl() {
    assert_eq!(
        parse_backend_path("/local/domain/7/backend/vif/4/0"),
        Some((7, 4, 0))
    );
    for bad in [
        "/local/domain/7/backend/vbd/4/0",
        "/local/domain/-7/backend/vif/4/0",
        "/local/domain/7/backend/vif/4/0/x",
        "/local/domain/7/backend/vif/4/",
        "/local/domain/+7/backend/vif/4/0",
        "/local/domain/99999999999/backend/vif/4/0",
        "local/domain/7/backend/vif/4/0",
    ] {
        assert_eq!(parse_backend_path(bad), None, "{bad}");
    }
}

#[test]
fn a_record_must_describe_its_own_device() {
    assert!(GuestVif::from_record(4, 0, record(4, 2)).is_ok());
    let mut r = record(4, 2);
    r.insert("backend".into(), "/local/domain/2/backend/vif/5/0".into());
    assert!(GuestVif::from_record(4, 0, r).is_err());
    let mut r = record(4, 2);
    r.insert("frontend".into(), "/local/domain/0/device/vif/0".into());
    assert!(GuestVif::from_record(4, 0, r).is_err());
    let mut r = record(4, 2);
    r.insert("mac".into(), "ff:ff:ff:ff:ff:ff:00".into());
    assert!(GuestVif::from_record(4, 0, r).is_err());
    assert!(GuestVif::from_record(4, 1, record(4, 2)).is_err());
}

#[test]
fn plug_makes_both_directories_in_one_write_with_their_permissions_first() {
    let v = GuestVif::from_record(4, 0, record(4, 2)).unwrap();
    let b: Batch = v.plug(9, "1");
    let fe = "/local/domain/4/device/vif/0";
    let be = "/local/domain/9/backend/vif/4/0";
    // Parents first, each with what its new children inherit.
    assert_eq!(
        b.0[..4],
        [
            Op::Put(fe.into(), "".into()),
            Op::Restrict(
                fe.into(),
                Access::Shared {
                    owner: 4,
                    reader: 9
                }
            ),
            Op::Put("/local/domain/9/backend/vif/4".into(), "".into()),
            Op::Restrict(
                "/local/domain/9/backend/vif/4".into(),
                Access::Shared {
                    owner: 9,
                    reader: 4
                }
            ),
        ]
    );
    // Then nothing but puts (one xenstore-write, one transaction) ...
    let last = b.0.len() - 1;
    assert!(b.0[4..last].iter().all(|op| matches!(op, Op::Put(..))));
    // ... and the read-only mtu handed to the backend.
    assert_eq!(
        b.0[last],
        Op::Restrict(
            format!("{fe}/mtu"),
            Access::Shared {
                owner: 9,
                reader: 4
            }
        )
    );
    let puts: BTreeMap<&str, &str> = b.0[4..last]
        .iter()
        .map(|op| match op {
            Op::Put(p, v) => (p.as_str(), v.as_str()),
            _ => unreachable!(),
        })
        .collect();
    for (k, want) in [
        (format!("{be}/frontend"), fe),
        (format!("{be}/frontend-id"), "4"),
        (format!("{be}/state"), "1"),
        (format!("{be}/online"), "1"),
        (format!("{be}/hotplug-status"), ""),
        (format!("{be}/mtu"), "9000"),
        (format!("{fe}/backend"), be),
        (format!("{fe}/backend-id"), "9"),
        (format!("{fe}/state"), "1"),
        (format!("{fe}/handle"), "0"),
        (format!("{fe}/mac"), "00:16:3e:00:00:02"),
        (format!("{fe}/trusted"), "1"),
        (format!("{fe}/mtu"), "9000"),
        ("/libxl/4/device/vif/0/backend".to_string(), be),
    ] {
        assert_eq!(puts.get(k.as_str()).copied(), Some(want), "{k}");
    }
    assert!(!puts.contains_key(format!("{be}/backend").as_str()));
}

#[test]
fn unplug_removes_the_device_and_both_backends_and_restore_names_the_old_one() {
    let v = GuestVif::from_record(4, 0, record(4, 2)).unwrap();
    assert_eq!(
        v.unplug(9).0,
        [
            Op::Rm("/local/domain/4/device/vif/0".into()),
            Op::Rm("/local/domain/2/backend/vif/4/0".into()),
            Op::Rm("/local/domain/9/backend/vif/4/0".into()),
        ]
    );
    assert_eq!(
        v.restore().0,
        [Op::Put(
            "/libxl/4/device/vif/0/backend".into(),
            "/local/domain/2/backend/vif/4/0".into()
        )]
    );
}
