#!/bin/sh
# Network figures, measured in this one boot, printed as `BANANA-FIGURE key=value`.
#
# Two Linux PV guests per path (same kernel, ramdisk and job: banana.job=net); the
# second one (B) measures against the first (A) over two paths:
#   spike  each guest's vif served by its own Spike, the Spikes joined by a local
#          wire, all set up with the controller as in tests/spike-wire.sh
#   std    each guest's vif served by dom0's Linux xen-netback, both on the dom0
#          bridge xenbr0 (hotplug: /etc/xen/scripts/vif-banana, busybox sh)
# Method (as bench/corm-net.sh): RUNS setups; each sets up both paths (Spikes and
# wire, then each path's guest A, timing its vif's backend; then the two B guests),
# then IPERF_RUNS rounds of one slot (SLOT_S s of dom0's clock) per path, spike then
# std, then tears both down. Before a slot the other path's guests (and Spikes) are
# paused (xl pause), so only the slot's path and dom0 run. At a slot's start dom0 samples `xl list` (CPU time per
# domain) and the Spikes' counters, then tells guest B through its console to
# measure (banana.bench=1, images/guest/init): iperf3 -c A -t IPERF_S -O OMIT_S
# (warm-up not counted) both ways, then PINGS pings PING_I s apart. Guests A
# (banana.bench=quiet) and B send nothing outside their slots, so the idle path is
# quiet. dom0 sleeps through the slot and samples again 1.5 s before its end. Before
# the rounds of a setup, IDLE_S s without measurement show (in the log) what each
# domain costs idle.
#   net_{spike,std}_{tx,rx}_mbit_*  iperf3 receiver Mbit/s per round; tx = B sends
#   net_{spike,std}_{tx,rx}_retr_{runs,total}  TCP retransmits of the sender
#   net_{spike,std}_rtt_ms_{median,p90}  p50 / p90 of all pings; _runs, _spread:
#                                   per-round p50s
#   net_{spike,std}_cpu_s_per_gb_{dom0,guests,spikes,path}  CPU seconds over the GB
#                                   B's eth0 moved (path: dom0 + Spikes)
#   net_ratio_{tx,rx,rtt,rtt_p90,cpu}  spike median / std median (rtt: p50)
#   net_spike_ctr_<counter>_{runs,total}  both Spikes' drop / ring-full counter
#                                   deltas over spike slots (DROP_RE of common.sh)
#   vif_initwait_{spike,std}_*_s    guest A's `xl create` start -> its vif's
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
bench_param RUNS 3
bench_param IPERF_RUNS 2
bench_param IPERF_S 8
bench_param OMIT_S 2
bench_param PINGS 100
bench_param PING_I 0.1
bench_param MEM_TRIES "12 8 6 4 3"
bench_param BOOT_RUNS 5
bench_param IDLE_S 15
W=$(awk -v s="$IPERF_S" -v o="$OMIT_S" -v n="$PINGS" -v i="$PING_I" 'BEGIN { printf "%d\n", 2 * (s + o + 6) + int(n * i + 4) }')
bench_param SLOT_S $((W + 6))
W=$BANANA_WORK
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
SP_IW= STD_IW= SP_RE= STD_RE= SP_CB=

# guest_a P R: path P's Spikes (spike) and guest A of setup R, timing its backend;
# sets GA_P, SA/SB (spike), VB_P (guest B's vif spec); 1 when it failed
guest_a() {
	P=$1 R=$2
	GA=n$P${R}a
	if [ $P = spike ]; then
		SA=nsp${R}a SB=nsp${R}b
		T0=$(now)
		if ! spike $SA; then problem "spike setup $R: Spike $SA did not come up"; spikes_gone $SA; SA= SB=; return 1; fi
		SP_CB="$SP_CB $(since "$T0")"
		if ! spike $SB; then problem "spike setup $R: Spike $SB did not come up"; spikes_gone $SA $SB; SA= SB=; return 1; fi
		if ! bn wire connect spike:$SA spike:$SB; then problem "spike setup $R: wire connect failed"; spikes_gone $SA $SB; SA= SB=; return 1; fi
		VA="backend=$SA" VB_spike="backend=$SB" BASE=/local/domain/$(domid $SA)/backend/vif MA=00:16:3e:00:00:01
	else
		VA="bridge=xenbr0,script=$VIF_SCRIPT" VB_std=$VA BASE=/local/domain/0/backend/vif MA=00:16:3e:00:00:11
	fi
	BEFORE=$(xenstore-list "$BASE" 2>/dev/null | tr '\n' ' ')
	T0=$(now)
	be_wait "$BASE" "$BEFORE" 60 > "$W/iw-$GA" &
	BP=$!
	if ! guest $GA 10.0.0.1 10.0.0.2 $MA "$VA" banana.bench=quiet; then
		kill $BP 2>/dev/null
		problem "$P setup $R: xl create $GA failed"
		return 1
	fi
	eval "GA_$P=$GA"
	wait $BP
	read -r TS T1 < "$W/iw-$GA"
	if [ "$TS" = timeout ] || [ -z "$T1" ]; then
		problem "$P setup $R: backend of $GA never reached state 2"
		return 0
	fi
	IW=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f\n", b - a }')
	RE=$(awk -v a="$TS" -v b="$T1" 'BEGIN { printf "%.3f\n", b - a }')
	log "$GA: backend state 2 after ${IW}s (${RE}s after its node was seen); xl create returned after $(since "$T0")s"
	if [ $P = spike ]; then SP_IW="$SP_IW $IW" SP_RE="$SP_RE $RE"; else STD_IW="$STD_IW $IW" STD_RE="$STD_RE $RE"; fi
}

# setup R: both paths up, IPERF_RUNS rounds of slots (spike, std), both torn down
setup() {
	R=$1
	log "---- setup $R: both paths"
	GA_spike= GA_std= GB_spike= GB_std= SA= SB= PTY_spike= PTY_std=
	guest_a spike $R
	guest_a std $R
	pi=0
	for P in spike std; do
		eval "ga=\$GA_$P vb=\$VB_$P"
		if [ -n "$ga" ]; then
			gb=n$P${R}b mb=00:16:3e:00:00:$((pi + 1))2
			if guest $gb 10.0.0.2 10.0.0.1 $mb "$vb" \
				"banana.bench=1 banana.slot_s=$SLOT_S banana.iperf_s=$IPERF_S banana.iperf_omit=$OMIT_S banana.pings=$PINGS banana.ping_i=$PING_I"; then
				eval "GB_$P=$gb"
			else
				problem "$P setup $R: xl create $gb failed"
			fi
		fi
		pi=$((pi + 1))
	done
	for P in spike std; do
		eval "gb=\$GB_$P"
		[ -n "$gb" ] || continue
		if seen $gb '^GUEST-BENCH-READY' 'panicked at|GUEST-FAIL' 180 && pty=$(console_pty $gb) && [ -n "$pty" ]; then
			eval "PTY_$P=$pty"
			log "$P setup $R: $gb reaches 10.0.0.1 and is ready (console $pty)"
		else
			problem "$P setup $R: $gb not ready (last line '$(console $gb | tail -n 1)'); its slots are skipped"
			eval "GB_$P="
		fi
	done
	[ -z "$SA" ] || { IA=$(domid $SA) IB=$(domid $SB); }
	sleep 2
	cpu_snap "$W/idle-$R-a"
	sleep "$IDLE_S"
	cpu_snap "$W/idle-$R-b"
	log "setup $R: idle for ${IDLE_S}s, CPU s used: $(cpu_list "$W/idle-$R-a" "$W/idle-$R-b")"
	: > "$W/slots-$R"
	ALL_DOMS="$GA_spike $GB_spike $SA $SB $GA_std $GB_std"
	rr=1
	while [ $rr -le "$IPERF_RUNS" ]; do
		for P in spike std; do
			eval "gb=\$GB_$P ga=\$GA_$P pty=\$PTY_$P"
			[ -n "$gb" ] || continue
			if [ $P = spike ]; then only $ga $gb $SA $SB; else only $ga $gb; fi
			t=$(awk -v n="$(now)" 'BEGIN { printf "%d\n", n + 2 }')
			sleep_until "$t"
			[ $P = std ] || { ctr_snap "$IA" "$W/ctr-$t-a-a"; ctr_snap "$IB" "$W/ctr-$t-b-a"; }
			cpu_snap "$W/cpu-$t-a"
			bench_go "$pty" "$t" || problem "setup $R round $rr $P: could not write to $gb's console $pty"
			lt=$(late_by "$t")
			sleep_until "$(awk -v t="$t" -v s="$SLOT_S" 'BEGIN { printf "%.1f\n", t + s - 1.5 }')"
			cpu_snap "$W/cpu-$t-b"
			[ $P = std ] || { ctr_snap "$IA" "$W/ctr-$t-a-b"; ctr_snap "$IB" "$W/ctr-$t-b-b"; }
			echo "$t $rr $P $ga $gb $lt" >> "$W/slots-$R"
		done
		rr=$((rr + 1))
	done
	only $ALL_DOMS
	while read -r t rr P ga gb lt <&3; do
		L="setup $R round $rr $P"
		awk -v l="$lt" 'BEGIN { exit !(l > 1.5) }' && problem "$L: dom0 started the slot ${lt}s late"
		slot_read "$L" $gb $t
		[ -z "$SL_TX" ] || eval "TX_$P=\"\$TX_$P $SL_TX\" TXR_$P=\"\$TXR_$P $SL_TXR\""
		[ -z "$SL_RX" ] || eval "RX_$P=\"\$RX_$P $SL_RX\" RXR_$P=\"\$RXR_$P $SL_RXR\""
		echo "$SL_RTT" | awk 'NF' >> "$W/rtt-$P"
		p50=$(echo "$SL_RTT" | pct 50) p90=$(echo "$SL_RTT" | pct 90)
		[ "$p50" = none ] || eval "RTT_$P=\"\$RTT_$P $p50\""
		a=$W/cpu-$t-a b=$W/cpu-$t-b
		c0=$(cpu_used $a $b Domain-0) cg=$(echo "$(cpu_used $a $b $ga) $(cpu_used $a $b $gb)" | sum) cs=none ex=
		if [ $P = spike ]; then
			cs=$(echo "$(cpu_used $a $b $SA) $(cpu_used $a $b $SB)" | sum)
			ex=" spikes $cs; drops/ring-full:"
			for e in a b; do
				ctr_delta "$W/ctr-$t-$e-a" "$W/ctr-$t-$e-b" > "$W/ctrd-$t-$e"
				[ -s "$W/ctrd-$t-$e" ] || problem "$L: no counters from Spike $e (banana counters)"
				[ -z "$(awk '$2 < 0' "$W/ctrd-$t-$e")" ] || problem "$L: Spike $e's counters went backwards (restarted?)"
				awk -v r="$R.$rr" '{ print $1, $2, r }' "$W/ctrd-$t-$e" >> "$W/ctr-spike"
				ex="$ex $e:$(ctr_drops "$W/ctrd-$t-$e")"
			done
		fi
		if [ "$SL_OK" = 1 ]; then
			for x in gb:$SL_GB dom0:$c0 guests:$cg spikes:$cs; do
				case ${x#*:} in none | '') continue ;; esac
				eval "S_${P}_${x%%:*}=\$(echo \"\${S_${P}_${x%%:*}:-0} ${x#*:}\" | sum)"
			done
		fi
		log "$L: tx ${SL_TX:-none} Mbit/s (retr ${SL_TXR:-?}), rx ${SL_RX:-none} (retr ${SL_RXR:-?}), rtt p50 $p50 p90 $p90 ms" \
			"(${SL_GOT:-0}/${SL_SENT:-?}), $SL_GB GB; cpu s: dom0 $c0 guests $cg$ex (all: $(cpu_list $a $b))"
		if [ $P = spike ]; then
			for s in $SA $SB; do
				b=$(console $s | grep -Ec "$SPIKE_BAD|SPIKE-VIF-ERROR")
				[ "$b" = 0 ] || problem "$L: $s printed $b error lines"
			done
		fi
	done 3< "$W/slots-$R"
	[ -z "$GA_std" ] || ip -s link show | grep -A 5 -E '^[0-9]+: (vif|xenbr)' | sed 's/^/    /'
	gone $GA_spike $GB_spike $GA_std $GB_std
	[ -z "$SA" ] || spikes_gone $SA $SB
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

# ---- the paths, interleaved in each setup
if ! brctl addbr xenbr0 || ! ip link set xenbr0 up; then
	fail "cannot set up the dom0 bridge xenbr0"
fi
log "---- $RUNS setups x $IPERF_RUNS rounds of 2 slots of ${SLOT_S}s (~$((RUNS * (IPERF_RUNS * 2 * SLOT_S + 120) / 60)) minutes)"
r=1
while [ $r -le "$RUNS" ]; do
	setup $r
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
for P in spike std; do
	for d in tx rx; do
		eval "l=\${$(echo $d | tr a-z A-Z)_$P:-} rl=\${$(echo $d | tr a-z A-Z)R_$P:-}"
		md=$(echo "$l" | median)
		eval "M_${P}_$d=$md"
		fig net_${P}_${d}_mbit_runs "$(csv "$l")"
		fig net_${P}_${d}_mbit_median "$md"
		fig net_${P}_${d}_mbit_spread "$(echo "$l" | spread)"
		fig net_${P}_${d}_retr_runs "$(csv "$rl")"
		fig net_${P}_${d}_retr_total "$(echo "$rl" | tr ' ' '\n' | grep -E '^[0-9]+$' | tr '\n' ' ' | sum)"
	done
	eval "l=\${RTT_$P:-}"
	p50=$(pct 50 < "$W/rtt-$P" 2>/dev/null || echo none) p90=$(pct 90 < "$W/rtt-$P" 2>/dev/null || echo none)
	eval "M_${P}_rtt=$p50 M_${P}_rtt90=$p90"
	fig net_${P}_rtt_ms_median "$p50"
	fig net_${P}_rtt_ms_p90 "$p90"
	fig net_${P}_rtt_ms_runs "$(csv "$l")"
	fig net_${P}_rtt_ms_spread "$(echo "$l" | spread)"
	eval "gb=\${S_${P}_gb:-0} c0=\${S_${P}_dom0:-0} cs=\${S_${P}_spikes:-0}"
	fig net_${P}_gb "$gb"
	for x in dom0 guests spikes; do
		eval "c=\${S_${P}_$x:-none}"
		[ "$c" = none ] || fig net_${P}_cpu_s_per_gb_$x "$(per_gb "$c" "$gb")"
	done
	c=$(per_gb "$(echo "$c0 $cs" | sum)" "$gb")
	eval "M_${P}_cpu=$c"
	fig net_${P}_cpu_s_per_gb_path "$c"
done
for q in tx:tx rx:rx rtt:rtt rtt_p90:rtt90 cpu:cpu; do
	eval "x=\${M_spike_${q#*:}:-none} y=\${M_std_${q#*:}:-none}"
	fig net_ratio_${q%%:*} "$(ratio "$x" "$y")"
done
if [ -s "$W/ctr-spike" ]; then
	for n in $( (awk -v re="$DROP_RE" '$1 ~ re && $2 != 0 { print $1 }' "$W/ctr-spike"
		echo "wire/tx-queue-full vif/rx_no_buffers vif/tx_sink_full") | tr ' ' '\n' | sort -u); do
		k=$(echo "$n" | tr '/-' '__')
		runs=$(awk -v n="$n" '!($3 in h) { h[$3] = 1; o[++k] = $3 } $1 == n { v[$3] += $2 }
			END { for (i = 1; i <= k; i++) printf "%s%s", (i > 1 ? "," : ""), v[o[i]] + 0; print "" }' "$W/ctr-spike")
		fig net_spike_ctr_${k}_runs "$runs"
		fig net_spike_ctr_${k}_total "$(echo "$runs" | tr ',' ' ' | sum)"
	done
fi
[ -z "$problems" ] || fail "$problems"
pass
