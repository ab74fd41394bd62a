/**
 * The standard health service (health-service.ts) answers a client nobody
 * here wrote (`buf curl`, by reflection) as the grpc-health-check package it
 * replaced did: Check of a known and an unknown name, List of every name,
 * Watch's first answer for a known and an unknown name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATAPLANE_HEALTH, SERVICE_NAMES } from '../../src/server/grpc-server.js';
import { BufCurlStream, bufCurl } from '../helpers/buf-curl.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';

describe('grpc.health.v1.Health', () => {
  let d: TestDaemon;
  let socket: string;
  beforeAll(async () => {
    d = await startTestDaemon();
    socket = d.target.replace(/^unix:/, '');
  });
  afterAll(async () => {
    await d.stop();
  });

  it('Check answers SERVING for the server and each service, NOT_FOUND for an unknown name', async () => {
    for (const service of ['', ...SERVICE_NAMES, DATAPLANE_HEALTH]) {
      const res = await bufCurl(socket, ['-d', JSON.stringify({ service }), 'http://localhost/grpc.health.v1.Health/Check']);
      expect(res.stderr).toBe('');
      expect(JSON.parse(res.stdout)).toEqual({ status: 'SERVING' });
    }
    const unknown = await bufCurl(socket, ['-d', '{"service":"no.such.Service"}', 'http://localhost/grpc.health.v1.Health/Check']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('not_found');
    expect(unknown.stderr).toContain('Health status unknown for service no.such.Service');
  }, 60_000);

  it('List answers every name with its status', async () => {
    const res = await bufCurl(socket, ['http://localhost/grpc.health.v1.Health/List']);
    expect(res.stderr).toBe('');
    const expected = Object.fromEntries(['', ...SERVICE_NAMES, DATAPLANE_HEALTH].map((name) => [name, { status: 'SERVING' }]));
    expect(JSON.parse(res.stdout)).toEqual({ statuses: expected });
  }, 60_000);

  it('Watch answers the current status at once: SERVING, or SERVICE_UNKNOWN for an unknown name', async () => {
    for (const [service, status] of [
      ['', 'SERVING'],
      ['no.such.Service', 'SERVICE_UNKNOWN'],
    ] as const) {
      const watch = new BufCurlStream(socket, ['-d', JSON.stringify({ service }), 'http://localhost/grpc.health.v1.Health/Watch']);
      try {
        await watch.waitFor(`"status": "${status}"`);
      } finally {
        await watch.stop();
      }
    }
  }, 60_000);
});
