/**
 * The controller's parts wired as ConfigController wires them, on real
 * parts: the kernel dataplane, a ledger in a state directory, the apply
 * pipeline, the pending-apply state machine and a serial queue. For tests
 * of one part's stages or transitions.
 */
import { pino } from 'pino';
import { DEFAULT_LIMITS, defaultRuleOptions, type ForwardRule, type Table } from '../../src/config/model.js';
import { ApplyContext } from '../../src/control/apply-context.js';
import { ApplyPipeline, type ApplyRequest, type ApplyResponse } from '../../src/control/apply-pipeline.js';
import { Ledger } from '../../src/control/ledger.js';
import { PendingApplies, type CancelOptions, type RollbackResponse } from '../../src/control/pending-applies.js';
import { SerialQueue } from '../../src/control/serial-queue.js';
import type { ApplyResult } from '../../src/dataplane/apply-result.js';
import { KernelDataPlane } from '../../src/dataplane/kernel/backend.js';
import { roundTrip } from './tcp.js';

const logger = pino({ level: 'silent' });

/** A TCP rule forwarding 127.0.0.1:`port` to 127.0.0.1:`target`. */
export function loopbackRule(name: string, port: number, target: number): ForwardRule {
  return { name, protocol: 'tcp', listenAddress: '127.0.0.1', interface: '', ports: { first: port, last: port }, exclude: [], targetAddress: '127.0.0.1', targetPort: target, weak: false, ...defaultRuleOptions() };
}

/** Whether 127.0.0.1:`port` forwards to an echo server (a bounded round trip). */
export async function forwards(port: number): Promise<boolean> {
  try {
    return (await roundTrip(port, 'ping', '127.0.0.1', 2_000)).toString() === 'ping';
  } catch {
    return false;
  }
}

export class ControllerParts {
  readonly queue = new SerialQueue();
  readonly ctx: ApplyContext;
  readonly pendings: PendingApplies;
  readonly pipeline: ApplyPipeline;

  private constructor(
    readonly dataplane: KernelDataPlane,
    readonly ledger: Ledger,
  ) {
    this.ctx = new ApplyContext({ dataplane, ledger, limits: DEFAULT_LIMITS, logger });
    this.pendings = new PendingApplies(this.ctx, (task) => this.queue.run(task));
    this.pipeline = new ApplyPipeline(this.ctx, this.pendings);
  }

  /** The parts over state directory `dir`, its committed state restored. */
  static async open(dir: string): Promise<ControllerParts> {
    const ledger = new Ledger(dir, 16, logger);
    await ledger.init();
    const dataplane = new KernelDataPlane({ logger });
    await dataplane.start();
    const parts = new ControllerParts(dataplane, ledger);
    await parts.queue.run(() => parts.pipeline.restore());
    return parts;
  }

  apply(tables: Table[], extra: Partial<ApplyRequest> = {}, transactionId?: string): Promise<ApplyResponse> {
    return this.queue.run(() => this.pipeline.run({ tables, ...extra }, transactionId ? { trigger: 'transaction', transactionId } : { trigger: 'apply' }));
  }

  confirm(generation: number, transactionId?: string): Promise<ApplyResult> {
    return this.queue.run(() => this.pendings.confirm(generation, transactionId));
  }

  cancel(generation: number, options: CancelOptions = {}): Promise<RollbackResponse> {
    return this.queue.run(() => this.pendings.cancel(generation, options));
  }

  /** As the controller's shutdown: the timer stops, work in flight ends, the ledger closes; then the dataplane goes. */
  async close(): Promise<void> {
    this.pendings.disarm();
    await this.queue.idle();
    // Background history writes (a refused or unsaved apply's entry) finish before the caller removes the directory.
    await this.ctx.flushHistory();
    await this.ledger.close();
    await this.dataplane.teardown();
  }
}
