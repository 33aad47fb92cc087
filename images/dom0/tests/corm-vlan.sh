#!/bin/sh
# VLANs on one Corm: endpoint 0 on VLAN 10, endpoint 1 on VLAN 20. Guests on the
# two endpoints share one IP subnet on purpose; each reaches its own VLAN's peer
# in the lab (10.77.30.1 on VLAN 10, 10.77.30.2 on VLAN 20, tagged on the NIC)
# and neither the other guest nor the other VLAN's peer.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR'
lab_vlan_ok || fail "this run has no VLAN 10/20 peers in its lab network"
corm_up c-vlan corm-e1000 2 --vlan 0=10 --vlan 1=20
corm_spike c-vlan sv10 0
corm_spike c-vlan sv20 1
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
no_bad c-vlan sv10 sv20 v10 v20
xl destroy v10; xl destroy v20
banana_ok spike destroy sv10
banana_ok spike destroy sv20
corm_down c-vlan
pass
