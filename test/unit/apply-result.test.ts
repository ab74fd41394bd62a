import { describe, expect, it } from 'vitest';
import { copyApplyResult, type ApplyResult } from '../../src/dataplane/apply-result.js';

const result: ApplyResult = {
  generation: 3,
  configDigest: 'ab'.repeat(32),
  appliedAt: 1_700_000_000_000,
  durationMicros: 1234,
  backend: 'kernel',
  capabilities: { backend: 'kernel', supported: ['tcp'], unsupported: [{ feature: 'udp', reason: 'not here' }] },
  rules: [
    {
      table: 'web',
      name: 'a',
      ruleId: 'r_1',
      counterId: 7,
      state: 'degraded',
      portsBound: 1,
      portsFailed: [{ protocol: 'tcp', listenAddress: '127.0.0.1', port: 8081, errno: 'EADDRINUSE', message: 'in use' }],
    },
  ],
  planSummary: {
    rulesAdded: 1,
    rulesRemoved: 0,
    rulesChanged: 0,
    rulesUnchanged: 0,
    portsOpened: 2,
    portsClosed: 0,
    portsRetargeted: 0,
    portsKept: 0,
    tablesTouched: ['web'],
    empty: false,
  },
  outcome: 'applied',
  rulesUntouched: 0,
};

describe('copyApplyResult', () => {
  it('is a deep copy: equal, and no nested object is shared', () => {
    const copy = copyApplyResult(result);
    expect(copy).toEqual(result);
    expect(copy).toStrictEqual(structuredClone(result));
    copy.rules[0]!.portsFailed[0]!.port = 1;
    copy.rules[0]!.state = 'active';
    copy.capabilities.supported.push('udp');
    copy.capabilities.unsupported[0]!.reason = 'changed';
    copy.planSummary.tablesTouched.push('other');
    expect(result.rules[0]!.portsFailed[0]!.port).toBe(8081);
    expect(result.rules[0]!.state).toBe('degraded');
    expect(result.capabilities.supported).toEqual(['tcp']);
    expect(result.capabilities.unsupported[0]!.reason).toBe('not here');
    expect(result.planSummary.tablesTouched).toEqual(['web']);
  });
});
