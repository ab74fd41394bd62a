/**
 * The optional native addon in native/tun (built by `npm ci`): it opens a
 * TUN device (with offloads when asked), reads it on the event loop (the
 * JavaScript packet path) or runs the native packet loop and fast path
 * (native-fast-path.ts, tun-port.ts). Where it cannot load, or
 * /dev/net/tun cannot be opened, the userspace backend reports the
 * `tun_port` capability unsupported with the reason from here.
 */
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TunOpened {
  fd: number;
  name: string;
  /** Every read and write starts with a virtio-net header (IFF_VNET_HDR). */
  vnetHeader: boolean;
  /** TUNSETOFFLOAD flags enabled, comma-separated ("csum,tso4,tso6,uso4,uso6"), '' for none. */
  offloads: string;
  /** Why no offload is on, when asked for and refused. */
  offloadError: string;
}

export interface TunAddon {
  /** Attaches to (or creates) the TUN interface `name`; its descriptor is non-blocking and close-on-exec. multiQueue: one more queue of an IFF_MULTI_QUEUE device. */
  open(name: string, offloads?: boolean, multiQueue?: boolean): TunOpened;
  /** Calls `onPacket(length)` with each packet read into `buffer`; a negative length is -errno of a failed read, after which reading has stopped. */
  startReader(fd: number, buffer: Buffer, onPacket: (length: number) => void): object;
  /** No callback after this returns. Call once per handle. */
  stopReader(handle: object): void;
  /** The fast path's view of a session table; `baseMs`: the wall-clock time its last-seen values count from. */
  createTable(baseMs: number): object;
  /** Installs the flow table's rows (waits for a running batch, so the old rows are free once this returns). */
  setRows(table: object, rows: Int32Array): void;
  /** Installs the slot records of slots [index * 4096, (index + 1) * 4096). */
  setChunk(table: object, index: number, records: Uint32Array): void;
  /** The fast path on a packet JavaScript holds: 0 forwarded (rewritten in place), 1 for the engine, 2 + slot forwarded and that session's state changed. */
  process(table: object, packet: Uint8Array, length: number, nowRel: number): number;
  /**
   * Starts the loop thread (flags: 1 virtio-net headers, 2 coalesce UDP writes, 4 coalesce TCP writes, 8 read through io_uring where the kernel can); `onBatch(i)` when batch i
   * (ctl[n + i] entries: packets, or state changes of a slot) is JavaScript's until it stores ctl[i] = 0;
   * ctl[2n] = 1: call wakeLoop after releasing.
   */
  startLoop(table: object, fd: number, flags: number, batches: Buffer[], ctl: Int32Array, onBatch: (index: number) => void): object;
  /** Wakes the loop after a batch was released while it held slow packets back (ctl[2n] was 1). */
  wakeLoop(loop: object): void;
  /** Joins the thread; no batch is handed over after this returns. */
  stopLoop(loop: object): void;
  /** [read, fast, slow, slowOverflow, writeErrors, readErrors, rounds, writes, eventsLost, uring (1 while reading through io_uring)] */
  loopStats(loop: object): Float64Array;
  /** Frees a stopped loop. */
  releaseLoop(loop: object): void;
}

export type TunSupport = { available: true; addon: TunAddon } | { available: false; reason: string };

export const TUN_DEVICE = '/dev/net/tun';

let cached: TunSupport | undefined;

/** Loaded once. src/ and dist/ are both four levels below the repository root, where native/ is. */
export function tunSupport(): TunSupport {
  if (cached) return cached;
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'native', 'tun', 'build', process.env.PORTPLANE_NATIVE_BUILD ?? 'Release', 'tun.node');
  let addon: TunAddon;
  try {
    addon = createRequire(import.meta.url)(path) as TunAddon;
  } catch (err) {
    cached = { available: false, reason: `the TUN addon ${path} is not loadable (built by npm ci; needs a C compiler): ${(err as Error).message.split('\n')[0]}` };
    return cached;
  }
  try {
    accessSync(TUN_DEVICE, constants.R_OK | constants.W_OK);
    cached = { available: true, addon };
  } catch (err) {
    cached = { available: false, reason: `${TUN_DEVICE} is not usable by this process (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); creating a TUN device also needs CAP_NET_ADMIN` };
  }
  return cached;
}
