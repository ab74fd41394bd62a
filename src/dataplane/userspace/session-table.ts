/**
 * The userspace backend's sessions: every session is a forward entry and a
 * reverse entry in the flow table, plus a NAT binding when its rule SNATs.
 * Those companions are created together by open()/install() and removed
 * together by deleteWithCompanions(), the only code that removes any of
 * them: GC, operator deletes, terminate, reconcile and clear all call it.
 * Implements the neutral SessionStore.
 */
import { ipText, parseIp } from '../../config/ip.js';
import { DeltaBuffer } from '../delta-buffer.js';
import type { CompiledRule, RouteTable } from '../route-lookup.js';
import type { FlowIdentity, ImportOptions, ImportResult } from '../session-deltas.js';
import { SessionIndex } from '../session-index.js';
import type { CloseReason, SessionInfo, SessionStore } from '../session-store.js';
import type { RuleCounters, TrafficCounters } from '../telemetry.js';
import { FlowTable } from './flow-table.js';
import { DEFAULT_SNAT_PORTS, NatPool, type PortRange } from './nat-pool.js';
import type { NativeFastPath } from './native-fast-path.js';
import { DROP_NAT_EXHAUSTED, DROP_TUPLE_CONFLICT, KEY_WORDS, PROTO_TCP, PROTO_UDP } from './packet.js';
import {
  REC_FWD_BYTES64,
  REC_FWD_PACKETS,
  REC_LAST_SEEN,
  REC_REV_BYTES64,
  REC_REV_PACKETS,
  RECORD_WORDS,
  REV,
  Session,
  STATE_NAMES,
  UDP_ACTIVE,
  SYN_SENT,
} from './session.js';

/** Deltas kept for a consumer that does not drain; beyond this the oldest are dropped and counted as lost. */
const MAX_PENDING_DELTAS = 1 << 20;

/** Slots whose records share one buffer: views into it cost no backing store of their own (native/tun/fastpath.h FP_CHUNK_SLOTS). */
const KEY_CHUNK_SLOTS = 4096;
/** Words of a record the native fast path writes (last seen, pending counters), cleared when a slot takes a new session. */
const NATIVE_WORDS_FROM = REC_LAST_SEEN;

export interface SessionTableOptions {
  snatPorts?: PortRange;
  /** Sessions beyond this are refused (telemetry drop "resource"). */
  maxSessions?: number;
}

export const DEFAULT_MAX_SESSIONS = 4_000_000;

function wordText(family: 4 | 6, keys: Uint32Array, off: number): string {
  if (family === 4) {
    const w = keys[off]!;
    return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
  }
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const w = keys[off + i]!;
    bytes[4 * i] = w >>> 24;
    bytes[4 * i + 1] = (w >>> 16) & 0xff;
    bytes[4 * i + 2] = (w >>> 8) & 0xff;
    bytes[4 * i + 3] = w & 0xff;
  }
  return ipText({ family: 6, bytes });
}

/** Writes the address `text` into `keys` at `off` (4 words); false if it is not an address of `family`. */
function writeAddress(family: 4 | 6, text: string, keys: Uint32Array, off: number): boolean {
  const ip = parseIp(text);
  if (!ip || ip.family !== family) return false;
  for (let i = 0; i < 4; i++) {
    const o = 4 * i;
    keys[off + i] = i < ip.bytes.length / 4 ? ((ip.bytes[o]! << 24) | (ip.bytes[o + 1]! << 16) | (ip.bytes[o + 2]! << 8) | ip.bytes[o + 3]!) >>> 0 : 0;
  }
  return true;
}

/**
 * SessionStore itself, and the delta queue it feeds: a delta holds the
 * session object and is snapshotted when drained. importInto() is the
 * userspace part of SessionDeltaSource.importSessions.
 */
export class SessionTable implements SessionStore {
  readonly deltas = new DeltaBuffer<Session>(MAX_PENDING_DELTAS, (session) => this.info(session));
  readonly flows = new FlowTable();
  /** Session by slot: the flow table's value is slot << 1 | direction (0 forward, 1 reverse). */
  readonly slots: (Session | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  /** Keys view by slot, made once per slot and handed to each session that lives there (see remove()). */
  private readonly slotKeys: Uint32Array[] = [];
  /** Record chunks, whole, for the native fast path and as 64-bit views for its byte counts. */
  private readonly chunks: Uint32Array[] = [];
  private readonly chunks64: BigUint64Array[] = [];
  private native: NativeFastPath | undefined;
  /** Ids only grow, so adding is an append; iterate(afterId) starts in O(log n). */
  private readonly byId = new SessionIndex<Session>();
  private readonly natPools = new Map<string, NatPool>();
  private readonly snatPorts: PortRange;
  readonly maxSessions: number;
  private nextId = 1;
  /** Key of a flow lookup (findFlow). */
  private readonly scratch = new Uint32Array(KEY_WORDS);

  constructor(
    private readonly global: TrafficCounters,
    options: SessionTableOptions = {},
  ) {
    this.snatPorts = options.snatPorts ?? DEFAULT_SNAT_PORTS;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  private keysOf(slot: number): Uint32Array {
    let keys = this.slotKeys[slot];
    if (!keys) {
      const first = slot - (slot % KEY_CHUNK_SLOTS);
      const chunk = new ArrayBuffer(KEY_CHUNK_SLOTS * RECORD_WORDS * 4);
      for (let i = 0; i < KEY_CHUNK_SLOTS; i++) this.slotKeys[first + i] = new Uint32Array(chunk, i * RECORD_WORDS * 4, RECORD_WORDS);
      const index = first / KEY_CHUNK_SLOTS;
      this.chunks[index] = new Uint32Array(chunk);
      this.chunks64[index] = new BigUint64Array(chunk);
      this.native?.setChunk(index, this.chunks[index]);
      keys = this.slotKeys[slot]!;
    }
    return keys;
  }

  private pool(protocol: number, family: 4 | 6, keys: Uint32Array, off: number): NatPool {
    const name = `${protocol}|${wordText(family, keys, off)}`;
    let pool = this.natPools.get(name);
    if (!pool) {
      pool = new NatPool(this.snatPorts);
      this.natPools.set(name, pool);
    }
    return pool;
  }

  /** Lets the native fast path read this table (flow rows and slot records) from now on. */
  attachNative(native: NativeFastPath): void {
    this.native = native;
    native.onStateChange = (slot) => this.updatedSlot(slot);
    this.chunks.forEach((chunk, index) => native.setChunk(index, chunk));
    this.flows.onRows = (rows) => native.setRows(rows);
  }

  /** Takes what the native fast path counted for `session` since the last fold into the session, its rule and the global counters. */
  private fold(session: Session): void {
    const k = session.keys;
    if (!this.native || (k[REC_FWD_PACKETS] === 0 && k[REC_REV_PACKETS] === 0)) return;
    const big = this.chunks64[Math.floor(session.slot / KEY_CHUNK_SLOTS)]!;
    const at = (session.slot % KEY_CHUNK_SLOTS) * (RECORD_WORDS / 2);
    const fwdPackets = Atomics.exchange(k, REC_FWD_PACKETS, 0);
    const revPackets = Atomics.exchange(k, REC_REV_PACKETS, 0);
    const fwdBytes = Number(Atomics.exchange(big, at + REC_FWD_BYTES64, 0n));
    const revBytes = Number(Atomics.exchange(big, at + REC_REV_BYTES64, 0n));
    const rel = Atomics.load(k, REC_LAST_SEEN);
    if (rel > 0 && this.native.clockBase + rel - 1 > session.lastSeen) session.lastSeen = this.native.clockBase + rel - 1;
    const c = session.counters;
    const g = this.global;
    session.packetsFromClient += fwdPackets;
    session.bytesFromClient += fwdBytes;
    session.packetsToClient += revPackets;
    session.bytesToClient += revBytes;
    c.packetsFromClient += fwdPackets;
    c.bytesFromClient += fwdBytes;
    c.packetsToClient += revPackets;
    c.bytesToClient += revBytes;
    g.packetsFromClient += fwdPackets;
    g.bytesFromClient += fwdBytes;
    g.packetsToClient += revPackets;
    g.bytesToClient += revBytes;
  }

  /** Folds the native fast path's counts of every session (before counters or idle times are read). */
  foldNative(): void {
    if (!this.native) return;
    for (const session of this.byId.values()) this.fold(session);
  }

  /**
   * Opens a session for the flow whose forward key is `fwd` (at `off`):
   * NAT binding, reverse entry and forward entry, all or nothing. Returns
   * the session or a packet drop code (packet.ts).
   */
  open(
    fwd: Uint32Array,
    off: number,
    rule: CompiledRule,
    counters: RuleCounters,
    targetPort: number,
    generation: number,
    now: number,
  ): Session | number {
    const family = ((fwd[off]! >>> 8) & 0xff) as 4 | 6;
    const protocolNumber = fwd[off]! & 0xff;
    const slot = this.freeSlots.pop() ?? this.slots.length;
    const session = new Session(
      this.keysOf(slot),
      this.nextId,
      slot,
      protocolNumber === PROTO_TCP ? 'tcp' : 'udp',
      family,
      rule,
      counters,
      generation,
      now,
      now,
    );
    const k = session.keys;
    for (let w = 0; w < KEY_WORDS; w++) k[w] = fwd[off + w]!;
    // Reverse key: the target replying to the upstream local end (the SNAT binding, or the client itself).
    k[REV] = k[0]!;
    const target = rule.target.bytes;
    for (let i = 0; i < 4; i++) {
      k[REV + 1 + i] = 4 * i < target.length ? ((target[4 * i]! << 24) | (target[4 * i + 1]! << 16) | (target[4 * i + 2]! << 8) | target[4 * i + 3]!) >>> 0 : 0;
    }
    let upstreamPort = k[9]! >>> 16;
    if (rule.snat) {
      const snat = rule.snat.bytes;
      for (let i = 0; i < 4; i++) {
        k[REV + 5 + i] = 4 * i < snat.length ? ((snat[4 * i]! << 24) | (snat[4 * i + 1]! << 16) | (snat[4 * i + 2]! << 8) | snat[4 * i + 3]!) >>> 0 : 0;
      }
      const port = this.pool(protocolNumber, family, k, REV + 5).allocate();
      if (port < 0) {
        this.freeSlots.push(slot);
        return DROP_NAT_EXHAUSTED;
      }
      session.natPort = port;
      upstreamPort = port;
    } else {
      for (let i = 0; i < 4; i++) k[REV + 5 + i] = k[1 + i]!;
    }
    k[REV + 9] = ((targetPort << 16) | upstreamPort) >>> 0;
    session.resetState(protocolNumber === PROTO_UDP ? UDP_ACTIVE : SYN_SENT);
    if (!this.link(session)) {
      if (session.natPort >= 0) this.pool(protocolNumber, family, k, REV + 5).release(session.natPort);
      this.freeSlots.push(slot);
      return DROP_TUPLE_CONFLICT;
    }
    return session;
  }

  /** Inserts both entries and registers the session; false (nothing changed) if either key is taken. */
  private link(session: Session): boolean {
    const k = session.keys;
    // The slot's previous session may have left native counts behind (it was folded when removed).
    k.fill(0, NATIVE_WORDS_FROM);
    session.computeDeltas();
    if (!this.flows.insert(k, 0, session.slot << 1)) return false;
    if (!this.flows.insert(k, REV, (session.slot << 1) | 1)) {
      this.flows.remove(k, 0);
      return false;
    }
    this.nextId = Math.max(this.nextId, session.id + 1);
    this.slots[session.slot] = session;
    this.byId.add(session);
    session.rule.admission.opened(session.protocol === 'udp');
    session.counters.sessionsOpened++;
    session.counters.sessionsActive++;
    this.global.sessionsOpened++;
    this.global.sessionsActive++;
    if (this.deltas.recording) this.deltas.push('open', session);
    return true;
  }

  /** Records a state change for delta consumers. */
  updated(session: Session): void {
    if (this.deltas.recording) this.deltas.push('update', session);
  }

  /** The native fast path changed the state of the session in `slot` (if it is still there). */
  updatedSlot(slot: number): void {
    const session = this.slots[slot];
    if (session) this.updated(session);
  }

  // --- SessionStore ---

  *iterate(afterId?: string): Iterable<SessionInfo> {
    for (const session of this.byId.after(afterId)) yield this.info(session);
  }

  get(id: string): SessionInfo | undefined {
    const session = this.byId.get(id);
    return session && this.info(session);
  }

  /** The session (not a copy) with numeric id `id`. */
  session(id: number): Session | undefined {
    return this.byId.get(id);
  }

  deleteWithCompanions(id: string, reason: CloseReason): boolean {
    const session = this.byId.get(id);
    if (!session) return false;
    this.remove(session, reason);
    return true;
  }

  /** Removes forward entry, reverse entry and NAT binding of `session`. Private to the store: callers go through deleteWithCompanions(). */
  private remove(session: Session, reason: CloseReason): void {
    const k = session.keys;
    this.flows.remove(k, 0);
    this.flows.remove(k, REV);
    this.fold(session);
    if (session.natPort >= 0) this.pool(k[0]! & 0xff, session.family, k, REV + 5).release(session.natPort);
    // The slot's keys go to its next session; this one (a pending close delta, a caller's reference) keeps a copy.
    session.keys = k.slice();
    this.slots[session.slot] = undefined;
    this.freeSlots.push(session.slot);
    this.byId.delete(session.id);
    session.rule.admission.closed(session.protocol === 'udp');
    session.counters.sessionsClosed++;
    session.counters.sessionsActive--;
    this.global.sessionsClosed++;
    this.global.sessionsActive--;
    if (this.deltas.recording) this.deltas.push('close', session, reason);
  }

  count(): number {
    return this.byId.size;
  }

  clear(reason: CloseReason): number {
    const all = [...this.byId.values()];
    for (const session of all) this.deleteWithCompanions(String(session.id), reason);
    return all.length;
  }

  /** Restarts every session's idle clock at `now` at the latest (sessions imported by an HA standby, on takeover). */
  touchAll(now: number): void {
    for (const session of this.byId.values()) if (session.lastSeen < now) session.lastSeen = now;
  }

  /** Ids of sessions for which `predicate` holds (collected first, so callers can delete while "iterating"). */
  select(predicate: (session: Session) => boolean): number[] {
    const ids: number[] = [];
    for (const session of this.byId.values()) if (predicate(session)) ids.push(session.id);
    return ids;
  }

  info(session: Session): SessionInfo {
    if (this.slots[session.slot] === session) this.fold(session);
    const k = session.keys;
    const f = session.family;
    const client = { address: wordText(f, k, 1), port: k[9]! >>> 16 };
    const upstreamLocal = { address: wordText(f, k, REV + 5), port: k[REV + 9]! & 0xffff };
    return {
      id: String(session.id),
      table: session.rule.table,
      ruleId: session.rule.ruleId,
      ruleName: session.rule.ruleName,
      protocol: session.protocol,
      client,
      listener: { address: wordText(f, k, 5), port: k[9]! & 0xffff },
      upstreamLocal,
      target: { address: wordText(f, k, REV + 1), port: k[REV + 9]! >>> 16 },
      state: STATE_NAMES[session.state]!,
      createdAt: session.createdAt,
      lastActivityAt: session.lastSeen,
      fromClient: { bytes: session.bytesFromClient, packets: session.packetsFromClient },
      toClient: { bytes: session.bytesToClient, packets: session.packetsToClient },
      generation: session.generation,
    };
  }

  // --- SessionDeltaSource: importSessions ---

  /**
   * Installs exported sessions under the rules of `routes` (see
   * SessionDeltaSource.importSessions): each with its reverse entry and NAT
   * binding, or not at all. With `update`, an entry whose flow is tracked
   * already replaces that session's state, counters and activity instead.
   */
  importInto(
    entries: readonly SessionInfo[],
    routes: RouteTable,
    counters: (rule: CompiledRule) => RuleCounters,
    generation: number,
    options: ImportOptions = {},
  ): ImportResult {
    const result: ImportResult = { imported: 0, rejected: [] };
    const byRuleId = routes.rules;
    entries.forEach((entry, index) => {
      const reason = this.importOne(entry, byRuleId, counters, generation, options.update === true);
      if (reason) result.rejected.push({ index, reason });
      else result.imported++;
    });
    return result;
  }

  /** The session tracking `flow` (its forward direction), if any. */
  findFlow(flow: FlowIdentity): SessionInfo | undefined {
    const family = parseIp(flow.client.address)?.family;
    if (!family) return undefined;
    const k = this.scratch;
    k[0] = (flow.protocol === 'tcp' ? PROTO_TCP : PROTO_UDP) | (family << 8);
    if (!writeAddress(family, flow.client.address, k, 1) || !writeAddress(family, flow.listener.address, k, 5)) return undefined;
    k[9] = ((flow.client.port << 16) | flow.listener.port) >>> 0;
    const value = this.flows.find(k, 0);
    if (value < 0 || (value & 1) !== 0) return undefined;
    const session = this.slots[value >>> 1];
    return session && this.info(session);
  }

  private importOne(
    entry: SessionInfo,
    byRuleId: ReadonlyMap<string, CompiledRule>,
    counters: (rule: CompiledRule) => RuleCounters,
    generation: number,
    update: boolean,
  ): string | undefined {
    const rule = byRuleId.get(entry.ruleId);
    if (!rule) return `rule ${entry.ruleId} is not running`;
    const state = STATE_NAMES.indexOf(entry.state as (typeof STATE_NAMES)[number]);
    if (state < 0) return `unknown state ${JSON.stringify(entry.state)}`;
    if ((state === UDP_ACTIVE) !== (entry.protocol === 'udp')) return `state ${entry.state} is not a ${entry.protocol} state`;
    const family = parseIp(entry.client.address)?.family;
    if (!family) return `client address ${entry.client.address} is not an IP address`;
    if (update) {
      const tracked = this.findFlow(entry);
      if (tracked) {
        const session = this.byId.get(tracked.id)!;
        if (session.rule.ruleId !== entry.ruleId) return `the flow is tracked under rule ${session.rule.ruleId}, not ${entry.ruleId}`;
        // The active's state is authoritative: it replaces whatever this node had (closer included).
        session.resetState(state);
        session.bytesFromClient = entry.fromClient.bytes;
        session.packetsFromClient = entry.fromClient.packets;
        session.bytesToClient = entry.toClient.bytes;
        session.packetsToClient = entry.toClient.packets;
        if (entry.lastActivityAt > session.lastSeen) session.lastSeen = entry.lastActivityAt;
        this.updated(session);
        return undefined;
      }
    }
    const upstreamLocal = entry.upstreamLocal ?? entry.client;
    const slot = this.freeSlots.at(-1) ?? this.slots.length;
    const session = new Session(
      this.keysOf(slot),
      this.nextId,
      slot,
      entry.protocol,
      family,
      rule,
      counters(rule),
      generation,
      entry.createdAt,
      entry.lastActivityAt,
    );
    const k = session.keys;
    k[0] = (entry.protocol === 'tcp' ? PROTO_TCP : PROTO_UDP) | (family << 8);
    k[REV] = k[0]!;
    const ok =
      writeAddress(family, entry.client.address, k, 1) &&
      writeAddress(family, entry.listener.address, k, 5) &&
      writeAddress(family, entry.target.address, k, REV + 1) &&
      writeAddress(family, upstreamLocal.address, k, REV + 5);
    if (!ok) return 'addresses are not all of one family';
    k[9] = ((entry.client.port << 16) | entry.listener.port) >>> 0;
    k[REV + 9] = ((entry.target.port << 16) | upstreamLocal.port) >>> 0;
    session.resetState(state);
    session.bytesFromClient = entry.fromClient.bytes;
    session.packetsFromClient = entry.fromClient.packets;
    session.bytesToClient = entry.toClient.bytes;
    session.packetsToClient = entry.toClient.packets;
    const snatted = upstreamLocal.address !== entry.client.address || upstreamLocal.port !== entry.client.port;
    if (snatted) {
      const pool = this.pool(k[0]! & 0xff, family, k, REV + 5);
      if (!pool.reserve(upstreamLocal.port)) return `SNAT binding ${upstreamLocal.address}:${upstreamLocal.port} is taken or outside the pool`;
      session.natPort = upstreamLocal.port;
    }
    this.freeSlots.pop();
    if (!this.link(session)) {
      if (snatted) this.pool(k[0]! & 0xff, family, k, REV + 5).release(session.natPort);
      this.freeSlots.push(session.slot);
      return 'the flow is already tracked';
    }
    return undefined;
  }
}
