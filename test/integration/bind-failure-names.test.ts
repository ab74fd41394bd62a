/**
 * Bind failures name the rules that failed the way validation does, where
 * the request put them and by their name (`tables[api].rules[1] ("api")`),
 * never by their id alone: in the error text, in every per-port detail and in
 * the ErrorInfo metadata, on a real daemon process with ports held by real
 * sockets, through the typed client and through the CLI.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, FailedPreconditionError, type PortplaneClient } from '../../src/client/index.js';
import { REPO, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';

const run = promisify(execFile);

const rule = singlePortRule;

describe('bind failures name their rules', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let echo: EchoServer;
  let pp: PortplaneClient;
  const holders: Server[] = [];
  let free: number;
  let takenApi: number;
  let takenEdge: number;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    daemon = await startDaemon(stateDir);
    echo = await startEchoServer();
    const base = await freePortBlock(3);
    [free, takenApi, takenEdge] = [base, base + 1, base + 2];
    // Another program holds two of the ports: the daemon's binds get EADDRINUSE.
    for (const port of [takenApi, takenEdge]) {
      const holder = createServer();
      await new Promise<void>((resolve, reject) => holder.once('error', reject).listen(port, '127.0.0.1', resolve));
      holders.push(holder);
    }
    pp = connect({ socket: join(stateDir, 'portplane.sock') });
  });
  afterAll(async () => {
    pp?.close();
    for (const h of holders) h.close();
    await stopDaemon(daemon);
    await echo?.close();
    await removeDir(stateDir);
  });

  const tables = (): object[] => [
    { name: 'api', rules: [rule('http', free, echo.port), rule('api', takenApi, echo.port)] },
    { name: 'edge', rules: [rule('', takenEdge, echo.port)] },
  ];

  it('the error text, each port failure and the ErrorInfo name the rules as the request placed them', async () => {
    const err = await pp.applyConfig({ tables: tables() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    const failed = err as FailedPreconditionError;
    expect(failed.reason).toBe('BIND_FAILED');
    expect(failed.message).toContain('apply rolled back: 2 rule(s) could not bind: ');
    expect(failed.message).toContain(`tables[api].rules[1] ("api") (tcp 127.0.0.1:${takenApi} EADDRINUSE)`);
    expect(failed.message).toContain(`tables[edge].rules[0] (tcp 127.0.0.1:${takenEdge} EADDRINUSE)`);
    expect(failed.message).toContain('the previous tables are still in force');
    expect(failed.message).not.toMatch(/r_[0-9a-f]{16}/);

    const byPort = Object.fromEntries(failed.portFailures.map((f) => [f.subject, f]));
    expect(byPort[`tcp://127.0.0.1:${takenApi}`]).toMatchObject({ type: 'EADDRINUSE' });
    expect(byPort[`tcp://127.0.0.1:${takenApi}`]?.description).toMatch(/^tables\[api\]\.rules\[1\] \("api"\): /);
    expect(byPort[`tcp://127.0.0.1:${takenEdge}`]?.description).toMatch(/^tables\[edge\]\.rules\[0\]: /);
    expect(failed.portFailures).toHaveLength(2);

    expect(failed.metadata.failed_rules?.split('; ').sort()).toEqual(['tables[api].rules[1] ("api")', 'tables[edge].rules[0]']);
    expect(failed.metadata.failed_rule_count).toBe('2');
    expect(failed.metadata.failed_rule_ids?.split(',')).toHaveLength(2);
    for (const id of failed.metadata.failed_rule_ids!.split(',')) expect(id).toMatch(/^r_[0-9a-f]{16}$/);

    // Rolled back: the port that did bind is closed again, nothing was committed.
    expect(await listeningSocketInodes(free, daemon.pid)).toEqual([]);
    expect((await pp.getConfig()).generation).toBe('0');
  });

  it('the CLI prints the same names', async () => {
    const file = join(stateDir, 'taken.json');
    await writeFile(file, JSON.stringify({ tables: tables() }));
    const res = await run(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), '--state-dir', stateDir, 'apply', file], { cwd: REPO }).catch(
      (e: unknown) => e as { stdout: string; stderr: string; code: number },
    );
    expect((res as { code?: number }).code).toBe(1);
    const stderr = (res as { stderr: string }).stderr;
    expect(stderr).toContain(`tables[api].rules[1] ("api") (tcp 127.0.0.1:${takenApi} EADDRINUSE)`);
    expect(stderr).toContain(`tcp://127.0.0.1:${takenEdge} EADDRINUSE: tables[edge].rules[0]: `);
    expect(stderr).toContain('failed_rules: ');
  });
});
