/**
 * A Linux TUN interface as the engine's packet port: the kernel routes
 * packets for forwarded addresses (and, by policy routing, the targets'
 * replies) into the interface; the engine rewrites them and writes them back,
 * and the kernel routes them on. See docs/api.md "Userspace backend on a TUN
 * device" for the routes this needs.
 *
 * Two ways to move packets: open() reads them on the event loop and the
 * engine handles every one (the JavaScript path); openNative() opens the
 * device with offloads and runs the native loop (native/tun/loop.c), which
 * forwards established flows itself and hands the rest over in batches:
 * one loop thread per queue (`queues` > 1 opens the device IFF_MULTI_QUEUE,
 * and the kernel spreads flows over the queues).
 */
import { execFile } from 'node:child_process';
import { closeSync, readFileSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import type { PacketDropReason } from '../../telemetry.js';
import type { NativeFastPath } from '../native-fast-path.js';
import type { PacketPort, ReceiveHandler, SlowPathHandler } from './packet-port.js';
import { tunSupport, type TunAddon } from './tun-device.js';

const run = promisify(execFile);

/** The largest IP packet a TUN interface can carry (its MTU is at most 65535). */
const MAX_PACKET = 65_536;
/**
 * Batches for the engine: each holds at least one largest packet (64 KiB and
 * its header). The loop hands at most two at a time to JavaScript and keeps
 * filling another meanwhile; only when every batch is taken is a slow packet
 * dropped (counted as slow_path_overflow).
 */
const BATCHES = 8;
const BATCH_BYTES = 1 << 18;
/** struct virtio_net_hdr (include/uapi/linux/virtio_net.h): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
const VNET_HDR_LEN = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_GSO_ECN = 0x80;
/** A batch entry that reports a state change of the slot that follows (native/tun/loop.c). */
const ENTRY_STATE_EVENT = 0x80000000;
/** startLoop flags (native/tun/loop.c). */
const LOOP_VNET_HEADER = 1;
const LOOP_COALESCE_UDP = 2;
const LOOP_COALESCE_TCP = 4;
const LOOP_URING = 8;
/** Link defaults applied when portplane configures the link (--tun-address) or when given explicitly. */
export const DEFAULT_TUN_MTU = 1500;
export const DEFAULT_TUN_TXQUEUELEN = 1000;

export interface TunPortOptions {
  /** Interface name, e.g. "pp0"; an existing persistent TUN device (ip tuntap add) is attached to. */
  device: string;
  /** Addresses (CIDR) to assign before bringing the link up with iproute2; none: the operator configures the link. */
  addresses?: string[];
  /** Link MTU (--tun-mtu); default DEFAULT_TUN_MTU when portplane configures the link. */
  mtu?: number;
  /** The device's queue length in packets (--tun-txqueuelen): what the kernel holds for portplane before tx_dropped. */
  txQueueLength?: number;
  /** Queues, each read by its own native loop thread (--tun-queues); default one per core (defaultTunQueues()). The JavaScript path reads one. */
  queues?: number;
  /** A failed read (reading stops) or the first of a run of failed writes (all are counted). Default: none. */
  onError?: (err: Error) => void;
}

interface NativeLoop {
  addon: TunAddon;
  handle: object;
  /** Counters of the stopped loop, kept once its handle is freed. */
  final?: Float64Array;
}

/** The most queues --tun-queues takes: the kernel's own limit is 256 (MAX_TAP_QUEUES); each queue costs about 4 MiB of buffers. */
export const MAX_TUN_QUEUES = 64;

/** One queue (and loop thread) per core, so the kernel can spread flows over every core. */
export function defaultTunQueues(): number {
  return Math.min(availableParallelism(), MAX_TUN_QUEUES);
}

export class TunPort implements PacketPort {
  received = 0;
  transmitted = 0;
  transmitErrors = 0;
  offloads: string | undefined;
  private fd = -1;
  /** Every queue's descriptor (fds[0] is `fd`). */
  private fds: number[] = [];
  private device: string;
  private reader: object | undefined;
  private loops: NativeLoop[] = [];
  private writeFailing = false;
  /** The device's drop counters when opened (a persistent device keeps its own history). */
  private baseDrops = { tx: 0, rx: 0 };

  constructor(private readonly options: TunPortOptions) {
    this.device = options.device;
    const { queues } = options;
    if (queues !== undefined && !(Number.isInteger(queues) && queues >= 1 && queues <= MAX_TUN_QUEUES)) {
      throw new Error(`TUN port ${options.device}: queues must be an integer from 1 to ${MAX_TUN_QUEUES}, got ${queues}`);
    }
  }

  get name(): string {
    return `tun:${this.device}`;
  }

  /** The number of queues the native loop reads. */
  get queues(): number {
    return Math.max(1, this.fds.length);
  }

  private attach(addon: TunAddon, offloads: boolean, queues = 1): { fd: number; vnetHeader: boolean } {
    let opened;
    try {
      opened = addon.open(this.options.device, offloads, queues > 1);
    } catch (err) {
      if (queues === 1 || this.options.queues !== undefined) throw err;
      // A persistent device created single-queue refuses IFF_MULTI_QUEUE (EINVAL): the default falls back to one queue.
      opened = addon.open(this.options.device, offloads, false);
      queues = 1;
      this.options.onError?.(new Error(`TUN port ${opened.name}: reading one queue, not ${defaultTunQueues()}: ${(err as Error).message}`));
    }
    this.fd = opened.fd;
    this.fds = [opened.fd];
    this.device = opened.name;
    this.offloads = opened.offloads;
    if (offloads && !opened.offloads) this.options.onError?.(new Error(`TUN port ${this.device}: no offload enabled (${opened.offloadError}); packets move one segment at a time`));
    try {
      // The first open may have picked the name from a pattern: the other queues attach to that device.
      for (let q = 1; q < queues; q++) this.fds.push(addon.open(this.device, offloads, true).fd);
    } catch (err) {
      this.closeFds();
      throw new Error(`TUN port ${this.device}: attaching queue ${this.fds.length + 1} of ${queues} failed: ${(err as Error).message}`);
    }
    return opened;
  }

  private closeFds(): void {
    for (const fd of this.fds) closeSync(fd);
    this.fds = [];
    this.fd = -1;
  }

  async open(receive: ReceiveHandler): Promise<void> {
    const support = tunSupport();
    if (!support.available) throw new Error(`TUN port ${this.device}: ${support.reason}`);
    const { fd } = this.attach(support.addon, false);
    await this.configureLinkOrClose();
    const buffer = Buffer.allocUnsafe(MAX_PACKET);
    this.reader = support.addon.startReader(fd, buffer, (length) => {
      if (length < 0) {
        this.options.onError?.(new Error(`TUN port ${this.device}: read failed (errno ${-length}); no more packets are read`));
        return;
      }
      this.received++;
      receive(buffer, length);
    });
  }

  /** Offloads on (unless PORTPLANE_TUN_OFFLOAD=0), a native loop per queue moving packets; `slow` gets what the fast path leaves. */
  async openNative(slow: SlowPathHandler, fastPath: NativeFastPath): Promise<void> {
    const addon = fastPath.addon;
    const { vnetHeader } = this.attach(addon, process.env.PORTPLANE_TUN_OFFLOAD !== '0', this.options.queues ?? defaultTunQueues());
    await this.configureLinkOrClose();
    this.readBaseDrops();
    // Packets are coalesced into super-packets only where the device takes them back: UDP GSO (USO), TCP (TSO).
    // Reads go through io_uring where the kernel can (PORTPLANE_TUN_URING=0: poll and read, for comparison).
    const flags =
      (vnetHeader ? LOOP_VNET_HEADER : 0) |
      (this.offloads?.includes('uso4') ? LOOP_COALESCE_UDP : 0) |
      (this.offloads?.includes('tso4') ? LOOP_COALESCE_TCP : 0) |
      (process.env.PORTPLANE_TUN_URING === '0' ? 0 : LOOP_URING);
    try {
      for (const fd of this.fds) this.loops.push(this.startLoop(addon, fd, flags, vnetHeader, slow, fastPath));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** One queue's loop thread, with its own batches for the engine; the engine's packets go back out on the same queue. */
  private startLoop(addon: TunAddon, fd: number, flags: number, vnetHeader: boolean, slow: SlowPathHandler, fastPath: NativeFastPath): NativeLoop {
    const batches = Array.from({ length: BATCHES }, () => Buffer.allocUnsafe(BATCH_BYTES));
    // [i]: batch i is JavaScript's; [BATCHES + i]: its packet count; [2 * BATCHES]: the loop waits for a release.
    const ctl = new Int32Array(2 * BATCHES + 1);
    const header = vnetHeader ? VNET_HDR_LEN : 0;
    const onBatch = (index: number): void => {
      // A hand-over queued before close() ran: the loop and the device are gone.
      if (this.fd < 0) return;
      const buf = batches[index]!;
      const count = Atomics.load(ctl, BATCHES + index);
      let offset = 0;
      for (let i = 0; i < count; i++) {
        const entry = buf.readUInt32LE(offset);
        const length = buf.readUInt32LE(offset + 4);
        const start = offset + 8;
        offset += entry;
        if (length & ENTRY_STATE_EVENT) {
          fastPath.onStateChange(buf.readUInt32LE(start));
          continue;
        }
        this.received++;
        const partial = header > 0 && (buf[start]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
        const gsoSize = header > 0 && (buf[start + 1]! & ~VIRTIO_NET_HDR_GSO_ECN) !== 0 ? buf.readUInt16LE(start + 4) : 0;
        if (slow(buf.subarray(start + header, start + length), length - header, partial, gsoSize)) this.write(fd, buf, start, length);
      }
      Atomics.store(ctl, index, 0);
      if (Atomics.load(ctl, 2 * BATCHES) === 1 && !loop.final) addon.wakeLoop(loop.handle);
    };
    const loop: NativeLoop = { addon, handle: addon.startLoop(fastPath.table, fd, flags, batches, ctl, onBatch) };
    return loop;
  }

  private async configureLinkOrClose(): Promise<void> {
    try {
      await this.configureLink();
    } catch (err) {
      this.closeFds();
      throw err;
    }
  }

  private async configureLink(): Promise<void> {
    const { addresses = [], mtu, txQueueLength } = this.options;
    const managed = addresses.length > 0;
    if (!managed && mtu === undefined && txQueueLength === undefined) return;
    const link = ['link', 'set', 'dev', this.device];
    if (managed || mtu !== undefined) link.push('mtu', String(mtu ?? DEFAULT_TUN_MTU));
    if (managed || txQueueLength !== undefined) link.push('txqueuelen', String(txQueueLength ?? DEFAULT_TUN_TXQUEUELEN));
    try {
      await run('ip', link);
      for (const cidr of addresses) await run('ip', ['address', 'replace', cidr, 'dev', this.device]);
      if (managed) await run('ip', ['link', 'set', 'dev', this.device, 'up']);
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`TUN port ${this.device}: configuring the link with ip (iproute2) failed: ${(e.stderr || e.message).trim()}`);
    }
  }

  /** The device's own counters (sysfs of this network namespace); undefined where they cannot be read. */
  private deviceDrops(): { tx: number; rx: number } | undefined {
    try {
      const read = (name: string) => Number(readFileSync(`/sys/class/net/${this.device}/statistics/${name}`, 'utf8'));
      return { tx: read('tx_dropped'), rx: read('rx_dropped') };
    } catch {
      return undefined;
    }
  }

  private readBaseDrops(): void {
    this.baseDrops = this.deviceDrops() ?? { tx: 0, rx: 0 };
  }

  drops(): Partial<Record<PacketDropReason, number>> {
    const device = this.fd >= 0 ? this.deviceDrops() : undefined;
    const loop = this.loopStats();
    return {
      // tx is the kernel transmitting to portplane: packets its queues could not hold.
      tun_queue_full: device ? device.tx - this.baseDrops.tx : 0,
      tun_rx_dropped: device ? device.rx - this.baseDrops.rx : 0,
      tun_write_failed: this.transmitErrors + loop[4]!,
      slow_path_overflow: loop[3]!,
    };
  }

  /** The loops' counters (native/tun/loop.c loopStats), summed over the queues; zeros on the JavaScript path. */
  private loopStats(): Float64Array {
    const sum = new Float64Array(10);
    for (const loop of this.loops) (loop.final ?? loop.addon.loopStats(loop.handle)).forEach((n, i) => (sum[i]! += n));
    return sum;
  }

  /** Packets the native loops forwarded themselves and handed to the engine (0 on the JavaScript path). */
  loopCounters(): { read: number; fast: number; slow: number; writes: number; rounds: number; uringLoops: number } {
    const loop = this.loopStats();
    return { read: loop[0]!, fast: loop[1]!, slow: loop[2]!, writes: loop[7]!, rounds: loop[6]!, uringLoops: loop[9]! };
  }

  /** One packet, written whole; a failure (e.g. EIO while the link is down) drops it. */
  transmit(packet: Uint8Array, length: number): void {
    this.write(this.fd, packet, 0, length);
  }

  private write(fd: number, buf: Uint8Array, offset: number, length: number): void {
    try {
      writeSync(fd, buf, offset, length);
      this.transmitted++;
      this.writeFailing = false;
    } catch (err) {
      this.transmitErrors++;
      if (this.writeFailing) return;
      this.writeFailing = true;
      this.options.onError?.(new Error(`TUN port ${this.device}: write failed: ${(err as Error).message}`));
    }
  }

  async close(): Promise<void> {
    const addon = tunSupport();
    if (this.reader && addon.available) addon.addon.stopReader(this.reader);
    this.reader = undefined;
    for (const loop of this.loops) {
      if (loop.final) continue;
      loop.addon.stopLoop(loop.handle);
      loop.final = loop.addon.loopStats(loop.handle);
      loop.addon.releaseLoop(loop.handle);
    }
    this.closeFds();
  }
}
