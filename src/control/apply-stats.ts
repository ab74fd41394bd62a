/**
 * Counts of apply outcomes for telemetry: ApplyConfig calls (validate-only
 * ones excluded) that succeeded or failed, ports that failed to bind (in
 * applies that rolled back and in weak rules that run degraded), and the
 * last commit's time and duration, for the apply history of dashboards.
 */
export interface ApplyStatsSnapshot {
  succeeded: number;
  failed: number;
  bindErrors: number;
  /** Milliseconds since the epoch of the running configuration's commit (restored ones included); 0: never. */
  lastCommitAt: number;
  lastCommitDurationMicros: number;
  /** Ports the running generation says listen and that do not, now (see divergence.ts). */
  divergedPorts: number;
}

export class ApplyStats {
  private readonly counts: ApplyStatsSnapshot = { succeeded: 0, failed: 0, bindErrors: 0, lastCommitAt: 0, lastCommitDurationMicros: 0, divergedPorts: 0 };

  succeeded(): void {
    this.counts.succeeded++;
  }

  failed(): void {
    this.counts.failed++;
  }

  bindFailures(n: number): void {
    this.counts.bindErrors += n;
  }

  committed(at: number, durationMicros: number): void {
    this.counts.lastCommitAt = at;
    this.counts.lastCommitDurationMicros = durationMicros;
  }

  diverged(ports: number): void {
    this.counts.divergedPorts = ports;
  }

  snapshot(): ApplyStatsSnapshot {
    return { ...this.counts };
  }
}
