//! Xenbus device state (`io/xenbus.h`) and the xenstore conventions around it.
//!
//! Each end of a split device publishes its `enum xenbus_state` as decimal
//! text in `<device path>/state`, and watches the other end's. This module
//! parses that text strictly, writes it the way Linux's `xenbus_switch_state`
//! does (in a transaction, never re-creating a node the toolstack removed),
//! and waits for a peer state with a watch.

use alloc::format;
use alloc::string::String;
use core::fmt;
use core::str::FromStr;

use crate::xenstore::{Errno, SharedPage, StoreIo, Xenstore, XsError};

/// `enum xenbus_state` (`io/xenbus.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum XenbusState {
    /// 0: not yet set.
    Unknown = 0,
    /// 1: early initialisation.
    Initialising = 1,
    /// 2: "Finished early initialisation but waiting for information from
    /// the peer or hotplug scripts."
    InitWait = 2,
    /// 3: "Waiting for a connection from the peer."
    Initialised = 3,
    /// 4: the device is in use.
    Connected = 4,
    /// 5: "The device is being closed due to an error or an unplug event."
    Closing = 5,
    /// 6: closed.
    Closed = 6,
    /// 7: "The device is being reconfigured."
    Reconfiguring = 7,
    /// 8: reconfiguration done.
    Reconfigured = 8,
}

/// State text that is not exactly the decimal number of a known state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid xenbus state text")]
pub struct StateParseError;

impl XenbusState {
    /// Every state, in numeric order.
    pub const ALL: [XenbusState; 9] = {
        use XenbusState::*;
        [
            Unknown,
            Initialising,
            InitWait,
            Initialised,
            Connected,
            Closing,
            Closed,
            Reconfiguring,
            Reconfigured,
        ]
    };

    /// The state with wire number `v`.
    pub const fn from_u32(v: u32) -> Option<XenbusState> {
        if v < XenbusState::ALL.len() as u32 {
            Some(XenbusState::ALL[v as usize])
        } else {
            None
        }
    }

    /// Parses xenstore text: exactly one decimal digit `0`–`8`. Leading zeros,
    /// signs, whitespace and trailing NULs are refused, so a peer cannot make
    /// two different texts mean the same state.
    pub fn parse(text: &[u8]) -> Result<XenbusState, StateParseError> {
        match text {
            &[d @ b'0'..=b'8'] => XenbusState::from_u32(u32::from(d - b'0')).ok_or(StateParseError),
            _ => Err(StateParseError),
        }
    }

    /// Whether a backend may move from `self` to `to`.
    ///
    /// Banana's policy, following the `io/xenbus.h` state comments and the
    /// Linux netback backend state machine; staying put is always allowed.
    ///
    /// | from            | to                              |
    /// |-----------------|---------------------------------|
    /// | Unknown         | Initialising, InitWait, Closing |
    /// | Initialising    | InitWait, Closing               |
    /// | InitWait        | Connected, Closing              |
    /// | Initialised     | Connected, Closing              |
    /// | Connected       | Closing, Reconfiguring          |
    /// | Reconfiguring   | Reconfigured, Closing           |
    /// | Reconfigured    | Connected, Closing              |
    /// | Closing         | Closed                          |
    /// | Closed          | Initialising, InitWait (re-plug)|
    ///
    /// Every way down goes through `Closing`, so a frontend always gets to
    /// see the shutdown before the backend reports `Closed`. `Unknown`
    /// (0, or a node someone else overwrote) may close too: Linux's
    /// `xenbus_dev_fatal` switches to Closing from any state, and a backend
    /// refusing its frontend must end Closed whatever its node held.
    pub const fn backend_may_switch(self, to: XenbusState) -> bool {
        use XenbusState::*;
        if self as u32 == to as u32 {
            return true;
        }
        matches!(
            (self, to),
            (Unknown, Initialising | InitWait | Closing)
                | (Initialising, InitWait | Closing)
                | (InitWait | Initialised, Connected | Closing)
                | (Connected, Closing | Reconfiguring)
                | (Reconfiguring, Reconfigured | Closing)
                | (Reconfigured, Connected | Closing)
                | (Closing, Closed)
                | (Closed, Initialising | InitWait)
        )
    }
}

impl fmt::Display for XenbusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", *self as u32)
    }
}

impl FromStr for XenbusState {
    type Err = StateParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        XenbusState::parse(s.as_bytes())
    }
}

/// Failures of the xenbus helpers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum XenbusError {
    /// The xenstore operation failed (including `Timeout`).
    #[error(transparent)]
    Xs(#[from] XsError),
    /// `<path>/state` holds text that is not a state.
    #[error(transparent)]
    BadState(#[from] StateParseError),
    /// `<path>/state` does not exist: the device was removed.
    #[error("device state node is gone")]
    Gone,
    /// [`switch_backend_state`] refused a move not in the transition table.
    #[error("backend may not switch from {from} to {to}")]
    IllegalTransition {
        /// Current state.
        from: XenbusState,
        /// Requested state.
        to: XenbusState,
    },
}

/// `<dev>/state`.
pub fn state_path(dev: &str) -> String {
    format!("{dev}/state")
}

/// Reads `<dev>/state`; `Ok(None)` if the node does not exist, which callers
/// should treat like `Closed`: the toolstack removed the device.
pub fn read_state<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    dev: &str,
) -> Result<Option<XenbusState>, XenbusError> {
    match xs.read_bytes(&state_path(dev)) {
        Ok(text) => Ok(Some(XenbusState::parse(&text)?)),
        Err(XsError::Xenstored(Errno::ENOENT)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `state` to `<dev>/state` in a transaction, unless it is already
/// set. Fails with [`XenbusError::Gone`] rather than re-creating a removed
/// node (Linux `xenbus_switch_state` does the same check).
pub fn switch_state<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    dev: &str,
    state: XenbusState,
) -> Result<(), XenbusError> {
    switch(xs, dev, state, |_, _| true)
}

/// As [`switch_state`], but refuses moves that
/// [`XenbusState::backend_may_switch`] does not allow.
pub fn switch_backend_state<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    dev: &str,
    state: XenbusState,
) -> Result<(), XenbusError> {
    switch(xs, dev, state, XenbusState::backend_may_switch)
}

fn switch<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    dev: &str,
    to: XenbusState,
    allowed: fn(XenbusState, XenbusState) -> bool,
) -> Result<(), XenbusError> {
    let path = state_path(dev);
    let text = format!("{to}");
    xs.transaction(|tx| {
        let from = match tx.read_bytes(&path) {
            Ok(current) => match XenbusState::parse(&current) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e.into())),
            },
            Err(XsError::Xenstored(Errno::ENOENT)) => return Ok(Err(XenbusError::Gone)),
            Err(e) => return Err(e),
        };
        if !allowed(from, to) {
            return Ok(Err(XenbusError::IllegalTransition { from, to }));
        }
        if from != to {
            tx.write(&path, &text)?;
        }
        Ok(Ok(()))
    })?
}

/// Watches `<dev>/state` until `done` accepts what it holds (`None`: the node
/// is gone) and returns that, or fails with `Xs(Timeout)` at `deadline_ns`.
/// The watch is removed before returning; an error from that removal is
/// ignored, since the outcome is already known and the token is private.
pub fn wait_for_state<I: StoreIo, M: SharedPage>(
    xs: &mut Xenstore<I, M>,
    dev: &str,
    mut done: impl FnMut(Option<XenbusState>) -> bool,
    deadline_ns: u64,
) -> Result<Option<XenbusState>, XenbusError> {
    let path = state_path(dev);
    let token = format!("xenbus-wait:{path}");
    xs.watch(&path, &token)?;
    let r = (|| loop {
        let state = read_state(xs, dev)?;
        if done(state) {
            return Ok(state);
        }
        if xs.wait_watch_token(&token, deadline_ns)?.is_none() {
            return Err(XenbusError::Xs(XsError::Timeout));
        }
    })();
    if !xs.is_broken() {
        let _ = xs.unwatch(&path, &token);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xenstore::fake::{FakeIo, FakeXenstored};
    use crate::xenstore::{HeapPage, StoreRing};
    use alloc::string::ToString;
    use XenbusState::*;

    #[test]
    fn numbers_match_xenbus_h() {
        let want = [
            (Unknown, 0),
            (Initialising, 1),
            (InitWait, 2),
            (Initialised, 3),
            (Connected, 4),
            (Closing, 5),
            (Closed, 6),
            (Reconfiguring, 7),
            (Reconfigured, 8),
        ];
        for (s, n) in want {
            assert_eq!(s as u32, n);
            assert_eq!(s.to_string(), n.to_string());
            assert_eq!(n.to_string().parse(), Ok(s));
        }
        assert_eq!(XenbusState::from_u32(9), None);
    }

    #[test]
    fn strict_parse() {
        for bad in [
            "", "9", "04", "+4", " 4", "4 ", "4\0", "-1", "10", "four", "4\n",
        ] {
            assert_eq!(bad.parse::<XenbusState>(), Err(StateParseError), "{bad:?}");
        }
    }

    #[test]
    fn backend_transition_table() {
        assert!(InitWait.backend_may_switch(Connected));
        assert!(Connected.backend_may_switch(Closing));
        assert!(Closing.backend_may_switch(Closed));
        assert!(Closed.backend_may_switch(InitWait));
        assert!(Connected.backend_may_switch(Connected));
        assert!(!Connected.backend_may_switch(Closed));
        assert!(!Closed.backend_may_switch(Connected));
        // xenbus_dev_fatal closes from anywhere, an overwritten 0 included.
        assert!(Unknown.backend_may_switch(Closing));
        assert!(!Unknown.backend_may_switch(Closed));
        assert!(!InitWait.backend_may_switch(Initialised));
        assert!(!Closing.backend_may_switch(Connected));
        for s in XenbusState::ALL {
            // Nothing goes back to Unknown.
            assert_eq!(s.backend_may_switch(Unknown), s == Unknown, "{s:?}");
            // Closed is only ever entered from Closing.
            assert_eq!(s.backend_may_switch(Closed), matches!(s, Closing | Closed));
            // Closed stays reachable from everywhere (no dead ends).
            assert!(reachable(s, Closed), "{s:?}");
            assert!(reachable(Unknown, s) || s == Initialised, "{s:?}");
        }
    }

    fn reachable(from: XenbusState, to: XenbusState) -> bool {
        let mut seen = [false; 9];
        let mut stack = alloc::vec![from];
        while let Some(s) = stack.pop() {
            if core::mem::replace(&mut seen[s as usize], true) {
                continue;
            }
            stack.extend(
                XenbusState::ALL
                    .into_iter()
                    .filter(|&t| s.backend_may_switch(t)),
            );
        }
        seen[to as usize]
    }

    fn client() -> Xenstore<FakeIo, HeapPage> {
        let page = HeapPage::new();
        let server = FakeXenstored::new(page.clone());
        let io = FakeIo {
            server,
            now: 0,
            notifies: 0,
        };
        Xenstore::new(StoreRing::new(page), io)
    }

    #[test]
    fn read_and_switch() {
        let mut xs = client();
        let dev = "backend/vif/3/0";
        assert_eq!(read_state(&mut xs, dev), Ok(None));
        assert_eq!(switch_state(&mut xs, dev, InitWait), Err(XenbusError::Gone));
        xs.write("backend/vif/3/0/state", "1").unwrap();
        assert_eq!(read_state(&mut xs, dev), Ok(Some(Initialising)));
        switch_backend_state(&mut xs, dev, InitWait).unwrap();
        assert_eq!(xs.read("backend/vif/3/0/state").unwrap(), "2");
        assert_eq!(
            switch_backend_state(&mut xs, dev, Closed),
            Err(XenbusError::IllegalTransition {
                from: InitWait,
                to: Closed
            })
        );
        switch_state(&mut xs, dev, Closed).unwrap();
        assert_eq!(read_state(&mut xs, dev), Ok(Some(Closed)));
        xs.write("backend/vif/3/0/state", "06").unwrap();
        assert_eq!(
            read_state(&mut xs, dev),
            Err(XenbusError::BadState(StateParseError))
        );
    }

    #[test]
    fn wait_for_peer_state() {
        let mut xs = client();
        let fe = "/local/domain/5/device/vif/0";
        xs.write(&state_path(fe), "1").unwrap();
        // Nobody changes it: times out, and the watch is gone afterwards.
        let deadline = xs.io().now + 1_000_000;
        let r = wait_for_state(&mut xs, fe, |s| s == Some(Connected), deadline);
        assert_eq!(r, Err(XenbusError::Xs(XsError::Timeout)));

        // The peer moves while we wait: the fake fires the change from
        // inside the client's wait.
        let r = wait_for_state(&mut xs, fe, |s| s == Some(Initialising), u64::MAX);
        assert_eq!(r, Ok(Some(Initialising)));
        xs.io_mut().server.external_write(&state_path(fe), b"4");
        let r = wait_for_state(&mut xs, fe, |s| s == Some(Connected), u64::MAX);
        assert_eq!(r, Ok(Some(Connected)));

        let mut calls = 0;
        xs.io_mut().server.external_rm("/local/domain/5/device");
        let r = wait_for_state(
            &mut xs,
            fe,
            |s| {
                calls += 1;
                s.is_none() || s == Some(Closed)
            },
            u64::MAX,
        );
        assert_eq!((r, calls), (Ok(None), 1));
        assert_eq!(xs.poll_watch(), Ok(None));
        assert_eq!(xs.counters().unknown_watch_token, 0);
    }

    #[test]
    fn wait_follows_each_change() {
        let mut xs = client();
        xs.write("/fe/state", "1").unwrap();
        let later = &mut xs.io_mut().server.later;
        later.push_back(("/fe/state".into(), b"2".to_vec()));
        later.push_back(("/fe/other".into(), b"x".to_vec()));
        later.push_back(("/fe/state".into(), b"4".to_vec()));
        let mut seen = alloc::vec::Vec::new();
        let r = wait_for_state(
            &mut xs,
            "/fe",
            |s| {
                seen.push(s);
                s == Some(Connected)
            },
            u64::MAX,
        );
        assert_eq!(r, Ok(Some(Connected)));
        assert_eq!(seen.first(), Some(&Some(Initialising)));
        assert_eq!(seen.last(), Some(&Some(Connected)));
        assert!(seen.contains(&Some(InitWait)));
    }
}
