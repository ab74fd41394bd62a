/**
 * Paging of GetConfig and LastApplyResult. A page token holds only what the
 * client has seen: which listing, the generation it reads, and where the
 * next page starts. A token read against another generation is refused
 * (INVALID_ARGUMENT, field `page_token`): pages of two configurations must
 * never be mixed into one, so the client lists again from the start.
 */
import { InvalidRequestError } from '../control/errors.js';

/** Rules per page at most; page_size 0 means everything in one response (as before paging existed). */
export const MAX_CONFIG_PAGE_SIZE = 10_000;

type Listing = 'config' | 'result';

interface TokenBody {
  v: 1;
  /** Listing. */
  l: Listing;
  /** Generation the listing reads. */
  g: number;
  /** Where the next page starts: a table index (config) or a rule index (result). */
  o: number;
}

export function encodeConfigPageToken(listing: Listing, generation: number, offset: number): string {
  const body: TokenBody = { v: 1, l: listing, g: generation, o: offset };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** The offset to resume at (0 for an empty token), checked against the listing and the running generation. */
export function decodeConfigPageToken(token: string, listing: Listing, generation: number): number {
  if (token === '') return 0;
  const reject = (message: string): never => {
    throw new InvalidRequestError('page token', [{ path: 'page_token', message }]);
  };
  let body: Partial<TokenBody>;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<TokenBody>;
  } catch {
    return reject(`not a page token of ${listing === 'config' ? 'GetConfig' : 'LastApplyResult'}`);
  }
  if (body.v !== 1 || body.l !== listing || !Number.isSafeInteger(body.g) || !Number.isSafeInteger(body.o) || (body.o as number) < 0) {
    return reject(`not a page token of ${listing === 'config' ? 'GetConfig' : 'LastApplyResult'}`);
  }
  if (body.g !== generation) return reject(`the listing read generation ${body.g}, and generation ${generation} runs now: list again from the start`);
  return body.o as number;
}

/** page_size checked: 0 (everything) up to MAX_CONFIG_PAGE_SIZE. */
export function configPageSize(size: number | undefined): number {
  const n = size ?? 0;
  if (n > MAX_CONFIG_PAGE_SIZE) {
    throw new InvalidRequestError('page size', [{ path: 'page_size', message: `${n} exceeds the maximum page size of ${MAX_CONFIG_PAGE_SIZE} rules` }]);
  }
  return n;
}
