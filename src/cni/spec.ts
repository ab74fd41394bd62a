/**
 * The parts of the CNI specification (1.0) the portplane-portmap plugin
 * speaks: the network configuration it reads on stdin (chained: the
 * previous plugin's result in `prevResult`, port mappings in
 * `runtimeConfig.portMappings` because it declares `capabilities:
 * {portMappings: true}`), and the error object it prints with a code.
 */

export const CNI_VERSION = '1.0.0';
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

/**
 * Error codes: 1-99 are the specification's, 100 and up the plugin's own.
 */
export const CNI_ERRORS = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  /** The daemon refused the table (a port in use, a conflict with another table). */
  rejected: 100,
  /** The daemon does not let this caller change the table. */
  permissionDenied: 101,
  /** CHECK: the table is not (or not fully) in effect. */
  notInEffect: 102,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
  ) {
    super(message);
  }

  toJSON(): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion: CNI_VERSION, code: this.code, msg: this.message, ...(this.details && { details: this.details }) };
  }
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniResult {
  cniVersion?: string;
  interfaces?: unknown[];
  ips?: CniIp[];
  [key: string]: unknown;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  prevResult?: CniResult;
  runtimeConfig?: { portMappings?: PortMapping[] };
  /** The daemon's control socket (default DEFAULT_SOCKET). */
  socket?: string;
  /** Deadline of each call to the daemon, in ms (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** Where the systemd units put the control socket (deploy/systemd/portplane.socket). */
export const DEFAULT_SOCKET = '/var/lib/portplane/portplane.sock';
export const DEFAULT_TIMEOUT_MS = 5_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The network configuration from stdin, checked as far as this plugin relies on it. */
export function parseNetConf(text: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(CNI_ERRORS.decodeFailure, 'the network configuration on stdin is not JSON', (err as Error).message);
  }
  if (!isObject(raw)) throw new CniError(CNI_ERRORS.decodeFailure, 'the network configuration on stdin is not a JSON object');
  const { cniVersion, name, type, socket, timeoutMs, runtimeConfig, prevResult } = raw;
  if (typeof cniVersion !== 'string' || !SUPPORTED_VERSIONS.includes(cniVersion)) {
    throw new CniError(CNI_ERRORS.incompatibleVersion, `cniVersion ${JSON.stringify(cniVersion)} is not supported`, `supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  if (typeof name !== 'string' || name === '') throw new CniError(CNI_ERRORS.invalidConfig, 'the network configuration has no name');
  if (socket !== undefined && (typeof socket !== 'string' || !socket.startsWith('/'))) {
    throw new CniError(CNI_ERRORS.invalidConfig, '"socket" must be an absolute path to the portplane control socket');
  }
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0)) {
    throw new CniError(CNI_ERRORS.invalidConfig, '"timeoutMs" must be a positive integer');
  }
  if (runtimeConfig !== undefined && !isObject(runtimeConfig)) throw new CniError(CNI_ERRORS.invalidConfig, '"runtimeConfig" must be an object');
  const mappings = runtimeConfig?.portMappings;
  if (mappings !== undefined && !Array.isArray(mappings)) throw new CniError(CNI_ERRORS.invalidConfig, '"runtimeConfig.portMappings" must be an array');
  if (prevResult !== undefined && !isObject(prevResult)) throw new CniError(CNI_ERRORS.invalidConfig, '"prevResult" must be an object');
  return {
    cniVersion,
    name,
    type: typeof type === 'string' ? type : '',
    ...(prevResult !== undefined && { prevResult: prevResult as CniResult }),
    ...(mappings !== undefined && { runtimeConfig: { portMappings: mappings as PortMapping[] } }),
    ...(socket !== undefined && { socket }),
    ...(timeoutMs !== undefined && { timeoutMs }),
  };
}
