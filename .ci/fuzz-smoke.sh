#!/usr/bin/env bash
# A short fuzz run of every parser fed by another domain or the network
# (cargo-fuzz on nightly, installed here if missing).
#
# Every fuzz crate is built first, all into one target directory
# (BANANA_FUZZ_TARGET_DIR, default target/fuzz), so the dependencies they
# share (libFuzzer, the workspace crates, with the same features and locked
# versions in every fuzz crate) are compiled once: fuzz target names must
# stay unique across crates. Then the targets run BANANA_FUZZ_JOBS at a time
# (default: one per core), each for BANANA_FUZZ_SECS (default 10) seconds,
# growing the corpus kept under its crate's fuzz/corpus/<target>/
# (git-ignored, built on the fly). Any crash fails the smoke and prints the
# reproducer's path. The whole smoke, builds included, stays under 5
# minutes on 2 cores: 296 s measured (216 s of builds, 80 s of fuzzing) on a
# 2-core machine that was also running QEMU.
#   .ci/fuzz-smoke.sh [CRATE:TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$HOME/.cargo/bin:$PATH
SECS=${BANANA_FUZZ_SECS:-10}
JOBS=${BANANA_FUZZ_JOBS:-$(nproc)}
TARGET_DIR=${BANANA_FUZZ_TARGET_DIR:-$PWD/target/fuzz}
TARGETS=${*:-"wire-proto:decode_stream wire-proto:decode_datagram
	net-offload:segment net-offload:coalesce
	spike-domain:tx_ring spike-domain:rx_ring spike-domain:xenbus_values
	local-wire:ring local-wire:ring_race local-wire:setup
	corm-domain:pcifront corm-domain:switch corm-domain:underlay
	encap:decap wireguard:wg_receive
	controller:xenstore_output pv-runtime:counter_page pv-runtime:capture_ring"}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
t0=$SECONDS

crates=$(for spec in $TARGETS; do echo "${spec%%:*}"; done | awk '!seen[$0]++')
for crate in $crates; do
	t1=$SECONDS
	if ! (cd "$crate/fuzz" && cargo +nightly fuzz build --target-dir "$TARGET_DIR") \
		> "$logs/build" 2>&1; then
		echo "fuzz-smoke: FAIL building $crate/fuzz"
		tail -n 30 "$logs/build"
		exit 1
	fi
	echo "fuzz-smoke: built $crate/fuzz in $((SECONDS - t1))s"
done

# One target: what `cargo fuzz run` does, without a cargo per run.
run_one() {
	local crate=${1%%:*} target=${1#*:}
	local dir=$PWD/$crate/fuzz log=$logs/$crate.$target
	mkdir -p "$dir/corpus/$target" "$dir/artifacts/$target"
	if ! "$TARGET_DIR/x86_64-unknown-linux-gnu/release/$target" \
		-artifact_prefix="$dir/artifacts/$target/" -max_total_time="$SECS" \
		-rss_limit_mb=2048 -print_final_stats=1 "$dir/corpus/$target" > "$log" 2>&1; then
		echo "fuzz-smoke: FAIL $crate $target (reproduce: cd $crate/fuzz &&" \
			"cargo +nightly fuzz run $target artifacts/$target/<crash>)"
		grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact' "$log" | head -n 20
		tail -n 20 "$log"
		return 1
	fi
	local runs
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	echo "fuzz-smoke: ok $crate $target: ${runs:-?} runs in ${SECS}s"
}
export -f run_one
export SECS TARGET_DIR logs
t1=$SECONDS
if ! printf '%s\n' $TARGETS | xargs -P "$JOBS" -I{} bash -c 'run_one {}'; then
	echo "fuzz-smoke: failed after $((SECONDS - t0))s"
	exit 1
fi
echo "fuzz-smoke: all passed in $((SECONDS - t0))s ($((SECONDS - t1))s fuzzing, $JOBS at a time)"
