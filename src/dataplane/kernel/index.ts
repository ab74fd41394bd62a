/** The kernel-sockets backend. */
import type { RuntimeDataPlane } from '../runtime.js';
import { KernelDataPlane, type KernelDataPlaneOptions } from './backend.js';

export { KernelDataPlane, type KernelDataPlaneOptions } from './backend.js';
export { kernelCapabilities, KERNEL_BACKEND_NAME } from './capabilities.js';

export function createKernelDataPlane(options: KernelDataPlaneOptions = {}): RuntimeDataPlane {
  return new KernelDataPlane(options);
}
