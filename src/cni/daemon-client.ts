/**
 * The plugin's one way to the daemon: put a table, remove a table, read a
 * table and its state. It talks over the control socket with the CLI's
 * ConfigService client (src/cli/client.ts) until the typed client
 * (`portplane/client`) lands; switching means changing this file only.
 * Every call has a deadline and fails fast when nothing listens, and every
 * gRPC failure becomes a CNI error with a code.
 */
import * as grpc from '@grpc/grpc-js';
import { ConfigClient } from '../cli/client.js';
import { CNI_ERRORS, CniError } from './spec.js';
import type { WireRule } from './table.js';

interface WireTable {
  name: string;
  rules: (WireRule & Record<string, unknown>)[];
}

interface RuleStatus {
  table: string;
  name: string;
  state: string;
  ports_bound: number;
}

/** A table as it runs: its rules and, from the last apply, each rule's state. */
export interface TableState {
  rules: WireTable['rules'];
  statuses: RuleStatus[];
}

/** Concurrent writers (other containers' plugins) move the generation; a removal retries on fresh state. */
const REMOVE_ATTEMPTS = 8;

function asCniError(err: unknown, socket: string, what: string): CniError {
  const e = err as Partial<grpc.ServiceError>;
  const detail = e.details ?? (err as Error).message;
  switch (e.code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return new CniError(CNI_ERRORS.tryAgainLater, `portplane daemon not reachable on ${socket} (${what})`, detail);
    case grpc.status.INVALID_ARGUMENT:
      return new CniError(CNI_ERRORS.invalidConfig, `portplane rejected the port mappings (${what})`, detail);
    case grpc.status.PERMISSION_DENIED:
    case grpc.status.UNAUTHENTICATED:
      return new CniError(CNI_ERRORS.permissionDenied, `portplane does not let this plugin ${what}`, detail);
    case grpc.status.RESOURCE_EXHAUSTED:
    case grpc.status.ABORTED:
      return new CniError(CNI_ERRORS.tryAgainLater, `portplane is busy (${what})`, detail);
    case grpc.status.FAILED_PRECONDITION:
      return new CniError(CNI_ERRORS.rejected, `portplane could not ${what}`, detail);
    default:
      return new CniError(CNI_ERRORS.ioFailure, `portplane call failed (${what})`, detail);
  }
}

export class DaemonClient {
  private readonly client: ConfigClient;

  constructor(
    private readonly socket: string,
    timeoutMs: number,
  ) {
    this.client = new ConfigClient({ stateDir: '', socket, timeoutMs });
  }

  private async call<T>(method: string, request: object, what: string): Promise<T> {
    try {
      return await this.client.call<T>(method, request);
    } catch (err) {
      throw asCniError(err, this.socket, what);
    }
  }

  /** Replaces (or creates) the table `name` with `rules`; other tables are untouched. */
  async putTable(name: string, rules: WireRule[]): Promise<void> {
    await this.call('ApplyConfig', { tables: [{ name, rules }], comment: `CNI ADD ${name}` }, `apply table ${name}`);
  }

  async getTable(name: string): Promise<TableState | undefined> {
    const config = await this.call<{ tables: WireTable[] }>('GetConfig', {}, 'read the configuration');
    const table = config.tables.find((t) => t.name === name);
    if (!table) return undefined;
    const last = await this.call<{ result?: { rules?: RuleStatus[] } }>('LastApplyResult', {}, 'read the last apply result');
    return { rules: table.rules, statuses: (last.result?.rules ?? []).filter((r) => r.table === name) };
  }

  /** Removes the table `name`; false when there was none. */
  async removeTable(name: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const config = await this.call<{ generation: string; tables: WireTable[] }>('GetConfig', {}, 'read the configuration');
      if (!config.tables.some((t) => t.name === name)) return false;
      // ApplyConfig removes a table only as "every table but these"; the generation guards against a
      // concurrent writer whose tables this would otherwise drop.
      try {
        await this.client.call('ApplyConfig', {
          tables: config.tables.filter((t) => t.name !== name),
          replace_all: true,
          expected_generation: config.generation,
          comment: `CNI DEL ${name}`,
        });
        return true;
      } catch (err) {
        if ((err as grpc.ServiceError).code === grpc.status.ABORTED && attempt < REMOVE_ATTEMPTS) continue;
        throw asCniError(err, this.socket, `remove table ${name}`);
      }
    }
  }

  close(): void {
    this.client.close();
  }
}
