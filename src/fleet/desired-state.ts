/**
 * A node's desired tables as the agent knows them: from the last list, then
 * from watch events. Every entry carries the etcd revision it was written
 * (mod_revision) or deleted at, and an event at or below what is known for
 * its table, or at or below the list it came after, is dropped. So a
 * duplicate, a replay after a reconnect or an out-of-order event never moves
 * a table back, and any interleaving of the same events ends in the same
 * state.
 */

export interface DesiredEntry {
  revision: number;
  /** The key's value; undefined when the key was deleted at `revision`. */
  value?: string;
}

export class DesiredState {
  private readonly entries = new Map<string, DesiredEntry>();
  /** Revision of the last list: older events are already part of it. */
  private floor = 0;

  /** Replaces everything with a list taken at `revision`. */
  reset(listed: ReadonlyMap<string, DesiredEntry>, revision: number): void {
    for (const name of this.entries.keys()) if (!listed.has(name)) this.entries.set(name, { revision });
    for (const [name, entry] of listed) this.entries.set(name, { ...entry });
    this.floor = revision;
  }

  /** A watch event: a put (`value`) or delete at `revision`. False when it changed nothing we did not know. */
  event(name: string, revision: number, value: string | undefined): boolean {
    if (revision <= this.floor) return false;
    const current = this.entries.get(name);
    if (current && revision <= current.revision) return false;
    this.entries.set(name, value === undefined ? { revision } : { revision, value });
    return true;
  }

  /** Tables that exist in etcd now, by name. */
  present(): Map<string, Required<DesiredEntry>> {
    const out = new Map<string, Required<DesiredEntry>>();
    for (const [name, e] of this.entries) if (e.value !== undefined) out.set(name, { revision: e.revision, value: e.value });
    return out;
  }
}
