/**
 * The pending-apply state machine (src/control/pending-applies.ts), every
 * transition, on real parts: the kernel dataplane listening on 127.0.0.1,
 * a ledger in a temporary state directory, the apply pipeline, a serial
 * queue (see controller-parts.ts). Failures are real too: a state.json that is a directory (the
 * confirmation cannot be saved), a torn-down dataplane (the rollback throws).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Table } from '../../src/config/model.js';
import { ApplyPendingError, NotPendingError, PendingOwnedByTransactionError } from '../../src/control/pending-errors.js';
import { ControllerParts, forwards, loopbackRule as rule } from '../helpers/controller-parts.js';
import { removeDir, tempStateDir } from '../helpers/daemon-process.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';

describe('pending-apply state machine', () => {
  let dir: string;
  let echo: EchoServer;
  let parts: ControllerParts;
  let confirmedPort: number;
  let pendingPort: number;
  const confirmedTables = (): Table[] => [{ name: 'web', rules: [rule('a', confirmedPort, echo.port)] }];
  const pendingTables = (): Table[] => [{ name: 'web', rules: [rule('b', pendingPort, echo.port)] }];

  beforeEach(async () => {
    dir = await tempStateDir();
    echo = await startEchoServer();
    confirmedPort = await freePortBlock(2, 33000, 34000);
    pendingPort = confirmedPort + 1;
    parts = await ControllerParts.open(dir);
    await parts.apply(confirmedTables());
  });

  afterEach(async () => {
    await parts.close();
    await echo.close();
    await removeDir(dir);
  });

  it('idle → pending: the apply runs at once, other applies are refused, validate_only still works', async () => {
    expect(parts.pendings.state).toBe('idle');
    const { pending, result } = await parts.apply(pendingTables(), { confirmTimeoutMs: 60_000 });
    expect(parts.pendings.state).toBe('pending');
    expect(result.outcome).toBe('pending');
    expect(pending).toMatchObject({ generation: 2, baseGeneration: 1, owner: 'confirm' });
    expect(await forwards(pendingPort)).toBe(true);
    expect(await forwards(confirmedPort)).toBe(false);
    await expect(parts.apply(confirmedTables())).rejects.toBeInstanceOf(ApplyPendingError);
    expect((await parts.apply(confirmedTables(), { validateOnly: true })).result.outcome).toBe('validated');
    expect(parts.pendings.state).toBe('pending');
  });

  it('pending → confirming → idle: confirm commits; a retried confirm succeeds; cancel then finds nothing pending', async () => {
    await parts.apply(pendingTables(), { confirmTimeoutMs: 60_000 });
    const confirmed = await parts.confirm(2);
    expect(confirmed).toMatchObject({ generation: 2, outcome: 'applied' });
    expect(parts.pendings.state).toBe('idle');
    expect(parts.pendings.info()).toBeUndefined();
    expect((await parts.confirm(2)).generation).toBe(2);
    await expect(parts.cancel(2)).rejects.toThrow(/not pending: it was committed/);
    expect(parts.ctx.history.find(2)?.outcome).toBe('committed');
    expect(await forwards(pendingPort)).toBe(true);
  });

  it('pending → rolling_back → idle: cancel re-applies the confirmed tables as the next generation', async () => {
    await parts.apply(pendingTables(), { confirmTimeoutMs: 60_000 });
    const rollback = await parts.cancel(2, { reason: 'test', drain: { mode: 'terminate', timeoutMs: 0 } });
    expect(parts.pendings.state).toBe('idle');
    expect(rollback.result.generation).toBe(3);
    expect(rollback.rolledBack).toMatchObject({ generation: 2, outcome: 'rolled_back', detail: 'rolled back: test' });
    expect(rollback.restored).toMatchObject({ generation: 3, restoredGeneration: 1, rolledBackGeneration: 2, trigger: 'rollback' });
    expect(await forwards(confirmedPort)).toBe(true);
    expect(await forwards(pendingPort)).toBe(false);
    await expect(parts.confirm(2)).rejects.toThrow(/not pending: rolled back: test/);
  });

  it('pending → rolling_back → idle by the confirm timeout', async () => {
    await parts.apply(pendingTables(), { confirmTimeoutMs: 50 });
    for (let i = 0; i < 200 && parts.pendings.state !== 'idle'; i++) await new Promise((r) => setTimeout(r, 10));
    await parts.queue.idle();
    expect(parts.pendings.state).toBe('idle');
    expect(parts.ctx.history.find(2)?.detail).toMatch(/no confirmation within its confirm timeout of \d+ ms/);
    expect(parts.ctx.running.generation).toBe(3);
    expect(await forwards(confirmedPort)).toBe(true);
  });

  it('a confirm that arrives after the deadline, before the timer ran, rolls back and is refused', async () => {
    await parts.apply(pendingTables(), { confirmTimeoutMs: 1 });
    // Past the deadline without yielding: the timer cannot have run, so the confirm is queued first.
    const until = Date.now() + 5;
    while (Date.now() < until);
    const late = parts.confirm(2);
    await expect(late).rejects.toBeInstanceOf(NotPendingError);
    await expect(late).rejects.toThrow(/confirm timeout passed, so it was rolled back/);
    await parts.queue.idle();
    expect(parts.pendings.state).toBe('idle');
    expect(parts.ctx.running.generation).toBe(3);
  });

  it('transaction ownership: only the owning stream confirms; anyone may cancel', async () => {
    const { pending } = await parts.apply(pendingTables(), {}, 'tx-1');
    expect(pending).toMatchObject({ owner: 'transaction' });
    expect(pending?.deadline).toBeUndefined();
    await expect(parts.confirm(2)).rejects.toBeInstanceOf(PendingOwnedByTransactionError);
    await expect(parts.confirm(2, 'tx-2')).rejects.toBeInstanceOf(PendingOwnedByTransactionError);
    expect(parts.pendings.state).toBe('pending');
    expect((await parts.confirm(2, 'tx-1')).outcome).toBe('applied');
    expect(parts.pendings.state).toBe('idle');

    await parts.apply(confirmedTables(), {}, 'tx-3');
    await parts.cancel(3, { reason: 'stream ended' });
    expect(parts.pendings.state).toBe('idle');
    expect(await forwards(pendingPort)).toBe(true);
  });

  it('confirming → pending: a confirmation that cannot be saved leaves the apply pending; the next one commits', async () => {
    await parts.apply(pendingTables(), { confirmTimeoutMs: 60_000 });
    const state = join(dir, 'state.json');
    await rm(state);
    await mkdir(state);
    await expect(parts.confirm(2)).rejects.toThrow(/confirm of generation 2 not saved .* it is still pending/);
    expect(parts.pendings.state).toBe('pending');
    expect(parts.pendings.info()?.entry.outcome).toBe('pending');
    await rm(state, { recursive: true });
    expect((await parts.confirm(2)).outcome).toBe('applied');
    expect(parts.pendings.state).toBe('idle');
  });

  it('rolling_back → pending: a rollback that throws leaves the apply pending', async () => {
    await parts.apply(pendingTables(), { confirmTimeoutMs: 60_000 });
    await parts.dataplane.teardown();
    await expect(parts.cancel(2)).rejects.toThrow(/kernel dataplane is stopped/);
    expect(parts.pendings.state).toBe('pending');
    expect(parts.pendings.info()?.generation).toBe(2);
    expect(parts.ctx.running.generation).toBe(2);
  });

  it('a restart while pending rolls back: only the confirmed tables re-open, as the next generation', async () => {
    await parts.apply(pendingTables(), { confirmTimeoutMs: 60_000 });
    await parts.close();
    parts = await ControllerParts.open(dir);
    expect(parts.pendings.state).toBe('idle');
    expect(parts.ctx.running.generation).toBe(3);
    expect(parts.ctx.history.find(2)).toMatchObject({ outcome: 'rolled_back', detail: 'rolled back: the daemon restarted while it was pending' });
    expect(await forwards(confirmedPort)).toBe(true);
    expect(await forwards(pendingPort)).toBe(false);
  });
});
