#!/usr/bin/env bash
# The nftables backend in three network namespaces (client -- portplane --
# server, over veth pairs, created here and removed on exit):
#   - new TCP connections per second: wrk -H 'Connection: close' (1 thread,
#     32 connections, 5 s) from the client against a small nginx origin in
#     the server namespace;
#   - iperf3 throughput, 1 stream, 5 s;
# through: direct routing (the portplane namespace routes, no NAT; measured
# first, before anything there loads conntrack), direct routing with
# conntrack and a NAT hook loaded but nothing translated, haproxy (mode tcp, 1
# thread), portplane's kernel-sockets backend and portplane's nftables
# backend, each in the portplane namespace, each as a ratio against direct.
# Then the control-plane figures (bench/nftables-apply.ts).
#
#   npm run bench:nftables      (root; wrap in pp-bench on shared machines)
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"

S=$$
C=ppb-c-$S P=ppb-p-$S V=ppb-s-$S
work=$(mktemp -d -t portplane-nft-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for n in $C $P $V; do ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; ip netns delete "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for n in $C $P $V; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add c0-$S netns $C type veth peer name p0-$S netns $P
ip link add s0-$S netns $V type veth peer name p1-$S netns $P
ip -n $C addr add 10.18.1.2/24 dev c0-$S; ip -n $C link set c0-$S up
ip -n $P addr add 10.18.1.1/24 dev p0-$S; ip -n $P link set p0-$S up
ip -n $P addr add 10.18.2.1/24 dev p1-$S; ip -n $P link set p1-$S up
ip -n $V addr add 10.18.2.2/24 dev s0-$S; ip -n $V link set s0-$S up
ip -n $C route add default via 10.18.1.1
ip -n $V route add default via 10.18.2.1
ip netns exec $P sysctl -qw net.ipv4.ip_forward=1
inC() { ip netns exec $C "$@"; }
inP() { ip netns exec $P "$@"; }
inV() { ip netns exec $V "$@"; }

IPERF=15201 ORIGIN=18080
inV iperf3 -s -B 10.18.2.2 -p $IPERF -D --logfile "$work/iperf.log"
cat > "$work/origin.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $work/origin.pid; error_log $work/origin.err;
events { worker_connections 4096; }
http { access_log off; keepalive_timeout 0;
  client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f; uwsgi_temp_path $work/u; scgi_temp_path $work/s;
  server { listen 10.18.2.2:$ORIGIN backlog=4096; location / { return 200 "ok\n"; } } }
NGX
inV nginx -p "$work" -c "$work/origin.conf" & pids+=($!)
sleep 0.5

gbps() { inC iperf3 -c "$1" -p "$2" -t 5 -P 1 -J | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);if(!r.end.sum_received){console.error(r.error);console.log("0")}else console.log((r.end.sum_received.bits_per_second/1e9).toFixed(2))})'; }
cps() { inC wrk -t1 -c32 -d5s -H 'Connection: close' "http://$1:$2/" | awk '/Requests\/sec/ {print int($2)}'; }
declare -A T1 CPS

# Between measurements: no conntrack entries left from the one before (TIME_WAIT entries stay 120 s and
# lengthen the hash chains every new connection walks), a moment for TIME_WAIT sockets to settle.
settle() { inP conntrack -F >/dev/null 2>&1 || true; sleep 1; }

# Direct routing first: nothing in the portplane namespace has loaded conntrack yet.
T1[direct]=$(gbps 10.18.2.2 $IPERF); CPS[direct]=$(cps 10.18.2.2 $ORIGIN)

# Direct routing with conntrack and a NAT hook loaded in the router, nothing translated: what every
# stateful router pays; the nftables backend pays it plus its own lookup and DNAT.
inP nft -f - <<NFT
table inet ppbase {
  chain f {
    type filter hook forward priority 0; policy accept;
    ct state established accept
  }
  chain n {
    type nat hook prerouting priority dstnat; policy accept;
  }
}
NFT
settle
T1[direct_ct]=$(gbps 10.18.2.2 $IPERF); CPS[direct_ct]=$(cps 10.18.2.2 $ORIGIN)
inP nft delete table inet ppbase
settle

cat > "$work/haproxy.cfg" <<HAP
global
  nbthread 1
  maxconn 9000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen iperf
  bind 10.18.1.1:22000
  server s 10.18.2.2:$IPERF
listen http
  bind 10.18.1.1:22001
  server s 10.18.2.2:$ORIGIN
HAP
ip netns exec $P haproxy -f "$work/haproxy.cfg" -db & pids+=($!)
sleep 0.5
settle
T1[haproxy]=$(gbps 10.18.1.1 22000); CPS[haproxy]=$(cps 10.18.1.1 22001)
kill "${pids[-1]}"

LIMITS='limits: {max_sessions: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000}'
rules() {
  cat <<YAML
tables:
  - name: bench
    rules:
      - {name: iperf, protocol: tcp, listen_address: 10.18.1.1, ports: $1, target_address: 10.18.2.2, target_port: $IPERF, $LIMITS}
      - {name: http, protocol: tcp, listen_address: 10.18.1.1, ports: $(($1 + 1)), target_address: 10.18.2.2, target_port: $ORIGIN, $LIMITS}
YAML
}
portplane() { # backend port-base
  local dir="$work/pp-$1"
  # ip netns exec execs node: $! is the daemon's own pid (a shell function here would put a subshell in between).
  ip netns exec $P node dist/cli/main.js --state-dir "$dir" serve --backend "$1" --log-level warn --metrics-listen= & pids+=($!)
  for _ in $(seq 300); do [ -S "$dir/portplane.sock" ] && break; sleep 0.1; done
  rules "$2" > "$dir.yaml"
  inP node dist/cli/main.js --state-dir "$dir" apply "$dir.yaml" >/dev/null
  sleep 0.5
}

portplane kernel 21000
settle
T1[kernel]=$(gbps 10.18.1.1 21000); CPS[kernel]=$(cps 10.18.1.1 21001)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

portplane nftables 20000
settle
T1[nftables]=$(gbps 10.18.1.1 20000); CPS[nftables]=$(cps 10.18.1.1 20001)
nft_pid=${pids[-1]}

ratio() { node -e "console.log(($1/$2).toFixed(2))"; }
echo
echo "| path (client ns -> portplane ns -> server ns) | new conn/s (ratio to direct) | iperf3 1 stream Gbit/s (ratio) |"
echo "| --- | --- | --- |"
for p in direct direct_ct nftables kernel haproxy; do
  echo "| $p | ${CPS[$p]} ($(ratio "${CPS[$p]}" "${CPS[direct]}")) | ${T1[$p]} ($(ratio "${T1[$p]}" "${T1[direct]}")) |"
done
echo
echo "nftables / direct with conntrack loaded: conn/s $(ratio "${CPS[nftables]}" "${CPS[direct_ct]}"), 1 stream $(ratio "${T1[nftables]}" "${T1[direct_ct]}")"
echo "nftables / haproxy: conn/s $(ratio "${CPS[nftables]}" "${CPS[haproxy]}"), 1 stream $(ratio "${T1[nftables]}" "${T1[haproxy]}")"
echo "nftables / kernel backend: conn/s $(ratio "${CPS[nftables]}" "${CPS[kernel]}"), 1 stream $(ratio "${T1[nftables]}" "${T1[kernel]}")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# kill -9: the kernel keeps forwarding; an established stream runs through the kill and the restart.
echo
inC iperf3 -c 10.18.1.1 -p 20000 -t 6 -i 1 -J > "$work/through-kill.json" & ip_pid=$!
sleep 2
kill -9 "$nft_pid"
sleep 1
ip netns exec $P node dist/cli/main.js --state-dir "$work/pp-nftables" serve --backend nftables --log-level warn --metrics-listen= & pids+=($!)
wait $ip_pid || true
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const iv = r.intervals.map((i) => (i.sum.bits_per_second / 1e9).toFixed(2));
console.log(`kill -9 at ~2 s, restart at ~3 s: per-second Gbit/s ${iv.join(" ")}; retransmits ${r.end.sum_sent.retransmits}; lowest second ${Math.min(...iv.map(Number)).toFixed(2)}`);
' "$work/through-kill.json"
echo "new connection after restart: $(cps 10.18.1.1 20001) conn/s (reconciled table forwards)"
