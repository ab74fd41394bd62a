/**
 * The single composition point that picks a dataplane backend. Nothing else
 * above src/dataplane/<backend>/ may import a backend (test/unit/imports.test.ts).
 */
import type { Logger } from 'pino';
import { createKernelDataPlane } from './dataplane/kernel/index.js';
import type { RuntimeDataPlane } from './dataplane/runtime.js';
import { createUserspaceDataPlane } from './dataplane/userspace/index.js';

export const BACKEND_NAMES = ['kernel', 'userspace'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export function createDataPlane(name: BackendName, options: { logger: Logger }): RuntimeDataPlane {
  switch (name) {
    case 'kernel':
      return createKernelDataPlane(options);
    case 'userspace':
      // No packet port configured: a memory port, so the daemon serves the API (Trace included) and sees no traffic.
      return createUserspaceDataPlane(options);
  }
}
