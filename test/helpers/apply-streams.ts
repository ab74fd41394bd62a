/**
 * Clients of the ConfigService streams: WatchApplyResults (collects every
 * event) and Transaction (one message at a time, in order).
 */
import type * as grpc from '@grpc/grpc-js';
import type { ServiceClient } from './daemon-process.js';
import type { ApplyHistoryEntry__Output } from '../../src/generated/types/portplane/v1/ApplyHistoryEntry.js';
import type { WatchApplyResultsResponse__Output } from '../../src/generated/types/portplane/v1/WatchApplyResultsResponse.js';

export type WireEntry = ApplyHistoryEntry__Output;

export type WireEvent = WatchApplyResultsResponse__Output;

/** Resolves when `ready()` holds, polling `events`; rejects after `timeoutMs`. */
async function until<T>(ready: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = ready();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class EventWatch {
  readonly events: WireEvent[] = [];
  readonly stream: grpc.ClientReadableStream<WireEvent>;
  error: grpc.ServiceError | undefined;
  ended = false;

  constructor(client: ServiceClient) {
    const method = (client.raw as unknown as Record<string, (req: object) => grpc.ClientReadableStream<WireEvent>>)
      .WatchApplyResults as (req: object) => grpc.ClientReadableStream<WireEvent>;
    this.stream = method.call(client.raw, {});
    this.stream.on('data', (e: WireEvent) => this.events.push(e));
    this.stream.on('error', (err: grpc.ServiceError) => (this.error = err));
    this.stream.on('end', () => (this.ended = true));
  }

  /** The first event (from index `from` on) matching `match`. */
  waitFor(match: (e: WireEvent) => boolean, timeoutMs = 20_000, from = 0): Promise<WireEvent> {
    return until(() => this.events.slice(from).find(match), timeoutMs, 'a matching apply event');
  }

  close(): void {
    this.stream.cancel();
  }
}

export type TransactionMessage = Record<string, unknown> & { step?: string };

export class TransactionStream {
  readonly call: grpc.ClientDuplexStream<object, TransactionMessage>;
  private readonly received: TransactionMessage[] = [];
  private read = 0;
  status: grpc.StatusObject | undefined;
  error: grpc.ServiceError | undefined;
  ended = false;

  constructor(client: ServiceClient, options: grpc.CallOptions = {}) {
    const method = (client.raw as unknown as Record<string, (opts: grpc.CallOptions) => grpc.ClientDuplexStream<object, TransactionMessage>>)
      .Transaction as (opts: grpc.CallOptions) => grpc.ClientDuplexStream<object, TransactionMessage>;
    this.call = method.call(client.raw, options);
    this.call.on('data', (m: TransactionMessage) => this.received.push(m));
    this.call.on('error', (err: grpc.ServiceError) => (this.error = err));
    this.call.on('status', (s: grpc.StatusObject) => (this.status = s));
    this.call.on('end', () => (this.ended = true));
  }

  send(message: object): void {
    this.call.write(message);
  }

  command(name: 'APPLY' | 'COMMIT' | 'ROLLBACK'): void {
    this.send({ command: `TRANSACTION_COMMAND_${name}` });
  }

  /** The next server message; rejects if the stream ends first or after `timeoutMs`. */
  next(timeoutMs = 20_000): Promise<TransactionMessage> {
    return until(
      () => {
        const message = this.received[this.read];
        if (message) {
          this.read++;
          return message;
        }
        if (this.error || this.ended) throw new Error(`stream ended (${this.error?.message ?? 'OK'}) before the next message`);
        return undefined;
      },
      timeoutMs,
      'the next transaction message',
    );
  }

  /** Messages received but not read yet. */
  get unread(): number {
    return this.received.length - this.read;
  }

  /** Resolves with the final status (OK or the error). */
  finished(timeoutMs = 20_000): Promise<grpc.StatusObject> {
    return until(() => this.status, timeoutMs, 'the transaction stream to end');
  }
}
