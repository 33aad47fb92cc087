#!/bin/sh
# An encap wire against a standard VTEP (issue 11, first slice). Corm
# c-vx owns the lab's e1000 with underlay address 10.77.0.40/24; endpoint 0 is
# wired to Spike s1-vx (guest g1, 10.88.0.51/24, MTU 1450), endpoint 1 to the
# remote VTEP vxlan:42@10.77.0.1, i.e. Linux's vxlan device vx42 in the lab
# namespace (10.88.0.1/24). Both endpoints are on VLAN 30, where the lab has no
# one: g1's segment is the tunnel only, so whatever g1 reaches it reaches through
# VXLAN. Proves: the Corm brings the tunnel up (CORM-TUNNEL-UP, banana status
# shows the wire), g1 pings 10.88.0.1 and runs iperf3 both ways through it
# (BANANA-FIGURE vxlan_*), the Corm's tunnel counters move both ways, dom0
# pings the Corm's underlay address (counted: underlay/echo_answered),
# `banana capture` of g1's endpoint decodes in tcpdump as g1's pings, and an
# independent decoder agrees it is standard VXLAN: the lab agent's tshark decode
# of the underlay capture shows VNI 42 ICMP echo requests 10.88.0.51 -> 10.88.0.1
# and replies back. Then dom0 plays an attacker on the underlay: spoofed,
# unknown-VNI, malformed and fragmented datagrams at the Corm's VXLAN port are
# each dropped and counted (underlay/…, tunnel/<id>/counters/dropped_spoofed)
# while g1 keeps its network.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-WIRE-ERROR|GUEST-MTU-FAIL'
G1_MAC=00:16:3e:00:0b:01 G1_IP=10.88.0.51 ME_IP=10.77.0.8
need_lab
w=$(lab_vx_why)
[ -z "$w" ] || fail "$w"
command -v banana > /dev/null || fail "no banana controller in this dom0"
command -v banana-lab > /dev/null || fail "no banana-lab in this dom0 (images/build.sh)"

corm_up c-vx corm-e1000 2 --underlay "$LAB_VX_UNDERLAY/24" --vlan 0=30 --vlan 1=30
corm_spike c-vx s1-vx 0 $G1_MAC $G1_IP
banana_ok wire connect corm:c-vx/1 "vxlan:42@$LAB_PEER"
wire=$(sed -n 's/^wire \([0-9][0-9]*\): .*/\1/p' "$BANANA_WORK/banana.out" | head -n 1)
[ -n "$wire" ] || fail "banana wire connect printed no wire id: $(tr '\n' ' ' < "$BANANA_WORK/banana.out")"
wait_console c-vx '^CORM-TUNNEL-UP wire=' 60
up=$(console c-vx | grep -m 1 '^CORM-TUNNEL-UP wire=')
log "corm c-vx: $up"
case $up in
"CORM-TUNNEL-UP wire=$wire endpoint=1 encap=vxlan vni=42 remote=$LAB_PEER:4789" | "CORM-TUNNEL-UP wire=$wire endpoint=1 encap=vxlan vni=42 remote=$LAB_PEER:4789 "*) ;;
*) fail "the Corm reports '$up', expected wire=$wire endpoint=1 encap=vxlan vni=42 remote=$LAB_PEER:4789" ;;
esac

net_guest g1 s1-vx $G1_IP "$LAB_VX_PEER" $G1_MAC "banana.mtu=1450 banana.iperf=1"
wait_console s1-vx 'SPIKE-VIF-CONNECTED' 90
wait_console s1-vx 'SPIKE-WIRE-UP' 60
wait_console g1 '^GUEST-MTU 1450 on eth0' 30
wait_console g1 'GUEST-NET-OK n=1' 120
wait_console g1 '^GUEST-IPERF3 dir=tx ' 120
wait_console g1 '^GUEST-IPERF3 dir=rx ' 60
wait_console g1 '^GUEST-RTT ' 60
for d in tx rx; do
	guest_iperf g1 $d "between g1 and $LAB_VX_PEER through the tunnel"
	echo "BANANA-FIGURE vxlan_iperf_${d}_mbit=$IPERF"
done
r=$(console g1 | sed -n 's/^GUEST-RTT avg_ms=//p' | head -n 1)
awk -v r="$r" 'BEGIN { exit !(r + 0 > 0) }' || fail "g1's ping RTT to $LAB_VX_PEER through the tunnel is '$r'"
echo "BANANA-FIGURE vxlan_rtt_ms=$r"

sleep 2 # the counter page is refreshed every second
for k in rx_frames tx_frames; do
	v=$(corm_counter c-vx "tunnel/$wire/counters/$k")
	[ "${v:-0}" -gt 0 ] || fail "Corm counter tunnel/$wire/counters/$k is '$v', expected > 0 (tunnel counters: $(counters_flat c-vx | grep '^tunnel/' | tr '\n' ' '))"
	log "corm c-vx tunnel/$wire/counters/$k=$v"
done
# ---- banana capture: a pcap of g1's endpoint (g1 pings 10.88.0.1 every
# second), decoded by an independent reader (tcpdump)
banana capture corm:c-vx/0 -c 8 -d 40 -w "$BANANA_WORK/g1.pcap" 2> "$BANANA_WORK/capture.err" ||
	fail "banana capture corm:c-vx/0 failed: $(tail -n 3 "$BANANA_WORK/capture.err" | tr '\n' ' ')"
log "capture: $(tail -n 1 "$BANANA_WORK/capture.err")"
wait_console c-vx '^CORM-CAPTURE-ON endpoint=0 snaplen=1518' 5
wait_console c-vx '^CORM-CAPTURE-OFF' 10
command -v tcpdump > /dev/null || fail "no tcpdump in this dom0 (images/build.sh copies the host's: apt package tcpdump)"
tcpdump -Z root -nn -r "$BANANA_WORK/g1.pcap" > "$BANANA_WORK/g1.txt" 2> "$BANANA_WORK/tcpdump.err" ||
	fail "tcpdump cannot read banana capture's pcap: $(head -n 2 "$BANANA_WORK/tcpdump.err" | tr '\n' ' ')"
sed 's/^/    tcpdump: /' "$BANANA_WORK/g1.txt" | head -n 8
for l in "IP $G1_IP > $LAB_VX_PEER: ICMP echo request" "IP $LAB_VX_PEER > $G1_IP: ICMP echo reply"; do
	grep -qF "$l" "$BANANA_WORK/g1.txt" || fail "tcpdump's decode of banana capture's pcap lacks '$l'"
done

banana_ok status
grep -Eq "^$wire +corm:c-vx/1 +vxlan:42@$LAB_PEER:4789 +configured" "$BANANA_WORK/banana.out" ||
	fail "banana status does not show wire $wire corm:c-vx/1 <-> vxlan:42@$LAB_PEER:4789 configured"

std_up
ip addr add $ME_IP/24 dev $STD_BR || fail "cannot put $ME_IP on $STD_BR"

# ---- the underlay address answers ping (an operator's first check)
e0=$(corm_counter c-vx underlay/echo_answered)
ping -c 3 -i 0.5 -W 3 "$LAB_VX_UNDERLAY" > "$BANANA_WORK/ping-underlay.txt" 2>&1 ||
	fail "dom0 cannot ping the Corm's underlay address $LAB_VX_UNDERLAY: $(tail -n 2 "$BANANA_WORK/ping-underlay.txt" | tr '\n' ' ')"
sleep 2 # the counter page is refreshed every second
e1=$(corm_counter c-vx underlay/echo_answered)
log "ping $LAB_VX_UNDERLAY: $(grep -m 1 'packets transmitted' "$BANANA_WORK/ping-underlay.txt"); underlay/echo_answered ${e0:-?} -> ${e1:-?}"
[ "${e1:-0}" -ge $((${e0:-0} + 3)) ] || fail "underlay/echo_answered moved ${e0:-?} -> ${e1:-?} for 3 answered pings"

# ---- hostile datagrams at the Corm's VXLAN port (issue 11, item 6) ----------
# dom0 (not the tunnel's remote) sends 10 of each: our VNI from its own
# address (a spoofer), an unknown VNI, VXLAN without its I flag, a truncated
# header, a bad UDP length, a bad UDP checksum, an IPv4 fragment. Each must
# move its counter by 10, and g1 keep its network.
CORM_MAC=$(xenstore-read "/local/domain/$(domid c-vx)/data/banana/nic/mac") || fail "no NIC MAC published by c-vx"
junk_counter() {
	case $1 in
	dropped_spoofed) corm_counter c-vx "tunnel/$wire/counters/$1" ;;
	*) corm_counter c-vx "underlay/$1" ;;
	esac
}
# Not checked here: the bad IPv4 header checksums banana-lab sends too. A Linux
# bridge with br_netfilter (the lab host's labbr, bridge-nf-call-iptables=1)
# drops them before they reach the Corm; the Corm's drop is host-tested and
# fuzzed (encap decap, corm-domain underlay).
KINDS="dropped_spoofed dropped_unknown_vni dropped_vxlan_no_vni dropped_tunnel_truncated dropped_udp_bad_length dropped_udp_bad_checksum dropped_ipv4_fragment"
for k in $KINDS; do eval "j0_$k=\$(junk_counter $k)"; done
lost0=$(console g1 | grep -c 'GUEST-NET-LOST' || true)
banana-lab --iface "$STD_IF" tunnel-junk --dst-mac "$CORM_MAC" --dst-ip "$LAB_VX_UNDERLAY" \
	--src-mac "$(cat "/sys/class/net/$STD_IF/address")" --src-ip $ME_IP --vni 42 --count 10 ||
	fail "banana-lab tunnel-junk failed"
sleep 3 # the counter page is refreshed every second
for k in $KINDS; do
	eval "a=\$j0_$k"
	b=$(junk_counter $k)
	log "hostile UDP: $k ${a:-?} -> ${b:-?}"
	[ "${b:-0}" -ge $((${a:-0} + 10)) ] || fail "hostile UDP: $k moved ${a:-?} -> ${b:-?}, expected +10"
done
[ "$(console g1 | grep -c 'GUEST-NET-LOST' || true)" = "$lost0" ] || fail "hostile UDP: g1 lost its network"

# the lab's view: tshark's decode of the underlay, from dom0's own lab address
lab_ask vxlan-icmp
for l in "VNI 42 $G1_IP -> $LAB_VX_PEER icmp type 8" "VNI 42 $LAB_VX_PEER -> $G1_IP icmp type 0"; do
	grep -qxF "$l" "$LAB_ANSWER" || fail "the lab's decode of the underlay lacks '$l' (it has $(wc -l < "$LAB_ANSWER") lines: $(head -n 4 "$LAB_ANSWER" | tr '\n' '|'))"
	log "lab: $(grep -cxF "$l" "$LAB_ANSWER") x '$l'"
done
std_down

no_bad c-vx s1-vx g1
xl destroy g1
banana_ok wire disconnect corm:c-vx/1
banana_ok spike destroy s1-vx
corm_down c-vx
pass
