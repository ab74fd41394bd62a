/**
 * An apply that runs but is not confirmed yet: its state (as saved in
 * state.json's `pending`), who may confirm it, and its confirm-timeout timer.
 * The state machine in pending-applies.ts decides what confirming or rolling
 * back does.
 */
import type { PendingInfo } from './apply-events.js';
import type { HistoryEntry } from './history.js';
import type { ConfigState, PendingState } from './state-store.js';

/** Node timers cap at 2^31-1 ms; a day is far beyond any sensible confirm window. */
export const MAX_CONFIRM_TIMEOUT_MS = 24 * 60 * 60 * 1000;

export class PendingApply {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly state: PendingState,
    readonly baseGeneration: number,
    /** Set when a Transaction stream owns it: only that stream may confirm it. */
    readonly transactionId?: string,
  ) {}

  get generation(): number {
    return this.state.generation;
  }

  get deadline(): number | undefined {
    return this.state.deadline;
  }

  get entry(): HistoryEntry {
    return this.state.entry;
  }

  info(): PendingInfo {
    return {
      generation: this.state.generation,
      baseGeneration: this.baseGeneration,
      ...(this.state.deadline !== undefined && { deadline: this.state.deadline }),
      owner: this.transactionId === undefined ? 'confirm' : 'transaction',
      entry: structuredClone(this.state.entry),
    };
  }

  expired(now = Date.now()): boolean {
    return this.state.deadline !== undefined && now >= this.state.deadline;
  }

  /** Calls `onExpire` at the deadline, if there is one. */
  arm(onExpire: () => void): void {
    this.disarm();
    if (this.state.deadline === undefined) return;
    this.timer = setTimeout(onExpire, Math.max(0, this.state.deadline - Date.now()));
  }

  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The state it commits as once confirmed. */
  confirmedState(entry: HistoryEntry, lastResult: ConfigState['lastResult']): ConfigState {
    const { deadline: _deadline, ...state } = this.state;
    return { ...state, entry, lastResult };
  }
}
