#!/usr/bin/env bash
# UDP forwarding on loopback: portplane (native engine, 1 relay thread; and
# its JavaScript path with PORTPLANE_SPLICE=0) side by side with nginx stream
# UDP (1 worker) and socat, against a C echo target (bench/udp-load.c):
#   - datagrams per second: 8 flows, each keeping 32 datagrams of 64 B (and
#     then 1,400 B) in flight, 5 s, counted as replies received;
#   - new flows per second: 32 at a time, each a fresh source port sending one
#     datagram and waiting for its reply, 3 s.
# Flows expire after 1 s idle everywhere (portplane udp_idle_timeout_ms,
# nginx proxy_timeout), so live flows stay under the descriptor limit.
#
#   npm run bench:udp      (as root: installs the peers with apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"

. bench/peers.sh
need_peers nginx:nginx socat:socat cc:gcc

work=$(mktemp -d -t portplane-udp-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cc -O2 -o "$work/udp-load" bench/udp-load.c
ECHO=16201
declare -A PORT=([direct]=$ECHO [portplane]=16210 [portplane-js]=16220 [nginx]=16230 [socat]=16240)
"$work/udp-load" echo $ECHO & pids+=($!)

node --import tsx src/cli/main.ts --state-dir "$work/pp" serve --log-level warn --metrics-listen= --relay-threads 1 & pids+=($!)
PORTPLANE_SPLICE=0 node --import tsx src/cli/main.ts --state-dir "$work/ppjs" serve --log-level warn --metrics-listen= & pids+=($!)
rule() {
  cat <<YAML
tables:
  - name: bench
    rules:
      - {name: echo, protocol: udp, listen_address: 127.0.0.1, ports: $1, target_address: 127.0.0.1, target_port: $ECHO, udp_idle_timeout_ms: 1000,
         limits: {max_sessions: 1000000, max_udp_flows: 1000000, session_rate: 1000000, session_burst: 1000000, source_rate: 1000000, source_burst: 1000000}}
YAML
}
rule "${PORT[portplane]}" > "$work/pp.yaml"
rule "${PORT[portplane-js]}" > "$work/ppjs.yaml"

cat > "$work/stream.conf" <<NGX
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; worker_processes 1; pid $work/stream.pid; error_log $work/stream.err;
worker_rlimit_nofile 20000;
events { worker_connections 20000; }
stream { server { listen 127.0.0.1:${PORT[nginx]} udp; proxy_pass 127.0.0.1:$ECHO; proxy_timeout 1s; } }
NGX
nginx -p "$work" -c "$work/stream.conf" & pids+=($!)
socat -T 1 UDP4-RECVFROM:"${PORT[socat]}",bind=127.0.0.1,fork UDP4-SENDTO:127.0.0.1:$ECHO & pids+=($!)

for _ in $(seq 100); do [ -S "$work/pp/portplane.sock" ] && [ -S "$work/ppjs/portplane.sock" ] && break; sleep 0.1; done
node --import tsx src/cli/main.ts --state-dir "$work/pp" apply "$work/pp.yaml" >/dev/null
node --import tsx src/cli/main.ts --state-dir "$work/ppjs" apply "$work/ppjs.yaml" >/dev/null
sleep 1

declare -A P64 P1400 F LOST
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in direct portplane portplane-js nginx socat; do
  P64[$p]=$("$work/udp-load" pps "${PORT[$p]}" 8 32 5 64)
  P1400[$p]=$("$work/udp-load" pps "${PORT[$p]}" 8 32 5 1400)
  sleep 1.5 # the flows above expire before new flows are counted
  r=$("$work/udp-load" flows "${PORT[$p]}" 32 3)
  F[$p]=${r% *}
  LOST[$p]=${r#* }
  sleep 1.5
done

ratio() { node -e "console.log(($1/$2).toFixed(2))"; }
echo
echo "| forwarder | 64 B datagrams/s (ratio) | 1,400 B datagrams/s (ratio) | new flows/s (ratio) | flows without a reply |"
echo "| --- | --- | --- | --- | --- |"
for p in direct portplane portplane-js nginx socat; do
  echo "| $p | ${P64[$p]} ($(ratio "${P64[$p]}" "${P64[direct]}")) | ${P1400[$p]} ($(ratio "${P1400[$p]}" "${P1400[direct]}")) | ${F[$p]} ($(ratio "${F[$p]}" "${F[direct]}")) | ${LOST[$p]} |"
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "portplane / nginx stream UDP: 64 B $(ratio "${P64[portplane]}" "${P64[nginx]}"), 1,400 B $(ratio "${P1400[portplane]}" "${P1400[nginx]}"), new flows $(ratio "${F[portplane]}" "${F[nginx]}")"
echo "portplane JavaScript path / nginx: 64 B $(ratio "${P64[portplane-js]}" "${P64[nginx]}"), 1,400 B $(ratio "${P1400[portplane-js]}" "${P1400[nginx]}"), new flows $(ratio "${F[portplane-js]}" "${F[nginx]}")"
