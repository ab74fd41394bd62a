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
import { DROP_NAT_EXHAUSTED, DROP_TUPLE_CONFLICT, KEY_WORDS, PROTO_TCP, PROTO_UDP } from './packet.js';
import { REV, Session, STATE_NAMES, UDP_ACTIVE, SYN_SENT } from './session.js';

/** Deltas kept for a consumer that does not drain; beyond this the oldest are dropped and counted as lost. */
const MAX_PENDING_DELTAS = 1 << 20;

/** Slots whose keys share one buffer: views into it cost no backing store of their own. */
const KEY_CHUNK_SLOTS = 4096;
const SESSION_WORDS = 2 * KEY_WORDS;

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
      const chunk = new ArrayBuffer(KEY_CHUNK_SLOTS * SESSION_WORDS * 4);
      for (let i = 0; i < KEY_CHUNK_SLOTS; i++) this.slotKeys[first + i] = new Uint32Array(chunk, i * SESSION_WORDS * 4, SESSION_WORDS);
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
    session.state = protocolNumber === PROTO_UDP ? UDP_ACTIVE : SYN_SENT;
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
    if (!this.flows.insert(k, 0, session.slot << 1)) return false;
    if (!this.flows.insert(k, REV, (session.slot << 1) | 1)) {
      this.flows.remove(k, 0);
      return false;
    }
    session.computeDeltas();
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
        session.state = state;
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
    session.state = state;
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
