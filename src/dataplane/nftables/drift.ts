/**
 * Ownership check: whether portplane's table is still what portplane last
 * wrote. Two levels, cheapest first:
 *
 *  - the namespace's ruleset generation id (one netlink round trip, ~15 us):
 *    the kernel bumps it on every committed transaction, whoever commits, so
 *    an id equal to the one right after portplane's write proves nothing
 *    changed. Before an apply and on every timer tick this is all it costs
 *    while nobody else writes nftables;
 *  - otherwise a fingerprint of the table as the kernel holds it, without
 *    what changes by itself (object handles, counter values, the per-source
 *    meters' dynamic elements), compared with the one of portplane's write.
 *    Listing a table of 10,000 elements costs tens of milliseconds, so it is
 *    taken lazily (settle(): on the timer or shortly after an apply, and only
 *    while the generation proves the table is still portplane's write), never
 *    on the apply's own path.
 *
 * A write is proven portplane's alone when the generation moved by exactly
 * one across it. If another commit interleaved, or the transport cannot read
 * the generation (`nft` tool), the table is read back at once, as it is.
 */
import { createHash } from 'node:crypto';
import type { NftJson, NftRunner } from './nft-runner.js';

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
    // The per-source meters (src4/6) fill themselves from traffic.
    if (set && (set.flags?.includes('dynamic') || /^src[46]$/.test(set.name ?? ''))) {
      const { elem: _elem, ...rest } = set as Record<string, unknown>;
      hash.update(JSON.stringify(strip({ set: rest })));
      continue;
    }
    hash.update(JSON.stringify(strip(item)));
  }
  return hash.digest('hex');
}

export type OwnershipVerdict = { owned: true } | { owned: false; deleted: boolean };

export class TableOwnership {
  private written = false;
  /** Generation at which the table was last known to be portplane's; undefined: unknown. */
  private cleanGeneration: number | undefined;
  /** The table as portplane wrote it; undefined until read back (settle()). */
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
    this.cleanGeneration = undefined;
    this.fingerprint = undefined;
  }

  /**
   * Commits `batch` as portplane's write and records what the table is now.
   * A whole rewrite (first write, repair) is read back at once: it costs
   * about what the listing does anyway. An incremental one is read back
   * later (settle()), off the apply's path.
   */
  write(batch: string, whole: boolean): void {
    const runner = this.runner();
    const before = runner.generation();
    runner.run(batch);
    this.written = true;
    const after = runner.generation();
    if (!whole && before !== undefined && after === before + 1) {
      this.cleanGeneration = after;
      this.fingerprint = undefined;
      return;
    }
    this.readBack();
  }

  /** Reads the table back while the generation proves it is portplane's write; no-op when already read. */
  settle(): void {
    if (!this.written || this.fingerprint !== undefined) return;
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

  private readBack(): void {
    const runner = this.runner();
    const before = runner.generation();
    this.fingerprint = tableFingerprint(runner, this.tableName);
    const after = runner.generation();
    // A commit during the listing: the generation proves nothing, the next check compares fingerprints.
    this.cleanGeneration = before === after ? after : undefined;
  }
}
