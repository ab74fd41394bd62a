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
 * forwards established flows itself and hands the rest over in batches.
 */
import { execFile } from 'node:child_process';
import { closeSync, readFileSync, writeSync } from 'node:fs';
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
  /** A failed read (reading stops) or the first of a run of failed writes (all are counted). Default: none. */
  onError?: (err: Error) => void;
}

interface NativeLoop {
  addon: TunAddon;
  handle: object;
  /** Counters of the stopped loop, kept once its handle is freed. */
  final?: Float64Array;
}

export class TunPort implements PacketPort {
  received = 0;
  transmitted = 0;
  transmitErrors = 0;
  offloads: string | undefined;
  private fd = -1;
  private device: string;
  private reader: object | undefined;
  private loop: NativeLoop | undefined;
  private writeFailing = false;
  /** The device's drop counters when opened (a persistent device keeps its own history). */
  private baseDrops = { tx: 0, rx: 0 };

  constructor(private readonly options: TunPortOptions) {
    this.device = options.device;
  }

  get name(): string {
    return `tun:${this.device}`;
  }

  private attach(addon: TunAddon, offloads: boolean): { fd: number; vnetHeader: boolean } {
    const opened = addon.open(this.options.device, offloads);
    this.fd = opened.fd;
    this.device = opened.name;
    this.offloads = opened.offloads;
    if (offloads && !opened.offloads) this.options.onError?.(new Error(`TUN port ${this.device}: no offload enabled (${opened.offloadError}); packets move one segment at a time`));
    return opened;
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

  /** Offloads on (unless PORTPLANE_TUN_OFFLOAD=0), the native loop moving packets; `slow` gets what the fast path leaves. */
  async openNative(slow: SlowPathHandler, fastPath: NativeFastPath): Promise<void> {
    const addon = fastPath.addon;
    const { fd, vnetHeader } = this.attach(addon, process.env.PORTPLANE_TUN_OFFLOAD !== '0');
    await this.configureLinkOrClose();
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
        if (slow(buf.subarray(start + header, start + length), length - header, partial, gsoSize)) this.write(buf, start, length);
      }
      Atomics.store(ctl, index, 0);
      if (Atomics.load(ctl, 2 * BATCHES) === 1 && this.loop) this.loop.addon.wakeLoop(this.loop.handle);
    };
    this.readBaseDrops();
    // UDP datagrams are coalesced into UDP GSO super-packets only where the device takes them back (USO).
    const flags = (vnetHeader ? LOOP_VNET_HEADER : 0) | (this.offloads?.includes('uso4') ? LOOP_COALESCE_UDP : 0);
    this.loop = { addon, handle: addon.startLoop(fastPath.table, fd, flags, batches, ctl, onBatch) };
  }

  private async configureLinkOrClose(): Promise<void> {
    try {
      await this.configureLink();
    } catch (err) {
      closeSync(this.fd);
      this.fd = -1;
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
    const loop = this.loop && (this.loop.final ?? this.loop.addon.loopStats(this.loop.handle));
    return {
      // tx is the kernel transmitting to portplane: packets its queue could not hold.
      tun_queue_full: device ? device.tx - this.baseDrops.tx : 0,
      tun_rx_dropped: device ? device.rx - this.baseDrops.rx : 0,
      tun_write_failed: this.transmitErrors + (loop ? loop[4]! : 0),
      slow_path_overflow: loop ? loop[3]! : 0,
    };
  }

  /** Packets the native loop forwarded itself and handed to the engine (0 on the JavaScript path). */
  loopCounters(): { read: number; fast: number; slow: number; writes: number } {
    const loop = this.loop && (this.loop.final ?? this.loop.addon.loopStats(this.loop.handle));
    return { read: loop?.[0] ?? 0, fast: loop?.[1] ?? 0, slow: loop?.[2] ?? 0, writes: loop?.[7] ?? 0 };
  }

  /** One packet, written whole; a failure (e.g. EIO while the link is down) drops it. */
  transmit(packet: Uint8Array, length: number): void {
    this.write(packet, 0, length);
  }

  private write(buf: Uint8Array, offset: number, length: number): void {
    try {
      writeSync(this.fd, buf, offset, length);
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
    if (this.loop && !this.loop.final) {
      this.loop.addon.stopLoop(this.loop.handle);
      this.loop.final = this.loop.addon.loopStats(this.loop.handle);
      this.loop.addon.releaseLoop(this.loop.handle);
    }
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
