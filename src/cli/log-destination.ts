/**
 * Where the daemon's log lines go: standard output, written so that nothing
 * the reader does can stop the daemon. pino's own destination retries a
 * write that fails with EPIPE every 100 ms forever when it flushes at exit
 * (`serve | cat` and Ctrl-C: cat dies with the daemon, the flush never
 * ends, the sleeping loop ignores SIGTERM), and the same flush waits
 * forever on a pipe nobody reads. Here:
 *
 * - a pipe or terminal is reopened through /proc/self/fd with O_NONBLOCK (a
 *   new open file description: the shared fd 1 keeps its mode), so no write
 *   ever waits for the reader (O_NOCTTY: the daemon never takes the terminal
 *   as its controlling one);
 * - lines queue in memory while the reader is slow (EAGAIN), up to
 *   MAX_QUEUED_BYTES; beyond that they are dropped and counted, and the
 *   count is written once the reader catches up;
 * - EPIPE or any other error ends logging for good: the daemon carries on;
 * - at exit, what is queued gets one synchronous attempt that stops at the
 *   first EAGAIN or error.
 */
import { closeSync, constants, fstatSync, openSync, write, writeSync } from 'node:fs';
import { formatText, type LogFormat } from './log-format.js';

export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const RETRY_MS = 50;

export interface LogDestination {
  write(line: string): void;
  /** At exit: one bounded synchronous attempt to write what is queued. */
  flushAtExit(): void;
  /** Lines dropped so far (reader too slow, or gone). */
  readonly dropped: number;
}

/** A descriptor for `fd` whose writes never block: reopened non-blocking when it is a pipe or terminal. */
function nonBlocking(fd: number): { fd: number; owned: boolean } {
  try {
    const stat = fstatSync(fd);
    if (stat.isFIFO() || stat.isCharacterDevice()) {
      return { fd: openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND | constants.O_NOCTTY), owned: true };
    }
  } catch {
    // No /proc, or a descriptor that cannot be reopened (a socket): write to it as it is.
  }
  return { fd, owned: false };
}

export function openLogDestination(fd: number, format: LogFormat): LogDestination {
  const target = nonBlocking(fd);
  const queue: Buffer[] = [];
  let queuedBytes = 0;
  /** Bytes at the head of the queue that an async write is writing now (0: none). */
  let inFlight = 0;
  let closed = false;
  let dropped = 0;
  /** Dropped lines not yet reported in the log. */
  let unreported = 0;

  const stop = (): void => {
    closed = true;
    dropped += queue.length;
    queue.length = 0;
    queuedBytes = 0;
    if (target.owned) {
      try {
        closeSync(target.fd);
      } catch {
        // Already unusable: nothing more to release.
      }
    }
  };

  const pump = (): void => {
    if (inFlight > 0 || closed || queue.length === 0) return;
    const chunk = queue.length === 1 ? queue[0]! : Buffer.concat(queue);
    inFlight = chunk.length;
    write(target.fd, chunk, (err, written) => {
      inFlight = 0;
      if (closed) return;
      if (err) {
        if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK') {
          setTimeout(pump, RETRY_MS).unref();
          return;
        }
        stop();
        return;
      }
      consume(written);
      pump();
    });
  };

  /** Removes the first `n` bytes from the queue. */
  const consume = (n: number): void => {
    queuedBytes -= n;
    while (n > 0 && queue.length > 0) {
      const head = queue[0]!;
      if (head.length <= n) {
        n -= head.length;
        queue.shift();
      } else {
        queue[0] = head.subarray(n);
        n = 0;
      }
    }
  };

  const enqueue = (text: string): void => {
    const buf = Buffer.from(text);
    queue.push(buf);
    queuedBytes += buf.length;
  };

  return {
    get dropped() {
      return dropped;
    },
    write(line: string): void {
      if (closed) {
        dropped++;
        return;
      }
      const text = format === 'text' ? formatText(line) : line;
      if (queuedBytes + text.length > MAX_QUEUED_BYTES) {
        dropped++;
        unreported++;
        return;
      }
      if (unreported > 0) {
        const note = `${JSON.stringify({ level: 40, time: Date.now(), msg: `${unreported} log lines dropped: the log reader was too slow` })}\n`;
        enqueue(format === 'text' ? formatText(note) : note);
        unreported = 0;
      }
      enqueue(text);
      pump();
    },
    flushAtExit(): void {
      if (closed) return;
      // What an async write holds is the thread pool's (done in microseconds: the descriptor never blocks).
      const chunk = Buffer.concat(queue);
      let offset = inFlight;
      while (offset < chunk.length) {
        try {
          offset += writeSync(target.fd, chunk, offset);
        } catch {
          break;
        }
      }
      // The process ends now: nothing reads the queue again.
    },
  };
}
