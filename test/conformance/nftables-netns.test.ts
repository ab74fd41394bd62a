/**
 * The conformance suites against the nftables backend: rerun (a child
 * vitest) inside a network namespace this test creates, with only the
 * nftables backend selected. Everything the suites touch (the table,
 * conntrack, loopback sockets) lives in that namespace, so the host's
 * nftables are never touched. Needs root; skips with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ip, nftConntrackSkipReason } from '../helpers/netns.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');


// Inside the namespace run (PP_CONFORMANCE_BACKENDS set) this file has nothing to do.
const skip = process.env.PP_CONFORMANCE_BACKENDS ? 'already inside the nftables conformance run' : nftConntrackSkipReason();

describe.skipIf(skip !== undefined)('conformance: nftables backend, in a network namespace', () => {
  it('passes the conformance and session-contract suites (cases excluded by a declared capability print their reason)', () => {
    const ns = `pp-conf-${process.pid}`;
    ip('netns', 'add', ns);
    try {
      ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
      const r = spawnSync(
        'ip',
        ['netns', 'exec', ns, process.execPath, join(repo, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--no-file-parallelism', '--reporter=verbose', 'test/conformance/conformance.test.ts', 'test/conformance/session-contract.test.ts'],
        { cwd: repo, encoding: 'utf8', env: { ...process.env, PP_CONFORMANCE_BACKENDS: 'nftables' }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 },
      );
      const output = `${r.stdout}\n${r.stderr}`;
      console.info(output.split('\n').filter((l) => /✓|×|↓|skipped|Test Files|Tests /.test(l)).join('\n'));
      expect(r.status, output.slice(-6000)).toBe(0);
    } finally {
      ip('netns', 'delete', ns);
    }
  }, 700_000);
});

if (skip) console.info(`skipped: ${skip}`);
