/**
 * Sessions and watch events, model -> wire (proto-loader object form), and
 * back for the HA standby, which reads what its peer sends.
 */
import type { Session__Output } from '../generated/types/portplane/v1/Session.js';
import type { SessionEvent__Output } from '../generated/types/portplane/v1/SessionEvent.js';
import type { Protocol } from '../config/model.js';
import { WIRE_PROTOCOLS } from '../config/wire.js';
import { CLOSE_REASONS, type CloseReason, type Endpoint, type SessionInfo } from '../dataplane/session-store.js';
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

/** A timestamp of the wire (seconds as a decimal string) in milliseconds since the epoch. */
function timestampMillis(t: { seconds?: string | number; nanos?: number } | null | undefined): number {
  return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1_000_000) : 0;
}

const PROTOCOL_OF_WIRE: Record<string, Protocol | undefined> = { PROTOCOL_TCP: 'tcp', PROTOCOL_UDP: 'udp' };
const KIND_OF_WIRE = Object.fromEntries(Object.entries(EVENT_KIND).map(([kind, wire]) => [wire, kind])) as Record<string, WatchEvent['kind'] | undefined>;

/** A session as another portplane sent it: as decoded, every field optional (checked here). */
export type WireSessionIn = Partial<Session__Output>;

export type WireSessionEventIn = Partial<Omit<SessionEvent__Output, 'session'>> & { session?: WireSessionIn | null };

/** A session as another portplane sent it (the inverse of wireSession); throws on what no portplane sends. */
export function sessionFromWire(w: WireSessionIn): SessionInfo {
  const protocol = PROTOCOL_OF_WIRE[w.protocol ?? ''];
  if (!protocol) throw new Error(`session ${w.id ?? '?'}: protocol ${JSON.stringify(w.protocol)} is neither TCP nor UDP`);
  const endpoint = (e: Endpoint | null | undefined, what: string): Endpoint => {
    if (!e) throw new Error(`session ${w.id ?? '?'}: no ${what} endpoint`);
    return { address: e.address, port: e.port };
  };
  return {
    id: w.id ?? '',
    table: w.table ?? '',
    ruleId: w.rule_id ?? '',
    ruleName: w.rule_name ?? '',
    protocol,
    client: endpoint(w.client, 'client'),
    listener: endpoint(w.listener, 'listener'),
    ...(w.upstream_local && { upstreamLocal: endpoint(w.upstream_local, 'upstream') }),
    target: endpoint(w.target, 'target'),
    state: w.state ?? '',
    createdAt: timestampMillis(w.created_at),
    lastActivityAt: timestampMillis(w.last_activity_at),
    fromClient: { bytes: Number(w.from_client?.bytes ?? 0), packets: Number(w.from_client?.packets ?? 0) },
    toClient: { bytes: Number(w.to_client?.bytes ?? 0), packets: Number(w.to_client?.packets ?? 0) },
    generation: Number(w.generation ?? 0),
  };
}

/** A watch event as another portplane sent it (the inverse of wireSessionEvent). */
export function sessionEventFromWire(w: WireSessionEventIn): WatchEvent {
  const kind = KIND_OF_WIRE[w.kind ?? ''];
  const sequence = Number(w.sequence ?? 0);
  switch (kind) {
    case 'snapshot_end':
      return { kind, sequence };
    case 'resync':
      return { kind, sequence, detail: w.detail ?? '' };
    case 'snapshot':
      return { kind, sequence, session: sessionFromWire(w.session ?? {}) };
    case 'open':
    case 'update':
    case 'close': {
      const reason = (w.close_reason ?? '').replace(/^CLOSE_REASON_/, '').toLowerCase();
      const event: WatchEvent = { kind, sequence, session: sessionFromWire(w.session ?? {}) };
      if (kind === 'close' && (CLOSE_REASONS as readonly string[]).includes(reason)) event.reason = reason as CloseReason;
      return event;
    }
    default:
      throw new Error(`session event kind ${JSON.stringify(w.kind)} is not one portplane sends`);
  }
}
