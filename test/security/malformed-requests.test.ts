/**
 * Finding 8 of #17: undecodable or truncated protobuf is INVALID_ARGUMENT on
 * every method (it was INTERNAL), and unknown values in session filters are
 * INVALID_ARGUMENT with their field path (they were an empty success).
 * Requests are hand-encoded bytes sent by a raw grpc-js client, so no
 * client-side encoder smooths them over.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHOD_ACCESS } from '../../src/auth/method-access.js';
import { decodeStatusDetails } from '../../src/server/status-details.js';
import { callError, ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon, type TestDaemon } from '../helpers/in-process-daemon.js';

const identity = (b: Buffer): Buffer => b;

/** Field 1, length-delimited, claiming 5 bytes and carrying 1: truncated. */
const TRUNCATED = Buffer.from([0x0a, 0x05, 0x01]);
/** A tag with wire type 7, which does not exist. */
const BAD_WIRE_TYPE = Buffer.from([0x0f, 0x01]);
/** A varint that never ends. */
const ENDLESS_VARINT = Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

const STREAMING_CLIENT = new Set([
  '/portplane.v1.ConfigService/Transaction',
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
]);
const STREAMING_SERVER = new Set([
  '/portplane.v1.ConfigService/WatchApplyResults',
  '/portplane.v1.SessionService/WatchSessions',
  '/portplane.v1.TelemetryService/WatchCounters',
  '/grpc.health.v1.Health/Watch',
]);

describe('malformed requests against a real daemon', () => {
  let d: TestDaemon;
  let raw: grpc.Client;

  beforeAll(async () => {
    d = await startTestDaemon();
    raw = new grpc.Client(d.target, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    raw.close();
    await d.stop();
  });

  const send = (path: string, bytes: Buffer): Promise<grpc.StatusObject> =>
    new Promise((res) => {
      const opts = { deadline: Date.now() + 10_000 };
      if (STREAMING_CLIENT.has(path)) {
        const call = raw.makeBidiStreamRequest(path, identity, identity, new grpc.Metadata(), opts);
        call.on('data', () => undefined);
        call.on('error', () => undefined);
        call.on('status', res);
        call.write(bytes);
        call.end();
      } else if (STREAMING_SERVER.has(path)) {
        const call = raw.makeServerStreamRequest(path, identity, identity, bytes, new grpc.Metadata(), opts);
        call.on('data', () => undefined);
        call.on('error', () => undefined);
        call.on('status', res);
      } else {
        const call = raw.makeUnaryRequest(path, identity, identity, bytes, new grpc.Metadata(), opts, () => undefined);
        call.on('status', res);
      }
    });

  it.each(Object.keys(METHOD_ACCESS))('answers undecodable bytes to %s with INVALID_ARGUMENT', async (path) => {
    const generation = async (): Promise<string> => {
      const c = new ServiceClient('ConfigService', d.target);
      try {
        return (await c.call<{ generation: string }>('GetConfig', {})).generation;
      } finally {
        c.close();
      }
    };
    const before = await generation();
    for (const bytes of [TRUNCATED, BAD_WIRE_TYPE, ENDLESS_VARINT]) {
      const status = await send(path, bytes);
      expect({ path, bytes: bytes.toString('hex'), code: grpc.status[status.code] }).toEqual({ path, bytes: bytes.toString('hex'), code: 'INVALID_ARGUMENT' });
    }
    expect(await generation()).toBe(before);
  });

  it.each([
    ['ListSessions', { filter: { state: 'bogus' } }, 'filter.state'],
    ['GetSessionSummary', { filter: { state: 'bogus' } }, 'filter.state'],
    ['DeleteSessions', { filter: { state: 'bogus' } }, 'filter.state'],
    ['ListSessions', { filter: { protocol: 7 } }, 'filter.protocol'],
  ])('answers %s with an unknown filter value %j with INVALID_ARGUMENT on its field', async (method, request, field) => {
    const sessions = new ServiceClient('SessionService', d.target);
    try {
      const err = await callError(sessions.call(method, request));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      const bad = decodeStatusDetails(err.metadata).find((x) => x.type === 'BadRequest');
      expect(bad?.type === 'BadRequest' ? bad.fieldViolations.map((v) => v.field) : []).toEqual([field]);
    } finally {
      sessions.close();
    }
  });
});
