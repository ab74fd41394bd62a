#!/usr/bin/env bash
# Relay speed on loopback, portplane (native engine with 1 relay thread,
# and its JavaScript relay with PORTPLANE_SPLICE=0) side by side with
# haproxy (mode tcp, nbthread 1), nginx stream (1 worker), socat and a naive
# Node pipe() proxy:
#   - iperf3 throughput, 1 and 4 streams (5 s each);
#   - new connections per second and their p99 latency: wrk --latency
#     -H 'Connection: close' against a small nginx origin (1 thread,
#     32 connections, 5 s);
# each as a ratio against a direct connection; then new connections per
# second with two threads each: portplane --relay-threads 2, haproxy
# nbthread 2, nginx stream with 2 workers; and, first, portplane's RSS
# growth per idle TCP session over IDLE_SESSIONS idle connections (default 10,000
# where the fd hard limit can be raised to 65,536, else 9,000: a session costs the
# daemon two descriptors, and a container without CAP_SYS_RESOURCE is held at its
# hard limit, 20,000 here).
#
#   npm run bench:relay      (as root: installs the peers with apt-get)
#   RELAY_CPS_ONLY=1 npm run bench:relay   (new connections per second only: no idle sessions, no iperf3)
set -euo pipefail
cd "$(dirname "$0")/.."
# 10,000 idle sessions take 20,000 descriptors in the daemon (and as many in the
# client): raise the hard limit where the kernel lets us (CAP_SYS_RESOURCE).
if ! ulimit -Hn 65536 2>/dev/null; then
  echo "fd hard limit stays $(ulimit -Hn): the kernel refused to raise it (ulimit -Hn 65536: no CAP_SYS_RESOURCE)"
fi
ulimit -n "$(ulimit -Hn)"
IDLE_SESSIONS=${IDLE_SESSIONS:-$(($(ulimit -Hn) >= 65536 ? 10000 : 9000))}
CPS_ONLY=${RELAY_CPS_ONLY:-0}

. bench/peers.sh
need_peers haproxy:haproxy nginx:nginx socat:socat iperf3:iperf3 wrk:wrk

work=$(mktemp -d -t portplane-relay-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

IPERF=15201 ORIGIN=18080 IDLE_TARGET=19090
declare -A PORT=([portplane]=21000 [portplane-js]=26000 [haproxy]=22000 [nginx]=23000 [socat]=24000 [node-pipe]=25000
  [portplane-2t]=27000 [haproxy-2t]=28000 [nginx-2w]=29000)

iperf3 -s -p $IPERF -D --logfile "$work/iperf.log"
pids+=("$(pgrep -n -f "iperf3 -s -p $IPERF")")

cat > "$work/origin.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $work/origin.pid; error_log $work/origin.err;
events { worker_connections 4096; }
http { access_log off; keepalive_timeout 0;
  client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f; uwsgi_temp_path $work/u; scgi_temp_path $work/s;
  server { listen 127.0.0.1:$ORIGIN; location / { return 200 "ok\n"; } } }
NGX
nginx -p "$work" -c "$work/origin.conf" & pids+=($!)

# portplane: the daemon with limits raised out of the way of the benchmark;
# a second one relays in JavaScript (no splice engine), for comparison.
node --import tsx src/cli/main.ts --state-dir "$work/pp" serve --log-level warn --metrics-listen= --relay-threads 1 & pids+=($!)
pp_pid=$!
node --import tsx src/cli/main.ts --state-dir "$work/pp2" serve --log-level warn --metrics-listen= --relay-threads 2 & pids+=($!)
PORTPLANE_SPLICE=0 node --import tsx src/cli/main.ts --state-dir "$work/ppjs" serve --log-level warn --metrics-listen= & pids+=($!)
ppjs_pid=$!
cat > "$work/pp.yaml" <<YAML
tables:
  - name: bench
    rules:
      - {name: iperf, protocol: tcp, listen_address: 127.0.0.1, ports: ${PORT[portplane]}, target_address: 127.0.0.1, target_port: $IPERF,
         limits: {max_sessions: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000}}
      - {name: http, protocol: tcp, listen_address: 127.0.0.1, ports: $((PORT[portplane] + 1)), target_address: 127.0.0.1, target_port: $ORIGIN,
         limits: {max_sessions: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000}}
      - {name: idle, protocol: tcp, listen_address: 127.0.0.1, ports: $((PORT[portplane] + 2)), target_address: 127.0.0.1, target_port: $IDLE_TARGET,
         limits: {max_sessions: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000}}
YAML
for i in 0 1 2; do echo "s/ports: $((PORT[portplane] + i)),/ports: $((PORT[portplane-js] + i)),/"; done > "$work/ppjs.sed"
sed -f "$work/ppjs.sed" "$work/pp.yaml" > "$work/ppjs.yaml"
for i in 0 1 2; do echo "s/ports: $((PORT[portplane] + i)),/ports: $((PORT[portplane-2t] + i)),/"; done > "$work/pp2.sed"
sed -f "$work/pp2.sed" "$work/pp.yaml" > "$work/pp2.yaml"

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
  bind 127.0.0.1:${PORT[haproxy]}
  server s 127.0.0.1:$IPERF
listen http
  bind 127.0.0.1:$((PORT[haproxy] + 1))
  server s 127.0.0.1:$ORIGIN
HAP
haproxy -f "$work/haproxy.cfg" -db & pids+=($!)
sed -e 's/nbthread 1/nbthread 2/' -e "s/127.0.0.1:$((PORT[haproxy] + 1))/127.0.0.1:$((PORT[haproxy-2t] + 1))/" -e "s/127.0.0.1:${PORT[haproxy]}/127.0.0.1:${PORT[haproxy-2t]}/" \
  "$work/haproxy.cfg" > "$work/haproxy2.cfg"
haproxy -f "$work/haproxy2.cfg" -db & pids+=($!)

cat > "$work/stream.conf" <<NGX
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; worker_processes 1; pid $work/stream.pid; error_log $work/stream.err;
events { worker_connections 65536; }
stream {
  server { listen 127.0.0.1:${PORT[nginx]}; proxy_pass 127.0.0.1:$IPERF; }
  server { listen 127.0.0.1:$((PORT[nginx] + 1)); proxy_pass 127.0.0.1:$ORIGIN; }
}
NGX
nginx -p "$work" -c "$work/stream.conf" & pids+=($!)
sed -e 's/worker_processes 1;/worker_processes 2;/' -e "s#stream.pid#stream2.pid#" -e "s#stream.err#stream2.err#" \
  -e "s/127.0.0.1:${PORT[nginx]};/127.0.0.1:${PORT[nginx-2w]};/" -e "s/127.0.0.1:$((PORT[nginx] + 1));/127.0.0.1:$((PORT[nginx-2w] + 1));/" \
  "$work/stream.conf" > "$work/stream2.conf"
nginx -p "$work" -c "$work/stream2.conf" & pids+=($!)

socat TCP-LISTEN:${PORT[socat]},bind=127.0.0.1,fork,reuseaddr TCP:127.0.0.1:$IPERF & pids+=($!)
socat TCP-LISTEN:$((PORT[socat] + 1)),bind=127.0.0.1,fork,reuseaddr,backlog=1024 TCP:127.0.0.1:$ORIGIN & pids+=($!)
node --import tsx bench/naive-proxy.ts "${PORT[node-pipe]}" $IPERF & pids+=($!)
node --import tsx bench/naive-proxy.ts $((PORT[node-pipe] + 1)) $ORIGIN & pids+=($!)

for _ in $(seq 100); do [ -S "$work/pp/portplane.sock" ] && [ -S "$work/ppjs/portplane.sock" ] && [ -S "$work/pp2/portplane.sock" ] && break; sleep 0.1; done
node --import tsx src/cli/main.ts --state-dir "$work/pp" apply "$work/pp.yaml" >/dev/null
node --import tsx src/cli/main.ts --state-dir "$work/ppjs" apply "$work/ppjs.yaml" >/dev/null
node --import tsx src/cli/main.ts --state-dir "$work/pp2" apply "$work/pp2.yaml" >/dev/null
sleep 1

# Idle sessions first, on fresh daemons: after the load runs below, heap
# growth and garbage collection would swamp a few KiB per session.
if [ "$CPS_ONLY" != 1 ]; then
  echo "idle sessions (portplane, native engine):"
  node --import tsx bench/idle-sessions.ts "$pp_pid" $((PORT[portplane] + 2)) $IDLE_TARGET "$IDLE_SESSIONS"
  echo "idle sessions (portplane, JavaScript relay):"
  node --import tsx bench/idle-sessions.ts "$ppjs_pid" $((PORT[portplane-js] + 2)) $IDLE_TARGET "$IDLE_SESSIONS"
fi

gbps() { [ "$CPS_ONLY" = 1 ] && { echo 0; return; }; iperf3 -c 127.0.0.1 -p "$1" -t 5 -P "$2" -J | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);if(!r.end.sum_received){console.error(r.error);console.log("0")}else console.log((r.end.sum_received.bits_per_second/1e9).toFixed(2))})'; }
# Requests (= connections) per second and p99 latency in ms, as "rate p99".
cps() {
  wrk -t1 -c32 -d5s --latency -H 'Connection: close' "http://127.0.0.1:$1/" | awk '
    /Requests\/sec/ {rate = int($2)}
    $1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v = v / 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v = v * 1000} p99 = v}
    END {printf "%d %.2f\n", rate, p99}'
}

declare -A T1 T4 C L
measure_cps() { local r; r=$(cps "$2"); C[$1]=${r% *}; L[$1]=${r#* }; }
T1[direct]=$(gbps $IPERF 1); T4[direct]=$(gbps $IPERF 4); measure_cps direct $ORIGIN
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in portplane portplane-js haproxy nginx socat node-pipe; do
  T1[$p]=$(gbps "${PORT[$p]}" 1); T4[$p]=$(gbps "${PORT[$p]}" 4); measure_cps "$p" $((PORT[$p] + 1))
done
for p in portplane-2t haproxy-2t nginx-2w; do measure_cps "$p" $((PORT[$p] + 1)); done

ratio() { node -e "console.log(($1/$2).toFixed(2))"; }
echo
echo "| forwarder | iperf3 1 stream Gbit/s (ratio) | iperf3 4 streams Gbit/s (ratio) | new conn/s (ratio) | p99 latency ms |"
echo "| --- | --- | --- | --- | --- |"
for p in direct portplane portplane-js haproxy nginx socat node-pipe; do
  echo "| $p | ${T1[$p]} ($(ratio "${T1[$p]}" "${T1[direct]}")) | ${T4[$p]} ($(ratio "${T4[$p]}" "${T4[direct]}")) | ${C[$p]} ($(ratio "${C[$p]}" "${C[direct]}")) | ${L[$p]} |"
done
echo
echo "Two threads each:"
echo
echo "| forwarder | new conn/s (ratio) | p99 latency ms |"
echo "| --- | --- | --- |"
for p in portplane-2t haproxy-2t nginx-2w; do echo "| $p | ${C[$p]} ($(ratio "${C[$p]}" "${C[direct]}")) | ${L[$p]} |"; done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "portplane (1 thread) / haproxy (nbthread 1): 1 stream $(ratio "${T1[portplane]}" "${T1[haproxy]}"), 4 streams $(ratio "${T4[portplane]}" "${T4[haproxy]}"), conn/s $(ratio "${C[portplane]}" "${C[haproxy]}"), p99 latency $(ratio "${L[portplane]}" "${L[haproxy]}")"
echo "portplane (2 threads) / haproxy (nbthread 2): conn/s $(ratio "${C[portplane-2t]}" "${C[haproxy-2t]}"); / nginx (2 workers): conn/s $(ratio "${C[portplane-2t]}" "${C[nginx-2w]}")"
