/**
 * Acceptance: socket continuity. While 200 applies add, remove and retarget
 * other rules (including ranges that overlap the kept ports, and moving the
 * kept ports between rules), clients loop connecting to the kept ports and
 * must see zero refusals and get every byte echoed. The listening socket of
 * every kept port is the same kernel socket (inode) before and after.
 *
 * The daemon runs as its own process: in-process clients share its event
 * loop and could never connect inside a close-then-reopen gap.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceClient, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { listeningSocketInodes } from '../helpers/proc-net.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

const APPLIES = 200;
const CLIENT_LOOPS = 4;

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('socket continuity under churn', () => {
  let daemon: DaemonProcess;
  let client: ServiceClient;
  let stateDir: string;
  const echoes: EchoServer[] = [];
  let base: number;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    daemon = await startDaemon(stateDir, ['--log-level', 'warn']);
    client = new ServiceClient('ConfigService', daemon.target);
    base = await freePortBlock(40);
    for (let i = 0; i < 8; i++) echoes.push(await startEchoServer());
  });
  afterAll(async () => {
    client.close();
    await stopDaemon(daemon);
    await Promise.all(echoes.map((e) => e.close()));
    await removeDir(stateDir);
  });

  it('200 applies: 0 refusals on kept ports, all data echoed, same listening sockets', async () => {
    const kept = [base + 10, base + 11, base + 12, base + 13];
    // Each kept port always reaches the same echo server: a single-port target map.
    const keptTarget = (port: number): number => echoes[port - base - 10]!.port;
    const rule = (name: string, first: number, last: number, target: number, exclude: { first: number; last: number }[] = []): object => ({
      name,
      protocol: 'PROTOCOL_TCP',
      listen_address: '127.0.0.1',
      ports: { first, last },
      exclude,
      target_address: '127.0.0.1',
      target_port: target,
    });
    const keptRules = (variant: number): object[] => {
      // The kept ports are carried by rules whose ranges change around them.
      const single = kept.map((p) => rule(`k${p - base}`, p, p, keptTarget(p)));
      switch (variant % 3) {
        case 0:
          return single;
        case 1:
          // Same ports, now named differently: the owning rule changes, the socket must not.
          return kept.map((p) => rule(`moved${p - base}`, p, p, keptTarget(p)));
        default:
          // Neighbours appear right next to the kept ports, inside ranges that overlap earlier ones.
          return [...single, rule('left', base + 6, base + 9, echoes[4]!.port), rule('right', base + 14, base + 16, echoes[5]!.port)];
      }
    };
    const random = rng(42);
    const churnRules = (): object[] => {
      const rules: object[] = [];
      for (let j = 0; j < 5; j++) {
        if (random() < 0.3) continue;
        const block = base + 20 + 4 * j;
        const first = block + Math.floor(random() * 2);
        const last = first + Math.floor(random() * 2);
        rules.push(rule(`c${j}`, first, last, echoes[Math.floor(random() * echoes.length)]!.port));
      }
      return rules;
    };

    await client.call('ApplyConfig', { tables: [{ name: 'stable', rules: keptRules(0) }] });
    const inodesBefore = await Promise.all(kept.map((p) => listeningSocketInodes(p, daemon.pid)));
    expect(inodesBefore.every((i) => i.length === 1)).toBe(true);

    let applying = true;
    const stats = { ok: 0, refused: 0, otherErrors: [] as string[], mismatches: 0 };
    const loop = async (seed: number): Promise<void> => {
      const r = rng(seed);
      const deadline = Date.now() + 120_000;
      while (applying && Date.now() < deadline) {
        const port = kept[Math.floor(r() * kept.length)]!;
        const payload = randomBytes(512 + Math.floor(r() * 4096));
        try {
          const echoed = await roundTrip(port, payload);
          if (echoed.equals(payload)) stats.ok++;
          else stats.mismatches++;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ECONNREFUSED') stats.refused++;
          else stats.otherErrors.push(`${port}: ${String(code ?? err)}`);
        }
      }
    };
    const loops = Array.from({ length: CLIENT_LOOPS }, (_, i) => loop(i + 1));

    let generation = 1;
    for (let i = 1; i <= APPLIES; i++) {
      const res = await client.call<{ result: { generation: string } }>('ApplyConfig', {
        tables: [
          { name: 'stable', rules: keptRules(i) },
          { name: 'churn', rules: churnRules() },
        ],
      });
      generation = Number(res.result.generation);
      if (i % 50 === 0) {
        const mid = await Promise.all(kept.map((p) => listeningSocketInodes(p, daemon.pid)));
        expect(mid).toEqual(inodesBefore);
      }
    }
    applying = false;
    await Promise.all(loops);

    const inodesAfter = await Promise.all(kept.map((p) => listeningSocketInodes(p, daemon.pid)));
    expect(inodesAfter).toEqual(inodesBefore);
    expect(stats.refused).toBe(0);
    expect(stats.mismatches).toBe(0);
    expect(stats.otherErrors).toEqual([]);
    expect(stats.ok).toBeGreaterThan(APPLIES);
    expect(generation).toBeGreaterThan(APPLIES / 2);
    // Every kept port still forwards after the churn.
    for (const p of kept) expect((await roundTrip(p, 'end')).toString()).toBe('end');
  });
});
