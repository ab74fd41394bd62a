/**
 * Signals end the daemon within a bound, whatever else happens: the first
 * SIGTERM/SIGINT starts an orderly shutdown (Daemon.shutdown: in-flight
 * applies, gRPC calls and sessions get the grace period); if that has not
 * finished `SHUTDOWN_MARGIN_MS` after the grace period, or a second signal
 * arrives, the process exits at once. Log lines still queued get one
 * bounded attempt at exit (log-destination.ts), so a dead or stalled log
 * reader cannot hold the process.
 */
import { constants } from 'node:os';
import type { Logger } from 'pino';

/** How long past the grace period an orderly shutdown may take before the process exits anyway. */
export const SHUTDOWN_MARGIN_MS = 1_500;

export interface Stoppable {
  shutdown(reason: string): Promise<void>;
}

export function exitOnSignals(daemon: Stoppable, options: { graceMs: number; logger: Logger; beforeExit?: () => void }): void {
  const { logger } = options;
  const exit = (code: number): never => {
    options.beforeExit?.();
    process.exit(code);
  };
  let first: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (first) {
      logger.warn({ signal, first }, 'second signal: exiting now, without waiting for the orderly shutdown');
      exit(128 + (constants.signals[signal] ?? 0));
    }
    first = signal;
    const bound = options.graceMs + SHUTDOWN_MARGIN_MS;
    setTimeout(() => {
      logger.error({ signal, waitedMs: bound }, 'shutdown did not finish within the grace period: exiting anyway');
      exit(1);
    }, bound);
    daemon.shutdown(signal).then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
