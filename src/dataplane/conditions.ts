/**
 * Conditions: states of a dataplane an operator has to hear about, in the
 * Kubernetes style (type, status, reason, message, last transition). A
 * backend that has any exposes them through RuntimeDataPlane.conditions();
 * the daemon serves them in LastApplyResult and as Prometheus gauges, so
 * nothing above this layer knows which backend raised one.
 */

export interface DataplaneCondition {
  /** What it is about, e.g. "Drifted"; one entry per type, stable across calls. */
  type: string;
  /** Whether it holds now. */
  status: boolean;
  /** CamelCase reason of the current status. */
  reason: string;
  message: string;
  /** When `status` last changed, in ms since the epoch; 0 if it never did since start. */
  lastTransitionAt: number;
  /** How many times it became true since the backend started. */
  occurrences: number;
}

/** One condition kept over time: records transitions and counts how often it became true. */
export class ConditionState {
  private readonly value: DataplaneCondition;

  constructor(type: string, reason: string, message: string) {
    this.value = { type, status: false, reason, message, lastTransitionAt: 0, occurrences: 0 };
  }

  set(status: boolean, reason: string, message: string, now = Date.now()): void {
    if (status !== this.value.status) {
      this.value.lastTransitionAt = now;
      if (status) this.value.occurrences++;
    }
    Object.assign(this.value, { status, reason, message });
  }

  get(): DataplaneCondition {
    return { ...this.value };
  }
}
