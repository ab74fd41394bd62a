/**
 * `--log-sessions`: one structured info line per session close, with its
 * totals. Fed by the watch hub's subscription (every event, in order), so
 * it costs nothing unless turned on: session open and close otherwise stay
 * below the default log level.
 */
import type { Logger } from 'pino';
import type { SessionWatchHub } from './watch-hub.js';

export function logSessionCloses(hub: SessionWatchHub, logger: Logger): () => void {
  return hub.subscribe((events) => {
    const now = Date.now();
    for (const event of events) {
      if (event.kind !== 'close') continue;
      const s = event.session;
      logger.info(
        {
          session: s.id,
          table: s.table,
          rule: s.ruleName || s.ruleId,
          ruleId: s.ruleId,
          protocol: s.protocol,
          client: `${s.client.address}:${s.client.port}`,
          target: `${s.target.address}:${s.target.port}`,
          reason: event.reason,
          durationMs: now - s.createdAt,
          bytesFromClient: s.fromClient.bytes,
          bytesToClient: s.toClient.bytes,
          packetsFromClient: s.fromClient.packets,
          packetsToClient: s.toClient.packets,
          generation: s.generation,
        },
        'session closed',
      );
    }
  });
}
