/**
 * This node's HA role and the session sync that goes with it: a standby
 * follows the peer (SyncFollower) and its backend refuses new flows; an
 * active serves its sessions to the standby (SyncSource streams, opened by
 * the peer) and forwards. Roles are set from outside (keepalived's notify
 * scripts through SetRole), never elected here.
 */
import type { Logger } from 'pino';
import type { HAController, HARole } from '../dataplane/ha-controller.js';
import type { SyncFollower } from './sync-follower.js';
import type { SyncSource } from './sync-source.js';
import { idleSyncStatus, type SyncStatus } from './sync-status.js';

export interface HANodeOptions {
  initialRole: HARole;
  /** The backend's role hook; undefined where sessions cannot be imported. */
  controller: HAController | undefined;
  /** Why sessions cannot be synced here (the backend's reason), when they cannot. */
  unsupportedReason?: string;
  /** Follows the peer while standby; undefined without a configured peer. */
  follower?: SyncFollower;
  logger: Logger;
  now?: () => number;
}

export interface RoleChange {
  previous: HARole;
  role: HARole;
}

export class HANode {
  private current: HARole;
  private sinceAt: number;
  private changes = 0;
  /** Sync streams this node serves while active; ended when it becomes standby. */
  private readonly sources = new Map<SyncSource, () => void>();
  private readonly now: () => number;

  constructor(private readonly options: HANodeOptions) {
    this.now = options.now ?? Date.now;
    this.current = options.initialRole;
    this.sinceAt = this.now();
    options.controller?.setRole(this.current);
    if (this.current === 'standby') options.follower?.start();
  }

  get role(): HARole {
    return this.current;
  }

  get since(): number {
    return this.sinceAt;
  }

  get roleChanges(): number {
    return this.changes;
  }

  get sessionSyncSupported(): boolean {
    return this.options.controller !== undefined;
  }

  get unsupportedReason(): string {
    return this.options.unsupportedReason ?? '';
  }

  setRole(role: HARole, reason: string): RoleChange {
    const previous = this.current;
    if (role === previous) return { previous, role };
    this.current = role;
    this.sinceAt = this.now();
    this.changes++;
    const { controller, follower, logger } = this.options;
    if (role === 'active') {
      // Stop following first: nothing from the old active may land after this node started forwarding.
      follower?.stop();
      controller?.setRole('active');
    } else {
      controller?.setRole('standby');
      for (const end of this.sources.values()) end();
      follower?.start();
    }
    logger.info({ previous, role, reason }, `HA role ${role}`);
    return { previous, role };
  }

  /** Registers a sync stream served to the standby; `end` closes it. Returns the unregister function. */
  serving(source: SyncSource, end: () => void): () => void {
    this.sources.set(source, end);
    return () => this.sources.delete(source);
  }

  /** The follower's status on a standby; on an active, the newest stream it serves (or idle). */
  syncStatus(): SyncStatus {
    if (this.current === 'standby') return this.options.follower?.snapshot() ?? idleSyncStatus('no --ha-peer: this standby follows nobody');
    const newest = [...this.sources.keys()].at(-1);
    return newest?.snapshot() ?? idleSyncStatus('no standby is connected');
  }

  /** Stops following (daemon shutdown). */
  close(): void {
    this.options.follower?.stop('daemon stopping');
    for (const end of this.sources.values()) end();
  }
}
