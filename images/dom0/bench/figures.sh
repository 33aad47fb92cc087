#!/bin/sh
# Figures, all measured in this one boot, printed as `BANANA-FIGURE key=value`:
#   selftest_min_memory_mib   first memory= (MiB) of 1,2,3,4,5,6,8 in which a
#                             mode=basic selftest domain reaches SELFTEST-XS-OK
#   boot_*_s                  time from `xl create` to the domain's first console
#                             line (selftest: SELFTEST-BOOT; Linux PV: GUEST-BOOT,
#                             the first line of its userspace), RUNS runs each,
#                             interleaved; medians and the Linux/selftest ratio
# Clock: dom0 wall clock in µs (busybox ts); the console is polled every 50 ms
# without forking, so each time is late by at most ~50 ms.
. "$BANANA_ROOT/lib.sh"
BAD_RE=
RUNS=${RUNS:-5}
problems=
fig() { echo "BANANA-FIGURE $1=$2"; }
median() { tr ' ' '\n' | awk 'NF' | sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "none"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---- smallest memory= for the selftest domain
min=none
for m in 1 2 3 4 5 6 8; do
	d=st-mem$m
	if ! try_create $d selftest "memory=$m" 'extra="mode=basic"'; then
		log "memory=$m: xl create failed: $(grep -Ei -m 1 'error|memory' "$BANANA_WORK/create-$d.log")"
		continue
	fi
	if seen $d 'SELFTEST-XS-OK' 'SELFTEST-XS-FAIL|panicked at' 20; then
		log "memory=$m: SELFTEST-XS-OK"
		min=$m
	else
		log "memory=$m: no SELFTEST-XS-OK (state '$(state $d)', last line '$(console $d | tail -n 1)')"
	fi
	xl destroy $d 2>/dev/null
	wait_gone $d 20
	[ $min = none ] || break
done
fig selftest_min_memory_mib $min
[ $min = none ] && problems="$problems no memory= in 1..8 MiB worked;"

# ---- boot time: xl create -> first console line
FIFO=$BANANA_WORK/nap.fifo
rm -f "$FIFO"
mkfifo "$FIFO"
# mark_time FILE TEXT TIMEOUT_S: when a line of FILE contains TEXT, print the time
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
# boot_time NAME KIND MARKER xl-args...: sets T_BOOT (s, or "fail") and T_CREATE
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
st= lx= stc= lxc=
r=1
while [ $r -le "$RUNS" ]; do
	boot_time st-boot$r selftest SELFTEST-BOOT 'extra="mode=basic"'
	[ "$T_BOOT" = fail ] && problems="$problems selftest run $r failed;" || { st="$st $T_BOOT"; stc="$stc $T_CREATE"; }
	boot_time lx-boot$r linux-pv GUEST-BOOT 'extra="console=hvc0 quiet banana.job=idle"'
	[ "$T_BOOT" = fail ] && problems="$problems linux run $r failed;" || { lx="$lx $T_BOOT"; lxc="$lxc $T_CREATE"; }
	r=$((r + 1))
done
fig boot_selftest_runs_s "$(echo $st | tr ' ' ',')"
fig boot_linux_pv_runs_s "$(echo $lx | tr ' ' ',')"
ms=$(echo "$st" | median)
ml=$(echo "$lx" | median)
fig boot_selftest_median_s "$ms"
fig boot_linux_pv_median_s "$ml"
fig xl_create_selftest_median_s "$(echo "$stc" | median)"
fig xl_create_linux_pv_median_s "$(echo "$lxc" | median)"
if [ "$ms" != none ] && [ "$ml" != none ]; then
	fig boot_ratio_linux_over_selftest "$(awk -v a="$ml" -v b="$ms" 'BEGIN { printf "%.1f\n", a / b }')"
else
	fig boot_ratio_linux_over_selftest none
fi
[ -z "$problems" ] || fail "$problems"
pass
