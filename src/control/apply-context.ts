/**
 * What the apply pipeline and the pending-apply state machine share: the
 * dataplane and the ledger they drive, the running record, the divergence
 * of the dataplane from it, the apply counters and the event feed, and the
 * few ways they report (a result for a caller, an event, a history flush).
 */
import type { Logger } from 'pino';
import type { Limits } from '../config/model.js';
import type { ReservedEndpoint } from '../config/self-protection.js';
import { copyApplyResult, type ApplyResult } from '../dataplane/apply-result.js';
import type { Capabilities } from '../dataplane/capabilities.js';
import type { ConfigSink } from '../dataplane/config-sink.js';
import type { RuntimeDataPlane } from '../dataplane/runtime.js';
import { ApplyEvents, type ApplyEvent } from './apply-events.js';
import { ApplyStats } from './apply-stats.js';
import { Divergence } from './divergence.js';
import type { HistoryStore } from './history.js';
import type { Ledger } from './ledger.js';
import { RunningState } from './running-state.js';

export interface ApplyContextOptions {
  dataplane: RuntimeDataPlane;
  /** State snapshot, journal, tables and history: where commits become durable. */
  ledger: Ledger;
  limits: Limits;
  logger: Logger;
}

export class ApplyContext {
  readonly dataplane: RuntimeDataPlane;
  readonly ledger: Ledger;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly running = new RunningState();
  readonly divergence = new Divergence();
  readonly stats = new ApplyStats();
  /** Every apply, confirmation and rollback, as it happens. */
  readonly events = new ApplyEvents();
  /** The daemon's own listening sockets, which rules may neither take nor forward into. */
  reserved: ReservedEndpoint[] = [];

  constructor(options: ApplyContextOptions) {
    this.dataplane = options.dataplane;
    this.ledger = options.ledger;
    this.limits = options.limits;
    this.logger = options.logger;
    // A divergence is never silent: the gauge and a log line follow every change.
    this.divergence.watch((count) => {
      this.stats.diverged(count);
      if (count > 0) {
        this.logger.error(
          { generation: this.running.generation, diverged: this.divergence.list().slice(0, 20), count },
          'the dataplane diverged from the running generation: these ports should listen and do not; the next apply retries them',
        );
      } else {
        this.logger.info({ generation: this.running.generation }, 'the dataplane runs the running generation again');
      }
    });
  }

  get history(): HistoryStore {
    return this.ledger.history;
  }

  get sink(): ConfigSink {
    return this.dataplane.configSink();
  }

  capabilities(): Capabilities {
    return structuredClone(this.dataplane.capabilities());
  }

  /** A copy of `result` for a caller, with the ports diverged now. */
  reported(result: ApplyResult): ApplyResult {
    const copy = copyApplyResult(result);
    if (this.divergence.size > 0) copy.diverged = this.divergence.list();
    else delete copy.diverged;
    return copy;
  }

  /** `result` defaults to the one in force. */
  publish(event: ApplyEvent): void {
    if (this.events.size === 0) return;
    const last = this.running.lastResult;
    this.events.publish({ ...event, ...(!event.result && last && { result: last }) });
  }

  /** History writes never fail an apply: state.json alone decides what is committed. */
  async flushHistory(): Promise<void> {
    await this.history.flush().catch((err: unknown) => this.logger.error({ err }, 'apply history not written'));
  }
}
