//! Feed arbitrary bytes to the datagram decoders and the negotiator.
//!
//! Oracles: no panic; a decoded datagram re-encodes (same header) and decodes to itself;
//! the receiver agrees with the stateless decoder on what decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire_proto::datagram::encode_datagram_vec;
use wire_proto::*;

fuzz_target!(|data: &[u8]| {
    // The bare message decoder, on the same bytes.
    let _ = Message::decode(data);

    let decoded = decode_datagram(data);
    if let Ok((header, msg)) = &decoded {
        let bytes = encode_datagram_vec(header, msg).expect("a decoded datagram re-encodes");
        assert_eq!(
            decode_datagram(&bytes).as_ref(),
            Ok(&(*header, msg.clone()))
        );

        // A fresh receiver for that wire accepts exactly what the stateless decoder does.
        let mut rx = DatagramReceiver::new(header.wire);
        assert_eq!(rx.receive(data).as_ref(), Ok(msg));

        // The negotiator handles any message without panicking, from either role.
        for role in [Role::Spike, Role::Corm] {
            let local = Hello::new(role, header.wire, EndpointId(1), 1500, Features::KNOWN);
            let mut n = Negotiator::new(local);
            let _ = n.on_message(msg.clone());
            let _ = n.on_message(msg.clone());
        }
    }
});
