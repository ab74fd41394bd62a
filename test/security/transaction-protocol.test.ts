/**
 * Finding 9 of #17: a second `begin` on a Transaction stream is a protocol
 * error that ends the stream and releases the turn (it was ignored while the
 * stream kept the lock), and an error that ends a transaction arrives only
 * once the rollback it reports holds.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceClient } from '../../src/server/api-definition.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

type Stream = grpc.ClientDuplexStream<object, Record<string, unknown>>;

describe('Transaction protocol edges against a real daemon', () => {
  let d: TestDaemon;
  let client: grpc.Client;
  let config: ServiceClient;
  let echo: EchoServer;

  beforeAll(async () => {
    d = await startTestDaemon();
    client = new (serviceClient('ConfigService'))(d.target, grpc.credentials.createInsecure());
    config = new ServiceClient('ConfigService', d.target);
    echo = await startEchoServer();
  });
  afterAll(async () => {
    client.close();
    config.close();
    await d.stop();
    await echo.close();
  });

  const open = (): Stream => (client as unknown as { Transaction(o: object): Stream }).Transaction({ deadline: Date.now() + 20_000 });
  const next = (s: Stream): Promise<Record<string, unknown>> => new Promise((res, rej) => {
    s.once('data', res);
    s.once('error', rej);
  });
  const ended = (s: Stream): Promise<grpc.ServiceError> => new Promise((res) => s.once('error', res));

  it('ends the stream on a second begin and releases the turn', async () => {
    const first = open();
    first.write({ begin: {} });
    expect(Object.keys(await next(first))).toContain('hello');
    const error = ended(first);
    first.write({ begin: {} });
    const err = await error;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toContain('begin');
    // The turn is free: a new stream with no_wait gets its hello at once.
    const second = open();
    second.write({ begin: { no_wait: true } });
    expect(Object.keys(await next(second))).toContain('hello');
    second.end();
  });

  it('sends the error that ends an applied transaction only once its rollback holds', async () => {
    const before = await config.call<{ generation: string; tables: unknown[] }>('GetConfig', {});
    const s = open();
    expect(Object.keys(await next(s))).toContain('hello');
    s.write({ tables: { tables: [{ name: 'tx', rules: [singlePortRule('r', await freePort(), echo.port)] }] } });
    expect(Object.keys(await next(s))).toContain('validated');
    s.write({ command: 'TRANSACTION_COMMAND_APPLY' });
    expect(Object.keys(await next(s))).toContain('applied');
    const error = ended(s);
    // A protocol error after APPLY: the transaction ends and rolls back.
    s.write({ command: 'TRANSACTION_COMMAND_UNSPECIFIED' });
    const err = await error;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    const after = await config.call<{ generation: string; tables: unknown[]; pending?: unknown }>('GetConfig', {});
    expect(after.tables).toEqual(before.tables);
    expect(after.pending ?? null).toBeNull();
  });
});
