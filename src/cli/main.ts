#!/usr/bin/env node
/**
 * The `portplane` command: `serve` runs the daemon; the other commands talk
 * to a running daemon over its socket.
 */
import type * as grpc from '@grpc/grpc-js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { generateToken, hashToken, MIN_SECRET_LENGTH, parseToken } from '../auth/tokens.js';
import { loadConfigFile } from '../config/load-file.js';
import { WIRE_DRAIN_MODE } from '../config/wire.js';
import type { DrainMode } from '../config/model.js';
import { toWireTables } from '../config/wire.js';
import { ConfigClient, type ConnectOptions } from './client.js';
import { formatError, formatPlan, formatResult, type WireApplyResult, type WirePlan } from './format.js';
import { DEFAULT_METRICS_LISTEN } from '../server/metrics-server.js';
import { serve } from './serve.js';

const program = new Command('portplane')
  .description('Live L4 port-forwarding dataplane steered over gRPC')
  .option('--state-dir <dir>', 'state directory (committed tables, control socket)', './.portplane')
  .option('--socket <path>', 'control socket (default <state-dir>/portplane.sock)')
  .option('--address <host:port>', 'talk to a daemon listening on TCP instead of the socket')
  .option('--timeout <ms>', 'deadline of each call', parseInteger, 30_000)
  .option('--token <id.secret>', 'bearer token to present (default: $PORTPLANE_TOKEN)')
  .option('--ca <file>', 'TLS: CA bundle that verifies the daemon (with --address)')
  .option('--cert <file>', 'TLS: client certificate (with --ca)')
  .option('--key <file>', 'TLS: client private key (with --ca)');

function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  return n;
}

function connectOptions(): ConnectOptions {
  const o = program.opts<{
    stateDir: string;
    socket?: string;
    address?: string;
    timeout: number;
    token?: string;
    ca?: string;
    cert?: string;
    key?: string;
  }>();
  if ((o.cert || o.key) && !o.ca) throw new Error('--cert and --key need --ca (TLS)');
  return {
    stateDir: o.stateDir,
    socket: o.socket,
    address: o.address,
    timeoutMs: o.timeout,
    token: o.token ?? (process.env.PORTPLANE_TOKEN || undefined),
    tls: o.ca ? { ca: o.ca, cert: o.cert, key: o.key } : undefined,
  };
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

interface ApplyOptions {
  validateOnly: boolean;
  replaceAll?: boolean;
  expectedGeneration?: number;
  terminateRemoved?: boolean;
  drain?: DrainMode;
  drainTimeoutMs?: number;
}

async function applyFile(file: string, opts: ApplyOptions): Promise<void> {
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
  const drain = opts.drain ? { mode: opts.drain, timeoutMs: opts.drainTimeoutMs ?? 0 } : config.drain;
  if (drain) request.drain = { mode: WIRE_DRAIN_MODE[drain.mode], timeout_ms: drain.timeoutMs };
  const expected = opts.expectedGeneration ?? config.expectedGeneration;
  if (expected !== undefined) request.expected_generation = expected;
  await withClient(async (client) => {
    const res = await client.call<{ result: WireApplyResult; plan: WirePlan }>('ApplyConfig', request);
    console.log(formatPlan(res.plan));
    if (!opts.validateOnly) console.log(formatResult(res.result));
  });
}

function parsePositive(value: string): number {
  const n = parseInteger(value);
  if (n === 0) throw new InvalidArgumentError('must be at least 1');
  return n;
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a non-negative number`);
  return n;
}

interface ServeFlags {
  listen?: string;
  backend: string;
  graceMs: number;
  logLevel: string;
  socketGroup?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  authPolicy?: string;
  maxTables?: number;
  maxRulesPerTable?: number;
  maxRules?: number;
  maxPorts?: number;
  maxMessageBytes?: number;
  maxStreamsPerCaller?: number;
  applyRate?: number;
  applyBurst?: number;
  metricsListen: string;
  logSessions?: boolean;
  watchBuffer?: number;
}

/** Only the flags given, so the defaults of model.ts and control-limits.ts fill the rest. */
function given<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}

program
  .command('serve')
  .description('run the daemon')
  .option('--listen <host:port>', 'serve gRPC on TCP instead of the UNIX socket (not on loopback: needs TLS)')
  .option('--socket-group <group>', 'group (name or gid) that may use the UNIX socket too: socket mode 0660')
  .option('--tls-cert <file>', 'TLS certificate chain (PEM) of the TCP listener')
  .option('--tls-key <file>', 'TLS private key (PEM) of the TCP listener')
  .option('--tls-client-ca <file>', 'CA bundle (PEM) client certificates must chain to: mutual TLS')
  .option('--auth-policy <file>', 'YAML policy mapping callers to roles (default: only this uid, as admin)')
  .option('--max-tables <n>', 'most tables a configuration may hold', parsePositive)
  .option('--max-rules-per-table <n>', 'most rules one table may hold', parsePositive)
  .option('--max-rules <n>', 'most rules a configuration may hold', parsePositive)
  .option('--max-ports <n>', 'most forwarded ports a configuration may hold', parsePositive)
  .option('--max-message-bytes <n>', 'largest request message', parsePositive)
  .option('--max-streams-per-caller <n>', 'calls one caller may have open at once', parsePositive)
  .option('--apply-rate <per-second>', 'sustained applies per second per caller', parseRate)
  .option('--apply-burst <n>', 'applies per caller in a burst', parsePositive)
  .option('--metrics-listen <host:port>', 'serve Prometheus /metrics here ("" turns it off)', DEFAULT_METRICS_LISTEN)
  .option('--log-sessions', 'log one line per session close, with its totals')
  .option('--watch-buffer <events>', 'session events kept for WatchSessions resumes and slow readers', parsePositive)
  .addOption(new Option('--backend <name>', 'dataplane backend').default('kernel'))
  .option('--grace-ms <ms>', 'how long shutdown waits for sessions before forcing them closed', parseInteger, 10_000)
  .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
  .action(async (opts: ServeFlags) => {
    await serve({
      stateDir: program.opts<{ stateDir: string }>().stateDir,
      ...opts,
      limits: given({ maxTables: opts.maxTables, maxRulesPerTable: opts.maxRulesPerTable, maxRules: opts.maxRules, maxPorts: opts.maxPorts }),
      controlLimits: given({
        maxMessageBytes: opts.maxMessageBytes,
        maxStreamsPerCaller: opts.maxStreamsPerCaller,
        applyRatePerSecond: opts.applyRate,
        applyBurst: opts.applyBurst,
      }),
    });
  });

program
  .command('hash-token')
  .description('make a bearer token for ID and print it with the policy entries that admit it (only the hash is stored)')
  .argument('<id>', 'token id: letters, digits, "_" or "-"')
  .addOption(new Option('--role <role>', 'role of the printed grant').choices(['reader', 'operator', 'admin']).default('reader'))
  .option('--tables <patterns>', 'comma-separated table-name patterns the grant is scoped to')
  .option('--stdin', 'hash the token read from standard input instead of making one')
  .action(async (id: string, opts: { role: string; tables?: string; stdin?: boolean }) => {
    let token: string;
    if (opts.stdin) {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      token = Buffer.concat(chunks).toString('utf8').trim();
      const parsed = parseToken(token);
      if (!parsed || parsed.id !== id) throw new Error(`the token on standard input must be "${id}.<secret>"`);
      if (token.length - id.length - 1 < MIN_SECRET_LENGTH) {
        throw new Error(`the secret must have at least ${MIN_SECRET_LENGTH} characters; let hash-token make one`);
      }
    } else {
      token = generateToken(id);
      console.log(`# the token; give it to the client (authorization: Bearer <token>), it is not stored anywhere:\n${token}`);
    }
    const tables = opts.tables ? `\n    tables: [${opts.tables.split(',').map((t) => JSON.stringify(t.trim())).join(', ')}]` : '';
    console.log(`# policy file entries:\ntokens:\n  ${id}: ${hashToken(token)}\ngrants:\n  - token: ${id}\n    role: ${opts.role}${tables}`);
  });

program
  .command('apply')
  .description('print the plan for FILE, apply it and print each rule\'s outcome')
  .argument('<file>', 'YAML or JSON forwarding tables')
  .option('--replace-all', 'remove running tables not named in FILE')
  .option('--expected-generation <n>', 'apply only if the running generation is n', parseInteger)
  .option('--terminate-removed', 'close established connections of removed ports')
  .addOption(
    new Option('--drain <mode>', 'sessions of removed or retargeted rules: keep, terminate or drain (overrides the rules\' own)').choices(
      Object.keys(WIRE_DRAIN_MODE),
    ),
  )
  .option('--drain-timeout-ms <ms>', 'with --drain drain: close what is left after this long', parseInteger)
  .action((file: string, opts: Omit<ApplyOptions, 'validateOnly'>) =>
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
