/**
 * The SessionStore of the nftables backend: a mirror of the conntrack
 * entries portplane's rules created (their ct mark is the rule's counter
 * id). The kernel owns the sessions; the mirror is fed by conntrack events
 * while someone consumes deltas, and otherwise refreshed from a dump when it
 * is read and older than `maxAgeMs`. A TCP entry in TIME_WAIT or CLOSE is a
 * closed session (conntrack keeps it only to absorb stray segments).
 */
import type { ChildProcess } from 'node:child_process';
import { DeltaBuffer } from '../delta-buffer.js';
import type { SessionDeltaQueue } from '../session-deltas.js';
import { SessionIndex } from '../session-index.js';
import type { CloseReason, SessionInfo, SessionStore } from '../session-store.js';
import { entryEnded, flowKey, type ConntrackEntry, type ConntrackEvent, type ConntrackTool } from './conntrack.js';

/** What a ct mark stands for. */
export interface MarkOwner {
  table: string;
  ruleId: string;
  ruleName: string;
  generation: number;
}

interface Tracked {
  info: SessionInfo;
  entry: ConntrackEntry;
}

export interface ClosedTotals {
  closed: number;
  bytesFromClient: number;
  bytesToClient: number;
  packetsFromClient: number;
  packetsToClient: number;
}

export class NftSessions implements SessionStore {
  readonly deltas = new DeltaBuffer();
  private readonly byFlow = new Map<string, Tracked>();
  private readonly index = new SessionIndex<SessionInfo>();
  private nextId = 1;
  private refreshedAt = 0;
  private watcher: ChildProcess | undefined;
  private stopped = false;
  /** Counters of sessions that ended, per ct mark (counter id). */
  readonly closedTotals = new Map<number, ClosedTotals>();

  constructor(
    private readonly tool: ConntrackTool,
    private readonly owner: (mark: number) => MarkOwner | undefined,
    private readonly onError: (err: Error) => void,
    private readonly maxAgeMs = 250,
  ) {}

  /** The delta queue; consuming it starts the conntrack event stream. */
  queue(): SessionDeltaQueue {
    const deltas = this.deltas;
    return {
      get backendEpoch() {
        return deltas.backendEpoch;
      },
      drain: (max) => {
        this.watch();
        return this.deltas.drain(max);
      },
      onDeltas: (listener) => {
        this.watch();
        return this.deltas.onDeltas(listener);
      },
    };
  }

  private watch(): void {
    if (this.watcher || this.stopped) return;
    this.watcher = this.tool.events(
      (event, entry) => this.onEvent(event, entry),
      (why) => {
        this.watcher = undefined;
        if (!this.stopped) this.onError(new Error(why));
      },
    );
    this.refresh(true);
  }

  restart(): void {
    this.stopped = false;
    this.deltas.restart();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.kill('SIGTERM');
    this.watcher = undefined;
  }

  /** Re-reads conntrack unless the mirror is fresh (events running, or a dump younger than maxAgeMs). */
  refresh(force = false): void {
    if (!force && (this.watcher || Date.now() - this.refreshedAt < this.maxAgeMs)) return;
    this.refreshedAt = Date.now();
    let entries: ConntrackEntry[];
    try {
      entries = this.tool.dump();
    } catch (err) {
      this.onError(err as Error);
      return;
    }
    const seen = new Set<string>();
    for (const entry of entries) {
      if (entryEnded(entry) || !this.owner(entry.mark)) continue;
      seen.add(flowKey(entry));
      this.upsert(entry);
    }
    for (const [key, t] of this.byFlow) if (!seen.has(key)) this.remove(t, t.entry.protocol === 'udp' ? 'idle' : 'client');
  }

  private onEvent(event: ConntrackEvent, entry: ConntrackEntry): void {
    if (!this.owner(entry.mark)) return;
    if (event === 'destroy' || entryEnded(entry)) {
      const t = this.byFlow.get(flowKey(entry));
      if (!t) return;
      // DESTROY carries the final counters (nf_conntrack_acct); an UPDATE to TIME_WAIT the latest ones.
      if (entry.fromClient.bytes > 0 || entry.toClient.bytes > 0) this.setCounters(t, entry);
      this.remove(t, entry.protocol === 'udp' ? 'idle' : 'client');
      return;
    }
    this.upsert(entry);
  }

  private setCounters(t: Tracked, entry: ConntrackEntry): void {
    t.entry = entry;
    t.info.fromClient = { ...entry.fromClient };
    t.info.toClient = { ...entry.toClient };
    t.info.state = entry.state;
    t.info.lastActivityAt = Date.now();
  }

  private upsert(entry: ConntrackEntry): void {
    const key = flowKey(entry);
    const t = this.byFlow.get(key);
    if (t) {
      const changed = t.info.state !== entry.state || t.entry.fromClient.packets !== entry.fromClient.packets || t.entry.toClient.packets !== entry.toClient.packets;
      if (!changed) return;
      const stateChanged = t.info.state !== entry.state;
      this.setCounters(t, entry);
      if (stateChanged && this.deltas.recording) this.deltas.push('update', { ...t.info });
      return;
    }
    const owner = this.owner(entry.mark)!;
    const now = Date.now();
    const info: SessionInfo = {
      id: String(this.nextId++),
      table: owner.table,
      ruleId: owner.ruleId,
      ruleName: owner.ruleName,
      protocol: entry.protocol,
      client: { ...entry.client },
      listener: { ...entry.listener },
      upstreamLocal: { ...entry.upstreamLocal },
      target: { ...entry.target },
      state: entry.state,
      createdAt: now,
      lastActivityAt: now,
      fromClient: { ...entry.fromClient },
      toClient: { ...entry.toClient },
      generation: owner.generation,
    };
    this.byFlow.set(key, { info, entry });
    this.index.add(info);
    if (this.deltas.recording) this.deltas.push('open', { ...info });
  }

  private remove(t: Tracked, reason: CloseReason): void {
    this.byFlow.delete(flowKey(t.entry));
    this.index.delete(t.info.id);
    const totals = this.closedTotals.get(t.entry.mark) ?? { closed: 0, bytesFromClient: 0, bytesToClient: 0, packetsFromClient: 0, packetsToClient: 0 };
    totals.closed++;
    totals.bytesFromClient += t.info.fromClient.bytes;
    totals.bytesToClient += t.info.toClient.bytes;
    totals.packetsFromClient += t.info.fromClient.packets;
    totals.packetsToClient += t.info.toClient.packets;
    this.closedTotals.set(t.entry.mark, totals);
    if (this.deltas.recording) this.deltas.push('close', { ...t.info }, reason);
  }

  *iterate(afterId?: string): Iterable<SessionInfo> {
    this.refresh();
    for (const s of this.index.after(afterId)) yield { ...s };
  }

  get(id: string): SessionInfo | undefined {
    this.refresh();
    const s = this.index.get(id);
    return s && { ...s };
  }

  /** Live sessions with their ct mark, without copying (telemetry). */
  live(): Iterable<{ mark: number; info: SessionInfo }> {
    this.refresh();
    return [...this.byFlow.values()].map((t) => ({ mark: t.entry.mark, info: t.info }));
  }

  /** Deletes the conntrack entries of these sessions in one batch; each closes with `reason`. */
  deleteMany(ids: readonly string[], reason: CloseReason): number {
    const doomed: Tracked[] = [];
    for (const id of ids) {
      const info = this.index.get(id);
      const t = info && this.byFlow.get(flowKey(info));
      if (t) doomed.push(t);
    }
    if (doomed.length === 0) return 0;
    this.tool.delete(doomed.map((t) => t.entry));
    for (const t of doomed) this.remove(t, reason);
    return doomed.length;
  }

  deleteWithCompanions(id: string, reason: CloseReason): boolean {
    this.refresh();
    // One conntrack entry holds both directions and the NAT binding: deleting it removes every companion.
    return this.deleteMany([id], reason) === 1;
  }

  /** A dump now, even when the mirror is fresh or fed by events (which arrive a moment after the kernel acts). */
  syncWithSource(): void {
    this.refresh(true);
  }

  count(): number {
    this.refresh();
    return this.index.size;
  }

  clear(reason: CloseReason): number {
    this.syncWithSource();
    return this.deleteMany([...this.index.values()].map((s) => s.id), reason);
  }

  /** Forgets every session without touching the kernel (stop: the kernel keeps forwarding them). */
  forget(): void {
    this.byFlow.clear();
    for (const s of [...this.index.values()]) this.index.delete(s.id);
  }
}
