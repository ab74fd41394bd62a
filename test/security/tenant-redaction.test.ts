/**
 * Finding 2 of #17: a table-scoped caller learns nothing about other
 * tenants' tables. Against a real daemon, with another tenant's table (and a
 * live session on it, and a pending apply touching it) present, every method
 * in METHOD_ACCESS is called as a caller scoped to tenant-a, in the ways most
 * likely to mention the other table (a conflict with it, its session id, a
 * confirm of its pending apply). The secret table and rule names must never
 * appear in any response, stream message, error message, error detail or
 * trailer: responses are checked as raw bytes off the wire, with a raw
 * grpc-js client.
 */
import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHOD_ACCESS } from '../../src/auth/method-access.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { apiDefinition } from '../../src/server/api-definition.js';
import { bearer, removeDir, ServiceClient, tempStateDir } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const SECRET_TABLE = 'zz-secret-tbl';
const SECRET_RULE = 'hush-rule-x';
const ADMIN = generateToken('admin-bot');
const TENANT = generateToken('tenant-a');
const TENANT_READER = generateToken('tenant-a-reader');

const POLICY = `
tokens:
  admin-bot: ${hashToken(ADMIN)}
  tenant-a: ${hashToken(TENANT)}
  tenant-a-reader: ${hashToken(TENANT_READER)}
grants:
  - { token: admin-bot, role: admin }
  - { token: tenant-a, role: admin, tables: [tenant-a] }
  - { token: tenant-a-reader, role: reader, tables: [tenant-a] }
`;

const rule = (name: string, port: number, target: number): object => ({
  name,
  protocol: 'PROTOCOL_TCP',
  listen_address: '127.0.0.1',
  ports: { first: port, last: port },
  target_address: '127.0.0.1',
  target_port: target,
});

/** Everything one call put on the wire towards the caller. */
interface Seen {
  messages: Buffer[];
  status?: grpc.StatusObject;
}

const identity = (b: Buffer): Buffer => b;

function methodCodec(path: string): { serialize(v: object): Buffer; deserialize(b: Buffer): Record<string, unknown> } {
  const [, service, method] = /^\/([^/]+)\/(.+)$/.exec(path)!;
  const def = (apiDefinition().packageDefinition[service!] as grpc.ServiceDefinition)[method!]!;
  return { serialize: (v) => def.requestSerialize(v), deserialize: (b) => def.responseDeserialize(b) as Record<string, unknown> };
}

describe('a table-scoped caller with another tenant present', () => {
  let d: TestDaemon;
  let dir: string;
  let echo: EchoServer;
  let raw: grpc.Client;
  let admin: ServiceClient;
  let secretPort: number;
  let secretSession: Socket;
  let secretSessionId = '';
  const seen = new Map<string, Seen[]>();

  const record = (path: string, s: Seen): void => {
    seen.set(path, [...(seen.get(path) ?? []), s]);
  };

  /** A unary call with raw bytes back; `request` is a message object or hand-encoded bytes. */
  const unary = (path: string, request: object | Buffer, token = TENANT): Promise<Seen> =>
    new Promise((res) => {
      const serialize = Buffer.isBuffer(request) ? identity : methodCodec(path).serialize;
      const out: Seen = { messages: [] };
      const call = raw.makeUnaryRequest(path, serialize as (v: object | Buffer) => Buffer, identity, request, bearer(token), { deadline: Date.now() + 15_000 }, (err, value) => {
        if (value) out.messages.push(value);
        if (err) out.status = { code: err.code, details: err.details, metadata: err.metadata };
      });
      call.on('status', (status) => {
        out.status ??= status;
        record(path, out);
        res(out);
      });
    });

  /** A server stream read for `ms`, then cancelled. */
  const serverStream = (path: string, request: object | Buffer, ms = 600, token = TENANT): Promise<Seen> =>
    new Promise((res) => {
      const serialize = Buffer.isBuffer(request) ? identity : methodCodec(path).serialize;
      const out: Seen = { messages: [] };
      const call = raw.makeServerStreamRequest(path, serialize as (v: object | Buffer) => Buffer, identity, request, bearer(token), {});
      call.on('data', (b: Buffer) => out.messages.push(b));
      call.on('error', () => undefined);
      call.on('status', (status) => {
        out.status = status;
        record(path, out);
        res(out);
      });
      setTimeout(() => call.cancel(), ms);
    });

  beforeAll(async () => {
    dir = await tempStateDir();
    const file = join(dir, 'policy.yaml');
    await writeFile(file, POLICY);
    const { loadPolicyFile } = await import('../../src/auth/policy.js');
    d = await startTestDaemon({ policy: await loadPolicyFile(file) });
    raw = new grpc.Client(d.target, grpc.credentials.createInsecure());
    admin = new ServiceClient('ConfigService', d.target);
    echo = await startEchoServer();
    secretPort = await freePort();
    await admin.call('ApplyConfig', { tables: [{ name: SECRET_TABLE, rules: [rule(SECRET_RULE, secretPort, echo.port)] }] }, 30_000, bearer(ADMIN));
    secretSession = connect({ host: '127.0.0.1', port: secretPort });
    await new Promise((r) => secretSession.once('connect', r));
    const sessions = new ServiceClient('SessionService', d.target);
    try {
      for (let i = 0; i < 50 && !secretSessionId; i++) {
        const listed = await sessions.call<{ sessions: { id: string }[] }>('ListSessions', { filter: { table: SECRET_TABLE } }, 10_000, bearer(ADMIN));
        secretSessionId = listed.sessions[0]?.id ?? '';
        if (!secretSessionId) await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      sessions.close();
    }
  });
  afterAll(async () => {
    secretSession?.destroy();
    raw?.close();
    admin?.close();
    await d?.stop();
    await echo?.close();
    await removeDir(dir);
  });

  const tenantApply = async (port: number, extra: object = {}): Promise<Seen> =>
    unary('/portplane.v1.ConfigService/ApplyConfig', { tables: [{ name: 'tenant-a', rules: [rule('mine', port, echo.port)] }], ...extra });

  const generationOf = (s: Seen, path: string): string => {
    const decoded = methodCodec(path).deserialize(s.messages[0]!);
    return String((decoded.result as { generation: string }).generation);
  };

  /** How each method is exercised; the test fails if METHOD_ACCESS lists one that is not here. */
  const exercises: Record<string, () => Promise<void>> = {
    '/portplane.v1.ConfigService/ApplyConfig': async () => {
      const conflict = await tenantApply(secretPort);
      expect(conflict.status?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(conflict.status?.details).toContain('a table you cannot see');
      const ok = await tenantApply(await freePort());
      expect(ok.status?.code).toBe(grpc.status.OK);
      // Deleting by name: another's table, its own (the response's plan is redacted too), then one no longer running.
      const path = '/portplane.v1.ConfigService/ApplyConfig';
      expect((await unary(path, { delete_tables: ['tenant-b'] })).status?.code).toBe(grpc.status.PERMISSION_DENIED);
      const deleted = await unary(path, { delete_tables: ['tenant-a'] });
      expect(deleted.status?.code).toBe(grpc.status.OK);
      const missing = await unary(path, { delete_tables: ['tenant-a'] });
      expect(missing.status?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(missing.status?.details).toContain('delete_tables[0]: no table "tenant-a" is running');
      expect(methodCodec(path).deserialize(deleted.messages[0]!)).toMatchObject({ result: { plan_summary: { rules_removed: 1, tables_touched: ['tenant-a'] } } });
    },
    '/portplane.v1.ConfigService/ConfirmApply': async () => {
      const path = '/portplane.v1.ConfigService/ApplyConfig';
      const pending = await tenantApply(await freePort(), { confirm_timeout: { seconds: 60 } });
      expect(pending.status?.code).toBe(grpc.status.OK);
      const own = await unary('/portplane.v1.ConfigService/ConfirmApply', { generation: generationOf(pending, path) });
      expect(own.status?.code).toBe(grpc.status.OK);
      // A pending apply of the other tenant: the refusal must not name its table.
      const foreign = await admin.call<{ result: { generation: string } }>(
        'ApplyConfig',
        { tables: [{ name: SECRET_TABLE, rules: [rule(SECRET_RULE, secretPort, echo.port), rule('second', await freePort(), echo.port)] }], confirm_timeout: { seconds: 60 } },
        30_000,
        bearer(ADMIN),
      );
      const denied = await unary('/portplane.v1.ConfigService/ConfirmApply', { generation: foreign.result.generation });
      expect(denied.status?.code).toBe(grpc.status.PERMISSION_DENIED);
      const deniedCancel = await unary('/portplane.v1.ConfigService/CancelApply', { generation: foreign.result.generation });
      expect(deniedCancel.status?.code).toBe(grpc.status.PERMISSION_DENIED);
      // While it is pending, the tenant's own apply is refused: that error must not name it either.
      const blocked = await tenantApply(await freePort());
      expect(blocked.status?.code).not.toBe(grpc.status.OK);
      await admin.call('CancelApply', { generation: foreign.result.generation }, 30_000, bearer(ADMIN));
    },
    '/portplane.v1.ConfigService/CancelApply': async () => {
      const pending = await tenantApply(await freePort(), { confirm_timeout: { seconds: 60 } });
      const own = await unary('/portplane.v1.ConfigService/CancelApply', { generation: generationOf(pending, '/portplane.v1.ConfigService/ApplyConfig') });
      expect(own.status?.code).toBe(grpc.status.OK);
    },
    '/portplane.v1.ConfigService/GetConfig': async () => void (await unary('/portplane.v1.ConfigService/GetConfig', {})),
    '/portplane.v1.ConfigService/LastApplyResult': async () => {
      await admin.call('ApplyConfig', { tables: [{ name: SECRET_TABLE, rules: [rule(SECRET_RULE, secretPort, echo.port)] }] }, 30_000, bearer(ADMIN));
      await unary('/portplane.v1.ConfigService/LastApplyResult', {});
    },
    '/portplane.v1.ConfigService/GetCapabilities': async () => void (await unary('/portplane.v1.ConfigService/GetCapabilities', {})),
    '/portplane.v1.ConfigService/RollbackTo': async () => {
      expect((await unary('/portplane.v1.ConfigService/RollbackTo', { generation: 1 })).status?.code).toBe(grpc.status.PERMISSION_DENIED);
    },
    '/portplane.v1.ConfigService/ListApplyHistory': async () => {
      expect((await unary('/portplane.v1.ConfigService/ListApplyHistory', {})).status?.code).toBe(grpc.status.PERMISSION_DENIED);
    },
    '/portplane.v1.ConfigService/WatchApplyResults': async () => {
      expect((await serverStream('/portplane.v1.ConfigService/WatchApplyResults', {})).status?.code).toBe(grpc.status.PERMISSION_DENIED);
    },
    '/portplane.v1.ConfigService/Transaction': async () => {
      const path = '/portplane.v1.ConfigService/Transaction';
      const { serialize, deserialize } = methodCodec(path);
      const port = await freePort();
      await new Promise<void>((res) => {
        const out: Seen = { messages: [] };
        const call = raw.makeBidiStreamRequest(path, serialize, identity, bearer(TENANT), {});
        let step = 0;
        call.on('data', (b: Buffer) => {
          out.messages.push(b);
          const m = deserialize(b);
          // hello -> conflicting tables (rejected) -> good tables -> apply -> commit.
          if (m.hello) call.write({ tables: { tables: [{ name: 'tenant-a', rules: [rule('mine', secretPort, echo.port)] }] } });
          else if (m.rejected && step === 0) {
            step = 1;
            call.write({ tables: { tables: [{ name: 'tenant-a', rules: [rule('mine', port, echo.port)] }] } });
          } else if (m.validated) call.write({ command: 'TRANSACTION_COMMAND_APPLY' });
          else if (m.applied) call.write({ command: 'TRANSACTION_COMMAND_COMMIT' });
          else if (m.committed) call.end();
        });
        call.on('error', () => undefined);
        call.on('status', (status) => {
          out.status = status;
          record(path, out);
          expect(out.messages.map((b) => Object.keys(deserialize(b)).find((k) => k !== 'step'))).toEqual(
            expect.arrayContaining(['hello', 'rejected', 'validated', 'applied', 'committed']),
          );
          res();
        });
        setTimeout(() => call.cancel(), 15_000);
      });
    },
    '/portplane.v1.SessionService/ListSessions': async () => {
      await unary('/portplane.v1.SessionService/ListSessions', {});
      await unary('/portplane.v1.SessionService/ListSessions', { filter: { table: SECRET_TABLE } });
    },
    '/portplane.v1.SessionService/GetSession': async () => {
      expect(secretSessionId).not.toBe('');
      await unary('/portplane.v1.SessionService/GetSession', { id: secretSessionId });
    },
    '/portplane.v1.SessionService/GetSessionSummary': async () => void (await unary('/portplane.v1.SessionService/GetSessionSummary', {})),
    '/portplane.v1.SessionService/WatchSessions': async () => void (await serverStream('/portplane.v1.SessionService/WatchSessions', {})),
    '/portplane.v1.SessionService/DeleteSessions': async () => {
      await unary('/portplane.v1.SessionService/DeleteSessions', { filter: { table: SECRET_TABLE } });
      expect(secretSession.destroyed).toBe(false);
    },
    '/portplane.v1.TelemetryService/GetCounters': async () => {
      await unary('/portplane.v1.TelemetryService/GetCounters', {}, TENANT_READER);
      await unary('/portplane.v1.TelemetryService/GetCounters', {});
    },
    '/portplane.v1.TelemetryService/WatchCounters': async () => void (await serverStream('/portplane.v1.TelemetryService/WatchCounters', { interval_ms: 100 })),
    '/portplane.v1.TelemetryService/GetFloodCounters': async () => void (await unary('/portplane.v1.TelemetryService/GetFloodCounters', {})),
    '/portplane.v1.TraceService/Trace': async () => {
      const traced = await unary('/portplane.v1.TraceService/Trace', {
        protocol: 'PROTOCOL_TCP',
        source: { address: '127.0.0.1', port: 40000 },
        destination: { address: '127.0.0.1', port: secretPort },
      });
      expect(traced.status?.code).toBe(grpc.status.PERMISSION_DENIED);
    },
    // Reflection and health: hand-encoded requests (list_services = field 7; an empty message).
    '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': async () => {
      await new Promise<void>((res) => {
        const out: Seen = { messages: [] };
        const call = raw.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', identity, identity, bearer(TENANT), {});
        call.on('data', (b: Buffer) => out.messages.push(b));
        call.on('error', () => undefined);
        call.on('status', (status) => {
          out.status = status;
          record('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', out);
          res();
        });
        call.write(Buffer.from([0x3a, 0x00]));
        call.end();
      });
    },
    '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': async () => {
      await new Promise<void>((res) => {
        const out: Seen = { messages: [] };
        const call = raw.makeBidiStreamRequest('/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo', identity, identity, bearer(TENANT), {});
        call.on('data', (b: Buffer) => out.messages.push(b));
        call.on('error', () => undefined);
        call.on('status', (status) => {
          out.status = status;
          record('/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo', out);
          res();
        });
        call.write(Buffer.from([0x3a, 0x00]));
        call.end();
      });
    },
    // HA concerns every table: a scoped caller is refused before anything is read.
    '/portplane.v1.HAService/GetRole': async () => {
      expect((await unary('/portplane.v1.HAService/GetRole', {})).status?.code).toBe(grpc.status.PERMISSION_DENIED);
    },
    '/portplane.v1.HAService/SetRole': async () => {
      expect((await unary('/portplane.v1.HAService/SetRole', { role: 'HA_ROLE_STANDBY' })).status?.code).toBe(grpc.status.PERMISSION_DENIED);
    },
    '/portplane.v1.HAService/SyncSessions': async () => {
      const path = '/portplane.v1.HAService/SyncSessions';
      const { serialize } = methodCodec(path);
      await new Promise<void>((res) => {
        const out: Seen = { messages: [] };
        const call = raw.makeBidiStreamRequest(path, serialize, identity, bearer(TENANT), {});
        call.on('data', (b: Buffer) => out.messages.push(b));
        call.on('error', () => undefined);
        call.on('status', (status) => {
          out.status = status;
          record(path, out);
          res();
        });
        call.write({ hello: { node: 'tenant' } });
      });
      expect(seen.get(path)?.at(-1)?.status?.code).toBe(grpc.status.PERMISSION_DENIED);
    },
    '/grpc.health.v1.Health/Check': async () => void (await unary('/grpc.health.v1.Health/Check', Buffer.alloc(0))),
    '/grpc.health.v1.Health/Watch': async () => void (await serverStream('/grpc.health.v1.Health/Watch', Buffer.alloc(0), 200)),
    '/grpc.health.v1.Health/List': async () => void (await unary('/grpc.health.v1.Health/List', Buffer.alloc(0))),
  };

  it('exercises every method of METHOD_ACCESS', () => {
    expect(Object.keys(exercises).sort()).toEqual(Object.keys(METHOD_ACCESS).sort());
  });

  it.each(Object.keys(METHOD_ACCESS))('never shows the other table through %s', async (path) => {
    await exercises[path]!();
    const calls = seen.get(path) ?? [];
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      const texts = [
        ...call.messages.map((b) => b.toString('latin1')),
        call.status?.details ?? '',
        ...Object.entries(call.status?.metadata?.getMap() ?? {}).map(([k, v]) => `${k}: ${Buffer.isBuffer(v) ? v.toString('latin1') : v}`),
      ];
      for (const text of texts) {
        expect(text).not.toContain(SECRET_TABLE);
        expect(text).not.toContain(SECRET_RULE);
      }
    }
  });
});
