/**
 * ConfigService handlers for confirmed applies and history: ConfirmApply,
 * CancelApply, RollbackTo, ListApplyHistory and the WatchApplyResults
 * stream. Translation only, like config-service.ts.
 */
import * as grpc from '@grpc/grpc-js';
import type { Violation } from '../config/model.js';
import type { ConfigController } from '../control/config-controller.js';
import type { ApplyResult } from '../dataplane/apply-result.js';
import { InvalidConfigError, NoResultError, ShuttingDownError } from '../control/errors.js';
import type { RollbackToRequest__Output } from '../generated/types/portplane/v1/RollbackToRequest.js';
import { callerOf } from './auth-interceptor.js';
import { expectedGeneration, terminateRemovedDrain } from './wire-apply-request.js';
import { unary } from './unary.js';
import { toServiceError } from './grpc-errors.js';
import { statusError } from './status-details.js';
import { readDurationMs, wireApplyEvent, wireHistoryEntry, wirePending } from './wire-history.js';
import { wireApplyResult, wirePlan } from './wire-results.js';
import { checkTextBytes, MAX_COMMENT_BYTES, MAX_NAME_BYTES } from '../config/text-bounds.js';

/** Events a watcher may lag behind before it is cut off (it can re-watch and read the history). */
export const WATCH_MAX_BACKLOG = 1024;

/** A uint64 generation field that must be set. */
function requiredGeneration(value: string | number | undefined, path = 'generation'): number {
  const generation = Number(value ?? 0);
  if (!Number.isSafeInteger(generation) || generation <= 0) {
    throw new InvalidConfigError([{ path, message: `must be a generation greater than 0, got ${String(value ?? 0)}` }]);
  }
  return generation;
}

type WireRollbackToRequest = RollbackToRequest__Output;

export function applyHistoryHandlers(controller: ConfigController): grpc.UntypedServiceImplementation {
  return {
    ConfirmApply: unary<{ generation?: string }>(async (req) => ({
      result: wireApplyResult(await controller.confirm(requiredGeneration(req.generation))),
    })),
    CancelApply: unary<{ generation?: string; terminate_removed?: boolean; reason?: string }>(async (req, call) => {
      const caller = callerOf(call.metadata);
      const who = caller?.id ?? 'an unidentified caller';
      const violations: Violation[] = [];
      const generation = requiredGeneration(req.generation);
      if (!checkTextBytes(req.reason ?? '', MAX_NAME_BYTES, 'reason', violations)) throw new InvalidConfigError(violations);
      const drain = terminateRemovedDrain(req.terminate_removed);
      const rollback = await controller.cancel(generation, {
        reason: req.reason ? `cancelled by ${who}: ${req.reason}` : `cancelled by ${who}`,
        caller,
        ...(drain && { drain }),
      });
      return {
        result: wireApplyResult(rollback.result),
        rolled_back: wireHistoryEntry(rollback.rolledBack),
        restored: wireHistoryEntry(rollback.restored),
      };
    }),
    RollbackTo: unary<WireRollbackToRequest>(async (req, call) => {
      const generation = requiredGeneration(req.generation);
      const violations: Violation[] = [];
      const confirmTimeoutMs = readDurationMs(req.confirm_timeout, 'confirm_timeout', violations);
      checkTextBytes(req.comment ?? '', MAX_COMMENT_BYTES, 'comment', violations);
      if (violations.length > 0) throw new InvalidConfigError(violations);
      const drain = terminateRemovedDrain(req.terminate_removed);
      const response = await controller.rollbackTo(generation, {
        expectedGeneration: expectedGeneration(req),
        ...(drain && { drain }),
        caller: callerOf(call.metadata),
        ...(confirmTimeoutMs !== undefined && { confirmTimeoutMs }),
        comment: req.comment ?? '',
      });
      return { result: wireApplyResult(response.result), plan: wirePlan(response.plan), pending: wirePending(response.pending) };
    }),
    ListApplyHistory: unary<{ limit?: number }>((req) => ({
      entries: controller.history(req.limit ?? 0).map(wireHistoryEntry),
      capacity: controller.historyCapacity,
    })),
    WatchApplyResults: (call: grpc.ServerWritableStream<object, object>) => watchApplyResults(controller, call),
  };
}

function watchApplyResults(controller: ConfigController, call: grpc.ServerWritableStream<object, object>): void {
  let open = true;
  let unsubscribe = (): void => undefined;
  const stop = (err?: grpc.ServiceError): void => {
    if (!open) return;
    open = false;
    unsubscribe();
    if (err) call.emit('error', err);
    else call.end();
  };
  call.on('cancelled', () => stop());
  call.on('error', () => stop());

  let result: ApplyResult | undefined;
  try {
    result = controller.lastApplyResult();
  } catch (err) {
    if (!(err instanceof NoResultError)) throw err;
  }
  const pending = controller.pendingInfo();
  const latest = controller.history(1)[0];
  call.write(
    wireApplyEvent('current', { ...(result && { result }), ...(latest && { entry: latest }), ...(pending && { pending }) }, result?.generation ?? 0),
  );
  // Events are published synchronously, so none can fall between the current state and the subscription.
  unsubscribe = controller.events.subscribe(
    (event) => {
      if (!open) return;
      if (call.writableLength >= WATCH_MAX_BACKLOG) {
        stop(statusError(grpc.status.RESOURCE_EXHAUSTED, `watcher fell ${WATCH_MAX_BACKLOG} events behind; watch again and read ListApplyHistory for what was missed`));
        return;
      }
      call.write(wireApplyEvent(event.kind, event, event.result?.generation ?? 0));
    },
    () => stop(toServiceError(new ShuttingDownError())),
  );
}
