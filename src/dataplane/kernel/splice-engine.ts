/**
 * The optional native TCP engine (native/splice-relay, built by `npm ci`):
 * worker threads that own a connection from accept to close. They accept on
 * the listening sockets opened through the engine (one socket per port,
 * shared by the workers), admit with each rule's compiled admission (filter,
 * caps, token buckets: RuleRuntime pushes its policy here on every apply),
 * connect to the target, write the PROXY header, and relay both directions
 * with splice(2), kernel to kernel. No JavaScript runs on that path; the
 * JavaScript thread learns what happened from event records the engine hands
 * over in batches (opened, refused, connected, end, closed), which keep
 * sessions, counters, flood counters and session deltas as they were.
 * While nobody watches sessions, a connection sends no record unless it
 * fails: the engine counts it per rule, and the JavaScript thread does
 * nothing per connection. Whoever needs the sessions themselves (a list, a
 * telemetry read, an apply) asks reveal(), which has every live connection
 * report itself, and takeQuiet() for the counts.
 *
 * The engine is loaded once per process. Without it (no compiler at install,
 * a non-Linux kernel, or PORTPLANE_SPLICE=0) the kernel backend accepts and
 * relays in JavaScript (tcp-listener.ts, tcp-relay.ts) with the same behaviour.
 *
 * A connection is known by its slot (which indexes the shared stats array the
 * workers write byte and read counts into) and its serial (which tells it
 * from a later connection in the same slot); commands name both, so a stale
 * command does nothing.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { parseCidr } from '../../config/cidr.js';
import type { ForwardRule } from '../../config/model.js';
import { protoRoot } from '../../server/api-definition.js';
import type { AdmissionRefusal } from '../admission.js';
import type { Endpoint } from '../session-store.js';

/** Connections the engine relays at once, over all its threads. */
const CAPACITY = 1 << 17;

/** Doubles per slot in the stats array, in this order (native/splice-relay/splice_relay.c STAT_*). */
export const STATS_PER_SLOT = 6;
export const STAT = { fromClientBytes: 0, fromClientReads: 1, toClientBytes: 2, toClientReads: 3, lastActivityMs: 4, serial: 5 } as const;

export const EV_CONNECTED = 1;
export const EV_END = 2;
export const EV_CLOSED = 3;
const EV_OPENED = 4;
const EV_REFUSED = 5;

/** Why a connection closed (EV_CLOSED), as the engine reports it. */
export const WHY = {
  requested: 0,
  ended: 1,
  clientError: 2,
  upstreamReset: 3,
  upstreamError: 4,
  connectFailed: 5,
  connectTimeout: 6,
  resource: 7,
  upstreamRefused: 8,
  idle: 9,
} as const;

/** EV_REFUSED reasons, by the engine's code (REFUSE_*). */
const REFUSALS: readonly (AdmissionRefusal | 'resource' | undefined)[] = [undefined, 'filter', 'cap', 'source_rate', 'rate', 'resource'];

/** Event record layout (event_t in splice_relay.c). */
const EVENT_BYTES = 128;

/** A connection's final counts, reported with EV_CLOSED (STAT_* order, without the serial). */
export interface FinalCounts {
  fromClientBytes: number;
  fromClientReads: number;
  toClientBytes: number;
  toClientReads: number;
  lastActivityMs: number;
}

/** Connections that opened and closed without events (no watcher), counted in the engine, and their traffic. */
export interface QuietCounts {
  connections: number;
  fromClientBytes: number;
  fromClientReads: number;
  toClientBytes: number;
  toClientReads: number;
}

/** What the engine tells the connection it relays. */
export interface EngineConnection {
  onEngineEvent(kind: number, why: number, detail: number, address: string | undefined, port: number | undefined): void;
  onEngineClosed(why: number, detail: number, counts: FinalCounts): void;
}

/** What the engine tells the owner of a listening socket. */
export interface EngineListener {
  /**
   * A connection admitted under route `seq` (see route()), at `createdAt`
   * (earlier than now when it ran quietly until revealed); the owner returns
   * who follows it (undefined: close it).
   */
  accepted(seq: number, slot: number, serial: number, client: Endpoint, local: Endpoint, createdAt: number): EngineConnection | undefined;
  /** A connection refused by admission, or dropped for want of a descriptor (no client address then). */
  refused(seq: number, reason: AdmissionRefusal | 'resource', clientAddress: string | undefined): void;
  /**
   * A connection that opened and closed between two batches: the owner may
   * count it without building a session (true), or have it go through
   * accepted() and its events like any other (false).
   */
  brief(seq: number, why: number, detail: number, counts: FinalCounts): boolean;
}

interface Addon {
  create(capacity: number, threads: number, onEvents: () => void): { engine: unknown; stats: ArrayBuffer };
  adopt(engine: unknown, fd: number, address: string, port: number, timeoutMs: number, header: Buffer | null): number;
  close(engine: unknown, slot: number, serial: number, reset: boolean): void;
  takeEvents(engine: unknown): ArrayBuffer | undefined;
  setActive(engine: unknown, active: boolean): void;
  setDetail(engine: unknown, on: boolean): void;
  upstreamLocal(engine: unknown, slot: number, serial: number): [string, number] | undefined;
  reveal(engine: unknown): void;
  ruleTakeQuiet(engine: unknown, rule: number): [number, number, number, number, number] | undefined;
  listenerOpen(engine: unknown, address: string, port: number, ipv6Only: boolean, udp: boolean): number;
  listenerFd(engine: unknown, lid: number): number;
  /** `routes`: lid, rule, port, seq per route; answers 0 or -errno per route. */
  listenerRoutes(engine: unknown, routes: Uint32Array, addresses: string[]): Int32Array;
  listenerClose(engine: unknown, lid: number): void;
  ruleCreate(engine: unknown): number;
  ruleSet(
    engine: unknown,
    rule: number,
    maxSessions: number,
    sessionRate: number,
    sessionBurst: number,
    sourceRate: number,
    sourceBurst: number,
    allow: Buffer,
    deny: Buffer,
    connectTimeoutMs: number,
    proxy: number,
    maxUdpFlows: number,
    udpIdleTimeoutMs: number,
  ): void;
  ruleRelease(engine: unknown, rule: number): void;
}

/** One listener's route (see SpliceEngine.route). */
export interface EngineRoute {
  lid: number;
  owner: EngineListener;
  rule: number;
  address: string;
  port: number;
  seq: number;
}

export type AdoptResult = { ok: true; slot: number; serial: number } | { ok: false; errno: number };
export type ListenResult = { ok: true; lid: number } | { ok: false; errno: string; message: string };

const errorMap = getSystemErrorMap();

/** An errno (positive) as Node names and describes it. */
export function errnoName(errno: number): { code: string; message: string } {
  const [code, message] = errorMap.get(-errno) ?? [`errno ${errno}`, 'unknown error'];
  return { code, message };
}

/** A rule's allow or deny list packed for the engine: family, prefix length, 16 address bytes per entry. */
function packCidrs(list: readonly string[]): Buffer {
  const out = Buffer.alloc(list.length * 18);
  let n = 0;
  for (const text of list) {
    const parsed = parseCidr(text);
    // Validation rejected anything unparsable before it got here.
    if (!parsed.ok) continue;
    const { cidr } = parsed;
    const at = n++ * 18;
    out[at] = cidr.bytes.length === 4 ? 4 : 6;
    out[at + 1] = cidr.prefix;
    out.set(cidr.bytes, at + 2);
  }
  return out.subarray(0, n * 18);
}

const latin1 = new TextDecoder('latin1');

/** The counts an EV_CLOSED record at `at` carries. */
function finalCounts(view: DataView, at: number): FinalCounts {
  return {
    fromClientBytes: view.getFloat64(at + 24, true),
    fromClientReads: view.getFloat64(at + 32, true),
    toClientBytes: view.getFloat64(at + 40, true),
    toClientReads: view.getFloat64(at + 48, true),
    lastActivityMs: view.getFloat64(at + 56, true),
  };
}

export class SpliceEngine {
  readonly stats: Float64Array;
  readonly threads: number;
  private readonly engine: unknown;
  /** Connections by serial (a slot may be reused before its old connection's last event is read). */
  private readonly connections = new Map<number, EngineConnection>();
  private readonly listeners = new Map<number, EngineListener>();
  private active = false;
  private detail = false;
  /** Whoever needs every session's upstream address as it connects (session watchers); asked at each batch. */
  private readonly detailWanted = new Set<() => boolean>();

  constructor(
    private readonly addon: Addon,
    threads: number,
    /** Where a throwing handler is reported; the engine goes on with the next event. */
    private readonly onError: (err: unknown) => void = (err) => process.emitWarning(err as Error),
  ) {
    this.threads = threads;
    const created = addon.create(CAPACITY, threads, () => this.drain());
    this.engine = created.engine;
    this.stats = new Float64Array(created.stats);
  }

  /**
   * Hands the accepted socket `fd` to the engine, which duplicates it (the
   * caller closes its own) and connects to the target. errno EINVAL: the
   * target is no numeric address the engine can connect to; ENOSPC: every
   * slot is taken. Either way the caller relays the connection itself.
   */
  adopt(fd: number, address: string, port: number, timeoutMs: number, header: Buffer | null): AdoptResult {
    const slot = this.addon.adopt(this.engine, fd, address, port, timeoutMs, header);
    if (slot < 0) return { ok: false, errno: -slot };
    return { ok: true, slot, serial: this.stats[slot * STATS_PER_SLOT + STAT.serial] as number };
  }

  /** Binds the connection `serial` to the object that handles its events. */
  attach(serial: number, connection: EngineConnection): void {
    this.connections.set(serial, connection);
    this.updateActive();
  }

  /** The upstream socket's local end of a connected connection, asked of the engine (undefined once it closed there). */
  upstreamLocal(slot: number, serial: number): Endpoint | undefined {
    const local = this.addon.upstreamLocal(this.engine, slot, serial);
    return local && { address: local[0], port: local[1] };
  }

  /**
   * `wanted` says whether EV_CONNECTED should carry the upstream's local
   * address (a syscall per connection, so only while sessions are watched);
   * asked before each batch. Returns the function that stops asking it.
   */
  wantDetail(wanted: () => boolean): () => void {
    this.detailWanted.add(wanted);
    return () => this.detailWanted.delete(wanted);
  }

  /**
   * Handles every event, after having every connection that runs quietly
   * report itself: while nobody watches sessions the engine sends no event
   * for a connection that opens and closes cleanly (ruleTakeQuiet counts
   * it), so whoever needs every live connection as a session asks this.
   */
  reveal(): void {
    this.addon.reveal(this.engine);
    this.drain();
  }

  /** Connections that opened and closed quietly under engine rule `index` since the last call, and their traffic. */
  takeQuiet(index: number): QuietCounts | undefined {
    const counts = this.addon.ruleTakeQuiet(this.engine, index);
    if (!counts) return undefined;
    const [connections, fromClientBytes, fromClientReads, toClientBytes, toClientReads] = counts;
    return { connections, fromClientBytes, fromClientReads, toClientBytes, toClientReads };
  }

  /** Ends the connection; an EV_CLOSED (requested) follows unless it already ended. */
  close(slot: number, serial: number, resetClient: boolean): void {
    this.addon.close(this.engine, slot, serial, resetClient);
  }

  /** Binds and listens (as net.Server would; UDP as an exclusive dgram socket); accepting (reading) starts with route(). */
  listen(address: string, port: number, ipv6Only: boolean, udp = false): ListenResult {
    const lid = this.addon.listenerOpen(this.engine, address, port, ipv6Only, udp);
    if (lid >= 0) return { ok: true, lid };
    const { code, message } = errnoName(-lid);
    return { ok: false, errno: code, message: `listen ${code}: ${message} ${address}:${port}` };
  }

  listenerFd(lid: number): number {
    return this.addon.listenerFd(this.engine, lid);
  }

  /**
   * Where each listener's new connections go, admitted by engine rule
   * `rule`; their events carry `seq`. A listener starts accepting on its
   * first route. Events of earlier routes are all handled when this
   * returns, so the owners may forget them. An errno name per failed route.
   */
  route(routes: readonly EngineRoute[]): (string | undefined)[] {
    if (routes.length === 0) return [];
    // A listener accepts only from its first route on: before it there is no older route with connections to reveal.
    const rerouted = routes.some((r) => this.listeners.has(r.lid));
    for (const r of routes) this.listeners.set(r.lid, r.owner);
    this.updateActive();
    // One native call for the batch (a commit routes every listener it opened or retargeted at once).
    const words = new Uint32Array(routes.length * 4);
    routes.forEach((r, i) => {
      words[i * 4] = r.lid;
      words[i * 4 + 1] = r.rule;
      words[i * 4 + 2] = r.port;
      words[i * 4 + 3] = r.seq;
    });
    const results = this.addon.listenerRoutes(this.engine, words, routes.map((r) => r.address));
    // Connections still running quietly under an older route report themselves now, while their owners know that route:
    // one reveal (a scan of every slot) for the batch, and none when every listener is new (a restore opens 10,000).
    if (rerouted) this.reveal();
    return Array.from(results, (result) => (result === 0 ? undefined : errnoName(-result).code));
  }

  /** Stops listening and closes each socket now; the listeners' events are all handled when this returns. */
  closeListeners(lids: readonly number[]): void {
    if (lids.length === 0) return;
    for (const lid of lids) this.addon.listenerClose(this.engine, lid);
    // Their connections, quiet ones too, are sessions before this returns (closing a port may end them):
    // one reveal (a scan of the slots of every worker with a connection) for the batch, not one per listener.
    this.reveal();
    for (const lid of lids) this.listeners.delete(lid);
    this.updateActive();
  }

  /** A new engine rule (admission state: counts, buckets); give it a policy with setRule(). */
  createRule(): number {
    return this.addon.ruleCreate(this.engine);
  }

  /** The rule's policy from now on; buckets restart only when their limits change. */
  setRule(index: number, rule: ForwardRule): void {
    const { limits } = rule;
    this.addon.ruleSet(
      this.engine,
      index,
      limits.maxSessions,
      limits.sessionRate,
      limits.sessionBurst,
      limits.sourceRate,
      limits.sourceBurst,
      packCidrs(rule.allow),
      packCidrs(rule.deny),
      rule.connectTimeoutMs,
      rule.proxyProtocol === 'v1' ? 1 : rule.proxyProtocol === 'v2' ? 2 : 0,
      limits.maxUdpFlows,
      rule.udpIdleTimeoutMs,
    );
  }

  /** The rule goes once its last connection closes. */
  releaseRule(index: number): void {
    this.addon.ruleRelease(this.engine, index);
  }

  /** Handles every event the workers queued. */
  drain(): void {
    this.updateDetail();
    for (let buffer = this.addon.takeEvents(this.engine); buffer; buffer = this.addon.takeEvents(this.engine)) {
      const view = new DataView(buffer);
      const bytes = new Uint8Array(buffer);
      // Where each connection that closes in this batch closes, so one that also opened in it is handled in one go.
      const closes = new Map<number, number>();
      for (let at = 0; at < buffer.byteLength; at += EVENT_BYTES) {
        if (view.getUint8(at) === EV_CLOSED) closes.set(view.getUint32(at + 8, true), at);
      }
      const done = new Set<number>();
      for (let at = 0; at < buffer.byteLength; at += EVENT_BYTES) {
        try {
          this.dispatch(view, bytes, at, closes, done);
        } catch (err) {
          this.onError(err);
        }
      }
    }
    this.updateActive();
  }

  private dispatch(view: DataView, bytes: Uint8Array, at: number, closes: Map<number, number>, done: Set<number>): void {
    const kind = view.getUint8(at);
    const why = view.getUint8(at + 1);
    const slot = view.getUint32(at + 4, true);
    const serial = view.getUint32(at + 8, true);
    const detail = view.getInt32(at + 12, true);
    const text = (offset: number, length: number): string => latin1.decode(bytes.subarray(at + offset, at + offset + length));
    if (done.has(serial) && kind !== EV_OPENED && kind !== EV_REFUSED) return;
    if (kind === EV_OPENED) {
      const owner = this.listeners.get(view.getUint32(at + 16, true));
      const seq = view.getUint32(at + 120, true);
      const closedAt = closes.get(serial);
      if (owner && closedAt !== undefined) {
        const closedWhy = view.getUint8(closedAt + 1);
        if (owner.brief(seq, closedWhy, view.getInt32(closedAt + 12, true), finalCounts(view, closedAt))) {
          done.add(serial);
          return;
        }
      }
      const client = { address: text(24, view.getUint8(at + 22)), port: view.getUint16(at + 2, true) };
      const local = { address: text(72, view.getUint8(at + 23)), port: view.getUint16(at + 20, true) };
      // How long ago it was accepted, in ms (a connection revealed after running quietly): 64 bits, low half in detail.
      const age = view.getUint32(at + 12, true) + view.getUint32(at + 124, true) * 2 ** 32;
      const connection = owner?.accepted(seq, slot, serial, client, local, Date.now() - age);
      if (connection) this.connections.set(serial, connection);
      else this.close(slot, serial, true);
      return;
    }
    if (kind === EV_REFUSED) {
      const owner = this.listeners.get(view.getUint32(at + 16, true));
      const length = view.getUint8(at + 22);
      const reason = REFUSALS[why];
      if (owner && reason) owner.refused(view.getUint32(at + 120, true), reason, length > 0 ? text(24, length) : undefined);
      return;
    }
    const connection = this.connections.get(serial);
    if (!connection) return;
    if (kind === EV_CLOSED) {
      this.connections.delete(serial);
      connection.onEngineClosed(why, detail, finalCounts(view, at));
    } else if (kind === EV_CONNECTED) {
      const length = view.getUint8(at + 22);
      connection.onEngineEvent(kind, why, detail, length > 0 ? text(24, length) : undefined, view.getUint16(at + 2, true));
    } else {
      connection.onEngineEvent(kind, why, detail, undefined, undefined);
    }
  }

  private updateDetail(): void {
    let detail = false;
    for (const wanted of this.detailWanted) detail ||= wanted();
    if (detail === this.detail) return;
    this.detail = detail;
    this.addon.setDetail(this.engine, detail);
    // A watcher from now on sees every session close: the quiet ones become sessions (their records come in this drain).
    if (detail) this.addon.reveal(this.engine);
  }

  /** Pending events keep the process alive only while a connection or a listener needs them. */
  private updateActive(): void {
    const active = this.connections.size > 0 || this.listeners.size > 0;
    if (active === this.active) return;
    this.active = active;
    this.addon.setActive(this.engine, active);
  }
}

let threads = 0;
let loaded: { engine: SpliceEngine } | { engine: undefined; reason: string } | undefined;

/** Worker threads of the engine (--relay-threads); 0, the default, is one per core. Takes effect if the engine is not loaded yet. */
export function setRelayThreads(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new RangeError(`relay threads must be 0-64, got ${n}`);
  threads = n;
}

/** The process's engine, loaded on first use; undefined (with why) when TCP runs in JavaScript. */
export function spliceEngine(): { engine: SpliceEngine } | { engine: undefined; reason: string } {
  if (loaded) return loaded;
  if (process.env.PORTPLANE_SPLICE === '0') {
    loaded = { engine: undefined, reason: 'disabled by PORTPLANE_SPLICE=0' };
    return loaded;
  }
  const path = join(protoRoot(), '..', 'native', 'splice-relay', 'build', process.env.PORTPLANE_NATIVE_BUILD ?? 'Release', 'splice_relay.node');
  try {
    const n = threads > 0 ? threads : Math.min(64, Math.max(1, availableParallelism()));
    loaded = { engine: new SpliceEngine(createRequire(import.meta.url)(path) as Addon, n) };
  } catch (err) {
    loaded = { engine: undefined, reason: `native addon ${path} not loadable: ${(err as Error).message.split('\n')[0]}` };
  }
  return loaded;
}
