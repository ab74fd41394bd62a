#!/usr/bin/env bash
# The nftables backend in three network namespaces (client -- portplane --
# server, over veth pairs, created here and removed on exit):
#   - new TCP connections per second: wrk -H 'Connection: close' (1 thread,
#     32 connections, 5 s) from the client against a small nginx origin in
#     the server namespace; ROUNDS (default 3) interleaved rounds, medians;
#   - iperf3 throughput, 1 stream, 5 s, in the same rounds, medians;
# through: direct routing (the portplane namespace routes, no NAT; measured
# first, before anything there loads conntrack), direct routing with
# conntrack and a NAT hook loaded but nothing translated, haproxy (mode tcp, 1
# thread), portplane's kernel-sockets backend and portplane's nftables
# backend, each in the portplane namespace, each as a ratio against direct.
# Then the control-plane figures (bench/nftables-apply.ts).
#
#   npm run bench:nftables      (root; wrap in pp-bench on shared machines)
#   PROFILE=DIR bash bench/nftables.sh   only the conn/s figures, each under a
#       system-wide `perf record -a -g` (softirq included) written to DIR/<path>.data
#       with its report DIR/<path>.txt
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

IPERF=15201
# The origin port of each path. Paths that keep the client's address (direct, direct_ct, nftables)
# would otherwise share one tuple space at the origin, whose TIME_WAIT sockets (the origin closes
# first; they last 60 s) then meet the next path's SYNs from reused client ports. The client's TCP
# timestamp offset depends on the address it connects to, so a SYN through the DNAT can look older
# than the TIME_WAIT left by a direct connection: PAWS answers with an ACK, the client resets and
# retries after 1 s (the 10:05 UTC run of docs/benchmarks.md: whichever of the two ran second lost 25-30 %).
declare -A OPORT=([direct]=18080 [direct_ct]=18081 [haproxy]=18082 [kernel]=18083 [nftables]=18084)
inV iperf3 -s -B 10.18.2.2 -p $IPERF -D --logfile "$work/iperf.log"
cat > "$work/origin.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $work/origin.pid; error_log $work/origin.err;
events { worker_connections 4096; }
http { access_log off; keepalive_timeout 0;
  client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f; uwsgi_temp_path $work/u; scgi_temp_path $work/s;
  server { $(for p in "${OPORT[@]}"; do echo "listen 10.18.2.2:$p backlog=4096;"; done) location / { return 200 "ok\n"; } } }
NGX
inV nginx -p "$work" -c "$work/origin.conf" & pids+=($!)
sleep 0.5

gbps() { inC iperf3 -c "$1" -p "$2" -t 5 -P 1 -J | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);if(!r.end.sum_received){console.error(r.error);console.log("0")}else console.log((r.end.sum_received.bits_per_second/1e9).toFixed(2))})'; }
cps() { inC wrk -t1 -c32 -d5s -H 'Connection: close' "http://$1:$2/" | awk '/Requests\/sec/ {print int($2)}'; }
PROFILE=${PROFILE:-}
# cps under perf: 4 s of samples from the middle of the 5 s run, every CPU, call graphs.
pcps() { # name address port
  if [ -z "$PROFILE" ]; then cps "$2" "$3"; return; fi
  mkdir -p "$PROFILE"
  (sleep 0.5; perf record -q -a -g -o "$PROFILE/$1.data" -- sleep 4 >/dev/null 2>&1) &
  local rec=$!
  cps "$2" "$3"
  wait $rec
  perf report -i "$PROFILE/$1.data" --no-children --sort sym --stdio -g none --percent-limit 0.3 2>/dev/null > "$PROFILE/$1.txt"
}
declare -A T1 CPS

# Between measurements: no conntrack entries left from the one before (TIME_WAIT entries stay 120 s and
# lengthen the hash chains every new connection walks), a moment for TIME_WAIT sockets to settle.
settle() { inP conntrack -F >/dev/null 2>&1 || true; sleep 1; }

ppbase_on() {
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
}

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
  server s 10.18.2.2:${OPORT[haproxy]}
HAP
# haproxy stays up through every round: idle, it loads no netfilter hook and takes no CPU.
ip netns exec $P haproxy -f "$work/haproxy.cfg" -db & pids+=($!)

LIMITS='limits: {max_sessions: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000}'
rules() { # port-base origin-port
  cat <<YAML
tables:
  - name: bench
    rules:
      - {name: iperf, protocol: tcp, listen_address: 10.18.1.1, ports: $1, target_address: 10.18.2.2, target_port: $IPERF, $LIMITS}
      - {name: http, protocol: tcp, listen_address: 10.18.1.1, ports: $(($1 + 1)), target_address: 10.18.2.2, target_port: $2, $LIMITS}
YAML
}
portplane() { # backend port-base
  local dir="$work/pp-$1"
  # ip netns exec execs node: $! is the daemon's own pid (a shell function here would put a subshell in between).
  ip netns exec $P node dist/cli/main.js --state-dir "$dir" serve --backend "$1" --log-level warn --metrics-listen= & pids+=($!)
  for _ in $(seq 300); do [ -S "$dir/portplane.sock" ] && break; sleep 0.1; done
  rules "$2" "${OPORT[$1]}" > "$dir.yaml"
  inP node dist/cli/main.js --state-dir "$dir" apply "$dir.yaml" >/dev/null
  sleep 0.5
}
# A clean stop: the nftables backend removes its table, so its hooks (and conntrack's) leave the namespace.
stop_daemon() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; }

# measure PATH ROUND ADDRESS HTTP-PORT IPERF-PORT: conn/s and 1-stream throughput, every round.
measure() {
  settle
  if [ -z "$PROFILE" ]; then T1[$1:$2]=$(gbps "$3" "$5"); else T1[$1:$2]=1; fi
  settle
  CPS[$1:$2]=$(pcps "$1-$2" "$3" "$4")
}


# Rounds, interleaved, so that the load other users put on a shared host falls on every path alike.
# Direct routing opens each round: nothing in the portplane namespace has a netfilter hook then (the
# first round runs before anything loaded conntrack; later ones after every table was deleted).
ROUNDS=${ROUNDS:-3}
PATHS=(direct direct_ct haproxy nftables)
for r in $(seq "$ROUNDS"); do
  measure direct "$r" 10.18.2.2 "${OPORT[direct]}" $IPERF
  # Conntrack and a NAT hook loaded, nothing translated: what every stateful router pays; the
  # nftables backend pays it plus its own lookup and DNAT.
  ppbase_on; measure direct_ct "$r" 10.18.2.2 "${OPORT[direct_ct]}" $IPERF; inP nft delete table inet ppbase
  measure haproxy "$r" 10.18.1.1 22001 22000
  if [ "$r" = 1 ]; then portplane kernel 21000; measure kernel 1 10.18.1.1 21001 21000; stop_daemon; fi
  portplane nftables 20000; measure nftables "$r" 10.18.1.1 20001 20000
  if [ "$r" != "$ROUNDS" ]; then stop_daemon; fi
done
nft_pid=${pids[-1]}

ratio() { node -e "console.log(($1/$2).toFixed(2))"; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
declare -A MED TMED
for p in "${PATHS[@]}" kernel; do
  vals=(); tvals=()
  for r in $(seq "$ROUNDS"); do
    [ -n "${CPS[$p:$r]:-}" ] && vals+=("${CPS[$p:$r]}")
    [ -n "${T1[$p:$r]:-}" ] && tvals+=("${T1[$p:$r]}")
  done
  MED[$p]=$(median "${vals[@]}")
  TMED[$p]=$(median "${tvals[@]}")
done
echo
echo "new conn/s per round (ratio to direct of the same round):"
echo "| round | direct | direct_ct | haproxy | nftables | nftables/haproxy | direct/haproxy |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for r in $(seq "$ROUNDS"); do
  d=${CPS[direct:$r]}
  echo "| $r | $d | ${CPS[direct_ct:$r]} ($(ratio "${CPS[direct_ct:$r]}" "$d")) | ${CPS[haproxy:$r]} ($(ratio "${CPS[haproxy:$r]}" "$d")) | ${CPS[nftables:$r]} ($(ratio "${CPS[nftables:$r]}" "$d")) | $(ratio "${CPS[nftables:$r]}" "${CPS[haproxy:$r]}") | $(ratio "$d" "${CPS[haproxy:$r]}") |"
done
echo
echo "iperf3 1 stream Gbit/s per round (ratio to direct of the same round):"
echo "| round | $(printf '%s | ' "${PATHS[@]}")"
echo "| --- | $(printf -- '--- | %.0s' "${PATHS[@]}")"
for r in $(seq "$ROUNDS"); do
  row="| $r |"
  for p in "${PATHS[@]}"; do row+=" ${T1[$p:$r]} ($(ratio "${T1[$p:$r]}" "${T1[direct:$r]}")) |"; done
  echo "$row"
done
echo
echo "| path (client ns -> portplane ns -> server ns) | new conn/s, median of $ROUNDS (ratio to direct) | iperf3 1 stream Gbit/s, median of $ROUNDS (ratio) |"
echo "| --- | --- | --- |"
for p in "${PATHS[@]}" kernel; do
  echo "| $p | ${MED[$p]} ($(ratio "${MED[$p]}" "${MED[direct]}")) | ${TMED[$p]} ($(ratio "${TMED[$p]}" "${TMED[direct]}")) |"
done
echo "(kernel backend: round 1 only)"
echo
echo "nftables / direct with conntrack loaded: conn/s $(ratio "${MED[nftables]}" "${MED[direct_ct]}"), 1 stream $(ratio "${TMED[nftables]}" "${TMED[direct_ct]}")"
echo "nftables / haproxy: conn/s $(ratio "${MED[nftables]}" "${MED[haproxy]}"), 1 stream $(ratio "${TMED[nftables]}" "${TMED[haproxy]}")"
echo "direct / haproxy (the most any forwarder in this topology can reach against haproxy): conn/s $(ratio "${MED[direct]}" "${MED[haproxy]}")"
echo "nftables / kernel backend: conn/s $(ratio "${MED[nftables]}" "${MED[kernel]}"), 1 stream $(ratio "${TMED[nftables]}" "${TMED[kernel]}")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "$PROFILE" ] && exit 0

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
