/**
 * The standby's copy of the active's session table: sync events applied to
 * the local backend through SessionDeltaSource. Flows are matched by their
 * identity (protocol, client, listener), never by id: ids belong to the
 * active's backend epoch. A snapshot (after a connect or a RESYNC) is
 * applied whole at its end: import what is new, update what is there,
 * remove (reason "reconcile") what the active no longer has.
 */
import type { SessionDeltaSource } from '../dataplane/session-deltas.js';
import type { SessionInfo, SessionStore } from '../dataplane/session-store.js';
import type { WatchEvent } from '../sessions/watch-stream.js';

export interface ReplicaCounters {
  imported: number;
  rejected: number;
  /** Why the newest rejected entry was refused. */
  lastRejection: string;
  bulkSyncs: number;
  lastBulkSyncAt: number;
}

export class SessionReplica {
  /** Sessions of the snapshot being received; undefined outside one. */
  private bulk: SessionInfo[] | undefined;
  readonly counters: ReplicaCounters = { imported: 0, rejected: 0, lastRejection: '', bulkSyncs: 0, lastBulkSyncAt: 0 };

  constructor(
    private readonly source: SessionDeltaSource,
    private readonly store: SessionStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while a snapshot is being received (not yet complete). */
  get receivingSnapshot(): boolean {
    return this.bulk !== undefined;
  }

  /** Forgets a snapshot that will not be completed (its connection ended). */
  abandonSnapshot(): void {
    this.bulk = undefined;
  }

  apply(event: WatchEvent): void {
    switch (event.kind) {
      case 'resync':
        this.bulk = [];
        return;
      case 'snapshot':
        (this.bulk ??= []).push(event.session);
        return;
      case 'snapshot_end': {
        const received = this.bulk ?? [];
        this.bulk = undefined;
        this.source.reconcileBulk(received);
        this.install(received);
        this.counters.bulkSyncs++;
        this.counters.lastBulkSyncAt = this.now();
        return;
      }
      case 'open':
      case 'update':
        this.install([event.session]);
        return;
      case 'close': {
        const local = this.source.findFlow(event.session);
        if (local) this.store.deleteWithCompanions(local.id, event.reason ?? 'reconcile');
        return;
      }
    }
  }

  private install(sessions: readonly SessionInfo[]): void {
    if (sessions.length === 0) return;
    const result = this.source.importSessions(sessions, { update: true });
    this.counters.imported += result.imported;
    this.counters.rejected += result.rejected.length;
    const last = result.rejected.at(-1);
    if (last) this.counters.lastRejection = last.reason;
  }
}
