#!/bin/sh
# Attacks from the physical network against guests behind a Corm (issue 9, A).
# dom0's own lab NIC (the std e1000 on the lab segment) is the attacker: it
# sends crafted frames with banana-lab (lab-tools/) toward guests g1 and g2,
# each on its own Spike wired to Corm c-att, which owns the corm-e1000 NIC.
# After each attack both guests must still answer dom0's pings and no wire
# may have been torn down; the counters must show what happened.
#   merge burst: 45 back-to-back segments of one TCP flow plus a short one,
#     which receive coalescing used to merge into a 65,549-byte frame that no
#     wire record held: the Corm tore the wire down for good (A.1).
#   MAC steal: frames from the uplink claiming g2's MAC; a learning switch
#     moved g2's entry to the uplink, diverting g1 -> g2 traffic out of the
#     NIC (A.2): now dropped and counted (dropped_mac_steal), g1 still
#     reaches g2.
#   MAC flood and broadcast storm: 3000 broadcast frames from 3000 forged
#     sources: the MAC table stays bounded, floods are rate-limited and
#     counted, and the guests keep their connectivity (A.2, A.3). The Corm
#     runs with storm control at 200/64 (--flood): dom0 in nested TCG sends
#     about 600 frames/s, under the default 1000/s, so the default limit
#     was exercised only on a fast host.
#   Q-in-Q, S-tagged and giant frames (A.3): the double tags are dropped
#     and counted (dropped_double_tag); giants never reach a guest (the
#     emulated e1000 discards them without long-packet mode; the switch
#     would count dropped_giant).
#   ARP and NA spoofing (A.3): dom0 sends forged ARP replies and gratuitous
#     ARPs saying g2's IP (given to the controller with --ip) is at dom0's
#     MAC, and unsolicited NAs saying the same of g2's link-local address
#     (EUI-64 of its MAC): on a learning switch or a Linux bridge g1's cache
#     follows and its traffic to g2 leaves through the NIC. Now dropped and
#     counted (dropped_arp_spoof, dropped_nd_spoof); g1 still reaches g2.
#   A Spike claiming g1's MAC (B.4): Spike s3-att, declared for another MAC,
#     serves a vif with g1's MAC (a selftest domain as its frontend). The
#     Corm refuses its hello (MAC not allowed), counts it, retries only
#     with backoff, and g1 keeps its traffic.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-WIRE-ERROR'
command -v banana-lab > /dev/null || fail "no banana-lab in this dom0 (images/build.sh)"
G1_MAC=00:16:3e:00:0a:01 G2_MAC=00:16:3e:00:0a:02
G1_IP=10.77.0.51 G2_IP=10.77.0.52 ME_IP=10.77.0.9

corm_up c-att corm-e1000 3 --flood 200/64
wait_console c-att '^CORM-FLOOD-LIMIT rate=200 burst=64' 5
corm_spike c-att s1-att 0 $G1_MAC $G1_IP
corm_spike c-att s2-att 1 $G2_MAC $G2_IP
net_guest g1 s1-att $G1_IP "$LAB_PEER" $G1_MAC "banana.probe=$G2_IP"
net_guest g2 s2-att $G2_IP "$LAB_PEER" $G2_MAC
for sp in s1-att s2-att; do
	wait_console $sp 'SPIKE-VIF-CONNECTED' 90
	wait_console $sp 'SPIKE-WIRE-UP' 60
done
wait_count c-att '^CORM-ENDPOINT-UP' 2 30
wait_console g1 'GUEST-NET-OK n=1' 90
wait_console g2 'GUEST-NET-OK n=1' 90

std_up
ip addr add $ME_IP/24 dev $STD_BR || fail "cannot put $ME_IP on $STD_BR"
ME_MAC=$(cat "/sys/class/net/$STD_IF/address")

# reachable IP: dom0 pings it (3 tries in 10 s)
reachable() {
	t=0
	while [ $t -lt 5 ]; do
		if ping -c 1 -W 2 "$1" > /dev/null 2>&1; then
			[ $t -eq 0 ] || log "$1 answered after $t lost pings"
			return 0
		fi
		t=$((t + 1))
	done
	return 1
}
# wire_downs: how often the Corm's offerers left Connected so far
wire_downs() { console c-att | grep -c 'offerer Connected ->' || true; }
# vif_counter SPIKE GUEST NAME: a counter the Spike publishes for the guest's vif
vif_counter() { counter "$1" "vif/$(domid "$2")/0/$3"; }

for ip in $G1_IP $G2_IP; do reachable $ip || fail "dom0 cannot ping $ip before any attack"; done
downs0=$(wire_downs)

# ---- A.1: the merge burst, to g1 and to the broadcast address --------------
sleep 2 # let the counters publish
rx0=$(vif_counter s1-att g1 rx_bytes)
for dst in $G1_MAC ff:ff:ff:ff:ff:ff; do
	banana-lab --iface "$STD_IF" burst --dst-mac $dst --src-mac "$ME_MAC" \
		--dst-ip $G1_IP --src-ip $ME_IP --repeat 3 || fail "banana-lab burst failed"
done
log "merge burst: sent; pinging both guests"
for ip in $G1_IP $G2_IP; do
	reachable $ip || fail "merge burst: $ip no longer answers (wire torn down?)"
done
[ "$(wire_downs)" = "$downs0" ] || fail "merge burst: the Corm tore a wire down ($(wire_downs) times)"
sleep 3 # one publication period
log "merge burst: both answer; reading counters"
rx1=$(vif_counter s1-att g1 rx_bytes)
counters_flat c-att > "$BANANA_WORK/c-att.counters"
log "merge burst: g1's vif rx_bytes $rx0 -> $rx1; wire counters: $(
	w=$(sed -n 's|^wire/\([0-9]*\)/counters/.*|\1|p' "$BANANA_WORK/c-att.counters" | head -n 1)
	for k in rx_frames tx_too_large wire_errors; do
		printf '%s=%s ' $k "$(awk -v k="wire/$w/counters/$k" '$1 == k { print $2 }' "$BANANA_WORK/c-att.counters")"
	done)"
[ $((${rx1:-0} - ${rx0:-0})) -ge $((3 * 65000)) ] ||
	fail "merge burst: g1's vif received $((${rx1:-0} - ${rx0:-0})) bytes, expected the bursts (>= 195000)"

# counter NAME: a switch counter the Corm published
switch_counter() { corm_counter c-att "switch/counters/$1"; }

# ---- A.2: a remote host claims g2's MAC --------------------------------------
wait_console g1 "GUEST-PROBE ip=$G2_IP ok" 60
steal0=$(switch_counter dropped_mac_steal)
fails0=$(console g1 | grep -c "GUEST-PROBE ip=$G2_IP fail" || true)
banana-lab --iface "$STD_IF" steal --mac $G2_MAC --src-ip 10.77.0.99 --target-ip $LAB_PEER \
	--count 20 || fail "banana-lab steal failed"
# g1 pings g2 every second: none may fail (diverted out of the NIC).
sleep 5
steal1=$(switch_counter dropped_mac_steal)
log "MAC steal: dropped_mac_steal $steal0 -> $steal1"
[ "${steal1:-0}" -ge $((${steal0:-0} + 20)) ] || fail "MAC steal: the Corm did not drop the 20 forged frames (dropped_mac_steal $steal0 -> $steal1)"
reachable $G2_IP || fail "MAC steal: g2 no longer answers"
fails1=$(console g1 | grep -c "GUEST-PROBE ip=$G2_IP fail" || true)
[ "$fails1" = "$fails0" ] || fail "MAC steal: g1 lost g2 after the forged frames"

# ---- A.2/A.3: source-MAC flood + broadcast storm ------------------------------
flood0=$(switch_counter dropped_flood_limit)
banana-lab --iface "$STD_IF" flood --dst-mac ff:ff:ff:ff:ff:ff --count 3000 || fail "banana-lab flood failed"
for ip in $G1_IP $G2_IP; do
	reachable $ip || fail "flood: $ip no longer answers"
done
sleep 3
flood1=$(switch_counter dropped_flood_limit)
macs=$(corm_counter c-att switch/macs)
log "flood: dropped_flood_limit $flood0 -> $flood1, MAC table $macs entries"
[ "${flood1:-0}" -gt "${flood0:-0}" ] || fail "flood: no flood was rate-limited ($flood0 -> $flood1)"
[ "${macs:-99999}" -le 1024 ] || fail "flood: the MAC table grew to $macs entries"
[ "$(wire_downs)" = "$downs0" ] || fail "flood: a wire went down"

# ---- A.3: Q-in-Q, S-tagged and giant frames --------------------------------
dt0=$(switch_counter dropped_double_tag)
# An e1000 resets on an MTU change: frames sent before its link is back are
# lost in dom0, so wait for the carrier each time.
ip link set dev "$STD_IF" mtu 1700 2> /dev/null || log "cannot raise $STD_IF's MTU: the giants stay in dom0"
carrier_up "$STD_IF" 20
banana-lab --iface "$STD_IF" junk --dst-mac ff:ff:ff:ff:ff:ff --src-mac "$ME_MAC" --count 10 ||
	fail "banana-lab junk failed"
ip link set dev "$STD_IF" mtu 1500 2> /dev/null
carrier_up "$STD_IF" 20
sleep 3
dt1=$(switch_counter dropped_double_tag)
log "junk: dropped_double_tag $dt0 -> $dt1, dropped_giant $(switch_counter dropped_giant)"
[ "${dt1:-0}" -ge $((${dt0:-0} + 20)) ] || fail "junk: the Q-in-Q and S-tagged frames were not dropped ($dt0 -> $dt1)"
for ip in $G1_IP $G2_IP; do reachable $ip || fail "junk: $ip no longer answers"; done

# ---- A.3: ARP and NA spoofing: dom0 claims g2's addresses -----------------------
# g2's link-local address: the modified EUI-64 of G2_MAC (RFC 4291 appendix A).
G2_LL=fe80::216:3eff:fe00:a02
wait_console g1 "GUEST-PROBE ip=$G2_IP ok" 60
arp0=$(switch_counter dropped_arp_spoof)
nd0=$(switch_counter dropped_nd_spoof)
fails0=$(console g1 | grep -c "GUEST-PROBE ip=$G2_IP fail" || true)
# 50 rounds over 5 s of a reply to g1 and a gratuitous ARP: g1 probes g2
# every second meanwhile, and would send to dom0's MAC once its cache took one.
banana-lab --iface "$STD_IF" arp-spoof --ip $G2_IP --mac "$ME_MAC" \
	--victim-mac $G1_MAC --victim-ip $G1_IP --count 50 --interval-ms 100 ||
	fail "banana-lab arp-spoof failed"
banana-lab --iface "$STD_IF" na-spoof --ip $G2_LL --mac "$ME_MAC" --count 20 --interval-ms 50 ||
	fail "banana-lab na-spoof failed"
sleep 5 # more probes, and one publication period
arp1=$(switch_counter dropped_arp_spoof)
nd1=$(switch_counter dropped_nd_spoof)
log "ARP/NA spoof: dropped_arp_spoof $arp0 -> $arp1, dropped_nd_spoof $nd0 -> $nd1, ip-bindings $(corm_counter c-att switch/ip-bindings)"
[ "${arp1:-0}" -ge $((${arp0:-0} + 100)) ] ||
	fail "ARP spoof: the Corm did not drop the 100 forged ARP packets (dropped_arp_spoof $arp0 -> $arp1)"
[ "${nd1:-0}" -ge $((${nd0:-0} + 20)) ] ||
	fail "NA spoof: the Corm did not drop the 20 forged NAs (dropped_nd_spoof $nd0 -> $nd1)"
fails1=$(console g1 | grep -c "GUEST-PROBE ip=$G2_IP fail" || true)
[ "$fails1" = "$fails0" ] || fail "ARP spoof: g1 lost g2 ($((fails1 - fails0)) probes failed: diverted out of the NIC?)"
for ip in $G1_IP $G2_IP; do reachable $ip || fail "ARP spoof: $ip no longer answers"; done
[ "$(wire_downs)" = "$downs0" ] || fail "ARP spoof: a wire went down"

# ---- B.4: a Spike announcing a MAC the controller did not give it ------------
lost0=$(console g1 | grep -c 'GUEST-NET-LOST' || true)
corm_spike c-att s3-att 2 00:16:3e:00:0a:03
create fe3 selftest 'extra="mode=basic"' "vif=['backend=s3-att,mac=$G1_MAC']"
wait_console c-att '^CORM-ENDPOINT-DOWN endpoint=2 .*Refused\(MacNotAllowed\)' 60
wait_console s3-att 'SPIKE-WIRE-DOWN .*PeerRefused\(MacNotAllowed\)' 30
t0=$(console c-att | grep -c '^CORM-ENDPOINT-DOWN endpoint=2 ')
sleep 10
t1=$(console c-att | grep -c '^CORM-ENDPOINT-DOWN endpoint=2 ')
log "impostor Spike: $((t1 - t0)) refusals in 10 s (backoff 0.2 s doubling to 10 s)"
[ $((t1 - t0)) -le 8 ] || fail "impostor Spike: $((t1 - t0)) refusals in 10 s: no backoff"
console c-att | grep -q '^CORM-ENDPOINT-UP endpoint=2 ' && fail "the Corm accepted the impostor Spike"
w3=$(xenstore-list "/banana/config/$(domid c-att)/wire" | sort -n | tail -n 1)
refused=$(corm_counter c-att "wire/$w3/counters/hellos_refused")
log "impostor Spike: hellos_refused=$refused on wire $w3"
[ "${refused:-0}" -ge 1 ] || fail "impostor Spike: hellos_refused is '$refused'"
reachable $G1_IP || fail "impostor Spike: g1 no longer answers"
[ "$(console g1 | grep -c 'GUEST-NET-LOST' || true)" = "$lost0" ] || fail "impostor Spike: g1 lost its network"

no_bad c-att s1-att s2-att s3-att g1 g2
std_down
xl destroy fe3; xl destroy g1; xl destroy g2
banana_ok spike destroy s1-att
banana_ok spike destroy s2-att
banana_ok spike destroy s3-att
corm_down c-att
pass
