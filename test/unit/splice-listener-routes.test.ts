/**
 * The engine's batched route call (native/splice-relay listenerRoutes), as
 * SpliceEngine.route() and the listener table use it once per commit: a
 * result per route, and every value from JavaScript checked before any
 * listener changes. Real listening sockets on 127.0.0.1.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spliceEngine } from '../../src/dataplane/kernel/splice-engine.js';
import { protoRoot } from '../../src/server/api-definition.js';

const loaded = spliceEngine();

interface RouteAddon {
  create(capacity: number, threads: number, onEvents: () => void): { engine: unknown };
  listenerOpen(engine: unknown, address: string, port: number, ipv6Only: boolean, udp: boolean): number;
  listenerClose(engine: unknown, lid: number): void;
  listenerRoutes(engine: unknown, routes: unknown, addresses: unknown): Int32Array;
  ruleCreate(engine: unknown): number;
  ruleRelease(engine: unknown, rule: number): void;
}

describe.skipIf(!loaded.engine)('splice engine listenerRoutes', () => {
  // The addon the process's engine was loaded from (Release, or Debug under the sanitizers).
  const path = join(protoRoot(), '..', 'native', 'splice-relay', 'build', process.env.PORTPLANE_NATIVE_BUILD ?? 'Release', 'splice_relay.node');
  const addon = createRequire(import.meta.url)(path) as RouteAddon;
  const { engine } = addon.create(1024, 1, () => undefined);
  const opened: number[] = [];
  const listen = (): number => {
    const lid = addon.listenerOpen(engine, '127.0.0.1', 0, false, false);
    expect(lid).toBeGreaterThanOrEqual(0);
    opened.push(lid);
    return lid;
  };
  const words = (...routes: number[][]): Uint32Array => Uint32Array.from(routes.flat());
  afterAll(() => {
    for (const lid of opened) addon.listenerClose(engine, lid);
  });

  it('answers per route: 0 when routed, -EINVAL for a target that is no numeric address', () => {
    const rule = addon.ruleCreate(engine);
    const [a, b, c] = [listen(), listen(), listen()];
    const results = addon.listenerRoutes(engine, words([a, rule, 8080, 1], [b, rule, 8080, 1], [c, rule, 70000, 1]), ['127.0.0.1', 'not-an-address', '::1']);
    expect(Array.from(results)).toEqual([0, -22, -22]);
    // Routing again (a retarget) answers the same way; an empty batch is an empty answer.
    expect(Array.from(addon.listenerRoutes(engine, words([a, rule, 9090, 2]), ['::1']))).toEqual([0]);
    expect(addon.listenerRoutes(engine, new Uint32Array(0), [])).toHaveLength(0);
  });

  it('throws on a malformed batch, naming what is wrong', () => {
    const rule = addon.ruleCreate(engine);
    const lid = listen();
    const bad: [unknown, unknown][] = [
      [[lid, rule, 80, 1], ['127.0.0.1']], // not a Uint32Array
      [new Int32Array([lid, rule, 80, 1]), ['127.0.0.1']],
      [new Uint32Array([lid, rule, 80]), ['127.0.0.1']], // not four words per route
      [words([lid, rule, 80, 1]), []], // one address per route
      [words([lid, rule, 80, 1]), '127.0.0.1'],
      [words([lid, rule, 80, 1]), [42]],
      [words([lid, rule, 80, 1]), ['1'.repeat(200)]],
    ];
    for (const [routes, addresses] of bad) expect(() => addon.listenerRoutes(engine, routes, addresses)).toThrow(TypeError);
    const loose = addon.listenerRoutes as (...args: unknown[]) => unknown;
    expect(() => loose(engine, words([lid, rule, 80, 1]))).toThrow(TypeError);
  });

  it('checks every listener and rule before changing any: an unknown one throws a RangeError naming the route', () => {
    const rule = addon.ruleCreate(engine);
    const released = addon.ruleCreate(engine);
    addon.ruleRelease(engine, released);
    const lid = listen();
    const closed = listen();
    addon.listenerClose(engine, closed);
    opened.splice(opened.indexOf(closed), 1);
    expect(() => addon.listenerRoutes(engine, words([lid, rule, 80, 1], [999_999, rule, 80, 1]), ['127.0.0.1', '127.0.0.1'])).toThrow(
      /no such listener 999999 \(route 1\)/,
    );
    expect(() => addon.listenerRoutes(engine, words([lid, rule, 80, 1], [closed, rule, 80, 1]), ['127.0.0.1', '127.0.0.1'])).toThrow(RangeError);
    expect(() => addon.listenerRoutes(engine, words([lid, released, 80, 1]), ['127.0.0.1'])).toThrow(/no such rule .*route 0/);
    expect(() => addon.listenerRoutes(engine, words([lid, 123_456, 80, 1]), ['127.0.0.1'])).toThrow(RangeError);
    // The listener the thrown batches named first is still fine to route.
    expect(Array.from(addon.listenerRoutes(engine, words([lid, rule, 80, 2]), ['127.0.0.1']))).toEqual([0]);
  });
});
