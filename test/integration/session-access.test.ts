/**
 * Access control of SessionService and TelemetryService on a real daemon
 * with bearer tokens: readers list and watch, only operators delete, and a
 * table-scoped caller sees, watches, deletes and counts only the sessions
 * of its tables.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../src/auth/policy.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { bearer, callError, removeDir, ServiceClient, tempStateDir } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const TOKENS = {
  admin: generateToken('admin-bot'),
  reader: generateToken('reader-bot'),
  tenantReader: generateToken('tenant-reader'),
  tenantOperator: generateToken('tenant-operator'),
};

const POLICY = `
tokens:
  admin-bot: ${hashToken(TOKENS.admin)}
  reader-bot: ${hashToken(TOKENS.reader)}
  tenant-reader: ${hashToken(TOKENS.tenantReader)}
  tenant-operator: ${hashToken(TOKENS.tenantOperator)}
grants:
  - { token: admin-bot, role: admin }
  - { token: reader-bot, role: reader }
  - { token: tenant-reader, role: reader, tables: ["tenant-a"] }
  - { token: tenant-operator, role: operator, tables: ["tenant-a"] }
`;

interface Listed {
  id: string;
  table: string;
}

describe('who may see and delete which sessions', () => {
  let policyDir: string;
  let d: TestDaemon;
  let echo: EchoServer;
  let sessions: ServiceClient;
  let telemetry: ServiceClient;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    echo = await startEchoServer();
    policyDir = await tempStateDir();
    await writeFile(join(policyDir, 'policy.yaml'), POLICY);
    d = await startTestDaemon({ policy: await loadPolicyFile(join(policyDir, 'policy.yaml')) });
    const config = new ServiceClient('ConfigService', d.target);
    const base = await freePortBlock(2);
    const table = (name: string, port: number): object => ({
      name,
      rules: [{ name: 'r', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: port, last: port }, target_address: '127.0.0.1', target_port: echo.port }],
    });
    await config.call('ApplyConfig', { tables: [table('tenant-a', base), table('tenant-b', base + 1)] }, 30_000, bearer(TOKENS.admin));
    config.close();
    for (const port of [base, base, base + 1, base + 1]) {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      sockets.push(socket);
    }
    sessions = new ServiceClient('SessionService', d.target);
    telemetry = new ServiceClient('TelemetryService', d.target);
    const deadline = Date.now() + 20_000;
    while (echo.sockets.size < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    sessions.close();
    telemetry.close();
    await d.stop();
    await removeDir(policyDir);
    await echo.close();
  });

  const list = async (token: string): Promise<Listed[]> =>
    (await sessions.call<{ sessions: Listed[] }>('ListSessions', {}, 30_000, bearer(token))).sessions;

  it('a table-scoped reader lists, gets, summarises and watches only its tables', async () => {
    expect((await list(TOKENS.reader)).map((s) => s.table).sort()).toEqual(['tenant-a', 'tenant-a', 'tenant-b', 'tenant-b']);
    const mine = await list(TOKENS.tenantReader);
    expect(mine.map((s) => s.table)).toEqual(['tenant-a', 'tenant-a']);
    const page = await sessions.call<{ total?: string }>('ListSessions', {}, 30_000, bearer(TOKENS.tenantReader));
    expect(page.total).toBeUndefined();

    const theirs = (await list(TOKENS.reader)).find((s) => s.table === 'tenant-b')!;
    const hidden = await callError(sessions.call('GetSession', { id: theirs.id }, 30_000, bearer(TOKENS.tenantReader)));
    expect(hidden.code).toBe(grpc.status.NOT_FOUND);
    const summary = await sessions.call<{ total: string }>('GetSessionSummary', {}, 30_000, bearer(TOKENS.tenantReader));
    expect(summary.total).toBe('2');

    const watch = (sessions.raw as unknown as Record<string, (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<{ events: { kind: string; session: Listed | null }[] }>>).WatchSessions!.call(
      sessions.raw,
      {},
      bearer(TOKENS.tenantReader),
    );
    const events: { kind: string; session: Listed | null }[] = [];
    await new Promise<void>((res, rej) => {
      watch.on('data', (m: { events: typeof events }) => {
        events.push(...m.events);
        if (events.some((e) => e.kind === 'SESSION_EVENT_KIND_SNAPSHOT_END')) res();
      });
      watch.on('error', rej);
    });
    watch.cancel();
    expect(events.filter((e) => e.session).map((e) => e.session!.table)).toEqual(['tenant-a', 'tenant-a']);

    const counters = await telemetry.call<{ global: unknown; tables: { table: string }[]; rules: { table: string }[] }>('GetCounters', {}, 30_000, bearer(TOKENS.tenantReader));
    expect(counters.global).toBeNull();
    expect(counters.tables.map((t) => t.table)).toEqual(['tenant-a']);
    expect(counters.rules.map((r) => r.table)).toEqual(['tenant-a']);
  });

  it('readers may not delete; a scoped operator deletes only its own tables\' sessions', async () => {
    const all = await list(TOKENS.reader);
    const denied = await callError(sessions.call('DeleteSessions', { all: true }, 30_000, bearer(TOKENS.reader)));
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);

    const theirs = all.find((s) => s.table === 'tenant-b')!;
    expect(await sessions.call('DeleteSessions', { ids: [theirs.id] }, 30_000, bearer(TOKENS.tenantOperator))).toEqual({ deleted: '0', not_found: '1' });
    expect(await sessions.call('DeleteSessions', { all: true }, 30_000, bearer(TOKENS.tenantOperator))).toEqual({ deleted: '2', not_found: '0' });
    expect((await list(TOKENS.reader)).map((s) => s.table)).toEqual(['tenant-b', 'tenant-b']);
  });
});
