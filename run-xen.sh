#!/usr/bin/env bash
# The Banana test lab: install, build, then boot Xen 4.17 nested in QEMU (or use the
# real Xen this machine runs as dom0) and run the dom0 test scripts of images/dom0/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
export PATH=$HOME/.cargo/bin:$PATH
IMAGES=$ROOT/out/images
DOMAINS="selftest-domain corm-domain spike-domain"

usage() {
	cat <<'EOF'
Usage: ./run-xen.sh [demo|test|bench|soak|build|clean] [ARGS]   (default: demo)

  demo          build, boot nested Xen, run the demo (a selftest unikernel domain
                and a Linux PV guest) and tell what happened
  test [T...]   host tests (cargo test --workspace), then the end-to-end tests in
                nested Xen (all of images/dom0/tests/, or the ones named); prints
                each result and "N passed, M failed"; non-zero exit on any failure
  bench [P...]  figures measured in one nested boot: P = figures (bench/figures.sh:
                sizes, boot times), net (bench/spike-net.sh: Spike vs dom0
                netback throughput and RTT, Spike footprint) and/or corm
                (bench/corm-net.sh: guest <-> lab peer over dom0 NIC + netback,
                a Linux driver domain, and banana, for e1000 and e1000e, and
                encap: banana plus a VXLAN wire, on e1000e; interleaved in
                rounds); default: figures net
  soak [MIN]    MIN minutes (30) of traffic with wire and vif churn through a Corm,
                watching the domains' memory and grant gauges for leaks (not in CI)
  build         install what is missing, cargo build, build out/images/
  clean         remove out/images/ (clean --all: all of out/, logs included)

Logs of each run go to out/logs/<timestamp>-<cmd>/: serial.log (host-timestamped),
one file per dumped domain console and xl dmesg tail, cargo logs, lab/ (the lab
network: DHCP leases, iperf3 and udhcpd logs, underlay.pcap, lab-agent.log).
Nested runs get a lab network (namespace banana-<pid>, peer 10.77.0.1/24, VLAN 10/20
peers 10.77.30.1/.2, VXLAN peer 10.88.0.1 on VNI 42, an underlay capture and the lab
agent on 10.77.0.1:7700) and seven QEMU NICs on it; see README.md "Lab network".
In a real Xen dom0 (/proc/xen/capabilities has control_d) QEMU is skipped and the
same dom0 scripts run here with xl (xenconsoled must run with --log=guest).

Environment: BANANA_ACCEL=tcg|kvm (default: kvm if it works, else tcg),
BANANA_QEMU_TIMEOUT=seconds (whole QEMU run), BANANA_NO_INSTALL=1 (skip apt/rustup),
BANANA_NO_CARGO=1 (skip cargo build and cargo test: use target/ as it is),
BANANA_QEMU_WAIT_MIN=minutes (180: how long to wait for another run's QEMU),
BANANA_BENCH="K=V ..." (bench settings handed to dom0 as banana.bench=K=V+...; a ':'
in V stands for a space), e.g. a quick bench corm: BANANA_BENCH="RUNS=1 IPERF_S=3
PINGS=100 PING_I=0.1 MODELS=e1000"; see the headers of images/dom0/bench/*.sh.
EOF
}

die() { echo "run-xen.sh: error: $*" >&2; exit 1; }
note() { echo "== $*"; }
is_dom0() { grep -qs control_d /proc/xen/capabilities; }

# ---- install + build ----------------------------------------------------------

install_deps() {
	if [ -z "${BANANA_NO_INSTALL:-}" ]; then
		if is_dom0; then images/host/install-deps.sh --dom0; else images/host/install-deps.sh; fi ||
			die "installing prerequisites failed (see above)"
	fi
	command -v cargo > /dev/null || die "no cargo after installing rustup"
	[ -x /bin/busybox ] || die "no /bin/busybox (busybox-static)"
	is_dom0 && return
	[ -f /boot/xen-4.17-amd64.gz ] || die "no /boot/xen-4.17-amd64.gz (package xen-hypervisor-4.17-amd64)"
	command -v qemu-system-x86_64 > /dev/null || die "no qemu-system-x86_64 (package qemu-system-x86)"
	ls /boot/vmlinuz-* > /dev/null 2>&1 || die "no /boot/vmlinuz-* (package linux-image-amd64)"
}

BUILD_FAILED=
# cargo_build LOGDIR: the domain ELFs and the controller; failures are recorded, not fatal
cargo_build() {
	local log=$1/cargo-build.log d t0=$SECONDS
	if [ -n "${BANANA_NO_CARGO:-}" ]; then note "cargo build skipped (BANANA_NO_CARGO): using target/ as it is"; return; fi
	note "cargo build (log: $log)"
	: > "$log"
	for d in $DOMAINS; do
		if ! cargo build --release --target x86_64-unknown-none -p "$d" >> "$log" 2>&1; then
			BUILD_FAILED="$BUILD_FAILED $d"
		fi
	done
	cargo build --release -p controller >> "$log" 2>&1 || BUILD_FAILED="$BUILD_FAILED controller"
	cargo build --release -p lab-tools >> "$log" 2>&1 || BUILD_FAILED="$BUILD_FAILED lab-tools"
	if [ -n "$BUILD_FAILED" ]; then
		echo "   FAILED to build:$BUILD_FAILED; last lines of the log:"
		grep -E '^(error|warning: unused)' "$log" | head -n 5 | sed 's/^/   /'
		tail -n 5 "$log" | sed 's/^/   /'
	fi
	echo "   cargo build took $((SECONDS - t0))s"
}

build_images() {
	local t0=$SECONDS
	note "building images"
	BANANA_SKIP_DOMAINS="$BUILD_FAILED" images/build.sh $(is_dom0 && echo --payload-only) | sed 's/^/   /'
	echo "   images took $((SECONDS - t0))s"
}

build_all() { # LOGDIR
	install_deps
	cargo_build "$1"
	build_images
}

# ---- running ------------------------------------------------------------------

# stamp FILE: prefix every line with host seconds since start into FILE; echo markers
stamp() {
	local t0=${EPOCHREALTIME/./} line d
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line//$'\r'/}
		d=$((${EPOCHREALTIME/./} - t0))
		printf '[%4d.%03d] %s\n' $((d / 1000000)) $((d % 1000000 / 1000)) "$line"
		case $line in
		*BANANA-TEST-PASS* | *BANANA-TEST-FAIL* | *BANANA-TESTS-DONE* | *BANANA-DOM0* | *BANANA-FIGURE* | *BANANA-TIME*)
			printf '   [%4d s] %s\n' $((d / 1000000)) "${line#*BANANA-}" >&2 ;;
		esac
	done > "$1"
}

kvm_works() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	local cache=$ROOT/out/kvm-probe key
	key="$(qemu-system-x86_64 --version | head -n 1) $(uname -r)"
	if [ -f "$cache" ] && [ "$(head -n 1 "$cache")" = "$key" ]; then
		[ "$(tail -n 1 "$cache")" = yes ]
		return
	fi
	echo "   probing KVM (cached in $cache)" >&2
	local r=no out
	# a kernel without root fs panics within seconds when KVM works (QEMU may also abort or hang)
	out=$(timeout 60 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -monitor none \
		-serial stdio -no-reboot -kernel "$IMAGES/vmlinuz" -append "console=ttyS0 panic=-1" \
		< /dev/null 2>&1 || true)
	grep -aq 'Kernel panic' <<< "$out" && r=yes
	printf '%s\n%s\n' "$key" "$r" > "$cache"
	[ $r = yes ]
}

# One nested QEMU at a time per machine (2 cores, TCG): runs queue on a lock
# (held until this run-xen.sh exits), then also wait for a QEMU started by
# anything else. BANANA_QEMU_WAIT_MIN (default 180) bounds the wait.
wait_other_qemu() {
	local max=$((${BANANA_QEMU_WAIT_MIN:-180} * 60)) t0=$SECONDS
	exec 9> "${TMPDIR:-/tmp}/banana-qemu.lock"
	if ! flock -n 9; then
		echo "   another run-xen.sh holds the QEMU slot; waiting (up to $((max / 60)) min)"
		flock -w "$max" 9 || die "the QEMU slot is still taken after $((max / 60)) min"
	fi
	local n=0
	while pgrep qemu-system > /dev/null; do
		[ $n = 0 ] && echo "   another QEMU is running (pid $(pgrep qemu-system | tr '\n' ' ')); waiting"
		[ $((SECONDS - t0)) -ge "$max" ] && die "another QEMU is still running after $((max / 60)) min"
		sleep 5
		n=$((n + 1))
	done
}

# ---- lab network (nested mode) --------------------------------------------------
# Each nested run owns a network namespace banana-<pid> with the bridge labbr:
#   10.77.0.1/24 on labbr (the peer: busybox udhcpd hands out 10.77.0.100-199, lease
#   file in the run's log dir; iperf3 -s; answers ping), one tap per QEMU NIC on labbr;
#   VLAN peers, each in its own namespace banana-<pid>-v<VID> on a trunk port of labbr:
#   VLAN 10 = 10.77.30.1/24 (DHCP .100-.149), VLAN 20 = 10.77.30.2/24 (DHCP .150-.199),
#   same subnet on purpose: separate namespaces, so nothing routes or proxies between them.
#   Tagging by the kernel (8021q) when it can, else by images/host/vlan-peer.py.
#   The VXLAN peer vx42 (lab_vxlan): VNI 42, local 10.77.0.1, remote 10.77.0.40 (the
#   underlay address of test vxlan-interop's Corm), UDP 4789 over labbr, 10.88.0.1/24
#   (MTU 1450), iperf3 -s on it; dumpcap captures the underlay (udp port 4789 on labbr)
#   into the run's lab/underlay.pcap for the whole run, and Geneve and WireGuard as
#   corm-e1000's NIC (tap3) sees them into lab/corm-e1000.pcap; the lab agent
#   (images/host/lab-agent.py) answers dom0 on 10.77.0.1:7700 with tshark's decode of it.
# QEMU runs inside banana-<pid>; nothing has a route out of it. Everything is torn
# down when run-xen.sh exits (also on failure, timeout, Ctrl-C); namespaces of dead
# runs are removed first.
# QEMU NICs (fixed layout; dom0 gets it as banana.nics=ROLE@BDF+... and finds a BDF
# with lib.sh `nic_bdf ROLE`):
#   00:03.0 e1000           corm-e1000    52:54:00:77:00:03   Corm e2e tests (passthrough)
#   00:04.0 e1000e          corm-e1000e   52:54:00:77:00:04   Corm e2e tests (passthrough)
#   00:05.0 virtio-net-pci  corm-virtio   52:54:00:77:00:05   Corm e2e tests (passthrough)
#   00:06.0 e1000           std           52:54:00:77:00:06   dom0's own NIC (standard path)
#   00:07.0 e1000           dd            52:54:00:77:00:07   the Linux driver domain (passthrough)
#   00:08.0 e1000e          std-e1000e    52:54:00:77:00:08   dom0's own NIC, e1000e (standard path, MSI-X)
#   00:09.0 e1000e          dd-e1000e     52:54:00:77:00:09   a Linux driver domain, e1000e (passthrough, MSI-X)
# e1000 (82540EM) interrupts by INTx, e1000e (82574L) by MSI-X, on every path: bench
# corm compares std, dd and banana per model (std/dd/corm-e1000 and *-e1000e).
LAB_NICS="corm-e1000:e1000:3 corm-e1000e:e1000e:4 corm-virtio:virtio-net-pci:5 std:e1000:6 dd:e1000:7 std-e1000e:e1000e:8 dd-e1000e:e1000e:9"
LAB_NS= LAB_DIR= LAB_PIDS= LAB_VLAN=0 LAB_DHCPD= LAB_VX=none LAB_AGENT=none LAB_CAP=
LAB_CAPTURE=1 # 0: lab_vxlan makes no underlay capture and no lab agent (cmd_bench)

# lab_stale: remove banana-* namespaces whose run (pid in the name) is gone
lab_stale() {
	local ns pid p
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^banana-[0-9]+(-v[0-9]+)?$' || true); do
		pid=${ns#banana-}; pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null && continue
		echo "   removing stale lab namespace $ns (run $pid is gone)"
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
}

# lab_can: why this machine cannot have a lab network (empty: it can)
lab_can() {
	[ "$(id -u)" = 0 ] || { echo "not root"; return; }
	[ -c /dev/net/tun ] || { echo "no /dev/net/tun"; return; }
	command -v ip > /dev/null || { echo "no ip (iproute2)"; return; }
	command -v iperf3 > /dev/null || { echo "no iperf3"; return; }
}

# lab_vlan_peer VID ADDR DHCP_START DHCP_END: a namespace with ADDR on VLAN VID of labbr
lab_vlan_peer() {
	local vid=$1 addr=$2 vns=$LAB_NS-v$1 dev i
	ip netns add "$vns" || return 1
	ip -n "$vns" link set lo up
	modprobe -q 8021q 2>/dev/null || true
	dev=
	if ip -n "$LAB_NS" link add "trunk$vid" type veth peer name trunk netns "$vns" 2>/dev/null &&
		ip -n "$vns" link add link trunk name "vlan$vid" type vlan id "$vid" 2>/dev/null; then
		ip -n "$LAB_NS" link set "trunk$vid" master labbr up
		ip -n "$vns" link set trunk up
		dev=vlan$vid
	else
		ip -n "$LAB_NS" link del "trunk$vid" 2>/dev/null || true
		command -v python3 > /dev/null || return 1
		# no 8021q: a userspace tagger between tap trunk<VID> (on labbr) and tap vlan<VID> in $vns
		ip netns exec "$LAB_NS" python3 "$ROOT/images/host/vlan-peer.py" "trunk$vid" "$vid" "$vns" "vlan$vid" \
			> "$LAB_DIR/vlan$vid-tagger.log" 2>&1 &
		LAB_PIDS="$LAB_PIDS $!"
		for i in $(seq 50); do
			ip -n "$vns" link show "vlan$vid" > /dev/null 2>&1 && ip -n "$LAB_NS" link show "trunk$vid" > /dev/null 2>&1 && break
			sleep 0.1
		done
		ip -n "$LAB_NS" link set "trunk$vid" master labbr up || return 1
		dev=vlan$vid
	fi
	ip -n "$vns" addr add "$addr/24" dev "$dev" && ip -n "$vns" link set "$dev" up || return 1
	printf 'start %s\nend %s\ninterface %s\nlease_file %s\npidfile %s\nmax_leases 50\nauto_time 5\noption subnet 255.255.255.0\noption lease 86400\n' \
		"$3" "$4" "$dev" "$LAB_DIR/udhcpd-v$vid.leases" "$LAB_DIR/udhcpd-v$vid.pid" > "$LAB_DIR/udhcpd-v$vid.conf"
	: > "$LAB_DIR/udhcpd-v$vid.leases"
	ip netns exec "$vns" busybox udhcpd -f "$LAB_DIR/udhcpd-v$vid.conf" > "$LAB_DIR/udhcpd-v$vid.log" 2>&1 &
	LAB_PIDS="$LAB_PIDS $!"
	ip netns exec "$vns" iperf3 -s -D -B "$addr" -I "$LAB_DIR/iperf3-v$vid.pid" --logfile "$LAB_DIR/iperf3-v$vid.log"
}

# lab_vxlan: the VXLAN peer vx42 with its iperf3, the underlay capture and the lab
# agent (see above). Sets LAB_VX and LAB_AGENT to ok or a one-word reason (dom0 gets
# them as banana.labvx / banana.labagent: test vxlan-interop fails with it at once)
# and prints one line for what could not be made; the run goes on without it.
lab_vxlan() {
	local i why a
	LAB_VX=ok LAB_AGENT=ok
	if ! ip -n "$LAB_NS" link add vx42 type vxlan id 42 local 10.77.0.1 remote 10.77.0.40 dstport 4789 dev labbr \
		2> "$LAB_DIR/vx42.err"; then
		LAB_VX=no-vxlan-device
		echo "   lab: no VXLAN peer vx42 (ip link add type vxlan: $(head -n 1 "$LAB_DIR/vx42.err")): vxlan-interop will fail"
	elif ! ip -n "$LAB_NS" addr add 10.88.0.1/24 dev vx42 || ! ip -n "$LAB_NS" link set vx42 up; then
		LAB_VX=vx42-not-up
		echo "   lab: VXLAN peer vx42 could not be brought up: vxlan-interop will fail"
	elif ! ip netns exec "$LAB_NS" iperf3 -s -D -B 10.88.0.1 -I "$LAB_DIR/iperf3-vx42.pid" --logfile "$LAB_DIR/iperf3-vx42.log"; then
		LAB_VX=no-iperf3-on-vx42
		echo "   lab: iperf3 -s -B 10.88.0.1 failed: vxlan-interop will fail"
	fi
	if [ "$LAB_CAPTURE" = 0 ]; then
		LAB_AGENT=off-in-bench
		echo "   lab: no underlay capture and no lab agent in a bench (the capture would tax the encap path only)"
		return 0
	fi
	if ! command -v dumpcap > /dev/null || ! command -v tshark > /dev/null; then
		LAB_AGENT=no-tshark
		echo "   lab: no tshark/dumpcap (apt package tshark): no underlay capture, no lab agent; vxlan-interop will fail"
		return 0
	fi
	# snap length 200: the headers (outer, VXLAN, inner up to ICMP) without iperf3's payload
	ip netns exec "$LAB_NS" dumpcap -q -P -i labbr -f 'udp port 4789' -s 200 -w "$LAB_DIR/underlay.pcap" \
		> "$LAB_DIR/underlay-capture.log" 2>&1 &
	LAB_CAP=$!
	# Frames between two Corms cross labbr from port to port, never through labbr
	# itself: corm-e1000's tap (00:03.0, the NIC of one Corm of every Corm-to-Corm
	# test) shows them; Geneve and WireGuard only (the lab agent's wg-flows)
	ip netns exec "$LAB_NS" dumpcap -q -P -i tap3 -f 'udp port 6081 or udp port 51820' -s 200 \
		-w "$LAB_DIR/corm-e1000.pcap" > "$LAB_DIR/corm-capture.log" 2>&1 &
	LAB_PIDS="$LAB_PIDS $!"
	for i in $(seq 50); do
		[ -s "$LAB_DIR/underlay.pcap" ] && break
		kill -0 "$LAB_CAP" 2> /dev/null || break
		sleep 0.1
	done
	if [ ! -s "$LAB_DIR/underlay.pcap" ]; then
		why=$(grep -v '^ *$' "$LAB_DIR/underlay-capture.log" | tail -n 1 || true)
		LAB_AGENT=no-capture
		echo "   lab: the underlay capture did not start (dumpcap: ${why:-no output}): no lab agent; vxlan-interop will fail"
		kill "$LAB_CAP" 2> /dev/null || true
		LAB_CAP=
		return 0
	fi
	if ! command -v python3 > /dev/null; then
		LAB_AGENT=no-python3
		echo "   lab: no python3: no lab agent; vxlan-interop will fail"
		return 0
	fi
	ip netns exec "$LAB_NS" python3 "$ROOT/images/host/lab-agent.py" 10.77.0.1 7700 "$LAB_DIR/underlay.pcap" \
		"$LAB_DIR/corm-e1000.pcap" \
		> "$LAB_DIR/lab-agent.log" 2>&1 &
	a=$!
	LAB_PIDS="$LAB_PIDS $a"
	for i in $(seq 50); do
		grep -q 'listening on' "$LAB_DIR/lab-agent.log" 2> /dev/null && return 0
		kill -0 "$a" 2> /dev/null || break
		sleep 0.1
	done
	LAB_AGENT=agent-did-not-start
	echo "   lab: the lab agent did not start ($(tail -n 1 "$LAB_DIR/lab-agent.log")): vxlan-interop will fail"
}

lab_down() {
	[ -n "$LAB_NS" ] || return 0
	local p f ns i
	# the capture first, by SIGTERM, so dumpcap writes out what it holds
	if [ -n "$LAB_CAP" ]; then
		kill "$LAB_CAP" 2> /dev/null || true
		for i in $(seq 30); do kill -0 "$LAB_CAP" 2> /dev/null || break; sleep 0.1; done
	fi
	for f in "$LAB_DIR"/iperf3*.pid; do [ -f "$f" ] && LAB_PIDS="$LAB_PIDS $(cat "$f")"; done
	[ -n "$LAB_DHCPD" ] && kill -USR1 "$LAB_DHCPD" 2>/dev/null && sleep 0.2   # udhcpd: write the lease file
	for f in "$LAB_DIR"/udhcpd*.leases; do
		[ -s "$f" ] && busybox dumpleases -a -f "$f" > "${f%.leases}-leases.txt" 2>&1
	done
	for p in $LAB_PIDS; do kill "$p" 2>/dev/null || true; done
	for ns in "$LAB_NS-v10" "$LAB_NS-v20" "$LAB_NS"; do
		ip netns list 2>/dev/null | grep -qE "^$ns( |\$)" || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || echo "   lab: could not delete namespace $ns" >&2
	done
	LAB_NS= LAB_PIDS= LAB_DHCPD= LAB_CAP=
}

QEMU_PIDFILE=
# on_signal STATUS: stop the QEMU of this run (if any), then exit (EXIT trap: lab_down)
on_signal() {
	if [ -n "$QEMU_PIDFILE" ] && [ -s "$QEMU_PIDFILE" ]; then
		echo "   interrupted: stopping QEMU and the lab network" >&2
		kill -TERM "$(cat "$QEMU_PIDFILE")" 2>/dev/null || true
		sleep 1
	fi
	exit "$1"
}

# lab_up LOGDIR: the lab network of this run (see above); 1 (and one line why) when
# this machine cannot have one: the run then goes on without NICs
lab_up() {
	local why n t m a
	why=$(lab_can)
	if [ -n "$why" ]; then echo "   no lab network ($why): running without NICs; tests needing it will fail"; return 1; fi
	lab_stale
	LAB_NS=banana-$$ LAB_DIR=$1/lab
	mkdir -p "$LAB_DIR"
	trap lab_down EXIT
	if ! ip netns add "$LAB_NS" || ! ip -n "$LAB_NS" link set lo up ||
		! ip -n "$LAB_NS" link add name labbr type bridge stp_state 0 forward_delay 0 ||
		! ip -n "$LAB_NS" addr add 10.77.0.1/24 dev labbr || ! ip -n "$LAB_NS" link set labbr up; then
		echo "   no lab network (cannot make namespace $LAB_NS with bridge labbr): running without NICs"
		lab_down; return 1
	fi
	ip netns exec "$LAB_NS" sysctl -q -w net.ipv4.ip_forward=0 net.ipv4.conf.all.arp_ignore=1 > /dev/null || true
	for n in $LAB_NICS; do
		t=tap${n##*:}
		if ! ip -n "$LAB_NS" tuntap add "$t" mode tap || ! ip -n "$LAB_NS" link set "$t" master labbr up; then
			echo "   no lab network (cannot make tap $t): running without NICs"; lab_down; return 1
		fi
	done
	printf 'start 10.77.0.100\nend 10.77.0.199\ninterface labbr\nlease_file %s\npidfile %s\nmax_leases 100\nauto_time 5\noption subnet 255.255.255.0\noption lease 86400\n' \
		"$LAB_DIR/udhcpd.leases" "$LAB_DIR/udhcpd.pid" > "$LAB_DIR/udhcpd.conf"
	: > "$LAB_DIR/udhcpd.leases"
	ip netns exec "$LAB_NS" busybox udhcpd -f "$LAB_DIR/udhcpd.conf" > "$LAB_DIR/udhcpd.log" 2>&1 &
	LAB_DHCPD=$!
	LAB_PIDS="$LAB_PIDS $!"
	if ! ip netns exec "$LAB_NS" iperf3 -s -D -B 10.77.0.1 -I "$LAB_DIR/iperf3.pid" --logfile "$LAB_DIR/iperf3.log"; then
		echo "   no lab network (iperf3 -s failed in $LAB_NS): running without NICs"; lab_down; return 1
	fi
	LAB_VLAN=1
	lab_vlan_peer 10 10.77.30.1 10.77.30.100 10.77.30.149 && lab_vlan_peer 20 10.77.30.2 10.77.30.150 10.77.30.199 || {
		echo "   lab: VLAN peers could not be set up (no 8021q and no python3?): VLAN tests will fail"; LAB_VLAN=0; }
	lab_vxlan
	sleep 0.3
	kill -0 "$LAB_DHCPD" 2>/dev/null ||
		{ echo "   no lab network (udhcpd died: $(tail -n 1 "$LAB_DIR/udhcpd.log")): running without NICs"; lab_down; return 1; }
	echo "   lab network: namespace $LAB_NS, labbr 10.77.0.1/24 (DHCP .100-.199, iperf3), taps$(for n in $LAB_NICS; do printf ' tap%s' "${n##*:}"; done)$([ $LAB_VLAN = 1 ] && echo ", VLAN 10/20 peers 10.77.30.1/.2")$([ $LAB_VX = ok ] && echo ", VXLAN peer vx42 10.88.0.1")$([ $LAB_AGENT = ok ] && echo ", underlay capture, lab agent :7700")"
	ip -n "$LAB_NS" -br link > "$LAB_DIR/links.txt" 2>&1
	return 0
}

# lab_qemu_args: the NIC options for QEMU (tap<slot> in the lab namespace)
lab_qemu_args() {
	local n role model slot
	for n in $LAB_NICS; do
		role=${n%%:*} model=${n#*:} model=${model%%:*} slot=${n##*:}
		echo "-netdev tap,id=n$slot,ifname=tap$slot,script=no,downscript=no"
		echo "-device $model,netdev=n$slot,bus=pcie.0,addr=0$slot.0,mac=52:54:00:77:00:0$slot"
	done
}

# lab_dom0_args: what dom0 learns about the lab (lib.sh: lab_net_ok, lab_vlan_ok, nic_bdf)
lab_dom0_args() {
	local n nics=
	for n in $LAB_NICS; do nics="$nics+${n%%:*}@0000:00:0${n##*:}.0"; done
	echo "banana.lab=1 banana.labvlan=$LAB_VLAN banana.labvx=$LAB_VX banana.labagent=$LAB_AGENT banana.nics=${nics#+}"
}

# boot LIST TIMEOUT LOGDIR: run the items in nested Xen (or on this real dom0)
boot() {
	local list=$1 tmo=$2 dir=$3 rc=0 t0=$SECONDS
	if is_dom0; then
		[ "$(id -u)" = 0 ] || die "running on a real Xen dom0 needs root"
		local con
		con=$(pgrep -a xenconsoled | grep -oE -- '--log-dir[= ][^ ]+' | sed 's/--log-dir[= ]//' | head -n 1 || true)
		pgrep -a xenconsoled | grep -qE -- '--log[= ](guest|all)' ||
			die "xenconsoled does not log guest consoles: restart it with --log=guest"
		note "real Xen dom0: running '$list' here with xl (log: $dir/serial.log)"
		BANANA_ROOT=$IMAGES/banana CONSOLE_DIR=${con:-/var/log/xen/console} \
			timeout -k 10 "$tmo" sh "$IMAGES/banana/runner.sh" "$list" 2>&1 | stamp "$dir/serial.log" || rc=$?
	else
		local accel=tcg machine=q35 cpu=max
		case ${BANANA_ACCEL:-auto} in
		kvm) accel=kvm ;;
		tcg) ;;
		*) kvm_works && accel=kvm ;;
		esac
		# intel-iommu with interrupt remapping needs the split irqchip under KVM
		[ $accel = kvm ] && { machine=q35,kernel-irqchip=split; cpu=host; }
		local xen="console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1"
		xen="$xen loglvl=all guest_loglvl=all noreboot smap=0 spec-ctrl=eager-fpu"
		local dom0="console=hvc0 earlyprintk=xen banana.run=$list"
		if [ -n "${BANANA_BENCH:-}" ]; then
			[[ $BANANA_BENCH =~ ^[A-Za-z0-9_=.:\ -]+$ ]] || die "BANANA_BENCH='$BANANA_BENCH': K=V pairs of letters, digits, '.', '_', '-', ':' only"
			dom0="$dom0 banana.bench=$(echo $BANANA_BENCH | tr ' ' '+')"
		fi
		wait_other_qemu
		trap 'on_signal 130' INT
		trap 'on_signal 143' TERM
		local nics=() netns=()
		if lab_up "$dir"; then
			# shellcheck disable=SC2207
			nics=($(lab_qemu_args))
			netns=(ip netns exec "$LAB_NS")
			dom0="$dom0 $(lab_dom0_args)"
		fi
		note "booting nested Xen ($accel, timeout ${tmo}s): $list (log: $dir/serial.log)"
		# QEMU's -initrd takes a comma separated list: commas inside a command line are doubled
		local cmd=(qemu-system-x86_64 -name banana -machine "$machine" -accel "$accel" -cpu "$cpu"
			-smp 2 -m 3072 -device intel-iommu,intremap=on,caching-mode=on
			-display none -vga none -monitor none -nic none "${nics[@]}" -serial stdio -no-reboot
			-kernel "$IMAGES/xen.elf" -append "$xen"
			-initrd "$IMAGES/vmlinuz ${dom0//,/,,},$IMAGES/dom0.cpio.gz")
		printf '%q ' "${netns[@]}" "${cmd[@]}" > "$dir/qemu.cmd"
		# in the background, so a signal to this script is handled at once (on_signal)
		rm -f "$dir/.qemu.pid" "$dir/.qemu.rc"
		(
			"${netns[@]}" timeout -k 10 "$tmo" "${cmd[@]}" < /dev/null 2>&1 &
			echo $! > "$dir/.qemu.pid"
			wait $! && echo 0 > "$dir/.qemu.rc" || echo $? > "$dir/.qemu.rc"
		) | stamp "$dir/serial.log" &
		QEMU_PIDFILE=$dir/.qemu.pid
		wait $! || true
		rc=$(cat "$dir/.qemu.rc" 2>/dev/null || echo 1)
		rm -f "$dir/.qemu.pid" "$dir/.qemu.rc"
		QEMU_PIDFILE=
		lab_down
	fi
	[ $rc = 124 ] && echo "   TIMEOUT: the run was stopped after ${tmo}s"
	echo "   run took $((SECONDS - t0))s (exit status $rc)"
	split_logs "$dir"
}

# split_logs DIR: BANANA-LOG-BEGIN <path> ... BANANA-LOG-END sections -> DIR/<path>
split_logs() {
	awk -v dir="$1" '
		{ line = $0; sub(/^\[ *[0-9]+\.[0-9]+\] /, "", line) }
		line ~ /^BANANA-LOG-BEGIN / {
			path = substr(line, 18); out = ""
			if (path ~ /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/ && path !~ /\.\./) {
				out = dir "/" path; d = out; sub(/\/[^\/]*$/, "", d)
				system("mkdir -p \"" d "\""); printf "" > out
			}
			next
		}
		line ~ /^BANANA-LOG-END/ { if (out != "") close(out); out = ""; next }
		out != "" && substr(line, 1, 1) == "|" { print substr(line, 2) > out }
	' "$1/serial.log"
}

# results DIR EXPECTED...: print each result; sets PASSED FAILED
PASSED=0 FAILED=0
results() {
	local dir=$1 t line
	shift
	local markers
	markers=$(sed -n 's/^\[ *[0-9.]*\] //; /^BANANA-TEST-\(PASS\|FAIL\) /p' "$dir/serial.log")
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		case $line in
		BANANA-TEST-PASS*) echo "  PASS ${line#BANANA-TEST-PASS }"; PASSED=$((PASSED + 1)) ;;
		*) echo "  FAIL ${line#BANANA-TEST-FAIL }"; FAILED=$((FAILED + 1)) ;;
		esac
	done <<< "$markers"
	for t in "$@"; do
		grep -qE "^BANANA-TEST-(PASS|FAIL) $t(:|\$)" <<< "$markers" && continue
		echo "  FAIL $t: no result (the run ended before it finished)"
		FAILED=$((FAILED + 1))
	done
	if ! grep -q 'BANANA-TESTS-DONE' "$dir/serial.log"; then
		echo "  BANANA-TESTS-DONE never appeared; last lines of $dir/serial.log:"
		tail -n 30 "$dir/serial.log" | sed 's/^/    /'
		DONE_MISSING=1
	fi
}
DONE_MISSING=

new_logdir() { # CMD
	local d
	d=$ROOT/out/logs/$(date +%Y%m%d-%H%M%S)-$1
	mkdir -p "$d"
	echo "$d"
}

all_tests() { # linux-boot first: it checks the lab itself
	{ echo linux-boot; ls images/dom0/tests | sed -n 's/\.sh$//p' | grep -vx linux-boot | sort; } | tr '\n' ' '
}

# ---- commands -----------------------------------------------------------------

cmd_build() {
	local dir
	dir=$(new_logdir build)
	build_all "$dir"
	[ -z "$BUILD_FAILED" ] || die "cargo build failed for:$BUILD_FAILED (log: $dir/cargo-build.log)"
}

cmd_test() {
	local dir tests t0=$SECONDS
	dir=$(new_logdir test)
	echo "logs: $dir"
	build_all "$dir"
	tests=${*:-$(all_tests)}
	note "host tests: cargo test --workspace (log: $dir/cargo-test.log)"
	local host=PASS t1=$SECONDS
	if [ -n "${BANANA_NO_CARGO:-}" ]; then
		echo "skipped (BANANA_NO_CARGO)" > "$dir/cargo-test.log"; host=SKIP
	else
		cargo test --workspace > "$dir/cargo-test.log" 2>&1 || host=FAIL
	fi
	{ grep -E '^test result:' "$dir/cargo-test.log" || true; } |
		awk -v s=$((SECONDS - t1)) '{ p += $4; f += $6 } END { printf "   %d unit tests passed, %d failed (%ds)\n", p, f, s }'
	if [ $host = FAIL ]; then
		echo "   cargo test failed; last lines:"
		tail -n 8 "$dir/cargo-test.log" | sed 's/^/   /'
	fi
	boot "$(echo $tests | tr ' ' ',')" "${BANANA_QEMU_TIMEOUT:-2400}" "$dir"
	echo
	echo "results (logs: $dir):"
	for t in $BUILD_FAILED; do echo "  FAIL build $t: cargo build failed (cargo-build.log)"; FAILED=$((FAILED + 1)); done
	case $host in
	PASS) echo "  PASS host: cargo test --workspace"; PASSED=$((PASSED + 1)) ;;
	FAIL) echo "  FAIL host: cargo test --workspace (cargo-test.log)"; FAILED=$((FAILED + 1)) ;;
	SKIP) echo "  SKIP host: cargo test --workspace (BANANA_NO_CARGO)" ;;
	esac
	results "$dir" $tests
	echo "total time $((SECONDS - t0))s"
	echo "$PASSED passed, $FAILED failed"
	[ $FAILED = 0 ] && [ -z "$DONE_MISSING" ]
}

cmd_demo() {
	local dir
	dir=$(new_logdir demo)
	echo "logs: $dir"
	build_all "$dir"
	boot demo "${BANANA_QEMU_TIMEOUT:-1500}" "$dir"
	echo
	echo "what happened:"
	sed -n 's/^\[ *[0-9.]*\] BANANA-DEMO /  /p' "$dir/serial.log"
	echo "results:"
	results "$dir" demo
	echo "logs: $dir"
	[ $FAILED = 0 ] && [ -z "$DONE_MISSING" ]
}

cmd_bench() { # [figures|net|corm...] (default: figures net)
	local dir elf=target/x86_64-unknown-none/release/selftest-domain items= a
	for a in ${*:-figures net}; do
		case $a in
		figures | bench) items="$items bench" ;;
		net | bench-net) items="$items bench-net" ;;
		corm | bench-corm) items="$items bench-corm" ;;
		*) die "bench: unknown part '$a' (figures, net, corm)" ;;
		esac
	done
	dir=$(new_logdir bench)
	echo "logs: $dir"
	build_all "$dir"
	LAB_CAPTURE=0
	boot "$(echo $items | tr ' ' ',')" "${BANANA_QEMU_TIMEOUT:-7200}" "$dir"
	{
		if [ -f "$elf" ] && [[ " $BUILD_FAILED " != *" selftest-domain "* ]]; then
			echo "selftest_elf_bytes=$(stat -c %s "$elf")"
		else
			echo "selftest_elf_bytes=none"
		fi
		sed -n 's/^\[ *[0-9.]*\] BANANA-FIGURE //p' "$dir/serial.log"
	} > "$dir/figures.txt"
	echo
	echo "figures (same nested boot; $dir/figures.txt):"
	awk -F= '{ printf "  %-38s %s\n", $1, $2 }' "$dir/figures.txt"
	if grep -q '^net_ratio_' "$dir/figures.txt"; then
		echo
		echo "network: Spike-wire-Spike vs dom0 bridge + Linux netback (interleaved slots; medians, RTT p50/p90 of all pings; ratio = spike/std):"
		awk -F= '{ v[$1] = $2 } END {
			printf "  %-10s %12s %12s %8s %16s %16s\n", "", "spike", "std", "ratio", "spike range", "std range"
			n = split("tx_mbit rx_mbit rtt_ms", k, " ")
			for (i = 1; i <= n; i++) { split(k[i], p, "_")
				printf "  %-10s %12s %12s %8s %16s %16s\n", k[i], v["net_spike_" k[i] "_median"], v["net_std_" k[i] "_median"],
					v["net_ratio_" p[1]], v["net_spike_" k[i] "_spread"], v["net_std_" k[i] "_spread"] }
			printf "  %-10s %12s %12s %8s %16s %16s\n", "rtt_p90_ms", v["net_spike_rtt_ms_p90"], v["net_std_rtt_ms_p90"], v["net_ratio_rtt_p90"], "", ""
			printf "  %-10s %12s %12s\n", "tx_retr", v["net_spike_tx_retr_total"], v["net_std_tx_retr_total"]
			printf "  %-10s %12s %12s\n", "rx_retr", v["net_spike_rx_retr_total"], v["net_std_rx_retr_total"]
			printf "  %-10s %12s %12s %8s   (CPU s per GB: dom0 + Spikes; guests %s / %s)\n", "cpu_s/GB", v["net_spike_cpu_s_per_gb_path"],
				v["net_std_cpu_s_per_gb_path"], v["net_ratio_cpu"], v["net_spike_cpu_s_per_gb_guests"], v["net_std_cpu_s_per_gb_guests"]
			printf "  %-10s %12s %12s %8s\n", "initwait_s", v["vif_initwait_spike_median_s"], v["vif_initwait_std_median_s"],
				v["vif_initwait_ratio_spike_over_std"]
			c = ""; for (key in v) if (key ~ /^net_spike_ctr_.*_total$/) { kk = substr(key, 15); sub(/_total$/, "", kk); c = c " " kk "=" v[key] }
			if (c != "") printf "  Spike counters (deltas over spike slots):%s\n", c
		}' "$dir/figures.txt"
	fi
	if grep -q '^corm_.*ratio_' "$dir/figures.txt"; then
		echo
		echo "network to the lab peer, per NIC model: std (dom0), dd (Linux driver domain), banana (Spike + Corm),"
		echo "encap (Spike + the same Corm + a VXLAN wire to the lab's Linux VTEP; one model only)"
		echo "(interleaved rounds; Mbit/s: medians of the rounds [min-max]; RTT: p50/p90 of all pings; retransmits: sum;"
		echo " CPU s/GB: CPU seconds over GB moved, path = every domain but the guest, backend = dom0 | dd | Spike+Corm)"
		awk -F= '{ v[$1] = $2 } END {
			n = split("e1000 e1000e", ms, " ")
			for (mi = 1; mi <= n; mi++) { m = ms[mi]; P = (m == "e1000" ? "corm_" : "corm_" m "_")
				if (!((P "std_tx_mbit_median") in v) && !((P "banana_tx_mbit_median") in v) && !((P "dd_tx_mbit_median") in v)) continue
				printf "\n  %-20s %18s %18s %18s %18s %8s %8s %8s\n", m " (" d(v[P "std_irq"]) "/" d(v[P "dd_irq"]) "/" d(v[P "banana_irq"]) ")", "std", "dd", "banana", "encap", "ban/std", "ban/dd", "enc/ban"
				row("tx Mbit/s", P, "tx_mbit_median", "tx_mbit_spread", "tx"); row("rx Mbit/s", P, "rx_mbit_median", "rx_mbit_spread", "rx")
				row("RTT p50 ms", P, "rtt_ms_median", "rtt_ms_spread", "rtt"); row("RTT p90 ms", P, "rtt_ms_p90", "", "rtt_p90")
				row("tx retransmits", P, "tx_retr_total", "", ""); row("rx retransmits", P, "rx_retr_total", "", "")
				row("CPU s/GB path", P, "cpu_s_per_gb_path", "", "cpu"); row("CPU s/GB backend", P, "cpu_s_per_gb_backend", "", "")
				row("CPU s/GB dom0", P, "cpu_s_per_gb_dom0", "", ""); row("CPU s/GB guest", P, "cpu_s_per_gb_guest", "", "")
				c = ""; for (key in v) if (index(key, P "banana_ctr_") == 1 && key ~ /_total$/) {
					kk = substr(key, length(P "banana_ctr_") + 1); sub(/_total$/, "", kk); c = c " " kk "=" v[key] }
				c2 = ""; for (key in v) if (index(key, P "idle_cpu_pct_") == 1) c2 = c2 " " substr(key, length(P "idle_cpu_pct_") + 1) "=" v[key] "%"
				if (c2 != "") printf "  idle window CPU:%s\n", c2
				if (c != "") printf "  banana counters (deltas, all rounds):%s\n", c
			}
		}
		function d(x) { return x == "" ? "-" : x }
		function row(label, P, key, sp, rk,   i, s, o) {
			o = sprintf("  %-20s", label); split("std dd banana encap", ps, " ")
			for (i = 1; i <= 4; i++) { s = d(v[P ps[i] "_" key]); if (sp != "" && (P ps[i] "_" sp) in v) s = s " [" v[P ps[i] "_" sp] "]"; o = o sprintf(" %18s", s) }
			if (rk != "") o = o sprintf(" %8s %8s %8s", d(v[P "ratio_banana_over_std_" rk]), d(v[P "ratio_banana_over_dd_" rk]), d(v[P "ratio_encap_over_banana_" rk]))
			print o
		}' "$dir/figures.txt"
	fi
	results "$dir" $items
	[ $FAILED = 0 ] && [ -z "$DONE_MISSING" ]
}

cmd_soak() { # [MIN]: the soak (images/dom0/soak.sh), MIN minutes (30)
	local dir min=${1:-30}
	[[ $min =~ ^[1-9][0-9]*$ ]] || die "soak: minutes must be a positive number, not '$min'"
	dir=$(new_logdir soak)
	echo "logs: $dir"
	build_all "$dir"
	boot "soak-$min" "$((min * 60 + 2400))" "$dir"
	echo
	sed -n 's/^\[ *[0-9.]*\] \[soak-[0-9]*\] SOAK /  /p; s/^\[ *[0-9.]*\] BANANA-FIGURE \(soak_.*\)/  \1/p' "$dir/serial.log"
	results "$dir" "soak-$min"
	[ $FAILED = 0 ] && [ -z "$DONE_MISSING" ]
}

cmd_clean() {
	if [ "${1:-}" = --all ]; then rm -rf "$ROOT/out"; else rm -rf "$IMAGES" "$ROOT/out/kvm-probe"; fi
}

cmd=${1:-demo}
[ $# -gt 0 ] && shift
case $cmd in
-h | --help | help) usage ;;
demo) cmd_demo ;;
test) cmd_test "$@" ;;
bench) cmd_bench "$@" ;;
soak) cmd_soak "$@" ;;
build) cmd_build ;;
clean) cmd_clean "$@" ;;
*) usage >&2; exit 2 ;;
esac
