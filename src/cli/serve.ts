/**
 * `portplane serve`: the daemon process.
 */
import { pino, type Level } from 'pino';
import { BACKEND_NAMES, createDataPlane, type BackendName } from '../backends.js';
import { DEFAULT_LIMITS } from '../config/model.js';
import { Daemon } from '../server/daemon.js';

export interface ServeOptions {
  stateDir: string;
  listen?: string;
  backend: string;
  graceMs: number;
  logLevel: string;
  historySize: number;
}

export async function serve(options: ServeOptions): Promise<void> {
  const logger = pino({ level: options.logLevel as Level, base: { pid: process.pid } });
  if (!(BACKEND_NAMES as readonly string[]).includes(options.backend)) {
    throw new Error(`unknown backend ${JSON.stringify(options.backend)}; choose one of ${BACKEND_NAMES.join(', ')}`);
  }
  const dataplane = createDataPlane(options.backend as BackendName, { logger });
  const daemon = await Daemon.start({
    stateDir: options.stateDir,
    listen: options.listen,
    dataplane,
    limits: DEFAULT_LIMITS,
    logger,
    graceMs: options.graceMs,
    historySize: options.historySize,
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    daemon.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
