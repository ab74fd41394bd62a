/**
 * The standard gRPC health service (grpc.health.v1.Health: Check, Watch,
 * List), served from the compiled API's copy of health.proto. It answers as
 * the grpc-health-check package did (unknown name: Check NOT_FOUND, Watch
 * SERVICE_UNKNOWN; List refuses more than 100 names), without that package
 * parsing its own health.proto at every start.
 */
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from './api-definition.js';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

interface CheckRequest {
  service: string;
}
interface CheckResponse {
  status: ServingStatus;
}

/** grpc-health-check's bound on a List answer (the health protocol asks for one). */
const LIST_LIMIT = 100;

export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(status: ServingStatus) => void>>();

  constructor(initial: Record<string, ServingStatus> = {}) {
    for (const [name, status] of Object.entries(initial)) this.statuses.set(name, status);
  }

  /** Sets a name's status and sends it to every Watch of that name (even when unchanged, as before). */
  setStatus(name: string, status: ServingStatus): void {
    this.statuses.set(name, status);
    for (const watcher of this.watchers.get(name) ?? []) watcher(status);
  }

  addToServer(server: grpc.Server): void {
    server.addService(serviceClient('grpc.health.v1.Health').service, {
      Check: (call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>, callback: grpc.sendUnaryData<CheckResponse>) => {
        const status = this.statuses.get(call.request.service);
        if (status) callback(null, { status });
        else callback({ code: grpc.status.NOT_FOUND, details: `Health status unknown for service ${call.request.service}` });
      },
      Watch: (call: grpc.ServerWritableStream<CheckRequest, CheckResponse>) => {
        const name = call.request.service;
        const watcher = (status: ServingStatus): void => void call.write({ status });
        let set = this.watchers.get(name);
        if (!set) this.watchers.set(name, (set = new Set()));
        set.add(watcher);
        call.on('cancelled', () => {
          set.delete(watcher);
          if (set.size === 0 && this.watchers.get(name) === set) this.watchers.delete(name);
        });
        call.write({ status: this.statuses.get(name) ?? 'SERVICE_UNKNOWN' });
      },
      List: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<{ statuses: Record<string, CheckResponse> }>) => {
        if (this.statuses.size > LIST_LIMIT) {
          callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'Too many services to list.' });
          return;
        }
        const statuses: Record<string, CheckResponse> = {};
        for (const [name, status] of this.statuses) statuses[name] = { status };
        callback(null, { statuses });
      },
    });
  }
}
