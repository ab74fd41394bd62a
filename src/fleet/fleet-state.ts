/**
 * What the agent remembers across restarts, in `<state-dir>/fleet.json`
 * (checksummed, replaced atomically): which tables the fleet owns and the
 * etcd revision and outcome of each. After a kill -9 the daemon restores its
 * committed tables as always, and the agent re-lists: a key whose revision
 * matches is not applied again, a key changed or deleted meanwhile is. If
 * the daemon died between an apply and this file, the re-apply finds the
 * same tables running and changes nothing (outcome unchanged, no new
 * generation): no apply is ever in effect twice.
 */
import { ChecksummedFile } from '../control/atomic-file.js';
import type { TableStatus } from './status.js';

export const FLEET_STATE_FILE = 'fleet.json';
const FORMAT = 'portplane.fleet.v1';

export interface FleetState {
  node: string;
  prefix: string;
  /** Fleet-owned tables by name. */
  tables: Record<string, TableStatus>;
  /** The highest etcd revision whose changes were reflected. */
  observedRevision: number;
}

export class FleetStateFile {
  private readonly file: ChecksummedFile<FleetState>;

  constructor(stateDir: string) {
    this.file = new ChecksummedFile(stateDir, FLEET_STATE_FILE, FORMAT);
  }

  get path(): string {
    return this.file.path;
  }

  /**
   * The saved state; undefined on a fresh directory. Saved under another
   * node name or prefix it still says which running tables the fleet owns,
   * so the first re-list removes those the new identity does not desire.
   */
  load(): Promise<FleetState | undefined> {
    return this.file.load();
  }

  save(state: FleetState): Promise<void> {
    return this.file.save(state);
  }
}
