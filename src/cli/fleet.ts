/**
 * `portplane fleet ...`: a controller's view of a fleet driven through etcd
 * (docs/fleet.md). These commands talk to etcd, not to a daemon:
 * - `fleet put --node N FILE`: each table of FILE to its key, all in one
 *   transaction that compares every key's mod_revision (with
 *   `--expect-revision`, the one the writer read; otherwise the one read
 *   just before), so concurrent writers never overwrite each other unseen;
 * - `fleet delete --node N TABLE`: the same, for a removal;
 * - `fleet status [--wait REVISION]`: a table of nodes (desired against
 *   reported revisions, conditions, failures); `--wait` polls until every
 *   node reflects the revision or reported a failure, up to a deadline.
 *
 * `serve` gets its fleet flags here too (`--etcd`, `--node`, ...), so main.ts
 * registers all of it with one line.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Etcd3 } from 'etcd3';
import { loadConfigFile } from '../config/load-file.js';
import { toWireTables } from '../config/wire.js';
import type { FleetOptions } from '../fleet/daemon-fleet.js';
import { desiredTableText } from '../fleet/desired-table.js';
import { connectEtcd, parseEndpoints, type EtcdTlsFiles } from '../fleet/etcd-client.js';
import { nodeProgress, readFleet, type FleetView } from '../fleet/fleet-view.js';
import { checkNodeName, DEFAULT_PREFIX, FleetKeys } from '../fleet/keys.js';
import { parseDuration } from './duration.js';

/** The fleet flags of `serve` (see ServeOptions). */
export interface FleetServeFlags {
  etcd?: string;
  node?: string;
  etcdPrefix?: string;
  etcdTlsCa?: string;
  etcdTlsCert?: string;
  etcdTlsKey?: string;
  etcdLeaseTtl?: number;
  etcdWatchdogMs?: number;
}

interface EtcdFlags {
  etcd: string;
  etcdPrefix: string;
  etcdTlsCa?: string;
  etcdTlsCert?: string;
  etcdTlsKey?: string;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

function tlsOf(flags: Pick<EtcdFlags, 'etcdTlsCa' | 'etcdTlsCert' | 'etcdTlsKey'>): EtcdTlsFiles | undefined {
  if (!flags.etcdTlsCa) {
    if (flags.etcdTlsCert || flags.etcdTlsKey) throw new Error('--etcd-tls-cert and --etcd-tls-key need --etcd-tls-ca');
    return undefined;
  }
  return { ca: flags.etcdTlsCa, cert: flags.etcdTlsCert, key: flags.etcdTlsKey };
}

/** Fleet mode of `serve`, when `--etcd` is given. */
export function fleetOptions(flags: FleetServeFlags): FleetOptions | undefined {
  if (flags.etcd === undefined) {
    if (flags.node !== undefined) throw new Error('--node needs --etcd');
    return undefined;
  }
  if (!flags.node) throw new Error('--etcd needs --node NAME: the name this host has in the fleet');
  const tls = tlsOf(flags);
  return {
    endpoints: parseEndpoints(flags.etcd, tls !== undefined),
    node: checkNodeName(flags.node),
    prefix: flags.etcdPrefix ?? DEFAULT_PREFIX,
    ...(tls && { tls }),
    ...(flags.etcdLeaseTtl !== undefined && { leaseTtlSeconds: flags.etcdLeaseTtl }),
    ...(flags.etcdWatchdogMs !== undefined && { watchdogMs: flags.etcdWatchdogMs }),
  };
}

function etcdOptions(command: Command): Command {
  return command
    .option('--etcd <urls>', 'etcd endpoints, comma-separated (default $PORTPLANE_ETCD or http://127.0.0.1:2379)')
    .option('--etcd-prefix <prefix>', 'key prefix of the fleet', DEFAULT_PREFIX)
    .option('--etcd-tls-ca <file>', 'TLS: CA bundle that verifies etcd')
    .option('--etcd-tls-cert <file>', 'TLS: client certificate for etcd')
    .option('--etcd-tls-key <file>', 'TLS: client private key for etcd');
}

async function withEtcd(flags: EtcdFlags, action: (etcd: Etcd3, keys: FleetKeys) => Promise<number>): Promise<void> {
  const tls = tlsOf(flags);
  const endpoints = parseEndpoints(flags.etcd ?? process.env.PORTPLANE_ETCD ?? 'http://127.0.0.1:2379', tls !== undefined);
  const etcd = connectEtcd({ endpoints, tls });
  try {
    process.exitCode = await action(etcd, new FleetKeys(flags.etcdPrefix));
  } finally {
    etcd.close();
  }
}

/** One transaction: every key still at its expected mod_revision (0: absent), else nothing is written. */
async function casWrite(
  etcd: Etcd3,
  writes: { key: string; value?: string }[],
  expected: number | undefined,
): Promise<{ ok: true; revision: number } | { ok: false; conflicts: string[] }> {
  const current = await Promise.all(writes.map(async (w) => Number((await etcd.get(w.key).exec()).kvs[0]?.mod_revision ?? 0)));
  const conflicts = expected === undefined ? [] : writes.flatMap((w, i) => (current[i]! > expected ? [`${w.key} is at mod_revision ${current[i]}, after ${expected}`] : []));
  if (conflicts.length > 0) return { ok: false, conflicts };
  let txn = etcd.if(writes[0]!.key, 'Mod', '==', current[0]!);
  writes.slice(1).forEach((w, i) => (txn = txn.and(w.key, 'Mod', '==', current[i + 1]!)));
  const res = await txn
    .then(...writes.map((w) => (w.value === undefined ? etcd.delete().key(w.key) : etcd.put(w.key).value(w.value))))
    .commit();
  if (!res.succeeded) return { ok: false, conflicts: ['another writer changed a key between read and write; read again and retry'] };
  return { ok: true, revision: Number(res.header.revision) };
}

function formatView(view: FleetView): string {
  const rows = [['NODE', 'PROGRESS', 'READY', 'DEGRADED', 'STALE', 'DESIRED', 'REPORTED', 'GEN', 'FAILURES']];
  for (const n of [...view.nodes.values()].sort((a, b) => a.node.localeCompare(b.node))) {
    const s = n.status;
    const cond = (type: string): string => {
      const c = s?.conditions.find((x) => x.type === type);
      return c ? `${c.status ? 'True' : 'False'}(${c.reason})` : '-';
    };
    const desired = Math.max(0, ...n.desired.values());
    const reported = s ? Math.max(0, ...Object.values(s.tables).map((t) => t.desiredRevision)) : 0;
    const failures = s
      ? Object.entries(s.tables)
          .filter(([, t]) => t.outcome !== 'applied' || t.failures?.length)
          .map(([name, t]) => `${name}:${t.outcome}${t.violations?.length ? ` ${t.violations[0]!.path}` : ''}${t.failures?.length ? ` ${t.failures.map((f) => `${f.port}/${f.errno}`).join(',')}` : ''}`)
          .join('; ')
      : n.statusError ?? 'no status (agent down or its lease expired)';
    rows.push([n.node, nodeProgress(n), cond('Ready'), cond('Degraded'), cond('Stale'), String(desired), String(reported), String(s?.generation ?? '-'), failures || '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function registerFleet(program: Command): void {
  const serveCommand = program.commands.find((c) => c.name() === 'serve');
  serveCommand
    ?.option('--etcd <urls>', 'fleet mode: follow this node\'s desired tables in etcd (endpoints, comma-separated; docs/fleet.md)')
    .option('--node <name>', 'fleet mode: this host\'s node name')
    .option('--etcd-prefix <prefix>', 'fleet mode: key prefix', DEFAULT_PREFIX)
    .option('--etcd-tls-ca <file>', 'fleet mode: CA bundle that verifies etcd')
    .option('--etcd-tls-cert <file>', 'fleet mode: client certificate for etcd')
    .option('--etcd-tls-key <file>', 'fleet mode: client private key for etcd')
    .option('--etcd-lease-ttl <seconds>', 'fleet mode: TTL of the status lease', positive, 10)
    .option('--etcd-watchdog-ms <ms>', 'fleet mode: watch watchdog period', positive, 5_000);

  const fleet = program.command('fleet').description('drive a fleet of daemons through etcd (talks to etcd, not to a daemon)');

  etcdOptions(fleet.command('put'))
    .description('write the tables of FILE as NODE\'s desired tables (one key each, one transaction, compare-and-swap on mod_revision)')
    .requiredOption('--node <name>', 'the node the tables are for')
    .option('--expect-revision <rev>', 'fail unless no key changed after this etcd revision (the one you read)', positive)
    .argument('<file>', 'YAML or JSON, the form `portplane apply` reads')
    .action((file: string, opts: EtcdFlags & { node: string; expectRevision?: number }) =>
      withEtcd(opts, async (etcd, keys) => {
        checkNodeName(opts.node);
        const config = await loadConfigFile(file);
        if (config.violations.length > 0) {
          console.error(`error: ${file} is not a valid configuration:`);
          for (const v of config.violations) console.error(`  ${v.path}: ${v.message}`);
          return 1;
        }
        if (config.tables.length === 0) {
          console.error(`error: ${file} holds no table`);
          return 1;
        }
        const writes = toWireTables(config.tables).map((t) => ({ key: keys.table(opts.node, t.name), value: desiredTableText(t) }));
        const res = await casWrite(etcd, writes, opts.expectRevision);
        if (!res.ok) {
          console.error(`error: conflict, nothing written: ${res.conflicts.join('; ')}`);
          return 1;
        }
        console.log(`put ${config.tables.map((t) => t.name).join(', ')} for node ${opts.node} at revision ${res.revision}`);
        console.log(`(portplane fleet status --wait ${res.revision} waits until it is in effect)`);
        return 0;
      }),
    );

  etcdOptions(fleet.command('delete'))
    .description('remove TABLE from NODE\'s desired tables (compare-and-swap on mod_revision)')
    .requiredOption('--node <name>', 'the node')
    .option('--expect-revision <rev>', 'fail unless the key did not change after this etcd revision', positive)
    .argument('<table>', 'table name')
    .action((table: string, opts: EtcdFlags & { node: string; expectRevision?: number }) =>
      withEtcd(opts, async (etcd, keys) => {
        checkNodeName(opts.node);
        const key = keys.table(opts.node, table);
        if ((await etcd.get(key).exec()).kvs.length === 0) {
          console.error(`error: node ${opts.node} has no desired table ${JSON.stringify(table)} (${key})`);
          return 1;
        }
        const res = await casWrite(etcd, [{ key }], opts.expectRevision);
        if (!res.ok) {
          console.error(`error: conflict, nothing deleted: ${res.conflicts.join('; ')}`);
          return 1;
        }
        console.log(`deleted ${table} for node ${opts.node} at revision ${res.revision}`);
        return 0;
      }),
    );

  etcdOptions(fleet.command('status'))
    .description('every node: desired against reported revisions, conditions, failures')
    .option('--node <name>', 'only this node')
    .option('--wait <revision>', 'wait until every node reflects this revision or reported a failure', positive)
    .addOption(new Option('--deadline <duration>', 'how long --wait waits (e.g. 30s)').argParser(parseDuration).default(30_000, '30s'))
    .option('--json', 'the view as JSON (desired revisions and each status)')
    .action((opts: EtcdFlags & { node?: string; wait?: number; deadline: number; json?: boolean }) =>
      withEtcd(opts, async (etcd, keys) => {
        const until = Date.now() + opts.deadline;
        let view = await readFleet(etcd, keys, opts.node);
        // Bounded by the deadline; each read is two range requests.
        while (opts.wait !== undefined && (view.revision < opts.wait || [...view.nodes.values()].some((n) => nodeProgress(n) === 'behind'))) {
          if (Date.now() >= until) break;
          await new Promise((r) => setTimeout(r, 100));
          view = await readFleet(etcd, keys, opts.node);
        }
        if (opts.json) {
          const nodes = [...view.nodes.values()].map((n) => ({ ...n, desired: Object.fromEntries(n.desired), progress: nodeProgress(n) }));
          console.log(JSON.stringify({ revision: view.revision, nodes }, null, 2));
        } else {
          console.log(formatView(view));
        }
        const progress = [...view.nodes.values()].map(nodeProgress);
        if (opts.wait !== undefined && progress.includes('behind')) {
          console.error(`error: not every node reflects revision ${opts.wait} after ${opts.deadline} ms`);
          return 2;
        }
        return progress.includes('failed') ? 1 : 0;
      }),
    );
}
