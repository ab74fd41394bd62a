/**
 * portplane.v1.ConfigService handlers: wire form in, ConfigController call,
 * wire form out. No logic beyond translation lives here.
 */
import type * as grpc from '@grpc/grpc-js';
import { parseTables, readRequestDrain } from '../config/parse.js';
import { toWireTables } from '../config/wire.js';
import type { ConfigController } from '../control/config-controller.js';
import type { ControlLimits } from '../auth/control-limits.js';
import { API_VERSION } from './api-definition.js';
import { callerOf } from './auth-interceptor.js';
import { readDurationMs, wirePending } from './wire-history.js';
import { unary } from './unary.js';
import { wireApplyResult, wireCapabilities, wireLimits, wirePlan } from './wire-results.js';

interface WireApplyConfigRequest {
  tables?: unknown;
  replace_all?: boolean;
  expected_generation?: string | number | null;
  _expected_generation?: string;
  validate_only?: boolean;
  terminate_removed?: boolean;
  drain?: unknown;
  confirm_timeout?: { seconds?: string; nanos?: number } | null;
  comment?: string;
}

/** proto3 `optional`: proto-loader (oneofs: true) names the set member in a synthetic oneof. */
export function expectedGeneration(req: { expected_generation?: string | number | null; _expected_generation?: string }): number | undefined {
  if (req._expected_generation !== 'expected_generation') return undefined;
  return Number(req.expected_generation);
}

export interface ConfigServiceOptions {
  /** Advertised by GetCapabilities next to the forwarding limits. */
  controlLimits?: ControlLimits;
}

export function configServiceHandlers(controller: ConfigController, options: ConfigServiceOptions = {}): grpc.UntypedServiceImplementation {
  return {
    ApplyConfig: unary<WireApplyConfigRequest>(async (req, call) => {
      const parsed = parseTables(req.tables ?? []);
      const drain = readRequestDrain(req.drain ?? undefined, 'drain', parsed.violations);
      const confirmTimeoutMs = readDurationMs(req.confirm_timeout, 'confirm_timeout', parsed.violations);
      const response = await controller.apply({
        tables: parsed.tables,
        parseViolations: parsed.violations,
        ...(drain && { drain }),
        replaceAll: req.replace_all ?? false,
        expectedGeneration: expectedGeneration(req),
        validateOnly: req.validate_only ?? false,
        terminateRemoved: req.terminate_removed ?? false,
        caller: callerOf(call.metadata),
        ...(confirmTimeoutMs !== undefined && { confirmTimeoutMs }),
        comment: req.comment ?? '',
      });
      return { result: wireApplyResult(response.result), plan: wirePlan(response.plan), pending: wirePending(response.pending) };
    }),
    LastApplyResult: unary(() => ({ result: wireApplyResult(controller.lastApplyResult()) })),
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
