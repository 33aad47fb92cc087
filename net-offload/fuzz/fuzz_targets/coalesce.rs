//! Receive coalescing (GRO) of hostile NIC frames, with an oracle: frames
//! are built from fuzz input as mostly-valid TCP segments of a few flows
//! (so merging really happens), with arbitrary edits. Whatever arrives:
//! never a panic, every merge fits the largest frame (and the limit asked
//! for), carries a valid checksum, and re-segments (software GSO) into
//! segments whose payloads are exactly the merged payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net_offload::checksum;
use net_offload::{segment, Coalescer, MAX_FRAME_LEN, MAX_MERGED};

/// A TCP/IPv4 segment of flow `flow` at `seq` with `len` payload bytes,
/// checksums valid.
fn tcp(flow: u8, seq: u32, len: usize, psh: bool) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 20 + len];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2 + flow]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let total = (40 + len) as u16;
    f[14..34].copy_from_slice(&[
        0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, flow, 10,
        0, 0, 9,
    ]);
    let c = checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&(1000 + u16::from(flow)).to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[46] = 0x50;
    f[47] = if psh { 0x18 } else { 0x10 };
    f[48..50].copy_from_slice(&[1, 0]);
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    let loc = checksum::locate(&f).unwrap();
    checksum::set_pseudo(&mut f, &loc).unwrap();
    checksum::complete(&mut f, loc.start.into(), loc.offset.into()).unwrap();
    f
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let limit = 1500 + usize::from(u16::from_le_bytes([data[0], data[1]]));
    let mut gro = Box::new(Coalescer::<MAX_MERGED>::new());
    gro.set_limit(limit);
    let mut seqs = [0u32; 4];
    let mut check = |m: net_offload::Merged<'_>| {
        assert!(m.frame.len() <= MAX_FRAME_LEN);
        let Some((kind, mss)) = m.gso else {
            return;
        };
        assert!(m.frame.len() <= limit);
        assert_eq!(checksum::verify_l4(m.frame), Ok(true));
        let hdr = 14 + 20 + usize::from(m.frame[46] >> 4) * 4;
        let mut payload = Vec::new();
        let mut copy = m.frame.to_vec();
        let loc = checksum::locate(&copy).unwrap();
        checksum::set_pseudo(&mut copy, &loc).unwrap();
        segment(&copy, kind, mss, &mut |s| {
            let h = 14 + 20 + usize::from(s[46] >> 4) * 4;
            payload.extend_from_slice(&s[h..]);
        })
        .unwrap();
        assert_eq!(payload, &m.frame[hdr..]);
    };
    for chunk in data[2..].chunks(4) {
        let [op, a, b, c] = *chunk else { break };
        let flow = op & 3;
        let mut f = match op >> 2 & 3 {
            // The flow's next segment, full or short, maybe PSH.
            0 | 1 => {
                let len = 1 + usize::from(a) * 6;
                let s = seqs[usize::from(flow)];
                seqs[usize::from(flow)] = s.wrapping_add(len as u32);
                tcp(flow, s, len, b & 1 == 1)
            }
            // A lost segment.
            2 => {
                seqs[usize::from(flow)] = seqs[usize::from(flow)].wrapping_add(1448);
                continue;
            }
            // A segment with one byte edited (maybe fatal, maybe harmless).
            _ => {
                let s = seqs[usize::from(flow)];
                let mut f = tcp(flow, s, 1448, false);
                let at = usize::from(b) % f.len();
                f[at] = c;
                f
            }
        };
        if op >> 4 == 0xf {
            f.truncate(usize::from(a) % f.len());
        }
        gro.push(&f, &mut check);
        if op >> 4 == 0xe {
            gro.flush(&mut check);
        }
    }
    gro.flush(&mut check);
});
