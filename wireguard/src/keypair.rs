//! One session's transport keys (whitepaper §5.4.6): a counter per packet
//! sent, the replay window for packets received, and their age, which the
//! timers (§6) turn into "rekey" and "reject".
//!
//! Packets are sealed and opened **in place**: the caller puts the inner
//! packet at [`message::transport::PACKET`] of the buffer it will send, and
//! gets the opened packet back where the datagram arrived. No copy here.

use zeroize::Zeroizing;

use crate::crypto::{self, TAG_LEN};
use crate::handshake::SessionKeys;
use crate::message::{self, transport, TRANSPORT_HEADER_LEN};
use crate::replay::{ReplayWindow, REJECT_AFTER_MESSAGES};
use crate::timers::REJECT_AFTER_TIME_NS;

/// WireGuard pads the plaintext to a multiple of 16 bytes (whitepaper
/// §5.4.6), without passing the MTU (Linux `calculate_skb_padding`).
pub const PADDING_MULTIPLE: usize = 16;

/// Why a packet could not be sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The buffer cannot hold header, padded packet and tag.
    #[error("buffer too small for the sealed packet")]
    BufferTooSmall,
    /// This keypair has sent all the messages it may.
    #[error("keypair exhausted")]
    Exhausted,
}

/// Why a transport message did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Counter already received, or too far behind the window.
    #[error("replayed or too old")]
    Replay,
    /// The tag did not verify.
    #[error("not authentic")]
    Unauthentic,
}

/// A session's keys and counters.
pub struct Keypair {
    send: Zeroizing<[u8; 32]>,
    receive: Zeroizing<[u8; 32]>,
    /// Our index: transport messages to us carry it.
    pub local_index: u32,
    /// The peer's index: we put it in what we send.
    pub remote_index: u32,
    /// Whether we initiated the handshake that made it.
    pub initiator: bool,
    /// When the handshake completed (monotonic ns).
    pub born_ns: u64,
    next_send: u64,
    replay: ReplayWindow,
}

impl Keypair {
    /// The keypair of a completed handshake.
    pub fn new(keys: SessionKeys, now_ns: u64) -> Keypair {
        Keypair {
            send: keys.send,
            receive: keys.receive,
            local_index: keys.local_index,
            remote_index: keys.remote_index,
            initiator: keys.initiator,
            born_ns: now_ns,
            next_send: 0,
            replay: ReplayWindow::default(),
        }
    }

    /// Its age at `now_ns`.
    pub fn age_ns(&self, now_ns: u64) -> u64 {
        now_ns.saturating_sub(self.born_ns)
    }

    /// The counter the next packet sent will carry.
    pub fn sent(&self) -> u64 {
        self.next_send
    }

    /// Whether it may still seal (younger than `REJECT_AFTER_TIME`, not
    /// exhausted; §6.1).
    pub fn can_send(&self, now_ns: u64) -> bool {
        self.age_ns(now_ns) < REJECT_AFTER_TIME_NS && self.next_send < REJECT_AFTER_MESSAGES
    }

    /// Whether it may still open (younger than `REJECT_AFTER_TIME`).
    pub fn can_receive(&self, now_ns: u64) -> bool {
        self.age_ns(now_ns) < REJECT_AFTER_TIME_NS
    }

    /// Seals the `packet_len` bytes at `buf[16..]` in place: pads them with
    /// zeros to a multiple of 16 (never past `mtu`), writes the header in
    /// front and the tag behind. Returns the datagram's length.
    pub fn seal(
        &mut self,
        buf: &mut [u8],
        packet_len: usize,
        mtu: usize,
    ) -> Result<usize, SealError> {
        if self.next_send >= REJECT_AFTER_MESSAGES {
            return Err(SealError::Exhausted);
        }
        let padded = packet_len
            .next_multiple_of(PADDING_MULTIPLE)
            .min(mtu.max(packet_len));
        let total = TRANSPORT_HEADER_LEN + padded + TAG_LEN;
        if buf.len() < total {
            return Err(SealError::BufferTooSmall);
        }
        let counter = self.next_send;
        self.next_send += 1;
        message::put_type(buf, message::TYPE_TRANSPORT);
        message::put_le32(buf, transport::RECEIVER, self.remote_index);
        buf[transport::COUNTER..transport::PACKET].copy_from_slice(&counter.to_le_bytes());
        let body = &mut buf[transport::PACKET..transport::PACKET + padded];
        body[packet_len..].fill(0);
        let tag = crypto::seal(&self.send, counter, body, &[]);
        buf[transport::PACKET + padded..total].copy_from_slice(&tag);
        Ok(total)
    }

    /// Opens the transport message `msg` (header checked by
    /// [`message::Message::parse`]) in place; returns the plaintext's
    /// length at `msg[16..]`. The counter is marked received only if the
    /// tag verified.
    pub fn open(&mut self, msg: &mut [u8], counter: u64) -> Result<usize, OpenError> {
        if !self.replay.may_accept(counter) {
            return Err(OpenError::Replay);
        }
        let end = msg.len() - TAG_LEN;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&msg[end..]);
        let body = &mut msg[transport::PACKET..end];
        crypto::open(&self.receive, counter, body, &tag, &[])
            .map_err(|_| OpenError::Unauthentic)?;
        if !self.replay.accept(counter) {
            return Err(OpenError::Replay);
        }
        Ok(end - transport::PACKET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Keypair, Keypair) {
        let k = |s: u8, r: u8, l, rem, i| SessionKeys {
            send: Zeroizing::new([s; 32]),
            receive: Zeroizing::new([r; 32]),
            local_index: l,
            remote_index: rem,
            initiator: i,
        };
        (
            Keypair::new(k(1, 2, 10, 20, true), 0),
            Keypair::new(k(2, 1, 20, 10, false), 0),
        )
    }

    #[test]
    fn seals_pads_opens_and_refuses_replays() {
        let (mut a, mut b) = pair();
        let mut buf = [0u8; 128];
        buf[16..21].copy_from_slice(b"hello");
        let n = a.seal(&mut buf, 5, 1420).unwrap();
        assert_eq!(n, 16 + 16 + 16, "padded to 16");
        let mut copy = buf;
        assert_eq!(b.open(&mut copy[..n], 0), Ok(16));
        assert_eq!(&copy[16..21], b"hello");
        assert!(copy[21..32].iter().all(|&x| x == 0));
        let mut again = buf;
        assert_eq!(b.open(&mut again[..n], 0), Err(OpenError::Replay));
        // A forged packet with a fresh counter does not move the window.
        let mut forged = buf;
        forged[8] = 7;
        assert_eq!(b.open(&mut forged[..n], 7), Err(OpenError::Unauthentic));
        assert!(b.replay.may_accept(7));
    }

    #[test]
    fn padding_stops_at_the_mtu_and_small_buffers_are_refused() {
        let (mut a, _) = pair();
        let mut buf = [0u8; 64];
        assert_eq!(a.seal(&mut buf, 17, 17), Ok(16 + 17 + 16));
        assert_eq!(a.seal(&mut buf, 33, 1420), Err(SealError::BufferTooSmall));
        assert_eq!(a.sent(), 1, "a refused packet uses no counter");
    }
}
