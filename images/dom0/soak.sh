#!/bin/sh
# Soak (issue 9 D.21; `./run-xen.sh soak [MIN]`, not in CI): SOAK_MIN minutes of
# mixed traffic with wire and vif churn through a Corm, watching the domains'
# resource gauges for leaks.
#   traffic: g1 (on Spike s1-soak) runs iperf3 against the lab peer in a loop,
#     both directions; g2 (on s2-soak) pings g1 every second through the Corm.
#   churn, in rounds of ROUND_S seconds: g2's vif is detached and attached again
#     (vif churn on s2-soak) and s1-soak's wire is disconnected and connected
#     again (wire churn: new rings, grants, event channel on both sides).
#   gauges (in each domain's counter page, refreshed every second; read with
#   `banana counters`, lib.sh counters_flat): mem/heap_bytes,
#     mem/frames_free, mem/grants_free, wire-pages-retiring. After a warm-up
#     round they must stay flat: a leak of a page or a grant per cycle shows as a
#     steady drop. Printed as SOAK lines and BANANA-FIGURE soak_* keys.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL'
: "${SOAK_MIN:=30}"
ROUND_S=60
G1_MAC=00:16:3e:00:5a:01 G2_MAC=00:16:3e:00:5a:02
G1_IP=10.77.0.61 G2_IP=10.77.0.62
# Allowed drift between the first sample after warm-up and the last one: what a
# churn in flight may hold at the moment of sampling (one wire's rings and
# header pools), far below one page per cycle over the run.
FRAMES_SLACK=160 GRANTS_SLACK=80

corm_up c-soak corm-e1000 2
corm_spike c-soak s1-soak 0 $G1_MAC
corm_spike c-soak s2-soak 1 $G2_MAC
net_guest g1 s1-soak $G1_IP "$LAB_PEER" $G1_MAC \
	"banana.iperf=1 banana.iperf_s=10 banana.iperf_runs=100000"
net_guest g2 s2-soak $G2_IP "$LAB_PEER" $G2_MAC "banana.probe=$G1_IP"
wait_count c-soak '^CORM-ENDPOINT-UP' 2 120
wait_console g1 'GUEST-NET-OK n=1' 90
wait_console g2 'GUEST-NET-OK n=1' 90

DOMS="c-soak s1-soak s2-soak"
KEYS="mem/heap_bytes mem/frames_free mem/grants_free wire-pages-retiring"
# sample N: one SOAK line per domain, values kept in $BANANA_WORK/sample-N-DOM
sample() {
	for d in $DOMS; do
		counters_flat $d > "$BANANA_WORK/gauges-$d"
		line=
		for k in $KEYS; do
			line="$line ${k#*/}=$(awk -v k=$k '$1 == k { print $2 }' "$BANANA_WORK/gauges-$d")"
		done
		echo "$line" > "$BANANA_WORK/sample-$1-$d"
		log "SOAK t=$(($(date +%s) - T0))s round=$1 $d$line"
	done
}
value() { sed -n "s/.* $3=\([0-9]*\).*/\1/p" "$BANANA_WORK/sample-$1-$2"; }

T0=$(date +%s)
END=$((T0 + SOAK_MIN * 60))
round=0
vif_cycles=0 wire_cycles=0
while [ "$(date +%s)" -lt $END ]; do
	round=$((round + 1))
	# vif churn: g2's netfront goes away and comes back on a new device
	# The new device gets the address (GUEST-ADDR); the guest's loop then
	# reports its peer lost or, when the swap was quicker than one of its
	# pings, nothing: so wait for the address, then for the latest report
	# to be GUEST-NET-OK (a loss shows within its 2 s loop).
	n_addr=$(console_count g2 'GUEST-ADDR')
	timeout 60 xl network-detach g2 0 || fail "round $round: xl network-detach g2 0 failed"
	timeout 60 xl network-attach g2 backend=s2-soak mac=$G2_MAC || fail "round $round: xl network-attach g2 failed"
	wait_count g2 'GUEST-ADDR' $((n_addr + 1)) 120
	sleep 3
	i=0
	until console g2 | grep -E 'GUEST-NET-(OK|LOST)' | tail -n 1 | grep -q 'GUEST-NET-OK'; do
		[ $i -lt 120 ] || fail "round $round: g2 did not get its peer back within 120 s of the new vif"
		sleep 1
		i=$((i + 1))
	done
	vif_cycles=$((vif_cycles + 1))
	# wire churn: s1-soak's wire torn down and made again
	ups=$(console c-soak | grep -c '^CORM-ENDPOINT-UP endpoint=0 ' || true)
	banana_ok wire disconnect spike:s1-soak > /dev/null
	banana_ok wire connect corm:c-soak/0 spike:s1-soak > /dev/null
	wait_count c-soak '^CORM-ENDPOINT-UP endpoint=0 ' $((ups + 1)) 120
	wire_cycles=$((wire_cycles + 1))
	sleep $ROUND_S
	sample $round
done
[ $round -ge 3 ] || fail "only $round rounds in ${SOAK_MIN} min: nothing to compare"

log "SOAK $round rounds, $vif_cycles vif and $wire_cycles wire cycles, traffic: $(console g1 | grep -c '^GUEST-IPERF3 ') iperf3 runs, $(console g2 | grep -c "GUEST-PROBE ip=$G1_IP fail" || true) failed g2->g1 probes"
echo "BANANA-FIGURE soak_minutes=$SOAK_MIN"
echo "BANANA-FIGURE soak_vif_cycles=$vif_cycles"
echo "BANANA-FIGURE soak_wire_cycles=$wire_cycles"
leak=
for d in $DOMS; do
	for k in heap_bytes frames_free grants_free wire-pages-retiring; do
		a=$(value 2 $d $k) b=$(value $round $d $k)
		echo "BANANA-FIGURE soak_${d%-soak}_${k}_first=$a"
		echo "BANANA-FIGURE soak_${d%-soak}_${k}_last=$b"
		case $k in
		frames_free) [ $((a - b)) -le $FRAMES_SLACK ] || leak="$leak $d:$k $a->$b" ;;
		grants_free) [ $((a - b)) -le $GRANTS_SLACK ] || leak="$leak $d:$k $a->$b" ;;
		esac
	done
done
[ -z "$leak" ] || fail "resources drift over $round rounds:$leak"
no_bad c-soak s1-soak s2-soak g1 g2
pass
