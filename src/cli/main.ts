#!/usr/bin/env node
/**
 * The `portplane` command: `serve` runs the daemon; the other commands talk
 * to a running daemon over its socket.
 */
import type * as grpc from '@grpc/grpc-js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfigFile } from '../config/load-file.js';
import { toWireTables } from '../config/wire.js';
import { DEFAULT_HISTORY_SIZE } from '../control/history.js';
import { ConfigClient, type ConnectOptions } from './client.js';
import { formatError, formatPlan, formatResult, type WireApplyResult, type WirePlan } from './format.js';
import { serve } from './serve.js';

const program = new Command('portplane')
  .description('Live L4 port-forwarding dataplane steered over gRPC')
  .option('--state-dir <dir>', 'state directory (committed tables, control socket)', './.portplane')
  .option('--socket <path>', 'control socket (default <state-dir>/portplane.sock)')
  .option('--address <host:port>', 'talk to a daemon listening on TCP instead of the socket')
  .option('--timeout <ms>', 'deadline of each call', parseInteger, 30_000);

function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  return n;
}

function connectOptions(): ConnectOptions {
  const o = program.opts<{ stateDir: string; socket?: string; address?: string; timeout: number }>();
  return { stateDir: o.stateDir, socket: o.socket, address: o.address, timeoutMs: o.timeout };
}

/** Runs one client action; gRPC errors are printed with their details and exit 1. */
async function withClient(action: (client: ConfigClient) => Promise<void>): Promise<void> {
  const client = new ConfigClient(connectOptions());
  try {
    await action(client);
  } catch (err) {
    const e = err as grpc.ServiceError;
    console.error(typeof e.code === 'number' ? formatError(e) : `error: ${e.message}`);
    process.exitCode = 1;
  } finally {
    client.close();
  }
}

async function applyFile(file: string, opts: { validateOnly: boolean; replaceAll?: boolean; expectedGeneration?: number; terminateRemoved?: boolean }): Promise<void> {
  const config = await loadConfigFile(file);
  if (config.violations.length > 0) {
    console.error(`error: ${file} is not a valid configuration:`);
    for (const v of config.violations) console.error(`  ${v.path}: ${v.message}`);
    process.exitCode = 1;
    return;
  }
  const request: Record<string, unknown> = {
    tables: toWireTables(config.tables),
    replace_all: opts.replaceAll ?? config.replaceAll,
    validate_only: opts.validateOnly,
    terminate_removed: opts.terminateRemoved ?? config.terminateRemoved,
  };
  const expected = opts.expectedGeneration ?? config.expectedGeneration;
  if (expected !== undefined) request.expected_generation = expected;
  await withClient(async (client) => {
    const res = await client.call<{ result: WireApplyResult; plan: WirePlan }>('ApplyConfig', request);
    console.log(formatPlan(res.plan));
    if (!opts.validateOnly) console.log(formatResult(res.result));
  });
}

program
  .command('serve')
  .description('run the daemon')
  .option('--listen <host:port>', 'serve gRPC on TCP instead of the UNIX socket')
  .addOption(new Option('--backend <name>', 'dataplane backend').default('kernel'))
  .option('--grace-ms <ms>', 'how long shutdown waits for sessions before forcing them closed', parseInteger, 10_000)
  .option('--history-size <n>', 'apply history entries kept in the state directory', parseInteger, DEFAULT_HISTORY_SIZE)
  .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
  .action(async (opts: { listen?: string; backend: string; graceMs: number; logLevel: string; historySize: number }) => {
    await serve({ stateDir: program.opts<{ stateDir: string }>().stateDir, ...opts });
  });

program
  .command('apply')
  .description('print the plan for FILE, apply it and print each rule\'s outcome')
  .argument('<file>', 'YAML or JSON forwarding tables')
  .option('--replace-all', 'remove running tables not named in FILE')
  .option('--expected-generation <n>', 'apply only if the running generation is n', parseInteger)
  .option('--terminate-removed', 'close established connections of removed ports')
  .action((file: string, opts: { replaceAll?: boolean; expectedGeneration?: number; terminateRemoved?: boolean }) =>
    applyFile(file, { validateOnly: false, ...opts }),
  );

program
  .command('plan')
  .description('validate FILE and print the plan without applying it')
  .argument('<file>', 'YAML or JSON forwarding tables')
  .option('--replace-all', 'plan as if running tables not named in FILE were removed')
  .action((file: string, opts: { replaceAll?: boolean }) => applyFile(file, { validateOnly: true, ...opts }));

program
  .command('status')
  .description('show the last successful apply')
  .action(() =>
    withClient(async (client) => {
      const res = await client.call<{ result: WireApplyResult }>('LastApplyResult', {});
      console.log(formatResult(res.result));
    }),
  );

program
  .command('get')
  .description('print the running tables as a config file that re-applies only onto this generation')
  .action(() =>
    withClient(async (client) => {
      const res = await client.call<{ generation: string; tables: unknown[]; config_digest: string }>('GetConfig', {});
      console.error(`generation ${res.generation}, digest ${res.config_digest}`);
      console.log(JSON.stringify({ expected_generation: Number(res.generation), tables: res.tables }, null, 2));
    }),
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
