/**
 * Ownership check: a fingerprint of portplane's table as the kernel holds
 * it, without what changes by itself (object handles, counter values, the
 * per-source meters' dynamic elements), compared with the one taken right
 * after portplane's last write. A difference is another program's change.
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
    // The per-source meters (r<id>_src4/6) fill themselves from traffic.
    if (set && (set.flags?.includes('dynamic') || /_src[46]$/.test(set.name ?? ''))) {
      const { elem: _elem, ...rest } = set as Record<string, unknown>;
      hash.update(JSON.stringify(strip({ set: rest })));
      continue;
    }
    hash.update(JSON.stringify(strip(item)));
  }
  return hash.digest('hex');
}
