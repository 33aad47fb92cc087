#!/bin/sh
# runner.sh LIST: run the named items (comma or plus separated) one by one.
# An item is a test (tests/NAME.sh), `demo` (demo.sh), `bench` (bench/figures.sh),
# `bench-net` (bench/spike-net.sh), `bench-corm` (bench/corm-net.sh) or
# `soak-MIN` (soak.sh for MIN minutes).
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
	bench-net) script=$BANANA_ROOT/bench/spike-net.sh tmo=3600 ;;
	bench-corm) script=$BANANA_ROOT/bench/corm-net.sh tmo=4800 ;;
	soak-*) SOAK_MIN=${item#soak-} script=$BANANA_ROOT/soak.sh tmo=$((${item#soak-} * 60 + 900)) && export SOAK_MIN ;;
	nic-lab) script=$BANANA_ROOT/tests/$item.sh tmo=$((ITEM_TIMEOUT + 300)) ;;
	# six attack sections after a two-guest set-up (~2 min of it in nested TCG)
	corm-attack) script=$BANANA_ROOT/tests/$item.sh tmo=$((ITEM_TIMEOUT + 600)) ;;
	# a Corm, a Spike and a guest set up one by one (wire connects alone took ~70 s in
	# nested TCG), iperf3 both ways through the tunnel, then dom0's std NIC for the agent
	vxlan-interop) script=$BANANA_ROOT/tests/$item.sh tmo=$((ITEM_TIMEOUT + 300)) ;;
	# two Corms, a Spike, a guest, iperf3 through the tunnel, then a Corm made again
	encap-wire) script=$BANANA_ROOT/tests/$item.sh tmo=$((ITEM_TIMEOUT + 600)) ;;
	# encap-wire's set-up with WireGuard keys, iperf3 through the tunnel wire, the
	# lab agent's tshark decode of the segment
	tunnel-wire) script=$BANANA_ROOT/tests/$item.sh tmo=$((ITEM_TIMEOUT + 600)) ;;
	# a Corm, a Spike, a guest, dom0's WireGuard and geneve, iperf3 both ways
	tunnel-interop) script=$BANANA_ROOT/tests/$item.sh tmo=$((ITEM_TIMEOUT + 300)) ;;
	# two Corms, a Spike, a guest, 40 s of an impaired underlay and pings around it
	encap-impair) script=$BANANA_ROOT/tests/$item.sh tmo=$((ITEM_TIMEOUT + 600)) ;;
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
	# banana's records the item left (a failed test's Corms and Spikes, dead
	# once destroyed above) would hold their NICs and names for the next item
	if command -v banana > /dev/null; then
		for kind in corm spike; do
			for n in $(xenstore-list "/banana/$kind" 2> /dev/null); do
				echo "runner: $item left $kind $n behind: banana $kind destroy $n"
				banana "$kind" destroy "$n" > /dev/null 2>&1 || echo "runner: banana $kind destroy $n failed"
			done
		done
	fi
	# the std path's bridge a failed test left up (lib.sh std_up/std_down)
	if ip link show stdbr > /dev/null 2>&1; then
		echo "runner: $item left bridge stdbr behind: removing it"
		ip link set stdbr down
		brctl delbr stdbr
	fi
	# nested dom0: read and clear, so each item gets the hypervisor lines of its own time
	xl dmesg ${BANANA_DMESG_CLEAR:+-c} 2>&1 | tail -n 100 > "$work/xl-dmesg.txt"
	dump "$item/xl-dmesg.txt" "$work/xl-dmesg.txt"
done
[ -n "$BANANA_NO_DONE" ] || echo "BANANA-TESTS-DONE"
