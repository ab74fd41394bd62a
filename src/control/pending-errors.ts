/**
 * Errors of confirmed applies, transactions and history. Like errors.ts,
 * they carry structured context for the gRPC status details.
 */

/** Another apply awaits confirmation; only confirming or rolling it back may proceed. */
export class ApplyPendingError extends Error {
  constructor(
    readonly pendingGeneration: number,
    readonly deadline: number | undefined,
    readonly owner: 'confirm' | 'transaction',
  ) {
    super(
      `generation ${pendingGeneration} is pending confirmation` +
        (owner === 'transaction' ? ' by a Transaction stream' : ` until ${new Date(deadline ?? 0).toISOString()}`) +
        '; confirm it (ConfirmApply) or roll it back (CancelApply) first',
    );
    this.name = 'ApplyPendingError';
  }
}

/** ConfirmApply / CancelApply for a generation that is not the pending one. */
export class NotPendingError extends Error {
  constructor(
    readonly generation: number,
    readonly pendingGeneration: number | undefined,
    readonly why: string,
  ) {
    super(`generation ${generation} is not pending: ${why}`);
    this.name = 'NotPendingError';
  }
}

/** A Transaction stream's pending apply is confirmed only by COMMIT on that stream. */
export class PendingOwnedByTransactionError extends Error {
  constructor(readonly pendingGeneration: number) {
    super(`generation ${pendingGeneration} belongs to a Transaction stream; only its COMMIT confirms it`);
    this.name = 'PendingOwnedByTransactionError';
  }
}

/** Another Transaction stream is active and the caller asked not to wait. */
export class TransactionBusyError extends Error {
  constructor() {
    super('another transaction is active; retry later, or open the stream without no_wait to wait for it');
    this.name = 'TransactionBusyError';
  }
}

/** A Transaction stream message that does not fit the transaction's state. */
export class TransactionProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransactionProtocolError';
  }
}

/** RollbackTo a generation the history does not hold (found: false) or did not commit. */
export class RollbackTargetError extends Error {
  constructor(
    readonly generation: number,
    why: string,
    readonly found: boolean,
  ) {
    super(`cannot roll back to generation ${generation}: ${why}`);
    this.name = 'RollbackTargetError';
  }
}
