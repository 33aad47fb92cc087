#!/usr/bin/env python3
"""The lab agent: tells dom0 what the lab saw on its network (run-xen.sh).

lab-agent.py ADDR PORT CAPTURE [CORM_CAPTURE]
Listens on TCP ADDR:PORT (run-xen.sh: 10.77.0.1:7700 in the lab namespace) and
answers one request line per connection with lines ending in END:
  vxlan-icmp   tshark's decode of CAPTURE (the underlay capture, still being
               written): one line per VXLAN packet carrying IPv4 ICMP,
                 VNI <vni> <inner src> -> <inner dst> icmp type <t>
               in capture order, then END
  wg-flows     the WireGuard and Geneve flows of CORM_CAPTURE (what one Corm's
               NIC saw: frames between two Corms never cross the bridge itself): per IPv4 source,
               destination and WireGuard message type, tshark's decode of UDP
               51820 (every handshake message and the first 50 transport
               messages of each flow), and a count of UDP 6081 (Geneve in clear),
                 WG <src> -> <dst> type <t> n=<count>
                 GENEVE <src> -> <dst> n=<count>
               then END
  anything else  ERR unknown request, END
Errors are one line `ERR <why>` before END. Bounded: a request is one line of at
most 128 bytes, read and written with 5 s timeouts; tshark runs at most 20 s; an
answer has at most 1000 lines (a longer decode is cut: `TRUNCATED <n> more` before
END); at most 4 clients at a time (`ERR busy`). A bad client costs its own
connection only. Stdlib only; runs until killed. Log: stderr.
"""
import socket, struct, subprocess, sys, tempfile, threading, time

MAX_REQ = 128
IO_TIMEOUT = 5.0
TSHARK_TIMEOUT = 20
MAX_LINES = 1000
MAX_CLIENTS = 4


def log(msg):
    print("lab-agent: %s %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def occurrence(field, i):
    """Occurrence i of an aggregated tshark field (the last one if there are fewer)."""
    vals = [v for v in field.split(",") if v]
    if not vals:
        return ""
    return vals[i] if i < len(vals) else vals[-1]


def vxlan_icmp_frames(capture, out):
    return select_frames(capture, out, looks_vxlan_icmp)


def select_frames(capture, out, keep):
    """Copy the frames of CAPTURE (classic pcap, Ethernet) that look like VXLAN
    (UDP port 4789 over IPv4) carrying IPv4 ICMP into the pcap file OUT, so that
    tshark decodes those only: a run's capture holds iperf3's ~10^5 frames through
    the tunnel, over 20 s of tshark on the lab host; this pass takes about one.
    A loose match: tshark's filter decides. A record cut short at the end (the
    capture is still being written) ends the copy. False when CAPTURE is no
    classic pcap (the caller then gives tshark the whole file)."""
    deadline = time.monotonic() + TSHARK_TIMEOUT
    with open(capture, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return False
        magic = hdr[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            e = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            e = ">"
        else:
            return False
        if struct.unpack(e + "I", hdr[20:24])[0] != 1:  # LINKTYPE_ETHERNET
            return False
        rec = struct.Struct(e + "IIII")
        out.write(hdr)
        n = 0
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                break
            incl = rec.unpack(rh)[2]
            if incl > 262144:
                break  # not a record header: stop where the file stops making sense
            data = f.read(incl)
            if len(data) < incl:
                break
            n += 1
            if n % 10000 == 0 and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("pre-filter", TSHARK_TIMEOUT)
            if keep(data):
                out.write(rh + data)
    out.flush()
    return True


def ipv4_payload(d, o, proto):
    """Offset of the payload of the IPv4 header at d[o:] if it carries proto, else -1."""
    if len(d) < o + 20 or d[o] >> 4 != 4 or d[o + 9] != proto:
        return -1
    return o + (d[o] & 15) * 4


def ether_payload(d, o):
    """(ethertype, payload offset) of the Ethernet frame at d[o:], past 802.1Q tags."""
    o += 12
    while len(d) >= o + 2 and d[o:o + 2] in (b"\x81\x00", b"\x88\xa8"):
        o += 4
    if len(d) < o + 2:
        return None, -1
    return d[o:o + 2], o + 2


def looks_vxlan_icmp(d):
    t, o = ether_payload(d, 0)
    if t != b"\x08\x00":
        return False
    o = ipv4_payload(d, o, 17)
    if o < 0 or len(d) < o + 8 + 8 or 4789 not in struct.unpack("!HH", d[o:o + 4]):
        return False
    t, o = ether_payload(d, o + 8 + 8)  # UDP header, VXLAN header
    return t == b"\x08\x00" and ipv4_payload(d, o, 1) >= 0


def vxlan_icmp(capture):
    """Answer lines (without END) for the vxlan-icmp request."""
    try:
        with tempfile.NamedTemporaryFile(prefix="lab-agent-", suffix=".pcap") as sel:
            if vxlan_icmp_frames(capture, sel):
                return vxlan_icmp_decode(sel.name)
            return vxlan_icmp_decode(capture)
    except subprocess.TimeoutExpired:
        return ["ERR reading the capture took longer than %d s" % TSHARK_TIMEOUT]
    except OSError as e:
        return ["ERR cannot read the capture: %s" % e]


def run_tshark(capture, decode_as, display_filter, fields, *options):
    """tshark's fields (tab-separated lines) of the frames of CAPTURE that
    DISPLAY_FILTER keeps, with DECODE_AS (a -d argument): (process, None), or
    (None, the ERR answer line) when tshark is missing, too slow or cannot run."""
    cmd = ["tshark", "-n", "-r", capture, "-d", decode_as, "-Y", display_filter,
           "-T", "fields", "-E", "separator=/t"] + list(options)
    for f in fields:
        cmd += ["-e", f]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TSHARK_TIMEOUT)
    except FileNotFoundError:
        return None, "ERR no tshark on the lab host"
    except subprocess.TimeoutExpired:
        return None, "ERR tshark took longer than %d s" % TSHARK_TIMEOUT
    except OSError as e:
        return None, "ERR cannot run tshark: %s" % e
    return p, None


def vxlan_icmp_decode(capture):
    """tshark's decode of CAPTURE: answer lines (without END)."""
    p, err = run_tshark(capture, "udp.port==4789,vxlan", "vxlan && icmp",
                        ["vxlan.vni", "ip.src", "ip.dst", "icmp.type"],
                        "-E", "occurrence=a", "-E", "aggregator=,")
    if err:
        return [err]
    out = []
    for raw in p.stdout.decode("ascii", "replace").splitlines():
        f = raw.split("\t")
        if len(f) < 4 or not f[0]:
            continue
        # ip.src/ip.dst: outer header first, then the inner one (the VXLAN payload;
        # an ICMP error quotes a third); icmp.type: the inner packet's own ICMP first
        vni, src, dst, typ = occurrence(f[0], 0), occurrence(f[1], 1), occurrence(f[2], 1), occurrence(f[3], 0)
        if src and dst and typ:
            out.append("VNI %s %s -> %s icmp type %s" % (vni, src, dst, typ))
    if p.returncode != 0 and not out:
        # a live capture cut mid-packet is normal (tshark says so, exit 2, output good);
        # no output and an error: say why
        err = [l for l in p.stderr.decode("utf-8", "replace").splitlines()
               if l.strip() and "Running as user" not in l]
        if err and "cut short" not in err[-1]:
            return ["ERR tshark exit %d: %s" % (p.returncode, err[-1][:200])]
    if len(out) > MAX_LINES - 2:
        more = len(out) - (MAX_LINES - 2)
        out = out[:MAX_LINES - 2] + ["TRUNCATED %d more" % more]
    return out


WG_PORT, GENEVE_PORT = 51820, 6081
WG_TRANSPORT_KEPT = 50  # per flow


def udp_ports(d):
    """(src ip, dst ip, src port, dst port, payload offset) of an IPv4/UDP frame, or None."""
    t, o = ether_payload(d, 0)
    if t != b"\x08\x00":
        return None
    p = ipv4_payload(d, o, 17)
    if p < 0 or len(d) < p + 8:
        return None
    sp, dp = struct.unpack("!HH", d[p:p + 4])
    return socket.inet_ntoa(d[o + 12:o + 16]), socket.inet_ntoa(d[o + 16:o + 20]), sp, dp, p + 8


def wg_flows(capture):
    """Answer lines (without END) for the wg-flows request."""
    geneve = {}
    kept = {}

    def keep(d):
        u = udp_ports(d)
        if u is None:
            return False
        src, dst, sp, dp, p = u
        if GENEVE_PORT in (sp, dp):
            geneve[(src, dst)] = geneve.get((src, dst), 0) + 1
            return False
        if WG_PORT not in (sp, dp) or len(d) <= p:
            return False
        if d[p] in (1, 2, 3):
            return True
        kept[(src, dst)] = kept.get((src, dst), 0) + 1
        return kept[(src, dst)] <= WG_TRANSPORT_KEPT

    out = []
    try:
        with tempfile.NamedTemporaryFile(prefix="lab-agent-", suffix=".pcap") as sel:
            if not select_frames(capture, sel, keep):
                return ["ERR the capture is not a classic Ethernet pcap"]
            p, err = run_tshark(sel.name, "udp.port==%d,wg" % WG_PORT, "wg",
                                ["ip.src", "ip.dst", "wg.type"])
    except subprocess.TimeoutExpired:
        return ["ERR reading the capture took longer than %d s" % TSHARK_TIMEOUT]
    except OSError as e:
        return ["ERR cannot read the capture: %s" % e]
    if err:
        return [err]
    flows = {}
    for raw in p.stdout.decode("ascii", "replace").splitlines():
        f = raw.split("\t")
        if len(f) >= 3 and f[2]:
            k = (f[0], f[1], f[2])
            flows[k] = flows.get(k, 0) + 1
    for (src, dst, t), n in sorted(flows.items()):
        out.append("WG %s -> %s type %s n=%d" % (src, dst, t, n))
    for (src, dst), n in sorted(geneve.items()):
        out.append("GENEVE %s -> %s n=%d" % (src, dst, n))
    return out[:MAX_LINES - 1]


def read_request(conn):
    """The request line, or None (too long, no newline in time, closed)."""
    buf = b""
    deadline = time.monotonic() + IO_TIMEOUT
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or len(buf) > MAX_REQ:
            return None
        conn.settimeout(left)
        try:
            chunk = conn.recv(MAX_REQ + 1 - len(buf))
        except socket.timeout:
            return None
        if not chunk:
            break  # EOF: a last line without newline still counts
        buf += chunk
    line = buf.split(b"\n", 1)[0]
    if len(line) > MAX_REQ:
        return None
    return line.decode("ascii", "replace").strip()


def serve(conn, peer, capture, corm_capture, slots):
    try:
        with conn:
            conn.settimeout(IO_TIMEOUT)
            if not slots.acquire(blocking=False):
                conn.sendall(b"ERR busy\nEND\n")
                log("%s: busy" % peer)
                return
            try:
                req = read_request(conn)
                if req is None:
                    lines = ["ERR bad request (one line of at most %d bytes within %d s)" % (MAX_REQ, IO_TIMEOUT)]
                elif req == "vxlan-icmp":
                    lines = vxlan_icmp(capture)
                elif req == "wg-flows":
                    lines = wg_flows(corm_capture) if corm_capture else ["ERR no Corm capture in this run"]
                else:
                    lines = ["ERR unknown request"]
                conn.settimeout(IO_TIMEOUT)
                conn.sendall(("\n".join(lines + ["END"]) + "\n").encode("ascii", "replace"))
                log("%s: %r -> %d lines" % (peer, req, len(lines)))
            finally:
                slots.release()
    except Exception as e:  # a bad client, a reset, a timeout: its connection only
        log("%s: %s" % (peer, e))


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: lab-agent.py ADDR PORT CAPTURE [CORM_CAPTURE]")
    addr, port, capture = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    corm_capture = sys.argv[4] if len(sys.argv) == 5 else None
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(8)
    slots = threading.BoundedSemaphore(MAX_CLIENTS)
    log("listening on %s:%d, capture %s" % (addr, port, capture))
    while True:
        try:
            conn, peer = srv.accept()
        except OSError as e:
            log("accept: %s" % e)
            time.sleep(0.1)
            continue
        t = threading.Thread(target=serve, args=(conn, "%s:%d" % peer, capture, corm_capture, slots), daemon=True)
        t.start()


if __name__ == "__main__":
    main()
