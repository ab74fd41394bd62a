/**
 * Shadow-table transactions, one at a time. A session validates tables into
 * a shadow copy (nothing runs), APPLY switches to them as a pending apply
 * owned by the session, COMMIT confirms it, ROLLBACK or the end of the
 * session rolls it back. Transport-neutral: the gRPC stream lives in
 * src/server/transaction-service.ts.
 */
import type { Limits, Table } from '../config/model.js';
import type { ApplyResult } from '../dataplane/apply-result.js';
import type { Capabilities } from '../dataplane/capabilities.js';
import type { ApplyEvent } from './apply-events.js';
import type { ApplyRequest, ApplyResponse, ConfigController, RollbackResponse } from './config-controller.js';
import { TransactionProtocolError } from './pending-errors.js';
import { SerialQueue } from './serial-queue.js';

export const TRANSACTION_PROTOCOL_VERSION = 1;

/** What the protocol offers beyond the backend's capabilities (sent in hello). */
export const TRANSACTION_FEATURES = [
  'shadow_validation',
  'per_port_outcome',
  'confirm_timeout',
  'rollback_on_disconnect',
  'no_wait',
  'apply_history',
] as const;

export interface TransactionHello {
  protocolVersion: number;
  features: string[];
  limits: Limits;
  capabilities: Capabilities;
  generation: number;
  tables: Table[];
  digest: string;
}

/** The shadow copy: tables that validated against `baseGeneration`. */
interface Shadow {
  request: ApplyRequest;
  baseGeneration: number;
}

export class Transactions {
  private readonly queue = new SerialQueue();
  private seq = 0;

  constructor(private readonly controller: ConfigController) {}

  /**
   * Resolves with the session once no other is active (a caller that must
   * not wait sees it still unresolved: see transaction-service.ts). If
   * `gone()` is true when the turn comes (the caller left while waiting),
   * the turn passes on.
   */
  begin(options: { gone: () => boolean }): Promise<TransactionSession> {
    return new Promise((resolve, reject) => {
      void this.queue.run(
        () =>
          new Promise<void>((release) => {
            if (options.gone()) {
              release();
              reject(new TransactionProtocolError('the stream ended while waiting for its turn'));
              return;
            }
            resolve(new TransactionSession(this.controller, `transaction-${++this.seq}`, release));
          }),
      );
    });
  }
}

export class TransactionSession {
  private shadow: Shadow | undefined;
  /** The pending generation after APPLY. */
  private appliedGeneration: number | undefined;
  /** After an APPLY that changed nothing: its result, which COMMIT returns. */
  private unchangedResult: ApplyResult | undefined;
  private done = false;
  private readonly unsubscribe: () => void;
  private rolledBackHandler: ((event: ApplyEvent) => void) | undefined;

  constructor(
    private readonly controller: ConfigController,
    readonly id: string,
    private readonly release: () => void,
  ) {
    // A timeout or CancelApply can roll the session's apply back under it.
    this.unsubscribe = controller.events.subscribe((event) => {
      if (event.kind !== 'rolled_back' || event.entry.generation !== this.appliedGeneration || this.done) return;
      this.appliedGeneration = undefined;
      this.finish();
      this.rolledBackHandler?.(event);
    });
  }

  get finished(): boolean {
    return this.done;
  }

  get applied(): boolean {
    return this.appliedGeneration !== undefined || this.unchangedResult !== undefined;
  }

  /** Called when the session's apply is rolled back by anything but the session itself. */
  onRolledBack(handler: (event: ApplyEvent) => void): void {
    this.rolledBackHandler = handler;
  }

  hello(): TransactionHello {
    const running = this.controller.getConfig();
    return {
      protocolVersion: TRANSACTION_PROTOCOL_VERSION,
      features: [...TRANSACTION_FEATURES],
      limits: this.controller.limits,
      capabilities: this.controller.capabilities(),
      generation: running.generation,
      tables: running.tables,
      digest: running.digest,
    };
  }

  /** Validates `request` into the shadow copy; on any error the shadow is empty. */
  async stage(request: ApplyRequest): Promise<ApplyResponse> {
    this.expectOpen('tables');
    if (this.applied) throw new TransactionProtocolError('tables after APPLY: COMMIT or ROLLBACK first');
    this.shadow = undefined;
    const response = await this.controller.apply({ ...request, validateOnly: true });
    this.shadow = { request: { ...request, validateOnly: false }, baseGeneration: response.plan.baseGeneration };
    return response;
  }

  /** Switches to the shadow tables, pending until commit(). A failed APPLY keeps the shadow. */
  async apply(): Promise<ApplyResponse> {
    this.expectOpen('APPLY');
    if (this.applied) throw new TransactionProtocolError('APPLY twice: COMMIT or ROLLBACK first');
    if (!this.shadow) throw new TransactionProtocolError('APPLY before any tables were validated');
    const { request, baseGeneration } = this.shadow;
    // The shadow validated against baseGeneration; anything committed since invalidates it.
    const response = await this.controller.applyInTransaction({ ...request, expectedGeneration: baseGeneration }, this.id);
    if (response.pending) this.appliedGeneration = response.pending.generation;
    else this.unchangedResult = response.result;
    return response;
  }

  /**
   * Confirms the applied tables and ends the session. After an APPLY that
   * changed nothing (the shadow equalled the running tables) there is
   * nothing to confirm, and COMMIT just ends the session.
   */
  async commit(): Promise<ApplyResult> {
    this.expectOpen('COMMIT');
    if (this.unchangedResult) {
      this.finish();
      return this.unchangedResult;
    }
    if (this.appliedGeneration === undefined) throw new TransactionProtocolError('COMMIT before APPLY');
    const result = await this.controller.confirm(this.appliedGeneration, this.id);
    this.appliedGeneration = undefined;
    this.finish();
    return result;
  }

  /**
   * Ends the session. If its tables were applied and not committed they are
   * rolled back; returns the rollback, or undefined when nothing ran.
   */
  async rollback(reason: string): Promise<RollbackResponse | undefined> {
    if (this.done) return undefined;
    const generation = this.appliedGeneration;
    // Cleared first, so the event of this very rollback is not taken for one from outside.
    this.appliedGeneration = undefined;
    try {
      if (generation === undefined) return undefined;
      // The session's client caused it (ROLLBACK, or its stream ending).
      const caller = this.shadow?.request.caller;
      return await this.controller.cancel(generation, { reason, ...(caller && { caller }) });
    } finally {
      this.finish();
    }
  }

  private expectOpen(step: string): void {
    if (this.done) throw new TransactionProtocolError(`${step} after the transaction ended`);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.unsubscribe();
    this.release();
  }
}
