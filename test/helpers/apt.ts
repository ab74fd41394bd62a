/**
 * Real peers from Debian for tests that need one (nginx as a PROXY protocol
 * consumer): installed on first use when missing and the tests run as root.
 * Returns why it is unavailable instead of throwing, so a test can skip with
 * that reason printed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function have(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

let updated = false;

/** undefined when `command` is available (installing `pkg` if needed), else the reason it is not. */
export async function ensureCommand(command: string, pkg: string): Promise<string | undefined> {
  if (await have(command)) return undefined;
  if (process.getuid?.() !== 0) return `${command} is not installed and the tests do not run as root to apt-get install ${pkg}`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    if (!updated) {
      await run('apt-get', ['update'], { env, timeout: 300_000 });
      updated = true;
    }
    await run('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env, timeout: 300_000 });
  } catch (err) {
    return `apt-get install ${pkg} failed: ${(err as Error).message.split('\n')[0]}`;
  }
  return (await have(command)) ? undefined : `${pkg} installed but ${command} is still not found`;
}
