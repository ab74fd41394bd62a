/**
 * How to stop this daemon, for the startup summary: the systemd unit when
 * systemd runs it, Ctrl-C on a terminal, else the signal and pid.
 */
import { readFile } from 'node:fs/promises';

/** The systemd unit this process runs in, from its cgroup path (cgroup v2: `0::/system.slice/portplane.service`). */
async function systemdUnit(): Promise<string | undefined> {
  if (!process.env.INVOCATION_ID) return undefined;
  const cgroup = await readFile('/proc/self/cgroup', 'utf8').catch(() => '');
  return /\/([^/\s]+\.service)(?:\/|$)/m.exec(cgroup)?.[1];
}

export async function stopHint(): Promise<string> {
  const unit = await systemdUnit();
  if (unit) return `systemctl stop ${unit}`;
  const signal = `kill -TERM ${process.pid}`;
  return process.stdin.isTTY ? `Ctrl-C, or ${signal}` : signal;
}
