/**
 * The TUN port's capability and failure paths, without creating a device
 * (test/integration/userspace-tun.test.ts runs it end to end as root).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createDataPlane } from '../../src/backends.js';
import { TunPort, userspaceCapabilities } from '../../src/dataplane/userspace/index.js';
import { tunSupport } from '../../src/dataplane/userspace/ports/tun-device.js';

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

  it('is only for the userspace backend', () => {
    expect(() => createDataPlane('kernel', { logger, tun: { device: 'pp0' } })).toThrow(/needs the userspace backend/);
    expect(createDataPlane('userspace', { logger, tun: { device: 'pp0' } }).name).toBe('userspace');
  });
});
