#!/bin/sh
# VLANs on one Corm: endpoint 0 on VLAN 10, endpoint 1 on VLAN 20. Guests on the
# two endpoints share one IP subnet on purpose; each reaches its own VLAN's peer
# in the lab (10.77.30.1 on VLAN 10, 10.77.30.2 on VLAN 20, tagged on the NIC)
# and neither the other guest nor the other VLAN's peer. Then dom0's std NIC
# storms VLAN 10 with 3000 broadcasts from forged sources (issue 9, A.2): the
# Corm rate-limits VLAN 10's floods, VLAN 20's guest keeps its peer throughout.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR'
lab_vlan_ok || fail "this run has no VLAN 10/20 peers in its lab network"
# Storm control at 200/64 (--flood): dom0 in nested TCG sends a storm at
# about 600 frames/s, under the default 1000/s.
corm_up c-vlan corm-e1000 2 --vlan 0=10 --vlan 1=20 --flood 200/64
wait_console c-vlan '^CORM-FLOOD-LIMIT rate=200 burst=64' 5
corm_spike c-vlan sv10 0 00:16:3e:00:0a:0a
corm_spike c-vlan sv20 1 00:16:3e:00:14:14
net_guest v10 sv10 10.77.30.11 "$LAB_VLAN10_PEER" 00:16:3e:00:0a:0a "banana.probe=10.77.30.12+$LAB_VLAN20_PEER"
net_guest v20 sv20 10.77.30.12 "$LAB_VLAN20_PEER" 00:16:3e:00:14:14 "banana.probe=10.77.30.11+$LAB_VLAN10_PEER"
wait_count c-vlan '^CORM-ENDPOINT-UP' 2 90
wait_console v10 'GUEST-NET-OK n=1' 120
wait_console v20 'GUEST-NET-OK n=1' 120
for g in v10 v20; do
	wait_count $g '^GUEST-PROBE ip=' 2 30
done
sleep 10 # the probes keep running: a later success would show up now
for p in "v10 10.77.30.12" "v10 $LAB_VLAN20_PEER" "v20 10.77.30.11" "v20 $LAB_VLAN10_PEER"; do
	set -- $p
	console $1 | grep -q "^GUEST-PROBE ip=$2 ok" && fail "$1 reached $2 across VLANs"
	console $1 | grep -q "^GUEST-PROBE ip=$2 fail" || fail "$1 never reported its probe of $2"
done
log "v10 reaches 10.77.30.1 only, v20 reaches 10.77.30.2 only"

command -v banana-lab > /dev/null || fail "no banana-lab in this dom0 (images/build.sh)"
std_up
lost0=$(console v20 | grep -c 'GUEST-NET-LOST' || true)
flood0=$(corm_counter c-vlan switch/counters/dropped_flood_limit)
banana-lab --iface "$STD_IF" flood --dst-mac ff:ff:ff:ff:ff:ff --vid 10 --count 3000 ||
	fail "banana-lab flood failed"
sleep 5 # five of v20's pings, and a counter refresh
flood1=$(corm_counter c-vlan switch/counters/dropped_flood_limit)
lost1=$(console v20 | grep -c 'GUEST-NET-LOST' || true)
log "VLAN 10 storm: dropped_flood_limit $flood0 -> $flood1, v20 lost its peer $((lost1 - lost0)) times"
[ "${flood1:-0}" -gt "${flood0:-0}" ] || fail "VLAN 10 storm: no flood was rate-limited ($flood0 -> $flood1)"
[ "$lost1" = "$lost0" ] || fail "VLAN 10 storm: v20 lost its VLAN 20 peer"
last=$(console v10 | grep -E '^GUEST-NET-(OK|LOST)' | tail -n 1)
case $last in GUEST-NET-OK*) ;; *) wait_console v10 "GUEST-NET-OK n=$((${last##*n=} + 1))" 30 ;; esac
std_down
no_bad c-vlan sv10 sv20 v10 v20
xl destroy v10; xl destroy v20
banana_ok spike destroy sv10
banana_ok spike destroy sv20
corm_down c-vlan
pass
