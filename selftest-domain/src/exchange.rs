//! mode=offer / mode=accept: two instances exchange data through a granted page
//! and an interdomain event channel.
//!
//! offer: grants page P0 read-only (a known pattern) and P1 writable, allocates
//! an unbound port, publishes `data/selftest/offer/{gref0,gref1,port}` readable
//! by the peer only, then `ready`. accept: maps P0 and checks the pattern,
//! answers into P1 by a batched grant copy (with a deliberately bad second op
//! whose per-op status must fail), binds the port and kicks. offer checks the
//! answer, shows that P0 cannot be revoked while mapped, kicks; accept unmaps
//! and kicks; offer revokes both grants.

use alloc::format;

use pv_runtime::abi::grant_table::{Copy, CopyPtr, GNTCOPY_DEST_GREF};
use pv_runtime::abi::{DomId, DOMID_SELF, PAGE_SIZE};
use pv_runtime::grant_table::{self, GrantError, GrantStatus};
use pv_runtime::mm::heap::{alloc_page, free_page};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::time::NS_PER_SEC;
use pv_runtime::xenstore::{Access, Perm};

use crate::pattern::{answer, offered, parse_u32};
use crate::wait;

const TIMEOUT: u64 = 30 * NS_PER_SEC;
const OFFER: &str = "data/selftest/offer";

fn page<'a>(va: u64) -> &'a mut [u8] {
    // SAFETY: `va` is a whole page we own (allocated or grant-mapped) and nothing
    // else in this domain aliases it while the slice lives.
    unsafe { core::slice::from_raw_parts_mut(va as *mut u8, PAGE_SIZE) }
}

fn peer(rt: &mut Runtime) -> Option<DomId> {
    let me = rt.domid();
    let p = wait::value(rt, "data/selftest/peer", TIMEOUT, |v| {
        parse_u32(v)
            .and_then(|n| DomId::try_from(n).ok())
            .filter(|&d| d != me && d < DOMID_SELF)
    });
    if p.is_none() {
        println!("SELFTEST-FAIL no valid data/selftest/peer within 30 s");
    }
    p
}

pub fn offer(rt: &mut Runtime) {
    let Some(peer) = peer(rt) else { return };
    let (Ok((p0, m0)), Ok((p1, m1))) = (alloc_page(), alloc_page()) else {
        return println!("SELFTEST-FAIL out of pages");
    };
    page(p0)
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = offered(i));
    let (g0, g1) = match (
        rt.grants.grant(peer, m0, true),
        rt.grants.grant(peer, m1, false),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => return println!("SELFTEST-FAIL grant: {a:?} {b:?}"),
    };
    let port = match rt.events.alloc_unbound(peer) {
        Ok(p) => p,
        Err(e) => return println!("SELFTEST-FAIL alloc_unbound: {e}"),
    };
    let me = rt.domid();
    let published = rt.xs.mkdir(OFFER).and_then(|()| {
        rt.xs.set_perms(
            OFFER,
            &[
                Perm {
                    domid: me,
                    access: Access::None,
                },
                Perm {
                    domid: peer,
                    access: Access::Read,
                },
            ],
        )
    });
    let published = published.and_then(|()| {
        rt.xs.transaction(|tx| {
            tx.write(&format!("{OFFER}/gref0"), &format!("{g0}"))?;
            tx.write(&format!("{OFFER}/gref1"), &format!("{g1}"))?;
            tx.write(&format!("{OFFER}/port"), &format!("{port}"))
        })
    });
    if let Err(e) = published.and_then(|()| rt.xs.write(&format!("{OFFER}/ready"), "1")) {
        return println!("SELFTEST-FAIL publish offer: {e}");
    }
    println!("SELFTEST-OFFER-READY peer={peer} gref0={g0} gref1={g1} port={port}");

    if !wait::port(rt, port, TIMEOUT) {
        return println!("SELFTEST-FAIL no kick from the peer after its copy");
    }
    let bad = page(p1)
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b != answer(i))
        .count();
    if bad == 0 {
        println!("SELFTEST-GRANT-XCHG-OK");
    } else {
        println!("SELFTEST-GRANT-XCHG-FAIL {bad} bytes differ");
    }
    match rt.grants.end_access(g0) {
        Err(GrantError::InUse(_)) => println!("SELFTEST-REVOKE-BUSY-OK"),
        other => println!("SELFTEST-REVOKE-BUSY-FAIL revoking a mapped grant gave {other:?}"),
    }
    let _ = rt.events.notify(port);
    if !wait::port(rt, port, TIMEOUT) {
        return println!("SELFTEST-FAIL no kick from the peer after its unmap");
    }
    match (rt.grants.end_access(g0), rt.grants.end_access(g1)) {
        (Ok(()), Ok(())) => println!("SELFTEST-REVOKE-OK"),
        other => println!("SELFTEST-REVOKE-FAIL {other:?}"),
    }
    let _ = rt.events.close(port);
    let _ = (free_page(p0), free_page(p1));
    println!("SELFTEST-OFFER-DONE");
}

pub fn accept(rt: &mut Runtime) {
    let Some(peer) = peer(rt) else { return };
    let base = format!("/local/domain/{peer}/{OFFER}");
    if wait::value(rt, &format!("{base}/ready"), TIMEOUT, |v| {
        (v == "1").then_some(())
    })
    .is_none()
    {
        return println!("SELFTEST-FAIL no offer from domain {peer} within 30 s");
    }
    let field = |rt: &mut Runtime, k: &str| wait::read_u32(rt, &format!("{base}/{k}"));
    let (Some(g0), Some(g1), Some(rport)) =
        (field(rt, "gref0"), field(rt, "gref1"), field(rt, "port"))
    else {
        return println!("SELFTEST-FAIL offer fields missing or not numbers");
    };

    let mapping = match grant_table::map(peer, g0, true) {
        Ok(m) => m,
        Err(e) => return println!("SELFTEST-FAIL map gref {g0}: {e}"),
    };
    let bad = page(mapping.va)
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b != offered(i))
        .count();
    if bad == 0 {
        println!("SELFTEST-MAP-OK gref={g0}");
    } else {
        println!("SELFTEST-MAP-FAIL {bad} bytes differ");
    }

    let Ok((src, src_mfn)) = alloc_page() else {
        return println!("SELFTEST-FAIL out of pages");
    };
    page(src)
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = answer(i));
    let local = CopyPtr {
        u: src_mfn,
        domid: DOMID_SELF,
        offset: 0,
    };
    let mut ops = [
        Copy {
            source: local,
            dest: CopyPtr {
                u: u64::from(g1),
                domid: peer,
                offset: 0,
            },
            len: PAGE_SIZE as u16,
            flags: GNTCOPY_DEST_GREF,
            status: 0,
        },
        Copy {
            source: local,
            dest: CopyPtr {
                u: 0xffff_fff0,
                domid: peer,
                offset: 0,
            },
            len: 16,
            flags: GNTCOPY_DEST_GREF,
            status: 0,
        },
    ];
    let batch = grant_table::copy(&mut ops);
    let (good, bogus) = (
        GrantStatus::check(ops[0].status),
        GrantStatus::check(ops[1].status),
    );
    if batch.is_ok() && good.is_ok() && bogus.is_err() {
        println!("SELFTEST-COPY-OK good=ok bogus={:?}", bogus.err());
    } else {
        println!("SELFTEST-COPY-FAIL batch={batch:?} good={good:?} bogus={bogus:?}");
    }
    let _ = free_page(src);

    let lport = match rt.events.bind_interdomain(peer, rport) {
        Ok(p) => p,
        Err(e) => return println!("SELFTEST-FAIL bind_interdomain {peer}:{rport}: {e}"),
    };
    // Binding marks the new port pending (Xen does so in case the peer kicked
    // before we bound): drop that, so only the offering side's kick counts.
    rt.events.clear(lport);
    let _ = rt.events.notify(lport);
    if !wait::port(rt, lport, TIMEOUT) {
        return println!("SELFTEST-FAIL no kick from the offering side");
    }
    if let Err(e) = grant_table::unmap(mapping) {
        return println!("SELFTEST-FAIL unmap: {e}");
    }
    let _ = rt.events.notify(lport);
    let _ = rt.events.close(lport);
    println!("SELFTEST-ACCEPT-DONE");
}
