/** A SessionInfo record for tests of the neutral session machinery (no backend behind it). */
import type { SessionInfo } from '../../src/dataplane/session-store.js';

export function sessionInfo(id: number, over: Partial<SessionInfo> = {}): SessionInfo {
  return {
    id: String(id),
    table: 't',
    ruleId: 'r_0000000000000000',
    ruleName: 'r',
    protocol: 'tcp',
    client: { address: '127.0.0.1', port: 1000 + (id % 60000) },
    listener: { address: '127.0.0.1', port: 80 },
    target: { address: '127.0.0.1', port: 8080 },
    state: 'established',
    createdAt: 0,
    lastActivityAt: 0,
    fromClient: { bytes: 0, packets: 0 },
    toClient: { bytes: 0, packets: 0 },
    generation: 1,
    ...over,
  };
}
