/**
 * Sessions and watch events, model -> wire (proto-loader object form).
 */
import { WIRE_PROTOCOLS } from '../config/wire.js';
import type { CloseReason, SessionInfo } from '../dataplane/session-store.js';
import type { WatchEvent } from '../sessions/watch-stream.js';
import { wireTimestamp } from './wire-results.js';

const EVENT_KIND: Record<WatchEvent['kind'], string> = {
  snapshot: 'SESSION_EVENT_KIND_SNAPSHOT',
  snapshot_end: 'SESSION_EVENT_KIND_SNAPSHOT_END',
  open: 'SESSION_EVENT_KIND_OPEN',
  update: 'SESSION_EVENT_KIND_UPDATE',
  close: 'SESSION_EVENT_KIND_CLOSE',
  resync: 'SESSION_EVENT_KIND_RESYNC',
};

export function wireCloseReason(reason: CloseReason): string {
  return `CLOSE_REASON_${reason.toUpperCase()}`;
}

export function wireSession(s: SessionInfo): object {
  return {
    id: s.id,
    table: s.table,
    rule_id: s.ruleId,
    rule_name: s.ruleName,
    protocol: WIRE_PROTOCOLS[s.protocol],
    client: s.client,
    listener: s.listener,
    ...(s.upstreamLocal && { upstream_local: s.upstreamLocal }),
    target: s.target,
    state: s.state,
    created_at: wireTimestamp(s.createdAt),
    last_activity_at: wireTimestamp(s.lastActivityAt),
    from_client: { bytes: String(s.fromClient.bytes), packets: String(s.fromClient.packets) },
    to_client: { bytes: String(s.toClient.bytes), packets: String(s.toClient.packets) },
    generation: String(s.generation),
  };
}

export function wireSessionEvent(event: WatchEvent, epoch: string): object {
  const wire: Record<string, unknown> = { sequence: String(event.sequence), backend_epoch: epoch, kind: EVENT_KIND[event.kind] };
  if ('session' in event) wire.session = wireSession(event.session);
  if ('reason' in event && event.reason !== undefined) wire.close_reason = wireCloseReason(event.reason);
  if (event.kind === 'resync') wire.detail = event.detail;
  return wire;
}
