/**
 * The ApplyConfig response serializer gives proto-loader's bytes exactly:
 * protobufjs fromObject + encode of the whole response, for responses with
 * and without capabilities, rules, port failures, session effects, diverged
 * ports and a pending apply, and again from its capabilities cache.
 */
import { describe, expect, it } from 'vitest';
import type { ApplyResult } from '../../src/dataplane/apply-result.js';
import { kernelCapabilities } from '../../src/dataplane/kernel/capabilities.js';
import { apiDefinition } from '../../src/server/api-definition.js';
import { ApplyResponseEncoder } from '../../src/server/apply-response-encoder.js';
import { wireApplyResult, wirePlan } from '../../src/server/wire-results.js';
import type { Plan } from '../../src/plan/model.js';

const root = apiDefinition().rpcTypes;
const response = root.lookupType('portplane.v1.ApplyConfigResponse');
const protoLoaderBytes = (value: object): Buffer => Buffer.from(response.encode(response.fromObject(value)).finish());

function result(overrides: Partial<ApplyResult> = {}): ApplyResult {
  return {
    generation: 12,
    configDigest: 'd'.repeat(64),
    appliedAt: 1_765_000_000_123,
    durationMicros: 5321,
    backend: 'kernel',
    capabilities: kernelCapabilities(),
    rules: [
      {
        table: 'web',
        name: 'https',
        ruleId: 'web/https',
        counterId: 7,
        state: 'degraded',
        portsBound: 9,
        portsFailed: [{ protocol: 'tcp', listenAddress: '127.0.0.1', port: 8443, errno: 'EADDRINUSE', message: 'address in use' }],
      },
    ],
    rulesUntouched: 999,
    planSummary: {
      rulesAdded: 0,
      rulesRemoved: 0,
      rulesChanged: 1,
      rulesUnchanged: 999,
      portsOpened: 0,
      portsClosed: 1,
      portsRetargeted: 9,
      portsKept: 9990,
      tablesTouched: ['web'],
      empty: false,
    },
    outcome: 'applied',
    ...overrides,
  };
}

const plan: Plan = {
  baseGeneration: 11,
  rules: [],
  ports: [
    {
      protocol: 'tcp',
      listenAddress: '127.0.0.1',
      port: 8443,
      key: 'tcp 127.0.0.1 8443',
      action: 'retarget',
      route: { table: 'web', ruleId: 'web/https', targetAddress: '127.0.0.1', targetPort: 9443 } as never,
      previous: { table: 'web', ruleId: 'web/https', targetAddress: '127.0.0.1', targetPort: 7443 } as never,
    },
  ],
  summary: result().planSummary,
  empty: false,
  tables: { added: [], removed: [] },
};

describe('ApplyResponseEncoder', () => {
  it('gives the bytes of fromObject + encode of the whole response', () => {
    const encoder = new ApplyResponseEncoder(root);
    const cases: object[] = [
      { result: wireApplyResult(result()), plan: wirePlan(plan) },
      { result: wireApplyResult(result({ sessionEffects: { ended: 2, draining: 1, held: 3, restored: 0 } })), plan: wirePlan(plan), pending: { generation: '12', base_generation: '11', deadline: { seconds: '1765000060', nanos: 0 }, owner: 'PENDING_OWNER_CONFIRM' } },
      { result: wireApplyResult(result({ rules: [], outcome: 'unchanged', diverged: [{ table: 'web', ruleId: 'web/a', protocol: 'udp', listenAddress: '::1', port: 53, errno: 'EUNDO', message: 'undo failed', since: 1_765_000_000_000 }] })), plan: wirePlan({ ...plan, ports: [] }) },
      { result: { ...wireApplyResult(result()), capabilities: null }, plan: wirePlan(plan) },
      { result: wireApplyResult(result({ capabilities: { backend: 'userspace', supported: [], unsupported: [] } })) },
      {},
    ];
    for (const value of [...cases, ...cases]) {
      expect(encoder.serialize(value as Record<string, unknown>)).toEqual(protoLoaderBytes(value));
    }
    const decoded = response.toObject(response.decode(encoder.serialize(cases[0] as Record<string, unknown>)), { enums: String, longs: String }) as { result: { capabilities: { backend: string } } };
    expect(decoded.result.capabilities.backend).toBe('kernel');
  });
});
