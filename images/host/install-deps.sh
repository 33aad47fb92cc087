#!/usr/bin/env bash
# Install what the lab needs on Debian bookworm: the missing apt packages of
# apt-packages.txt, rustup (if absent) and the toolchain pinned in rust-toolchain.toml
# (with its x86_64-unknown-none target).
#   images/host/install-deps.sh [--dom0]    (--dom0: skip the packages tagged "lab")
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
die() { echo "install-deps: error: $*" >&2; exit 1; }
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

want=$(awk -v dom0="${1:-}" '!/^#/ && NF && !(dom0 == "--dom0" && $2 == "lab") { print $1 }' "$(dirname "$0")/apt-packages.txt")
missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	command -v apt-get > /dev/null || die "missing packages:$missing (and no apt-get)"
	[ -z "$SUDO" ] || command -v sudo > /dev/null || die "missing packages:$missing; run as root or install sudo"
	echo "install-deps: apt-get install$missing"
	$SUDO apt-get update -q
	# wireshark-common (tshark) asks whether non-root users may capture: no (the lab
	# captures as root); preseeded so that a fresh system installs without a question
	case " $missing " in
	*" tshark "*)
		echo 'wireshark-common wireshark-common/install-setuid boolean false' | $SUDO debconf-set-selections ||
			die "debconf-set-selections failed (preseeding wireshark-common for tshark)" ;;
	esac
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

export PATH=$HOME/.cargo/bin:$PATH
if ! command -v rustup > /dev/null; then
	# rustup-init straight from static.rust-lang.org (what https://sh.rustup.rs fetches)
	echo "install-deps: installing rustup"
	init=$(mktemp -d)/rustup-init   # rustup-init picks its mode from its file name
	curl --proto '=https' --tlsv1.2 -sSfL -o "$init" \
		"https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init" ||
		die "could not download rustup-init"
	chmod +x "$init"
	"$init" -y -q --profile minimal --default-toolchain none --no-modify-path
	rm -rf "$(dirname "$init")"
fi
cd "$ROOT" && rustup toolchain install > /dev/null   # reads rust-toolchain.toml
