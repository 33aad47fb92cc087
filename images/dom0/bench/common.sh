# Helpers shared by the bench scripts (sourced after lib.sh; POSIX sh, busybox ash).
# Clock: lib.sh's now (dom0 wall clock, µs). Waits nap on a FIFO with `read -t`
# instead of forking sleep, so a poll loop costs dom0 little CPU.

# wait_lines NAME ERE COUNT TIMEOUT_S: until COUNT console lines match, polling
# every 2 s (dom0 stays idle while the guests measure); 1 on timeout or crash
wait_lines() {
	wl=0
	while [ "$(console "$1" | grep -Ec -- "$2")" -lt "$3" ]; do
		case $(state "$1") in '' | *c*) return 1 ;; esac
		[ $wl -ge "$4" ] && return 1
		sleep 2
		wl=$((wl + 2))
	done
}

fig() { echo "BANANA-FIGURE $1=$2"; }

# median < "a b c ..." -> median (3 decimals when averaged), "none" when empty
median() { tr ' ' '\n' | awk 'NF' | sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "none"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# spread < "a b c ..." -> "min-max" ("none" when empty)
spread() { tr ' ' '\n' | awk 'NF' | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR == 0) print "none"; else print lo "-" hi }'; }

# csv "a b c" -> a,b,c
csv() { echo $1 | tr ' ' ','; }

# ratio A B [DECIMALS] -> A/B, or none when either is none/zero
ratio() {
	awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (a == "none" || b == "none" || b + 0 == 0) print "none"; else printf("%." d "f\n", a / b) }'
}

FIFO=$BANANA_WORK/nap.fifo
rm -f "$FIFO"
mkfifo "$FIFO"

# mark_time FILE TEXT TIMEOUT_S: when a line of FILE contains TEXT, print the time
# (polled every 50 ms); "timeout" otherwise. Run it in the background.
mark_time() {
	exec 3<> "$FIFO"
	i=0
	while [ $i -lt $(($3 * 20)) ]; do
		if [ -s "$1" ]; then
			while IFS= read -r l; do
				case $l in *"$2"*) now; return 0 ;; esac
			done < "$1"
		fi
		read -t 0.05 x <&3 2>/dev/null || :
		i=$((i + 1))
	done
	echo timeout
}

# boot_time NAME KIND MARKER xl-args...: xl create NAME from KIND.cfg, time until
# MARKER on its console; sets T_BOOT (s, or "fail") and T_CREATE (xl create's own
# time); destroys the domain afterwards.
boot_time() {
	n=$1 kind=$2 mark=$3
	shift 3
	T_BOOT=fail T_CREATE=fail
	f=$(console_file $n)
	rm -f "$f" "$BANANA_WORK/t-$n"
	t0=$(now)
	mark_time "$f" "$mark" 120 > "$BANANA_WORK/t-$n" &
	p=$!
	if try_create $n $kind "$@"; then
		T_CREATE=$(since "$t0")
		wait $p
		t1=$(cat "$BANANA_WORK/t-$n")
		[ "$t1" = timeout ] || T_BOOT=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }')
	else
		kill $p 2>/dev/null
		log "xl create $n failed: $(tail -n 2 "$BANANA_WORK/create-$n.log" | tr '\n' ' ')"
	fi
	log "$n: xl create returned after ${T_CREATE}s, '$mark' after ${T_BOOT}s"
	xl destroy $n 2>/dev/null
	wait_gone $n 30
}

# ---- settings, slots, samples (bench/corm-net.sh, bench/spike-net.sh) -------

# bench_param NAME DEFAULT: NAME from the environment, else from dom0's command line
# (banana.bench=NAME=V+NAME=V..., run-xen.sh passes BANANA_BENCH="NAME=V ..."; a ':' in
# V stands for a space), else DEFAULT
bench_param() {
	eval "bp=\${$1:-}"
	[ -n "$bp" ] || bp=$(lab_arg bench | tr '+' '\n' | sed -n "s/^$1=//p" | tail -n 1 | tr ':' ' ')
	case $bp in *[!A-Za-z0-9.\ _-]*) log "PROBLEM: ignoring bench setting $1='$bp' (letters, digits, '.', '_', '-' only)"; bp= ;; esac
	eval "$1=\${bp:-\$2}"
	log "setting $1=$(eval echo "\$$1")"
}

# sleep_until T: until dom0's wall clock reads T (seconds, may have decimals)
sleep_until() {
	su_d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; printf "%.2f\n", (d > 0 ? d : 0) }')
	[ "$su_d" = 0.00 ] || sleep "$su_d"
}

# late_by T -> seconds dom0's clock is past T (negative: early), 1 decimal
late_by() { awk -v t="$1" -v n="$(now)" 'BEGIN { printf "%.1f\n", n - t }'; }

# cpu_snap FILE: "name cpu_seconds" of every domain (xl list's Time(s), 0.1 s steps)
cpu_snap() { xl list 2>/dev/null | awk 'NR > 1 { print $1, $NF }' > "$1"; }

# cpu_used A B NAME -> CPU seconds domain NAME used between snapshots A and B ("none")
cpu_used() {
	awk -v n="$3" 'FNR == NR { if ($1 == n) a = $2; next } $1 == n { b = $2 }
		END { if (a == "" || b == "") print "none"; else printf "%.1f\n", b - a }' "$1" "$2"
}

# cpu_others A B NAME... -> CPU seconds all domains but Domain-0 and NAME... used
cpu_others() {
	co_a=$1 co_b=$2
	shift 2
	awk -v skip=" Domain-0 $* " 'FNR == NR { a[$1] = $2; next }
		index(skip, " " $1 " ") == 0 && ($1 in a) { s += $2 - a[$1] } END { printf "%.1f\n", s }' "$co_a" "$co_b"
}

# cpu_list A B -> "name=seconds ..." of every domain that used >= 0.3 s between A and B
cpu_list() {
	awk 'FNR == NR { a[$1] = $2; next } ($1 in a) && $2 - a[$1] >= 0.3 { printf "%s%s=%.1f", (n++ ? " " : ""), $1, $2 - a[$1] }
		END { if (!n) printf "none" }' "$1" "$2"
}

# ctr_snap DOMID FILE: the counters a Banana domain publishes in its counter page
# (lib.sh counters_flat: Corm nic/counters, switch/counters, wire/<id>/counters;
# Spike vif/<fe>/<dev>, wire/<id>/counters), as "nic/tx_full 3",
# "wire/tx-queue-full 0", "vif/rx_no_buffers 0" (ids dropped: one vif and one
# wire per domain here; the gauges switch/macs, switch/ip-bindings, mem/* and
# wire-pages-retiring left out). A domid: no xl call.
ctr_snap() {
	counters_flat "$1" | grep -Ev '^(switch/macs|switch/ip-bindings|mem/[^ ]*|wire-pages-retiring) ' |
		sed -e 's|^nic/counters/|nic/|' -e 's|^switch/counters/|switch/|' -e 's|^wire/[0-9]*/counters/|wire/|' \
			-e 's|^vif/[0-9]*/[0-9]*/|vif/|' > "$2"
}

# ctr_delta A B -> "name delta" for every counter of snapshot A or B (absent = 0)
ctr_delta() {
	awk 'FNR == NR { a[$1] = $2; k[$1] = 1; next } { b[$1] = $2; k[$1] = 1 }
		END { for (n in k) print n, b[n] - a[n] }' "$1" "$2" | sort
}

# DROP_RE: counters that count a frame lost or refused somewhere on the path
DROP_RE='full|drop|no_buffers|no_local|error|refused|too_large|too-large|not_established|not-established|oversize|failed|spoofed|bad|reset|latched'

# ctr_drops FILE (ctr_delta's output) -> " name+delta ..." of the nonzero DROP_RE ones, " none"
ctr_drops() {
	awk -v re="$DROP_RE" '$1 ~ re && $2 != 0 { n++; printf " %s+%s", $1, $2 } END { if (!n) printf " none" }' "$1"
}

# pct P < numbers (one per line) -> P-th percentile (nearest rank), "none" when empty
pct() {
	awk 'NF' | sort -n | awk -v p="$1" '{ a[NR] = $1 }
		END { if (NR == 0) { print "none"; exit } i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; print a[i] }'
}

# sum < "a b c ..." -> sum (0 when empty)
sum() { tr ' ' '\n' | awk 'NF { s += $1 } END { print s + 0 }'; }

# per_gb CPU_S GB -> CPU seconds per GB, 1 decimal ("none" without data)
per_gb() { awk -v c="$1" -v g="$2" 'BEGIN { if (c == "" || c == "none" || g + 0 <= 0) print "none"; else printf "%.1f\n", c / g }'; }

# only DOM...: unpause the named domains (those this bench paused) and pause every
# other domain of ALL_DOMS (the space separated names of the domains a bench may
# pause), so that only the measured path's domains (and dom0) run in a slot. Keeps
# PAUSED (the domains paused here); each change is one xl call.
PAUSED=
only() {
	for od in $ALL_DOMS; do
		case " $* " in
		*" $od "*)
			case " $PAUSED " in *" $od "*) xl unpause "$od" 2> /dev/null || problem "xl unpause $od failed"; PAUSED=$(echo " $PAUSED " | sed "s/ $od / /") ;; esac
			;;
		*)
			case " $PAUSED " in *" $od "*) ;; *) if exists "$od"; then xl pause "$od" 2> /dev/null && PAUSED="$PAUSED $od" || problem "xl pause $od failed"; fi ;; esac
			;;
		esac
	done
}

# console_pty NAME -> the pty of NAME's console in dom0 (xenconsoled's), for bench_go
console_pty() { xs_read "/local/domain/$(domid "$1")/console/tty"; }

# bench_go PTY T: tell a banana.bench=1 guest (images/guest/init) through its console
# input to measure slot T now; 1 when the write did not go through within 5 s
bench_go() { timeout 5 sh -c "echo 'BENCH-GO $2' > '$1'" 2> /dev/null; }

# val LINE KEY -> the value of KEY=... in LINE
val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# slot_read LABEL GUEST T: what GUEST measured in its slot T (images/guest/init,
# banana.bench=1): SL_TX SL_RX (Mbit/s, empty when failed), SL_TXR SL_RXR (retransmits),
# SL_RTT (the RTTs, one per line), SL_GOT/SL_SENT (pings), SL_GB (GB through its eth0,
# both ways) and SL_OK=1 when the slot ran whole (else 0). Each failure is a PROBLEM
# (the caller's `problem`), prefixed with LABEL.
slot_read() {
	sl_c=$(console "$2")
	sl_tx=$(echo "$sl_c" | grep -m 1 "^GUEST-SLOT-IPERF3 t=$3 dir=tx ")
	sl_rx=$(echo "$sl_c" | grep -m 1 "^GUEST-SLOT-IPERF3 t=$3 dir=rx ")
	sl_rtt=$(echo "$sl_c" | grep -m 1 "^GUEST-SLOT-RTT t=$3 ")
	sl_end=$(echo "$sl_c" | grep -m 1 "^GUEST-SLOT-END t=$3 ")
	SL_OK=1
	if [ -z "$sl_end" ]; then
		problem "$1: $2 did not finish its slot (last line: $(echo "$sl_c" | tail -n 1))"
		SL_OK=0
	fi
	if echo "$sl_c" | grep -q "^GUEST-SLOT-OVERRUN t=$3 "; then problem "$1: $2 overran its slot (SLOT_S too short?)"; SL_OK=0; fi
	SL_TX=$(val "$sl_tx" mbit_s) SL_RX=$(val "$sl_rx" mbit_s) SL_TXR=$(val "$sl_tx" retr) SL_RXR=$(val "$sl_rx" retr)
	case $SL_TX in '' | FAIL) [ -z "$sl_tx" ] || problem "$1: iperf3 tx failed ($(val "$sl_tx" why))"; SL_TX= SL_OK=0 ;; esac
	case $SL_RX in '' | FAIL) [ -z "$sl_rx" ] || problem "$1: iperf3 rx failed ($(val "$sl_rx" why))"; SL_RX= SL_OK=0 ;; esac
	SL_RTT=$(val "$sl_rtt" ms | tr ',' '\n')
	SL_GOT=$(val "$sl_rtt" got) SL_SENT=$(val "$sl_rtt" sent)
	[ -z "$sl_rtt" ] || [ "${SL_GOT:-0}" -ge "${SL_SENT:-1}" ] || problem "$1: ${SL_GOT:-0} of ${SL_SENT:-?} pings answered"
	sl_r=$(val "$sl_end" rx_bytes) sl_t=$(val "$sl_end" tx_bytes)
	SL_GB=$(awk -v b="$((${sl_r:-0} + ${sl_t:-0}))" 'BEGIN { printf "%.4f\n", b / 1e9 }')
}
