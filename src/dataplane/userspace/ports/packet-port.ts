/**
 * Where the userspace engine gets packets from and sends them to. A port
 * carries whole IP packets (no link-layer header); each received packet is
 * processed and, unless dropped, transmitted before the next is read.
 */
import type { PacketDropReason } from '../../telemetry.js';
import type { NativeFastPath } from '../native-fast-path.js';

export type ReceiveHandler = (packet: Uint8Array, length: number) => void;

/**
 * A packet the native loop left for the engine (see Engine.process for the
 * offload arguments); true: send it on, rewritten in place.
 */
export type SlowPathHandler = (packet: Uint8Array, length: number, partialChecksum: boolean, gsoSize: number) => boolean;

export interface PacketPort {
  /** e.g. "memory", "pcap", "tun:pp0". */
  readonly name: string;
  open(receive: ReceiveHandler): Promise<void>;
  /**
   * Ports that move packets on a native thread: the fast path runs there,
   * and only what it leaves reaches `slow`, in batches on the event loop.
   */
  openNative?(slow: SlowPathHandler, fastPath: NativeFastPath): Promise<void>;
  /** Offloads the device runs with once open ("csum,tso4,..."; '' none). */
  readonly offloads?: string;
  /** Queues the port reads (a multi-queue TUN device: one native loop each); 1 where there is no such thing. */
  readonly queues?: number;
  /** Packets lost in the port's own I/O, by reason (cumulative). */
  drops?(): Partial<Record<PacketDropReason, number>>;
  transmit(packet: Uint8Array, length: number): void;
  close(): Promise<void>;
}
