#!/usr/bin/env bash
# Pull the uncompressed ELF vmlinux out of a bzImage (Debian's are xz; gzip and
# zstd are tried too), so a PV guest can be built from an ELF: libxenguest then
# does not have to decompress the kernel inside dom0 on every `xl create`.
#   extract-vmlinux.sh /boot/vmlinuz-X OUT
set -euo pipefail
in=$1 out=$2
tmp=$out.tmp
try() { # magic(grep -P) decompressor...
	local magic=$1 off; shift
	for off in $(LC_ALL=C grep -obUaP "$magic" "$in" | cut -d: -f1); do
		tail -c +"$((off + 1))" "$in" | "$@" > "$tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
			mv "$tmp" "$out"
			echo "extract-vmlinux: $(basename "$in") -> $out ($(stat -c %s "$out") bytes, payload at $off)"
			exit 0
		fi
	done
}
try '\xfd7zXZ\x00' xz -dc --single-stream
try '\x1f\x8b\x08' gzip -dc
command -v zstd >/dev/null && try '\x28\xb5\x2f\xfd' zstd -dc
rm -f "$tmp"
echo "extract-vmlinux: no compressed ELF payload found in $in" >&2
exit 1
