/**
 * A port in memory: tests and benchmarks inject packets and see what the
 * engine transmits, with no packet I/O in the way.
 */
import type { PacketPort, ReceiveHandler } from './packet-port.js';

export class MemoryPort implements PacketPort {
  readonly name = 'memory';
  private receive: ReceiveHandler | undefined;
  /** Called with every transmitted packet (the engine's buffer: copy it to keep it). */
  onTransmit: (packet: Uint8Array, length: number) => void = () => undefined;

  async open(receive: ReceiveHandler): Promise<void> {
    this.receive = receive;
  }

  /** Delivers one IP packet to the engine, synchronously. False when the port is not open. */
  inject(packet: Uint8Array, length = packet.length): boolean {
    if (!this.receive) return false;
    this.receive(packet, length);
    return true;
  }

  transmit(packet: Uint8Array, length: number): void {
    this.onTransmit(packet, length);
  }

  async close(): Promise<void> {
    this.receive = undefined;
  }
}
