/**
 * --log-format text: pino's JSON lines as one readable line each; and the
 * state directory default that fits both systemd and `npm start`.
 */
import { describe, expect, it } from 'vitest';
import { defaultLogFormat, formatText } from '../../src/cli/log-format.js';
import { defaultStateDir } from '../../src/cli/state-dir.js';

describe('log format', () => {
  it('turns a JSON line into level, message and key=value pairs, quoting only what needs it', () => {
    const time = new Date(2026, 0, 2, 3, 4, 5, 6).getTime();
    const line = `${JSON.stringify({ level: 30, time, pid: 7, hostname: 'h', msg: 'portplane serving', address: 'unix:/var/lib/portplane/portplane.sock', authPolicy: 'uid 0 only', n: 3 })}\n`;
    expect(formatText(line)).toBe('03:04:05.006 INFO  portplane serving address=unix:/var/lib/portplane/portplane.sock authPolicy="uid 0 only" n=3\n');
  });

  it('puts an error message inline and its stack indented below', () => {
    const line = `${JSON.stringify({ level: 50, time: 0, msg: 'shutdown failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' } })}\n`;
    expect(formatText(line)).toMatch(/ERROR shutdown failed err=boom\n {4}Error: boom\n {8}at x\n$/);
  });

  it('passes through what is not JSON, and defaults to text only on a terminal', () => {
    expect(formatText('plain\n')).toBe('plain\n');
    expect(defaultLogFormat({ isTTY: true })).toBe('text');
    expect(defaultLogFormat({})).toBe('json');
  });

  it('defaults the state directory to systemd StateDirectory=, else ./.portplane', () => {
    expect(defaultStateDir({ STATE_DIRECTORY: '/var/lib/portplane:/var/lib/other' })).toBe('/var/lib/portplane');
    expect(defaultStateDir({})).toBe('./.portplane');
  });
});
