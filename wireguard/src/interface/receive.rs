//! The receive route of [`Interface`]: every datagram from the underlay is
//! parsed once, then goes to exactly one handler (the diagram in the parent
//! module); each refusal is counted under its [`Reason`].

use super::*;

impl<R: Random, const N: usize> Interface<R, N> {
    fn dropped(&mut self, why: Reason) -> Received {
        let c = &mut self.counters;
        *match why {
            Reason::Malformed => &mut c.dropped_malformed,
            Reason::BadMac1 => &mut c.dropped_bad_mac1,
            Reason::BadHandshake => &mut c.dropped_bad_handshake,
            Reason::UnknownPeer => &mut c.dropped_unknown_peer,
            Reason::ReplayedInitiation => &mut c.dropped_replayed_initiation,
            Reason::InitiationFlood => &mut c.dropped_initiation_flood,
            Reason::UnknownIndex => &mut c.dropped_unknown_index,
            Reason::BadCookie => &mut c.dropped_bad_cookie,
            Reason::ExpiredKey => &mut c.dropped_expired_key,
            Reason::Replay => &mut c.dropped_replay,
            Reason::Unauthentic => &mut c.dropped_unauthentic,
            Reason::NotIp => &mut c.dropped_not_ip,
        } += 1;
        Received::Dropped(why)
    }

    /// Takes a datagram from `source` (its address as the caller names
    /// it, e.g. IPv4 address and port: cookies are bound to it). Transport
    /// messages are opened in place in `datagram`.
    pub fn receive(
        &mut self,
        datagram: &mut [u8],
        source: &[u8],
        now: Now,
        reply: &mut [u8; MAX_REPLY_LEN],
    ) -> Received {
        let msg = match Message::parse(datagram) {
            Ok(m) => m,
            Err(_) => return self.dropped(Reason::Malformed),
        };
        match msg {
            Message::Initiation(m) => self.on_initiation(&m, source, now, reply),
            Message::Response(m) => self.on_response(&m, source, now, reply),
            Message::CookieReply(m) => self.on_cookie_reply(&m, now.mono_ns),
            Message::Transport(m) => {
                let (index, counter) = (m.receiver(), m.counter());
                self.on_transport(datagram, index, counter, now.mono_ns)
            }
        }
    }

    /// Checks a handshake message's MACs; `Err` is the answer to give.
    fn check_macs(
        &mut self,
        bytes: &[u8],
        sender: u32,
        source: &[u8],
        now_ns: u64,
        reply: &mut [u8; MAX_REPLY_LEN],
    ) -> Result<(), Received> {
        let under_load = self.load.tick(now_ns);
        match self.checker.check(bytes, source, under_load, now_ns) {
            MacVerdict::Valid => Ok(()),
            MacVerdict::BadMac1 => Err(self.dropped(Reason::BadMac1)),
            MacVerdict::NeedCookie => {
                let r = self
                    .checker
                    .reply(bytes, sender, source, now_ns, &mut self.rng);
                reply[..r.len()].copy_from_slice(&r);
                self.counters.tx_cookie_replies += 1;
                Err(Received::Reply {
                    peer: None,
                    len: r.len(),
                })
            }
        }
    }

    fn on_initiation(
        &mut self,
        m: &Initiation<'_>,
        source: &[u8],
        now: Now,
        reply: &mut [u8; MAX_REPLY_LEN],
    ) -> Received {
        let t = now.mono_ns;
        if let Err(r) = self.check_macs(m.bytes(), m.sender(), source, t, reply) {
            return r;
        }
        let Ok(init) = handshake::consume_initiation(&self.local, m) else {
            return self.dropped(Reason::BadHandshake);
        };
        let Some(id) = self.find_peer(&init.remote) else {
            return self.dropped(Reason::UnknownPeer);
        };
        let Some(p) = self.peer(id) else {
            return self.dropped(Reason::UnknownPeer);
        };
        if p.greatest_timestamp.is_some_and(|g| init.timestamp <= g) {
            return self.dropped(Reason::ReplayedInitiation);
        }
        if p.last_initiation_consumed_ns
            .is_some_and(|l| t.saturating_sub(l) < MIN_INITIATION_GAP_NS)
        {
            return self.dropped(Reason::InitiationFlood);
        }
        let index = self.fresh_index();
        let Some(p) = self.peers.get_mut(id).and_then(Option::as_mut) else {
            return self.dropped(Reason::UnknownPeer);
        };
        p.greatest_timestamp = Some(init.timestamp);
        p.last_initiation_consumed_ns = Some(t);
        let msg: &mut [u8; RESPONSE_LEN] = reply;
        let Ok(keys) = handshake::respond(init, &p.config.psk, index, &mut self.rng, msg) else {
            return self.dropped(Reason::BadHandshake);
        };
        p.jar.stamp(&p.mac_keys, msg, t);
        p.begin_session(Keypair::new(keys, t), t);
        p.packet_received(t);
        p.packet_sent(t);
        self.counters.rx_initiations += 1;
        self.counters.tx_responses += 1;
        Received::Reply {
            peer: Some(id),
            len: RESPONSE_LEN,
        }
    }

    fn on_response(
        &mut self,
        m: &Response<'_>,
        source: &[u8],
        now: Now,
        reply: &mut [u8; MAX_REPLY_LEN],
    ) -> Received {
        let t = now.mono_ns;
        if let Err(r) = self.check_macs(m.bytes(), m.sender(), source, t, reply) {
            return r;
        }
        let index = m.receiver();
        let Some(id) = self.peers.iter().position(|p| {
            p.as_ref()
                .and_then(|p| p.handshake.as_ref())
                .is_some_and(|h| h.local_index == index)
        }) else {
            return self.dropped(Reason::UnknownIndex);
        };
        let Some(p) = self.peers.get_mut(id).and_then(Option::as_mut) else {
            return self.dropped(Reason::UnknownIndex);
        };
        let Some(state) = p.handshake.as_ref() else {
            return self.dropped(Reason::UnknownIndex);
        };
        let Ok(keys) = handshake::consume_response(state, &self.local, &p.config.psk, m) else {
            return self.dropped(Reason::BadHandshake);
        };
        p.begin_session(Keypair::new(keys, t), t);
        p.packet_received(t);
        self.counters.rx_responses += 1;
        self.counters.sessions += 1;
        // Confirm the session at once (Linux sends a keepalive when no
        // data is queued: `wg_receive_handshake_packet`).
        match self.keepalive(id, t, reply) {
            Some(len) => Received::Reply {
                peer: Some(id),
                len,
            },
            None => Received::Consumed { peer: id },
        }
    }

    fn on_cookie_reply(&mut self, m: &CookieReply<'_>, now_ns: u64) -> Received {
        let index = m.receiver();
        let Some(id) = self
            .peers
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.owns_index(index)))
        else {
            return self.dropped(Reason::UnknownIndex);
        };
        let Some(p) = self.peers.get_mut(id).and_then(Option::as_mut) else {
            return self.dropped(Reason::UnknownIndex);
        };
        if !p.jar.consume(&p.mac_keys.clone(), m, now_ns) {
            return self.dropped(Reason::BadCookie);
        }
        self.counters.rx_cookie_replies += 1;
        Received::Consumed { peer: id }
    }

    fn on_transport(
        &mut self,
        datagram: &mut [u8],
        index: u32,
        counter: u64,
        now_ns: u64,
    ) -> Received {
        let found = self.peers.iter_mut().enumerate().find_map(|(id, p)| {
            p.as_mut()?
                .keypair_mut(index)
                .map(|(kp, is_next)| (id, is_next, kp.can_receive(now_ns)))
        });
        let Some((id, is_next, fresh)) = found else {
            return self.dropped(Reason::UnknownIndex);
        };
        if !fresh {
            return self.dropped(Reason::ExpiredKey);
        }
        let Some(p) = self.peers.get_mut(id).and_then(Option::as_mut) else {
            return self.dropped(Reason::UnknownIndex);
        };
        let Some((kp, _)) = p.keypair_mut(index) else {
            return self.dropped(Reason::UnknownIndex);
        };
        let opened = kp.open(datagram, counter);
        let (initiator, age) = (kp.initiator, kp.age_ns(now_ns));
        let len = match opened {
            Ok(len) => len,
            Err(OpenError::Replay) => return self.dropped(Reason::Replay),
            Err(OpenError::Unauthentic) => return self.dropped(Reason::Unauthentic),
        };
        if is_next {
            p.confirm_next();
            self.counters.sessions += 1;
        }
        if len == 0 {
            p.packet_received(now_ns);
            self.counters.rx_keepalives += 1;
            return Received::Consumed { peer: id };
        }
        let body = &datagram[TRANSPORT_HEADER_LEN..TRANSPORT_HEADER_LEN + len];
        let Some(ip_len) = ip_packet_len(body) else {
            p.packet_received(now_ns);
            return self.dropped(Reason::NotIp);
        };
        p.data_received(now_ns, initiator, age);
        self.counters.rx_data += 1;
        self.counters.rx_bytes += ip_len as u64;
        Received::Packet {
            peer: id,
            len: ip_len,
        }
    }
}

/// The length an IPv4 or IPv6 packet says it has, if `p` holds all of it
/// (the rest is WireGuard's padding); Linux drops anything else
/// (drivers/net/wireguard/receive.c, `wg_packet_consume_data_done`).
pub fn ip_packet_len(p: &[u8]) -> Option<usize> {
    let len = match p.first()? >> 4 {
        4 if p.len() >= 20 => {
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if total < 20 {
                return None;
            }
            total
        }
        6 if p.len() >= 40 => 40 + usize::from(u16::from_be_bytes([p[4], p[5]])),
        _ => return None,
    };
    (len <= p.len()).then_some(len)
}
