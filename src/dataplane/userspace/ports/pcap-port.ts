/**
 * A port that replays a capture file through the engine and writes what the
 * engine transmits to another capture (raw IP). The owner calls replay()
 * once the backend is started and configured.
 *
 * Captures taken on the sending host (loopback, a veth) hold packets whose
 * TCP/UDP checksums the NIC or the kernel had not filled in yet (checksum
 * offload). An incremental update keeps a checksum exactly as right or as
 * wrong as it was, so by default the port recomputes input checksums first.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { KEY_WORDS, OK, PacketView, parsePacket, recomputeChecksums } from '../packet.js';
import type { PacketPort, ReceiveHandler } from './packet-port.js';
import { readCapture, writeCapture } from './pcap-format.js';

export interface PcapPortOptions {
  input: string;
  output: string;
  /** Recompute checksums of input packets before the engine sees them (default true; see above). */
  repairChecksums?: boolean;
}

export interface PcapReplay {
  read: number;
  /** Frames that carry no IP packet (ARP, ...). */
  notIp: number;
  written: number;
}

export class PcapPort implements PacketPort {
  readonly name = 'pcap';
  private receive: ReceiveHandler | undefined;
  private readonly written: { timestampMicros: number; packet: Uint8Array }[] = [];
  private currentTimestamp = 0;

  constructor(private readonly options: PcapPortOptions) {}

  async open(receive: ReceiveHandler): Promise<void> {
    this.receive = receive;
  }

  /** Feeds the whole input capture to the engine and writes the output capture. */
  async replay(): Promise<PcapReplay> {
    const receive = this.receive;
    if (!receive) throw new Error('pcap port: replay() before the backend opened the port');
    const capture = readCapture(await readFile(this.options.input));
    const view = new PacketView();
    const key = new Uint32Array(KEY_WORDS);
    let notIp = 0;
    this.written.length = 0;
    for (const record of capture.records) {
      const packet = record.packet;
      if (!packet) {
        notIp++;
        continue;
      }
      if ((this.options.repairChecksums ?? true) && parsePacket(packet, packet.length, view, key) === OK) recomputeChecksums(packet, view);
      this.currentTimestamp = record.timestampMicros;
      receive(packet, packet.length);
    }
    await writeFile(this.options.output, writeCapture(this.written));
    return { read: capture.records.length, notIp, written: this.written.length };
  }

  transmit(packet: Uint8Array, length: number): void {
    this.written.push({ timestampMicros: this.currentTimestamp, packet: packet.slice(0, length) });
  }

  async close(): Promise<void> {
    this.receive = undefined;
  }
}
