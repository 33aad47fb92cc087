#!/bin/sh
# runner.sh LIST: run the named items (comma or plus separated) one by one.
# An item is a test (tests/NAME.sh), `demo` (demo.sh), `bench` (bench/figures.sh),
# `bench-net` (bench/spike-net.sh) or `bench-corm` (bench/corm-net.sh).
# Each item ends with exactly one BANANA-TEST-PASS/FAIL marker (the runner
# supplies a FAIL when the script gave none, e.g. on its timeout). After each item
# the consoles of the domains it created and the tail of `xl dmesg` are dumped
# between BANANA-LOG-BEGIN <item>/<file> and BANANA-LOG-END (content lines start
# with '|'), and its leftover domains are destroyed. Ends with BANANA-TESTS-DONE
# (unless BANANA_NO_DONE is set: dom0's init prints it after its own dumps).
: "${BANANA_ROOT:=$(cd "$(dirname "$0")" && pwd)}"
: "${CONSOLE_DIR:=/var/log/xen/console}"
: "${ITEM_TIMEOUT:=300}"
export BANANA_ROOT CONSOLE_DIR
# busybox sh everywhere: the same shell as in the nested dom0 (bench needs `read -t`)
BANANA_SH=sh
command -v busybox > /dev/null && BANANA_SH="busybox sh"
export BANANA_SH

dump() { # NAME FILE
	echo "BANANA-LOG-BEGIN $1"
	[ -f "$2" ] && sed 's/^/|/' "$2" | tr -d '\r'
	echo "BANANA-LOG-END"
}

for item in $(echo "$1" | tr ',+' '  '); do
	case $item in
	demo) script=$BANANA_ROOT/demo.sh tmo=600 ;;
	bench) script=$BANANA_ROOT/bench/figures.sh tmo=1200 ;;
	bench-net) script=$BANANA_ROOT/bench/spike-net.sh tmo=2700 ;;
	bench-corm) script=$BANANA_ROOT/bench/corm-net.sh tmo=2700 ;;
	nic-lab) script=$BANANA_ROOT/tests/$item.sh tmo=$((ITEM_TIMEOUT + 300)) ;;
	*) script=$BANANA_ROOT/tests/$item.sh tmo=$ITEM_TIMEOUT ;;
	esac
	work=/tmp/banana/$item
	rm -rf "$work"
	mkdir -p "$work"
	echo "BANANA-TEST-BEGIN $item"
	if [ ! -f "$script" ]; then
		echo "BANANA-TEST-FAIL $item: no such test ($script)"
		continue
	fi
	BANANA_TEST=$item BANANA_WORK=$work BANANA_DOMLIST=$work/domains BANANA_RESULT=$work/result \
		timeout "$tmo" $BANANA_SH "$script"
	rc=$?
	if [ ! -s "$work/result" ]; then
		case $rc in
		124 | 143) echo "BANANA-TEST-FAIL $item: timed out after ${tmo}s (item timeout)" ;;
		*) echo "BANANA-TEST-FAIL $item: script exited with status $rc without a result" ;;
		esac
	fi
	for d in $(sort -u "$work/domains" 2> /dev/null); do
		dump "$item/guest-$d.log" "$CONSOLE_DIR/guest-$d.log"
		xl domid "$d" > /dev/null 2>&1 && xl destroy "$d"
	done
	# nested dom0: read and clear, so each item gets the hypervisor lines of its own time
	xl dmesg ${BANANA_DMESG_CLEAR:+-c} 2>&1 | tail -n 100 > "$work/xl-dmesg.txt"
	dump "$item/xl-dmesg.txt" "$work/xl-dmesg.txt"
done
[ -n "$BANANA_NO_DONE" ] || echo "BANANA-TESTS-DONE"
