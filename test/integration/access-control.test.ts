/**
 * Acceptance: roles, table scopes, per-caller limits and the audit trail, on
 * a real daemon over its UNIX socket, with bearer tokens whose hashes are in
 * a real policy file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONTROL_LIMITS, type ControlLimits } from '../../src/auth/control-limits.js';
import { loadPolicyFile } from '../../src/auth/policy.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { bearer, callError, removeDir, ServiceClient, tempStateDir } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { captureLogs, type CapturedLogs } from '../helpers/log-capture.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const TOKENS = {
  reader: generateToken('reader-bot'),
  operator: generateToken('operator-bot'),
  admin: generateToken('admin-bot'),
  tenantA: generateToken('tenant-a'),
  tenantReader: generateToken('tenant-a-reader'),
};

const POLICY = `
tokens:
  reader-bot: ${hashToken(TOKENS.reader)}
  operator-bot: ${hashToken(TOKENS.operator)}
  admin-bot: ${hashToken(TOKENS.admin)}
  tenant-a: ${hashToken(TOKENS.tenantA)}
  tenant-a-reader: ${hashToken(TOKENS.tenantReader)}
grants:
  - { token: reader-bot, role: reader }
  - { token: operator-bot, role: operator }
  - { token: admin-bot, role: admin }
  - { token: tenant-a, role: admin, tables: [tenant-a, "tenant-a-*"] }
  - { token: tenant-a-reader, role: reader, tables: ["tenant-a*"] }
`;

interface Env {
  daemon: TestDaemon;
  client: ServiceClient;
  logs: CapturedLogs;
  policyDir: string;
}

async function start(controlLimits: Partial<ControlLimits> = {}): Promise<Env> {
  const policyDir = await tempStateDir();
  const file = join(policyDir, 'policy.yaml');
  await writeFile(file, POLICY);
  const logs = captureLogs();
  const daemon = await startTestDaemon({
    policy: await loadPolicyFile(file),
    controlLimits: { ...DEFAULT_CONTROL_LIMITS, ...controlLimits },
    logger: logs.logger,
  });
  return { daemon, client: new ServiceClient('ConfigService', daemon.target), logs, policyDir };
}

async function stop(env: Env): Promise<void> {
  env.client.close();
  await env.daemon.stop();
  await removeDir(env.policyDir);
}

function table(name: string, port: number, target: number): object {
  return {
    name,
    rules: [{ name: 'r', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: port }, target_address: '127.0.0.1', target_port: target }],
  };
}

const errorInfo = (err: grpc.ServiceError): Record<string, string> => {
  const info = decodeStatusDetails(err.metadata).find((d) => d.type === 'ErrorInfo');
  return info?.type === 'ErrorInfo' ? info.metadata : {};
};
const quotaSubjects = (err: grpc.ServiceError): string[] => {
  const quota = decodeStatusDetails(err.metadata).find((d) => d.type === 'QuotaFailure');
  return quota?.type === 'QuotaFailure' ? quota.violations.map((v) => v.subject) : [];
};

describe('access control over the UNIX socket', () => {
  let env: Env;
  let echo: EchoServer;
  let base: number;

  beforeAll(async () => {
    env = await start();
    echo = await startEchoServer();
    base = await freePortBlock(8);
  });
  afterAll(async () => {
    await stop(env);
    await echo.close();
  });

  const generation = async (): Promise<string> =>
    (await env.client.call<{ generation: string }>('GetConfig', {}, 30_000, bearer(TOKENS.admin))).generation;

  it('a reader cannot apply, an operator cannot apply, an admin can', async () => {
    for (const token of [TOKENS.reader, TOKENS.operator]) {
      const err = await callError(env.client.call('ApplyConfig', { tables: [table('shared', base, echo.port)] }, 30_000, bearer(token)));
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(errorInfo(err)).toMatchObject({ required_role: 'admin', method: '/portplane.v1.ConfigService/ApplyConfig' });
      expect(await generation()).toBe('0');
      expect(await listeningSocketInodes(base)).toEqual([]);
    }
    const res = await env.client.call<{ result: { generation: string } }>(
      'ApplyConfig',
      { tables: [table('shared', base, echo.port)] },
      30_000,
      bearer(TOKENS.admin),
    );
    expect(res.result.generation).toBe('1');
    expect((await roundTrip(base, 'admin applied')).toString()).toBe('admin applied');
    // Readers read.
    const seen = await env.client.call<{ tables: { name: string }[] }>('GetConfig', {}, 30_000, bearer(TOKENS.reader));
    expect(seen.tables.map((t) => t.name)).toEqual(['shared']);
  });

  it('rejects a wrong secret, an unknown token and a non-bearer authorization as UNAUTHENTICATED', async () => {
    const wrong = `${TOKENS.admin.split('.')[0]}.${'x'.repeat(43)}`;
    for (const metadata of [bearer(wrong), bearer(generateToken('nobody')), (() => {
      const m = new grpc.Metadata();
      m.set('authorization', 'Basic YWRtaW46YWRtaW4=');
      return m;
    })()]) {
      const err = await callError(env.client.call('GetConfig', {}, 30_000, metadata));
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    }
  });

  it('a table-scoped token applies its own tables, is PERMISSION_DENIED on another table and on replace_all, and the other tables stay untouched', async () => {
    const before = await generation();
    const sharedInodes = await listeningSocketInodes(base);
    const stateBefore = await readFile(join(env.daemon.stateDir, 'state.json'), 'utf8');

    const denied = await callError(
      env.client.call('ApplyConfig', { tables: [table('tenant-a', base + 1, echo.port), table('shared', base + 2, echo.port)] }, 30_000, bearer(TOKENS.tenantA)),
    );
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.details).toContain('"shared"');
    expect(errorInfo(denied)).toMatchObject({ table: 'shared', caller: 'token:tenant-a' });

    const replaceAll = await callError(
      env.client.call('ApplyConfig', { tables: [table('tenant-a', base + 1, echo.port)], replace_all: true }, 30_000, bearer(TOKENS.tenantA)),
    );
    expect(replaceAll.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(replaceAll.details).toContain('replace_all');

    // Nothing of either refused request happened.
    expect(await generation()).toBe(before);
    expect(await readFile(join(env.daemon.stateDir, 'state.json'), 'utf8')).toBe(stateBefore);
    expect(await listeningSocketInodes(base + 1)).toEqual([]);
    expect(await listeningSocketInodes(base + 2)).toEqual([]);

    const own = await env.client.call<{ result: { generation: string } }>(
      'ApplyConfig',
      { tables: [table('tenant-a', base + 1, echo.port), table('tenant-a-web', base + 3, echo.port)] },
      30_000,
      bearer(TOKENS.tenantA),
    );
    expect(own.result.generation).toBe(String(Number(before) + 1));
    expect((await roundTrip(base + 1, 'tenant')).toString()).toBe('tenant');
    // The other table kept its listening socket throughout.
    expect(await listeningSocketInodes(base)).toEqual(sharedInodes);
    const all = await env.client.call<{ tables: { name: string; rules: { ports: { first: number } }[] }[] }>('GetConfig', {}, 30_000, bearer(TOKENS.admin));
    expect(all.tables.map((t) => t.name)).toEqual(['shared', 'tenant-a', 'tenant-a-web']);
    expect(all.tables[0]!.rules[0]!.ports.first).toBe(base);
  });

  it('a scoped reader sees only its tables', async () => {
    const seen = await env.client.call<{ tables: { name: string }[] }>('GetConfig', {}, 30_000, bearer(TOKENS.tenantReader));
    expect(seen.tables.map((t) => t.name)).toEqual(['tenant-a', 'tenant-a-web']);
    const last = await env.client.call<{ result: { rules: { table: string }[] } }>('LastApplyResult', {}, 30_000, bearer(TOKENS.tenantReader));
    expect(new Set(last.result.rules.map((r) => r.table))).toEqual(new Set(['tenant-a', 'tenant-a-web']));
    // Capabilities touch no table: open to scoped readers too.
    await expect(env.client.call('GetCapabilities', {}, 30_000, bearer(TOKENS.tenantReader))).resolves.toBeDefined();
  });

  it('without a token the daemon owner is not in this policy: PERMISSION_DENIED', async () => {
    const err = await callError(env.client.call('GetConfig'));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toContain(`uid:${process.getuid?.()}`);
  });

  it('writes one audit line per mutating or refused call, with the identity', async () => {
    const audit = env.logs.audit();
    const applied = audit.filter((l) => l.method === '/portplane.v1.ConfigService/ApplyConfig' && l.outcome === 'OK');
    expect(applied.map((l) => (l.caller as { id: string }).id)).toEqual(['token:admin-bot', 'token:tenant-a']);
    expect(applied[1]).toMatchObject({
      tables: ['tenant-a', 'tenant-a-web'],
      generationBefore: 1,
      generationAfter: 2,
      refused: false,
      caller: { kind: 'token', tokenId: 'tenant-a', uid: process.getuid?.(), pid: process.pid },
    });
    const refusedApplies = audit.filter((l) => l.method === '/portplane.v1.ConfigService/ApplyConfig' && l.outcome === 'PERMISSION_DENIED');
    expect(refusedApplies.map((l) => (l.caller as { id: string }).id)).toEqual([
      'token:reader-bot',
      'token:operator-bot',
      'token:tenant-a',
      'token:tenant-a',
    ]);
    expect(refusedApplies[2]).toMatchObject({ tables: ['tenant-a', 'shared'], generationBefore: 1, generationAfter: 1, refused: true });
    expect(refusedApplies[3]).toMatchObject({ replaceAll: true, refused: true });
    // Refused reads are audited too; successful reads are not.
    expect(audit.some((l) => l.outcome === 'UNAUTHENTICATED' && l.method === '/portplane.v1.ConfigService/GetConfig')).toBe(true);
    expect(audit.some((l) => l.method === '/portplane.v1.ConfigService/GetConfig' && l.outcome === 'OK')).toBe(false);
    // No secret ever reaches the log.
    const text = JSON.stringify(env.logs.lines);
    for (const token of Object.values(TOKENS)) expect(text).not.toContain(token.split('.')[1]);
    // The controller recorded who applied.
    const committed = env.logs.lines.filter((l) => l.msg === 'apply committed').map((l) => l.caller);
    expect(committed).toEqual(['token:admin-bot', 'token:tenant-a']);
  });

  it('a table-scoped token confirms and cancels only pending applies inside its tables, and may not RollbackTo', async () => {
    const call = <T>(method: string, req: object, token: string): Promise<T> => env.client.call<T>(method, req, 30_000, bearer(token));
    // An admin's pending apply on "shared": the tenant may neither confirm nor cancel it.
    const shared = await call<{ result: { generation: string } }>(
      'ApplyConfig',
      { tables: [table('shared', base + 4, echo.port)], confirm_timeout: { seconds: 60 } },
      TOKENS.admin,
    );
    const sharedGen = Number(shared.result.generation);
    for (const method of ['ConfirmApply', 'CancelApply']) {
      const err = await callError(call(method, { generation: sharedGen }, TOKENS.tenantA));
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      // The pending apply is another tenant's: its table is not named to this caller (test/security/tenant-redaction.test.ts).
      expect(errorInfo(err)).toMatchObject({ table: '<hidden table>' });
      expect(err.details).not.toContain('shared');
    }
    await call('ConfirmApply', { generation: sharedGen }, TOKENS.admin);

    // The tenant's own pending apply: it may confirm it.
    const own = await call<{ result: { generation: string } }>(
      'ApplyConfig',
      { tables: [table('tenant-a', base + 5, echo.port)], confirm_timeout: { seconds: 60 } },
      TOKENS.tenantA,
    );
    const ownGen = Number(own.result.generation);
    const confirmed = await call<{ result: { generation: string } }>('ConfirmApply', { generation: ownGen }, TOKENS.tenantA);
    expect(confirmed.result.generation).toBe(String(ownGen));

    const rollback = await callError(call('RollbackTo', { generation: sharedGen }, TOKENS.tenantA));
    expect(rollback.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await generation()).toBe(String(ownGen));
  });
});

describe('per-caller limits', () => {
  it('an apply past the caller\'s rate is RESOURCE_EXHAUSTED naming apply_rate_per_second, changes nothing, and spares other callers', async () => {
    // A refill of one apply per 1000 s: the bucket cannot refill while the test runs.
    const env = await start({ applyRatePerSecond: 0.001, applyBurst: 2 });
    const echo = await startEchoServer();
    try {
      const port = await freePortBlock(4);
      for (let i = 0; i < 2; i++) {
        await env.client.call('ApplyConfig', { tables: [table('a', port + i, echo.port)] }, 30_000, bearer(TOKENS.admin));
      }
      const err = await callError(env.client.call('ApplyConfig', { tables: [table('a', port + 2, echo.port)] }, 30_000, bearer(TOKENS.admin)));
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(quotaSubjects(err)).toEqual(['apply_rate_per_second']);
      expect(await listeningSocketInodes(port + 2)).toEqual([]);
      const seen = await env.client.call<{ generation: string }>('GetConfig', {}, 30_000, bearer(TOKENS.reader));
      expect(seen.generation).toBe('2');
      // Another caller has a bucket of its own.
      await env.client.call('ApplyConfig', { tables: [table('tenant-a', port + 3, echo.port)] }, 30_000, bearer(TOKENS.tenantA));
      expect(env.logs.audit().some((l) => l.outcome === 'RESOURCE_EXHAUSTED' && (l.caller as { id: string }).id === 'token:admin-bot')).toBe(true);
    } finally {
      await stop(env);
      await echo.close();
    }
  });

  it('a call past the caller\'s open streams is RESOURCE_EXHAUSTED naming max_streams_per_caller', async () => {
    const env = await start({ maxStreamsPerCaller: 1 });
    // A server-reflection stream (reader) held open takes the reader's one slot.
    const Reflection = grpc.makeGenericClientConstructor(
      {
        ServerReflectionInfo: {
          path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
          requestStream: true,
          responseStream: true,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      'ServerReflection',
    );
    const reflection = new Reflection(env.daemon.target, grpc.credentials.createInsecure());
    try {
      const stream = (reflection as unknown as { ServerReflectionInfo(m: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer> }).ServerReflectionInfo(
        bearer(TOKENS.reader),
      );
      stream.on('error', () => undefined);
      // list_services = "" (field 7): answered once the stream is admitted.
      const answered = new Promise((res) => stream.once('data', res));
      stream.write(Buffer.from([0x3a, 0x00]));
      await answered;

      const err = await callError(env.client.call('GetConfig', {}, 30_000, bearer(TOKENS.reader)));
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(quotaSubjects(err)).toEqual(['max_streams_per_caller']);
      // Another caller is not affected.
      await expect(env.client.call('GetConfig', {}, 30_000, bearer(TOKENS.admin))).resolves.toBeDefined();

      // Ending the stream gives the slot back.
      stream.end();
      let ok = false;
      for (let i = 0; i < 100 && !ok; i++) {
        ok = await env.client.call('GetConfig', {}, 30_000, bearer(TOKENS.reader)).then(() => true, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 50));
      }
      expect(ok).toBe(true);
    } finally {
      reflection.close();
      await stop(env);
    }
  });

  it('an oversized request is RESOURCE_EXHAUSTED and changes nothing; GetCapabilities advertises every limit', async () => {
    const env = await start({ maxMessageBytes: 4096 });
    try {
      const caps = await env.client.call<{ limits: Record<string, number> }>('GetCapabilities', {}, 30_000, bearer(TOKENS.reader));
      expect(caps.limits).toMatchObject({
        max_message_bytes: 4096,
        max_streams_per_caller: DEFAULT_CONTROL_LIMITS.maxStreamsPerCaller,
        apply_rate_per_second: DEFAULT_CONTROL_LIMITS.applyRatePerSecond,
        apply_burst: DEFAULT_CONTROL_LIMITS.applyBurst,
      });
      const port = await freePortBlock(200);
      const rules = Array.from({ length: 200 }, (_, i) => ({
        name: `r${i}`,
        protocol: 'PROTOCOL_TCP',
        listen_address: '127.0.0.1',
        ports: { first: port + i },
        target_address: '127.0.0.1',
        target_port: 45000,
      }));
      const err = await callError(env.client.call('ApplyConfig', { tables: [{ name: 'big', rules }] }, 30_000, bearer(TOKENS.admin)));
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(err.details).toContain('4096');
      const seen = await env.client.call<{ generation: string }>('GetConfig', {}, 30_000, bearer(TOKENS.admin));
      expect(seen.generation).toBe('0');
      expect(await listeningSocketInodes(port)).toEqual([]);
    } finally {
      await stop(env);
    }
  });
});
