/**
 * Errors the apply transaction raises. They carry structured context (every
 * violation, the current generation, every failed port) so the server can
 * map them to gRPC status details without parsing messages.
 */
import type { Violation } from '../config/model.js';
import type { PortBindFailure } from '../dataplane/config-sink.js';

export class InvalidConfigError extends Error {
  constructor(readonly violations: Violation[]) {
    super(
      `configuration rejected: ${violations.length} violation${violations.length === 1 ? '' : 's'}: ` +
        violations
          .slice(0, 5)
          .map((v) => `${v.path}: ${v.message}`)
          .join('; ') +
        (violations.length > 5 ? '; ...' : ''),
    );
    this.name = 'InvalidConfigError';
  }
}

/**
 * A configuration over one of the advertised limits (tables, rules, ports).
 * It carries every violation of the request, limits and others alike, so the
 * caller still sees each field path; the limits make it RESOURCE_EXHAUSTED.
 */
export class LimitExceededError extends InvalidConfigError {
  constructor(violations: Violation[]) {
    super(violations);
    const limits = [...new Set(violations.flatMap((v) => (v.limit ? [v.limit] : [])))];
    this.message = `configuration exceeds ${limits.join(', ')}: ${this.message}`;
    this.name = 'LimitExceededError';
  }

  get exceeded(): Violation[] {
    return this.violations.filter((v) => v.limit !== undefined);
  }
}

export class GenerationMismatchError extends Error {
  constructor(
    readonly expected: number,
    readonly current: number,
  ) {
    super(`expected generation ${expected} but the running generation is ${current}; re-read and retry`);
    this.name = 'GenerationMismatchError';
  }
}

/**
 * What runs after an apply that did not commit: 'restored' is exactly the
 * running generation; 'diverged' is the running generation except
 * `diverged`, ports it should listen on and does not (see divergence.ts).
 */
export interface UndoOutcome {
  outcome: 'restored' | 'diverged';
  diverged: PortBindFailure[];
}

const RESTORED: UndoOutcome = { outcome: 'restored', diverged: [] };

function undoText(undo: UndoOutcome): string {
  if (undo.outcome === 'restored') return 'the previous tables are still in force';
  const shown = undo.diverged.slice(0, 5).map(portText).join(', ');
  return `the previous tables are in force EXCEPT ${undo.diverged.length} port(s) that could not be re-opened (${shown}${undo.diverged.length > 5 ? ', ...' : ''}): the dataplane diverged from the running generation; the next apply retries them`;
}

function portText(p: PortBindFailure): string {
  return `${p.protocol} ${p.listenAddress || '[::]'}:${p.port} ${p.errno}`;
}

/** A rule whose bind failures rolled an apply back. */
export interface FailedRule {
  table: string;
  name: string;
  ruleId: string;
  /** How messages name it: `tables[api].rules[0] ("api")`, where the request put it. */
  label: string;
}

/** At most this many rules are named in the message (every port failure stays in the details). */
const NAMED_RULES = 5;

export class BindFailedError extends Error {
  constructor(
    readonly failures: PortBindFailure[],
    readonly failedRules: FailedRule[],
    /** Label of every rule with a failed port (a weak rule that still passed included), by rule id. */
    private readonly labels: ReadonlyMap<string, string> = new Map(failedRules.map((r) => [r.ruleId, r.label])),
    readonly undo: UndoOutcome = RESTORED,
  ) {
    const named = failedRules.slice(0, NAMED_RULES).map((r) => {
      const ports = failures.filter((f) => f.ruleId === r.ruleId);
      const shown = ports.slice(0, 3).map(portText).join(', ');
      return `${r.label} (${shown}${ports.length > 3 ? `, ${ports.length - 3} more` : ''})`;
    });
    const more = failedRules.length > NAMED_RULES ? `; and ${failedRules.length - NAMED_RULES} more rule(s)` : '';
    super(`apply rolled back: ${failedRules.length} rule(s) could not bind: ${named.join('; ')}${more}; ${undoText(undo)}`);
    this.name = 'BindFailedError';
  }

  /** The label of the rule with `ruleId`. */
  labelOf(ruleId: string): string | undefined {
    return this.labels.get(ruleId);
  }
}

export class ShuttingDownError extends Error {
  constructor() {
    super('portplane is shutting down; no new applies are accepted');
    this.name = 'ShuttingDownError';
  }
}

export class NoResultError extends Error {
  constructor() {
    super('no apply has succeeded yet: generation 0, nothing is forwarded; send a configuration with ApplyConfig (`portplane apply FILE`)');
    this.name = 'NoResultError';
  }
}

/** A request other than a configuration (a Trace, a session filter, a page token) with invalid fields; nothing was done. */
export class InvalidRequestError extends Error {
  constructor(
    what: string,
    readonly violations: Violation[],
  ) {
    super(`${what} rejected: ${violations.map((v) => `${v.path}: ${v.message}`).join('; ')}`);
    this.name = 'InvalidRequestError';
  }
}

/** A named object (a session) that does not exist, or that the caller may not see: NOT_FOUND. */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The dataplane took the apply but it could not be made durable, so the dataplane was undone (`undo` says how well). */
export class NotSavedError extends Error {
  constructor(
    path: string,
    cause: unknown,
    readonly undo: UndoOutcome,
  ) {
    super(`apply not committed: saving state to ${path} failed: ${(cause as Error).message}; ${undoText(undo)}`, { cause });
    this.name = 'NotSavedError';
  }
}
