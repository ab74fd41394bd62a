/**
 * Findings 3, 6 and 7 of #17 against a real daemon: every string a caller
 * sends is bounded with a field-path error (comment 4 KiB; names, addresses
 * and reasons 253 bytes), errors quote at most ~100 characters of a value
 * (so a long value still comes back as the error, within a C-core client's
 * 8 KiB metadata limit), and a google.protobuf.Duration outside what the
 * type allows is INVALID_ARGUMENT naming the field. Nothing changes on any of
 * these requests.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { callError, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const fields = (err: grpc.ServiceError): string[] => {
  const bad = decodeStatusDetails(err.metadata).find((d) => d.type === 'BadRequest');
  return bad?.type === 'BadRequest' ? bad.fieldViolations.map((v) => v.field) : [];
};

/** Bytes of every header and trailer the client received with the error. */
const metadataBytes = (err: grpc.ServiceError): number =>
  Object.entries(err.metadata.getMap()).reduce((n, [k, v]) => n + k.length + (Buffer.isBuffer(v) ? Math.ceil((v.length * 4) / 3) : String(v).length), 0) +
  encodeURIComponent(err.details).length;

describe('bounded input against a real daemon', () => {
  let d: TestDaemon;
  let client: ServiceClient;
  let echo: EchoServer;
  let port: number;

  beforeAll(async () => {
    d = await startTestDaemon();
    client = new ServiceClient('ConfigService', d.target);
    echo = await startEchoServer();
    port = await freePort();
    await client.call('ApplyConfig', { tables: [{ name: 'web', rules: [singlePortRule('r', port, echo.port)] }] });
  });
  afterAll(async () => {
    client.close();
    await d.stop();
    await echo.close();
  });

  const unchanged = async (): Promise<void> => {
    const config = await client.call<{ generation: string; tables: unknown[] }>('GetConfig', {});
    expect(config.generation).toBe('1');
    const history = await client.call<{ entries: { comment: string }[] }>('ListApplyHistory', {});
    expect(history.entries.every((e) => e.comment.length <= 4096)).toBe(true);
  };

  it('rejects a comment over 4 KiB on ApplyConfig and RollbackTo, and stores none of it (finding 3)', async () => {
    const comment = 'x'.repeat(15 * 1024 * 1024 / 16);
    const apply = await callError(client.call('ApplyConfig', { tables: [{ name: 'web', rules: [singlePortRule('r', port, echo.port)] }], comment }));
    expect(apply.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fields(apply)).toEqual(['comment']);
    const rollback = await callError(client.call('RollbackTo', { generation: 1, comment }));
    expect(rollback.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fields(rollback)).toEqual(['comment']);
    await unchanged();
  });

  it('accepts a comment of exactly 4 KiB', async () => {
    const res = await client.call<{ result: { generation: string } }>('ApplyConfig', {
      tables: [{ name: 'web', rules: [singlePortRule('r', port, echo.port)] }],
      comment: 'y'.repeat(4096),
      validate_only: true,
    });
    expect(res).toBeDefined();
  });

  it('rejects names, addresses and a cancel reason over 253 bytes with their field paths (finding 3)', async () => {
    const long = 'a'.repeat(300);
    const err = await callError(
      client.call('ApplyConfig', { tables: [{ name: 'web', rules: [{ ...singlePortRule(long, port, echo.port), target_address: long, interface: long }] }] }),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fields(err).sort()).toEqual(['tables[web].rules[0].interface', 'tables[web].rules[0].name', 'tables[web].rules[0].target_address']);
    const reason = await callError(client.call('CancelApply', { generation: 1, reason: 'r'.repeat(254) }));
    expect(reason.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fields(reason)).toEqual(['reason']);
    await unchanged();
  });

  it('quotes at most ~100 characters of a long value, so the error itself arrives (finding 6)', async () => {
    // 200 KB values: before, they came back whole in the message and details.
    const huge = '9'.repeat(200_000);
    const cases: object[] = [
      { tables: [{ name: huge, rules: [] }] },
      { tables: [{ name: 'web', rules: [{ ...singlePortRule('r', port, echo.port), listen_address: huge }] }] },
      { tables: [{ name: 'web', rules: [{ ...singlePortRule('r', port, echo.port), allow: [huge] }] }] },
    ];
    for (const request of cases) {
      const err = await callError(client.call('ApplyConfig', request));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details.length).toBeLessThan(2048);
      expect(metadataBytes(err)).toBeLessThan(8192);
      expect(err.details).not.toContain('9'.repeat(101));
    }
    const sessions = new ServiceClient('SessionService', d.target);
    try {
      const err = await callError(sessions.call('GetSession', { id: huge }));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(err.details.length).toBeLessThan(512);
    } finally {
      sessions.close();
    }
    await unchanged();
  });

  it.each([
    [{ seconds: 10, nanos: -1 }, 'confirm_timeout'],
    [{ seconds: 0, nanos: 1_000_000_000 }, 'confirm_timeout.nanos'],
    [{ seconds: 0, nanos: -5 }, 'confirm_timeout'],
    [{ seconds: -1, nanos: 0 }, 'confirm_timeout'],
    [{ seconds: 86_401, nanos: 0 }, 'confirm_timeout'],
    [{ seconds: '315576000001', nanos: 0 }, 'confirm_timeout.seconds'],
  ])('rejects confirm_timeout %j with a field-path error (finding 7)', async (timeout, field) => {
    const err = await callError(client.call('ApplyConfig', { tables: [{ name: 'web', rules: [singlePortRule('r', port, echo.port)] }], confirm_timeout: timeout }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fields(err)).toEqual([field]);
    const rollback = await callError(client.call('RollbackTo', { generation: 1, confirm_timeout: timeout }));
    expect(rollback.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fields(rollback)).toEqual([field]);
    await unchanged();
  });
});
