/**
 * portplane.v1.SessionService handlers over the neutral SessionStore and the
 * watch hub: wire in, src/sessions logic, wire out. A table-scoped caller's
 * visibility (visibleTablesOf) joins every filter, so it lists, watches and
 * deletes only sessions of its tables.
 */
import * as grpc from '@grpc/grpc-js';
import type { Violation } from '../config/model.js';
import { InvalidRequestError, NotFoundError } from '../control/errors.js';
import type { CloseReason, SessionStore } from '../dataplane/session-store.js';
import { DEFAULT_PAGE_SIZE, decodePageToken, encodePageToken, MAX_PAGE_SIZE, readPage } from '../sessions/page-token.js';
import type { ListSessionsRequest__Output } from '../generated/types/portplane/v1/ListSessionsRequest.js';
import type { DeleteSessionsRequest__Output } from '../generated/types/portplane/v1/DeleteSessionsRequest.js';
import type { WatchSessionsRequest__Output } from '../generated/types/portplane/v1/WatchSessionsRequest.js';
import { isEmptyQuery, matchesQuery, parseSessionFilter, type SessionQuery, type WireSessionFilter } from '../sessions/query.js';
import { summarizeSessions } from '../sessions/summary.js';
import type { SessionWatchHub } from '../sessions/watch-hub.js';
import { runWatch, type WatchEvent, type WatchSink } from '../sessions/watch-stream.js';
import { visibleTablesOf } from './auth-interceptor.js';
import { toServiceError } from './grpc-errors.js';
import { unary } from './unary.js';
import { wireSession, wireSessionEvent } from './session-wire.js';
import { streamSender } from './stream-sender.js';
import { WIRE_PROTOCOLS } from '../config/wire.js';
import { quote } from '../config/quote.js';

export interface SessionServiceDeps {
  sessions: SessionStore;
  hub: SessionWatchHub;
}

/** The request's filter joined with the caller's visibility; INVALID_ARGUMENT on a bad field. */
function queryOf(filter: WireSessionFilter | null | undefined, metadata: grpc.Metadata, violations: Violation[] = []): SessionQuery {
  const query = parseSessionFilter(filter, 'filter', violations);
  if (violations.length > 0) throw new InvalidRequestError('session request', violations);
  const visible = visibleTablesOf(metadata);
  if (visible) query.visible = visible;
  return query;
}

type WireListRequest = Partial<ListSessionsRequest__Output>;

type WireDeleteRequest = Partial<DeleteSessionsRequest__Output>;

type WireWatchRequest = Partial<WatchSessionsRequest__Output>;

/** Closes each session of `ids` the query admits; the rest count as not found. */
function deleteByIds(store: SessionStore, ids: readonly string[], query: SessionQuery, reason: CloseReason): { deleted: number; notFound: number } {
  let deleted = 0;
  let notFound = 0;
  for (const id of new Set(ids)) {
    const session = store.get(id);
    // A session the caller may not see does not exist for it.
    if (session && (!query.visible || query.visible(session.table)) && store.deleteWithCompanions(id, reason)) deleted++;
    else notFound++;
  }
  return { deleted, notFound };
}

export function sessionServiceHandlers(deps: SessionServiceDeps): grpc.UntypedServiceImplementation {
  const { sessions, hub } = deps;
  return {
    ListSessions: unary<WireListRequest>((req, call) => {
      const query = queryOf(req.filter, call.metadata);
      const pageSize = Math.min(req.page_size || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const after = req.page_token ? decodePageToken(req.page_token, hub.epoch, query) : undefined;
      const page = readPage(sessions, query, pageSize, after, Date.now());
      const cheapTotal = isEmptyQuery(query) && !query.visible;
      return {
        sessions: page.sessions.map(wireSession),
        next_page_token: page.next === undefined ? '' : encodePageToken(hub.epoch, page.next, query),
        ...(cheapTotal && { total: String(sessions.count()) }),
        backend_epoch: hub.epoch,
      };
    }),

    GetSession: unary<{ id?: string }>((req, call) => {
      const id = req.id ?? '';
      if (id === '') throw new InvalidRequestError('session request', [{ path: 'id', message: 'a session id is required' }]);
      const session = sessions.get(id);
      const visible = visibleTablesOf(call.metadata);
      if (!session || (visible && !visible(session.table))) throw new NotFoundError(`no open session with id ${quote(id)}`);
      return { session: wireSession(session) };
    }),

    DeleteSessions: unary<WireDeleteRequest>((req, call) => {
      const ids = req.ids ?? [];
      const violations: Violation[] = [];
      const query = queryOf(req.filter, call.metadata, violations);
      const byFilter = !isEmptyQuery(query);
      if (ids.length > 0 && (byFilter || req.all)) {
        throw new InvalidRequestError('session request', [{ path: 'ids', message: 'delete by ids or by filter (or all), not both' }]);
      }
      if (ids.length > 0) {
        const { deleted, notFound } = deleteByIds(sessions, ids, query, 'deleted');
        return { deleted: String(deleted), not_found: String(notFound) };
      }
      if (byFilter && req.all) throw new InvalidRequestError('session request', [{ path: 'all', message: '`all` closes every session: give it without a filter' }]);
      if (!byFilter && !req.all) {
        throw new InvalidRequestError('session request', [{ path: 'filter', message: 'an empty filter matches every session: set `all: true` to close them all' }]);
      }
      // Collect first: closing while iterating would be safe, but the count must be of what matched now.
      sessions.syncWithSource?.();
      const now = Date.now();
      const matched: string[] = [];
      for (const session of sessions.iterate()) if (matchesQuery(query, session, now)) matched.push(session.id);
      const { deleted } = deleteByIds(sessions, matched, query, 'deleted');
      return { deleted: String(deleted), not_found: '0' };
    }),

    GetSessionSummary: unary<{ filter?: WireSessionFilter | null }>((req, call) => {
      const query = queryOf(req.filter, call.metadata);
      const summary = summarizeSessions(sessions, query, Date.now());
      const count = (n: number): string => String(n);
      return {
        total: count(summary.total),
        by_table: [...summary.byTable].map(([table, n]) => ({ table, count: count(n) })),
        by_rule: [...summary.byRule.values()].map((r) => ({ table: r.table, rule_id: r.ruleId, rule_name: r.ruleName, count: count(r.count) })),
        by_protocol: [...summary.byProtocol].map(([protocol, n]) => ({ protocol: WIRE_PROTOCOLS[protocol], count: count(n) })),
        by_state: [...summary.byState].map(([state, n]) => ({ state, count: count(n) })),
        backend_epoch: hub.epoch,
      };
    }),

    WatchSessions: (call: grpc.ServerWritableStream<WireWatchRequest, object>) => {
      let query: SessionQuery;
      try {
        query = queryOf(call.request.filter, call.metadata);
      } catch (err) {
        call.emit('error', toServiceError(err));
        return;
      }
      const req = call.request;
      const resume =
        req._resume_after_sequence === 'resume_after_sequence'
          ? { sequence: Number(req.resume_after_sequence), epoch: req.resume_backend_epoch ?? '' }
          : undefined;
      const sender = streamSender(call);
      const sink: WatchSink = {
        send: (events: WatchEvent[]) => sender.send({ events: events.map((e) => wireSessionEvent(e, hub.epoch)) }),
        get closed() {
          return sender.closed;
        },
        ended: sender.ended,
      };
      runWatch({ hub, store: sessions, query, ...(resume && { resume }), sink }).then(
        () => {
          if (!sender.closed) call.end();
        },
        (err: unknown) => {
          if (!sender.closed) call.emit('error', toServiceError(err));
        },
      );
    },
  };
}
