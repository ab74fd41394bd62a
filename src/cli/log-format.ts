/**
 * `--log-format json|text`: pino writes JSON lines; the text form turns each
 * into one line a person reads in a terminal (`03:58:12.345 INFO  msg
 * key=value ...`), with an error's stack indented below it. JSON stays the
 * default off a terminal, for journald and log shippers.
 */
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Text on a terminal, JSON anywhere else. */
export function defaultLogFormat(stream: { isTTY?: boolean }): LogFormat {
  return stream.isTTY ? 'text' : 'json';
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, shown in the prefix or not at all. */
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

function clock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** One pino JSON line (with its newline) as text; a line that is not JSON passes through. */
export function formatText(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = LEVELS[record.level as number] ?? String(record.level);
  const parts = [`${clock(Number(record.time ?? Date.now()))} ${level.padEnd(5)} ${String(record.msg ?? '')}`];
  let stack = '';
  for (const [key, v] of Object.entries(record)) {
    if (OMITTED.has(key) || v === undefined) continue;
    if (key === 'err' && v && typeof v === 'object') {
      const err = v as { message?: string; stack?: string };
      parts.push(`err=${value(err.message ?? '')}`);
      if (err.stack) stack = `\n${err.stack.replace(/^/gm, '    ')}`;
      continue;
    }
    parts.push(`${key}=${value(v)}`);
  }
  return `${parts.join(' ')}${stack}\n`;
}
