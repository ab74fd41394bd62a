/**
 * Finding 5 of #17: a cancelled apply still acted. CancelApply left the drain
 * deadline of the apply it undid running, so the restored rule's connection
 * was reset when the cancelled DRAIN fired; a Transaction with TERMINATE
 * reset sessions even when it was rolled back. Now an apply ends no session
 * before it is committed, and an undone one restores them and says so.
 * Against a real daemon, with a real connection through a real forward.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEffects } from '../../src/dataplane/apply-result.js';
import { noSessionEffects } from '../../src/dataplane/session-endings.js';
import type { ApplyResult__Output } from '../../src/generated/types/portplane/v1/ApplyResult.js';
import { serviceClient } from '../../src/server/api-definition.js';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { freePort, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

type Stream = grpc.ClientDuplexStream<object, Record<string, unknown>>;
type Result = ApplyResult__Output;

/** A connection through the forward that answers one echo at a time, or says it was reset. */
class Connection {
  private readonly socket: Socket;
  private readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<Connection> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const c = new Connection(socket);
    await c.echo('hello');
    return c;
  }

  /** Sends `text`; resolves with the echo, rejects if the connection ends first. */
  echo(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let got = '';
      const onData = (chunk: Buffer) => {
        got += chunk.toString();
        if (got.length < text.length) return;
        this.socket.off('data', onData);
        resolve(got);
      };
      this.socket.on('data', onData);
      void this.closed.then(() => reject(new Error(`connection ended before "${text}" came back`)));
      this.socket.write(text);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const effects = (r: Result): SessionEffects => ({ ...noSessionEffects(), ...r.session_effects });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a cancelled or rolled-back apply ends no session (finding 5)', () => {
  let d: TestDaemon;
  let raw: grpc.Client;
  let config: ServiceClient;
  let echo: EchoServer;
  const connections: Connection[] = [];

  beforeAll(async () => {
    d = await startTestDaemon();
    raw = new (serviceClient('ConfigService'))(d.target, grpc.credentials.createInsecure());
    config = new ServiceClient('ConfigService', d.target);
    echo = await startEchoServer();
  });
  afterEach(() => {
    for (const c of connections.splice(0)) c.destroy();
  });
  afterAll(async () => {
    raw.close();
    config.close();
    await d.stop();
    await echo.close();
  });

  /** A fresh table `name` forwarding one port, with one connection through it. */
  const forwarded = async (name: string): Promise<{ tables: object[]; conn: Connection }> => {
    const tables = [{ name, rules: [singlePortRule('r', await freePort(), echo.port)] }];
    await config.call('ApplyConfig', { tables });
    const port = ((tables[0] as { rules: { ports: { first: number } }[] }).rules[0] as { ports: { first: number } }).ports.first;
    const conn = await Connection.open(port);
    connections.push(conn);
    return { tables, conn };
  };

  it('CancelApply stops the drain deadline of the apply it undoes', async () => {
    const { conn } = await forwarded('drained');
    const res = await config.call<{ result: Result; pending: { generation: string } }>('ApplyConfig', {
      tables: [{ name: 'drained', rules: [] }],
      drain: { mode: 'DRAIN_MODE_DRAIN', timeout_ms: 200 },
      confirm_timeout: { seconds: 60 },
    });
    expect(effects(res.result).held).toBe(1);
    const cancelled = await config.call<{ result: Result; restored: { detail: string } }>('CancelApply', { generation: res.pending.generation });
    expect(effects(cancelled.result).restored).toBe(1);
    expect(cancelled.restored.detail).toContain('1 session(s) it would have ended continue');
    await sleep(700);
    expect(await conn.echo('after the cancelled deadline')).toBe('after the cancelled deadline');
  });

  it('a Transaction with TERMINATE that is rolled back leaves its sessions running', async () => {
    const { conn } = await forwarded('tx');
    const s = (raw as unknown as { Transaction(o: object): Stream }).Transaction({ deadline: Date.now() + 20_000 });
    const steps: Record<string, unknown>[] = [];
    s.on('data', (m: Record<string, unknown>) => steps.push(m));
    const next = async (key: string): Promise<Record<string, unknown>> => {
      for (let i = 0; i < 200 && !steps.some((m) => key in m); i++) await sleep(25);
      const found = steps.find((m) => key in m);
      if (!found) throw new Error(`no ${key} step; got ${JSON.stringify(steps)}`);
      return found[key] as Record<string, unknown>;
    };
    await next('hello');
    s.write({ tables: { tables: [{ name: 'tx', rules: [] }], drain: { mode: 'DRAIN_MODE_TERMINATE' } } });
    await next('validated');
    s.write({ command: 'TRANSACTION_COMMAND_APPLY' });
    const applied = (await next('applied')) as { result: Result };
    expect(effects(applied.result).held).toBe(1);
    expect(await conn.echo('while applied')).toBe('while applied');
    s.write({ command: 'TRANSACTION_COMMAND_ROLLBACK' });
    const rolledBack = (await next('rolled_back')) as { result: Result };
    expect(effects(rolledBack.result).restored).toBe(1);
    s.end();
    expect(await conn.echo('after the rollback')).toBe('after the rollback');
  });

  it('a Transaction whose stream is lost after APPLY rolls back without resetting anything', async () => {
    const { conn } = await forwarded('lost');
    const s = (raw as unknown as { Transaction(o: object): Stream }).Transaction({ deadline: Date.now() + 20_000 });
    const applied = new Promise<void>((resolve) =>
      s.on('data', (m: Record<string, unknown>) => {
        if ('hello' in m) s.write({ tables: { tables: [{ name: 'lost', rules: [] }], terminate_removed: true } });
        else if ('validated' in m) s.write({ command: 'TRANSACTION_COMMAND_APPLY' });
        else if ('applied' in m) resolve();
      }),
    );
    s.on('error', () => undefined);
    await applied;
    s.cancel();
    // The daemon rolls back when the stream ends; wait for the tables to be back.
    for (let i = 0; i < 200; i++) {
      const now = await config.call<{ tables: { name: string; rules: unknown[] }[]; pending?: unknown }>('GetConfig', {});
      if (!now.pending && now.tables.find((t) => t.name === 'lost')?.rules.length === 1) break;
      await sleep(25);
    }
    expect(await conn.echo('after the lost stream')).toBe('after the lost stream');
  });

  it('the same apply, confirmed, does end the session', async () => {
    const { conn } = await forwarded('confirmed');
    const res = await config.call<{ pending: { generation: string } }>('ApplyConfig', {
      tables: [{ name: 'confirmed', rules: [] }],
      terminate_removed: true,
      confirm_timeout: { seconds: 60 },
    });
    expect(await conn.echo('pending')).toBe('pending');
    const confirmed = await config.call<{ result: Result }>('ConfirmApply', { generation: res.pending.generation });
    expect(effects(confirmed.result).ended).toBe(1);
    await expect(conn.echo('gone')).rejects.toThrow(/ended/);
  });
});
