//! Transmit offloads through the `virtio_net_hdr`: checksum insertion and
//! TSO over IPv4/IPv6 as negotiated, frames gathered into descriptor chains
//! across buffer boundaries, ECN, refused requests. The fake device
//! completes checksums and segments the way the host kernel does, from the
//! value the driver left in the checksum field (`fake_tx`), and every frame
//! it puts on the wire is verified independently.

use std::vec::Vec;

use net_offload::checksum::{fold, pseudo_v4, verify_l4};

use super::device::*;
use super::fake_tx::{self, Hdr};
use crate::nic::fake_frames::*;
use crate::nic::virtio_net::features::*;
use crate::nic::virtio_net::net::{GSO_ECN, GSO_TCPV4, GSO_TCPV6, HDR_F_NEEDS_CSUM};
use crate::nic::{IrqMode, Nic, TxError, TxOffloads};

fn offloading() -> (Fixture, crate::nic::virtio_net::VirtioNet<FakeBar>) {
    let mut fx = Fixture::qemu();
    let nic = fx.nic(IrqMode::Msix).unwrap();
    (fx, nic)
}

#[test]
fn offloads_follow_the_negotiated_features() {
    let all = TxOffloads {
        csum: true,
        tso_v4: true,
        tso_v6: true,
    };
    let cases = [
        (OFFERED, all),
        (
            OFFERED & !NET_F_HOST_TSO6,
            TxOffloads {
                tso_v6: false,
                ..all
            },
        ),
        (OFFERED & !NET_F_CSUM, TxOffloads::default()),
    ];
    for (offered, want) in cases {
        let mut fx = Fixture::qemu();
        fx.state().offered = offered;
        let mut nic = fx.nic(IrqMode::Msix).unwrap();
        assert_eq!(nic.tx_offloads(), want);
        let f = fx.state().driver_features;
        if f & NET_F_CSUM == 0 {
            let tso = NET_F_HOST_TSO4 | NET_F_HOST_TSO6 | NET_F_HOST_ECN;
            assert_eq!(f & tso, 0, "§5.1.3.1: TSO and ECN need CSUM");
        }
        if !want.csum {
            let (frame, req) = build(tcp4(100), None);
            assert_eq!(nic.transmit_offload(&frame, req), Err(TxError::Unsupported));
        }
    }
}

#[test]
fn checksum_insertion_tcp_udp_v4_v6() {
    let (fx, mut nic) = offloading();
    let shapes = [
        tcp4(1),
        tcp4(1400),
        Shape {
            udp: true,
            ..tcp4(333)
        },
        Shape {
            v6: true,
            ..tcp4(1000)
        },
        Shape {
            v6: true,
            udp: true,
            ..tcp4(7)
        },
        Shape {
            opts: 12,
            ..tcp4(50)
        },
    ];
    for s in shapes {
        let (frame, req) = build(s, None);
        nic.transmit_offload(&frame, req).unwrap();
        let st = fx.state();
        let sent = st.tx_frames.last().unwrap();
        assert_eq!(verify_l4(sent), Ok(true));
        let field = usize::from(req.l4_start + req.csum_offset);
        assert_eq!(sent[..field], frame[..field]);
        assert_eq!(sent[field + 2..], frame[field + 2..]);
        let h = *st.tx_headers.last().unwrap();
        assert_eq!(
            (h.flags, h.gso_type, h.csum_start, h.csum_offset),
            (HDR_F_NEEDS_CSUM, 0, req.l4_start, req.csum_offset)
        );
    }
    assert_eq!(fx.state().errors, Vec::<String>::new());
}

#[test]
fn tso_frames_go_whole_in_a_chain_and_come_out_as_segments() {
    let (fx, mut nic) = offloading();
    // Frame lengths around the chain's buffer boundaries (12 + frame bytes
    // per 2048-byte buffer) and the largest frame.
    let payloads = [1, 1428, 1981, 1982, 1983, 4029, 4030, 30_000, 65_481];
    for (i, payload) in payloads.into_iter().enumerate() {
        for v6 in [false, true] {
            // The largest frame is 65,535 bytes untagged, whatever the IP.
            let payload = if v6 { payload.min(65_461) } else { payload };
            let s = Shape {
                v6,
                ..tcp4(payload)
            };
            let mss = if i % 2 == 0 { 1428 } else { 1220 };
            let (frame, req) = build(s, Some(mss));
            let before = fx.state().tx_frames.len();
            nic.transmit_offload(&frame, req).unwrap();
            let st = fx.state();
            check_segments(s, &frame, &req, &st.tx_frames[before..]);
            let h = *st.tx_headers.last().unwrap();
            let kind = if v6 { GSO_TCPV6 } else { GSO_TCPV4 };
            assert_eq!(
                (h.flags, h.gso_type, h.gso_size, h.hdr_len, h.csum_start),
                (
                    HDR_F_NEEDS_CSUM,
                    kind,
                    mss,
                    req.l4_start + req.l4_len,
                    req.l4_start
                )
            );
        }
    }
    assert_eq!(fx.state().errors, Vec::<String>::new());
    assert_eq!(nic.tx_space(), 256);
}

#[test]
fn a_tso_frame_takes_its_chain_and_gives_it_back() {
    let (fx, mut nic) = offloading();
    fx.state().auto_tx = false;
    let (frame, req) = build(tcp4(65_481), Some(1448));
    assert_eq!(frame.len(), 65_535);
    nic.transmit_offload(&frame, req).unwrap();
    assert_eq!(nic.tx_space(), 256 - 33, "12 + 65,535 bytes: 33 buffers");
    // Fill the ring to below one more such frame: refused, nothing taken.
    for _ in 0..6 {
        nic.transmit_offload(&frame, req).unwrap();
    }
    assert_eq!(nic.tx_space(), 256 - 7 * 33);
    assert_eq!(nic.transmit_offload(&frame, req), Err(TxError::Full));
    assert_eq!(nic.tx_space(), 256 - 7 * 33);
    fx.state().complete_tx();
    assert_eq!(nic.tx_space(), 256);
    nic.transmit_offload(&frame, req).unwrap();
    fx.state().complete_tx();
    assert_eq!(fx.state().tx_frames.len(), 8 * 46);
    assert_eq!(fx.state().errors, Vec::<String>::new());
}

#[test]
fn the_fake_device_fails_a_wrong_pseudo_header_sum() {
    // What an e1000 wants in the field (the sum without the length) is
    // wrong for virtio: the segments' checksums come out wrong.
    let (mut frame, req) = build(tcp4(5000), Some(1448));
    let (l3, l4) = (usize::from(req.l3_start), usize::from(req.l4_start));
    let no_len = fold(pseudo_v4(
        &frame[l3 + 12..l3 + 16],
        &frame[l3 + 16..l3 + 20],
        6,
        0,
    ));
    frame[l4 + 16..l4 + 18].copy_from_slice(&no_len.to_be_bytes());
    let hdr = Hdr {
        flags: HDR_F_NEEDS_CSUM,
        gso_type: GSO_TCPV4,
        hdr_len: req.l4_start + req.l4_len,
        gso_size: 1448,
        csum_start: req.l4_start,
        csum_offset: 16,
    };
    let mut bytes = vec![
        hdr.flags,
        hdr.gso_type,
        (hdr.hdr_len & 0xFF) as u8,
        (hdr.hdr_len >> 8) as u8,
        (hdr.gso_size & 0xFF) as u8,
        (hdr.gso_size >> 8) as u8,
        hdr.csum_start as u8,
        0,
        16,
        0,
        0,
        0,
    ];
    bytes.extend_from_slice(&frame);
    let segs = fake_tx::transmit(&bytes, ACCEPTED).unwrap();
    assert!(segs.iter().all(|s| verify_l4(s) == Ok(false)));
}

#[test]
fn ecn_needs_host_ecn() {
    const CWR: u8 = 0x80;
    for ecn in [true, false] {
        let mut fx = Fixture::qemu();
        if !ecn {
            fx.state().offered &= !NET_F_HOST_ECN;
        }
        let mut nic = fx.nic(IrqMode::Msix).unwrap();
        let s = Shape {
            flags: ACK | CWR,
            ..tcp4(3000)
        };
        let (frame, req) = build(s, Some(1448));
        let r = nic.transmit_offload(&frame, req);
        let st = fx.state();
        if ecn {
            assert_eq!(r, Ok(()));
            assert_eq!(st.tx_headers[0].gso_type, GSO_TCPV4 | GSO_ECN);
            let l4 = usize::from(req.l4_start);
            let flags: Vec<u8> = st.tx_frames.iter().map(|f| f[l4 + 13]).collect();
            assert_eq!(flags, [ACK | CWR, ACK, ACK], "CWR on the first only");
            assert!(st.tx_frames.iter().all(|f| verify_l4(f) == Ok(true)));
        } else {
            assert_eq!(r, Err(TxError::Unsupported), "the caller segments it");
            assert!(st.tx_frames.is_empty());
            assert_eq!(nic.counters().tx_dropped, 0);
        }
        assert_eq!(st.errors, Vec::<String>::new());
    }
}

#[test]
fn requests_that_do_not_match_the_frame_are_refused_and_leak_nothing() {
    let (fx, mut nic) = offloading();
    let (frame, req) = build(tcp4(3000), Some(1448));
    let bad = [
        crate::nic::TxOffload {
            l4_start: req.l4_start + 4,
            ..req
        },
        crate::nic::TxOffload {
            csum_offset: 10,
            ..req
        },
        crate::nic::TxOffload { ipv6: true, ..req },
        crate::nic::TxOffload { l4_len: 24, ..req },
        crate::nic::TxOffload {
            tso_mss: Some(0),
            ..req
        },
    ];
    for r in bad {
        assert_eq!(
            nic.transmit_offload(&frame, r),
            Err(TxError::Invalid),
            "{r:?}"
        );
    }
    let (small, req) = build(tcp4(100), None);
    assert_eq!(
        nic.transmit_offload(&frame, req),
        Err(TxError::Length(frame.len())),
        "a checksum-only frame is MTU-sized"
    );
    nic.transmit_offload(&small, req).unwrap();
    assert_eq!(nic.tx_space(), 256);
    assert_eq!(nic.counters().tx_dropped, 6);
    assert_eq!(fx.state().tx_frames.len(), 1);
}
