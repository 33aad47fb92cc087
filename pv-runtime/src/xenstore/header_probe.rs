//! Cross-checks the constants of this module against the installed
//! `io/xs_wire.h` by compiling a small C probe, as `abi::layout_tests` does
//! for the rest of the ABI (see [`crate::c_probe`]).

extern crate std;

use std::format;

use crate::c_probe::CProbe;
use std::string::String;
use std::vec::Vec;

use super::codec::{MsgType, HEADER_LEN, PAYLOAD_MAX};
use super::path::{ABS_PATH_MAX, REL_PATH_MAX};
use super::ring::{Field, FEATURE_ERROR, FEATURE_RECONNECTION, PAGE_SIZE, RING_SIZE, RSP_OFFSET};

#[test]
fn constants_match_installed_xs_wire_h() {
    let d = "struct xenstore_domain_interface";
    let checks: Vec<(String, u64)> = [
        ("sizeof(struct xsd_sockmsg)".into(), HEADER_LEN as u64),
        ("XENSTORE_PAYLOAD_MAX".into(), PAYLOAD_MAX as u64),
        ("XENSTORE_ABS_PATH_MAX".into(), ABS_PATH_MAX as u64),
        ("XENSTORE_REL_PATH_MAX".into(), REL_PATH_MAX as u64),
        ("XENSTORE_RING_SIZE".into(), u64::from(RING_SIZE.get())),
        (
            "XENSTORE_SERVER_FEATURE_RECONNECTION".into(),
            u64::from(FEATURE_RECONNECTION),
        ),
        (
            "XENSTORE_SERVER_FEATURE_ERROR".into(),
            u64::from(FEATURE_ERROR),
        ),
        (format!("offsetof({d}, rsp)"), RSP_OFFSET as u64),
        (format!("offsetof({d}, req_cons)"), Field::ReqCons as u64),
        (format!("offsetof({d}, req_prod)"), Field::ReqProd as u64),
        (format!("offsetof({d}, rsp_cons)"), Field::RspCons as u64),
        (format!("offsetof({d}, rsp_prod)"), Field::RspProd as u64),
        (
            format!("offsetof({d}, server_features)"),
            Field::ServerFeatures as u64,
        ),
        (
            format!("offsetof({d}, connection)"),
            Field::Connection as u64,
        ),
        (format!("offsetof({d}, error)"), Field::Error as u64),
        (format!("sizeof({d}) <= {PAGE_SIZE}"), 1),
        ("XS_TYPE_COUNT".into(), 23),
        ("XS_CONTROL".into(), MsgType::Control as u64),
        ("XS_DIRECTORY".into(), MsgType::Directory as u64),
        ("XS_READ".into(), MsgType::Read as u64),
        ("XS_GET_PERMS".into(), MsgType::GetPerms as u64),
        ("XS_WATCH".into(), MsgType::Watch as u64),
        ("XS_UNWATCH".into(), MsgType::Unwatch as u64),
        (
            "XS_TRANSACTION_START".into(),
            MsgType::TransactionStart as u64,
        ),
        ("XS_TRANSACTION_END".into(), MsgType::TransactionEnd as u64),
        ("XS_INTRODUCE".into(), MsgType::Introduce as u64),
        ("XS_RELEASE".into(), MsgType::Release as u64),
        ("XS_GET_DOMAIN_PATH".into(), MsgType::GetDomainPath as u64),
        ("XS_WRITE".into(), MsgType::Write as u64),
        ("XS_MKDIR".into(), MsgType::Mkdir as u64),
        ("XS_RM".into(), MsgType::Rm as u64),
        ("XS_SET_PERMS".into(), MsgType::SetPerms as u64),
        ("XS_WATCH_EVENT".into(), MsgType::WatchEvent as u64),
        ("XS_ERROR".into(), MsgType::Error as u64),
        (
            "XS_IS_DOMAIN_INTRODUCED".into(),
            MsgType::IsDomainIntroduced as u64,
        ),
        ("XS_RESUME".into(), MsgType::Resume as u64),
        ("XS_SET_TARGET".into(), MsgType::SetTarget as u64),
        ("XS_RESET_WATCHES".into(), MsgType::ResetWatches as u64),
        ("XS_DIRECTORY_PART".into(), MsgType::DirectoryPart as u64),
    ]
    .into_iter()
    .collect();

    let mut probe = CProbe::new(&["xen/io/xs_wire.h"]);
    for (expr, want) in &checks {
        probe.value(expr, expr, i128::from(*want));
    }
    probe.assert_matches();
}
