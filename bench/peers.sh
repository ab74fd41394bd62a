# Sourced by the shell benchmarks: installs the peers they compare against.
# need_peers COMMAND:PACKAGE... installs, with apt-get, the package of every
# command missing here (as root), and nginx's stream module when it is absent.
need_peers() {
  local need=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair##*:}")
  done
  [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}
