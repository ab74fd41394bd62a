/**
 * The TUN port's capability and failure paths, and how it takes queues of a
 * persistent device (root: devices named with this process's pid, removed
 * after); test/integration/userspace-tun.test.ts runs it end to end as root.
 */
import { execFileSync } from 'node:child_process';
import { release } from 'node:os';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createDataPlane } from '../../src/backends.js';
import { TunPort, userspaceCapabilities } from '../../src/dataplane/userspace/index.js';
import { NativeFastPath, nativeFastPathSupport } from '../../src/dataplane/userspace/native-fast-path.js';
import { tunSupport } from '../../src/dataplane/userspace/ports/tun-device.js';
import { defaultTunQueues, MAX_TUN_QUEUES } from '../../src/dataplane/userspace/ports/tun-port.js';
import { netnsSkipReason } from '../helpers/netns.js';

const logger = pino({ enabled: false });

describe('TUN port', () => {
  it('declares tun_port supported exactly when the addon loads and /dev/net/tun is usable, else with the reason', () => {
    const support = tunSupport();
    const caps = userspaceCapabilities();
    if (support.available) {
      expect(caps.supported).toContain('tun_port');
      expect(caps.unsupported.map((u) => u.feature)).not.toContain('tun_port');
    } else {
      console.info(`tun_port unsupported here: ${support.reason}`);
      expect(caps.supported).not.toContain('tun_port');
      expect(caps.unsupported).toContainEqual({ feature: 'tun_port', reason: support.reason });
    }
  });

  it('fails to open with the reason, and opens nothing, when the device cannot be had', async () => {
    const support = tunSupport();
    // Longer than IFNAMSIZ allows: refused before any device is touched.
    const port = new TunPort({ device: 'x'.repeat(20) });
    await expect(port.open(() => undefined)).rejects.toThrow(support.available ? /interface name of 1 to 14 characters/ : support.reason);
    await port.close();
  });

  it('refuses a queue count outside 1 to MAX_TUN_QUEUES', () => {
    for (const queues of [0, -1, 1.5, MAX_TUN_QUEUES + 1]) expect(() => new TunPort({ device: 'pp0', queues })).toThrow(/queues must be an integer from 1/);
    expect(new TunPort({ device: 'pp0', queues: MAX_TUN_QUEUES })).toBeInstanceOf(TunPort);
  });

  const native = nativeFastPathSupport();
  const rootSkip = netnsSkipReason({ tun: true }) ?? (native.available ? undefined : native.reason);
  it.skipIf(rootSkip !== undefined)('takes one loop per queue of a multi-queue device; the default falls back to one queue on a single-queue one', async () => {
    if (!native.available) return;
    const fastPath = new NativeFastPath(native.addon, Date.now);
    const slow = () => false;
    const single = `ppsq${process.pid}`.slice(0, 15);
    const multi = `ppmq${process.pid}`.slice(0, 15);
    execFileSync('ip', ['tuntap', 'add', 'dev', single, 'mode', 'tun']);
    execFileSync('ip', ['tuntap', 'add', 'dev', multi, 'mode', 'tun', 'multi_queue']);
    try {
      const errors: Error[] = [];
      const fallback = new TunPort({ device: single, onError: (err) => errors.push(err) });
      await fallback.openNative(slow, fastPath);
      expect(fallback.queues).toBe(1);
      if (defaultTunQueues() > 1) expect(errors.map((e) => e.message)).toContainEqual(expect.stringMatching(/reading one queue/));
      await fallback.close();

      // Asked for explicitly, more queues than the device takes is an error, and nothing stays open.
      const refused = new TunPort({ device: single, queues: 2 });
      await expect(refused.openNative(slow, fastPath)).rejects.toThrow(/TUNSETIFF/);
      await refused.close();

      const port = new TunPort({ device: multi, queues: 3 });
      await port.openNative(slow, fastPath);
      expect(port.queues).toBe(3);
      expect(port.loopCounters().read).toBe(0);
      // Each loop reads through io_uring where the kernel has multishot reads (6.7 on), else with poll and read.
      const [major, minor] = release().split('.').map(Number) as [number, number];
      const uring = major > 6 || (major === 6 && minor >= 7) ? 3 : 0;
      for (let i = 0; i < 100 && port.loopCounters().uringLoops !== uring; i++) await new Promise((r) => setTimeout(r, 20));
      expect(port.loopCounters().uringLoops).toBe(uring);
      await port.close();

      // PORTPLANE_TUN_URING=0: poll and read, whatever the kernel.
      process.env.PORTPLANE_TUN_URING = '0';
      const polled = new TunPort({ device: multi, queues: 2 });
      try {
        await polled.openNative(slow, fastPath);
      } finally {
        delete process.env.PORTPLANE_TUN_URING;
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(polled.loopCounters().uringLoops).toBe(0);
      await polled.close();
      expect(port.drops().slow_path_overflow).toBe(0);
    } finally {
      execFileSync('ip', ['tuntap', 'del', 'dev', single, 'mode', 'tun']);
      execFileSync('ip', ['tuntap', 'del', 'dev', multi, 'mode', 'tun', 'multi_queue']);
    }
  });

  it('is only for the userspace backend', () => {
    expect(() => createDataPlane('kernel', { logger, tun: { device: 'pp0' } })).toThrow(/needs the userspace backend/);
    expect(createDataPlane('userspace', { logger, tun: { device: 'pp0' } }).name).toBe('userspace');
  });
});
