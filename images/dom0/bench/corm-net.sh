#!/bin/sh
# Guest <-> lab peer figures for the paths a Corm competes with, measured in this one
# boot, one path at a time, printed as `BANANA-FIGURE key=value`:
#   std     guest vif -> dom0 netback -> dom0 bridge stdbr -> dom0's e1000 (00:06.0)
#   dd      guest vif -> netback in a Linux driver domain -> its bridge -> e1000
#           passed through to it (00:07.0)
#   banana  guest vif -> Spike -> local wire -> Corm owning the e1000 00:03.0
# Each path: one Linux PV guest (job net, banana.ip=dhcp from the peer 10.77.0.1,
# banana.iperf=1) measures RUNS times in a row: iperf3 -c 10.77.0.1 for IPERF_S s
# (tx = guest sends) and -R (rx), then 20 pings 0.2 s apart (avg RTT).
#   corm_<path>_{tx_mbit,rx_mbit,rtt_ms}_{runs,median,spread}
#   corm_dd_ready_s                 xl create of the driver domain -> DD-READY
#   corm_banana_create_to_link_up_s  `banana corm create` (incl. xl) -> CORM-LINK-UP seen
#   corm_banana_boot_to_link_up_ms   the Corm's first instruction -> link up (its own clock)
#   corm_banana_{image_bytes,memory_mib,nic}  footprint and what it drove
#   corm_ratio_{dd,banana}_over_std_{tx,rx,rtt}, corm_ratio_banana_over_dd_*
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/bench/common.sh"
BAD_RE=
RUNS=${RUNS:-5}
IPERF_S=${IPERF_S:-5}
problems=
problem() { log "PROBLEM: $*"; problems="$problems $*;"; }
lab_net_ok || fail "this run has no lab network (see run-xen.sh's output at boot): nothing to measure"

gone() {
	for g in "$@"; do exists "$g" && xl destroy "$g" 2>/dev/null; done
	for g in "$@"; do wait_gone "$g" 60; done
}

# measure PATH VIF MAC: one guest on VIF, RUNS measurements; sets TX RX RTT (lists)
measure() {
	TX= RX= RTT=
	g=cn-$1-g
	if ! try_create $g linux-pv "extra=\"console=hvc0 quiet banana.job=net banana.ip=dhcp banana.peer=$LAB_PEER banana.iperf=1 banana.iperf_s=$IPERF_S banana.iperf_runs=$RUNS\"" \
		"vif=['$2,mac=$3']"; then
		sed 's/^/    /' "$BANANA_WORK/create-$g.log"
		problem "$1: xl create $g failed"
		return
	fi
	if ! seen $g 'GUEST-NET-OK n=1' 'panicked at|GUEST-FAIL' 180; then
		problem "$1: $g never reached $LAB_PEER (last lines: $(console $g | tail -n 3 | tr '\n' '|'))"
		gone $g
		return
	fi
	log "$1: $(console $g | grep -m 1 '^GUEST-ADDR'); measuring ($RUNS x iperf3 ${IPERF_S}s both ways + 20 pings); dom0 sleeps"
	sleep $((RUNS * (2 * IPERF_S + 6)))
	wait_lines $g '^GUEST-RTT ' "$RUNS" $((RUNS * 40 + 60)) ||
		problem "$1: $g printed $(console $g | grep -c '^GUEST-RTT ') of $RUNS GUEST-RTT lines"
	for v in $(console $g | sed -n 's/^GUEST-IPERF3 dir=tx mbit_s=//p'); do
		case $v in FAIL) problem "$1: iperf3 tx failed" ;; *) TX="$TX $v" ;; esac
	done
	for v in $(console $g | sed -n 's/^GUEST-IPERF3 dir=rx mbit_s=//p'); do
		case $v in FAIL) problem "$1: iperf3 rx failed" ;; *) RX="$RX $v" ;; esac
	done
	for v in $(console $g | sed -n 's/^GUEST-RTT avg_ms=//p'); do
		case $v in FAIL) problem "$1: ping failed" ;; *) RTT="$RTT $v" ;; esac
	done
	log "$1: tx$TX Mbit/s; rx$RX Mbit/s; rtt$RTT ms"
	gone $g
}

# ---- the paths: path_<P>_up sets VIF (the guest's vif= spec) and MAC, or returns 1
path_std_up() {
	std_up stdbr
	VIF="bridge=stdbr,script=$(vif_script)" MAC=00:16:3e:77:02:06
}
path_std_down() { std_down stdbr; }

path_dd_up() {
	dd_t0=$(now)
	dd_up cn-dd xenbr0
	fig corm_dd_ready_s "$(since "$dd_t0")"
	VIF="backend=cn-dd,bridge=xenbr0,script=vif-banana" MAC=00:16:3e:77:02:07
}
path_dd_down() { dd_down cn-dd; }

# path_banana_up: the guest's vif served by Spike cn-sp, wired to endpoint 0 of
# Corm cn-corm, which owns the e1000 00:03.0 by passthrough (all through banana).
# Figures: the Corm's image size and memory, and xl create -> CORM-LINK-UP.
path_banana_up() {
	. "$BANANA_ROOT/corm.sh"
	cb_t0=$(now)
	corm_up cn-corm corm-e1000 1
	fig corm_banana_create_to_link_up_s "$(since "$cb_t0")"
	fig corm_banana_boot_to_link_up_ms "$(console cn-corm | sed -n 's/^CORM-LINK-UP ms=//p' | head -n 1)"
	fig corm_banana_image_bytes "$(wc -c < "$BANANA_ROOT/domains/corm-domain")"
	fig corm_banana_memory_mib "$(xl list cn-corm | awk 'NR == 2 { print $3 }')"
	fig corm_banana_nic "$(console cn-corm | sed -n 's/^CORM-NIC \([^ ]*\) kind=\([^ ]*\).* irq=\([^ ]*\).*/\1,\2,\3/p' | head -n 1)"
	corm_spike cn-corm cn-sp 0
	VIF="backend=cn-sp" MAC=00:16:3e:77:02:03
}
path_banana_down() {
	banana spike destroy cn-sp > /dev/null 2>&1
	banana corm destroy cn-corm > /dev/null 2>&1
	gone cn-sp cn-corm
}

for P in std dd banana; do
	log "---- path $P"
	VIF= MAC=
	path_${P}_up || { log "path $P: not measured"; continue; }
	measure $P "$VIF" "$MAC"
	path_${P}_down
	fig corm_${P}_tx_mbit_runs "$(csv "$TX")"
	fig corm_${P}_rx_mbit_runs "$(csv "$RX")"
	fig corm_${P}_rtt_ms_runs "$(csv "$RTT")"
	for q in TX:tx_mbit RX:rx_mbit RTT:rtt_ms; do
		eval "l=\$${q%%:*}"
		m=$(echo "$l" | median)
		eval "M_${P}_${q%%:*}=$m"
		fig corm_${P}_${q#*:}_median "$m"
		fig corm_${P}_${q#*:}_spread "$(echo "$l" | spread)"
	done
done

# ---- ratios (medians)
for q in TX:tx RX:rx RTT:rtt; do
	v=${q%%:*} k=${q#*:}
	eval "s=\${M_std_$v:-none} d=\${M_dd_$v:-none} b=\${M_banana_$v:-none}"
	fig corm_ratio_dd_over_std_$k "$(ratio "$d" "$s")"
	if [ "$b" != none ]; then
		fig corm_ratio_banana_over_std_$k "$(ratio "$b" "$s")"
		fig corm_ratio_banana_over_dd_$k "$(ratio "$b" "$d")"
	fi
done
[ -z "$problems" ] || fail "$problems"
pass
