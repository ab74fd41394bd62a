/**
 * The optional native relay engine (native/splice-relay, built by `npm ci`):
 * one thread that connects adopted TCP clients to their targets and relays
 * both directions with splice(2), kernel to kernel. portplane's JavaScript
 * thread then only accepts, admits and accounts; bytes never enter it.
 *
 * The engine is loaded once per process. Without it (no compiler at install,
 * a non-Linux kernel, or PORTPLANE_SPLICE=0) the kernel backend relays in
 * JavaScript (tcp-relay.ts) with the same behaviour.
 *
 * A connection occupies a slot from adoption until the engine reports it
 * closed; the slot indexes the shared stats array the engine thread writes
 * byte and read counts into, which sessions fold into their counters on
 * demand (refresh) and once more when they close.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { protoRoot } from '../../server/api-definition.js';

/** Connections the engine relays at once; beyond it, new connections use the JavaScript relay. */
const CAPACITY = 1 << 17;

/** Doubles per slot in the stats array, in this order (native/splice-relay/splice_relay.c STAT_*). */
export const STATS_PER_SLOT = 5;
export const STAT = { fromClientBytes: 0, fromClientReads: 1, toClientBytes: 2, toClientReads: 3, lastActivityMs: 4 } as const;

export const EV_CONNECTED = 1;
export const EV_END = 2;
export const EV_CLOSED = 3;

/** Why a connection closed (EV_CLOSED), as the engine reports it. */
export const WHY = {
  requested: 0,
  ended: 1,
  clientError: 2,
  upstreamReset: 3,
  upstreamError: 4,
  connectFailed: 5,
  connectTimeout: 6,
  resource: 7,
} as const;

/** What the engine tells the connection in a slot. */
export interface EngineConnection {
  onEngineEvent(kind: number, why: number, detail: number, address: string | undefined, port: number | undefined): void;
}

interface Addon {
  create(capacity: number, onEvent: (kind: number, slot: number, why: number, detail: number, address?: string, port?: number) => void): {
    engine: unknown;
    stats: ArrayBuffer;
  };
  adopt(engine: unknown, slot: number, fd: number, address: string, port: number, timeoutMs: number, header: Buffer | null): number;
  close(engine: unknown, slot: number, reset: boolean): void;
  setActive(engine: unknown, active: boolean): void;
}

/** ENOSPC on Linux: no free slot. */
const ENOSPC = 28;

export type AdoptResult = { ok: true; slot: number } | { ok: false; errno: number };

export class SpliceEngine {
  readonly stats: Float64Array;
  private readonly engine: unknown;
  private readonly slots: (EngineConnection | undefined)[] = [];
  private readonly free: number[] = [];
  private nextSlot = 0;
  private active = 0;

  constructor(private readonly addon: Addon) {
    const created = addon.create(CAPACITY, (kind, slot, why, detail, address, port) => this.dispatch(kind, slot, why, detail, address, port));
    this.engine = created.engine;
    this.stats = new Float64Array(created.stats);
  }

  /**
   * Hands the accepted socket `fd` to the engine, which duplicates it (the
   * caller closes its own) and connects to the target. errno EINVAL: the
   * target is no numeric address the engine can connect to; ENOSPC: every
   * slot is taken. Either way the caller relays the connection itself.
   */
  adopt(fd: number, address: string, port: number, timeoutMs: number, header: Buffer | null): AdoptResult {
    const slot = this.free.pop() ?? (this.nextSlot < CAPACITY ? this.nextSlot++ : -1);
    if (slot < 0) return { ok: false, errno: ENOSPC };
    const errno = this.addon.adopt(this.engine, slot, fd, address, port, timeoutMs, header);
    if (errno !== 0) {
      this.free.push(slot);
      return { ok: false, errno };
    }
    return { ok: true, slot };
  }

  /** Binds the connection adopted into `slot` to the object that handles its events. */
  attach(slot: number, connection: EngineConnection): void {
    this.slots[slot] = connection;
    if (this.active++ === 0) this.addon.setActive(this.engine, true);
  }

  /** Ends the connection in `slot`; an EV_CLOSED (requested) follows unless it already ended. */
  close(slot: number, resetClient: boolean): void {
    this.addon.close(this.engine, slot, resetClient);
  }

  private dispatch(kind: number, slot: number, why: number, detail: number, address?: string, port?: number): void {
    const connection = this.slots[slot];
    if (!connection) return;
    if (kind !== EV_CLOSED) {
      connection.onEngineEvent(kind, why, detail, address, port);
      return;
    }
    this.slots[slot] = undefined;
    try {
      // The slot's stats are read here, so it is freed only afterwards.
      connection.onEngineEvent(kind, why, detail, address, port);
    } finally {
      this.free.push(slot);
      // Pending events no longer keep the process alive once no connection is left.
      if (--this.active === 0) this.addon.setActive(this.engine, false);
    }
  }
}

let loaded: { engine: SpliceEngine } | { engine: undefined; reason: string } | undefined;

/** The process's engine, loaded on first use; undefined (with why) when the relay runs in JavaScript. */
export function spliceEngine(): { engine: SpliceEngine } | { engine: undefined; reason: string } {
  if (loaded) return loaded;
  if (process.env.PORTPLANE_SPLICE === '0') {
    loaded = { engine: undefined, reason: 'disabled by PORTPLANE_SPLICE=0' };
    return loaded;
  }
  const path = join(protoRoot(), '..', 'native', 'splice-relay', 'build', 'Release', 'splice_relay.node');
  try {
    loaded = { engine: new SpliceEngine(createRequire(import.meta.url)(path) as Addon) };
  } catch (err) {
    loaded = { engine: undefined, reason: `native addon ${path} not loadable: ${(err as Error).message.split('\n')[0]}` };
  }
  return loaded;
}
