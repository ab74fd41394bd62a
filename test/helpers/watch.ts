/**
 * A WatchSessions stream as a test sees it: every event in arrival order,
 * a way to wait for a condition on them, and pause/resume of reading.
 */
import * as grpc from '@grpc/grpc-js';
import type { ServiceClient } from './daemon-process.js';
import type { Session__Output } from '../../src/generated/types/portplane/v1/Session.js';
import type { SessionEvent__Output } from '../../src/generated/types/portplane/v1/SessionEvent.js';

export type WireSession = Session__Output;

export type WireEvent = SessionEvent__Output;

export class Watch {
  readonly events: WireEvent[] = [];
  readonly call: grpc.ClientReadableStream<{ events: WireEvent[] }>;
  error: grpc.ServiceError | undefined;
  ended = false;
  private waiters: (() => void)[] = [];

  constructor(client: ServiceClient, request: object = {}) {
    const fn = (client.raw as unknown as Record<string, (req: object) => grpc.ClientReadableStream<{ events: WireEvent[] }>>).WatchSessions!;
    this.call = fn.call(client.raw, request);
    this.call.on('data', (msg: { events: WireEvent[] }) => {
      this.events.push(...msg.events);
      this.notify();
    });
    this.call.on('error', (err: grpc.ServiceError) => {
      this.error = err;
      this.notify();
    });
    this.call.on('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  /** Waits (bounded) until `cond` holds over the events received so far. */
  async until(cond: (events: WireEvent[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond(this.events)) {
      if (this.error && this.error.code !== grpc.status.CANCELLED) throw new Error(`watch failed while waiting for ${what}: ${this.error.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.events.length} events so far`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          res();
        });
      });
    }
  }

  cancel(): void {
    this.call.cancel();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export const deltas = (events: WireEvent[]): WireEvent[] =>
  events.filter((e) => ['SESSION_EVENT_KIND_OPEN', 'SESSION_EVENT_KIND_UPDATE', 'SESSION_EVENT_KIND_CLOSE'].includes(e.kind));
