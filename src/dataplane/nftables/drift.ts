/**
 * Ownership check: whether portplane's table is still what portplane last
 * wrote, without listing it on the apply's path (a listing of 10,000
 * elements costs about a second here):
 *
 *  - nftables events (what `nft monitor` reads; the addon subscribes in the
 *    table's namespace): every committed transaction that touched the table
 *    is announced with its generation id. portplane knows the generation of
 *    each of its own writes (the id moves by one across it), so a touching
 *    transaction of any other generation is another program's change. A
 *    check drains the queued events: microseconds while nobody else writes;
 *  - where events are not available (the `nft` tool as transport), a
 *    fingerprint of the table as the kernel holds it, without what changes by
 *    itself (object handles, counter values, the dynamic elements of the
 *    per-source meters and `ct count` lists), compared with the one of portplane's last write; the
 *    generation id (one netlink round trip) skips the listing while nobody
 *    committed anything.
 */
import { createHash } from 'node:crypto';
import { MAX_BATCH_BYTES, type NftJson, type NftRunner } from './nft-runner.js';

const VOLATILE_KEYS = new Set(['handle', 'packets', 'bytes', 'metainfo']);

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!VOLATILE_KEYS.has(k)) out[k] = strip(v);
    return out;
  }
  return value;
}

/** The fingerprint, or undefined when the table does not exist. */
export function tableFingerprint(runner: NftRunner, tableName: string): string | undefined {
  let listing: NftJson;
  try {
    listing = runner.query(`list table inet ${tableName}`);
  } catch (err) {
    if (/No such file or directory/.test((err as Error).message)) return undefined;
    throw err;
  }
  const hash = createHash('sha256');
  for (const item of listing.nftables) {
    if ('metainfo' in item) continue;
    const set = (item.set ?? undefined) as { name?: string; flags?: string[] } | undefined;
    // The per-source meters (src4/6) and the `ct count` lists (cnt) fill themselves from traffic (nft 1.0.6's JSON omits their `dynamic` flag).
    if (set && (set.flags?.includes('dynamic') || /^(src[46]|cnt)$/.test(set.name ?? ''))) {
      const { elem: _elem, ...rest } = set as Record<string, unknown>;
      hash.update(JSON.stringify(strip({ set: rest })));
      continue;
    }
    hash.update(JSON.stringify(strip(item)));
  }
  return hash.digest('hex');
}

export type OwnershipVerdict = { owned: true } | { owned: false; deleted: boolean; lost?: boolean };

export class TableOwnership {
  private written = false;
  /** Whether the transport reports nftables events (else the fingerprint fallback). */
  private events = false;
  /** Events showed another program's change since portplane last rewrote the table whole. */
  private changed: { lost: boolean } | undefined;
  /** Generations of portplane's own writes whose events were not read yet. */
  private readonly own = new Set<number>();
  /** Fingerprint fallback: generation at which the table was last known to be portplane's. */
  private cleanGeneration: number | undefined;
  /** Fingerprint fallback: the table as portplane wrote it; undefined until read back (settle()). */
  private fingerprint: string | undefined;

  constructor(
    private readonly runner: () => NftRunner,
    private readonly tableName: string,
  ) {}

  /** Whether portplane wrote the table since start (before that, an existing table is a previous run's). */
  get hasWritten(): boolean {
    return this.written;
  }

  reset(): void {
    this.written = false;
    this.changed = undefined;
    this.own.clear();
    this.cleanGeneration = undefined;
    this.fingerprint = undefined;
  }

  /**
   * Commits `batch` as portplane's write and records it. `whole`: the batch
   * replaces the table, so what others did to it before no longer matters.
   */
  write(batch: string, whole: boolean): void {
    const runner = this.runner();
    if (whole) {
      this.events = this.drainEvents();
      this.changed = undefined;
    }
    const before = runner.generation();
    runner.run(batch);
    this.written = true;
    const after = runner.generation();
    if (before !== undefined && after !== undefined) {
      // Exactly one generation unless another program committed in the microseconds between the reads.
      for (let g = before + 1; g <= after; g++) this.own.add(g);
    }
    // Ids whose events never came (cannot happen while the socket works): bounded all the same.
    if (this.own.size > 4096) this.own.clear();
    if (this.events) return;
    if (!whole && before !== undefined && after === before + 1) {
      this.cleanGeneration = after;
      this.fingerprint = undefined;
      return;
    }
    this.readBack();
  }

  /**
   * Commits hand-built messages (netlink-batch.ts, never a whole rewrite) as
   * portplane's write, in a batch the kernel takes only at the generation
   * read just before it: so it commits as that generation + 1, portplane's,
   * and a commit by anyone in between refuses it. Returns whether it was
   * written; when not, `reason` says why and nothing was written unless
   * `uncertain` (the caller then sends the change through libnftables, or,
   * uncertain, rewrites the table whole).
   */
  writeMessages(messages: Buffer[]): { written: true } | { written: false; reason: string; restart?: boolean; uncertain?: boolean } {
    const runner = this.runner();
    if (!runner.batch) return { written: false, reason: `the ${runner.kind} transport sends no netlink batches` };
    const bytes = messages.reduce((n, m) => n + m.length, 0);
    if (bytes > MAX_BATCH_BYTES) return { written: false, reason: `${bytes} bytes exceed the ${MAX_BATCH_BYTES} of one netlink batch` };
    const generation = runner.generation();
    if (generation === undefined) return { written: false, reason: 'no generation id' };
    const r = runner.batch(this.tableName, Buffer.concat(messages, bytes), generation);
    if (!r.ok) {
      if (r.uncertain) return { written: false, uncertain: true, reason: 'acknowledgements were lost: whether the batch committed is unknown' };
      const where = r.index < 0 ? 'the batch' : `message ${r.index} of ${messages.length}`;
      return { written: false, restart: r.restart, reason: `${where} refused: ${r.message} (errno ${r.errno})` };
    }
    this.written = true;
    this.own.add((generation + 1) >>> 0);
    if (this.own.size > 4096) this.own.clear();
    if (!this.events) {
      this.cleanGeneration = (generation + 1) >>> 0;
      this.fingerprint = undefined;
    }
    return { written: true };
  }

  /** Fingerprint fallback: reads the table back while the generation proves it is portplane's write. */
  settle(): void {
    if (!this.written || this.fingerprint !== undefined || this.cleanGeneration === undefined) return;
    const runner = this.runner();
    const before = runner.generation();
    if (before !== this.cleanGeneration) return;
    const fingerprint = tableFingerprint(runner, this.tableName);
    if (runner.generation() === before) this.fingerprint = fingerprint;
  }

  /** Whether the kernel's table is still portplane's last write. */
  check(): OwnershipVerdict {
    if (!this.written) return { owned: true };
    const runner = this.runner();
    const changes = this.events ? runner.changes(this.tableName) : undefined;
    if (changes) {
      const foreign = changes.generations.filter((g) => !this.own.has(g));
      for (const g of changes.generations) this.own.delete(g);
      if (foreign.length > 0 || changes.lost) this.changed = { lost: foreign.length === 0 };
      // Until portplane rewrites the table whole, it stays another program's.
      if (!this.changed) return { owned: true };
      return { owned: false, deleted: !this.tableExists(), lost: this.changed.lost };
    }
    const generation = runner.generation();
    if (generation !== undefined && generation === this.cleanGeneration) return { owned: true };
    if (this.fingerprint === undefined) {
      // Another commit landed before portplane's write was read back: whatever it did cannot be told
      // apart from that write, so the table as it is now becomes the reference (docs/nftables.md, "Drift").
      this.readBack();
      return { owned: true };
    }
    const now = tableFingerprint(runner, this.tableName);
    if (now !== this.fingerprint) return { owned: false, deleted: now === undefined };
    // Someone committed elsewhere (another table): still portplane's.
    this.cleanGeneration = generation;
    return { owned: true };
  }

  /** Discards the queued events (a whole rewrite makes them moot); whether this transport has events. */
  private drainEvents(): boolean {
    try {
      return this.runner().changes(this.tableName) !== undefined;
    } catch {
      return false;
    }
  }

  private tableExists(): boolean {
    return this.runner()
      .query('list tables')
      .nftables.some((item) => {
        const t = item.table as { family?: string; name?: string } | undefined;
        return t?.family === 'inet' && t.name === this.tableName;
      });
  }

  private readBack(): void {
    const runner = this.runner();
    const before = runner.generation();
    this.fingerprint = tableFingerprint(runner, this.tableName);
    const after = runner.generation();
    // A commit during the listing: the generation proves nothing, the next check compares fingerprints.
    this.cleanGeneration = before === after ? after : undefined;
  }
}
