use core::net::{Ipv4Addr, SocketAddrV4};

use super::*;

const S: u64 = 1_000_000_000;
const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn vni() -> Vni {
    Vni::new(100).unwrap()
}

fn peer(control: bool) -> Peer {
    Peer::new(PeerConfig {
        vni: vni(),
        remote: SocketAddrV4::new(REMOTE, 6081),
        local_epoch: 7,
        control,
    })
}

fn from(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(REMOTE, port)
}

fn ctl(kind: ControlKind, epoch: u32, seq: u32) -> Control {
    Control { kind, epoch, seq }
}

#[test]
fn local_wire_timing() {
    assert_eq!(KEEPALIVE_NS, local_wire::channel::KEEPALIVE_NS);
    assert_eq!(DEAD_NS, local_wire::channel::DEAD_NS);
    assert_eq!(HELLO_RETRY_NS, local_wire::channel::HELLO_RETRY_NS);
}

#[test]
fn data_only_from_the_peer_and_vni() {
    let mut p = peer(true);
    // Any source port: it is flow entropy.
    assert_eq!(p.accept_data(vni(), from(50000), 1), Ok(()));
    assert_eq!(p.accept_data(vni(), from(61000), 1), Ok(()));
    let spoof = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 3), 50000);
    assert_eq!(p.accept_data(vni(), spoof, 1), Err(PeerDrop::Spoofed));
    assert_eq!(
        p.accept_data(Vni::new(101).unwrap(), from(1), 1),
        Err(PeerDrop::WrongVni)
    );
    let hello = ctl(ControlKind::Hello, 1, 1);
    assert_eq!(p.on_control(vni(), spoof, hello, 1), Err(PeerDrop::Spoofed));
    assert_eq!(p.counters.rx_data, 2);
    assert_eq!(p.counters.dropped_spoofed, 2);
    assert_eq!(p.counters.dropped_wrong_vni, 1);
    assert_eq!(p.state(), State::Down, "data does not bring the wire up");
}

#[test]
fn hello_keepalive_dead() {
    let mut p = peer(true);
    // Down: a hello at once, then every second.
    assert_eq!(p.next_deadline(), Some(0));
    assert_eq!(p.poll(0), Some(Action::Send(ctl(ControlKind::Hello, 7, 1))));
    assert_eq!(p.poll(S / 2), None);
    assert_eq!(p.next_deadline(), Some(S));
    assert_eq!(p.poll(S), Some(Action::Send(ctl(ControlKind::Hello, 7, 2))));
    // The peer's hello: up, and answered at once.
    let ev = p.on_control(vni(), from(1), ctl(ControlKind::Hello, 3, 10), S + 1);
    assert_eq!(ev, Ok(Some(Event::Up)));
    assert_eq!(p.state(), State::Up);
    assert_eq!(p.remote_epoch(), Some(3));
    assert_eq!(p.next_deadline(), Some(0));
    assert_eq!(
        p.poll(S + 1),
        Some(Action::Send(ctl(ControlKind::Keepalive, 7, 3)))
    );
    assert_eq!(p.poll(S + 2), None);
    // Up: keepalives every second even while data flows.
    p.accept_data(vni(), from(2), 2 * S).unwrap();
    assert_eq!(
        p.poll(2 * S + 1),
        Some(Action::Send(ctl(ControlKind::Keepalive, 7, 4)))
    );
    // Data proves liveness; silence for 10 s kills.
    assert_eq!(p.next_deadline(), Some(3 * S + 1));
    for t in 3..12 {
        assert!(matches!(p.poll(t * S + 1), Some(Action::Send(_))));
    }
    assert_eq!(p.poll(12 * S), Some(Action::Dead));
    assert_eq!(p.state(), State::Down);
    assert_eq!(p.counters.peer_deaths, 1);
    // Back to hellos.
    assert_eq!(
        p.poll(13 * S),
        Some(Action::Send(ctl(ControlKind::Hello, 7, 14)))
    );
    // Its keepalive brings it back.
    let ev = p.on_control(vni(), from(1), ctl(ControlKind::Keepalive, 3, 11), 13 * S);
    assert_eq!(ev, Ok(Some(Event::Up)));
}

#[test]
fn epochs_restart_and_old() {
    let mut p = peer(true);
    let k = |e, s| ctl(ControlKind::Keepalive, e, s);
    assert_eq!(
        p.on_control(vni(), from(1), k(5, 100), 0),
        Ok(Some(Event::Up))
    );
    assert_eq!(p.on_control(vni(), from(1), k(5, 101), 0), Ok(None));
    // A restart: new epoch, its sequence starts anywhere.
    assert_eq!(
        p.on_control(vni(), from(1), k(6, 1), 0),
        Ok(Some(Event::Restarted))
    );
    assert_eq!(p.counters.peer_restarts, 1);
    // The old incarnation's late keepalive: dropped.
    assert_eq!(
        p.on_control(vni(), from(1), k(5, 102), 0),
        Err(PeerDrop::OldEpoch)
    );
    assert_eq!(p.counters.dropped_old_epoch, 1);
    assert_eq!(p.remote_epoch(), Some(6));
    // Serial arithmetic: epoch 0 after u32::MAX is newer.
    let mut q = peer(true);
    q.on_control(vni(), from(1), k(u32::MAX, 1), 0).unwrap();
    assert_eq!(
        q.on_control(vni(), from(1), k(0, 1), 0),
        Ok(Some(Event::Restarted))
    );
    assert_eq!(
        q.on_control(vni(), from(1), k(u32::MAX, 2), 0),
        Err(PeerDrop::OldEpoch)
    );
}

#[test]
fn loss_and_reorder_from_control_sequence() {
    let mut p = peer(true);
    let k = |s| ctl(ControlKind::Keepalive, 1, s);
    p.on_control(vni(), from(1), k(10), 0).unwrap();
    p.on_control(vni(), from(1), k(11), 0).unwrap();
    p.on_control(vni(), from(1), k(15), 0).unwrap(); // 12..14 lost
    assert_eq!(p.counters.control_lost, 3);
    assert_eq!(p.on_control(vni(), from(1), k(13), 0), Err(PeerDrop::Stale));
    assert_eq!(p.on_control(vni(), from(1), k(15), 0), Err(PeerDrop::Stale));
    assert_eq!(p.counters.control_stale, 2);
    // Wrapping sequence.
    let mut q = peer(true);
    q.on_control(vni(), from(1), k(u32::MAX), 0).unwrap();
    q.on_control(vni(), from(1), k(1), 0).unwrap(); // 0 lost
    assert_eq!(q.counters.control_lost, 1);
    assert_eq!(q.counters.rx_control, 2);
}

#[test]
fn close_both_ways() {
    let mut p = peer(true);
    p.on_control(vni(), from(1), ctl(ControlKind::Keepalive, 1, 1), 0)
        .unwrap();
    let ev = p.on_control(vni(), from(1), ctl(ControlKind::Close, 1, 2), 0);
    assert_eq!(ev, Ok(Some(Event::Closed)));
    assert_eq!((p.state(), p.counters.peer_closes), (State::Down, 1));
    // A keepalive sent before the close and delivered after it is stale.
    let late = ctl(ControlKind::Keepalive, 1, 1);
    assert_eq!(p.on_control(vni(), from(1), late, 0), Err(PeerDrop::Stale));
    // Our close: one Close, then silence.
    assert_eq!(p.close(S), Some(ctl(ControlKind::Close, 7, 1)));
    assert_eq!(p.state(), State::Closed);
    assert_eq!(p.poll(100 * S), None);
    assert_eq!(p.next_deadline(), None);
    assert_eq!(p.close(S), None);
    // Control still counted but changes nothing.
    let ev = p.on_control(vni(), from(1), ctl(ControlKind::Hello, 2, 1), 0);
    assert_eq!(ev, Ok(Some(Event::Restarted)));
    assert_eq!(p.state(), State::Closed);
}

#[test]
fn standard_vtep_peer_sends_no_control() {
    let mut p = peer(false);
    assert_eq!(p.poll(0), None);
    assert_eq!(p.poll(100 * S), None);
    assert_eq!(p.next_deadline(), None);
    assert_eq!(p.close(0), None);
    let mut q = peer(false);
    assert_eq!(q.accept_data(vni(), from(1), 0), Ok(()));
    assert_eq!(q.counters.iter().count(), 11);
}
