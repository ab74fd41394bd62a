/**
 * How error texts show a value a caller sent: JSON-quoted and cut to a
 * hundred characters. An error that echoed its input whole could exceed a
 * client's metadata limit (8 KiB in gRPC C-core), and the caller would get
 * RESOURCE_EXHAUSTED instead of the error.
 */
export const MAX_QUOTED_CHARS = 100;

/** `value` JSON-quoted, at most MAX_QUOTED_CHARS characters of it, saying how many more there were. */
export function quote(value: string): string {
  if (value.length <= MAX_QUOTED_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, MAX_QUOTED_CHARS))}... (${value.length - MAX_QUOTED_CHARS} more characters)`;
}

/** Unquoted text (an address, a CIDR) cut the same way. */
export function cut(value: string): string {
  return value.length <= MAX_QUOTED_CHARS ? value : `${value.slice(0, MAX_QUOTED_CHARS)}... (${value.length - MAX_QUOTED_CHARS} more characters)`;
}
