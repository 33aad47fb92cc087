#!/bin/sh
# Two Linux PV guests, each served by its own Spike, the Spikes joined by a local
# wire, all set up through the controller: ping and iperf3 both ways; a guest
# reboot reconnects; destroying a Spike hurts neither dom0 nor the other guest,
# and recreating it (banana spike create) plus a vif re-attach restores traffic.
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR'
command -v banana > /dev/null || fail "no banana controller in this dom0"
spike_pair_up 'banana.iperf=1 banana.iperf_s=5'
wait_console g2 'GUEST-RTT ' 120
for d in tx rx; do
	r=$(console g2 | sed -n "s/^GUEST-IPERF3 dir=$d mbit_s=//p" | head -n 1)
	awk -v r="$r" 'BEGIN { exit !(r + 0 > 0) }' || fail "iperf3 $d between the guests gave '$r'"
	log "iperf3 g2 $d: $r Mbit/s"
done
banana_ok status
grep -Eq '^[0-9]+ +spike:sp1 +spike:sp2 +connected' "$BANANA_WORK/banana.out" || fail "banana status does not show the wire connected"

log "guest reboot: g1 must reconnect"
xl reboot g1 || fail "xl reboot g1 failed"
wait_count g1 '^GUEST-BOOT' 2 90
wait_count g1 'GUEST-NET-OK n=1' 2 90
wait_count sp1 'SPIKE-VIF-CONNECTED' 2 30

log "save/restore: g1 must reconnect"
timeout 120 xl save g1 "$BANANA_WORK/g1.save" || fail "xl save g1 failed"
wait_count sp1 'SPIKE-VIF-REMOVED' 2 30
timeout 120 xl restore "$BANANA_WORK/g1.save" || fail "xl restore g1 failed"
rm -f "$BANANA_WORK/g1.save"
wait_count sp1 'SPIKE-VIF-CONNECTED' 3 60

log "destroy sp2: dom0, sp1 and g1 must be unaffected"
xl destroy sp2 || fail "xl destroy sp2 failed"
wait_console g2 'GUEST-NET-LOST' 30
exists sp1 || fail "sp1 died with sp2"
exists g1 || fail "g1 died with sp2"
case $(state g1) in *c*) fail "g1 crashed" ;; esac
xl list > /dev/null || fail "xl list fails after destroying sp2"
n_ok=$(console g1 | grep -c 'GUEST-NET-OK')
log "recreate sp2 and re-attach g2's vif"
banana_ok spike create sp2
wait_count sp2 '^SPIKE-BOOT' 2 30
timeout 60 xl network-detach g2 0 || fail "xl network-detach g2 0 failed"
timeout 60 xl network-attach g2 backend=sp2 mac=00:16:3e:00:00:02 || fail "xl network-attach g2 failed"
# The new sp2 says hello on the wire once it serves g2's vif and knows its MAC.
wait_count sp1 'SPIKE-WIRE-UP' 2 60
wait_console g2 'GUEST-NET-OK n=2' 90
wait_count g1 'GUEST-NET-OK' $((n_ok + 1)) 60
no_bad sp1 sp2 g1 g2
banana_ok status
pass
