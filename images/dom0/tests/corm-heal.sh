#!/bin/sh
# A Corm killed mid-ping comes back by itself (issue 9, C.11 and D.20;
# docs/self-healing.md). Corm c-heal owns the corm-e1000e NIC (MSI-X: a killed
# INTx owner can leave dom0 masking a shared line), Spike s-heal serves guest
# gh, which pings the lab peer through it every second. With `banana supervise`
# running, the Corm is destroyed behind banana's back (as a crash that left
# nothing would): supervise must make it again on the same NIC, the Spike's
# wire must come back, and gh's pings must resume, with nothing done in the
# guest or the Spike. Figures: fault to traffic back (dom0 clock) and the
# outage gh saw (its console).
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-FATAL'
command -v banana > /dev/null || fail "no banana controller in this dom0"
MAC=00:16:3e:00:0c:01 IP=10.77.0.61

corm_up c-heal corm-e1000e 1
corm_spike c-heal s-heal 0 $MAC $IP
net_guest gh s-heal $IP "$LAB_PEER" $MAC
wait_console s-heal 'SPIKE-VIF-CONNECTED' 90
wait_console s-heal 'SPIKE-WIRE-UP' 60
wait_console gh 'GUEST-NET-OK n=1' 90

supervise_start
old=$(domid c-heal)
log "destroying c-heal (domid $old) behind banana's back, mid-ping"
T0=$(now)
xl destroy c-heal || fail "xl destroy c-heal failed"
wait_console gh 'GUEST-NET-LOST n=1' 30
# ~10 s before the NIC is assignable again, then a Corm boot and a wire set-up
wait_console gh 'GUEST-NET-OK n=2' 150
gap=$(since "$T0")
echo "BANANA-FIGURE corm_heal_gap_s=$gap"
echo "BANANA-FIGURE corm_heal_guest_outage_s=$(net_outage gh 1)"
new=$(domid c-heal)
[ -n "$new" ] && [ "$new" != "$old" ] || fail "c-heal was not made again (domid '$new', was $old)"
wait_count s-heal 'SPIKE-WIRE-UP' 2 60
supervise_stop
grep -q 'corm c-heal: gone, restarted as domid' "$BANANA_WORK/supervise.log" || fail "supervise did not restart c-heal"
banana_ok status
grep -Eq '^[0-9]+ +corm:c-heal/0 +spike:s-heal +connected' "$BANANA_WORK/banana.out" ||
	fail "banana status does not show the wire connected"
no_bad c-heal s-heal gh
xl destroy gh
banana_ok spike destroy s-heal
corm_down c-heal
pass
