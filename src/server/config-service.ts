/**
 * portplane.v1.ConfigService handlers: wire form in, ConfigController call,
 * wire form out. No logic beyond translation lives here.
 */
import type * as grpc from '@grpc/grpc-js';
import { toWireTables } from '../config/wire.js';
import type { ConfigController } from '../control/config-controller.js';
import type { ControlLimits } from '../auth/control-limits.js';
import { API_VERSION } from './api-definition.js';
import { callerOf } from './auth-interceptor.js';
import { wirePending } from './wire-history.js';
import { applyRequestFromWire, type WireApplyRequest } from './wire-apply-request.js';
import { unary } from './unary.js';
import { wireApplyResult, wireCapabilities, wireConditions, wireLimits, wirePlan } from './wire-results.js';

export interface ConfigServiceOptions {
  /** Advertised by GetCapabilities next to the forwarding limits. */
  controlLimits?: ControlLimits;
}

export function configServiceHandlers(controller: ConfigController, options: ConfigServiceOptions = {}): grpc.UntypedServiceImplementation {
  return {
    ApplyConfig: unary<WireApplyRequest>(async (req, call) => {
      const response = await controller.apply(applyRequestFromWire(req, callerOf(call.metadata)));
      return { result: wireApplyResult(response.result), plan: wirePlan(response.plan), pending: wirePending(response.pending) };
    }),
    LastApplyResult: unary(() => ({ result: wireApplyResult(controller.lastApplyResult()), conditions: wireConditions(controller.conditions()) })),
    GetConfig: unary(() => {
      const running = controller.getConfig();
      return {
        generation: String(running.generation),
        tables: toWireTables(running.tables),
        config_digest: running.digest,
        pending: wirePending(running.pending),
      };
    }),
    GetCapabilities: unary(() => ({
      api_version: API_VERSION,
      capabilities: wireCapabilities(controller.capabilities()),
      limits: wireLimits(controller.limits, options.controlLimits),
    })),
  };
}
