/**
 * RuntimeDataPlane: the lifecycle of one backend and the accessors for its
 * parts. Everything above src/dataplane talks to a backend only through this.
 */
import type { Capabilities } from './capabilities.js';
import type { ConfigSink } from './config-sink.js';
import type { SessionDeltaSource } from './session-deltas.js';
import type { SessionStore } from './session-store.js';
import type { Telemetry } from './telemetry.js';
import type { Tracer } from './tracer.js';

export interface RuntimeDataPlane {
  /** Backend name as reported in ApplyResult.backend, e.g. "kernel". */
  readonly name: string;
  start(): Promise<void>;
  /**
   * Graceful stop: close every listener at once, let established sessions
   * finish for up to `graceMs`, then force-close what is left.
   */
  close(graceMs: number): Promise<void>;
  /** Immediate stop: every listener and session is closed now. */
  teardown(): Promise<void>;
  capabilities(): Capabilities;
  configSink(): ConfigSink;
  /**
   * The parts below are undefined exactly when capabilities() lists the
   * matching feature ("sessions", "session_deltas", "telemetry") as
   * unsupported, with the reason.
   */
  sessions(): SessionStore | undefined;
  sessionDeltas(): SessionDeltaSource | undefined;
  telemetry(): Telemetry | undefined;
  /** Every backend answers Trace (see tracer.ts for what each part means). */
  tracer(): Tracer;
}
