//! The CPU's random number instructions, for a domain that has no OS to
//! ask: RDSEED (CPUID.(EAX=07H,ECX=0):EBX[18]) and RDRAND
//! (CPUID.01H:ECX[30]), Intel SDM Vol. 1 §7.3.17 "Random Number Generator
//! Instructions". What they give is mixed into a generator seeded by the
//! controller (never used alone): a CPU without them, or one whose
//! generator is suspect, makes the result no worse.

use core::arch::x86_64::{__cpuid, __cpuid_count, _rdrand64_step, _rdseed64_step};

/// The SDM's advice: retry a few times, the instructions may fail
/// transiently (CF = 0) under contention (Intel DRNG guide §5.2.1: 10).
const RETRIES: usize = 10;

/// Which instructions this CPU offers.
fn offered() -> (bool, bool) {
    let leaf1 = __cpuid(1);
    // Leaf 7 exists if the largest leaf (leaf 0's EAX) is at least 7.
    let rdseed = __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ebx & (1 << 18) != 0;
    (rdseed, leaf1.ecx & (1 << 30) != 0)
}

#[target_feature(enable = "rdseed")]
fn rdseed() -> Option<u64> {
    let mut v = 0u64;
    (0..RETRIES).find_map(|_| (_rdseed64_step(&mut v) == 1).then_some(v))
}

#[target_feature(enable = "rdrand")]
fn rdrand() -> Option<u64> {
    let mut v = 0u64;
    (0..RETRIES).find_map(|_| (_rdrand64_step(&mut v) == 1).then_some(v))
}

/// Fills `out` with what RDSEED (preferred: straight from the entropy
/// source) or RDRAND give; returns how many words were filled (0 on a CPU
/// with neither).
pub fn hardware_entropy(out: &mut [u64]) -> usize {
    let (has_rdseed, has_rdrand) = offered();
    let mut n = 0;
    for slot in out.iter_mut() {
        let word = if has_rdseed {
            // SAFETY: CPUID said this CPU has RDSEED.
            unsafe { rdseed() }
        } else {
            None
        }
        .or_else(|| {
            if has_rdrand {
                // SAFETY: CPUID said this CPU has RDRAND.
                unsafe { rdrand() }
            } else {
                None
            }
        });
        match word {
            Some(w) => {
                *slot = w;
                n += 1;
            }
            None => break,
        }
    }
    n
}
