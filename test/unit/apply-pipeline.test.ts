/**
 * The apply pipeline's failure paths that need a real fault between two
 * stages (src/control/apply-pipeline.ts), on real parts (see
 * controller-parts.ts): the save stage fails after the execute stage
 * changed the dataplane, and the undo itself throws.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Table } from '../../src/config/model.js';
import { NotSavedError } from '../../src/control/errors.js';
import { journalFileName } from '../../src/control/journal.js';
import { ControllerParts, forwards, loopbackRule } from '../helpers/controller-parts.js';
import { removeDir, tempStateDir } from '../helpers/daemon-process.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';

describe('apply pipeline: save fails and the undo throws', () => {
  let dir: string;
  let echo: EchoServer;
  let parts: ControllerParts;
  let portA: number;
  let portB: number;
  const tables = (port: number): Table[] => [{ name: 'web', rules: [loopbackRule('r', port, echo.port)] }];

  beforeEach(async () => {
    dir = await tempStateDir();
    echo = await startEchoServer();
    portA = await freePortBlock(2, 34000, 35000);
    portB = portA + 1;
    parts = await ControllerParts.open(dir);
    await parts.apply(tables(portA));
  });

  afterEach(async () => {
    await parts.close();
    await echo.close();
    await removeDir(dir);
  });

  it('reports diverged (EUNDO) for every port the undo had to re-open, keeps the record, and those ports do not listen', async () => {
    // The next commit's journal file is a FIFO: the save blocks after the dataplane changed.
    const journalPath = join(dir, journalFileName(1));
    await promisify(execFile)('mkfifo', [journalPath]);
    try {
      const applying = parts.apply(tables(portB)).then(
        () => undefined,
        (err: unknown) => err,
      );
      // Port B opens and port A closes before the save (bounded wait).
      const deadline = Date.now() + 10_000;
      while (!(await forwards(portB)) || (await forwards(portA))) {
        if (Date.now() > deadline) throw new Error('the apply never executed');
        await new Promise((r) => setTimeout(r, 10));
      }
      // The dataplane stops under the apply: its undo throws.
      await parts.dataplane.teardown();
      // Let the journal open; the append then fails (EPIPE or EINVAL on a FIFO). Non-blocking: no writer fails the test, never hangs it.
      await (await open(journalPath, constants.O_RDONLY | constants.O_NONBLOCK)).close();
      const err = await applying;
      expect(err).toBeInstanceOf(NotSavedError);
      const undo = (err as NotSavedError).undo;
      expect(undo.outcome).toBe('diverged');
      expect(undo.diverged).toEqual([expect.objectContaining({ protocol: 'tcp', listenAddress: '127.0.0.1', port: portA, table: 'web', errno: 'EUNDO' })]);
      expect(undo.diverged[0]?.message).toMatch(/undo failed: kernel dataplane is stopped/);
    } finally {
      await rm(journalPath, { force: true });
    }
    // The record: generation 1 with port A, which is reported as not running, and nothing listens.
    expect(parts.ctx.running.generation).toBe(1);
    expect(parts.ctx.divergence.list()).toEqual([expect.objectContaining({ port: portA, errno: 'EUNDO' })]);
    expect(parts.ctx.stats.snapshot().divergedPorts).toBe(1);
    expect(await forwards(portA)).toBe(false);
    expect(await forwards(portB)).toBe(false);
    expect(parts.ctx.history.list(1)[0]).toMatchObject({ outcome: 'failed', generation: 0 });
  });
});
