/**
 * The single composition point that picks a dataplane backend. Nothing else
 * above src/dataplane/<backend>/ may import a backend (test/unit/imports.test.ts).
 */
import type { Logger } from 'pino';
import { createKernelDataPlane } from './dataplane/kernel/index.js';
import { createNftablesDataPlane } from './dataplane/nftables/index.js';
import type { RuntimeDataPlane } from './dataplane/runtime.js';
import { createUserspaceDataPlane, TunPort } from './dataplane/userspace/index.js';

export const BACKEND_NAMES = ['kernel', 'userspace', 'nftables'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface DataPlaneOptions {
  logger: Logger;
  /** The userspace backend's packet port: a TUN interface, optionally with addresses (CIDR) to assign. */
  tun?: { device: string; addresses?: string[]; mtu?: number; txQueueLength?: number; queues?: number };
  /** The nftables backend: its table name (default "portplane") and whether a clean stop keeps it. */
  nftables?: { table?: string; persist?: boolean; driftRepair?: 'timer' | 'apply' };
  /** The kernel backend's native TCP engine threads (default: one per core). */
  relayThreads?: number;
}

export function createDataPlane(name: BackendName, options: DataPlaneOptions): RuntimeDataPlane {
  const { logger, tun, nftables, relayThreads } = options;
  if (nftables && name !== 'nftables') throw new Error('--nftables-table, --nftables-persist and --nftables-drift-repair need --backend nftables');
  switch (name) {
    case 'kernel':
      if (tun) throw new Error('a TUN port needs the userspace backend (--backend userspace)');
      return createKernelDataPlane({ logger, relayThreads });
    case 'userspace':
      // Without a TUN port: a memory port, so the daemon serves the API (Trace included) and sees no traffic.
      return createUserspaceDataPlane({
        logger,
        port: tun && new TunPort({ ...tun, onError: (err) => logger.warn({ err }, 'TUN port error') }),
      });
    case 'nftables':
      if (tun) throw new Error('a TUN port needs the userspace backend (--backend userspace)');
      return createNftablesDataPlane({ logger, tableName: nftables?.table, persist: nftables?.persist, driftRepair: nftables?.driftRepair });
  }
}
