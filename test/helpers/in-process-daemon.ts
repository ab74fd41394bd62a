/**
 * A real daemon (real gRPC server, a real backend (kernel unless asked), real state files)
 * inside the test process, for suites that do not need to kill it.
 */
import { pino, type Logger } from 'pino';
import type { ControlLimits } from '../../src/auth/control-limits.js';
import type { AuthPolicy } from '../../src/auth/policy.js';
import { createDataPlane, type BackendName } from '../../src/backends.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/config/model.js';
import type { RuntimeDataPlane } from '../../src/dataplane/runtime.js';
import type { FleetOptions } from '../../src/fleet/daemon-fleet.js';
import { Daemon, type HAOptions } from '../../src/server/daemon.js';
import { removeDir, tempStateDir } from './daemon-process.js';

export interface TestDaemon {
  daemon: Daemon;
  stateDir: string;
  target: string;
  stop(): Promise<void>;
}

export interface TestDaemonOptions {
  limits?: Partial<Limits>;
  listen?: string;
  policy?: AuthPolicy;
  controlLimits?: ControlLimits;
  socketGroup?: number;
  /** Where logs go (audit lines included); default: nowhere. */
  logger?: Logger;
  /** Prometheus /metrics `host:port`; default: none. */
  metricsListen?: string;
  logSessions?: boolean;
  watchBuffer?: number;
  /** Backend to create (default kernel), unless `dataplane` is given. */
  backend?: BackendName;
  dataplane?: RuntimeDataPlane;
  historySize?: number;
  /** Fleet mode: follow a node's desired tables in etcd. */
  fleet?: FleetOptions;
  /** State directory to use, e.g. for a restart (kept after stop); default: a fresh temporary one, removed after stop. */
  stateDir?: string;
  ha?: HAOptions;
}

export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const stateDir = options.stateDir ?? (await tempStateDir());
  const logger = options.logger ?? pino({ level: 'silent' });
  const daemon = await Daemon.start({
    stateDir,
    listen: options.listen,
    policy: options.policy,
    controlLimits: options.controlLimits,
    socketGroup: options.socketGroup,
    dataplane: options.dataplane ?? createDataPlane(options.backend ?? 'kernel', { logger }),
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    logger,
    graceMs: 1000,
    metricsListen: options.metricsListen,
    logSessions: options.logSessions,
    watchBuffer: options.watchBuffer,
    ...(options.historySize !== undefined && { historySize: options.historySize }),
    ...(options.fleet && { fleet: options.fleet }),
    ...(options.ha && { ha: options.ha }),
  });
  return {
    daemon,
    stateDir,
    target: daemon.address,
    stop: async () => {
      await daemon.shutdown('test finished');
      if (!options.stateDir) await removeDir(stateDir);
    },
  };
}
