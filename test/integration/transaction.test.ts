/**
 * Acceptance: the Transaction stream over real gRPC with real sockets.
 * Hello, shadow validation with no socket touched, APPLY with per-port
 * outcomes, COMMIT, ROLLBACK, rollback when the stream ends between APPLY
 * and COMMIT (half-close, confirm timeout, and a client process killed with
 * SIGKILL), one transaction at a time (a second waits, or is ABORTED at
 * once with no_wait).
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { EventWatch, TransactionStream, type TransactionMessage, type WireEntry } from '../helpers/apply-streams.js';
import { REPO, ServiceClient, callError } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const rule = (name: string, first: number, last: number, target: number, extra: object = {}): object => ({
  name,
  protocol: 'PROTOCOL_TCP',
  listen_address: '127.0.0.1',
  ports: { first, last },
  target_address: '127.0.0.1',
  target_port: target,
  ...extra,
});

interface Hello {
  protocol_version: number;
  api_version: string;
  features: string[];
  limits: { max_tables: number };
  capabilities: { backend: string };
  generation: string;
  tables: { name: string }[];
  config_digest: string;
}
interface Applied {
  result: { generation: string; outcome: string; plan_summary: { ports_opened: number; ports_kept: number } };
  ports: { port: number; action: string; ok: boolean; errno: string; rule_id: string }[];
  pending: { generation: string; owner: string; deadline: unknown };
}
interface RolledBack {
  rolled_back_generation: string;
  result: { generation: string; config_digest: string } | null;
  reason: string;
  restored: WireEntry | null;
}
interface TxError {
  code: string;
  reason: string;
  metadata: Record<string, string>;
  field_violations: { field: string }[];
  port_failures: { port: number; errno: string }[];
}

describe('Transaction stream', () => {
  let d: TestDaemon;
  let client: ServiceClient;
  let echo: EchoServer;
  let base: number;

  beforeAll(async () => {
    echo = await startEchoServer('127.0.0.1', 'T:');
  });
  afterAll(async () => {
    await echo.close();
  });
  beforeEach(async () => {
    d = await startTestDaemon();
    client = new ServiceClient('ConfigService', d.target);
    base = await freePortBlock(10);
    await client.call('ApplyConfig', { tables: [{ name: 'base', rules: [rule('keep', base, base, echo.port)] }] });
  });
  afterEach(async () => {
    client.close();
    await d.stop();
  });

  const config = (): Promise<{ generation: string; config_digest: string; tables: unknown[]; pending: unknown }> => client.call('GetConfig');
  const open = async (begin?: object): Promise<{ tx: TransactionStream; hello: Hello }> => {
    const tx = new TransactionStream(client);
    if (begin) tx.send({ begin });
    const first = await tx.next();
    return { tx, hello: first.hello as Hello };
  };
  const stage = async (tx: TransactionStream, tables: object[], options: object = {}): Promise<TransactionMessage> => {
    tx.send({ tables: { tables, ...options } });
    return tx.next();
  };

  it('hello, shadow validation touching no socket, APPLY with per-port outcomes, COMMIT', async () => {
    const before = await config();
    const { tx, hello } = await open();
    expect(hello).toMatchObject({
      protocol_version: 1,
      api_version: 'portplane.v1',
      generation: before.generation,
      config_digest: before.config_digest,
      capabilities: { backend: 'kernel' },
    });
    expect(hello.features).toEqual(expect.arrayContaining(['shadow_validation', 'rollback_on_disconnect', 'no_wait', 'confirm_timeout']));
    expect(hello.limits.max_tables).toBeGreaterThan(0);
    expect(hello.tables.map((t) => t.name)).toEqual(['base']);

    // Invalid tables: violations with field paths, and the stream stays open.
    const rejected = await stage(tx, [{ name: 'web', rules: [rule('bad', base + 3, base + 2, echo.port)] }]);
    const error = rejected.rejected as TxError;
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.field_violations.map((v) => v.field)).toContain('tables[web].rules[0].ports');

    const validated = await stage(tx, [{ name: 'web', rules: [rule('w', base + 2, base + 3, echo.port)] }], { comment: 'via transaction' });
    const plan = (validated.validated as { plan: { summary: { ports_opened: number } } }).plan;
    expect(plan.summary.ports_opened).toBe(2);
    // The shadow copy runs nothing.
    expect(await listeningSocketInodes(base + 2)).toEqual([]);
    expect((await config()).generation).toBe(before.generation);

    tx.command('APPLY');
    const applied = (await tx.next()).applied as Applied;
    expect(applied.result).toMatchObject({ generation: '2', outcome: 'APPLY_OUTCOME_PENDING' });
    expect(applied.result.plan_summary).toMatchObject({ ports_opened: 2, ports_kept: 1 });
    expect(applied.ports.map((p) => [p.port, p.action, p.ok])).toEqual([
      [base + 2, 'PORT_ACTION_OPEN', true],
      [base + 3, 'PORT_ACTION_OPEN', true],
    ]);
    expect(applied.pending).toMatchObject({ generation: '2', owner: 'PENDING_OWNER_TRANSACTION', deadline: null });
    expect((await roundTrip(base + 2, 'x')).toString()).toBe('T:x');

    // Nobody else can apply or confirm it meanwhile.
    const other = await callError(client.call('ApplyConfig', { tables: [] , replace_all: true }));
    expect(other.code).toBe(grpc.status.FAILED_PRECONDITION);
    const outside = await callError(client.call('ConfirmApply', { generation: 2 }));
    expect(decodeStatusDetails(outside.metadata).find((x) => x.type === 'ErrorInfo')).toMatchObject({ reason: 'PENDING_OWNED_BY_TRANSACTION' });

    tx.command('COMMIT');
    const committed = (await tx.next()).committed as { result: { generation: string; outcome: string } };
    expect(committed.result).toMatchObject({ generation: '2', outcome: 'APPLY_OUTCOME_APPLIED' });
    expect((await tx.finished()).code).toBe(grpc.status.OK);
    expect(await config()).toMatchObject({ generation: '2', pending: null });
    // Newest first: the refused ApplyConfig came after the transaction's APPLY.
    const history = (await client.call<{ entries: WireEntry[] }>('ListApplyHistory', { limit: 2 })).entries;
    expect(history).toHaveLength(2);
    expect(history[0]).toMatchObject({ generation: '0', outcome: 'APPLY_HISTORY_OUTCOME_REJECTED', trigger: 'APPLY_TRIGGER_APPLY' });
    expect(history[1]).toMatchObject({ generation: '2', outcome: 'APPLY_HISTORY_OUTCOME_COMMITTED', trigger: 'APPLY_TRIGGER_TRANSACTION', comment: 'via transaction' });
  });

  it('takes the same apply options as ApplyConfig: drain is checked when staged and takes effect at COMMIT', async () => {
    // An established connection on the port the transaction removes.
    const held = connect({ host: '127.0.0.1', port: base });
    const closed = new Promise<void>((res) => held.once('close', () => res()));
    held.on('error', () => undefined);
    let received = '';
    const greeting = new Promise<string>((res) =>
      held.on('data', (c: Buffer) => {
        received += c.toString();
        if (received === 'T:hi') res(received);
      }),
    );
    held.write('hi');
    expect(await greeting).toBe('T:hi');

    const { tx } = await open();
    const contradiction = await stage(tx, [{ name: 'base', rules: [] }], { drain: { mode: 'DRAIN_MODE_KEEP' }, terminate_removed: true });
    expect((contradiction.rejected as TxError).field_violations.map((v) => v.field)).toContain('terminate_removed');

    await stage(tx, [{ name: 'base', rules: [] }], { drain: { mode: 'DRAIN_MODE_TERMINATE' } });
    tx.command('APPLY');
    expect(((await tx.next()).applied as Applied).result.outcome).toBe('APPLY_OUTCOME_PENDING');
    // The port is closed at APPLY, but its session is only held: a ROLLBACK would keep it.
    expect(await listeningSocketInodes(base)).toEqual([]);
    received = '';
    const stillThere = new Promise<string>((res) => held.on('data', () => received === 'again' && res(received)));
    held.write('again');
    expect(await stillThere).toBe('again');
    // TERMINATE takes effect at COMMIT.
    tx.command('COMMIT');
    expect((await tx.next()).committed).toBeTruthy();
    await closed;
  });

  it('the tables step deletes tables by name (delete_tables): staged without touching a socket, removed at APPLY', async () => {
    await client.call('ApplyConfig', { tables: [{ name: 'gone', rules: [rule('g', base + 5, base + 5, echo.port)] }] });
    const keptInode = await listeningSocketInodes(base);
    const { tx } = await open();
    const unknown = await stage(tx, [], { delete_tables: ['nope'] });
    expect((unknown.rejected as TxError).field_violations.map((v) => v.field)).toEqual(['delete_tables[0]']);
    const validated = await stage(tx, [], { delete_tables: ['gone'] });
    expect((validated.validated as { plan: { summary: { rules_removed: number; ports_closed: number } } }).plan.summary).toMatchObject({ rules_removed: 1, ports_closed: 1 });
    expect(await listeningSocketInodes(base + 5)).toHaveLength(1);
    tx.command('APPLY');
    expect(((await tx.next()).applied as Applied).result).toMatchObject({ generation: '3', outcome: 'APPLY_OUTCOME_PENDING' });
    expect(await listeningSocketInodes(base + 5)).toEqual([]);
    tx.command('COMMIT');
    expect((await tx.next()).committed).toBeTruthy();
    expect(((await config()).tables as { name: string }[]).map((t) => t.name)).toEqual(['base']);
    expect(await listeningSocketInodes(base)).toEqual(keptInode);
  });

  it('ROLLBACK after APPLY restores the previous tables as a new generation, kept port on the same socket', async () => {
    const before = await config();
    const keptInode = await listeningSocketInodes(base);
    const { tx } = await open();
    await stage(tx, [{ name: 'base', rules: [rule('keep', base, base, echo.port)] }, { name: 'new', rules: [rule('n', base + 4, base + 4, echo.port)] }]);
    tx.command('APPLY');
    expect((await tx.next()).applied).toBeTruthy();
    expect(await listeningSocketInodes(base + 4)).toHaveLength(1);
    tx.command('ROLLBACK');
    const rolledBack = (await tx.next()).rolled_back as RolledBack;
    expect(rolledBack.rolled_back_generation).toBe('2');
    expect(rolledBack.reason).toBe('the client asked for ROLLBACK');
    expect(rolledBack.result).toMatchObject({ generation: '3', config_digest: before.config_digest });
    expect(rolledBack.restored).toMatchObject({ trigger: 'APPLY_TRIGGER_ROLLBACK', restored_generation: '1' });
    expect((await tx.finished()).code).toBe(grpc.status.OK);
    expect(await listeningSocketInodes(base + 4)).toEqual([]);
    expect(await listeningSocketInodes(base)).toEqual(keptInode);
    expect((await config()).tables).toEqual(before.tables);
  });

  it('a stream that ends between APPLY and COMMIT rolls back; one that ends before APPLY changes nothing', async () => {
    const before = await config();
    const early = await open();
    await stage(early.tx, [{ name: 'x', rules: [rule('x', base + 5, base + 5, echo.port)] }]);
    early.tx.call.end();
    expect((await early.tx.finished()).code).toBe(grpc.status.OK);
    expect(await config()).toMatchObject({ generation: before.generation, config_digest: before.config_digest });

    const late = await open();
    await stage(late.tx, [{ name: 'x', rules: [rule('x', base + 5, base + 5, echo.port)] }]);
    late.tx.command('APPLY');
    expect((await late.tx.next()).applied).toBeTruthy();
    late.tx.call.end();
    const rolledBack = (await late.tx.next()).rolled_back as RolledBack;
    expect(rolledBack.reason).toContain('ended the stream before COMMIT');
    expect((await late.tx.finished()).code).toBe(grpc.status.OK);
    expect(await config()).toMatchObject({ config_digest: before.config_digest, pending: null });
    expect(await listeningSocketInodes(base + 5)).toEqual([]);
  });

  it('a transaction confirm_timeout rolls back without COMMIT and tells the stream', async () => {
    const before = await config();
    const { tx } = await open();
    await stage(tx, [{ name: 'x', rules: [rule('x', base + 6, base + 6, echo.port)] }], { confirm_timeout: { seconds: 0, nanos: 300_000_000 } });
    tx.command('APPLY');
    const applied = (await tx.next()).applied as Applied;
    expect(applied.pending.deadline).not.toBeNull();
    const rolledBack = (await tx.next()).rolled_back as RolledBack;
    expect(rolledBack.reason).toContain('confirm timeout');
    expect((await tx.finished()).code).toBe(grpc.status.OK);
    expect((await config()).config_digest).toBe(before.config_digest);
  });

  it('APPLY of a shadow overtaken by another commit fails in band and changes nothing', async () => {
    const { tx } = await open();
    await stage(tx, [{ name: 'x', rules: [rule('x', base + 7, base + 7, echo.port)] }]);
    await client.call('ApplyConfig', { tables: [{ name: 'y', rules: [rule('y', base + 8, base + 8, echo.port)] }] });
    tx.command('APPLY');
    const failed = (await tx.next()).apply_failed as TxError;
    expect(failed).toMatchObject({ code: 'ABORTED', reason: 'GENERATION_MISMATCH', metadata: { current_generation: '2' } });
    expect(await listeningSocketInodes(base + 7)).toEqual([]);
    // Re-validated against the new generation, it applies.
    await stage(tx, [{ name: 'x', rules: [rule('x', base + 7, base + 7, echo.port)] }]);
    tx.command('APPLY');
    expect(((await tx.next()).applied as Applied).result.generation).toBe('3');
    tx.command('COMMIT');
    expect((await tx.next()).committed).toBeTruthy();
  });

  it('a second transaction waits for the first; with no_wait it is ABORTED at once', async () => {
    const first = await open();
    const second = new TransactionStream(client);
    const third = new TransactionStream(client);
    third.send({ begin: { no_wait: true } });
    const status = await third.finished();
    expect(status.code).toBe(grpc.status.ABORTED);
    expect(decodeStatusDetails(status.metadata).find((x) => x.type === 'ErrorInfo')).toMatchObject({ reason: 'TRANSACTION_ACTIVE' });

    await stage(first.tx, [{ name: 'w', rules: [rule('w', base + 2, base + 2, echo.port)] }]);
    first.tx.command('APPLY');
    expect((await first.tx.next()).applied).toBeTruthy();
    // The second has had its stream open all along and heard nothing.
    expect(second.unread).toBe(0);
    first.tx.command('COMMIT');
    expect((await first.tx.next()).committed).toBeTruthy();
    // Its hello comes after the first committed, and shows that commit.
    const hello = (await second.next()).hello as Hello;
    expect(hello.generation).toBe('2');
    expect(hello.tables.map((t) => t.name)).toEqual(['base', 'w']);
    second.command('ROLLBACK');
    expect(((await second.next()).rolled_back as RolledBack).rolled_back_generation).toBe('0');
    expect((await second.finished()).code).toBe(grpc.status.OK);
  });

  it('CancelApply from outside rolls the transaction back and ends its stream; steps out of order end it with FAILED_PRECONDITION', async () => {
    const before = await config();
    const { tx } = await open();
    await stage(tx, [{ name: 'c', rules: [rule('c', base + 3, base + 3, echo.port)] }]);
    tx.command('APPLY');
    const applied = (await tx.next()).applied as Applied;
    await client.call('CancelApply', { generation: applied.pending.generation, reason: 'operator' });
    const rolledBack = (await tx.next()).rolled_back as RolledBack;
    expect(rolledBack).toMatchObject({ rolled_back_generation: applied.pending.generation });
    expect(rolledBack.reason).toContain('operator');
    expect((await tx.finished()).code).toBe(grpc.status.OK);
    expect((await config()).config_digest).toBe(before.config_digest);

    const early = await open();
    early.tx.command('APPLY');
    const status = await early.tx.finished();
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.details).toContain('APPLY before any tables');

    const late = await open();
    await stage(late.tx, [{ name: 'c', rules: [rule('c', base + 3, base + 3, echo.port)] }]);
    late.tx.command('APPLY');
    expect((await late.tx.next()).applied).toBeTruthy();
    late.tx.send({ tables: { tables: [] } });
    const lateStatus = await late.tx.finished();
    expect(lateStatus.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(decodeStatusDetails(lateStatus.metadata).find((x) => x.type === 'ErrorInfo')).toMatchObject({ reason: 'TRANSACTION_STEP_OUT_OF_ORDER' });
    // What it applied is undone.
    const deadline = Date.now() + 10_000;
    while ((await config()).pending && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await config()).toMatchObject({ config_digest: before.config_digest, pending: null });
    expect(await listeningSocketInodes(base + 3)).toEqual([]);
  });

  it('killing the client process between APPLY and COMMIT rolls back as soon as its stream is cancelled', async () => {
    const before = await config();
    const watch = new EventWatch(client);
    await watch.waitFor((e) => e.kind === 'APPLY_EVENT_KIND_CURRENT');
    const tables = [{ name: 'base', rules: [rule('keep', base, base, echo.port)] }, { name: 'k', rules: [rule('k', base + 9, base + 9, echo.port)] }];
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/helpers/transaction-client.ts'), d.target, JSON.stringify(tables)], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const exited = new Promise((r) => child.once('exit', r));
    const deadline = Date.now() + 30_000;
    while (!out.includes('APPLIED') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(out, err).toMatch(/^APPLIED 2$/m);
    expect(await listeningSocketInodes(base + 9)).toHaveLength(1);

    const killedAt = Date.now();
    child.kill('SIGKILL');
    await exited;
    // The bound is for liveness only: it is below the server's keepalive
    // detection (15 s + 10 s), so the rollback must come from the socket
    // closing with the process, which cancels the stream at once.
    const rolledBack = await watch.waitFor((e) => e.kind === 'APPLY_EVENT_KIND_ROLLED_BACK', 20_000);
    console.log(`rollback observed ${Date.now() - killedAt} ms after SIGKILL of the client`);
    watch.close();
    // No confirm timeout was set: only the stream's cancellation could have done it.
    expect(rolledBack.entry).toMatchObject({ generation: '2', comment: 'killed client', trigger: 'APPLY_TRIGGER_TRANSACTION' });
    expect(rolledBack.entry?.detail).toContain('stream was cancelled');
    expect(await config()).toMatchObject({ generation: '3', config_digest: before.config_digest, pending: null });
    expect(await listeningSocketInodes(base + 9)).toEqual([]);
  });
});
