/**
 * The fleet side of `portplane serve --etcd ... --node ...`: the ownership
 * hook exists before the gRPC server starts (so no local call slips past
 * it), the agent starts once the committed tables are restored, and both
 * stop before the controller drains.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { ConfigController } from '../control/config-controller.js';
import { FleetAgent } from './agent.js';
import { ControllerApplier } from './controller-applier.js';
import { connectEtcd, type EtcdTlsFiles } from './etcd-client.js';
import { FleetStateFile } from './fleet-state.js';
import { checkNodeName, FleetKeys } from './keys.js';
import { FleetTableOwnership } from './table-ownership.js';

export interface FleetOptions {
  endpoints: string[];
  node: string;
  prefix?: string;
  tls?: EtcdTlsFiles;
  /** Status lease TTL, seconds. */
  leaseTtlSeconds?: number;
  /** Watchdog period, ms. */
  watchdogMs?: number;
}

export class DaemonFleet {
  readonly ownership = new FleetTableOwnership();
  private readonly keys: FleetKeys;
  private etcd: Etcd3 | undefined;
  private agent: FleetAgent | undefined;

  constructor(
    private readonly options: FleetOptions,
    private readonly logger: Logger,
  ) {
    checkNodeName(options.node);
    this.keys = new FleetKeys(options.prefix);
  }

  /** Starts following etcd; returns at once, whether etcd answers or not. */
  async start(controller: ConfigController, stateDir: string): Promise<void> {
    const { node } = this.options;
    this.etcd = connectEtcd({ endpoints: this.options.endpoints, tls: this.options.tls });
    this.agent = new FleetAgent({
      etcd: this.etcd,
      node,
      keys: this.keys,
      applier: new ControllerApplier(controller, node),
      logger: this.logger.child({ fleet: node }),
      stateFile: new FleetStateFile(stateDir),
      ownership: this.ownership,
      leaseTtlSeconds: this.options.leaseTtlSeconds,
      watchdogMs: this.options.watchdogMs,
    });
    await this.agent.start();
    this.logger.info({ node, endpoints: this.options.endpoints, prefix: this.keys.prefix, status: this.keys.status(node) }, 'following etcd');
  }

  async stop(): Promise<void> {
    await this.agent?.stop();
    this.etcd?.close();
  }
}

