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
Usage: ./run-xen.sh [demo|test|bench|build|clean] [ARGS]   (default: demo)

  demo          build, boot nested Xen, run the demo (a selftest unikernel domain
                and a Linux PV guest) and tell what happened
  test [T...]   host tests (cargo test --workspace), then the end-to-end tests in
                nested Xen (all of images/dom0/tests/, or the ones named); prints
                each result and "N passed, M failed"; non-zero exit on any failure
  bench [P...]  figures measured in one nested boot: P = figures (bench/figures.sh:
                sizes, boot times) and/or net (bench/spike-net.sh: Spike vs dom0
                netback throughput and RTT, Spike footprint); default both
  build         install what is missing, cargo build, build out/images/
  clean         remove out/images/ (clean --all: all of out/, logs included)

Logs of each run go to out/logs/<timestamp>-<cmd>/: serial.log (host-timestamped),
one file per dumped domain console and xl dmesg tail, cargo logs.
In a real Xen dom0 (/proc/xen/capabilities has control_d) QEMU is skipped and the
same dom0 scripts run here with xl (xenconsoled must run with --log=guest).

Environment: BANANA_ACCEL=tcg|kvm (default: kvm if it works, else tcg),
BANANA_QEMU_TIMEOUT=seconds (whole QEMU run), BANANA_NO_INSTALL=1 (skip apt/rustup),
BANANA_NO_CARGO=1 (skip cargo build and cargo test: use target/ as it is).
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

wait_other_qemu() {
	local n=0
	while pgrep qemu-system > /dev/null; do
		[ $n = 0 ] && echo "   another QEMU is running (pid $(pgrep qemu-system | tr '\n' ' ')); waiting (up to 30 min)"
		[ $n -ge 360 ] && die "another QEMU is still running after 30 min"
		sleep 5
		n=$((n + 1))
	done
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
		wait_other_qemu
		note "booting nested Xen ($accel, timeout ${tmo}s): $list (log: $dir/serial.log)"
		# QEMU's -initrd takes a comma separated list: commas inside a command line are doubled
		local cmd=(qemu-system-x86_64 -name banana -machine "$machine" -accel "$accel" -cpu "$cpu"
			-smp 2 -m 3072 -device intel-iommu,intremap=on,caching-mode=on
			-display none -vga none -monitor none -nic none -serial stdio -no-reboot
			-kernel "$IMAGES/xen.elf" -append "$xen"
			-initrd "$IMAGES/vmlinuz ${dom0//,/,,},$IMAGES/dom0.cpio.gz")
		printf '%q ' "${cmd[@]}" > "$dir/qemu.cmd"
		timeout -k 10 "$tmo" "${cmd[@]}" < /dev/null 2>&1 | stamp "$dir/serial.log" || rc=$?
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
	boot "$(echo $tests | tr ' ' ',')" "${BANANA_QEMU_TIMEOUT:-900}" "$dir"
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
	boot demo "${BANANA_QEMU_TIMEOUT:-900}" "$dir"
	echo
	echo "what happened:"
	sed -n 's/^\[ *[0-9.]*\] BANANA-DEMO /  /p' "$dir/serial.log"
	echo "results:"
	results "$dir" demo
	echo "logs: $dir"
	[ $FAILED = 0 ] && [ -z "$DONE_MISSING" ]
}

cmd_bench() { # [figures|net...] (default: both)
	local dir elf=target/x86_64-unknown-none/release/selftest-domain items= a
	for a in ${*:-figures net}; do
		case $a in
		figures | bench) items="$items bench" ;;
		net | bench-net) items="$items bench-net" ;;
		*) die "bench: unknown part '$a' (figures, net)" ;;
		esac
	done
	dir=$(new_logdir bench)
	echo "logs: $dir"
	build_all "$dir"
	boot "$(echo $items | tr ' ' ',')" "${BANANA_QEMU_TIMEOUT:-3600}" "$dir"
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
		echo "network: Spike-wire-Spike vs dom0 bridge + Linux netback (medians; ratio = spike/std):"
		awk -F= '{ v[$1] = $2 } END {
			printf "  %-10s %12s %12s %8s %16s %16s\n", "", "spike", "std", "ratio", "spike range", "std range"
			n = split("tx_mbit rx_mbit rtt_ms", k, " ")
			for (i = 1; i <= n; i++) { split(k[i], p, "_")
				printf "  %-10s %12s %12s %8s %16s %16s\n", k[i], v["net_spike_" k[i] "_median"], v["net_std_" k[i] "_median"],
					v["net_ratio_" p[1]], v["net_spike_" k[i] "_spread"], v["net_std_" k[i] "_spread"] }
			printf "  %-10s %12s %12s %8s\n", "initwait_s", v["vif_initwait_spike_median_s"], v["vif_initwait_std_median_s"],
				v["vif_initwait_ratio_spike_over_std"]
		}' "$dir/figures.txt"
	fi
	results "$dir" $items
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
build) cmd_build ;;
clean) cmd_clean "$@" ;;
*) usage >&2; exit 2 ;;
esac
