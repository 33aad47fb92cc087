#!/bin/sh
# Attacks from the physical network against guests behind a Corm (issue 9, A).
# dom0's own lab NIC (the std e1000 on the lab segment) is the attacker: it
# sends crafted frames with banana-lab (lab-tools/) toward guests g1 and g2,
# each on its own Spike wired to Corm c-att, which owns the corm-e1000 NIC.
# After each attack both guests must still answer dom0's pings and no wire
# may have been torn down; the counters must show what happened.
#   merge burst: 45 back-to-back segments of one TCP flow plus a short one,
#     which receive coalescing used to merge into a 65,549-byte frame that no
#     wire record held: the Corm tore the wire down for good (A.1).
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-WIRE-ERROR'
command -v banana-lab > /dev/null || fail "no banana-lab in this dom0 (images/build.sh)"
G1_MAC=00:16:3e:00:0a:01 G2_MAC=00:16:3e:00:0a:02
G1_IP=10.77.0.51 G2_IP=10.77.0.52 ME_IP=10.77.0.9

corm_up c-att corm-e1000 2
corm_spike c-att s1-att 0
corm_spike c-att s2-att 1
net_guest g1 s1-att $G1_IP "$LAB_PEER" $G1_MAC
net_guest g2 s2-att $G2_IP "$LAB_PEER" $G2_MAC
for sp in s1-att s2-att; do
	wait_console $sp 'SPIKE-VIF-CONNECTED' 90
	wait_console $sp 'SPIKE-WIRE-UP' 60
done
wait_count c-att '^CORM-ENDPOINT-UP' 2 30
wait_console g1 'GUEST-NET-OK n=1' 90
wait_console g2 'GUEST-NET-OK n=1' 90

std_up
ip addr add $ME_IP/24 dev $STD_BR || fail "cannot put $ME_IP on $STD_BR"
ME_MAC=$(cat "/sys/class/net/$STD_IF/address")

# reachable IP: dom0 pings it (3 tries in 10 s)
reachable() {
	t=0
	while [ $t -lt 5 ]; do
		ping -c 1 -W 2 "$1" > /dev/null 2>&1 && return 0
		t=$((t + 1))
	done
	return 1
}
# wire_downs: how often the Corm's offerers left Connected so far
wire_downs() { console c-att | grep -c 'offerer Connected ->' || true; }
# vif_counter SPIKE GUEST NAME: a counter the Spike published for the guest's vif
vif_counter() {
	xs_read "/local/domain/$(domid "$1")/data/banana/vif/$(domid "$2")/0/$3"
}

for ip in $G1_IP $G2_IP; do reachable $ip || fail "dom0 cannot ping $ip before any attack"; done
downs0=$(wire_downs)

# ---- A.1: the merge burst, to g1 and to the broadcast address --------------
sleep 2 # let the counters publish
rx0=$(vif_counter s1-att g1 rx_bytes)
for dst in $G1_MAC ff:ff:ff:ff:ff:ff; do
	banana-lab --iface "$STD_IF" burst --dst-mac $dst --src-mac "$ME_MAC" \
		--dst-ip $G1_IP --src-ip $ME_IP --repeat 3 || fail "banana-lab burst failed"
done
for ip in $G1_IP $G2_IP; do
	reachable $ip || fail "merge burst: $ip no longer answers (wire torn down?)"
done
[ "$(wire_downs)" = "$downs0" ] || fail "merge burst: the Corm tore a wire down ($(wire_downs) times)"
sleep 3 # one publication period
rx1=$(vif_counter s1-att g1 rx_bytes)
log "merge burst: g1's vif rx_bytes $rx0 -> $rx1; wire counters: $(
	for k in rx-frames tx-too-large wire-errors; do
		printf '%s=%s ' $k "$(xs_read "/local/domain/$(domid c-att)/data/banana/wire/$(
			xenstore-ls "/local/domain/$(domid c-att)/data/banana/wire" 2>/dev/null | sed -n 's/^\([0-9]*\) =.*/\1/p' | head -n 1
		)/counters/$k")"
	done)"
[ $((${rx1:-0} - ${rx0:-0})) -ge $((3 * 65000)) ] ||
	fail "merge burst: g1's vif received $((${rx1:-0} - ${rx0:-0})) bytes, expected the bursts (>= 195000)"

no_bad c-att s1-att s2-att g1 g2
std_down
xl destroy g1; xl destroy g2
banana_ok spike destroy s1-att
banana_ok spike destroy s2-att
corm_down c-att
pass
