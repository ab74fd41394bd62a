/**
 * Finding 1 of #17, defence in depth: a connection to the TCP control
 * listener whose peer socket belongs to the daemon's own process (the
 * upstream leg of a forward into the listener) is never identified as the
 * daemon's uid through /proc/net/tcp, whatever validation let through. The
 * daemon runs in this test's process, so a client socket opened here is
 * exactly such a socket.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ServiceClient } from '../helpers/daemon-process.js';
import { startTestDaemon } from '../helpers/in-process-daemon.js';
import { captureLogs } from '../helpers/log-capture.js';

describe("a connection from the daemon's own process to its TCP control listener", () => {
  it("is anonymous, not the daemon's uid: without a token it may not apply", async () => {
    const logs = captureLogs();
    const onTcp = await startTestDaemon({ listen: '127.0.0.1:0', logger: logs.logger });
    const client = new ServiceClient('ConfigService', onTcp.target);
    try {
      const err = await client.call('ApplyConfig', { tables: [], replace_all: true }).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
      const line = logs.audit()[0];
      expect(line).toMatchObject({ refused: true, caller: { kind: 'tcp' } });
      expect((line?.caller as { uid?: number }).uid).toBeUndefined();
    } finally {
      client.close();
      await onTcp.stop();
    }
  });
});
