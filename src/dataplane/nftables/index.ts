/** The nftables backend: in-kernel NAT programmed through nftables, sessions from conntrack. */
import type { RuntimeDataPlane } from '../runtime.js';
import { NftablesDataPlane, type NftablesDataPlaneOptions } from './backend.js';

export { DRIFT_CONDITION, NftablesDataPlane, type NftablesDataPlaneOptions } from './backend.js';
export { nftablesCapabilities, NFTABLES_BACKEND_NAME } from './capabilities.js';

export function createNftablesDataPlane(options: NftablesDataPlaneOptions = {}): RuntimeDataPlane {
  return new NftablesDataPlane(options);
}
