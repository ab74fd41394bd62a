/**
 * RuntimeDataPlane: the lifecycle of one backend and the accessors for its
 * parts. Everything above src/dataplane talks to a backend only through this.
 */
import type { Capabilities } from './capabilities.js';
import type { DataplaneCondition } from './conditions.js';
import type { ConfigSink } from './config-sink.js';
import type { HAController } from './ha-controller.js';
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
  /** Live sessions: every TCP connection and UDP flow. */
  sessions(): SessionStore;
  /** Open/update/close stream of those sessions. */
  sessionDeltas(): SessionDeltaSource;
  /** Global, per-rule (by counter id) and drop counters. */
  telemetry(): Telemetry;
  /** The decision path of a synthetic packet (see tracer.ts). */
  tracer(): Tracer;
  /** Role changes of an HA pair; absent where sessions cannot be imported (capability "session_import"). */
  haController?(): HAController;
  /** States an operator must hear about (e.g. nftables' "Drifted"); absent: the backend has none. */
  conditions?(): DataplaneCondition[];
}
