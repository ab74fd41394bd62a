/**
 * Upper bounds of the free strings a caller sends (docs/api.md, "Bounds").
 * Whatever is stored (history comments, reasons) or repeated (field paths,
 * messages) stays small however large a request is: an unbounded comment
 * once made history.json 126 MB and every later apply seconds slower.
 */
import type { Violation } from './model.js';

/** `comment` of ApplyConfig, Transaction tables and RollbackTo. */
export const MAX_COMMENT_BYTES = 4096;
/** Names, addresses, interface names, reasons, filter fields: a DNS name's limit, far above any valid value. */
export const MAX_NAME_BYTES = 253;

/** Reports `value` at `path` when it is longer than `max` bytes (UTF-8); true when it fits. */
export function checkTextBytes(value: string, max: number, path: string, violations: Violation[]): boolean {
  // Every UTF-8 character is at most 4 bytes: short strings need no count.
  if (value.length * 4 <= max) return true;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes <= max) return true;
  violations.push({ path, message: `${bytes} bytes exceed the limit of ${max} bytes` });
  return false;
}
