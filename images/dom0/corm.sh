# Corm helpers for dom0 tests and benches (sourced after lib.sh).
#   corm_up NAME ROLE ENDPOINTS [banana corm create args]
#         a Corm owning the lab NIC of ROLE (corm-e1000|corm-e1000e|corm-virtio),
#         created through the controller; waits for its link. Sets CORM_BDF.
#   corm_spike NAME SPIKE ENDPOINT MAC [IP]
#         a Spike for the guest with MAC, booted and wired to corm:NAME/ENDPOINT
#         (the Corm carries that MAC only: the controller's, not the Spike's, word;
#         with IP, the Corm also drops ARP/ND claiming IP for another MAC).
#   corm_down NAME: destroy it through the controller; the NIC is reusable
#         once the domain is fully gone (waited for).

corm_up() {
	need_lab
	need_nic "$2"
	CORM_BDF=$NIC_BDF
	corm_name=$1 corm_n=$3
	shift 3
	echo "$corm_name" >> "$BANANA_DOMLIST"
	rm -f "$(console_file "$corm_name")"
	# a domain that had the NIC keeps it until it is fully gone (~10 s)
	t=0
	while xl list 2>/dev/null | awk 'NR > 1 { print $1 }' | grep -qx '(null)' && [ $t -lt 30 ]; do
		sleep 1
		t=$((t + 1))
	done
	banana_ok corm create "$corm_name" --bdf "$CORM_BDF" --endpoints "$corm_n" "$@"
	BAD_RE_SAVED=$BAD_RE
	BAD_RE="${BAD_RE:+$BAD_RE|}CORM-FATAL|panicked at"
	wait_console "$corm_name" '^CORM-NIC ' 60
	wait_console "$corm_name" '^CORM-LINK-UP' 30
	BAD_RE=$BAD_RE_SAVED
	log "corm $corm_name: $(console "$corm_name" | grep -m 1 '^CORM-NIC ')"
}

corm_spike() {
	echo "$2" >> "$BANANA_DOMLIST"
	banana_ok spike create "$2" --mac "$4" ${5:+--ip "$5"}
	wait_console "$2" '^SPIKE-BOOT' 30
	banana_ok wire connect "corm:$1/$3" "spike:$2"
}

corm_down() {
	banana_ok corm destroy "$1"
	wait_gone "$1" 60
}

# corm_encap_wire B/E A/E [ARG...]: `banana wire connect corm:B/E corm:A/E --encap
# geneve ARG...` (two Corms as two hosts; --tunnel: a tunnel wire), then waits until
# each Corm brought the tunnel up with in-band control and sees its peer. Sets WIRE
# (the wire id).
corm_encap_wire() {
	_a=$1 _b=$2
	shift 2
	banana_ok wire connect "corm:$_a" "corm:$_b" --encap geneve "$@"
	set -- "$_a" "$_b"
	WIRE=$(sed -n 's/^wire \([0-9][0-9]*\): .*/\1/p' "$BANANA_WORK/banana.out" | head -n 1)
	[ -n "$WIRE" ] || fail "banana wire connect printed no wire id: $(tr '\n' ' ' < "$BANANA_WORK/banana.out")"
	for c in "${1%%/*}" "${2%%/*}"; do
		wait_console "$c" "^CORM-TUNNEL-UP wire=$WIRE .* encap=geneve vni=$WIRE .* control=on" 60
		wait_console "$c" "^CORM-TUNNEL-PEER-UP wire=$WIRE" 60
		log "corm $c: $(console "$c" | grep -m 1 "^CORM-TUNNEL-UP wire=$WIRE")"
	done
}

# corm_counter NAME COUNTER -> a counter of the Corm's counter page (lib.sh: counter)
corm_counter() { counter "$1" "$2"; }

# corm_wireguard NAME STARTS: the Corm NAME (made with --tunnel-key) took the key
# the controller made: its console says the public key of its record, once per
# start so far (STARTS: a restart keeps the key), the secrets directory of its
# config is gone (the Corm deletes it once read), and banana status shows the
# public key and never the private one. Sets WG_PUBLIC.
corm_wireguard() {
	WG_PUBLIC=$(xenstore-read "/banana/corm/$1/wireguard/public-key") ||
		fail "corm $1 has no WireGuard key in its record"
	_priv=$(xenstore-read "/banana/corm/$1/wireguard/private-key") ||
		fail "corm $1 has no private key in its record"
	_n=$(console "$1" | grep -cF "CORM-WIREGUARD public-key=$WG_PUBLIC ")
	[ "$_n" -eq "$2" ] || {
		console "$1" | grep 'CORM-WIREGUARD\|CORM-CONFIG-ERROR' | sed 's/^/    /'
		fail "corm $1 announced its key $WG_PUBLIC $_n times, expected $2"
	}
	log "corm $1: $(console "$1" | grep -F "CORM-WIREGUARD public-key=" | tail -n 1)"
	_d=$(domid "$1")
	! xenstore-exists "/banana/config/$_d/wireguard" ||
		fail "corm $1 left its WireGuard secrets in /banana/config/$_d/wireguard"
	[ "$(xenstore-read "/local/domain/$_d/data/banana/wireguard/public-key")" = "$WG_PUBLIC" ] ||
		fail "corm $1 does not publish its public key"
	banana status > "$BANANA_WORK/wg-status.out" 2>&1 || fail "banana status failed"
	grep -qF "$WG_PUBLIC" "$BANANA_WORK/wg-status.out" || fail "banana status does not show $1's public key"
	! grep -qF "$_priv" "$BANANA_WORK/wg-status.out" || fail "banana status shows $1's private key"
	! console "$1" | grep -qF "$_priv" || fail "corm $1 printed its private key"
}

# corm_e2e ROLE: the end-to-end check for one NIC model. Corm c-M (M: ROLE without
# "corm-") owns the NIC of ROLE with two endpoints; Spikes s1-M and s2-M are wired; guest g1 (on s1)
# gets a DHCP lease from the lab peer, pings it and runs iperf3 both ways; guest g2
# (on s2, static 10.77.0.42) reaches the peer too; g1 reaches g2 through the Corm.
corm_e2e() {
	BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-WIRE-ERROR'
	command -v banana > /dev/null || fail "no banana controller in this dom0"
	CM=${1#corm-} CE=c-${1#corm-}
	corm_up $CE "$1" 2
	corm_spike $CE s1-$CM 0 00:16:3e:00:01:01
	corm_spike $CE s2-$CM 1 00:16:3e:00:01:02
	lab_guest g1 "backend=s1-$CM" 00:16:3e:00:01:01 "banana.iperf=1 banana.iperf_s=5 banana.probe=10.77.0.42"
	net_guest g2 s2-$CM 10.77.0.42 "$LAB_PEER" 00:16:3e:00:01:02
	for sp in s1-$CM s2-$CM; do
		wait_console $sp 'SPIKE-VIF-CONNECTED' 90
		wait_console $sp 'SPIKE-WIRE-UP' 60
	done
	wait_count $CE '^CORM-ENDPOINT-UP' 2 30
	wait_console g1 '^GUEST-DHCP-LEASE 10\.77\.0\.' 120
	wait_console g1 'GUEST-NET-OK n=1' 60
	wait_console g2 'GUEST-NET-OK n=1' 90
	wait_console g1 'GUEST-PROBE ip=10.77.0.42 ok' 60
	wait_console g1 'GUEST-RTT ' 180
	for d in tx rx; do
		guest_iperf g1 $d "between g1 and the lab peer"
		log "iperf3 g1 $d through $(console $CE | sed -n 's/^CORM-NIC .* kind=\([^ ]*\).*/\1/p' | head -n 1): $IPERF Mbit/s"
	done
	log "g1 RTT: $(console g1 | sed -n 's/^GUEST-RTT avg_ms=//p' | head -n 1) ms"
	corm_pause_check $CE 10.77.0.42
	sleep 2 # the counter page is refreshed every second
	for k in nic/counters/rx_frames nic/counters/tx_frames switch/counters/forwarded; do
		v=$(corm_counter $CE $k)
		[ "${v:-0}" -gt 0 ] || fail "Corm counter $k is '${v}', expected > 0"
		log "corm $CE $k=$v"
	done
	banana_ok status
	n=$(grep -Ec "corm:$CE/[01] +spike:s[12]-$CM +connected" "$BANANA_WORK/banana.out")
	[ "$n" = 2 ] || fail "banana status does not show both wires connected"
	no_bad $CE s1-$CM s2-$CM g1 g2
	xl destroy g1; xl destroy g2
	banana_ok spike destroy s1-$CM
	banana_ok spike destroy s2-$CM
	corm_down $CE
}

# ping_avg IP N -> busybox ping's average RTT in ms over N pings 0.2 s apart (empty when
# none came back)
ping_avg() { ping -c "$2" -i 0.2 -W 2 "$1" 2> /dev/null | sed -n 's|.*min/avg/max = [^/]*/\([^/]*\)/.*|\1|p'; }

# corm_pause_check CE IP: a paused Corm keeps its service when it runs again. dom0
# (10.77.0.9 on its own std NIC, stdbr) pings IP, a guest behind Corm CE, over the lab
# segment; then pauses CE for 3 s while pinging on, so that frames (and the NIC's
# interrupts) arrive while the Corm cannot run, as they do when a bench or an
# operator pauses it (xl pause); then pings again. The RTT after must stay within
# max(30 ms, 4x before): an interrupt lost in the pause leaves the Corm finding
# frames only when something else wakes it (~100 ms, seen on the 82574's MSI-X).
corm_pause_check() {
	std_up
	ip addr add 10.77.0.9/24 dev "$STD_BR" 2> /dev/null
	before=$(ping_avg "$2" 10)
	[ -n "$before" ] || fail "dom0 cannot ping $2 through Corm $1 (before the pause)"
	ping -c 15 -i 0.2 "$2" > /dev/null 2>&1 &
	pp=$!
	sleep 0.5
	xl pause "$1" || fail "xl pause $1 failed"
	sleep 3
	xl unpause "$1" || fail "xl unpause $1 failed"
	wait $pp
	sleep 1
	after=$(ping_avg "$2" 20)
	log "corm $1 pause: dom0 -> $2 RTT ${before} ms before, ${after:-none} ms after a 3 s xl pause"
	[ -n "$after" ] || fail "dom0 cannot ping $2 through Corm $1 after an xl pause/unpause"
	awk -v b="$before" -v a="$after" 'BEGIN { m = 4 * b; if (m < 30) m = 30; exit !(a <= m) }' ||
		fail "Corm $1 lost its pace after an xl pause: RTT $after ms vs $before ms before (limit max(30, 4x))"
	ip addr del 10.77.0.9/24 dev "$STD_BR" 2> /dev/null
	std_down
}
