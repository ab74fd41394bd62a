#!/usr/bin/env node
/**
 * The `portplane` command: `serve` runs the daemon; the other commands talk
 * to a running daemon over its socket.
 */
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_NAMES } from '../backends.js';
import { BUILD_INFO } from '../build-info.js';
import { generateToken, hashToken, MIN_SECRET_LENGTH, parseToken } from '../auth/tokens.js';
import { loadConfigFile } from '../config/load-file.js';
import { yaml } from '../config/yaml.js';
import { WIRE_DRAIN_MODE } from '../config/wire.js';
import type { DrainMode } from '../config/model.js';
import { toWireTables } from '../config/wire.js';
import { DEFAULT_HISTORY_SIZE } from '../control/history.js';
import { connect, DaemonUnavailableError, PortplaneError, type ApplyConfigRequest, type PortplaneClient } from '../client/index.js';
import type { ConnectOptions } from '../client/connection.js';
import { SOCKET_NAME } from '../server/daemon.js';
import { DEFAULT_METRICS_LISTEN } from '../server/metrics-server.js';
import { parseDuration, wireDuration } from './duration.js';
import {
  formatConditions,
  formatError,
  formatEvent,
  formatHistory,
  formatPending,
  formatPlan,
  formatResult,
} from './format.js';
import { registerHaCommands } from './ha.js';
import { LOG_FORMATS } from './log-format.js';
import { defaultStateDir } from './state-dir.js';
import { registerFleet } from './fleet.js';
import { serve } from './serve.js';

const program = new Command('portplane')
  .description('Live L4 port-forwarding dataplane steered over gRPC')
  .version(BUILD_INFO.version, '-V, --version', 'print the package version of this build')
  .option('--state-dir <dir>', 'state directory (committed tables, control socket); default: $STATE_DIRECTORY (systemd StateDirectory=) or ./.portplane', defaultStateDir())
  .option('--socket <path>', 'control socket (default <state-dir>/portplane.sock)')
  .option('--address <host:port>', 'talk to a daemon listening on TCP instead of the socket')
  .option('--timeout <ms>', 'deadline of each call', parseInteger, 30_000)
  .option('--token <id.secret>', 'bearer token to present (default: $PORTPLANE_TOKEN)')
  .option('--ca <file>', 'TLS: CA bundle that verifies the daemon (with --address)')
  .option('--cert <file>', 'TLS: client certificate (with --ca)')
  .option('--key <file>', 'TLS: client private key (with --ca)')
  .addOption(new Option('-o, --output <format>', 'output: text for people, json or yaml for scripts').choices(['text', 'json', 'yaml']).default('text'));

/** Prints `value` as JSON or YAML when -o asks for it, else `text()`. */
function emit(value: unknown, text: () => string): void {
  const format = program.opts<{ output: string }>().output;
  if (format === 'json') console.log(JSON.stringify(value, null, 2));
  else if (format === 'yaml') process.stdout.write(yaml().stringify(value));
  else console.log(text());
}

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
    socket: o.socket ?? join(o.stateDir, SOCKET_NAME),
    address: o.address,
    timeoutMs: o.timeout,
    token: o.token ?? (process.env.PORTPLANE_TOKEN || undefined),
    tls: o.ca ? { ca: o.ca, cert: o.cert, key: o.key } : undefined,
  };
}

/** Runs one client action; gRPC errors are printed with their details and exit 1. */
async function withClient(action: (client: PortplaneClient) => Promise<void>): Promise<void> {
  const client = connect(connectOptions());
  try {
    await action(client);
  } catch (err) {
    if (err instanceof DaemonUnavailableError) console.error(`error: ${err.message}`);
    else if (err instanceof PortplaneError) console.error(formatError(err));
    else console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
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
  /** Confirm timeout, ms. */
  confirm?: number;
  comment?: string;
}

async function applyFile(file: string, opts: ApplyOptions): Promise<void> {
  const config = await loadConfigFile(file === '-' ? '/dev/stdin' : file);
  if (config.violations.length > 0) {
    console.error(`error: ${file === '-' ? 'standard input' : file} is not a valid configuration:`);
    for (const v of config.violations) console.error(`  ${v.path}: ${v.message}`);
    process.exitCode = 1;
    return;
  }
  await sendApply(
    { tables: toWireTables(config.tables), replace_all: opts.replaceAll ?? config.replaceAll },
    {
      ...opts,
      terminateRemoved: opts.terminateRemoved ?? config.terminateRemoved,
      expectedGeneration: opts.expectedGeneration ?? config.expectedGeneration,
      ...(!opts.drain && config.drain && { drain: config.drain.mode, drainTimeoutMs: config.drain.timeoutMs }),
    },
  );
}

/** Sends `request` with the options every apply shares; prints the plan, and the result unless only validating. */
async function sendApply(request: ApplyConfigRequest, opts: ApplyOptions): Promise<void> {
  const full: ApplyConfigRequest = { ...request, validate_only: opts.validateOnly, terminate_removed: opts.terminateRemoved ?? false };
  if (opts.drain) full.drain = { mode: WIRE_DRAIN_MODE[opts.drain], timeout_ms: opts.drainTimeoutMs ?? 0 };
  if (opts.expectedGeneration !== undefined) full.expected_generation = opts.expectedGeneration;
  if (opts.confirm !== undefined) full.confirm_timeout = wireDuration(opts.confirm);
  if (opts.comment !== undefined) full.comment = opts.comment;
  await withClient(async (client) => {
    const res = await client.applyConfig(full);
    emit(res, () =>
      [
        formatPlan(res.plan),
        ...(opts.validateOnly ? [] : [formatResult(res.result)]),
        ...(res.pending ? [formatPending(res.pending)] : []),
      ].join('\n'),
    );
  });
}

function parsePositive(value: string): number {
  const n = parseInteger(value);
  if (n === 0) throw new InvalidArgumentError('must be at least 1');
  return n;
}

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a non-negative number`);
  return n;
}

interface ServeFlags {
  listen?: string;
  backend: string;
  tun?: string;
  tunAddress?: string[];
  nftablesTable?: string;
  nftablesPersist?: boolean;
  nftablesDriftRepair?: 'timer' | 'apply';
  tunMtu?: number;
  tunTxqueuelen?: number;
  tunQueues?: number;
  graceMs: number;
  logLevel: string;
  logFormat?: string;
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
  historySize: number;
  relayThreads?: number;
  haPeer?: string;
  haRole?: 'active' | 'standby';
  haNode?: string;
  haCa?: string;
  haCert?: string;
  haKey?: string;
  haServerName?: string;
  haHeartbeatMs?: number;
}

/** Only the flags given, so the defaults of model.ts and control-limits.ts fill the rest. */
function given<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The generation given, or the one pending now. */
async function pendingGeneration(client: PortplaneClient, given: number | undefined): Promise<number> {
  if (given !== undefined) return given;
  const res = await client.getConfig();
  if (!res.pending) throw new Error(`nothing is pending; the running generation ${res.generation} is confirmed`);
  return Number(res.pending.generation);
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
  .addOption(new Option('--backend <name>', 'dataplane backend').choices([...BACKEND_NAMES]).default('kernel'))
  .option('--tun <name>', 'userspace backend: take packets from this TUN interface (created if missing; needs CAP_NET_ADMIN)')
  .option('--tun-address <cidr>', 'assign this address to the TUN interface and bring it up (iproute2 `ip`; repeatable)', collect, [])
  .option('--nftables-table <name>', 'nftables backend: the inet table it owns (default portplane)')
  .option('--nftables-persist', 'nftables backend: keep the table, and so the forwarding, after a clean stop')
  .addOption(new Option('--nftables-drift-repair <when>', 'nftables backend: restore a table another program changed at once (timer) or at the next apply (apply); reported either way').choices(['timer', 'apply']))
  .option('--tun-mtu <bytes>', 'TUN interface MTU (default 1500 when --tun-address configures the link)', parsePositive)
  .option('--tun-txqueuelen <packets>', 'TUN queue length: packets the kernel holds for portplane before dropping (default 1000 with --tun-address)', parsePositive)
  .option('--tun-queues <n>', 'TUN queues, each read by its own native loop thread (IFF_MULTI_QUEUE; default: one per core)', parsePositive)
  .option('--relay-threads <n>', 'kernel backend: threads of the native TCP engine (default: one per core)', parsePositive)
  .option('--grace-ms <ms>', 'how long shutdown waits for sessions before forcing them closed', parseInteger, 10_000)
  .option('--history-size <n>', 'apply history entries kept in the state directory', parseInteger, DEFAULT_HISTORY_SIZE)
  .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
  .option('--ha-peer <host:port>', 'HA: the other node\'s control listener; while standby, this node syncs its sessions from it')
  .addOption(new Option('--ha-role <role>', 'HA: role at start (default: standby with --ha-peer, else active)').choices(['active', 'standby']))
  .option('--ha-node <name>', 'HA: this node\'s name in the peer\'s status (default: host name)')
  .option('--ha-ca <file>', 'HA: CA bundle that verifies the peer (TLS to --ha-peer); the token comes from $PORTPLANE_HA_TOKEN')
  .option('--ha-cert <file>', 'HA: client certificate presented to the peer (with --ha-ca)')
  .option('--ha-key <file>', 'HA: client private key (with --ha-ca)')
  .option('--ha-server-name <name>', 'HA: name in the peer\'s certificate, when it is not the --ha-peer host')
  .option('--ha-heartbeat-ms <ms>', 'HA: sync heartbeat interval (a silent link is detected after 5 of them)', parsePositive)
  .addOption(new Option('--log-format <format>', 'log lines as JSON or as text (default: text on a terminal, JSON elsewhere)').choices([...LOG_FORMATS]))
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

registerHaCommands(program, withClient);

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
  .argument('<file>', 'YAML or JSON forwarding tables ("-": standard input)')
  .option('--replace-all', 'remove running tables not named in FILE')
  .option('--expected-generation <n>', 'apply only if the running generation is n', parseInteger)
  .option('--terminate-removed', 'close established connections of removed ports')
  .addOption(
    new Option('--drain <mode>', 'sessions of removed or retargeted rules: keep, terminate or drain (overrides the rules\' own)').choices(
      Object.keys(WIRE_DRAIN_MODE),
    ),
  )
  .option('--drain-timeout-ms <ms>', 'with --drain drain: close what is left after this long', parseInteger)
  .option('--confirm <duration>', 'roll back unless `portplane confirm` follows within this (e.g. 30s)', parseDuration)
  .option('--comment <text>', 'recorded in the apply history')
  .action((file: string, opts: Omit<ApplyOptions, 'validateOnly'>) => applyFile(file, { validateOnly: false, ...opts }));

program
  .command('plan')
  .description('validate FILE and print the plan without applying it')
  .argument('<file>', 'YAML or JSON forwarding tables ("-": standard input)')
  .option('--replace-all', 'plan as if running tables not named in FILE were removed')
  .action((file: string, opts: { replaceAll?: boolean }) => applyFile(file, { validateOnly: true, ...opts }));

program
  .command('delete-table')
  .description('remove running tables by name as one apply (a new generation); other tables and their connections are untouched')
  .argument('<names...>', 'names of running tables')
  .option('--dry-run', 'validate and print the plan only')
  .option('--expected-generation <n>', 'delete only if the running generation is n', parseInteger)
  .option('--terminate-removed', 'close established connections of the removed ports')
  .addOption(
    new Option('--drain <mode>', 'sessions of the removed rules: keep, terminate or drain (overrides the rules\' own)').choices(Object.keys(WIRE_DRAIN_MODE)),
  )
  .option('--drain-timeout-ms <ms>', 'with --drain drain: close what is left after this long', parseInteger)
  .option('--confirm <duration>', 'roll back unless `portplane confirm` follows within this (e.g. 30s)', parseDuration)
  .option('--comment <text>', 'recorded in the apply history')
  .action((names: string[], opts: Omit<ApplyOptions, 'validateOnly'> & { dryRun?: boolean }) => {
    const { dryRun, ...rest } = opts;
    return sendApply({ tables: [], delete_tables: names }, { ...rest, validateOnly: dryRun ?? false });
  });

program
  .command('status')
  .description('show the last successful apply')
  .action(() =>
    withClient(async (client) => {
      const res = await client.lastApplyResult();
      emit(res, () => [formatResult(res.result), formatConditions(res.conditions)].filter(Boolean).join('\n'));
    }),
  );

program
  .command('get')
  .description('print the running tables as a config file that re-applies only onto this generation')
  .action(() =>
    withClient(async (client) => {
      const res = await client.getConfig();
      console.error(`generation ${res.generation}, digest ${res.config_digest}`);
      const config = { expected_generation: Number(res.generation), tables: res.tables };
      if (program.opts<{ output: string }>().output === 'yaml') process.stdout.write(yaml().stringify(config));
      else console.log(JSON.stringify(config, null, 2));
    }),
  );

program
  .command('confirm')
  .description('confirm the pending apply (of generation GEN, default: the one pending)')
  .argument('[gen]', 'pending generation', parseInteger)
  .action((gen: number | undefined) =>
    withClient(async (client) => {
      const generation = await pendingGeneration(client, gen);
      const res = await client.confirmApply(generation);
      emit(res, () => `confirmed generation ${generation}\n${formatResult(res.result)}`);
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
      const res = await client.cancelApply(generation, opts.reason ?? '');
      emit(res, () => `rolled back generation ${generation}; ${res.restored?.detail ?? ''}\n${formatResult(res.result)}`);
    }),
  );

program
  .command('history')
  .description('list the apply history, newest first')
  .option('--limit <n>', 'at most n entries', parseInteger, 0)
  .action((opts: { limit: number }) =>
    withClient(async (client) => {
      const res = await client.listApplyHistory(opts.limit);
      emit(res, () => formatHistory(res.entries, res.capacity));
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
      const res = await client.rollbackTo({
        generation: gen,
        ...(opts.expectedGeneration !== undefined && { expected_generation: opts.expectedGeneration }),
        ...(opts.confirm !== undefined && { confirm_timeout: wireDuration(opts.confirm) }),
        comment: opts.comment ?? '',
      });
      emit(res, () =>
        [
          formatPlan(res.plan),
          formatResult(res.result),
          ...(res.pending ? [formatPending(res.pending)] : []),
        ].join('\n'),
      );
    }),
  );

program
  .command('watch')
  .description('print the current result, then every apply, confirmation and rollback as it happens')
  .option('--json', 'one JSON object per event')
  .option('--count <n>', 'exit after n events (the current one included)', parseInteger)
  .action((opts: { json?: boolean; count?: number }) =>
    withClient(async (client) => {
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      let seen = 0;
      for await (const event of client.watchApplyResults({ signal: stop.signal })) {
        const format = program.opts<{ output: string }>().output;
        if (opts.json || format === 'json') console.log(JSON.stringify(event));
        else if (format === 'yaml') process.stdout.write(`---\n${yaml().stringify(event)}`);
        else console.log(formatEvent(event));
        if (opts.count !== undefined && ++seen >= opts.count) break;
      }
    }),
  );

const sessions = program.command('sessions').description('list, show and close live sessions (SessionService)');

sessions
  .command('list', { isDefault: true })
  .description('list live sessions, filtered')
  .option('--table <name>', 'only this table\'s sessions')
  .option('--rule <name>', 'only this rule\'s sessions (with --table)')
  .option('--client-cidr <cidr>', 'only clients in this prefix')
  .option('--limit <n>', 'at most n sessions (one page)', parsePositive, 1000)
  .action((opts: { table?: string; rule?: string; clientCidr?: string; limit: number }) =>
    withClient(async (client) => {
      const filter = { table: opts.table ?? '', rule: opts.rule ?? '', client_cidr: opts.clientCidr ?? '' };
      const res = await client.listSessions({ filter, page_size: opts.limit });
      emit(res, () =>
        res.sessions
          .map((s) => `${s.id}  ${s.protocol}  ${s.client?.address}:${s.client?.port} -> ${s.target?.address}:${s.target?.port}  ${s.table}/${s.rule_name}  ${s.state}`)
          .join('\n') || 'no sessions',
      );
    }),
  );

sessions
  .command('get')
  .description('show one session')
  .argument('<id>', 'session id from `portplane sessions list`')
  .action((id: string) =>
    withClient(async (client) => {
      const res = await client.getSession(id);
      emit(res, () => yaml().stringify(res.session).trimEnd());
    }),
  );

sessions
  .command('delete')
  .description('close sessions (every leg): by id, or every session of --table')
  .argument('[ids...]', 'session ids')
  .option('--table <name>', 'every session of this table')
  .action((ids: string[], opts: { table?: string }) =>
    withClient(async (client) => {
      if (ids.length === 0 && !opts.table) throw new Error('name session ids, or --table to close every session of a table');
      const res = await client.deleteSessions(ids.length > 0 ? { ids } : { filter: { table: opts.table } });
      emit(res, () => `closed ${res.deleted} session(s)${Number(res.not_found) > 0 ? `; ${res.not_found} not found` : ''}`);
    }),
  );

program
  .command('counters')
  .description('global, per-table and per-rule counters (TelemetryService.GetCounters)')
  .option('--table <name>', 'only this table and its rules')
  .action((opts: { table?: string }) =>
    withClient(async (client) => {
      const res = await client.getCounters({ table: opts.table ?? '' });
      emit(res, () => yaml().stringify(res).trimEnd());
    }),
  );

registerFleet(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
