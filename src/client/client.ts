/**
 * A typed client of the portplane daemon for controllers: every unary
 * method as a promise of the generated response type, applyTables with a
 * bounded compare-and-swap retry, the confirm flow, and watches that resume
 * after a reconnect. Errors are the typed classes of errors.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { ConfigServiceClient } from '../generated/types/portplane/v1/ConfigService.js';
import type { SessionServiceClient } from '../generated/types/portplane/v1/SessionService.js';
import type { TelemetryServiceClient } from '../generated/types/portplane/v1/TelemetryService.js';
import type { TraceServiceClient } from '../generated/types/portplane/v1/TraceService.js';
import type { HAServiceClient } from '../generated/types/portplane/v1/HAService.js';
import type { GetRoleResponse__Output } from '../generated/types/portplane/v1/GetRoleResponse.js';
import type { SetRoleResponse__Output } from '../generated/types/portplane/v1/SetRoleResponse.js';
import type { ApplyConfigRequest } from '../generated/types/portplane/v1/ApplyConfigRequest.js';
import type { ApplyConfigResponse__Output } from '../generated/types/portplane/v1/ApplyConfigResponse.js';
import type { CancelApplyResponse__Output } from '../generated/types/portplane/v1/CancelApplyResponse.js';
import type { ConfirmApplyResponse__Output } from '../generated/types/portplane/v1/ConfirmApplyResponse.js';
import type { DeleteSessionsRequest } from '../generated/types/portplane/v1/DeleteSessionsRequest.js';
import type { DeleteSessionsResponse__Output } from '../generated/types/portplane/v1/DeleteSessionsResponse.js';
import type { GetCapabilitiesResponse__Output } from '../generated/types/portplane/v1/GetCapabilitiesResponse.js';
import type { GetConfigResponse__Output } from '../generated/types/portplane/v1/GetConfigResponse.js';
import type { GetCountersRequest } from '../generated/types/portplane/v1/GetCountersRequest.js';
import type { GetCountersResponse__Output } from '../generated/types/portplane/v1/GetCountersResponse.js';
import type { GetFloodCountersRequest } from '../generated/types/portplane/v1/GetFloodCountersRequest.js';
import type { GetFloodCountersResponse__Output } from '../generated/types/portplane/v1/GetFloodCountersResponse.js';
import type { GetSessionResponse__Output } from '../generated/types/portplane/v1/GetSessionResponse.js';
import type { GetSessionSummaryRequest } from '../generated/types/portplane/v1/GetSessionSummaryRequest.js';
import type { GetSessionSummaryResponse__Output } from '../generated/types/portplane/v1/GetSessionSummaryResponse.js';
import type { LastApplyResultResponse__Output } from '../generated/types/portplane/v1/LastApplyResultResponse.js';
import type { ListApplyHistoryResponse__Output } from '../generated/types/portplane/v1/ListApplyHistoryResponse.js';
import type { ListSessionsRequest } from '../generated/types/portplane/v1/ListSessionsRequest.js';
import type { ListSessionsResponse__Output } from '../generated/types/portplane/v1/ListSessionsResponse.js';
import type { RollbackToRequest } from '../generated/types/portplane/v1/RollbackToRequest.js';
import type { RollbackToResponse__Output } from '../generated/types/portplane/v1/RollbackToResponse.js';
import type { SessionEvent__Output } from '../generated/types/portplane/v1/SessionEvent.js';
import type { Table, Table__Output } from '../generated/types/portplane/v1/Table.js';
import type { TraceRequest } from '../generated/types/portplane/v1/TraceRequest.js';
import type { TraceResponse__Output } from '../generated/types/portplane/v1/TraceResponse.js';
import type { WatchApplyResultsResponse__Output } from '../generated/types/portplane/v1/WatchApplyResultsResponse.js';
import type { WatchSessionsRequest } from '../generated/types/portplane/v1/WatchSessionsRequest.js';
import { serviceClient } from '../server/api-definition.js';
import { callMetadata, channelCredentials, DEFAULT_TIMEOUT_MS, target, type ConnectOptions } from './connection.js';
import { AbortedError, toPortplaneError } from './errors.js';

/** The running configuration an applyTables builder starts from. */
export interface RunningConfig {
  generation: number;
  tables: Table__Output[];
}

export interface ApplyTablesOptions extends Omit<ApplyConfigRequest, 'tables' | 'expected_generation'> {
  /** Compare-and-swap attempts before the last ABORTED is thrown (default 5). */
  attempts?: number;
}

export interface ConfirmOptions extends Omit<ApplyConfigRequest, 'confirm_timeout'> {
  /** The daemon rolls back by itself unless confirmed within this (ms). */
  confirmTimeoutMs: number;
}

export interface ConfirmOutcome {
  /** True when the check passed and the apply was confirmed; false when it was rolled back. */
  confirmed: boolean;
  applied: ApplyConfigResponse__Output;
  /** The result in force afterwards (the new one, or the restored one). */
  result: ConfirmApplyResponse__Output['result'];
}

export interface WatchOptions {
  signal?: AbortSignal;
  /** Reconnects in a row before the error is thrown (default 10). */
  maxReconnects?: number;
  /** Delay before the nth reconnect in a row: n × this (ms, default 200). */
  reconnectDelayMs?: number;
}

type Unary<Req, Res> = (req: Req, metadata: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

export class PortplaneClient {
  readonly config: ConfigServiceClient;
  readonly sessions: SessionServiceClient;
  readonly telemetry: TelemetryServiceClient;
  readonly tracer: TraceServiceClient;
  readonly ha: HAServiceClient;
  /** `unix:/path` or `host:port`, for messages. */
  readonly target: string;

  constructor(private readonly options: ConnectOptions) {
    this.target = target(options);
    const credentials = channelCredentials(options);
    this.config = new (serviceClient('ConfigService'))(this.target, credentials) as unknown as ConfigServiceClient;
    // One channel for every service.
    const channelOverride = (this.config as unknown as grpc.Client).getChannel();
    const make = <T>(name: string): T => new (serviceClient(name))(this.target, credentials, { channelOverride }) as unknown as T;
    this.sessions = make<SessionServiceClient>('SessionService');
    this.telemetry = make<TelemetryServiceClient>('TelemetryService');
    this.tracer = make<TraceServiceClient>('TraceService');
    this.ha = make<HAServiceClient>('HAService');
  }

  private unary<Req, Res>(client: object, method: string, request: Req): Promise<Res> {
    const fn = (client as Record<string, Unary<Req, Res>>)[method] as Unary<Req, Res>;
    const deadline = Date.now() + (this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    return new Promise((resolve, reject) => {
      fn.call(client, request, callMetadata(this.options), { deadline }, (err, res) =>
        err || res === undefined ? reject(toPortplaneError(err, this.target)) : resolve(res),
      );
    });
  }

  applyConfig(request: ApplyConfigRequest): Promise<ApplyConfigResponse__Output> {
    return this.unary(this.config, 'ApplyConfig', request);
  }
  lastApplyResult(): Promise<LastApplyResultResponse__Output> {
    return this.unary(this.config, 'LastApplyResult', {});
  }
  getConfig(): Promise<GetConfigResponse__Output> {
    return this.unary(this.config, 'GetConfig', {});
  }
  getCapabilities(): Promise<GetCapabilitiesResponse__Output> {
    return this.unary(this.config, 'GetCapabilities', {});
  }
  confirmApply(generation: number | string): Promise<ConfirmApplyResponse__Output> {
    return this.unary(this.config, 'ConfirmApply', { generation });
  }
  cancelApply(generation: number | string, reason = ''): Promise<CancelApplyResponse__Output> {
    return this.unary(this.config, 'CancelApply', { generation, reason });
  }
  rollbackTo(request: RollbackToRequest): Promise<RollbackToResponse__Output> {
    return this.unary(this.config, 'RollbackTo', request);
  }
  listApplyHistory(limit = 0): Promise<ListApplyHistoryResponse__Output> {
    return this.unary(this.config, 'ListApplyHistory', { limit });
  }
  listSessions(request: ListSessionsRequest = {}): Promise<ListSessionsResponse__Output> {
    return this.unary(this.sessions, 'ListSessions', request);
  }
  getSession(id: string): Promise<GetSessionResponse__Output> {
    return this.unary(this.sessions, 'GetSession', { id });
  }
  deleteSessions(request: DeleteSessionsRequest): Promise<DeleteSessionsResponse__Output> {
    return this.unary(this.sessions, 'DeleteSessions', request);
  }
  getSessionSummary(request: GetSessionSummaryRequest = {}): Promise<GetSessionSummaryResponse__Output> {
    return this.unary(this.sessions, 'GetSessionSummary', request);
  }
  getCounters(request: GetCountersRequest = {}): Promise<GetCountersResponse__Output> {
    return this.unary(this.telemetry, 'GetCounters', request);
  }
  getFloodCounters(request: GetFloodCountersRequest = {}): Promise<GetFloodCountersResponse__Output> {
    return this.unary(this.telemetry, 'GetFloodCounters', request);
  }
  trace(request: TraceRequest): Promise<TraceResponse__Output> {
    return this.unary(this.tracer, 'Trace', request);
  }
  getRole(): Promise<GetRoleResponse__Output> {
    return this.unary(this.ha, 'GetRole', {});
  }
  setRole(role: 'active' | 'standby', reason = ''): Promise<SetRoleResponse__Output> {
    return this.unary(this.ha, 'SetRole', { role: role === 'active' ? 'HA_ROLE_ACTIVE' : 'HA_ROLE_STANDBY', reason });
  }

  /**
   * Reads the running tables, asks `build` for the tables to apply, and
   * applies them only onto that generation; when another writer got in
   * between (ABORTED, GENERATION_MISMATCH) it reads and builds again, at
   * most `attempts` times. `build` must be a pure function of what it is given.
   */
  async applyTables(build: (running: RunningConfig) => Table[] | Promise<Table[]>, options: ApplyTablesOptions = {}): Promise<ApplyConfigResponse__Output> {
    const { attempts = 5, ...request } = options;
    for (let attempt = 1; ; attempt++) {
      const running = await this.getConfig();
      const generation = Number(running.generation);
      try {
        return await this.applyConfig({ ...request, tables: await build({ generation, tables: running.tables }), expected_generation: generation });
      } catch (err) {
        if (!(err instanceof AbortedError) || err.reason !== 'GENERATION_MISMATCH' || attempt >= attempts) throw err;
      }
    }
  }

  /**
   * Applies with a confirm timeout, runs `check` against the new
   * configuration, then confirms it when `check` resolves true, or rolls it
   * back at once when it resolves false or throws (rethrown). Should this
   * process die in between, the daemon rolls back when the timeout ends.
   */
  async applyWithConfirm(
    request: ConfirmOptions,
    check: (applied: ApplyConfigResponse__Output) => Promise<boolean> | boolean,
  ): Promise<ConfirmOutcome> {
    const { confirmTimeoutMs, ...rest } = request;
    const applied = await this.applyConfig({
      ...rest,
      confirm_timeout: { seconds: Math.floor(confirmTimeoutMs / 1000), nanos: (confirmTimeoutMs % 1000) * 1e6 },
    });
    const generation = applied.pending?.generation ?? applied.result?.generation;
    if (!applied.pending || generation === undefined) return { confirmed: true, applied, result: applied.result };
    let passed: boolean;
    try {
      passed = await check(applied);
    } catch (err) {
      await this.cancelApply(generation, `check failed: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
    if (passed) return { confirmed: true, applied, result: (await this.confirmApply(generation)).result };
    return { confirmed: false, applied, result: (await this.cancelApply(generation, 'check did not pass')).result };
  }

  /**
   * WatchSessions as an async iterable: the snapshot, then events. When the
   * stream breaks (daemon restart, network), it reconnects and resumes after
   * the last sequence seen, so no event is lost or repeated while the daemon's
   * buffer still holds it; otherwise the daemon answers RESYNC and a new
   * snapshot follows. Ends when `signal` aborts; throws once `maxReconnects`
   * reconnects in a row have failed.
   */
  async *watchSessions(request: WatchSessionsRequest = {}, options: WatchOptions = {}): AsyncGenerator<SessionEvent__Output> {
    const { signal, maxReconnects = 10, reconnectDelayMs = 200 } = options;
    let resume: { resume_after_sequence: string; resume_backend_epoch: string } | undefined;
    let failures = 0;
    while (!signal?.aborted) {
      const call = this.sessions.WatchSessions({ ...request, ...resume }, callMetadata(this.options));
      const cancel = (): void => call.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
      try {
        for await (const response of call as AsyncIterable<{ events: SessionEvent__Output[] }>) {
          failures = 0;
          for (const event of response.events) {
            if (event.kind === 'SESSION_EVENT_KIND_RESYNC') resume = undefined;
            else resume = { resume_after_sequence: event.sequence, resume_backend_epoch: event.backend_epoch };
            yield event;
          }
        }
        // The daemon ends watches only when it shuts down: reconnect as after a break.
        if (signal?.aborted || ++failures > maxReconnects) return;
        await sleep(reconnectDelayMs * failures);
      } catch (err) {
        const code = (err as grpc.ServiceError).code;
        if (signal?.aborted) return;
        // A daemon shutting down cuts its streams (CANCELLED); a gone one is UNAVAILABLE: both are worth a reconnect.
        const broken = code === grpc.status.UNAVAILABLE || code === grpc.status.CANCELLED;
        if (!broken || ++failures > maxReconnects) throw toPortplaneError(err, this.target);
        await sleep(reconnectDelayMs * failures);
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
    }
  }

  /** WatchApplyResults as an async iterable: the current state, then every apply, confirmation and rollback. */
  async *watchApplyResults(options: { signal?: AbortSignal } = {}): AsyncGenerator<WatchApplyResultsResponse__Output> {
    const call = this.config.WatchApplyResults({}, callMetadata(this.options));
    const cancel = (): void => call.cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const event of call as AsyncIterable<WatchApplyResultsResponse__Output>) yield event;
    } catch (err) {
      if ((err as grpc.ServiceError).code !== grpc.status.CANCELLED) throw toPortplaneError(err, this.target);
    } finally {
      options.signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  close(): void {
    for (const c of [this.sessions, this.telemetry, this.tracer, this.ha, this.config]) (c as unknown as grpc.Client).close();
  }
}

/** A client of the daemon at `options.socket` or `options.address`; calls connect lazily. */
export function connect(options: ConnectOptions): PortplaneClient {
  return new PortplaneClient(options);
}
