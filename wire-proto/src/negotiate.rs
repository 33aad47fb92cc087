//! The sans-IO negotiation state machine.
//!
//! The [`Negotiator`] never touches a transport or a clock: the caller sends
//! [`Negotiator::hello`] when the link comes up (and again on a timer while
//! [`Negotiator::is_established`] is false, on lossy transports), feeds every decoded
//! message to [`Negotiator::on_message`], and carries out the returned [`Step`].
//!
//! Flow (symmetric, both ends run the same code):
//!
//! ```text
//!   AwaitHello --peer Hello, agreed--> AwaitAck --peer HelloAck::Accept(same)--> Established
//!        |                                |
//!        +--peer Hello, refused-----------+--> Failed (send HelloAck::Refuse, Close)
//! ```
//!
//! Retransmission tolerance: a repeated identical `Hello` is answered with the same ack
//! again (the peer lost ours); a `HelloAck` that overtakes the peer's `Hello` (datagram
//! reordering) is ignored, because the peer re-acks when our retransmitted hello reaches it.

use crate::control::{CloseReason, Keepalive};
use crate::error::FrameError;
use crate::frame::Frame;
use crate::hello::{Hello, HelloAck, Params, RefusalReason, MAX_MACS};
use crate::ids::EndpointId;
use crate::mac::MacAddr;
use crate::message::{Message, MessageKind};
use crate::version::Version;
use heapless::Vec;

/// What the caller must do after feeding a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// Nothing (a duplicate or early message was absorbed).
    Nothing,
    /// Send this ack to the peer.
    Reply(HelloAck),
    /// We refused the peer: send `reply`, then `Close { Refused }`, then tear the link down.
    Refuse {
        /// The `HelloAck::Refuse` to send.
        reply: HelloAck,
        /// Why (also in `reply`), for the caller's logs/counters.
        reason: RefusalReason,
    },
    /// Negotiation finished: frames may flow with these parameters.
    Established(Params),
    /// A frame that passed the agreement check; deliver it.
    Frame(Frame<'a>),
    /// A keepalive (the caller's liveness timer was already reset by receiving anything).
    Keepalive(Keepalive),
    /// The peer closed the link; stop sending and release it.
    PeerClosed(CloseReason),
}

/// Protocol violations seen by the [`Negotiator`].
///
/// [`NegotiationError::is_fatal`] separates those that end the link (send `Close {
/// ProtocolError }` or, for `PeerRefused`, just stop) from per-message ones (drop, count).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// A frame arrived before the link was established. Not fatal: on a datagram link the
    /// peer may legitimately be established first (our ack to it arrived, its ack to us did
    /// not yet); drop the frame.
    #[error("frame before negotiation finished")]
    FrameBeforeNegotiation,
    /// A keepalive arrived before the link was established. Not fatal, for the same reason.
    #[error("{0:?} before negotiation finished")]
    UnexpectedMessage(MessageKind),
    /// The peer refused our hello. Fatal.
    #[error("peer refused: {0:?}")]
    PeerRefused(RefusalReason),
    /// The peer acked different parameters from the ones computed here. Fatal (a bug on
    /// one side; the caller sends `HelloAck::Refuse(AgreementMismatch)` + `Close`).
    #[error("peer agreed {theirs:?}, we computed {ours:?}")]
    AgreementMismatch {
        /// What we computed.
        ours: Params,
        /// What the peer acked.
        theirs: Params,
    },
    /// A different `Hello` after one was accepted: the peer restarted or renegotiates,
    /// which this version does not support. Fatal: tear down; a fresh link renegotiates.
    #[error("peer sent a different hello after negotiation started")]
    HelloChanged,
    /// The negotiator already failed; make a new one for a new link.
    #[error("negotiation already failed")]
    Failed,
    /// A frame that breaks the agreement. Not fatal: drop and count.
    #[error("frame rejected: {0}")]
    Frame(#[from] FrameError),
}

impl NegotiationError {
    /// Whether the link must be torn down.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            NegotiationError::FrameBeforeNegotiation
                | NegotiationError::UnexpectedMessage(_)
                | NegotiationError::Frame(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    AwaitHello,
    AwaitAck { peer: Hello, params: Params },
    Established { peer: Hello, params: Params },
    Failed,
}

/// The negotiation (and, once established, frame-policing) state machine of one link end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiator {
    local: Hello,
    expected_peer: Option<EndpointId>,
    allowed_macs: Option<Vec<MacAddr, MAX_MACS>>,
    state: State,
}

impl Negotiator {
    /// A negotiator that will announce `local`.
    pub fn new(local: Hello) -> Self {
        Negotiator {
            local,
            expected_peer: None,
            allowed_macs: None,
            state: State::AwaitHello,
        }
    }

    /// Also refuse a peer announcing any MAC outside `macs` (the controller
    /// named the MACs this endpoint may carry; a Corm enforces them so a
    /// compromised Spike cannot claim another guest's address). An empty
    /// list refuses every peer that announces a MAC.
    pub fn allow_macs(mut self, macs: &[MacAddr]) -> Self {
        self.allowed_macs = Some(macs.iter().copied().take(MAX_MACS).collect());
        self
    }

    /// Also refuse a peer whose endpoint id is not `peer` (the controller told us whom to
    /// expect on this wire).
    pub fn expect_peer(mut self, peer: EndpointId) -> Self {
        self.expected_peer = Some(peer);
        self
    }

    /// The hello to send at link-up and to re-send until established.
    pub fn hello(&self) -> Message<'static> {
        Message::Hello(self.local.clone())
    }

    /// Whether frames may flow.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. })
    }

    /// Whether the negotiator gave up (refused, was refused, or saw a fatal violation).
    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// The agreed parameters, once established.
    pub fn params(&self) -> Option<&Params> {
        match &self.state {
            State::Established { params, .. } => Some(params),
            _ => None,
        }
    }

    /// The peer's hello, once received and accepted.
    pub fn peer(&self) -> Option<&Hello> {
        match &self.state {
            State::AwaitAck { peer, .. } | State::Established { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// The peer sent a `Hello` of another major ([`DecodeError::UnknownVersion`]): refuse it.
    ///
    /// [`DecodeError::UnknownVersion`]: crate::DecodeError::UnknownVersion
    pub fn on_incompatible_hello(&mut self, _version: Version) -> Step<'static> {
        self.refuse(RefusalReason::IncompatibleMajor)
    }

    /// Feed one decoded message from the peer.
    pub fn on_message<'a>(&mut self, msg: Message<'a>) -> Result<Step<'a>, NegotiationError> {
        if self.is_failed() {
            return Err(NegotiationError::Failed);
        }
        match msg {
            Message::Hello(hello) => self.on_hello(hello),
            Message::HelloAck(ack) => self.on_ack(ack),
            Message::Frame(frame) => {
                self.check_frame(&frame)?;
                Ok(Step::Frame(frame))
            }
            Message::Keepalive(k) => {
                if self.is_established() {
                    Ok(Step::Keepalive(k))
                } else {
                    Err(NegotiationError::UnexpectedMessage(MessageKind::Keepalive))
                }
            }
            Message::Close(close) => {
                self.state = State::Failed;
                Ok(Step::PeerClosed(close.reason))
            }
        }
    }

    /// Check a frame against the negotiated parameters (also done by [`on_message`]; use
    /// this directly when frames are dispatched on a faster path).
    ///
    /// [`on_message`]: Negotiator::on_message
    pub fn check_frame(&self, frame: &Frame<'_>) -> Result<(), NegotiationError> {
        match &self.state {
            State::Established { params, .. } => Ok(params.check_frame(frame)?),
            State::Failed => Err(NegotiationError::Failed),
            _ => Err(NegotiationError::FrameBeforeNegotiation),
        }
    }

    fn on_hello<'a>(&mut self, hello: Hello) -> Result<Step<'a>, NegotiationError> {
        match &self.state {
            State::AwaitHello => {}
            State::AwaitAck { peer, params } | State::Established { peer, params } => {
                if *peer == hello {
                    // The peer lost our ack (or its retransmission crossed it): ack again.
                    return Ok(Step::Reply(HelloAck::Accept(*params)));
                }
                self.state = State::Failed;
                return Err(NegotiationError::HelloChanged);
            }
            State::Failed => return Err(NegotiationError::Failed),
        }
        if self.expected_peer.is_some_and(|e| e != hello.endpoint) {
            return Ok(self.refuse(RefusalReason::UnexpectedEndpoint));
        }
        Ok(match Params::agree(&self.local, &hello) {
            Ok(_)
                if self
                    .allowed_macs
                    .as_ref()
                    .is_some_and(|ok| hello.macs.iter().any(|m| !ok.contains(m))) =>
            {
                self.refuse(RefusalReason::MacNotAllowed)
            }
            Ok(params) => {
                self.state = State::AwaitAck {
                    peer: hello,
                    params,
                };
                Step::Reply(HelloAck::Accept(params))
            }
            Err(reason) => self.refuse(reason),
        })
    }

    fn on_ack<'a>(&mut self, ack: HelloAck) -> Result<Step<'a>, NegotiationError> {
        let theirs = match ack {
            HelloAck::Refuse(reason) => {
                self.state = State::Failed;
                return Err(NegotiationError::PeerRefused(reason));
            }
            HelloAck::Accept(theirs) => theirs,
        };
        let state = core::mem::replace(&mut self.state, State::Failed);
        let (next, result) = match state {
            // Overtook the peer's hello; the peer re-acks our next hello.
            State::AwaitHello => (State::AwaitHello, Ok(Step::Nothing)),
            State::AwaitAck { peer, params } if params == theirs => (
                State::Established { peer, params },
                Ok(Step::Established(params)),
            ),
            State::Established { peer, params } if params == theirs => {
                (State::Established { peer, params }, Ok(Step::Nothing))
            }
            State::AwaitAck { params, .. } | State::Established { params, .. } => (
                State::Failed,
                Err(NegotiationError::AgreementMismatch {
                    ours: params,
                    theirs,
                }),
            ),
            State::Failed => (State::Failed, Err(NegotiationError::Failed)),
        };
        self.state = next;
        result
    }

    fn refuse(&mut self, reason: RefusalReason) -> Step<'static> {
        self.state = State::Failed;
        Step::Refuse {
            reply: HelloAck::Refuse(reason),
            reason,
        }
    }
}
