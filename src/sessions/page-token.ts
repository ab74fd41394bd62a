/**
 * ListSessions paging. Sessions are listed in id order (ids increase with
 * creation), and a page token holds only what a client has already seen:
 * the backend epoch, the last session id the page covered, and a hash of the
 * filter. Resuming "after that id" is why paging needs no server state and
 * why a session that lives throughout the listing is returned exactly once,
 * however many others open (they sort after) or close (they are skipped).
 */
import { createHash } from 'node:crypto';
import type { SessionInfo, SessionStore } from '../dataplane/session-store.js';
import { InvalidRequestError } from '../control/errors.js';
import { matchesQuery, queryText, type SessionQuery } from './query.js';

export const DEFAULT_PAGE_SIZE = 1000;
export const MAX_PAGE_SIZE = 10_000;
/** Sessions one call examines at most, so a filter matching little cannot make one call scan forever. */
export const SCAN_BUDGET = 200_000;

interface TokenBody {
  v: 1;
  /** Backend epoch. */
  e: string;
  /** Last session id the previous page covered. */
  a: string;
  /** Filter hash. */
  f: string;
}

function filterHash(query: SessionQuery): string {
  return createHash('sha256').update(queryText(query)).digest('hex').slice(0, 16);
}

export function encodePageToken(epoch: string, afterId: string, query: SessionQuery): string {
  const body: TokenBody = { v: 1, e: epoch, a: afterId, f: filterHash(query) };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** The session id to resume after; INVALID_ARGUMENT (field `page_token`) when the token does not fit this listing. */
export function decodePageToken(token: string, epoch: string, query: SessionQuery): string {
  const reject = (message: string): never => {
    throw new InvalidRequestError('page token', [{ path: 'page_token', message }]);
  };
  let body: Partial<TokenBody>;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<TokenBody>;
  } catch {
    return reject('not a page token of ListSessions');
  }
  if (body.v !== 1 || typeof body.a !== 'string' || typeof body.e !== 'string' || typeof body.f !== 'string') {
    return reject('not a page token of ListSessions');
  }
  if (body.e !== epoch) return reject('the backend restarted since this listing began (its sessions are gone): list again from the start');
  if (body.f !== filterHash(query)) return reject('the token belongs to a listing with another filter: pass the same filter on every page');
  return body.a;
}

export interface SessionPage {
  sessions: SessionInfo[];
  /** Id to resume after, when sessions after it may remain. */
  next?: string;
}

/** Up to `pageSize` matching sessions after `afterId`, examining at most `scanBudget`. */
export function readPage(store: SessionStore, query: SessionQuery, pageSize: number, afterId: string | undefined, now: number, scanBudget = SCAN_BUDGET): SessionPage {
  const sessions: SessionInfo[] = [];
  let scanned = 0;
  let lastId: string | undefined;
  const iterator = store.iterate(afterId)[Symbol.iterator]();
  for (let step = iterator.next(); !step.done; step = iterator.next()) {
    const session = step.value;
    if (sessions.length === pageSize || scanned === scanBudget) {
      iterator.return?.();
      // One more session exists: the listing goes on after the last one covered.
      return { sessions, next: lastId };
    }
    scanned++;
    lastId = session.id;
    if (matchesQuery(query, session, now)) sessions.push(session);
  }
  return { sessions };
}
