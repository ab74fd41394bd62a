/**
 * Honest outcomes when an apply cannot be saved (#12 item 6), against a real
 * daemon process on a real state directory. The dataplane takes the apply,
 * the journal append fails, and the daemon undoes the dataplane:
 *
 * - restored: the undo re-opened everything; the error says so and the
 *   sockets listening are exactly the running generation's;
 * - diverged: a port the apply closed was taken before the undo could
 *   re-open it. The error, GetConfig, LastApplyResult, the
 *   portplane_dataplane_diverged gauge, the dataplane health status and
 *   the log all say which port; once the port is free again, re-sending
 *   the running tables (an unchanged apply) re-opens it and all of them
 *   say so.
 *
 * The journal is made to fail by what lies at the path of its first file:
 * a directory (open fails at once), or a FIFO, whose open blocks until the
 * test reads it, which holds the daemon between its dataplane change and
 * its save long enough to take a port it closed, deterministically.
 */
import { execFile } from 'node:child_process';
import { mkdir, open, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalFileName } from '../../src/control/journal.js';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { ServiceClient, callError, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { ownListeningSocketInodes } from '../helpers/proc-net.js';
import { freePort, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';
import { singlePortRule } from '../helpers/wire-rules.js';
import type { DivergedPort__Output } from '../../src/generated/types/portplane/v1/DivergedPort.js';

type WireDiverged = DivergedPort__Output;

describe('an apply that cannot be saved reports what runs afterwards', () => {
  let stateDir: string;
  let daemon: DaemonProcess;
  let config: ServiceClient;
  let health: ServiceClient;
  let echo: EchoServer;
  let metricsPort: number;
  let portA: number;
  let portB: number;
  let journalPath: string;

  const tablesA = [{ name: 'web', rules: [singlePortRule('a', 0, 0)] }];

  beforeAll(async () => {
    stateDir = await tempStateDir();
    echo = await startEchoServer('127.0.0.1', 'E:');
    [portA, portB, metricsPort] = [await freePort(), await freePort(), await freePort()];
    tablesA[0]!.rules = [singlePortRule('a', portA, echo.port)];
    daemon = await startDaemon(stateDir, [`--metrics-listen=127.0.0.1:${metricsPort}`]);
    config = new ServiceClient('ConfigService', daemon.target);
    health = new ServiceClient('grpc.health.v1.Health', daemon.target);
    journalPath = join(stateDir, journalFileName(1));
    // Generation 1 writes the first snapshot; the next commit would open the first journal file.
    await config.call('ApplyConfig', { tables: tablesA });
  });
  afterAll(async () => {
    config.close();
    health.close();
    await stopDaemon(daemon);
    await echo.close();
    await removeDir(stateDir);
  });

  /** The daemon's own listening sockets on `port` (another process's do not count). */
  const daemonListens = async (port: number): Promise<boolean> => (await ownListeningSocketInodes(port, daemon.pid)).length > 0;
  const divergedGauge = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('portplane_dataplane_diverged '));
    if (!line) throw new Error('no portplane_dataplane_diverged in /metrics');
    return Number(line.split(' ')[1]);
  };
  const dataplaneHealth = async (): Promise<string> => (await health.call<{ status: string }>('Check', { service: 'portplane.dataplane' })).status;
  const errorInfo = (err: grpc.ServiceError): Record<string, string> => {
    const info = decodeStatusDetails(err.metadata).find((d) => d.type === 'ErrorInfo');
    if (info?.type !== 'ErrorInfo') throw new Error(`no ErrorInfo in ${err.message}`);
    expect(info.reason).toBe('NOT_SAVED');
    return info.metadata;
  };
  const tablesB = (): object[] => [{ name: 'web', rules: [singlePortRule('b', portB, echo.port)] }];

  it('save fails, undo succeeds: restored, and exactly generation 1 listens', async () => {
    await mkdir(join(journalPath, 'blocker'), { recursive: true });
    try {
      const err = await callError(config.call('ApplyConfig', { tables: tablesB() }));
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      expect(errorInfo(err)).toEqual({ dataplane: 'restored' });
      expect(err.details).toContain('the previous tables are still in force');
    } finally {
      await rm(journalPath, { recursive: true });
    }
    expect(await daemonListens(portA)).toBe(true);
    expect(await daemonListens(portB)).toBe(false);
    expect((await roundTrip(portA, 'x')).toString()).toBe('E:x');
    const running = await config.call<{ generation: string; diverged: unknown[] }>('GetConfig');
    expect(running).toMatchObject({ generation: '1', diverged: [] });
    expect(await divergedGauge()).toBe(0);
    expect(await dataplaneHealth()).toBe('SERVING');
  });

  it('save fails and a port the apply closed is taken before the undo: diverged everywhere, repaired by the next apply', async () => {
    await promisify(execFile)('mkfifo', [journalPath]);
    let thief: Server | undefined;
    try {
      const applying = callError(config.call('ApplyConfig', { tables: tablesB() }));
      // The daemon closed port A and now waits to open the journal: take port A (bounded wait).
      const deadline = Date.now() + 20_000;
      while (!thief) {
        if (Date.now() > deadline) throw new Error(`port ${portA} never closed`);
        thief = await listenOn(portA);
        if (!thief) await new Promise((r) => setTimeout(r, 10));
      }
      // Let the journal's open return; the journal then refuses a file that is not a regular one.
      await (await open(journalPath, 'r')).close();
      const err = await applying;
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      expect(errorInfo(err)).toEqual({ dataplane: 'diverged', diverged_ports: `tcp://127.0.0.1:${portA}` });
      expect(err.details).toContain('diverged');

      // The record is still generation 1, and every view says port A does not run.
      const expected: Partial<WireDiverged> = { table: 'web', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', port: portA, errno: 'EADDRINUSE' };
      const running = await config.call<{ generation: string; diverged: WireDiverged[] }>('GetConfig');
      expect(running.generation).toBe('1');
      expect(running.diverged).toEqual([expect.objectContaining(expected)]);
      const last = await config.call<{ result: { generation: string; diverged: WireDiverged[] } }>('LastApplyResult');
      expect(last.result.generation).toBe('1');
      expect(last.result.diverged).toEqual([expect.objectContaining(expected)]);
      expect(await divergedGauge()).toBe(1);
      expect(await dataplaneHealth()).toBe('NOT_SERVING');
      expect(daemon.logs.some((l) => l.includes('"level":50') && l.includes('diverged') && l.includes(String(portA)))).toBe(true);
      // What actually listens: neither the stolen port nor the undone one.
      expect(await daemonListens(portA)).toBe(false);
      expect(await daemonListens(portB)).toBe(false);
    } finally {
      await rm(journalPath, { force: true });
      await new Promise((r) => (thief ? thief.close(r) : r(undefined)));
    }

    // Re-sending the running tables changes no record but re-opens the port.
    const again = await config.call<{ result: { generation: string; outcome: string; diverged: unknown[] } }>('ApplyConfig', { tables: tablesA });
    expect(again.result).toMatchObject({ generation: '1', outcome: 'APPLY_OUTCOME_UNCHANGED', diverged: [] });
    expect(await daemonListens(portA)).toBe(true);
    expect((await roundTrip(portA, 'y')).toString()).toBe('E:y');
    expect((await config.call<{ diverged: unknown[] }>('GetConfig')).diverged).toEqual([]);
    expect(await divergedGauge()).toBe(0);
    expect(await dataplaneHealth()).toBe('SERVING');

    // And the journal works again: the same apply commits now.
    const next = await config.call<{ result: { generation: string } }>('ApplyConfig', { tables: tablesB() });
    expect(next.result.generation).toBe('2');
    expect(await daemonListens(portB)).toBe(true);
    expect(await daemonListens(portA)).toBe(false);
  });
});

/** A listener on 127.0.0.1:`port`, or undefined while someone else holds it. */
function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer((s) => s.destroy());
    server.once('error', () => resolve(undefined));
    server.listen({ host: '127.0.0.1', port }, () => resolve(server));
  });
}
