/**
 * `portplane serve`: the daemon process.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pino, type Level } from 'pino';
import { DEFAULT_CONTROL_LIMITS, type ControlLimits } from '../auth/control-limits.js';
import { loadPolicyFile } from '../auth/policy.js';
import { BACKEND_NAMES, createDataPlane, type BackendName } from '../backends.js';
import { DEFAULT_LIMITS, type Limits } from '../config/model.js';
import type { HARole } from '../dataplane/ha-controller.js';
import { Daemon, type HAOptions } from '../server/daemon.js';
import { takeActivatedSockets, systemdNotifier } from '../server/systemd.js';
import type { TlsFiles } from '../server/transport-security.js';
import { BUILD_INFO } from '../build-info.js';
import { openLogDestination } from './log-destination.js';
import { defaultLogFormat, LOG_FORMATS, type LogFormat } from './log-format.js';
import { exitOnSignals } from './shutdown.js';
import { stopHint } from './stop-hint.js';
import { fleetOptions, type FleetServeFlags } from './fleet.js';

/** With `--etcd`, also fleet mode (docs/fleet.md). */
export interface ServeOptions extends FleetServeFlags {
  stateDir: string;
  listen?: string;
  backend: string;
  graceMs: number;
  logLevel: string;
  /** json or text; default: text on a terminal, JSON elsewhere. */
  logFormat?: string;
  historySize: number;
  /** userspace backend: the TUN interface to use as its packet port */
  tun?: string;
  /** addresses (CIDR) to assign to the TUN interface before bringing it up */
  tunAddress?: string[];
  /** nftables backend: the table (inet family) it owns */
  nftablesTable?: string;
  /** nftables backend: keep the table (and forwarding) after a clean stop */
  nftablesPersist?: boolean;
  /** nftables backend: restore a changed table at once ('timer') or at the next apply */
  nftablesDriftRepair?: 'timer' | 'apply';
  /** TUN link MTU and queue length */
  tunMtu?: number;
  tunTxqueuelen?: number;
  tunQueues?: number;
  socketGroup?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  authPolicy?: string;
  limits?: Partial<Limits>;
  controlLimits?: Partial<ControlLimits>;
  /** '' turns /metrics off. */
  metricsListen: string;
  logSessions?: boolean;
  watchBuffer?: number;
  /** kernel backend: threads of the native TCP engine (default: one per core). */
  relayThreads?: number;
  haPeer?: string;
  haRole?: HARole;
  haNode?: string;
  haCa?: string;
  haCert?: string;
  haKey?: string;
  haServerName?: string;
  haHeartbeatMs?: number;
}

/** The HA options of the daemon, from the --ha-* flags and $PORTPLANE_HA_TOKEN. */
function haOptions(options: ServeOptions): HAOptions | undefined {
  const { haPeer, haRole, haNode, haCa, haCert, haKey, haServerName, haHeartbeatMs } = options;
  if (!haPeer && (haCa || haCert || haKey || haServerName)) throw new Error('--ha-ca, --ha-cert, --ha-key and --ha-server-name secure the link to --ha-peer: add --ha-peer host:port');
  if ((haCert || haKey) && !haCa) throw new Error('--ha-cert/--ha-key need --ha-ca (the CA that verifies the peer)');
  if (!haPeer && !haRole && !haNode && haHeartbeatMs === undefined) return undefined;
  const token = process.env.PORTPLANE_HA_TOKEN;
  return {
    ...(haRole && { initialRole: haRole }),
    ...(haNode && { node: haNode }),
    ...(haHeartbeatMs !== undefined && { heartbeatMs: haHeartbeatMs }),
    ...(haPeer && {
      peer: {
        address: haPeer,
        ...(haCa && { tls: { ca: haCa, ...(haCert && { cert: haCert }), ...(haKey && { key: haKey }) } }),
        ...(token && { token }),
        ...(haServerName && { serverName: haServerName }),
      },
    }),
  };
}

/** A group name (from /etc/group) or number. */
async function resolveGroup(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const entries = await readFile('/etc/group', 'utf8').catch(() => '');
  for (const line of entries.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined) return Number(gid);
  }
  throw new Error(`--socket-group ${JSON.stringify(group)}: no such group in /etc/group`);
}

function tlsFiles(options: ServeOptions): TlsFiles | undefined {
  const { tlsCert: cert, tlsKey: key, tlsClientCa: clientCa } = options;
  if (!cert && !key && !clientCa) return undefined;
  if (!cert || !key) throw new Error('TLS needs both --tls-cert and --tls-key');
  return { cert, key, clientCa };
}

export async function serve(options: ServeOptions): Promise<void> {
  const format = options.logFormat ?? defaultLogFormat(process.stdout);
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new Error(`--log-format ${JSON.stringify(format)}: choose one of ${LOG_FORMATS.join(', ')}`);
  const destination = openLogDestination(1, format as LogFormat);
  process.on('exit', () => destination.flushAtExit());
  const logger = pino({ level: options.logLevel as Level, base: { pid: process.pid } }, destination);
  // Absolute from here on: every path in logs and errors says where it is.
  const stateDir = resolve(options.stateDir);
  const activated = takeActivatedSockets();
  if (activated.length > 1) {
    throw new Error(`socket activation passed ${activated.length} sockets (${activated.map((s) => s.name).join(', ')}); portplane serves one control socket`);
  }
  const notifier = systemdNotifier();
  const notify = (fields: Record<string, string>): void => {
    try {
      notifier.send(fields);
    } catch (err) {
      logger.warn({ err, notifySocket: notifier.socket }, 'could not notify systemd');
    }
  };
  if (!(BACKEND_NAMES as readonly string[]).includes(options.backend)) {
    throw new Error(`unknown backend ${JSON.stringify(options.backend)}; choose one of ${BACKEND_NAMES.join(', ')}`);
  }
  const tls = tlsFiles(options);
  const policy = options.authPolicy ? await loadPolicyFile(options.authPolicy) : undefined;
  const socketGroup = options.socketGroup === undefined ? undefined : await resolveGroup(options.socketGroup);
  if (options.tunAddress?.length && !options.tun) throw new Error('--tun-address needs --tun');
  if ((options.tunMtu !== undefined || options.tunTxqueuelen !== undefined || options.tunQueues !== undefined) && !options.tun) {
    throw new Error('--tun-mtu, --tun-txqueuelen and --tun-queues need --tun');
  }
  const tun = options.tun
    ? { device: options.tun, addresses: options.tunAddress, mtu: options.tunMtu, txQueueLength: options.tunTxqueuelen, queues: options.tunQueues }
    : undefined;
  const fleet = fleetOptions(options);
  const nftables =
    options.nftablesTable !== undefined || options.nftablesPersist || options.nftablesDriftRepair
      ? { table: options.nftablesTable, persist: options.nftablesPersist, driftRepair: options.nftablesDriftRepair }
      : undefined;
  const dataplane = createDataPlane(options.backend as BackendName, { logger, tun, nftables, relayThreads: options.relayThreads });
  const daemon = await Daemon.start({
    stateDir,
    inheritedFd: activated[0]?.fd,
    summary: { version: BUILD_INFO.version, socketActivated: activated.length > 0, stop: await stopHint() },
    listen: options.listen,
    socketGroup,
    tls,
    policy,
    controlLimits: { ...DEFAULT_CONTROL_LIMITS, ...options.controlLimits },
    dataplane,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    logger,
    graceMs: options.graceMs,
    metricsListen: options.metricsListen || undefined,
    logSessions: options.logSessions,
    watchBuffer: options.watchBuffer,
    historySize: options.historySize,
    fleet,
    ha: haOptions(options),
  });
  notify({ READY: '1', STATUS: `serving ${daemon.address}, generation ${daemon.controller.runningGeneration}`, MAINPID: String(process.pid) });
  exitOnSignals(
    {
      shutdown: (signal) => {
        notify({ STOPPING: '1', STATUS: `stopping (${signal}): draining sessions for up to ${options.graceMs} ms` });
        return daemon.shutdown(signal);
      },
    },
    { graceMs: options.graceMs, logger },
  );
}
