#!/usr/bin/env bash
# The native addons built with AddressSanitizer + UndefinedBehaviorSanitizer
# (build/Debug of each), under the tests that drive them: the TCP engine
# (relay, accept path, admission, continuity, PROXY protocol, fd exhaustion),
# the TUN reader, and the userspace fast path and packet loop (native/tun:
# conformance and session suites through the memory and pcap ports, the TUN
# end to end with one and two queues), and the nftables addon (libnftables
# batches, generation, events and the hand-built netlink batches, in a
# namespace: skipped with a reason when not root). Node itself is not instrumented, so
# the sanitizer runtimes are preloaded; any report aborts the process and
# fails the test.
# Leak checking is off: Node's own allocations at exit would drown it.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/build-native.js --sanitize
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
export LD_PRELOAD="$asan:$ubsan"
export PORTPLANE_NATIVE_BUILD=Debug
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:verify_asan_link_order=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# One file at a time: a daemon under ASan starts slowly, and parallel files would time out.
exec npx vitest run --no-file-parallelism \
  test/unit/tcp-relay.test.ts test/unit/kernel-backend.test.ts test/unit/kernel-features.test.ts test/unit/tun-port.test.ts \
  test/integration/relay-engines.test.ts test/integration/continuity.test.ts test/integration/continuity-load.test.ts \
  test/integration/proxy-protocol.test.ts test/integration/fd-limit.test.ts test/integration/userspace-tun.test.ts \
  test/integration/userspace-sessions.test.ts test/integration/userspace-pcap.test.ts test/conformance/conformance.test.ts \
  test/conformance/session-contract.test.ts test/unit/splice-listener-routes.test.ts test/integration/nftables-netlink.test.ts test/integration/nftables-ownership.test.ts "$@"
