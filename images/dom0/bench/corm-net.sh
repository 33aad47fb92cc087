#!/bin/sh
# Guest <-> lab peer figures for the paths a Corm competes with, per NIC model, all
# measured in this one boot, interleaved in rounds; printed as `BANANA-FIGURE key=value`.
#
# Paths, for each MODEL of MODELS (e1000: QEMU 82540EM, INTx; e1000e: 82574L, MSI-X;
# the three paths of one model use the same NIC model, and the bench checks that
# their drivers got the same interrupt kind):
#   std     guest vif -> dom0 netback -> dom0 bridge std-MODEL -> dom0's own NIC
#           (role std 00:06.0 / std-e1000e 00:08.0)
#   dd      guest vif -> netback in a Linux driver domain cn-dd-MODEL -> its bridge ->
#           NIC passed through to it (role dd 00:07.0 / dd-e1000e 00:09.0)
#   banana  guest vif -> Spike cn-sp-MODEL -> local wire -> Corm cn-corm-MODEL owning
#           the NIC (role corm-e1000 00:03.0 / corm-e1000e 00:04.0)
#   encap   (ENCAP_MODEL only) guest vif -> Spike cn-sp-encap-MODEL -> local wire -> the
#           same Corm, endpoint 1 -> its VXLAN wire (endpoint 2, VNI 42, underlay
#           10.77.0.40) -> the same NIC -> the lab's Linux VTEP vx42 -> 10.88.0.1: the
#           encap wire's cost against the banana path on the same Corm and NIC (the
#           guest has MTU 1450 and the static address 10.88.0.61; endpoints 1 and 2 are
#           on VLAN 30, where the lab has no one, so the guest's segment is the tunnel)
#   relay   (ENCAP_MODEL only) two Corms as two hosts: guest vif -> Spike cn-sp-relay ->
#           local wire -> Corm cn-corm-far ("host B", the corm-virtio NIC, underlay
#           10.77.0.46, local VLAN 40) -> a Geneve wire in clear -> the ENCAP_MODEL
#           Corm ("host A", endpoint 3, untagged) -> its NIC -> the lab peer; MTU 1450,
#           DHCP from the lab through host A
#   tunnel  (ENCAP_MODEL only) the same two Corms and NICs, local VLAN 41, through a
#           tunnel wire (Geneve in WireGuard between the Corms' tunnel addresses; host
#           A's endpoint 4); MTU 1390. relay and tunnel differ only in the encryption:
#           Pratio_tunnel_over_relay_* is its price, and _cpu_s_per_gb_corm (both
#           Corms) / _corm_far (host B alone) the Corms' CPU per GB without and with it
#
# Method. Everything is set up first: for each model its three paths (dom0's bridge,
# the driver domain, the Corm and its Spike), then one Linux PV guest per path
# (banana.job=net, DHCP from the peer 10.77.0.1, cn-g-PATH-MODEL, banana.bench=1:
# once it reaches the peer it stops pinging and waits for orders on its console,
# images/guest/init). Then IDLE_S s in which nobody measures (each domain's CPU then
# is logged: under nested TCG an idle domain costs 10-20 % of a CPU), then RUNS
# rounds; a round is one slot per model and path: e1000 std, dd, banana, then e1000e
# std, dd, banana. Before a slot every domain of the other paths (both models) is
# paused (xl pause), so only the slot's path and dom0 run; nothing is torn down
# before the end (destroying a domain that owned an INTx e1000 leaves its line
# screaming: dom0 disables the IRQ). A slot is SLOT_S seconds of dom0's clock. At its
# start dom0 samples `xl list` (the CPU time of every domain) and, in banana slots,
# the counters the Corm and the Spike publish in their counter pages (every 1 s), then writes
# "BENCH-GO <slot>" to the guest's console pty: no clock is shared with the guests
# (wall-clock start times on the guests' command lines were tried first: under nested
# TCG the guests' clocks ran 3-10 s off dom0's, and guests booting at once took
# minutes, so no lead time fitted). The guest runs iperf3 -c peer -t IPERF_S -O OMIT_S
# (warm-up: the first OMIT_S s are not counted) guest -> peer (tx), the same with -R
# (rx), then PINGS pings PING_I s apart; each step has a timeout, so the work ends
# >= 6 s before the slot does. dom0 sleeps through the slot and samples again 1.5 s
# before its end (the counters after the CPU times, outside the window). A slot that
# fails (iperf3 FAIL, no end, overrun) is a PROBLEM line and is left out of CPU per
# GB; everything measured is still printed.
#
# Figures; P = "corm_" for e1000 (the keys earlier runs printed), "corm_e1000e_" for
# e1000e; PATH = std, dd or banana:
# (PATH = encap, relay, tunnel for ENCAP_MODEL too)
#   P<PATH>_{tx,rx}_mbit_{runs,median,spread}  iperf3 receiver Mbit/s, one per round
#   P<PATH>_{tx,rx}_retr_{runs,total}          TCP retransmits of the sender, per round
#   P<PATH>_rtt_ms_{median,p90}                RTT over all pings of all rounds: p50, p90
#   P<PATH>_rtt_ms_{runs,spread}               per-round p50s; P<PATH>_rtt_pings got/sent
#   P<PATH>_gb                                 GB through the guest's eth0 (both ways) in
#                                              the slots counted for CPU
#   P<PATH>_cpu_s_per_gb_{dom0,guest,dd,spike,corm,corm_far}  CPU seconds of that domain
#                                              over those slots / GB (corm: relay and
#                                              tunnel count both hosts' Corms, corm_far
#                                              host B's); _backend: dom0 (std), dd (dd),
#                                              spike + corm (the others); _path: the backend
#                                              plus dom0 (all domains but the guest)
#   P<PATH>_cpu_s_others_median                CPU seconds all the other domains (idle
#                                              guests, the other paths) used in a slot;
#                                              from 1 s on, the slot's log line lists
#                                              every domain's
#   P<PATH>_irq                                the NIC's interrupt kind (INTx, MSI, MSI-X)
#   P{dd,banana}_over_std / Pbanana_over_dd ratios (medians; rtt: p50):
#   Pratio_{dd,banana}_over_std_{tx,rx,rtt,rtt_p90,cpu}, Pratio_banana_over_dd_*,
#   Pratio_encap_over_banana_* (the encap wire against the local wire, same Corm),
#   Pratio_{relay,tunnel}_over_banana_*, Pratio_tunnel_over_{relay,encap}_*
#                                              (cpu: the _path CPU per GB)
#   Pbanana_ctr_{corm,spike}_<counter>_{runs,total}  deltas over banana slots of the
#                                              drop / ring-full counters (DROP_RE); each
#                                              nonzero one, and always nic tx_full,
#                                              wire tx-queue-full, vif rx_no_buffers
#   Pdd_ready_s                                xl create of the driver domain -> DD-READY
#   Pbanana_create_to_link_up_s                `banana corm create` (incl. xl) -> CORM-LINK-UP
#   Pbanana_boot_to_link_up_ms                 the Corm's first instruction -> link up
#   Pbanana_{image_bytes,memory_mib,nic}       Corm footprint and what it drove
#   corm_bench_{slot_s,rounds,iperf_s,omit_s,pings,ping_i}  the method's settings
#   corm_bench_{setup,slots}_s                 setup time (paths and guests), time of the rounds
#   Pidle_cpu_pct_{dom0,guests,dd,spike,corm}  CPU % each used in the idle window
# Settings (environment, or banana.bench=K=V+... on dom0's command line: run-xen.sh
# BANANA_BENCH="RUNS=1 IPERF_S=3"): RUNS (5), IPERF_S (8), OMIT_S (2), PINGS (100),
# PING_I (0.1), MODELS ("e1000 e1000e"), ENCAP_MODEL (e1000e; none: no encap path),
# IDLE_S (15), PIN_CORMS (none), SLOT_S (derived from the others). The run has no underlay capture
# (run-xen.sh bench), which would tax the encap path only.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/bench/common.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE=
problems=
problem() { log "PROBLEM: $*"; problems="$problems $*;"; }
bench_param RUNS 5
bench_param IPERF_S 8
bench_param OMIT_S 2
bench_param PINGS 100
bench_param PING_I 0.1
bench_param MODELS "e1000 e1000e"
bench_param IDLE_S 15
bench_param ENCAP_MODEL e1000e
# PIN_CORMS=N: pin every Corm's vCPU to physical CPU N (xl vcpu-pin) once made;
# default none. An experiment: do the 82574's lost MSI-X messages follow the
# Corm's vCPU moving between CPUs (Xen re-routes the pirq to follow it)?
bench_param PIN_CORMS none
PATHS="std dd banana encap relay tunnel"
ENCAP_IP=10.88.0.61
FAR_UL=10.77.0.46
# a slot: two bounded iperf3 runs and bounded pings, ending >= 6 s before the slot does
W=$(awk -v s="$IPERF_S" -v o="$OMIT_S" -v n="$PINGS" -v i="$PING_I" 'BEGIN { printf "%d\n", 2 * (s + o + 6) + int(n * i + 4) }')
bench_param SLOT_S $((W + 6))
lab_net_ok || fail "this run has no lab network (see run-xen.sh's output at boot): nothing to measure"
command -v banana > /dev/null || fail "no banana controller in this dom0"
W=$BANANA_WORK
XL_CREATE_TIMEOUT=180 # six guests booting under nested TCG: xl create took 40 s and more

# step WHAT CMD...: a lib.sh/corm.sh step, which fails the test on error, in a
# subshell: a failure is one PROBLEM line and the bench goes on without that path
step() {
	what=$1
	shift
	rm -f "$W/step.why"
	( fail() { echo "$*" > "$W/step.why"; exit 1; }; "$@" ) && return 0
	problem "$what: $(cat "$W/step.why" 2> /dev/null || echo "failed")"
	return 1
}

gone() {
	for g in "$@"; do exists "$g" && xl destroy "$g" 2>/dev/null; done
	for g in "$@"; do wait_gone "$g" 60; done
}

# prefix M -> the figure prefix of model M
prefix() { if [ "$1" = e1000 ]; then echo corm_; else echo "corm_$1_"; fi; }
# role PATH M -> the lab NIC role of PATH for model M
role() {
	case $1 in
	std | dd) if [ "$2" = e1000 ]; then echo "$1"; else echo "$1-$2"; fi ;;
	banana) echo "corm-$2" ;;
	esac
}
# irq_name Intx|Msi|Msix (the Corm's CORM-NIC irq=) -> INTx, MSI, MSI-X
irq_name() { case $1 in Intx) echo INTx ;; Msix) echo MSI-X ;; Msi) echo MSI ;; *) echo "${1:-unknown}" ;; esac; }

# ---- setup of the three paths of model M; each sets VIF_<path>_<M> (the guest's
# vif= spec) and IRQ_<path>_<M>, or leaves VIF empty (path not measured)
std_path() { # M
	std_up "std-$1" "$(role std "$1")" && echo "$STD_IRQ" > "$W/irq-std-$1"
}
dd_path() { # M
	t0=$(now)
	dd_up "cn-dd-$1" xenbr0 "$(role dd "$1")" || return 1
	echo "$(since "$t0")" > "$W/ready-dd-$1"
	echo "${DD_IRQ:-unknown}" > "$W/irq-dd-$1"
}
banana_path() { # M
	t0=$(now)
	if [ "$1" = "$ENCAP_MODEL" ]; then
		# endpoints 1 and 2 (VLAN 30) and the underlay address are the encap path's,
		# 3 and 4 (untagged: the lab's segment) the relay's and the tunnel's
		corm_up "cn-corm-$1" "$(role banana "$1")" 5 --underlay "$LAB_VX_UNDERLAY/24" \
			--vlan 1=30 --vlan 2=30 --tunnel-key || return 1
	else
		corm_up "cn-corm-$1" "$(role banana "$1")" 1 || return 1
	fi
	if [ "$PIN_CORMS" != none ]; then
		xl vcpu-pin "cn-corm-$1" all "$PIN_CORMS" || problem "xl vcpu-pin cn-corm-$1 all $PIN_CORMS failed"
		log "cn-corm-$1 pinned to CPU $PIN_CORMS: $(xl vcpu-list "cn-corm-$1" | awk 'NR > 1 { print $NF }' | tr '\n' ' ')"
	fi
	echo "$(since "$t0")" > "$W/ready-banana-$1"
	corm_spike "cn-corm-$1" "cn-sp-$1" 0 "$(path_mac banana)"
}
# encap_path M: on the banana path's Corm, Spike cn-sp-encap-M on endpoint 1 and
# endpoint 2 wired to the lab's VTEP (run after banana_path)
encap_path() { # M
	w=$(lab_vx_why)
	[ -z "$w" ] || fail "$w"
	corm_spike "cn-corm-$1" "cn-sp-encap-$1" 1 "$(path_mac encap)" "$ENCAP_IP"
	banana_ok wire connect "corm:cn-corm-$1/2" "vxlan:42@$LAB_PEER"
	wait_console "cn-corm-$1" '^CORM-TUNNEL-UP wire=' 60
}

# far_paths M: host B, Corm cn-corm-far on the corm-virtio NIC, with Spikes
# cn-sp-relay (VLAN 40) and cn-sp-tunnel (VLAN 41), wired to host A's endpoints 3
# (Geneve in clear) and 4 (Geneve in WireGuard); run after banana_path
far_paths() { # M
	corm_up cn-corm-far corm-virtio 4 --underlay "$FAR_UL/24" --vlan 0=40 --vlan 1=40 \
		--vlan 2=41 --vlan 3=41 --local-vlan 40 --local-vlan 41 --tunnel-key || return 1
	corm_spike cn-corm-far cn-sp-relay 0 "$(path_mac relay)"
	corm_spike cn-corm-far cn-sp-tunnel 2 "$(path_mac tunnel)"
	corm_encap_wire cn-corm-far/1 "cn-corm-$1/3"
	corm_encap_wire cn-corm-far/3 "cn-corm-$1/4" --tunnel
	grep -q "geneve in wireguard" "$BANANA_WORK/banana.out" || fail "banana wire connect --tunnel made no tunnel wire"
}

# path_mac P: the MAC of path P's guest in the model being set up (MI)
path_mac() {
	pm_j=0
	for pm_p in $PATHS; do
		pm_j=$((pm_j + 1))
		[ "$pm_p" = "$1" ] && break
	done
	echo "00:16:3e:77:0$MI:0$pm_j"
}

setup_model() { # M
	m=$1 P=$(prefix "$1")
	log "---- setting up the paths of model $m"
	if step "$m std: dom0 NIC $(role std "$m")" std_path "$m"; then
		eval "VIF_std_$m=\"bridge=std-$m,script=$(vif_script)\" IRQ_std_$m=$(cat "$W/irq-std-$m")"
	fi
	if step "$m dd: driver domain cn-dd-$m" dd_path "$m"; then
		fig "${P}dd_ready_s" "$(cat "$W/ready-dd-$m")"
		eval "VIF_dd_$m=\"backend=cn-dd-$m,bridge=xenbr0,script=vif-banana\" IRQ_dd_$m=$(cat "$W/irq-dd-$m")"
	fi
	if step "$m banana: Corm cn-corm-$m and Spike cn-sp-$m" banana_path "$m"; then
		c=cn-corm-$m
		fig "${P}banana_create_to_link_up_s" "$(cat "$W/ready-banana-$m")"
		fig "${P}banana_boot_to_link_up_ms" "$(console $c | sed -n 's/^CORM-LINK-UP ms=//p' | head -n 1)"
		fig "${P}banana_image_bytes" "$(wc -c < "$BANANA_ROOT/domains/corm-domain")"
		fig "${P}banana_memory_mib" "$(xl list $c | awk 'NR == 2 { print $3 }')"
		fig "${P}banana_nic" "$(console $c | sed -n 's/^CORM-NIC \([^ ]*\) kind=\([^ ]*\).* irq=\([^ ]*\).*/\1,\2,\3/p' | head -n 1)"
		eval "VIF_banana_$m=\"backend=cn-sp-$m\" IRQ_banana_$m=$(irq_name "$(console $c | sed -n 's/^CORM-NIC .* irq=\([^ ]*\).*/\1/p' | head -n 1)")"
		if [ "$m" = "$ENCAP_MODEL" ] && step "$m encap: Spike cn-sp-encap-$m, VXLAN wire to the lab's vx42" encap_path "$m"; then
			eval "VIF_encap_$m=\"backend=cn-sp-encap-$m\" IRQ_encap_$m=\$IRQ_banana_$m"
		fi
		if [ "$m" = "$ENCAP_MODEL" ] && step "$m relay, tunnel: host B's Corm cn-corm-far, two wires to cn-corm-$m" far_paths "$m"; then
			fig "${P}far_nic" "$(console cn-corm-far | sed -n 's/^CORM-NIC \([^ ]*\) kind=\([^ ]*\).* irq=\([^ ]*\).*/\1,\2,\3/p' | head -n 1)"
			# the NIC to the lab peer is host A's
			eval "VIF_relay_$m=\"backend=cn-sp-relay\" IRQ_relay_$m=\$IRQ_banana_$m"
			eval "VIF_tunnel_$m=\"backend=cn-sp-tunnel\" IRQ_tunnel_$m=\$IRQ_banana_$m"
		fi
	fi
	irqs=
	for p in $PATHS; do
		eval "q=\${IRQ_${p}_$m:-}"
		[ -n "$q" ] || continue
		fig "${P}${p}_irq" "$q"
		irqs="$irqs $q"
	done
	[ "$(echo $irqs | tr ' ' '\n' | sort -u | wc -l)" -le 1 ] ||
		problem "$m: the paths' NICs interrupt differently:$irqs (std dd banana)"
}


# guests_up M: one guest per path of model M that could be set up (G_<path>_M, PTY_<path>_M)
guests_up() {
	m=$1
	for p in $PATHS; do
		eval "vif=\${VIF_${p}_$m:-}"
		[ -n "$vif" ] || continue
		g=cn-g-$p-$m
		mac=$(path_mac $p)
		addr="banana.ip=dhcp banana.peer=$LAB_PEER"
		case $p in
		encap) addr="banana.ip=$ENCAP_IP/24 banana.peer=$LAB_VX_PEER banana.mtu=1450" ;;
		relay) addr="$addr banana.mtu=1450" ;;
		tunnel) addr="$addr banana.mtu=1390" ;;
		esac
		for try in 1 2; do
			if try_create $g linux-pv "extra=\"console=hvc0 quiet banana.job=net $addr banana.bench=1 banana.slot_s=$SLOT_S banana.iperf_s=$IPERF_S banana.iperf_omit=$OMIT_S banana.pings=$PINGS banana.ping_i=$PING_I\"" \
				"vif=['$vif,mac=$mac']"; then
				eval "G_${p}_$m=$g"
				break
			fi
			sed 's/^/    /' "$W/create-$g.log"
			problem "$m $p: xl create $g failed (try $try of 2)"
			xl destroy $g 2> /dev/null
			step "$m $p: $g gone" wait_gone $g 60
		done
	done
	for p in $PATHS; do
		eval "g=\${G_${p}_$m:-}"
		[ -n "$g" ] || continue
		if seen $g '^GUEST-BENCH-READY' 'panicked at|GUEST-FAIL' 300 && pty=$(console_pty $g) && [ -n "$pty" ]; then
			eval "PTY_${p}_$m=$pty"
			log "$m $p: $g is ready, $(console $g | grep -m 1 '^GUEST-ADDR'), console $pty"
		else
			problem "$m $p: $g not ready (last lines: $(console $g | tail -n 3 | tr '\n' '|')); its slots are skipped"
			eval "G_${p}_$m="
		fi
	done
}

# idle: IDLE_S s in which nobody measures and nothing is paused; what each domain
# used then is logged (under nested TCG an idle domain is not free: this is the
# background the pausing keeps out of the slots), and Pidle_cpu_pct_{dom0,guests,dd,spike,corm}
idle() {
	sleep 2
	cpu_snap "$W/idle-a"
	sleep "$IDLE_S"
	cpu_snap "$W/idle-b"
	log "idle for ${IDLE_S}s, nothing paused; CPU s used: $(cpu_list "$W/idle-a" "$W/idle-b")"
	for m in $MODELS; do
		P=$(prefix "$m") gs=
		for p in $PATHS; do eval "g=\${G_${p}_$m:-}"; [ -z "$g" ] || gs="$gs $(cpu_used "$W/idle-a" "$W/idle-b" $g)"; done
		for x in dom0:Domain-0 guests: dd:cn-dd-$m spike:cn-sp-$m spike_encap:cn-sp-encap-$m corm:cn-corm-$m \
			corm_far:cn-corm-far; do
			[ "${x%%:*}" != corm_far ] || [ "$m" = "$ENCAP_MODEL" ] || continue
			if [ "${x%%:*}" = guests ]; then c=$(echo "$gs" | sed 's/none//g' | sum); else c=$(cpu_used "$W/idle-a" "$W/idle-b" "${x#*:}"); fi
			[ "$c" = none ] || fig "${P}idle_cpu_pct_${x%%:*}" "$(awk -v c="$c" -v s="$IDLE_S" 'BEGIN { printf "%.1f\n", 100 * c / s }')"
		done
	done
}

# path_doms PATH M -> the domains of PATH for model M (the guest first)
path_doms() {
	case $1 in
	std) echo "cn-g-std-$2" ;;
	dd) echo "cn-g-dd-$2 cn-dd-$2" ;;
	# a Corm's Spikes run whenever it does: a Spike paused for a slot while its
	# Corm runs would have its wire declared dead (local-wire DEAD_NS) and set up
	# again in the next slot
	# again in the next slot; for ENCAP_MODEL, host B and its Spikes too (its wires
	# to host A would be declared dead)
	banana | encap | relay | tunnel)
		if [ "$2" = "$ENCAP_MODEL" ]; then
			echo "cn-g-$1-$2 cn-corm-$2 cn-sp-$2 cn-sp-encap-$2 cn-corm-far cn-sp-relay cn-sp-tunnel"
		else
			echo "cn-g-$1-$2 cn-corm-$2 cn-sp-$2"
		fi
		;;
	esac
}

# rounds: RUNS rounds, each one slot per model and path (MODELS x std dd banana).
# Before a slot every other path's domains (of both models) are paused and the
# slot's path's are unpaused (only); the slot starts 2 s later, on a whole second T
# of dom0's clock (its key)
rounds() {
	ALL_DOMS=$(for m in $MODELS; do for p in $PATHS; do path_doms $p $m; done; done)
	T0=$(now)
	r=1
	while [ $r -le "$RUNS" ]; do
		for m in $MODELS; do
			eval "ic=\${ID_corm_$m:-x} is=\${ID_spike_$m:-x}"
			for p in $PATHS; do
				eval "g=\${G_${p}_$m:-} pty=\${PTY_${p}_$m:-}"
				[ -n "$g" ] || continue
				only $(path_doms $p $m)
				t=$(awk -v n="$(now)" 'BEGIN { printf "%d\n", n + 2 }')
				sleep_until "$t"
				if [ $p = banana ]; then ctr_snap "$ic" "$W/ctr-$t-corm-a"; ctr_snap "$is" "$W/ctr-$t-spike-a"; fi
				cpu_snap "$W/cpu-$t-a"
				bench_go "$pty" "$t" || problem "round $r $m $p: could not write to $g's console $pty"
				lt=$(late_by "$t")
				sleep_until "$(awk -v t="$t" -v s="$SLOT_S" 'BEGIN { printf "%.1f\n", t + s - 1.5 }')"
				cpu_snap "$W/cpu-$t-b"
				if [ $p = banana ]; then ctr_snap "$ic" "$W/ctr-$t-corm-b"; ctr_snap "$is" "$W/ctr-$t-spike-b"; fi
				echo "$t $r $m $p $g $lt" >> "$W/slots"
			done
		done
		log "round $r of $RUNS done"
		r=$((r + 1))
	done
	only $ALL_DOMS
	fig corm_bench_slots_s "$(since "$T0")"
}

# teardown M: the guests, Spike, Corm and driver domain of model M go; dom0's NIC unbound
teardown() {
	m=$1
	for p in $PATHS; do
		eval "g=\${G_${p}_$m:-} pty=\${PTY_${p}_$m:-}"
		[ -z "$pty" ] || timeout 5 sh -c "echo BENCH-QUIT > '$pty'" 2> /dev/null
		[ -z "$g" ] || xl destroy "$g" 2> /dev/null
	done
	banana spike destroy cn-sp-$m > /dev/null 2>&1
	banana spike destroy cn-sp-encap-$m > /dev/null 2>&1
	if [ "$m" = "$ENCAP_MODEL" ]; then
		for sp in cn-sp-relay cn-sp-tunnel; do banana spike destroy $sp > /dev/null 2>&1; done
		banana corm destroy cn-corm-far > /dev/null 2>&1
		step "$m teardown of host B" gone cn-g-relay-$m cn-g-tunnel-$m cn-sp-relay cn-sp-tunnel cn-corm-far
	fi
	banana corm destroy cn-corm-$m > /dev/null 2>&1
	exists cn-dd-$m && xl destroy cn-dd-$m 2> /dev/null
	std_down "std-$m" "$(role std "$m")"
	step "$m teardown" gone cn-g-std-$m cn-g-dd-$m cn-g-banana-$m cn-g-encap-$m cn-sp-$m cn-sp-encap-$m cn-corm-$m cn-dd-$m
}

fig corm_bench_slot_s "$SLOT_S"
fig corm_bench_rounds "$RUNS"
fig corm_bench_iperf_s "$IPERF_S"
fig corm_bench_omit_s "$OMIT_S"
fig corm_bench_pings "$PINGS"
fig corm_bench_ping_i "$PING_I"
: > "$W/slots"
t_setup=$(now)
MI=1
for m in $MODELS; do
	MI=$((MI + 1))
	setup_model "$m"
	guests_up "$m"
	# the Banana domains' ids, so sampling their counters costs no xl call
	eval "ID_corm_$m=$(domid cn-corm-$m) ID_spike_$m=$(domid cn-sp-$m)"
done
fig corm_bench_setup_s "$(since "$t_setup")"
idle
log "---- $RUNS rounds of $(($(echo $MODELS | wc -w) * $(echo $PATHS | wc -w))) slots of ${SLOT_S}s (+ ~4 s each to pause and unpause)"
rounds
for m in $MODELS; do teardown "$m"; done

# ---- per slot: what the guest measured, CPU per domain, counters
while read -r t r m p g lt <&3; do
	awk -v l="$lt" 'BEGIN { exit !(l > 1.5) }' && problem "round $r $m $p: dom0 started the slot ${lt}s late"
	slot_read "round $r $m $p" $g $t
	ok=$SL_OK tx=$SL_TX rx=$SL_RX txr=$SL_TXR rxr=$SL_RXR gb=$SL_GB got=$SL_GOT sent=$SL_SENT
	[ -z "$tx" ] || eval "L_${m}_${p}_tx=\"\$L_${m}_${p}_tx $tx\" R_${m}_${p}_tx=\"\$R_${m}_${p}_tx $txr\""
	[ -z "$rx" ] || eval "L_${m}_${p}_rx=\"\$L_${m}_${p}_rx $rx\" R_${m}_${p}_rx=\"\$R_${m}_${p}_rx $rxr\""
	echo "$SL_RTT" | awk 'NF' >> "$W/rtt-$m-$p"
	eval "PG_${m}_$p=\$((\${PG_${m}_$p:-0} + ${got:-0})) PS_${m}_$p=\$((\${PS_${m}_$p:-0} + ${sent:-0}))"
	p50=$(echo "$SL_RTT" | pct 50) p90=$(echo "$SL_RTT" | pct 90)
	[ "$p50" = none ] || eval "L_${m}_${p}_rtt=\"\$L_${m}_${p}_rtt $p50\""
	a=$W/cpu-$t-a b=$W/cpu-$t-b
	c0=$(cpu_used $a $b Domain-0) cg=$(cpu_used $a $b $g) cd=none cs=none cc=none cf=none ex=
	case $p in
	std) co=$(cpu_others $a $b $g) ;;
	dd) cd=$(cpu_used $a $b cn-dd-$m) ex=" dd $cd" co=$(cpu_others $a $b $g cn-dd-$m) ;;
	banana)
		cs=$(cpu_used $a $b cn-sp-$m) cc=$(cpu_used $a $b cn-corm-$m) ex=" spike $cs corm $cc"
		co=$(cpu_others $a $b $g cn-sp-$m cn-corm-$m)
		;;
	encap)
		cs=$(cpu_used $a $b cn-sp-encap-$m) cc=$(cpu_used $a $b cn-corm-$m) ex=" spike $cs corm $cc"
		co=$(cpu_others $a $b $g cn-sp-encap-$m cn-corm-$m)
		;;
	relay | tunnel)
		cs=$(cpu_used $a $b cn-sp-$p) cf=$(cpu_used $a $b cn-corm-far) ca=$(cpu_used $a $b cn-corm-$m)
		cc=$(echo "$ca $cf" | sum) ex=" spike $cs corm $ca far $cf"
		co=$(cpu_others $a $b $g cn-sp-$p cn-corm-$m cn-corm-far)
		;;
	esac
	eval "L_${m}_${p}_others=\"\$L_${m}_${p}_others $co\""
	[ "$(awk -v c="$co" 'BEGIN { print (c >= 1) }')" = 0 ] || ex="$ex (all: $(cpu_list $a $b))"
	if [ $ok = 1 ]; then
		# CPU per GB: only slots that moved their data
		for x in gb:$gb dom0:$c0 guest:$cg dd:$cd spike:$cs corm:$cc corm_far:$cf; do
			case ${x#*:} in none | '') continue ;; esac
			eval "S_${m}_${p}_${x%%:*}=\$(echo \"\${S_${m}_${p}_${x%%:*}:-0} ${x#*:}\" | sum)"
		done
	fi
	ctr=
	if [ $p = banana ]; then
		for d in corm spike; do
			ctr_delta "$W/ctr-$t-$d-a" "$W/ctr-$t-$d-b" > "$W/ctrd-$t-$d"
			awk -v d=$d -v r=$r '{ print d, $1, $2, r }' "$W/ctrd-$t-$d" >> "$W/ctr-$m"
			[ -s "$W/ctrd-$t-$d" ] || problem "round $r $m banana: no counters from the $d (banana counters)"
			[ -z "$(awk '$2 < 0' "$W/ctrd-$t-$d")" ] || problem "round $r $m banana: $d counters went backwards (restarted?):$(awk '$2 < 0 { printf " %s", $1 }' "$W/ctrd-$t-$d")"
			ctr="$ctr $d:$(ctr_drops "$W/ctrd-$t-$d")"
		done
		ctr="; drops/ring-full:${ctr}"
	fi
	log "round $r $m $p ($g): tx ${tx:-none} Mbit/s (retr ${txr:-?}), rx ${rx:-none} (retr ${rxr:-?}), rtt p50 $p50 p90 $p90 ms" \
		"(${got:-0}/${sent:-?}), $gb GB; cpu s: dom0 $c0 guest $cg$ex others $co$ctr"
done 3< "$W/slots"

# ---- figures per model and path
for m in $MODELS; do
	P=$(prefix "$m")
	for p in $PATHS; do
		eval "g=\${G_${p}_$m:-}"
		[ -n "$g" ] || continue
		for d in tx rx; do
			eval "l=\${L_${m}_${p}_$d:-} rl=\${R_${m}_${p}_$d:-}"
			md=$(echo "$l" | median)
			eval "M_${m}_${p}_$d=$md"
			fig "${P}${p}_${d}_mbit_runs" "$(csv "$l")"
			fig "${P}${p}_${d}_mbit_median" "$md"
			fig "${P}${p}_${d}_mbit_spread" "$(echo "$l" | spread)"
			fig "${P}${p}_${d}_retr_runs" "$(csv "$rl")"
			fig "${P}${p}_${d}_retr_total" "$(echo "$rl" | tr ' ' '\n' | grep -E '^[0-9]+$' | tr '\n' ' ' | sum)"
		done
		eval "l=\${L_${m}_${p}_rtt:-}"
		p50=$(pct 50 < "$W/rtt-$m-$p" 2>/dev/null || echo none) p90=$(pct 90 < "$W/rtt-$m-$p" 2>/dev/null || echo none)
		eval "M_${m}_${p}_rtt=$p50 M_${m}_${p}_rtt90=$p90"
		fig "${P}${p}_rtt_ms_median" "$p50"
		fig "${P}${p}_rtt_ms_p90" "$p90"
		fig "${P}${p}_rtt_ms_runs" "$(csv "$l")"
		fig "${P}${p}_rtt_ms_spread" "$(echo "$l" | spread)"
		eval "fig \"${P}${p}_rtt_pings\" \"\${PG_${m}_$p:-0}/\${PS_${m}_$p:-0}\""
		eval "gb=\${S_${m}_${p}_gb:-0}"
		fig "${P}${p}_gb" "$gb"
		for x in dom0 guest dd spike corm corm_far; do
			eval "cs=\${S_${m}_${p}_$x:-none}"
			[ "$cs" = none ] || fig "${P}${p}_cpu_s_per_gb_$x" "$(per_gb "$cs" "$gb")"
		done
		eval "c0=\${S_${m}_${p}_dom0:-0} cd=\${S_${m}_${p}_dd:-0} cs=\${S_${m}_${p}_spike:-0} cc=\${S_${m}_${p}_corm:-0}"
		case $p in
		std) be=$c0 ;;
		dd) be=$cd ;;
		banana | encap | relay | tunnel) be=$(echo "$cs $cc" | sum) ;;
		esac
		pa=$(echo "$be $c0" | sum)
		[ $p != std ] || pa=$c0
		fig "${P}${p}_cpu_s_per_gb_backend" "$(per_gb "$be" "$gb")"
		cpg=$(per_gb "$pa" "$gb")
		eval "M_${m}_${p}_cpu=$cpg"
		fig "${P}${p}_cpu_s_per_gb_path" "$cpg"
		eval "fig \"${P}${p}_cpu_s_others_median\" \"\$(echo \"\${L_${m}_${p}_others:-}\" | median)\""
	done
	# ratios of medians (rtt: p50; rtt_p90: p90; cpu: CPU s per GB of the path)
	for pr in dd:std banana:std banana:dd encap:banana encap:std relay:banana tunnel:banana tunnel:relay \
		tunnel:encap; do
		a=${pr%%:*} b=${pr#*:}
		eval "[ -n \"\${G_${a}_$m:-}\" ] && [ -n \"\${G_${b}_$m:-}\" ]" || continue
		for q in tx:tx rx:rx rtt:rtt rtt_p90:rtt90 cpu:cpu; do
			eval "x=\${M_${m}_${a}_${q#*:}:-none} y=\${M_${m}_${b}_${q#*:}:-none}"
			fig "${P}ratio_${a}_over_${b}_${q%%:*}" "$(ratio "$x" "$y")"
		done
	done
	# the Banana counters: per-run deltas of the drop / ring-full ones
	if [ -s "$W/ctr-$m" ]; then
		for dn in $( (awk -v re="$DROP_RE" '$2 ~ re && $3 != 0 { print $1 ":" $2 }' "$W/ctr-$m"
			echo "corm:nic/tx_full corm:wire/tx-queue-full spike:wire/tx-queue-full spike:vif/rx_no_buffers") |
			tr ' ' '\n' | sort -u); do
			d=${dn%%:*} n=${dn#*:}
			k=$(echo "$n" | tr '/-' '__')
			runs=$(awk -v d="$d" -v n="$n" -v R="$RUNS" '$1 == d { h[$4] = 1 } $1 == d && $2 == n { v[$4] += $3 }
				END { for (r = 1; r <= R; r++) printf "%s%s", (r > 1 ? "," : ""), (r in h ? v[r] + 0 : "-"); print "" }' "$W/ctr-$m")
			fig "${P}banana_ctr_${d}_${k}_runs" "$runs"
			fig "${P}banana_ctr_${d}_${k}_total" "$(echo "$runs" | tr ',' '\n' | grep -E '^-?[0-9]+$' | tr '\n' ' ' | sum)"
		done
	fi
done

[ -z "$problems" ] || fail "$problems"
pass
