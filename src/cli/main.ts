#!/usr/bin/env node
/**
 * The `portplane` command: `serve` runs the daemon; the other commands talk
 * to a running daemon over its socket.
 */
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfigFile } from '../config/load-file.js';
import { toWireTables } from '../config/wire.js';
import { DEFAULT_HISTORY_SIZE } from '../control/history.js';
import { ConfigClient, type ConnectOptions } from './client.js';
import { parseDuration, wireDuration } from './duration.js';
import {
  formatError,
  formatEvent,
  formatHistory,
  formatPending,
  formatPlan,
  formatResult,
  type WireApplyEvent,
  type WireApplyResult,
  type WireHistoryEntry,
  type WirePending,
  type WirePlan,
} from './format.js';
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
    const e = err as ServiceError;
    console.error(typeof e.code === 'number' ? formatError(e) : `error: ${e.message}`);
    process.exitCode = 1;
  } finally {
    client.close();
  }
}

interface ApplyFileOptions {
  validateOnly: boolean;
  replaceAll?: boolean;
  expectedGeneration?: number;
  terminateRemoved?: boolean;
  /** Confirm timeout, ms. */
  confirm?: number;
  comment?: string;
}

async function applyFile(file: string, opts: ApplyFileOptions): Promise<void> {
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
  if (opts.confirm !== undefined) request.confirm_timeout = wireDuration(opts.confirm);
  if (opts.comment !== undefined) request.comment = opts.comment;
  await withClient(async (client) => {
    const res = await client.call<{ result: WireApplyResult; plan: WirePlan; pending: WirePending | null }>('ApplyConfig', request);
    console.log(formatPlan(res.plan));
    if (!opts.validateOnly) console.log(formatResult(res.result));
    if (res.pending) console.log(formatPending(res.pending));
  });
}

/** The generation given, or the one pending now. */
async function pendingGeneration(client: ConfigClient, given: number | undefined): Promise<number> {
  if (given !== undefined) return given;
  const res = await client.call<{ generation: string; pending: WirePending | null }>('GetConfig', {});
  if (!res.pending) throw new Error(`nothing is pending; the running generation ${res.generation} is confirmed`);
  return Number(res.pending.generation);
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
  .option('--confirm <duration>', 'roll back unless `portplane confirm` follows within this (e.g. 30s)', parseDuration)
  .option('--comment <text>', 'recorded in the apply history')
  .action((file: string, opts: Omit<ApplyFileOptions, 'validateOnly'>) => applyFile(file, { validateOnly: false, ...opts }));

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

program
  .command('confirm')
  .description('confirm the pending apply (of generation GEN, default: the one pending)')
  .argument('[gen]', 'pending generation', parseInteger)
  .action((gen: number | undefined) =>
    withClient(async (client) => {
      const generation = await pendingGeneration(client, gen);
      const res = await client.call<{ result: WireApplyResult }>('ConfirmApply', { generation });
      console.log(`confirmed generation ${generation}`);
      console.log(formatResult(res.result));
    }),
  );

program
  .command('cancel')
  .description('roll the pending apply back now (of generation GEN, default: the one pending)')
  .argument('[gen]', 'pending generation', parseInteger)
  .option('--reason <text>', 'recorded in the apply history')
  .action((gen: number | undefined, opts: { reason?: string }) =>
    withClient(async (client) => {
      const generation = await pendingGeneration(client, gen);
      const res = await client.call<{ result: WireApplyResult; restored: WireHistoryEntry }>('CancelApply', {
        generation,
        reason: opts.reason ?? '',
      });
      console.log(`rolled back generation ${generation}; ${res.restored.detail}`);
      console.log(formatResult(res.result));
    }),
  );

program
  .command('history')
  .description('list the apply history, newest first')
  .option('--limit <n>', 'at most n entries', parseInteger, 0)
  .action((opts: { limit: number }) =>
    withClient(async (client) => {
      const res = await client.call<{ entries: WireHistoryEntry[]; capacity: number }>('ListApplyHistory', { limit: opts.limit });
      console.log(formatHistory(res.entries, res.capacity));
    }),
  );

program
  .command('rollback')
  .description('re-apply the configuration of committed generation GEN as a new generation')
  .argument('<gen>', 'a committed generation from `portplane history`', parseInteger)
  .option('--expected-generation <n>', 'roll back only if the running generation is n', parseInteger)
  .option('--confirm <duration>', 'keep the rollback pending until `portplane confirm` (e.g. 30s)', parseDuration)
  .option('--comment <text>', 'recorded in the apply history')
  .action((gen: number, opts: { expectedGeneration?: number; confirm?: number; comment?: string }) =>
    withClient(async (client) => {
      const res = await client.call<{ result: WireApplyResult; plan: WirePlan; pending: WirePending | null }>('RollbackTo', {
        generation: gen,
        ...(opts.expectedGeneration !== undefined && { expected_generation: opts.expectedGeneration }),
        ...(opts.confirm !== undefined && { confirm_timeout: wireDuration(opts.confirm) }),
        comment: opts.comment ?? '',
      });
      console.log(formatPlan(res.plan));
      console.log(formatResult(res.result));
      if (res.pending) console.log(formatPending(res.pending));
    }),
  );

program
  .command('watch')
  .description('print the current result, then every apply, confirmation and rollback as it happens')
  .option('--json', 'one JSON object per event')
  .option('--count <n>', 'exit after n events (the current one included)', parseInteger)
  .action((opts: { json?: boolean; count?: number }) =>
    withClient(
      (client) =>
        new Promise<void>((resolve, reject) => {
          const stream = client.stream<WireApplyEvent>('WatchApplyResults', {});
          let seen = 0;
          stream.on('data', (event: WireApplyEvent) => {
            console.log(opts.json ? JSON.stringify(event) : formatEvent(event));
            if (opts.count !== undefined && ++seen >= opts.count) stream.cancel();
          });
          stream.on('error', (err: ServiceError) => (err.code === grpcStatus.CANCELLED ? resolve() : reject(err)));
          stream.on('end', () => resolve());
          process.once('SIGINT', () => stream.cancel());
        }),
    ),
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
