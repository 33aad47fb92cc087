#!/bin/sh
# Network figures, measured in this one boot, printed as `BANANA-FIGURE key=value`.
#
# Two Linux PV guests (same kernel, ramdisk and job: banana.job=net; the second one
# runs iperf3 -c both ways and ping against the first, IPERF_RUNS times in a row
# with banana.iperf_runs) over two paths, RUNS setups each, alternating:
#   spike  each guest's vif served by its own Spike, the Spikes joined by a local
#          wire, all set up with the controller as in tests/spike-wire.sh
#   std    each guest's vif served by dom0's Linux xen-netback, both on the dom0
#          bridge xenbr0 (hotplug: /etc/xen/scripts/vif-banana, busybox sh)
# Every setup is torn down before the next one.
#   net_{spike,std}_{tx,rx}_mbit_*  iperf3 receiver Mbit/s; tx = second guest sends
#   net_{spike,std}_rtt_ms_*        ping avg of 20 pings, 0.2 s apart
#   net_ratio_{tx,rx,rtt}           spike median / std median
#   vif_initwait_{spike,std}_*_s    first guest's `xl create` start -> its vif's
#                                   backend `state` >= 2 (InitWait) in xenstore
#   vif_backend_react_*_median_s    its backend node first seen (state 1, written
#                                   by libxl) -> state >= 2: the backend's own part
# Spike footprint:
#   spike_memory_mib                memory= of images/xl/spike.cfg, which is what
#                                   `banana spike create` uses without --memory
#   spike_min_memory_mib            smallest of MEM_TRIES (tried downwards, stops at
#                                   the first failure) in which a Spike connects a
#                                   guest's vif and the guest pings its peer across
#                                   the wire to a default Spike
#   spike_boot_*_s                  `xl create` (spike.cfg) start -> SPIKE-BOOT
# Clock: dom0 wall clock in µs (lib.sh now). Consoles are polled every 50 ms, the
# backend state every ~50 ms plus two xenstore forks; while iperf3 runs dom0
# sleeps (its only vCPU also runs netback on the std path).
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/bench/common.sh"
BAD_RE=
RUNS=${RUNS:-3}
IPERF_S=${IPERF_S:-10}
IPERF_RUNS=${IPERF_RUNS:-2}
MEM_TRIES=${MEM_TRIES:-12 8 6 4 3}
BOOT_RUNS=${BOOT_RUNS:-5}
SPIKE_BAD='panicked at|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR'
problems=
problem() { log "PROBLEM: $*"; problems="$problems $*;"; }
command -v banana > /dev/null || fail "no banana controller in this dom0"
if [ -x /etc/xen/scripts/vif-banana ]; then VIF_SCRIPT=vif-banana
elif [ -x "$BANANA_ROOT/vif-banana" ]; then VIF_SCRIPT=$BANANA_ROOT/vif-banana
else fail "no vif-banana hotplug script (/etc/xen/scripts or $BANANA_ROOT)"; fi
SPIKE_MEM=$(sed -n 's/^memory *= *\([0-9]*\).*/\1/p' "$BANANA_ROOT/xl/spike.cfg")

# quiet controller call: 1 on failure (output in $BANANA_WORK/banana.out, logged)
bn() {
	log "banana $*"
	if banana "$@" > "$BANANA_WORK/banana.out" 2>&1; then return 0; fi
	sed 's/^/    /' "$BANANA_WORK/banana.out"
	return 1
}

# guest NAME IP PEER MAC VIF [extra args]: a banana.job=net Linux PV guest
guest() {
	try_create "$1" linux-pv "extra=\"console=hvc0 quiet banana.job=net banana.ip=$2/24 banana.peer=$3 $6\"" \
		"vif=['$5,mac=$4']" || { sed 's/^/    /' "$BANANA_WORK/create-$1.log"; return 1; }
}

# spike NAME [--memory M]: banana spike create + SPIKE-BOOT
spike() {
	echo "$1" >> "$BANANA_DOMLIST"
	bn spike create "$@" || return 1
	seen "$1" '^SPIKE-BOOT' "$SPIKE_BAD" 30 || { log "$1: no SPIKE-BOOT (state '$(state "$1")')"; return 1; }
}

# gone NAME...: xl destroy, wait until gone
gone() {
	for g in "$@"; do exists "$g" && xl destroy "$g" 2>/dev/null; done
	for g in "$@"; do wait_gone "$g" 30; done
}

# spikes_gone NAME...: banana spike destroy (falls back to xl destroy)
spikes_gone() {
	for g in "$@"; do
		banana spike destroy "$g" > "$BANANA_WORK/banana.out" 2>&1 ||
			{ log "banana spike destroy $g: $(tr '\n' ' ' < "$BANANA_WORK/banana.out")"; xl destroy "$g" 2>/dev/null; }
	done
	for g in "$@"; do wait_gone "$g" 30; done
}

# be_wait BASE BEFORE TIMEOUT_S: for the vif of a domain not in BEFORE under BASE
# (/local/domain/<backend>/backend/vif), print "T_SEEN T_INITWAIT": when its backend
# node was first seen (libxl writes it with state 1) and when its state was first
# >= 2 (the backend has taken it up); "timeout" if that never happens
be_wait() {
	exec 3<> "$FIFO"
	bi=0 bseen=
	while [ $bi -lt $(($3 * 20)) ]; do
		for bd in $(xenstore-list "$1" 2>/dev/null); do
			case " $2 " in *" $bd "*) continue ;; esac
			bs=$(xs_read "$1/$bd/0/state")
			[ -n "$bseen" ] || [ -z "$bs" ] || bseen=$(now)
			case $bs in [2-6]) echo "$bseen $(now)"; return 0 ;; esac
		done
		read -t 0.05 x <&3 2>/dev/null || :
		bi=$((bi + 1))
	done
	echo timeout
}

# ---- the two paths
SP_TX= SP_RX= SP_RTT= STD_TX= STD_RX= STD_RTT= SP_IW= STD_IW= SP_RE= STD_RE= SP_CB=
collect() { # PATH GUEST: the measured lines of GUEST -> the lists of PATH
	for v in $(console "$2" | sed -n 's/^GUEST-IPERF3 dir=tx mbit_s=//p'); do
		case $v in FAIL) problem "$1: iperf3 tx failed in $2" ;; *) eval "$3_TX=\"\$$3_TX $v\"" ;; esac
	done
	for v in $(console "$2" | sed -n 's/^GUEST-IPERF3 dir=rx mbit_s=//p'); do
		case $v in FAIL) problem "$1: iperf3 rx failed in $2" ;; *) eval "$3_RX=\"\$$3_RX $v\"" ;; esac
	done
	for v in $(console "$2" | sed -n 's/^GUEST-RTT avg_ms=//p'); do
		case $v in FAIL) problem "$1: ping failed in $2" ;; *) eval "$3_RTT=\"\$$3_RTT $v\"" ;; esac
	done
	log "$1 $2: tx $(console "$2" | sed -n 's/^GUEST-IPERF3 dir=tx mbit_s=//p' | tr '\n' ' ')Mbit/s;" \
		"rx $(console "$2" | sed -n 's/^GUEST-IPERF3 dir=rx mbit_s=//p' | tr '\n' ' ')Mbit/s;" \
		"rtt $(console "$2" | sed -n 's/^GUEST-RTT avg_ms=//p' | tr '\n' ' ')ms"
}

# run_path spike|std R: one setup, measurement and teardown
run_path() {
	P=$1 R=$2
	GA=n$P${R}a GB=n$P${R}b SA= SB=
	log "---- $P path, run $R"
	if [ $P = spike ]; then
		SA=nsp${R}a SB=nsp${R}b
		T0=$(now)
		if ! spike $SA; then problem "spike run $R: Spike $SA did not come up"; spikes_gone $SA; return; fi
		SP_CB="$SP_CB $(since "$T0")"
		if ! spike $SB; then problem "spike run $R: Spike $SB did not come up"; spikes_gone $SA $SB; return; fi
		if ! bn wire connect spike:$SA spike:$SB; then problem "spike run $R: wire connect failed"; spikes_gone $SA $SB; return; fi
		VA="backend=$SA" VB="backend=$SB" BASE=/local/domain/$(domid $SA)/backend/vif
	else
		VA="bridge=xenbr0,script=$VIF_SCRIPT" VB=$VA BASE=/local/domain/0/backend/vif
	fi
	BEFORE=$(xenstore-list "$BASE" 2>/dev/null | tr '\n' ' ')
	T0=$(now)
	be_wait "$BASE" "$BEFORE" 60 > "$BANANA_WORK/iw-$GA" &
	BP=$!
	OK=1
	if guest $GA 10.0.0.1 10.0.0.2 00:16:3e:00:00:01 "$VA"; then
		wait $BP
		read -r TS T1 < "$BANANA_WORK/iw-$GA"
		if [ "$TS" = timeout ] || [ -z "$T1" ]; then
			problem "$P run $R: backend of $GA never reached state 2"
		else
			IW=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f\n", b - a }')
			RE=$(awk -v a="$TS" -v b="$T1" 'BEGIN { printf "%.3f\n", b - a }')
			log "$GA: backend state 2 after ${IW}s (${RE}s after its node was seen); xl create returned after $(since "$T0")s"
			if [ $P = spike ]; then SP_IW="$SP_IW $IW" SP_RE="$SP_RE $RE"; else STD_IW="$STD_IW $IW" STD_RE="$STD_RE $RE"; fi
		fi
	else
		kill $BP 2>/dev/null
		problem "$P run $R: xl create $GA failed"
		OK=0
	fi
	if [ $OK = 1 ] && ! guest $GB 10.0.0.2 10.0.0.1 00:16:3e:00:00:02 "$VB" \
		"banana.iperf=1 banana.iperf_s=$IPERF_S banana.iperf_runs=$IPERF_RUNS"; then
		problem "$P run $R: xl create $GB failed"
		OK=0
	fi
	if [ $OK = 1 ] && ! seen $GB 'GUEST-NET-OK n=1' 'panicked at|GUEST-FAIL' 120; then
		problem "$P run $R: $GB never reached $GA (last line '$(console $GB | tail -n 1)')"
		OK=0
	fi
	if [ $OK = 1 ]; then
		log "$GB reaches $GA; measuring ($IPERF_RUNS x iperf3 ${IPERF_S}s both ways + ping); dom0 sleeps"
		sleep $((IPERF_RUNS * (2 * IPERF_S + 6)))
		wait_lines $GB '^GUEST-RTT ' $IPERF_RUNS $((IPERF_RUNS * 40 + 60)) ||
			problem "$P run $R: $GB printed $(console $GB | grep -c '^GUEST-RTT ') of $IPERF_RUNS GUEST-RTT lines"
		if [ $P = spike ]; then
			collect $P $GB SP
			for s in $SA $SB; do
				log "$s counters: $(xenstore-ls "/local/domain/$(domid $s)/data/banana" 2>/dev/null | tr -s ' \n' ' ')"
				b=$(console $s | grep -Ec "$SPIKE_BAD|SPIKE-VIF-ERROR")
				[ "$b" = 0 ] || problem "spike run $R: $s printed $b error lines"
			done
		else
			collect $P $GB STD
			ip -s link show | grep -A 5 -E '^[0-9]+: (vif|xenbr)' | sed 's/^/    /'
		fi
	fi
	gone $GA $GB
	if [ $P = spike ]; then spikes_gone $SA $SB; fi
}

# ---- Spike boot: xl create (spike.cfg) -> SPIKE-BOOT
log "---- Spike boot time, $BOOT_RUNS runs"
SB_T= SB_C=
r=1
while [ $r -le "$BOOT_RUNS" ]; do
	boot_time spk-boot$r spike SPIKE-BOOT
	if [ "$T_BOOT" = fail ]; then problem "Spike boot run $r failed"; else SB_T="$SB_T $T_BOOT" SB_C="$SB_C $T_CREATE"; fi
	r=$((r + 1))
done

# ---- smallest memory= in which a Spike serves a vif and passes traffic
log "---- Spike memory: trying $MEM_TRIES MiB"
MIN=none
for m in $MEM_TRIES; do
	a=nmem${m}a b=nmem${m}b ga=nmg${m}a gb=nmg${m}b ok=0
	if spike $a --memory $m && spike $b && bn wire connect spike:$a spike:$b &&
		guest $ga 10.0.1.1 10.0.1.2 00:16:3e:00:01:01 "backend=$a" &&
		guest $gb 10.0.1.2 10.0.1.1 00:16:3e:00:01:02 "backend=$b"; then
		if seen $a 'SPIKE-VIF-CONNECTED' "$SPIKE_BAD" 90 && seen $ga 'GUEST-NET-OK n=1' 'panicked at' 90; then
			ok=1
		fi
	fi
	if [ $ok = 1 ]; then
		log "memory=$m: Spike $a connected $ga's vif and $ga pings $gb"
		MIN=$m
	else
		log "memory=$m: FAILED (Spike $a state '$(state $a)', last console line '$(console $a | tail -n 1)'; $ga: '$(console $ga | tail -n 1)')"
	fi
	gone $ga $gb
	spikes_gone $a $b
	[ $ok = 1 ] || break
done

# ---- the paths, alternating
if ! brctl addbr xenbr0 || ! ip link set xenbr0 up; then
	fail "cannot set up the dom0 bridge xenbr0"
fi
r=1
while [ $r -le "$RUNS" ]; do
	run_path spike $r
	run_path std $r
	r=$((r + 1))
done
ip link set xenbr0 down
brctl delbr xenbr0

# ---- figures
fig spike_memory_mib "${SPIKE_MEM:-none}"
fig spike_min_memory_mib "$MIN"
[ "$MIN" = none ] && problem "no memory= of $MEM_TRIES worked for a Spike"
fig spike_boot_runs_s "$(csv "$SB_T")"
fig spike_boot_median_s "$(echo "$SB_T" | median)"
fig spike_xl_create_median_s "$(echo "$SB_C" | median)"
fig spike_banana_create_to_boot_median_s "$(echo "$SP_CB" | median)"
fig vif_initwait_spike_runs_s "$(csv "$SP_IW")"
fig vif_initwait_std_runs_s "$(csv "$STD_IW")"
iws=$(echo "$SP_IW" | median) iwd=$(echo "$STD_IW" | median)
fig vif_initwait_spike_median_s "$iws"
fig vif_initwait_std_median_s "$iwd"
fig vif_initwait_ratio_spike_over_std "$(ratio "$iws" "$iwd")"
fig vif_backend_react_spike_median_s "$(echo "$SP_RE" | median)"
fig vif_backend_react_std_median_s "$(echo "$STD_RE" | median)"
for q in TX:tx_mbit RX:rx_mbit RTT:rtt_ms; do
	v=${q%%:*} k=${q#*:}
	eval "sp=\$SP_$v std=\$STD_$v"
	fig net_spike_${k}_runs "$(csv "$sp")"
	fig net_std_${k}_runs "$(csv "$std")"
	ms=$(echo "$sp" | median) md=$(echo "$std" | median)
	fig net_spike_${k}_median "$ms"
	fig net_std_${k}_median "$md"
	fig net_spike_${k}_spread "$(echo "$sp" | spread)"
	fig net_std_${k}_spread "$(echo "$std" | spread)"
	fig net_ratio_${k%%_*} "$(ratio "$ms" "$md")"
done
[ -z "$problems" ] || fail "$problems"
pass
