#!/bin/sh
# A tunnel wire between two Corms (issue 12): encap-wire's two hosts, with both
# Corms made with WireGuard keys (--tunnel-key) and the wire made with --tunnel,
# so its Geneve travels inside WireGuard between the Corms' tunnel addresses.
# Corm c-ta ("host A", corm-e1000e, underlay 10.77.0.45/24) has one untagged
# endpoint on the lab's segment; Corm c-tb ("host B", corm-e1000, 10.77.0.46/24)
# serves guest gt through Spike s-tb on local VLAN 40, whose only way out is the
# tunnel wire corm:c-tb/1 <-> corm:c-ta/0.
# Proves: both Corms take their keys (and delete them from xenstore), complete a
# WireGuard handshake and bring the wire's control up through it; gt gets its
# DHCP lease from host A's segment at MTU 1390, pings the lab peer and runs iperf3
# both ways (BANANA-FIGURE tunnel_*); both Corms count sessions, sealed data and
# no drops of authentic traffic; and the lab's own capture, decoded by tshark's
# WireGuard dissector, shows handshake initiation, response and transport data
# between the two underlay addresses and not one Geneve packet between them in
# clear. Host A's key is rotated (banana corm rekey): host B is told and takes
# it in place, a new session carries the wire's control within seconds
# (BANANA-FIGURE tunnel_rekey_gap_s) and neither end declares the wire dead.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-WIRE-ERROR|GUEST-MTU-FAIL|CORM-CONFIG-ERROR'
GT_MAC=00:16:3e:00:0d:01 A_UL=10.77.0.45 B_UL=10.77.0.46 ME_IP=10.77.0.9
command -v banana > /dev/null || fail "no banana controller in this dom0"
# What explains a failure: both Corms' view of the wire.
diag() {
	for c in c-ta c-tb; do
		echo "corm $c:"
		counters_flat $c | grep -E '^(wireguard|underlay|tunnel)/' | grep -v ' 0$'
	done
}
FAIL_HOOK=diag

corm_up c-ta corm-e1000e 1 --underlay $A_UL/24 --tunnel-key
corm_wireguard c-ta 1
first_key=$WG_PUBLIC
corm_up c-tb corm-e1000 2 --underlay $B_UL/24 --vlan 0=40 --vlan 1=40 --local-vlan 40 --tunnel-key
corm_wireguard c-tb 1
for c in c-ta c-tb; do
	wait_console $c '^CORM-WIREGUARD-UP address=100\.' 5
	log "corm $c: $(console $c | grep -m 1 '^CORM-WIREGUARD-UP')"
done
corm_spike c-tb s-tb 0 $GT_MAC
corm_encap_wire c-tb/1 c-ta/0 --tunnel
wire=$WIRE
grep -q "geneve in wireguard" "$BANANA_WORK/banana.out" || fail "banana wire connect --tunnel did not make a tunnel wire"

lab_guest gt "backend=s-tb" $GT_MAC "banana.mtu=1390 banana.iperf=1 banana.iperf_s=5"
wait_console s-tb 'SPIKE-VIF-CONNECTED' 90
wait_console s-tb 'SPIKE-WIRE-UP' 60
wait_console gt '^GUEST-MTU 1390 on eth0' 30
wait_console gt '^GUEST-DHCP-LEASE 10\.77\.0\.' 120
log "gt: $(console gt | grep -m 1 '^GUEST-DHCP-LEASE') (from host A's segment, through the tunnel wire)"
wait_console gt 'GUEST-NET-OK n=1' 60
wait_console gt '^GUEST-RTT ' 180
for d in tx rx; do
	guest_iperf gt $d "between gt and the lab peer through the tunnel wire"
	echo "BANANA-FIGURE tunnel_iperf_${d}_mbit=$IPERF"
done
echo "BANANA-FIGURE tunnel_rtt_ms=$(console gt | sed -n 's/^GUEST-RTT avg_ms=//p' | head -n 1)"
sleep 2 # the counter page is refreshed every second
for c in c-ta c-tb; do
	for k in tunnel/$wire/counters/rx_frames tunnel/$wire/counters/tx_frames wireguard/sessions \
		wireguard/rx_data wireguard/tx_data; do
		v=$(corm_counter $c "$k")
		[ "${v:-0}" -gt 0 ] || fail "$c: $k is '$v', expected > 0"
		log "corm $c $k=$v"
	done
	for k in wireguard/dropped_unauthentic wireguard/dropped_bad_handshake underlay/dropped_clear \
		underlay/dropped_wrong_peer; do
		v=$(corm_counter $c "$k")
		[ "${v:-0}" -eq 0 ] || fail "$c: $k is '$v', expected 0"
	done
done
banana_ok status
grep -Eq "^$wire +corm:c-tb/1 +corm:c-ta/0 +configured +up +up" "$BANANA_WORK/banana.out" ||
	fail "banana status does not show wire $wire configured with both Corms reporting up"

# ---- host A's key rotated (banana corm rekey): host B is told and takes the
# new key in place, new sessions are made, the wire never goes down
s0=$(corm_counter c-tb wireguard/sessions)
banana_ok corm rekey c-ta
grep -qF "(tunnel wires told: $wire)" "$BANANA_WORK/banana.out" || fail "banana corm rekey did not tell wire $wire's other Corm"
T0=$(now)
wait_console c-ta '^CORM-WIREGUARD-REKEYED' 30
corm_wireguard c-ta 1
[ "$WG_PUBLIC" != "$first_key" ] || fail "c-ta's key did not change"
# host B takes the new key in place (the wire keeps its state)
key_re=$(printf '%s' "$WG_PUBLIC" | sed 's/[+.]/\\&/g')
wait_console c-tb "^CORM-TUNNEL-PEER-KEY wire=$wire public-key=$key_re" 30
i=0
until [ "$(corm_counter c-tb wireguard/sessions)" -gt "${s0:-0}" ]; do
	[ $i -lt 30 ] || fail "no new WireGuard session on host B within 30 s of the rotation"
	sleep 1
	i=$((i + 1))
done
echo "BANANA-FIGURE tunnel_rekey_gap_s=$(since "$T0")"
# the wire's control (a keepalive a second each way, inside WireGuard) goes on
for c in c-ta c-tb; do
	r0=$(corm_counter $c "tunnel/$wire/counters/rx_control")
	sleep 3
	r1=$(corm_counter $c "tunnel/$wire/counters/rx_control")
	[ "${r1:-0}" -gt "${r0:-0}" ] || fail "$c: nothing through the wire after the rotation (rx_control $r0 -> $r1)"
done
sleep 8 # past the 10 s dead time since the rotation: neither end lost the other
for c in c-ta c-tb; do
	! console $c | grep -q "^CORM-TUNNEL-PEER-DEAD wire=$wire" || fail "$c declared the wire dead after the rotation"
done

# What crossed the lab's segment, as tshark decodes it.
std_up
ip addr replace $ME_IP/24 dev $STD_BR || fail "cannot put $ME_IP on $STD_BR"
lab_ask wg-flows
sed 's/^/    /' "$LAB_ANSWER"
for t in 1 2; do
	grep -Eq "^WG ($A_UL -> $B_UL|$B_UL -> $A_UL) type $t " "$LAB_ANSWER" ||
		fail "tshark saw no WireGuard message of type $t between $A_UL and $B_UL"
done
for f in "$A_UL -> $B_UL" "$B_UL -> $A_UL"; do
	grep -q "^WG $f type 4 " "$LAB_ANSWER" || fail "tshark saw no WireGuard transport data $f"
	! grep -q "^GENEVE $f " "$LAB_ANSWER" || fail "Geneve in clear $f: $(grep "^GENEVE $f " "$LAB_ANSWER")"
done

no_bad c-ta c-tb s-tb gt
xl destroy gt
banana_ok spike destroy s-tb
corm_down c-tb
wait_console c-ta "^CORM-TUNNEL-PEER-CLOSED wire=$wire" 20
corm_down c-ta
pass
