/**
 * The plugin's one way to the daemon: put a table, remove a table, read a
 * table and its state, over the control socket with the typed client
 * (`portplane/client`).
 * Every call has a deadline and fails fast when nothing listens, and every
 * gRPC failure becomes a CNI error with a code.
 */
import * as grpc from '@grpc/grpc-js';
import { PortplaneClient } from '../client/client.js';
import type { ForwardRule__Output } from '../generated/types/portplane/v1/ForwardRule.js';
import type { GetConfigResponse__Output } from '../generated/types/portplane/v1/GetConfigResponse.js';
import type { LastApplyResultResponse__Output } from '../generated/types/portplane/v1/LastApplyResultResponse.js';
import type { RuleStatus__Output } from '../generated/types/portplane/v1/RuleStatus.js';
import { CNI_ERRORS, CniError } from './spec.js';
import type { WireRule } from './table.js';

/** A table as it runs: its rules and, from the last apply, each rule's state. */
export interface TableState {
  rules: ForwardRule__Output[];
  statuses: RuleStatus__Output[];
}

function asCniError(err: unknown, socket: string, what: string): CniError {
  const e = err as { code?: grpc.status };
  const detail = (err as Error).message;
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
  private readonly client: PortplaneClient;

  constructor(
    private readonly socket: string,
    timeoutMs: number,
  ) {
    this.client = new PortplaneClient({ socket, timeoutMs });
  }

  private async call<T>(run: (client: PortplaneClient) => Promise<unknown>, what: string): Promise<T> {
    try {
      return (await run(this.client)) as T;
    } catch (err) {
      throw asCniError(err, this.socket, what);
    }
  }

  /** Replaces (or creates) the table `name` with `rules`; other tables are untouched. */
  async putTable(name: string, rules: WireRule[]): Promise<void> {
    await this.call((c) => c.applyConfig({ tables: [{ name, rules }], comment: `CNI ADD ${name}` }), `apply table ${name}`);
  }

  async getTable(name: string): Promise<TableState | undefined> {
    const config = await this.call<GetConfigResponse__Output>((c) => c.getConfig(), 'read the configuration');
    const table = config.tables.find((t) => t.name === name);
    if (!table) return undefined;
    const last = await this.call<LastApplyResultResponse__Output>((c) => c.lastApplyResult(), 'read the last apply result');
    return { rules: table.rules, statuses: (last.result?.rules ?? []).filter((r) => r.table === name) };
  }

  /** Removes the table `name` as one apply; false when there was none. */
  async removeTable(name: string): Promise<boolean> {
    const running = async (): Promise<boolean> =>
      (await this.call<GetConfigResponse__Output>((c) => c.getConfig(), 'read the configuration')).tables.some((t) => t.name === name);
    if (!(await running())) return false;
    try {
      await this.client.applyConfig({ delete_tables: [name], comment: `CNI DEL ${name}` });
      return true;
    } catch (err) {
      // Another DEL of the same container removed it meanwhile: the table is gone either way.
      if ((err as { code?: grpc.status }).code === grpc.status.INVALID_ARGUMENT && !(await running())) return false;
      throw asCniError(err, this.socket, `remove table ${name}`);
    }
  }

  close(): void {
    this.client.close();
  }
}
