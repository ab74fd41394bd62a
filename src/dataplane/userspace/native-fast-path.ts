/**
 * The native fast path (native/tun/fastpath.c) over this backend's own
 * session table: the C code reads the flow table's rows and the sessions'
 * slot records in place (no copy of any flow), forwards established flows
 * and counts into the records; the session table folds those counts into
 * its sessions (SessionTable.foldNative). On by default wherever the TUN
 * addon loads; PORTPLANE_USERSPACE_NATIVE=0 keeps every packet in
 * JavaScript.
 */
import { tunSupport, type TunAddon } from './ports/tun-device.js';

export type NativeSupport = { available: true; addon: TunAddon } | { available: false; reason: string };

/** Whether the native fast path can run here, and why not. */
export function nativeFastPathSupport(): NativeSupport {
  if (process.env.PORTPLANE_USERSPACE_NATIVE === '0') return { available: false, reason: 'turned off with PORTPLANE_USERSPACE_NATIVE=0: every packet takes the JavaScript path' };
  const tun = tunSupport();
  if (tun.available) return tun;
  return { available: false, reason: `the native fast path lives in the TUN addon: ${tun.reason}` };
}

export class NativeFastPath {
  readonly table: object;
  /** Backend clock reading and wall-clock time at creation: record last-seen values count from these. */
  readonly clockBase: number;
  /** The fast path moved the TCP state of the session in `slot` (the session table records the change). */
  onStateChange: (slot: number) => void = () => undefined;

  constructor(
    readonly addon: TunAddon,
    clock: () => number,
  ) {
    this.clockBase = clock();
    this.table = addon.createTable(Date.now());
  }

  setRows(rows: Int32Array): void {
    this.addon.setRows(this.table, rows);
  }

  setChunk(index: number, records: Uint32Array): void {
    this.addon.setChunk(this.table, index, records);
  }

  /** True when the packet was forwarded (rewritten in place and counted at `now`, the backend's clock); false: the engine's. */
  forward(packet: Uint8Array, length: number, now: number): boolean {
    const rel = Math.min(0xffffffff, Math.max(0, Math.round(now - this.clockBase)) + 1);
    const verdict = this.addon.process(this.table, packet, length, rel);
    if (verdict >= 2) this.onStateChange(verdict - 2);
    return verdict !== 1;
  }
}
