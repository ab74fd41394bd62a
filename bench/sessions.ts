/**
 * Sessions and telemetry benchmark, through the real gRPC server (UNIX
 * socket, real clients) of an in-process daemon whose dataplane is the
 * kernel backend with a synthetic session store: 100,000 sessions inserted
 * through the SessionStore contract (the kernel backend cannot hold that
 * many real TCP sessions under this machine's fd limit of 20,000).
 *
 *   npx tsx --expose-gc bench/sessions.ts [--sessions N] [--events N] [--rounds N]
 *
 * Measures:
 *   - ListSessions: full listing of N sessions in pages of 10,000 (latency, sessions/s);
 *   - memory per session: heap per SessionInfo record in the synthetic store,
 *     and per event held in the watch hub's ring;
 *   - WatchSessions: events/s delivered with 1 and 10 watchers (all in this process).
 */
import { pino } from 'pino';
import { createDataPlane } from '../src/backends.js';
import { DEFAULT_LIMITS } from '../src/config/model.js';
import { DeltaBuffer } from '../src/dataplane/delta-buffer.js';
import type { RuntimeDataPlane } from '../src/dataplane/runtime.js';
import { SessionIndex } from '../src/dataplane/session-index.js';
import { sessionDeltaSource } from '../src/dataplane/session-sync.js';
import type { CloseReason, SessionInfo, SessionStore } from '../src/dataplane/session-store.js';
import { Daemon } from '../src/server/daemon.js';
import { SessionWatchHub } from '../src/sessions/watch-hub.js';
import { removeDir, ServiceClient, tempStateDir } from '../test/helpers/daemon-process.js';
import type * as grpc from '@grpc/grpc-js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const SESSIONS = arg('sessions', 100_000);
const EVENTS = arg('events', 200_000);
const ROUNDS = arg('rounds', 3);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (npx tsx --expose-gc bench/sessions.ts)');

/** Sessions held as records, as a backend holding them would; deltas through a DeltaBuffer. */
class SyntheticSessions implements SessionStore {
  readonly index = new SessionIndex<SessionInfo>();
  readonly deltas = new DeltaBuffer();
  private lastId = 0;

  open(): SessionInfo {
    const id = ++this.lastId;
    const now = Date.now();
    const session: SessionInfo = {
      id: String(id),
      table: `t${id % 10}`,
      ruleId: `r_${(id % 100).toString(16).padStart(16, '0')}`,
      ruleName: `rule-${id % 100}`,
      protocol: id % 2 ? 'tcp' : 'udp',
      client: { address: `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}`, port: 1024 + (id % 60000) },
      listener: { address: '127.0.0.1', port: 8000 + (id % 100) },
      upstreamLocal: { address: '127.0.0.1', port: 30000 + (id % 30000) },
      target: { address: '127.0.0.1', port: 9000 + (id % 100) },
      state: 'established',
      createdAt: now,
      lastActivityAt: now,
      fromClient: { bytes: id * 3, packets: id },
      toClient: { bytes: id * 5, packets: id },
      generation: 1,
    };
    this.index.add(session);
    if (this.deltas.recording) this.deltas.push('open', { ...session });
    return session;
  }

  close(id: string, reason: CloseReason): boolean {
    const session = this.index.get(id);
    if (!session || !this.index.delete(id)) return false;
    if (this.deltas.recording) this.deltas.push('close', { ...session, state: 'closed' }, reason);
    return true;
  }

  *iterate(afterId?: string): Iterable<SessionInfo> {
    for (const s of this.index.after(afterId)) yield { ...s };
  }
  get(id: string): SessionInfo | undefined {
    const s = this.index.get(id);
    return s && { ...s };
  }
  deleteWithCompanions(id: string, reason: CloseReason): boolean {
    return this.close(id, reason);
  }
  count(): number {
    return this.index.size;
  }
  clear(reason: CloseReason): number {
    const ids = [...this.index.values()].map((s) => s.id);
    for (const id of ids) this.close(id, reason);
    return ids.length;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

// Memory per session record and per hub event, measured before the daemon adds noise.
const probe = new SyntheticSessions();
const heap0 = heap();
for (let i = 0; i < SESSIONS; i++) probe.open();
const perSession = (heap() - heap0) / SESSIONS;
const hub = new SessionWatchHub(probe.deltas, 65_536);
hub.current();
const heap1 = heap();
for (let i = 0; i < 65_536; i++) probe.open();
hub.current();
const perEvent = (heap() - heap1) / 65_536 - perSession;
probe.clear('shutdown');

const store = new SyntheticSessions();
const kernel = createDataPlane('kernel', { logger: pino({ enabled: false }) });
const dataplane: RuntimeDataPlane = {
  name: kernel.name,
  start: () => kernel.start(),
  close: (graceMs) => kernel.close(graceMs),
  teardown: () => kernel.teardown(),
  capabilities: () => kernel.capabilities(),
  configSink: () => kernel.configSink(),
  telemetry: () => kernel.telemetry(),
  tracer: () => kernel.tracer(),
  sessions: () => store,
  sessionDeltas: () => sessionDeltaSource(store.deltas, store, (entries) => ({ imported: 0, rejected: entries.map((_, index) => ({ index, reason: 'synthetic store' })) })),
};
const stateDir = await tempStateDir();
const daemon = await Daemon.start({
  stateDir,
  dataplane,
  limits: DEFAULT_LIMITS,
  logger: pino({ enabled: false }),
  graceMs: 1000,
});
const client = new ServiceClient('SessionService', daemon.address);

for (let i = 0; i < SESSIONS; i++) store.open();
const listings: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const started = performance.now();
  let token = '';
  let listed = 0;
  do {
    const page = await client.call<{ sessions: unknown[]; next_page_token: string }>('ListSessions', { page_size: 10_000, page_token: token }, 120_000);
    listed += page.sessions.length;
    token = page.next_page_token;
  } while (token);
  if (listed !== SESSIONS) throw new Error(`listed ${listed} of ${SESSIONS}`);
  listings.push(performance.now() - started);
}
store.clear('shutdown');

/** Streams `EVENTS` open/close events to `watchers` real gRPC watchers; events/s each receives. */
async function watchThroughput(watchers: number): Promise<{ perWatcher: number; aggregate: number; resyncs: number }> {
  const clients = Array.from({ length: watchers }, () => new ServiceClient('SessionService', daemon.address));
  const received = new Array<number>(watchers).fill(0);
  let resyncs = 0;
  const ready: Promise<void>[] = [];
  const calls = clients.map((c, i) => {
    const call = (c.raw as unknown as Record<string, (req: object) => grpc.ClientReadableStream<{ events: { kind: string }[] }>>).WatchSessions!.call(c.raw, {});
    ready.push(
      new Promise((resolve) =>
        call.on('data', (m: { events: { kind: string }[] }) => {
          for (const e of m.events) {
            if (e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END') resolve();
            else if (e.kind === 'SESSION_EVENT_KIND_RESYNC') resyncs++;
            else if (e.kind === 'SESSION_EVENT_KIND_OPEN' || e.kind === 'SESSION_EVENT_KIND_CLOSE') received[i]!++;
          }
        }),
      ),
    );
    call.on('error', () => undefined);
    return call;
  });
  await Promise.all(ready);
  const started = performance.now();
  let produced = 0;
  const hubStats = (): number => daemon.hub.stats().sequence;
  const base = hubStats();
  // Produce while the slowest watcher is within half the ring, so this measures delivery, not RESYNC.
  while (produced < EVENTS) {
    const slowest = Math.min(...received);
    if (produced - slowest < 30_000) {
      for (let i = 0; i < 1000 && produced < EVENTS; i += 2) {
        const s = store.open();
        store.close(s.id, 'client');
        produced += 2;
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  const deadline = Date.now() + 120_000;
  while (Math.min(...received) < EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  if (hubStats() - base !== EVENTS) throw new Error(`hub saw ${hubStats() - base} events, expected ${EVENTS}`);
  for (const call of calls) call.cancel();
  for (const c of clients) c.close();
  const perWatcher = Math.min(...received) / seconds;
  return { perWatcher, aggregate: received.reduce((a, b) => a + b, 0) / seconds, resyncs };
}

const one = await watchThroughput(1);
const ten = await watchThroughput(10);

client.close();
await daemon.shutdown('bench done');
await removeDir(stateDir);

const listMs = median(listings);
console.log(
  JSON.stringify(
    {
      sessions: SESSIONS,
      listFullMs: listings.map((ms) => Math.round(ms)),
      listFullMedianMs: Math.round(listMs),
      listSessionsPerSecond: Math.round(SESSIONS / (listMs / 1000)),
      heapBytesPerSessionRecord: Math.round(perSession),
      heapBytesPerHubEvent: Math.round(perEvent),
      watch1: { eventsPerSecond: Math.round(one.perWatcher), resyncs: one.resyncs },
      watch10: { eventsPerSecondPerWatcher: Math.round(ten.perWatcher), eventsPerSecondAggregate: Math.round(ten.aggregate), resyncs: ten.resyncs },
    },
    null,
    2,
  ),
);
process.exit(0);
