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
import { configPageSize, decodeConfigPageToken, encodeConfigPageToken } from './config-pages.js';
import { wirePending } from './wire-history.js';
import { applyRequestFromWire, type WireApplyRequest } from './wire-apply-request.js';
import { unary } from './unary.js';
import { wireApplyResult, wireCapabilities, wireConditions, wireDivergedPort, wireLimits, wirePlan } from './wire-results.js';

export interface ConfigServiceOptions {
  /** Advertised by GetCapabilities next to the forwarding limits. */
  controlLimits?: ControlLimits;
}

export function configServiceHandlers(controller: ConfigController, options: ConfigServiceOptions = {}): grpc.UntypedServiceImplementation {
  return {
    ApplyConfig: unary<WireApplyRequest>(async (req, call) => {
      const response = await controller.apply(applyRequestFromWire(req, callerOf(call.metadata), () => controller.capabilities()));
      return { result: wireApplyResult(response.result), plan: wirePlan(response.plan), pending: wirePending(response.pending) };
    }),
    LastApplyResult: unary<{ page_size?: number; page_token?: string }>((req) => {
      const size = configPageSize(req.page_size);
      const result = controller.lastApplyResult();
      const from = decodeConfigPageToken(req.page_token ?? '', 'result', result.generation);
      const conditions = wireConditions(controller.conditions());
      if (size === 0 && from === 0) return { result: wireApplyResult(result), conditions };
      const end = size === 0 ? result.rules.length : Math.min(result.rules.length, from + size);
      return {
        result: wireApplyResult({ ...result, rules: result.rules.slice(from, end) }),
        next_page_token: end < result.rules.length ? encodeConfigPageToken('result', result.generation, end) : '',
        conditions,
      };
    }),
    GetConfig: unary<{ page_size?: number; page_token?: string }>((req) => {
      const size = configPageSize(req.page_size);
      const from = decodeConfigPageToken(req.page_token ?? '', 'config', controller.runningGeneration);
      const running: ReturnType<ConfigController['getConfigPage']> =
        size === 0 && from === 0 ? controller.getConfig() : controller.getConfigPage(from, size === 0 ? Infinity : size);
      return {
        generation: String(running.generation),
        tables: toWireTables(running.tables),
        config_digest: running.digest,
        pending: wirePending(running.pending),
        diverged: running.diverged.map(wireDivergedPort),
        next_page_token: running.next !== undefined ? encodeConfigPageToken('config', running.generation, running.next) : '',
      };
    }),
    GetCapabilities: unary(() => ({
      api_version: API_VERSION,
      capabilities: wireCapabilities(controller.capabilities()),
      limits: wireLimits(controller.limits, options.controlLimits),
    })),
  };
}
