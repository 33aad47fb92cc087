//! WireGuard's timer constants (whitepaper §6.1, the same values as
//! Linux's drivers/net/wireguard/messages.h), in nanoseconds of the
//! caller's monotonic clock. [`crate::peer`] applies them (§6.2–§6.5).

const S: u64 = 1_000_000_000;

/// An initiator starts a new handshake when its keypair is this old and it
/// sends (§6.2).
pub const REKEY_AFTER_TIME_NS: u64 = 120 * S;
/// A keypair this old is never used again, either way (§6.1).
pub const REJECT_AFTER_TIME_NS: u64 = 180 * S;
/// How long handshake initiations are retried before giving up (§6.4).
pub const REKEY_ATTEMPT_TIME_NS: u64 = 90 * S;
/// Time between retries of an unanswered initiation (§6.4), and the least
/// time between two initiations to one peer.
pub const REKEY_TIMEOUT_NS: u64 = 5 * S;
/// Up to this much random jitter is added to each retry (Linux
/// `REKEY_TIMEOUT_JITTER_MAX_JIFFIES`, HZ / 3).
pub const REKEY_TIMEOUT_JITTER_NS: u64 = S / 3;
/// A passive keepalive goes this long after received data that we did not
/// answer (§6.5).
pub const KEEPALIVE_TIMEOUT_NS: u64 = 10 * S;
/// After sending data and hearing nothing for this long, start a new
/// handshake (§6.5: `KEEPALIVE_TIMEOUT + REKEY_TIMEOUT`).
pub const NEW_HANDSHAKE_NS: u64 = KEEPALIVE_TIMEOUT_NS + REKEY_TIMEOUT_NS;
/// An initiator receiving on a keypair this old starts a new handshake
/// (§6.2: `REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT − REKEY_TIMEOUT`), so
/// that a quiet sender does not find it expired.
pub const REKEY_ON_RECEIVE_NS: u64 = REJECT_AFTER_TIME_NS - KEEPALIVE_TIMEOUT_NS - REKEY_TIMEOUT_NS;
/// All keys are erased when no handshake completed for this long (§6.3:
/// `REJECT_AFTER_TIME × 3`).
pub const ZERO_KEYS_AFTER_NS: u64 = 3 * REJECT_AFTER_TIME_NS;
/// A sender after this many messages on one keypair starts a new handshake
/// (§6.1: 2^60).
pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;
/// Initiations from one peer closer together than this are dropped as a
/// flood (Linux `INITIATIONS_PER_SECOND` = 50).
pub const MIN_INITIATION_GAP_NS: u64 = S / 50;
