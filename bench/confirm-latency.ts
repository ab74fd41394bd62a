/**
 * Latency of confirmed applies, as a controller sees it over gRPC against a
 * daemon process, on a table of 200 rules covering 1,000 ports, each step
 * changing one rule:
 *   plain       ApplyConfig
 *   pending     ApplyConfig with confirm_timeout
 *   confirm     ConfirmApply
 *   cancel      CancelApply (a rollback: the previous tables as a new generation)
 *   transaction Transaction stream: tables, APPLY, COMMIT (stream open to close)
 *
 *   npx tsx bench/confirm-latency.ts [--rounds N] [--plain-only]
 *
 * --plain-only measures the plain apply alone (it runs against daemons that
 * predate the confirm API, to compare the plain path before and after).
 */
import type * as grpc from '@grpc/grpc-js';
import { ServiceClient, removeDir, startDaemon, stopDaemon, tempStateDir } from '../test/helpers/daemon-process.js';
import { freePortBlock } from '../test/helpers/tcp.js';

const RULES = 200;
const PORTS_PER_RULE = 5;
const STEPS = 40;
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const rounds = Number(arg('--rounds')) || 3;
const plainOnly = process.argv.includes('--plain-only');

function tables(base: number, changedRule: number, variant: number): object[] {
  const rules = Array.from({ length: RULES }, (_, i) => ({
    name: `rule-${i}`,
    protocol: 'PROTOCOL_TCP',
    listen_address: '127.0.0.1',
    ports: { first: base + i * PORTS_PER_RULE, last: base + i * PORTS_PER_RULE + PORTS_PER_RULE - 1 },
    target_address: '127.0.0.1',
    target_port: i === changedRule ? 20000 + variant : 10000 + i * PORTS_PER_RULE,
  }));
  return [{ name: 'bench', rules }];
}

function summary(samples: number[]): { median: number; p95: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => +(s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? 0).toFixed(2);
  return { median: at(0.5), p95: at(0.95), n: s.length };
}

/** One transaction: open, tables, APPLY, COMMIT; resolves when the stream closes. */
function transaction(client: ServiceClient, tablesStep: object[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const open = (client.raw as unknown as { Transaction(): grpc.ClientDuplexStream<object, Record<string, unknown>> }).Transaction;
    const call = open.call(client.raw);
    call.on('data', (m: Record<string, unknown>) => {
      if (m.hello) call.write({ tables: { tables: tablesStep } });
      else if (m.validated) call.write({ command: 'TRANSACTION_COMMAND_APPLY' });
      else if (m.applied) call.write({ command: 'TRANSACTION_COMMAND_COMMIT' });
      else if (m.committed) call.end();
      else reject(new Error(`unexpected transaction message ${JSON.stringify(m).slice(0, 300)}`));
    });
    call.on('error', reject);
    call.on('status', (s: grpc.StatusObject) => (s.code === 0 ? resolve() : reject(new Error(s.details))));
  });
}

async function main(): Promise<void> {
  const base = await freePortBlock(RULES * PORTS_PER_RULE, 20000, 32000);
  const samples: Record<string, number[]> = { plain: [], pending: [], confirm: [], cancel: [], transaction: [] };
  const time = async (name: string, work: () => Promise<unknown>): Promise<void> => {
    const t = performance.now();
    await work();
    samples[name]!.push(performance.now() - t);
  };
  for (let round = 0; round < rounds; round++) {
    const stateDir = await tempStateDir();
    const daemon = await startDaemon(stateDir, ['--log-level', 'warn']);
    const client = new ServiceClient('ConfigService', daemon.target);
    try {
      await client.call('ApplyConfig', { tables: tables(base, -1, 0) }, 120_000);
      let variant = 0;
      for (let step = 1; step <= STEPS; step++) {
        const changed = step % RULES;
        await time('plain', () => client.call('ApplyConfig', { tables: tables(base, changed, ++variant) }));
        if (plainOnly) continue;
        let res = await (async () => {
          const t = performance.now();
          const r = await client.call<{ pending: { generation: string } }>('ApplyConfig', {
            tables: tables(base, changed, ++variant),
            confirm_timeout: { seconds: 600 },
          });
          samples.pending!.push(performance.now() - t);
          return r;
        })();
        await time('confirm', () => client.call('ConfirmApply', { generation: res.pending.generation }));
        res = await client.call('ApplyConfig', { tables: tables(base, changed, ++variant), confirm_timeout: { seconds: 600 } });
        await time('cancel', () => client.call('CancelApply', { generation: res.pending.generation }));
        await time('transaction', () => transaction(client, tables(base, changed, ++variant)));
      }
    } finally {
      client.close();
      await stopDaemon(daemon);
      await removeDir(stateDir);
    }
  }
  const out: Record<string, unknown> = { rules: RULES, ports: RULES * PORTS_PER_RULE, rounds, node: process.version };
  for (const [name, values] of Object.entries(samples)) if (values.length > 0) out[`${name}Ms`] = summary(values);
  console.log(JSON.stringify(out, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
