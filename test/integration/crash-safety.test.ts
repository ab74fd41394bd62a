/**
 * Acceptance: crash safety of confirmed applies. The daemon process is
 * killed with SIGKILL at random points of apply / confirm / cancel cycles,
 * over many iterations, and restarted on the same state directory. After
 * every restart: nothing is pending, the running tables are the last
 * confirmed ones (or, when the kill hit a call in flight, the state just
 * before or just after it), every generation a client saw committed is in
 * the history as COMMITTED with its digest, and a pending apply the kill
 * interrupted is recorded as ROLLED_BACK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireEntry } from '../helpers/apply-streams.js';
import { ServiceClient, removeDir, startDaemon, stopDaemon, tempStateDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { freePortBlock, roundTrip, startEchoServer, type EchoServer } from '../helpers/tcp.js';

/**
 * Every run does MIN_ITERATIONS (each of the three kinds of kill below
 * twice), however slow the machine; more while the time budget lasts. A
 * budget alone made the coverage depend on the load: a daemon start takes
 * seconds on a busy 2-core machine, and 4 iterations fit in the budget.
 */
const MIN_ITERATIONS = 6;
const TIME_BUDGET_MS = 50_000;
const MAX_ITERATIONS = 30;
const SEED = Number(process.env.PORTPLANE_CRASH_SEED ?? Date.now() % 100_000);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface GetConfig {
  generation: string;
  config_digest: string;
  pending: { generation: string } | null;
}
interface Apply {
  result: { generation: string; config_digest: string };
  pending: { generation: string } | null;
}

describe('kill -9 at random points of the apply/confirm cycle', () => {
  let stateDir: string;
  let echo: EchoServer;
  let daemon: DaemonProcess | undefined;
  let base: number;

  beforeAll(async () => {
    stateDir = await tempStateDir();
    echo = await startEchoServer('127.0.0.1', 'E:');
    // Below the default range of freePortBlock(): these ports are free again at
    // every restart, and another suite must not pick them up meanwhile.
    base = await freePortBlock(40, 14000, 19900);
  });
  afterAll(async () => {
    if (daemon) await stopDaemon(daemon);
    await echo.close();
    await removeDir(stateDir);
  });

  it(`restores the last confirmed configuration every time (seed ${SEED})`, async () => {
    const random = rng(SEED);
    // A configuration per variant: a probe port that always forwards, plus a range that moves.
    const tablesFor = (variant: number): object[] => [
      {
        name: 'crash',
        rules: [
          { name: 'probe', protocol: 'PROTOCOL_TCP', listen_address: '127.0.0.1', ports: { first: base }, target_address: '127.0.0.1', target_port: echo.port },
          {
            name: 'range',
            protocol: 'PROTOCOL_TCP',
            listen_address: '127.0.0.1',
            ports: { first: base + 1 + (variant % 5), last: base + 20 + (variant % 7) },
            target_address: '127.0.0.1',
            target_port: 40000 + variant,
          },
        ],
      },
    ];

    /** Digest of the last configuration known to be confirmed; '' before any. */
    let confirmedDigest = '';
    let lastGeneration = 0;
    /** Every generation a client saw committed, with its digest. */
    const committed = new Map<string, string>();
    let variant = 0;
    const started = Date.now();
    let iterations = 0;
    let ambiguous = 0;
    let killedWhilePending = 0;
    /** How long a cycle takes here, as learnt so far; kills are drawn from [0, 1.2 x this]. */
    let cycleMs = 30;
    const inFlight: {
      /** A confirmed apply that was pending when the daemon was killed. */
      pending?: { generation: string; digest: string; confirmInFlight: boolean };
      /** A plain apply whose reply never came. */
      plain?: { digest: string };
    } = {};

    while (iterations < MIN_ITERATIONS || (iterations < MAX_ITERATIONS && Date.now() - started < TIME_BUDGET_MS)) {
      iterations++;
      daemon = await startDaemon(stateDir, ['--log-level', 'warn', '--history-size', '1000']);
      const client = new ServiceClient('ConfigService', daemon.target);
      const context = `iteration ${iterations}, seed ${SEED}`;

      // --- After the restart: the state is the last confirmed one. ---
      const running = await client.call<GetConfig>('GetConfig');
      expect(running.pending, context).toBeNull();
      expect(Number(running.generation), context).toBeGreaterThanOrEqual(lastGeneration);
      lastGeneration = Number(running.generation);
      const { entries } = await client.call<{ entries: WireEntry[] }>('ListApplyHistory', {});
      expect(entries.filter((e) => e.outcome === 'APPLY_HISTORY_OUTCOME_PENDING'), context).toEqual([]);
      for (const [generation, digest] of committed) {
        const entry = entries.find((e) => e.generation === generation);
        expect(entry, `${context}: committed generation ${generation} missing from the history`).toMatchObject({
          outcome: 'APPLY_HISTORY_OUTCOME_COMMITTED',
          config_digest: digest,
        });
      }
      const outcome = (generation: string): string | undefined => entries.find((e) => e.generation === generation)?.outcome;
      if (inFlight.pending) {
        const confirmedAfterAll =
          inFlight.pending.confirmInFlight &&
          running.config_digest === inFlight.pending.digest &&
          outcome(inFlight.pending.generation) === 'APPLY_HISTORY_OUTCOME_COMMITTED';
        if (confirmedAfterAll) {
          committed.set(inFlight.pending.generation, inFlight.pending.digest);
          confirmedDigest = inFlight.pending.digest;
        } else {
          expect(outcome(inFlight.pending.generation), `${context}: interrupted pending generation ${inFlight.pending.generation}`).toBe(
            'APPLY_HISTORY_OUTCOME_ROLLED_BACK',
          );
        }
      }
      if (inFlight.plain && running.config_digest === inFlight.plain.digest && inFlight.plain.digest !== confirmedDigest) {
        // The kill came after the commit was durable but before the reply.
        confirmedDigest = inFlight.plain.digest;
      }
      if (confirmedDigest) {
        expect(running.config_digest, context).toBe(confirmedDigest);
        expect((await roundTrip(base, 'p')).toString(), context).toBe('E:p');
      }
      delete inFlight.pending;
      delete inFlight.plain;

      // --- A cycle, with a kill at a random moment of it. ---
      const child = daemon.child;
      // Of every three iterations, one kills right after a full confirm
      // cycle (commits always get checked), one right after a confirmed
      // apply took effect (a pending apply always gets interrupted), and one
      // at a random moment, spread over the whole cycle (and a little past
      // it) as long as cycles take here.
      const afterCycle = iterations % 3 !== 0;
      const leavePending = iterations % 3 === 2;
      const killAfterMs = Math.floor(random() * cycleMs * 1.2);
      const cycleStarted = Date.now();
      let killTimer: NodeJS.Timeout | undefined;
      const kill = afterCycle
        ? undefined
        : new Promise<void>((resolve) => {
            killTimer = setTimeout(() => {
              child.kill('SIGKILL');
              resolve();
            }, killAfterMs);
          });
      const scenario = afterCycle ? 0.5 : random();
      const cycle = async (): Promise<void> => {
        const tables = tablesFor(++variant);
        if (scenario < 0.3) {
          // Plain apply.
          inFlight.plain = { digest: '' };
          const preview = await client.call<Apply>('ApplyConfig', { tables, validate_only: true });
          inFlight.plain = { digest: preview.result.config_digest };
          const res = await client.call<Apply>('ApplyConfig', { tables });
          delete inFlight.plain;
          committed.set(res.result.generation, res.result.config_digest);
          confirmedDigest = res.result.config_digest;
          return;
        }
        const res = await client.call<Apply>('ApplyConfig', { tables, confirm_timeout: { seconds: 120 } });
        const generation = res.pending!.generation;
        inFlight.pending = { generation, digest: res.result.config_digest, confirmInFlight: false };
        if (leavePending) return;
        if (scenario < 0.8) {
          inFlight.pending.confirmInFlight = true;
          await client.call('ConfirmApply', { generation });
          delete inFlight.pending;
          committed.set(generation, res.result.config_digest);
          confirmedDigest = res.result.config_digest;
        } else {
          await client.call('CancelApply', { generation });
          delete inFlight.pending;
        }
      };
      const completed = await cycle().then(
        () => true,
        (err: unknown) => {
          if (process.env.DEBUG_CRASH) console.log(`cycle cut after ${Date.now() - cycleStarted} ms (kill at ${killAfterMs}): ${String(err)}`);
          return false;
        },
      );
      // Learn how long a cycle takes: a cut one means the window may be too short.
      cycleMs = completed ? Math.max(cycleMs, Date.now() - cycleStarted) : Math.min(cycleMs * 1.5, 5000);
      if (kill) await kill;
      else child.kill('SIGKILL');
      clearTimeout(killTimer);
      await daemon.exited;
      // Read through a cast: the cycle (a closure) set these, which flow analysis cannot see.
      const atKill = inFlight as typeof inFlight;
      if (atKill.pending) killedWhilePending++;
      if (atKill.plain || atKill.pending?.confirmInFlight) ambiguous++;
      client.close();
      daemon = undefined;
    }

    console.log(
      `crash loop: ${iterations} iterations in ${Date.now() - started} ms (seed ${SEED}); ` +
        `${killedWhilePending} killed while pending, ${ambiguous} killed with a call in flight, ${committed.size} commits checked`,
    );
    // Every third iteration kills a pending apply, and the others check commits.
    expect(killedWhilePending).toBeGreaterThanOrEqual(MIN_ITERATIONS / 3);
    expect(committed.size).toBeGreaterThan(0);
  }, 120_000);
});
