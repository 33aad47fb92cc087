//! The Corm's L2 switch (`switch::Switch::ingress`) on arbitrary frames from
//! arbitrary ports: the uplink is the physical network (anyone on it), each
//! endpoint a guest behind a Spike. Endpoints come and go and change VLAN
//! and MACs as the input says; time moves (and jumps back) as it says.
//! Coverage-guided depth beyond the proptest in `switch/tests/prop.rs`.
//!
//! Asserted, besides "no panic":
//! * the verdict matches the copies: `Forwarded(p)` one copy to `p`,
//!   `Flooded(n)` `n >= 1` copies, nothing for `Filtered`/`Dropped`; never a
//!   copy back to the ingress port, nor twice to one port;
//! * a frame never crosses segments: every copy goes to the uplink or to an
//!   endpoint of the frame's segment (an uplink frame's 802.1Q VID, 0 when
//!   untagged); to the uplink a segment's frames leave tagged with its VID
//!   (untagged for segment 0);
//! * what an endpoint receives carries no VLAN tag (802.1Q, 802.1ad or the
//!   legacy Q-in-Q TPID) and is the frame with at most its one tag removed;
//! * an endpoint's frames carry one of its registered MACs as source, and an
//!   uplink frame claiming a registered MAC of its segment never gets through;
//! * `Egress::len` is what `write_to` writes; exactly one counter (but the
//!   learning ones) moves per frame; the MAC table stays within capacity.
#![no_main]

use corm_domain::switch::frame::{is_tag, Mac, TPID_8021Q};
use corm_domain::switch::{
    DropReason, Egress, EndpointConfig, FloodLimit, Port, Switch, SwitchConfig, Verdict,
};
use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;

const MAX_STEPS: usize = 256;

fn mac(u: &mut Unstructured) -> AResult<Mac> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => [0xff; 6],
        1 => [0x01, 0x00, 0x5e, 0, 0, u.int_in_range(0..=3)?],
        2 => [0; 6],
        3 => u.arbitrary()?,
        _ => [2, 0, 0, 0, 0, u.int_in_range(0..=11)?],
    })
}

fn frame(u: &mut Unstructured) -> AResult<Vec<u8>> {
    let mut f = Vec::new();
    f.extend_from_slice(&mac(u)?);
    f.extend_from_slice(&mac(u)?);
    let tags = u.int_in_range(0..=2u8)?;
    for _ in 0..tags {
        let tpid: u16 = *u.choose(&[0x8100, 0x8100, 0x88a8, 0x9100])?;
        f.extend_from_slice(&tpid.to_be_bytes());
        let tci: u16 = (u16::from(u.int_in_range(0..=7u8)?) << 13)
            | if u.ratio(7, 8)? {
                u.int_in_range(0..=5u16)?
            } else {
                u.arbitrary::<u16>()? & 0xfff
            };
        f.extend_from_slice(&tci.to_be_bytes());
    }
    let et: u16 = *u.choose(&[0x0800, 0x86dd, 0x0806, 0x88b5, 0x0000, 0xffff])?;
    f.extend_from_slice(&et.to_be_bytes());
    let len = match u.int_in_range(0..=3u8)? {
        0 => u.int_in_range(0..=60usize)?,
        1 => 1500 - 18 + u.int_in_range(0..=24usize)?,
        _ => u.int_in_range(0..=200usize)?,
    };
    let fill: u8 = u.arbitrary()?;
    f.resize(f.len() + len, fill);
    if u.ratio(1, 8)? {
        let cut = u.int_in_range(0..=f.len())?;
        f.truncate(cut);
    }
    Ok(f)
}

fn port(u: &mut Unstructured) -> AResult<Port> {
    Ok(if u.ratio(1, 2)? {
        Port::Uplink
    } else {
        Port::Endpoint(u.int_in_range(0..=5u16)?)
    })
}

fn endpoint_config(u: &mut Unstructured) -> AResult<EndpointConfig> {
    let vlan = match u.int_in_range(0..=5u8)? {
        0 | 1 => None,
        2 => Some(0),
        3 => Some(u.arbitrary()?),
        _ => Some(u.int_in_range(1..=5u16)?),
    };
    let mut cfg = EndpointConfig {
        vlan,
        ..Default::default()
    };
    for _ in 0..u.int_in_range(0..=4u8)? {
        let _ = cfg.macs.push(mac(u)?);
    }
    Ok(cfg)
}

/// The frame's segment as the uplink sees it: its outer 802.1Q VID, 0 untagged.
fn uplink_segment(f: &[u8]) -> u16 {
    match f.get(12..16) {
        Some(b) if u16::from_be_bytes([b[0], b[1]]) == TPID_8021Q => {
            u16::from_be_bytes([b[2], b[3]]) & 0xfff
        }
        _ => 0,
    }
}

fn run(u: &mut Unstructured) -> AResult<()> {
    let cap = u.int_in_range(0..=8usize)?;
    let mut sw = Switch::new(SwitchConfig {
        mac_capacity: cap,
        aging_ns: u.int_in_range(1..=3_000_000_000u64)?,
        flood: FloodLimit {
            rate: u.int_in_range(0..=100u32)?,
            burst: u.int_in_range(0..=8u32)?,
        },
    });
    let mut now = 0u64;
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=15u8)? {
            0 => {
                let _ = sw.add_endpoint(u.int_in_range(0..=5)?, endpoint_config(u)?);
            }
            1 => {
                let _ = sw.reconfigure_endpoint(u.int_in_range(0..=5)?, endpoint_config(u)?);
            }
            2 => {
                let _ = sw.remove_endpoint(u.int_in_range(0..=5)?);
            }
            3 => {
                sw.expire(now);
            }
            4 => now = now.saturating_sub(u.arbitrary::<u32>()?.into()),
            _ => {
                now = now.saturating_add(u.int_in_range(0..=500_000_000u64)?);
                let from = port(u)?;
                let f = frame(u)?;
                ingress(&mut sw, from, &f, now);
                assert!(sw.mac_table_len() <= cap);
            }
        }
    }
    Ok(())
}

fn ingress(sw: &mut Switch, from: Port, f: &[u8], now: u64) {
    let seg = match from {
        Port::Uplink => Some(uplink_segment(f)),
        Port::Endpoint(id) => sw.endpoint(id).map(|c| c.vlan.unwrap_or(0)),
    };
    let src: Option<Mac> = f.get(6..12).map(|s| s.try_into().unwrap());
    let owned = |sw: &Switch, seg: u16, mac: &Mac| {
        sw.endpoints()
            .any(|(_, c)| c.vlan.unwrap_or(0) == seg && c.macs.contains(mac))
    };
    let stolen = matches!((from, seg, src), (Port::Uplink, Some(s), Some(m)) if owned(sw, s, &m));
    let sender_macs = match from {
        Port::Endpoint(id) => sw.endpoint(id).map(|c| c.macs.clone()),
        Port::Uplink => None,
    };
    let mut copies: Vec<(Port, Vec<u8>, bool)> = Vec::new();
    let before = *sw.counters();
    let verdict = sw.ingress(from, f, now, &mut |to, eg: Egress<'_>| {
        let mut buf = vec![0u8; f.len() + 8];
        let n = eg.write_to(&mut buf).expect("room for the copy");
        assert_eq!(n, eg.len());
        buf.truncate(n);
        copies.push((to, buf, matches!(eg, Egress::Tagged { .. })));
    });
    match verdict {
        Verdict::Forwarded(p) => assert!(copies.len() == 1 && copies[0].0 == p),
        Verdict::Flooded(n) => assert!(n >= 1 && copies.len() == n),
        Verdict::Filtered | Verdict::Dropped(_) => assert!(copies.is_empty()),
    }
    if stolen {
        assert!(
            matches!(verdict, Verdict::Dropped(_)),
            "uplink frame from a registered MAC got through: {verdict:?}"
        );
    }
    if let Verdict::Dropped(DropReason::UnknownPort) = verdict {
        assert!(seg.is_none());
    }
    let counted: u64 = sw
        .counters()
        .iter()
        .zip(before.iter())
        .filter(|((n, _), _)| !matches!(*n, "learned" | "aged_out" | "evicted" | "moved"))
        .map(|((_, a), (_, b))| a - b)
        .sum();
    assert_eq!(counted, 1, "{verdict:?}");
    if copies.is_empty() {
        return;
    }
    let seg = seg.expect("a frame from an unknown port was switched");
    if let Some(macs) = &sender_macs {
        assert!(macs.contains(&src.unwrap()), "spoofed source switched");
    }
    for (i, (to, out, tagged)) in copies.iter().enumerate() {
        assert_ne!(*to, from, "copy back to the ingress port");
        assert!(
            copies[..i].iter().all(|(p, _, _)| p != to),
            "two copies to {to:?}"
        );
        match to {
            Port::Uplink => {
                assert_eq!(*tagged, seg != 0 && from != Port::Uplink);
                if seg != 0 {
                    assert_eq!(uplink_segment(out), seg, "left on the wrong VLAN");
                }
            }
            Port::Endpoint(id) => {
                let c = sw.endpoint(*id).expect("copy to a removed endpoint");
                assert_eq!(c.vlan.unwrap_or(0), seg, "crossed segments");
                let et = out.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]]));
                assert!(
                    !et.is_some_and(is_tag),
                    "tagged frame to a guest: {out:02x?}"
                );
                // The frame, less at most its one (outer) tag.
                let strip = if f.len() == out.len() { 0 } else { 4 };
                assert_eq!(out[..12], f[..12]);
                assert_eq!(out[12..], f[12 + strip..]);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
