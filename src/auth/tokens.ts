/**
 * Bearer tokens: `<id>.<secret>`, sent as gRPC metadata
 * `authorization: Bearer <id>.<secret>`. The policy file holds only
 * `sha256:<hex>` of the whole token, looked up by its id and compared in
 * constant time. A plain hash (no salt, no stretching) is enough because
 * the secret is 256 random bits from `portplane hash-token`, not a password:
 * there is nothing to guess faster than brute force over 2^256.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
/** A token shorter than this is refused by hash-token: it would be guessable. */
export const MIN_SECRET_LENGTH = 32;

export interface ParsedToken {
  id: string;
  token: string;
}

export function isTokenHash(text: string): boolean {
  return HASH_PATTERN.test(text);
}

export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** A fresh token for `id`: 32 random bytes, base64url. */
export function generateToken(id: string): string {
  if (!TOKEN_ID_PATTERN.test(id)) throw new Error(`token id ${JSON.stringify(id)} must be 1-64 letters, digits, "_" or "-"`);
  return `${id}.${randomBytes(32).toString('base64url')}`;
}

/** Splits `<id>.<secret>`; undefined when it is not of that form. */
export function parseToken(token: string): ParsedToken | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot === token.length - 1) return undefined;
  const id = token.slice(0, dot);
  return TOKEN_ID_PATTERN.test(id) ? { id, token } : undefined;
}

/** The token of an `authorization: Bearer ...` value; undefined for any other scheme. */
export function bearerToken(header: string): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Constant-time check of a presented token against a stored `sha256:` hash. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash.slice('sha256:'.length), 'hex');
  const actual = createHash('sha256').update(token, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
