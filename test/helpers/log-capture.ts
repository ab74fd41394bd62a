/**
 * A real pino logger whose JSON lines are kept in memory, for tests that read
 * what the daemon logged (audit lines among them).
 */
import { pino, type Logger } from 'pino';

export interface CapturedLogs {
  logger: Logger;
  lines: Record<string, unknown>[];
  /** Lines with `audit: true`. */
  audit(): Record<string, unknown>[];
}

export function captureLogs(): CapturedLogs {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines, audit: () => lines.filter((l) => l.audit === true) };
}
