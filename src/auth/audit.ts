/**
 * The audit trail: one structured log line per mutating call and per refused
 * call, with `audit: true` so it can be split from the operational log
 * (`jq 'select(.audit)'`). It never carries a secret: bearer tokens appear
 * by id only.
 */
import type { Logger } from 'pino';
import type { CallerIdentity } from '../control/caller.js';

export interface AuditRecord {
  caller: CallerIdentity;
  method: string;
  /** Tables the request named; null when the method's tables are unknown. */
  tables: string[] | null;
  /** The request asked to replace every table. */
  replaceAll?: boolean;
  generationBefore: number;
  generationAfter: number;
  /** `OK` or the gRPC status name, e.g. `PERMISSION_DENIED`. */
  outcome: string;
  /** Status message of a failed call. */
  message?: string;
  /** Tables another owner (the fleet) holds that this call changed as an override. */
  ownerOverride?: string[];
  /** Turned away by authentication, authorization or a quota, before the controller saw it. */
  refused: boolean;
}

export class AuditLog {
  private readonly log: Logger;

  constructor(logger: Logger) {
    this.log = logger.child({ audit: true });
  }

  write(record: AuditRecord): void {
    const { caller, ...rest } = record;
    this.log.info({ caller: { ...caller }, ...rest }, `audit ${record.method} by ${caller.id}: ${record.outcome}`);
  }
}
