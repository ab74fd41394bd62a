/**
 * HAService over gRPC: GetRole, SetRole and the SyncSessions stream a
 * standby opens on the active (src/ha/sync-source.ts does the streaming;
 * this is the wire).
 */
import * as grpc from '@grpc/grpc-js';
import type { SyncHello__Output } from '../generated/types/portplane/v1/SyncHello.js';
import type { SyncSessionsRequest__Output } from '../generated/types/portplane/v1/SyncSessionsRequest.js';
import { InvalidRequestError } from '../control/errors.js';
import type { HARole } from '../dataplane/ha-controller.js';
import type { SessionStore } from '../dataplane/session-store.js';
import type { HANode } from '../ha/ha-node.js';
import { SyncSource, type SyncBatch, type SyncHello } from '../ha/sync-source.js';
import type { SyncStatus } from '../ha/sync-status.js';
import type { SessionWatchHub } from '../sessions/watch-hub.js';
import { toServiceError } from './grpc-errors.js';
import { wireSessionEvent } from './session-wire.js';
import { streamSender } from './stream-sender.js';
import { statusError } from './status-details.js';
import { unary } from './unary.js';
import { wireTimestamp } from './wire-results.js';

const WIRE_ROLES: Record<HARole, string> = { active: 'HA_ROLE_ACTIVE', standby: 'HA_ROLE_STANDBY' };
const ROLE_OF_WIRE: Record<string, HARole | undefined> = { HA_ROLE_ACTIVE: 'active', HA_ROLE_STANDBY: 'standby' };

export function wireSyncStatus(s: SyncStatus): object {
  return {
    state: `SYNC_STATE_${s.state.toUpperCase()}`,
    detail: s.detail,
    peer: s.peer,
    lag_events: String(s.lagEvents),
    lag_millis: String(s.lagMillis),
    peer_epoch: s.peerEpoch,
    applied_sequence: String(s.appliedSequence),
    ...(s.lastBulkSyncAt > 0 && { last_bulk_sync_at: wireTimestamp(s.lastBulkSyncAt) }),
    bulk_syncs: String(s.bulkSyncs),
    resent_events: String(s.resentEvents),
    sessions_imported: String(s.sessionsImported),
    sessions_rejected: String(s.sessionsRejected),
    late_heartbeats: String(s.lateHeartbeats),
    reconnects: String(s.reconnects),
  };
}

export function wireSyncBatch(batch: SyncBatch): object {
  return {
    events: batch.events.map((e) => wireSessionEvent(e, batch.epoch)),
    head_sequence: String(batch.headSequence),
    backend_epoch: batch.epoch,
    sent_at: wireTimestamp(batch.sentAt),
  };
}

type WireSyncRequest = Partial<SyncSessionsRequest__Output>;

export interface HAServiceOptions {
  node: HANode;
  hub: SessionWatchHub;
  store: SessionStore;
  heartbeatMs: number;
}

export function haServiceHandlers(options: HAServiceOptions): grpc.UntypedServiceImplementation {
  const { node, hub, store, heartbeatMs } = options;
  return {
    GetRole: unary(() => ({
      role: WIRE_ROLES[node.role],
      since: wireTimestamp(node.since),
      role_changes: String(node.roleChanges),
      sync: wireSyncStatus(node.syncStatus()),
      session_sync_supported: node.sessionSyncSupported,
      unsupported_reason: node.unsupportedReason,
    })),
    SetRole: unary((request: { role?: string; reason?: string }) => {
      const role = ROLE_OF_WIRE[request.role ?? ''];
      if (!role) {
        throw new InvalidRequestError('SetRole', [{ path: 'role', message: `must be HA_ROLE_ACTIVE or HA_ROLE_STANDBY, got ${String(request.role).slice(0, 100)}` }]);
      }
      const change = node.setRole(role, request.reason ?? '');
      return { previous: WIRE_ROLES[change.previous], role: WIRE_ROLES[change.role] };
    }),
    SyncSessions: (call: grpc.ServerDuplexStream<WireSyncRequest, object>) => {
      let source: SyncSource | undefined;
      const sender = streamSender(call);
      // The standby half-closed: the stream is over.
      call.on('end', () => {
        sender.end();
        call.end();
      });
      call.on('data', (message: WireSyncRequest) => {
        if (message.message === 'ack') {
          source?.ack(Number(message.ack?.sequence ?? 0));
          return;
        }
        if (message.message !== 'hello' || source) {
          call.emit('error', statusError(grpc.status.FAILED_PRECONDITION, 'SyncSessions: the first message is one hello, the rest are acks'));
          sender.end();
          return;
        }
        if (node.role !== 'active') {
          call.emit('error', statusError(grpc.status.FAILED_PRECONDITION, 'this node is the HA standby: sync from the active node', [
            { type: 'ErrorInfo', reason: 'NOT_ACTIVE', metadata: {} },
          ]));
          sender.end();
          return;
        }
        const h: Partial<SyncHello__Output> = message.hello ?? {};
        const hello: SyncHello = {
          node: h.node ?? '',
          ...(h._resume_after_sequence === 'resume_after_sequence' && { resume: { sequence: Number(h.resume_after_sequence), epoch: h.resume_backend_epoch ?? '' } }),
        };
        const peer = `${hello.node || 'standby'} (${call.getPeer()})`;
        source = new SyncSource({
          hub,
          store,
          hello,
          peer,
          heartbeatMs,
          transport: {
            send: (batch) => sender.send(wireSyncBatch(batch)),
            get closed() {
              return sender.closed;
            },
            ended: sender.ended,
          },
        });
        const unregister = node.serving(source, () => {
          if (!sender.closed) call.emit('error', statusError(grpc.status.UNAVAILABLE, 'this node became the HA standby'));
          sender.end();
        });
        source.run().then(
          () => {
            unregister();
            if (!sender.closed) call.end();
          },
          (err: unknown) => {
            unregister();
            if (!sender.closed) call.emit('error', toServiceError(err));
            sender.end();
          },
        );
      });
    },
  };
}
