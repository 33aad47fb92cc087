//! Hostile frames from a Spike (a guest's GSO frame with its metadata) through
//! software segmentation and checksum completion: never a panic, and every
//! segment emitted fits an Ethernet frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net_offload::{complete_checksum, segment, Kind, MAX_FRAME_VLAN};

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let (meta, frame) = data.split_at(5);
    let kind = if meta[0] & 1 == 0 { Kind::TcpV4 } else { Kind::TcpV6 };
    let mss = u16::from_le_bytes([meta[1], meta[2]]);
    let _ = segment(frame, kind, mss, &mut |s| assert!(s.len() <= MAX_FRAME_VLAN));
    let mut copy = frame.to_vec();
    let _ = complete_checksum(&mut copy, usize::from(meta[3]), usize::from(meta[4]));
});
