/**
 * Writes a node's status key under a lease the publisher keeps alive, so
 * the key disappears when the node does. Writes are coalesced (only the
 * latest status matters) and retried with backoff while etcd is away. A lost
 * lease (keep-alives stalled past its TTL, or revoked) takes the key with
 * it: a new lease is granted and the last status put again.
 */
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import { Backoff } from './backoff.js';

export class StatusPublisher {
  private lease: Lease | undefined;
  private latest: string | undefined;
  private written: string | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly backoff = new Backoff(100, 5_000);
  /** Statuses put, and leases granted after one was lost (for tests and telemetry). */
  readonly counts = { puts: 0, leasesLost: 0 };

  constructor(
    private readonly etcd: Etcd3,
    private readonly key: string,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
  ) {}

  publish(status: string): void {
    if (this.closed) return;
    this.latest = status;
    this.flushing ??= this.flush().finally(() => (this.flushing = undefined));
  }

  /** Resolves once nothing is waiting to be written (or the publisher closed). */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private leaseNow(): Lease {
    if (this.lease) return this.lease;
    const lease = this.etcd.lease(this.ttlSeconds);
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.lease = undefined;
      if (this.closed) return;
      this.counts.leasesLost++;
      this.logger.warn({ err: err.message, key: this.key }, 'fleet status lease lost; granting a new one and putting the status again');
      if (this.latest === undefined && this.written !== undefined) this.publish(this.written);
    });
    this.lease = lease;
    return lease;
  }

  private async flush(): Promise<void> {
    while (this.latest !== undefined && !this.closed) {
      const status = this.latest;
      try {
        // A deadline: a put stuck on a dead connection must not hold up the next status.
        await this.leaseNow().put(this.key).value(status).options({ deadline: Date.now() + 5_000 }).exec();
        this.counts.puts++;
        this.written = status;
        if (this.latest === status) this.latest = undefined;
        this.backoff.reset();
      } catch (err) {
        if (this.closed) return;
        this.logger.debug({ err: (err as Error).message, key: this.key }, 'fleet status not written; retrying');
        await this.backoff.wait();
      }
    }
  }

  /** Stops writing and revokes the lease: the status key goes at once. */
  async close(): Promise<void> {
    this.closed = true;
    this.backoff.cancel();
    await this.flushing;
    const lease = this.lease;
    this.lease = undefined;
    await lease?.revoke({ deadline: Date.now() + 2_000 }).catch(() => undefined);
  }
}
