/**
 * The ConfigService.Transaction stream: one shadow-table transaction per
 * stream (see src/control/transaction.ts for the semantics). Client messages
 * are handled one at a time, in order; the stream ending for any reason
 * (half-close, cancel, deadline, a dead client) between APPLY and COMMIT
 * rolls the applied tables back.
 */
import * as grpc from '@grpc/grpc-js';
import { toWireTables } from '../config/wire.js';
import type { ConfigController } from '../control/config-controller.js';
import { ShuttingDownError } from '../control/errors.js';
import { TransactionBusyError, TransactionProtocolError } from '../control/pending-errors.js';
import { SerialQueue } from '../control/serial-queue.js';
import { Transactions, type TransactionSession } from '../control/transaction.js';
import { API_VERSION } from './api-definition.js';
import { callerOf } from './auth-interceptor.js';
import type { TransactionRequest__Output } from '../generated/types/portplane/v1/TransactionRequest.js';
import { applyRequestFromWire } from './wire-apply-request.js';
import { toServiceError } from './grpc-errors.js';
import { decodeStatusDetails } from './status-details.js';
import { wireHistoryEntry, wirePending } from './wire-history.js';
import { wireApplyResult, wireCapabilities, wireLimits, wirePlan, wirePortFailure, wirePortOutcomes } from './wire-results.js';

type WireTransactionRequest = TransactionRequest__Output;

type Stream = grpc.ServerDuplexStream<WireTransactionRequest, object>;

export function transactionHandler(controller: ConfigController): grpc.handleBidiStreamingCall<WireTransactionRequest, object> {
  const transactions = new Transactions(controller);
  return (call: Stream) => new TransactionStream(controller, transactions, call).start();
}

/** The in-band form of an error that leaves the transaction open. */
function wireTransactionError(err: unknown): object {
  const status = toServiceError(err);
  const details = decodeStatusDetails(status.metadata);
  const info = details.find((d) => d.type === 'ErrorInfo');
  const bad = details.find((d) => d.type === 'BadRequest');
  const failures = (err as { failures?: unknown }).failures;
  return {
    code: grpc.status[status.code],
    message: status.details,
    reason: info?.type === 'ErrorInfo' ? info.reason : '',
    metadata: info?.type === 'ErrorInfo' ? info.metadata : {},
    field_violations: bad?.type === 'BadRequest' ? bad.fieldViolations.map((v) => ({ field: v.field, description: v.description })) : [],
    port_failures: Array.isArray(failures) ? failures.map(wirePortFailure) : [],
  };
}

/** Errors that the client can act on while the transaction stays open. */
function isInBand(err: unknown): boolean {
  return !(err instanceof TransactionProtocolError || err instanceof ShuttingDownError) && toServiceError(err).code !== grpc.status.INTERNAL;
}

class TransactionStream {
  private readonly steps = new SerialQueue();
  private session: TransactionSession | undefined;
  private acquired: Promise<TransactionSession | undefined> = Promise.resolve(undefined);
  private ended = false;
  private unsubscribe = (): void => undefined;
  private received = 0;

  constructor(
    private readonly controller: ConfigController,
    private readonly transactions: Transactions,
    private readonly call: Stream,
  ) {}

  start(): void {
    this.unsubscribe = this.controller.events.subscribe(
      () => undefined,
      () => this.fail(new ShuttingDownError()),
    );
    this.acquired = this.transactions.begin({ gone: () => this.ended }).then(
      (session) => {
        if (this.ended) {
          void session.rollback('the stream ended while waiting for its turn');
          return undefined;
        }
        this.session = session;
        // A confirm timeout or CancelApply ended the transaction under the client.
        session.onRolledBack((event) => {
          this.send({
            rolled_back: {
              rolled_back_generation: String(event.entry.generation),
              result: event.result ? wireApplyResult(event.result) : null,
              reason: event.entry.detail,
              restored: event.restored ? wireHistoryEntry(event.restored) : null,
            },
          });
          this.finish();
        });
        const hello = session.hello();
        this.send({
          hello: {
            protocol_version: hello.protocolVersion,
            api_version: API_VERSION,
            features: hello.features,
            limits: wireLimits(hello.limits),
            capabilities: wireCapabilities(hello.capabilities),
            generation: String(hello.generation),
            tables: toWireTables(hello.tables),
            config_digest: hello.digest,
          },
        });
        return session;
      },
      () => undefined,
    );
    this.call.on('data', (message: WireTransactionRequest) => this.receive(message));
    this.call.on('end', () => this.enqueue((session) => this.closeSession(session, 'the client ended the stream before COMMIT', true)));
    this.call.on('cancelled', () => this.abandon('the stream was cancelled (client gone, cancelled or past its deadline)'));
    this.call.on('error', () => this.abandon('the stream failed'));
  }

  private receive(message: WireTransactionRequest): void {
    const first = this.received++ === 0;
    if (message.step === 'begin') {
      // Only as the first message: a later one would be ignored while the stream holds the turn.
      if (!first) {
        this.fail(new TransactionProtocolError('begin may only be the first message of a Transaction stream'));
        return;
      }
      // Without a session yet, another transaction holds the turn: a stream
      // that is first in line gets its session before any message arrives.
      if (message.begin?.no_wait && !this.session && !this.ended) this.fail(new TransactionBusyError());
      return;
    }
    this.enqueue((session) => this.step(session, message));
  }

  /** Runs `task` after the turn came and every earlier message was handled. */
  private enqueue(task: (session: TransactionSession) => Promise<void>): void {
    void this.steps
      .run(async () => {
        const session = await this.acquired;
        if (!session || this.ended) return;
        await task(session);
      })
      .catch((err: unknown) => this.fail(err));
  }

  private async step(session: TransactionSession, message: WireTransactionRequest): Promise<void> {
    if (message.step === 'tables' && message.tables) {
      try {
        const response = await session.stage(applyRequestFromWire(message.tables, callerOf(this.call.metadata), () => this.controller.capabilities()));
        this.send({ validated: { plan: wirePlan(response.plan), config_digest: response.result.configDigest } });
      } catch (err) {
        if (!isInBand(err)) throw err;
        this.send({ rejected: wireTransactionError(err) });
      }
      return;
    }
    switch (message.command) {
      case 'TRANSACTION_COMMAND_APPLY':
        try {
          const response = await session.apply();
          this.send({
            applied: {
              result: wireApplyResult(response.result),
              plan: wirePlan(response.plan),
              ports: wirePortOutcomes(response.plan, response.result),
              pending: wirePending(response.pending),
            },
          });
        } catch (err) {
          if (!isInBand(err)) throw err;
          this.send({ apply_failed: wireTransactionError(err) });
        }
        return;
      case 'TRANSACTION_COMMAND_COMMIT': {
        const result = await session.commit();
        this.send({ committed: { result: wireApplyResult(result) } });
        this.finish();
        return;
      }
      case 'TRANSACTION_COMMAND_ROLLBACK':
        await this.closeSession(session, 'the client asked for ROLLBACK', false);
        return;
      default:
        throw new TransactionProtocolError(`unexpected message: ${message.step ?? 'empty'} ${message.command ?? ''}`.trim());
    }
  }

  /** Rolls back what the session applied (if anything), tells the client, ends the stream. */
  private async closeSession(session: TransactionSession, reason: string, quiet: boolean): Promise<void> {
    const applied = session.applied;
    const rollback = await session.rollback(reason);
    if (!quiet || applied) {
      const result = rollback?.result ?? this.currentResult();
      this.send({
        rolled_back: {
          rolled_back_generation: String(rollback?.rolledBack.generation ?? 0),
          result: result ? wireApplyResult(result) : null,
          reason,
          restored: rollback ? wireHistoryEntry(rollback.restored) : null,
        },
      });
    }
    this.finish();
  }

  private currentResult(): ReturnType<ConfigController['lastApplyResult']> | undefined {
    try {
      return this.controller.lastApplyResult();
    } catch {
      return undefined;
    }
  }

  /** The stream is gone: nobody can COMMIT any more. */
  private abandon(reason: string): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.ended = true;
    this.unsubscribe();
    // Queued behind any step in flight, so an APPLY still running is rolled back once it lands.
    return this.steps
      .run(async () => {
        const session = await this.acquired;
        if (session && !session.finished) await session.rollback(reason);
      })
      .catch(() => undefined);
  }

  private send(message: object): void {
    if (!this.ended && this.call.writable) this.call.write(message);
  }

  /** Ends the stream with OK. */
  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.unsubscribe();
    this.call.end();
  }

  /** Ends the stream with an error status, rolling back what was applied. */
  private fail(err: unknown): void {
    const wasEnded = this.ended;
    const rolledBack = this.abandon(err instanceof Error ? `the transaction failed: ${err.message}` : 'the transaction failed');
    if (wasEnded) return;
    const status = toServiceError(err);
    // The error says the transaction is over: sent once its rollback holds. Before
    // the turn came nothing was applied, and waiting would mean waiting for the turn.
    if (this.session) void rolledBack.then(() => this.call.emit('error', status));
    else this.call.emit('error', status);
  }
}
