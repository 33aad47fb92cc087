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
