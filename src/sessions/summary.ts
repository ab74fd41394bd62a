/**
 * GetSessionSummary: counts of the matching sessions by table, rule,
 * protocol and state, in one pass over the store.
 */
import type { Protocol } from '../config/model.js';
import type { SessionStore } from '../dataplane/session-store.js';
import { matchesQuery, type SessionQuery } from './query.js';

export interface SessionSummary {
  total: number;
  byTable: Map<string, number>;
  /** By rule id. */
  byRule: Map<string, { table: string; ruleId: string; ruleName: string; count: number }>;
  byProtocol: Map<Protocol, number>;
  byState: Map<string, number>;
}

const bump = <K>(map: Map<K, number>, key: K): void => {
  map.set(key, (map.get(key) ?? 0) + 1);
};

export function summarizeSessions(store: SessionStore, query: SessionQuery, now: number): SessionSummary {
  const summary: SessionSummary = { total: 0, byTable: new Map(), byRule: new Map(), byProtocol: new Map(), byState: new Map() };
  for (const session of store.iterate()) {
    if (!matchesQuery(query, session, now)) continue;
    summary.total++;
    bump(summary.byTable, session.table);
    bump(summary.byProtocol, session.protocol);
    bump(summary.byState, session.state);
    const rule = summary.byRule.get(session.ruleId);
    if (rule) rule.count++;
    else summary.byRule.set(session.ruleId, { table: session.table, ruleId: session.ruleId, ruleName: session.ruleName, count: 1 });
  }
  return summary;
}
