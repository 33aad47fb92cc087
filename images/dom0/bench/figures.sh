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
. "$BANANA_ROOT/bench/common.sh"
BAD_RE=
RUNS=${RUNS:-5}
problems=

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
