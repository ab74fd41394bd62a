/**
 * Where the userspace engine gets packets from and sends them to. A port
 * carries whole IP packets (no link-layer header); each received packet is
 * processed and, unless dropped, transmitted before the next is read.
 */
export type ReceiveHandler = (packet: Uint8Array, length: number) => void;

export interface PacketPort {
  /** e.g. "memory", "pcap", "tun:pp0". */
  readonly name: string;
  open(receive: ReceiveHandler): Promise<void>;
  transmit(packet: Uint8Array, length: number): void;
  close(): Promise<void>;
}
