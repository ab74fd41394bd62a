/** The userspace packet backend. */
import type { RuntimeDataPlane } from '../runtime.js';
import { UserspaceDataPlane, type UserspaceDataPlaneOptions } from './backend.js';

export { UserspaceDataPlane, type UserspaceDataPlaneOptions } from './backend.js';
export { userspaceCapabilities, USERSPACE_BACKEND_NAME } from './capabilities.js';
export { MemoryPort } from './ports/memory-port.js';

export function createUserspaceDataPlane(options: UserspaceDataPlaneOptions = {}): RuntimeDataPlane {
  return new UserspaceDataPlane(options);
}
export { PcapPort, type PcapPortOptions, type PcapReplay } from './ports/pcap-port.js';
