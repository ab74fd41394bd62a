/**
 * A server stream as a back-pressured sender, for streams whose producer
 * waits for the transport (WatchSessions, the HA sync): send() resolves once
 * grpc-js took the message, which a reader that stops reading holds back, or
 * at once when the stream has ended (its write callback may then never run).
 */
import type * as grpc from '@grpc/grpc-js';

export interface StreamSender {
  send(message: object): Promise<void>;
  /** The stream ended (cancelled, closed, failed, or end() called). */
  readonly closed: boolean;
  /** Resolves when the stream ends. */
  readonly ended: Promise<void>;
  /** Marks the stream ended and releases a waiting send. */
  end(): void;
}

export function streamSender(call: grpc.ServerWritableStream<unknown, object> | grpc.ServerDuplexStream<unknown, object>): StreamSender {
  let closed = false;
  let onEnd!: () => void;
  const ended = new Promise<void>((resolve) => (onEnd = resolve));
  let pendingSend: (() => void) | undefined;
  const end = (): void => {
    if (closed) return;
    closed = true;
    pendingSend?.();
    onEnd();
  };
  call.on('cancelled', end);
  call.on('close', end);
  call.on('error', end);
  return {
    send: (message) =>
      new Promise<void>((resolve) => {
        if (closed) {
          resolve();
          return;
        }
        pendingSend = () => {
          pendingSend = undefined;
          resolve();
        };
        call.write(message, () => pendingSend?.());
      }),
    get closed() {
      return closed;
    },
    ended,
    end,
  };
}
